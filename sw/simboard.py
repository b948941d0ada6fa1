"""``python -m sw.simboard``: the command line of :mod:`cli.simboard` (:mod:`sim.simboard`)."""

import sys

from cli.simboard import main

if __name__ == "__main__":
    sys.exit(main())
