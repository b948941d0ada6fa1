"""``python -m sw.sweep``: the command line of :mod:`cli.sweep` (library: :mod:`boards.sweep`)."""

import sys

from cli.sweep import main

if __name__ == "__main__":
    sys.exit(main())
