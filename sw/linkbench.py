"""``python -m sw.linkbench``: the command line of :mod:`cli.linkbench`."""

import sys

from cli.linkbench import main

if __name__ == "__main__":
    sys.exit(main())
