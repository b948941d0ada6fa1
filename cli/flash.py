"""Build the accelerator for a board, report its size and speed, and program the board.

Usage::

    python -m sw.flash --board ulx3s                       # default "mnist" configuration
    python -m sw.flash --board ulx3s --model models/mnist.snn --program
    python -m sw.flash --board arty --dry-run              # Vivado build plan only
    python -m sw.flash --board ulx3s --config tiny --output build/ulx3s-tiny
    python -m sw.flash --list

The steps are those of :mod:`boards.build`. The figures go to ``OUTPUT/report.json`` and
``results/flash-BOARD-CONFIG.json`` and are printed as a table. Exit status: 0 success, 1 a tool
failed, 2 bad arguments or a missing tool, 3 timing not met, 4 the board could not be
programmed (no cable, no board).
"""

from __future__ import annotations

import os
import sys

from boards import BOARDS, get_board
from boards.build import EXIT_TIMING, FlashError, build, program, resolve_config
from core.config import add_config_arguments
from sw.options import (ArgumentParser, cli_main, fail, input_file, int_range, positive_float,
                        positive_int)

__all__ = ["main"]

PROG = "python -m sw.flash"


def _parser():
    parser = ArgumentParser(
        prog=PROG,
        description="Build the spiking-network accelerator for an FPGA board and program it.")
    parser.add_argument("--board", default=os.environ.get("SNN_BOARD"),
                        help=f"target board: {', '.join(BOARDS)} (default: $SNN_BOARD)")
    parser.add_argument("--list", action="store_true", help="list the boards and exit")
    parser.add_argument("--model", metavar="FILE", type=input_file,
                        help="size the accelerator for this .snn model file")
    add_config_arguments(parser, default=None,
                         default_help="mnist, or made for --model when it is given")
    parser.add_argument("--design", choices=("accelerator", "echo"), default="accelerator",
                        help="'echo': a UART loopback to bring up a board (default: accelerator)")
    parser.add_argument("--clock", type=positive_float, metavar="MHZ",
                        help="accelerator clock in MHz (default: the board's)")
    parser.add_argument("--baud", type=positive_int, default=115200,
                        help="UART baud rate (default 115200); up to the board's USB-serial "
                             "maximum: 12000000 on the Arty (FT2232H), 3000000 on the ULX3S "
                             "(FT231X)")
    parser.add_argument("--output", "-o", metavar="DIR",
                        help="output folder (default build/BOARD-CONFIG); replaced on success")
    parser.add_argument("--dry-run", "-n", action="store_true",
                        help="write the build plan (Verilog, constraints, script) only")
    parser.add_argument("--program", "-p", action="store_true",
                        help="load the bitstream into the board (SRAM) after the build")
    parser.add_argument("--flash", action="store_true",
                        help="with --program: write the configuration flash instead of SRAM")
    parser.add_argument("--cable", help="openFPGALoader cable name (default: the board's)")
    parser.add_argument("--allow-timing-failure", action="store_true",
                        help="exit 0 and allow --program even when timing is not met")
    parser.add_argument("--no-estimate", action="store_true",
                        help="skip the Yosys Artix-7 resource count on Xilinx boards")
    parser.add_argument("--seed", type=int_range(0, 2**31 - 1, "seed"), metavar="N",
                        help="nextpnr's placement seed (ULX3S; default: nextpnr's own); the "
                             "achieved clock moves by several MHz from seed to seed")
    parser.add_argument("--nice", type=int_range(0, 19, "niceness"), default=0,
                        help="niceness of the build tools (default 0)")
    parser.add_argument("--results", default="results", metavar="DIR",
                        help="folder for the JSON report copy (default results)")
    return parser


@cli_main(PROG)
def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for name, cls in BOARDS.items():
            print(f"{name:<12} {cls.title:<58} {cls.link:<5} {cls.toolchain}")
        return 0
    try:
        if not args.board:
            raise FlashError(f"no board given: pass --board NAME (one of {', '.join(BOARDS)}) "
                             f"or set SNN_BOARD")
        try:
            board = get_board(args.board)
        except KeyError as error:
            raise FlashError(error.args[0]) from None
        if args.dry_run and args.program:
            raise FlashError("--program needs a bitstream; leave out --dry-run")
        if args.flash and not args.program:
            raise FlashError("--flash only makes sense with --program")
        if args.design == "echo" and (args.model or args.config):
            raise FlashError("--design echo has no accelerator; leave out --model and --config")
        if args.design == "echo" and args.overrides:
            raise FlashError("--design echo has no accelerator; leave out --set")
        config, label, _ = (None, "echo", None) if args.design == "echo" else \
            resolve_config(args.config, args.model, args.overrides)
        clk_freq = round(args.clock * 1e6) if args.clock else None
        result = build(board, config=config, config_label=label, model=args.model,
                       design=args.design, clk_freq=clk_freq, baudrate=args.baud,
                       output=args.output, dry_run=args.dry_run,
                       estimate=not args.no_estimate, nice=args.nice, seed=args.seed,
                       results_dir=args.results)
        for table in result.tables:
            print(table)
        print(f"wrote {result.output}" + (f" (bitstream {result.bitstream})"
                                          if result.bitstream else " (build plan)"))
        if result.timing_met is False and not args.allow_timing_failure:
            pnr = result.report["place_and_route"]
            raise FlashError(f"timing not met: {pnr['fmax_mhz']:.2f} MHz reached, "
                             f"{pnr['constraint_mhz']:g} MHz needed; lower --clock or shrink "
                             f"the configuration (the bitstream is kept in {result.output} but "
                             f"not programmed)", EXIT_TIMING)
        if args.program:
            program(board, result.bitstream, flash=args.flash, cable=args.cable)
            print(f"programmed {board.title}")
        return 0
    except FlashError as error:
        return fail(PROG, str(error), error.code)


if __name__ == "__main__":
    sys.exit(main())
