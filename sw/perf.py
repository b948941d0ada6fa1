"""``python -m sw.perf``: the command line of :mod:`cli.perf`."""

import sys

from cli.perf import main

if __name__ == "__main__":
    sys.exit(main())
