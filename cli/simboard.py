"""The simulated board on a pseudo-terminal, from the command line (:mod:`sim.simboard`).

``python -m sw.simboard [--config NAME] [--set FIELD=VALUE] [--divisor D]`` builds (once per
configuration) a Verilator model of :class:`hw.soc.SoC`, UART pins included, and prints the path
of a pseudo-terminal; any program that speaks UARTBone to a serial port talks to it as to a
board::

    $ python -m sw.simboard
    /dev/pts/7
    $ python -m sw.run --model models/mnist.snn --port /dev/pts/7 --samples 20
"""

from __future__ import annotations

import argparse
import sys
import time

from core.config import ConfigError, add_config_arguments, resolve
from sim.simboard import DEFAULT_DIVISOR, SimBoard

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw.simboard", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--divisor", type=int, default=DEFAULT_DIVISOR,
                        help=f"clock cycles per UART bit (default {DEFAULT_DIVISOR})")
    args = parser.parse_args(argv)
    try:
        config = resolve(args.config, args.overrides)
    except ConfigError as error:
        parser.error(str(error))
    print(f"building the simulated board ({args.config}, divisor {args.divisor}) ...",
          file=sys.stderr, flush=True)
    with SimBoard(config, divisor=args.divisor) as board:
        print(board.port, flush=True)
        print(f"simulated board running on {board.port}; Ctrl-C stops it", file=sys.stderr,
              flush=True)
        try:
            while board.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
