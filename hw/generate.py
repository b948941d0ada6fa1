"""``python -m hw.generate``: the command line of :mod:`cli.generate` (:mod:`hw.synth`)."""

import sys

from cli.generate import main

if __name__ == "__main__":
    sys.exit(main())
