"""``python -m sw.cosim``: the command line of :mod:`cli.cosim` (library: :mod:`sim.cosim`)."""

import sys

from cli.cosim import main

if __name__ == "__main__":
    sys.exit(main())
