"""The simulated board on a pseudo-terminal, from the command line (:mod:`sim.simboard`).

``python -m sw.simboard [--config NAME] [--divisor D]`` builds (once per configuration) a
Verilator model of :class:`hw.soc.SoC`, UART pins included, and prints the path of a
pseudo-terminal; any program that speaks UARTBone to a serial port talks to it as to a board::

    $ python -m sw.simboard
    /dev/pts/7
    $ python -m sw.run --model models/mnist.snn --port /dev/pts/7 --samples 20
"""

from __future__ import annotations

import argparse
import sys
import time

from core.config import Config, ConfigError
from sim.simboard import DEFAULT_DIVISOR, SimBoard

__all__ = ["main"]


def _config(name: str) -> Config:
    try:
        return Config.named(name)
    except ConfigError as error:
        raise SystemExit(f"simboard: error: {error}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw.simboard", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="mnist",
                        help="accelerator configuration name (default: mnist)")
    parser.add_argument("--divisor", type=int, default=DEFAULT_DIVISOR,
                        help=f"clock cycles per UART bit (default {DEFAULT_DIVISOR})")
    args = parser.parse_args(argv)
    config = _config(args.config)
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
