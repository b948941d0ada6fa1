"""``python -m sw.generate``: the command line of :mod:`cli.gan` (library: :mod:`sw.gan.sample`)."""

import sys

from cli.gan import main

if __name__ == "__main__":
    sys.exit(main())
