"""The bottom layer: rules and data formats shared by the gateware, the host software and the
simulators (no amaranth, no torch, no subprocesses)."""
