"""``python -m sw.run``: the command line of :mod:`cli.run` (the run itself: :mod:`sw.runner`)."""

import sys

from cli.run import main

if __name__ == "__main__":
    sys.exit(main())
