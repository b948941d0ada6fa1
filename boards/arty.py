"""Digilent Arty A7-35T and A7-100T with the accelerator behind the FTDI serial port.

Built with AMD Vivado (not on PyPI: ``sw.flash --dry-run`` writes the complete Vivado build
plan without it). The 100 MHz oscillator clocks the accelerator directly; another frequency
goes through an ``MMCME2_BASE``. The red RESET button (``ck_rst``, active low) resets the
design. The UART runs through the FT2232H's second channel, which takes up to 12 Mbaud
(``sw.flash --baud 12000000``: a fractional divisor of 8 1/3 cycles per bit at 100 MHz, or an
integer 8 with ``--clock 96``). ``openFPGALoader -b arty_a7_35t`` / ``-b arty_a7_100t`` programs it over the USB cable.
"""

from __future__ import annotations

from amaranth import ClockSignal, Const
from amaranth.lib import io
from amaranth_boards.arty_a7 import ArtyA7_35Platform, ArtyA7_100Platform

from .base import Board
from .clocking import XilinxMMCM, mmcm_params

__all__ = ["ArtyA7_35", "ArtyA7_100", "VIVADO_HINT"]

VIVADO_HINT = ("install AMD Vivado (free Standard edition) and source its settings64.sh, or set "
               "VIVADO=/path/to/bin/vivado")


class _ArtyA7(Board):
    link = "uart"
    toolchain = "vivado"
    family = "xc7"
    clk_freq = 100_000_000
    osc_freq = 100_000_000
    #: The FT2232H's UART: 12 Mbaud at most (its 120 MHz clock divided by 10).
    max_baud = 12_000_000
    platform_class = None

    def platform(self):
        return self.platform_class()

    def check_clock(self, clk_freq):
        if clk_freq != self.osc_freq:
            mmcm_params(self.osc_freq, clk_freq, tolerance=0)
        return clk_freq

    def add_clock(self, m, platform, clk_freq):
        clk100 = platform.request("clk100", 0, dir="-")
        m.submodules.clk100_buffer = clk_buffer = io.Buffer("i", clk100)
        if clk_freq == self.osc_freq:
            # The input buffer's clock is already constrained (Clock(100e6) on the resource);
            # Vivado inserts the BUFG.
            m.d.comb += ClockSignal("sync").eq(clk_buffer.i)
            return Const(1)
        m.submodules.mmcm = mmcm = XilinxMMCM(mmcm_params(self.osc_freq, clk_freq,
                                                          tolerance=0))
        m.d.comb += mmcm.clk_in.eq(clk_buffer.i)
        return mmcm.locked

    def reset_button(self, m, platform):
        rst = platform.request("rst", 0, dir="-")  # PinsN: the buffer inverts it
        m.submodules.reset_button = button = io.Buffer("i", rst)
        return button.i

    def required_tools(self):
        return {"VIVADO": ("vivado", VIVADO_HINT)}


class ArtyA7_35(_ArtyA7):
    name = "arty"
    title = "Digilent Arty A7-35T (xc7a35ticsg324-1L)"
    platform_class = ArtyA7_35Platform
    ofl_args = ["-b", "arty_a7_35t"]


class ArtyA7_100(_ArtyA7):
    name = "arty-a7-100"
    title = "Digilent Arty A7-100T (xc7a100ticsg324-1L)"
    platform_class = ArtyA7_100Platform
    ofl_args = ["-b", "arty_a7_100t"]
