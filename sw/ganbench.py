"""``python -m sw.ganbench``: the command line of :mod:`cli.ganbench`."""

import sys

from cli.ganbench import main

if __name__ == "__main__":
    sys.exit(main())
