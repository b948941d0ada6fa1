"""``python -m sw.attack``: the command line of :mod:`cli.attack` (library: :mod:`sw.robust`)."""

import sys

from cli.attack import main

if __name__ == "__main__":
    sys.exit(main())
