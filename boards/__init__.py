"""Board targets: the accelerator wrapped with clocking, reset and a host link for one board.

``BOARDS`` maps the ``--board`` names of ``python -m sw.flash`` to :class:`~boards.base.Board`
classes; :func:`get_board` looks one up with a helpful error.

=============== ========================= ====== ============================================
name            board                     link   toolchain
=============== ========================= ====== ============================================
``ulx3s``       Radiona ULX3S LFE5U-85F   UART   open: Yosys + nextpnr-ecp5 + ecppack (PyPI)
``arty``        Digilent Arty A7-35T      UART   AMD Vivado
``arty-a7-100`` Digilent Arty A7-100T     UART   AMD Vivado
``litefury``    RHS Litefury (xc7a100t)   PCIe   AMD Vivado, Xilinx XDMA IP
``nitefury``    RHS Nitefury II (xc7a200t) PCIe  AMD Vivado, Xilinx XDMA IP
=============== ========================= ====== ============================================
"""

from .arty import ArtyA7_35, ArtyA7_100
from .base import Board
from .pcie import Litefury, NitefuryII
from .ulx3s import ULX3S85F

__all__ = ["BOARDS", "Board", "get_board"]

BOARDS = {cls.name: cls for cls in (ULX3S85F, ArtyA7_35, ArtyA7_100, Litefury, NitefuryII)}
# Longer spellings people type.
ALIASES = {"arty-a7-35": "arty", "arty-a7": "arty", "ulx3s-85f": "ulx3s",
           "nitefury-ii": "nitefury"}


def get_board(name: str) -> Board:
    """The board called ``name`` (case-insensitive; see :data:`BOARDS`)."""
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in BOARDS:
        raise KeyError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    return BOARDS[key]()
