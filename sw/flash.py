"""``python -m sw.flash``: the command line of :mod:`cli.flash` (library: :mod:`boards.build`)."""

import sys

from cli.flash import main

if __name__ == "__main__":
    sys.exit(main())
