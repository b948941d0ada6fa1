"""``python -m sw.nir``: the command line of :mod:`cli.nir` (library: :mod:`sw.nirio`)."""

import sys

from cli.nir import main

if __name__ == "__main__":
    sys.exit(main())
