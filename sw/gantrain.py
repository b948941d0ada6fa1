"""``python -m sw.gantrain``: the command line of :mod:`cli.gantrain` (library: :mod:`sw.gan.train`)."""

import sys

from cli.gantrain import main

if __name__ == "__main__":
    sys.exit(main())
