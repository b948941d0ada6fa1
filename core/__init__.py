"""The bottom layer: what the gateware, the host software and the simulators share.

The network and its numeric rules (``network``), the golden model (``golden``), model files
(``modelfile``), random networks (``randnet``), the transport interface (``transport``), the
memory map (``memmap``), the hardware configuration (``config``), the sequencer's timing
(``schedule``) and the cycle model (``perf``). Nothing here imports ``hw``, ``sw``, ``sim``,
``boards`` or ``cli``, nor Amaranth (``tests/test_layers.py`` checks it).
"""
