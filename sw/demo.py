"""``python -m sw.demo`` (``make demo``): the command line of :mod:`cli.demo`."""

import sys

from cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
