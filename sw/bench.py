"""``python -m sw.bench`` (``make bench``): the command line of :mod:`cli.bench`."""

import sys

from cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
