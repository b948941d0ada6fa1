"""What a LUT is: the one rule that turns a Yosys cell count into Artix-7 resources.

Every Artix-7 figure of the project (``python -m hw.generate --resources``, ``python -m
sw.bench``, the ``xc7_estimate`` of ``python -m sw.flash``, the README's table) is the cell count
that Yosys reports after :data:`XC7_SYNTH`, turned into :class:`Resources` by :func:`xc7`. The
function that runs Yosys is :func:`boards.reports.xc7_synthesize`; this module only counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["XC7_SYNTH", "LUT_CELLS", "LUTRAM_CELLS", "FF_CELLS", "Resources", "xc7",
           "cells_from_stat"]

#: The Yosys command every Artix-7 resource count uses. ``-widemux 5`` puts multiplexers of
#: five or more inputs in the slices' MUXF7/MUXF8, as Vivado maps them (Yosys's documentation
#: recommends 5 or more when enabling it); without it Yosys builds them from LUTs alone, which
#: for the default configuration counts about 500 LUTs more.
XC7_SYNTH = "synth_xilinx -family xc7 -widemux 5"

#: Logic LUTs: one slice LUT each.
LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")

#: Slice LUTs taken by each LUT-RAM or shift-register primitive (7 series, UG474 chapter 2 and
#: UG953): a LUT of a SLICEM holds 64 bits of RAM or a 32-bit shift register.
LUTRAM_CELLS = {
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
    "RAM32M": 4, "RAM64M": 4,
    "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}

#: Slice storage elements: flip-flops, and latches (Vivado counts both as slice registers).
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")


@dataclass(frozen=True)
class Resources:
    """Artix-7 resources of a design.

    Attributes
    ----------
    lut : int
        Slice LUTs, as Vivado's "Slice LUTs": logic LUTs plus the LUTs used as memory.
    ff : int
        Slice registers.
    bram36 : float
        36 Kb block RAMs; a RAMB18 counts one half.
    dsp : int
        DSP48E1 slices.
    lut_memory : int
        Of ``lut``, the LUTs used as distributed RAM or shift registers.
    cells : mapping
        The cell count it was made from (not compared).
    """
    lut: int
    ff: int
    bram36: float
    dsp: int
    lut_memory: int = 0
    cells: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def as_dict(self) -> dict:
        """``{"lut", "ff", "bram36", "dsp", "lut_memory"}`` (for JSON reports)."""
        return {"lut": self.lut, "ff": self.ff, "bram36": self.bram36, "dsp": self.dsp,
                "lut_memory": self.lut_memory}


def xc7(cells: Mapping[str, int]) -> Resources:
    """Artix-7 resources from the cell count of a design after :data:`XC7_SYNTH`.

    The rule, the one every figure of the project uses:

    * ``lut`` = LUT1 + ... + LUT6 (:data:`LUT_CELLS`), plus the LUTs of each LUT-RAM and
      shift-register primitive (:data:`LUTRAM_CELLS`: RAM64M and RAM32M 4, RAM64X1D 2, SRLC32E
      1, ...). MUXF7/MUXF8 (in the slice, beside the LUTs) and CARRY4 are not LUTs.
    * ``ff`` = FDRE + FDSE + FDCE + FDPE + LDCE + LDPE (:data:`FF_CELLS`).
    * ``bram36`` = RAMB36E1 + RAMB18E1 / 2.
    * ``dsp`` = DSP48E1.

    Any other cell (CARRY4, MUXF7, MUXF8, buffers, ...) counts nothing.
    """
    def count(name):
        return int(cells.get(name, 0))

    lut_memory = sum(count(name) * luts for name, luts in LUTRAM_CELLS.items())
    return Resources(
        lut=sum(count(name) for name in LUT_CELLS) + lut_memory,
        ff=sum(count(name) for name in FF_CELLS),
        bram36=count("RAMB36E1") + count("RAMB18E1") / 2,
        dsp=count("DSP48E1"),
        lut_memory=lut_memory,
        cells=dict(cells))


def cells_from_stat(stat: Mapping) -> dict[str, int]:
    """The cell count by type of a whole design from Yosys's ``stat -json`` output: its
    ``design`` totals (submodules included), or the sum over the modules when it has none."""
    if "design" in stat:
        parts = [stat["design"]]
    else:
        parts = list(stat.get("modules", {}).values())
    cells: dict[str, int] = {}
    for part in parts:
        for name, n in part.get("num_cells_by_type", {}).items():
            cells[name] = cells.get(name, 0) + int(n)
    return cells
