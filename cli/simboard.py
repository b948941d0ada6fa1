"""The simulated board on a pseudo-terminal, from the command line (:mod:`sim.simboard`).

``python -m sw.simboard [--config NAME] [--set FIELD=VALUE] [--divisor D]`` builds (once per
configuration) a Verilator model of :class:`hw.soc.SoC`, UART pins included, and prints the path
of a pseudo-terminal; any program that speaks UARTBone to a serial port talks to it as to a
board::

    $ python -m sw.simboard
    /dev/pts/7
    $ python -m sw.run --model models/mnist.snn --port /dev/pts/7 --samples 20

The board announces its pty (:func:`sw.uart.announce_simulated_board`), so that ``sw.run
--port`` recognizes it and waits as for a slow device: a Verilator model runs at 0.1 .. 3 M
clock cycles per second, less on a busy machine, whatever baud rate the host sets.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from core.config import ConfigError, add_config_arguments, resolve
from hw.uart import MIN_DIVISOR
from sim.simboard import DEFAULT_DIVISOR, SimBoard, SimBoardError
from sw.options import ArgumentParser, cli_main, fail, int_range

__all__ = ["main", "MAX_DIVISOR"]

PROG = "python -m sw.simboard"
#: Most clock cycles per UART bit: more only slows the simulated board down.
MAX_DIVISOR = 256


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--divisor", default=DEFAULT_DIVISOR,
                        type=int_range(MIN_DIVISOR, MAX_DIVISOR, "clock cycles per UART bit"),
                        help=f"clock cycles per UART bit, {MIN_DIVISOR} .. {MAX_DIVISOR} "
                             f"(default {DEFAULT_DIVISOR})")
    args = parser.parse_args(argv)
    try:
        config = resolve(args.config, args.overrides)
    except ConfigError as error:
        parser.error(f"argument --config/--set: {error}")
    print(f"building the simulated board ({args.config}, divisor {args.divisor}; the first "
          f"build of a configuration takes minutes) ...", file=sys.stderr, flush=True)
    try:
        board = SimBoard(config, divisor=args.divisor).start(timeout=60)
    except SimBoardError as error:
        return fail(PROG, " ".join(str(error).split("\n")[0].split()), 1)
    # A kill (SIGTERM) stops the board as Ctrl-C does: its pty's announcement is withdrawn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with board:
        print(board.port, flush=True)
        print(f"simulated board running on {board.port} ({10 * args.divisor} clock cycles per "
              f"byte; sw.run --port recognizes it and waits as for a slow device); Ctrl-C "
              f"stops it", file=sys.stderr, flush=True)
        try:
            while board.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        status = board.process.returncode
    if status == 0:      # stopped by a signal (Ctrl-C reaches the whole process group)
        return 0
    return fail(PROG, f"the simulated board stopped (exit status {status}; see its messages "
                      f"above)", 1)


if __name__ == "__main__":
    sys.exit(main())
