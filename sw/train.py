"""``python -m sw.train``: the command line of :mod:`cli.train` (library: :mod:`sw.snn.train`)."""

import sys

from cli.train import main

if __name__ == "__main__":
    sys.exit(main())
