"""``python -m sw.nirbench``: the command line of :mod:`cli.nirbench`."""

import sys

from cli.nirbench import main

if __name__ == "__main__":
    sys.exit(main())
