"""``python -m sw.scalebench``: the command line of :mod:`cli.scalebench`."""

import sys

from cli.scalebench import main

if __name__ == "__main__":
    sys.exit(main())
