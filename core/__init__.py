"""The bottom layer: what the host, the gateware and the simulators share (no torch, amaranth)."""
