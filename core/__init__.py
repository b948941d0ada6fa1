"""The bottom layer: what the gateware, the host software and the simulators share.

The network and its numeric rules (``network``), the golden model (``golden``), model files
(``modelfile``), random networks (``randnet``), the transport interface (``transport``), the
memory map (``memmap``), the hardware configuration and its command-line resolver
(``config``), the sequencer's timing (``schedule``), the cycle model (``perf``) and the Artix-7
resource definitions (``resources``). Nothing here imports ``hw``, ``sw``, ``sim``, ``boards``
or ``cli``, nor Amaranth, nor starts a subprocess (``tests/test_layers.py`` checks the imports).
"""
