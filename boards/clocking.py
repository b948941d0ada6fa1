"""Clock and reset generation for the board targets.

A board gives its oscillator; the accelerator wants a chosen clock frequency. This module finds
the PLL dividers that get there and builds the ``sync`` clock domain with a clean reset:

* :func:`ecp5_pll_params` / :class:`ECP5PLL`: the Lattice ECP5 ``EHXPLLL`` (the dividers are the
  ones ``ecppll`` from Project Trellis chooses: closest frequency first, then the VCO closest to
  600 MHz).
* :func:`mmcm_params` / :class:`XilinxMMCM`: the Xilinx 7-series ``MMCME2_BASE``.
* :class:`ResetGenerator`: holds ``sync`` in reset after configuration (power-on), while the
  PLL is unlocked and while the reset button is pressed, and releases it synchronously.

Why a power-on counter: an FPGA leaves configuration with every flip-flop at its initial value,
but the PLL output and the button input can glitch for a while; holding reset for a few
thousand cycles of the board clock after ``locked`` rises keeps the accelerator and the UART
from seeing half a reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth import ClockDomain, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["PLLError", "ECP5PLLParams", "ecp5_pll_params", "ECP5PLL", "MMCMParams",
           "mmcm_params", "XilinxMMCM", "ResetGenerator"]


class PLLError(ValueError):
    """No divider setting reaches the requested frequency within the tolerance."""


def _check_freq(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise PLLError(f"{name} must be a positive frequency in Hz, not {value!r}")


# -- Lattice ECP5 -------------------------------------------------------------------------------

# Limits of the EHXPLLL (ECP5 and ECP5-5G Family Data Sheet, "sysCLOCK PLL Timing"), in MHz;
# the same numbers Project Trellis' ecppll uses.
_ECP5_PFD = (3.125, 400.0)
_ECP5_VCO = (400.0, 800.0)
_ECP5_OUT = (3.125, 400.0)
_ECP5_VCO_OPTIMAL = 600.0


@dataclass(frozen=True)
class ECP5PLLParams:
    """Dividers of an ECP5 ``EHXPLLL`` with CLKOP fed back.

    ``fout = fin / clki_div * clkfb_div``; the VCO runs at ``fout * clkop_div``.
    """
    fin: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def fvco(self) -> float:
        return self.fin / self.clki_div * self.clkfb_div * self.clkop_div

    @property
    def fout(self) -> float:
        return self.fin / self.clki_div * self.clkfb_div

    @property
    def clkop_cphase(self) -> int:
        # Coarse phase of a 0-degree CLKOP: half an output period in VCO cycles, minus one
        # (ecppll's choice up to rounding). With CLKOP as the feedback path it does not move
        # the output clock, it only has to be in range.
        return (self.clkop_div - 1) // 2


def ecp5_pll_params(fin: float, fout: float, *, tolerance: float = 0.001) -> ECP5PLLParams:
    """Search the ``EHXPLLL`` dividers for ``fout`` Hz from ``fin`` Hz.

    Raises :class:`PLLError` when the closest reachable frequency is more than ``tolerance``
    (relative) away from ``fout``, or when either frequency is out of the PLL's range.
    """
    _check_freq("input frequency", fin)
    _check_freq("output frequency", fout)
    fin_mhz, fout_mhz = fin / 1e6, fout / 1e6
    if not 8 <= fin_mhz <= 400:
        raise PLLError(f"input frequency {fin_mhz:g} MHz is outside the ECP5 PLL's "
                       f"8 .. 400 MHz")
    if not _ECP5_OUT[0] <= fout_mhz <= _ECP5_OUT[1]:
        raise PLLError(f"output frequency {fout_mhz:g} MHz is outside the ECP5 PLL's "
                       f"{_ECP5_OUT[0]:g} .. {_ECP5_OUT[1]:g} MHz")
    best, best_error = None, None
    for clki_div in range(1, 129):
        fpfd = fin_mhz / clki_div
        if not _ECP5_PFD[0] <= fpfd <= _ECP5_PFD[1]:
            continue
        for clkfb_div in range(1, 81):
            fout_here = fpfd * clkfb_div
            # Output dividers that keep the VCO (fout * clkop_div) in range.
            lo = max(1, math.ceil(_ECP5_VCO[0] / fout_here - 1e-9))
            hi = min(128, math.floor(_ECP5_VCO[1] / fout_here + 1e-9))
            for clkop_div in range(lo, hi + 1):
                fvco = fout_here * clkop_div
                # Closest frequency first, then the VCO nearest the middle of its range.
                key = (abs(fout_here - fout_mhz), abs(fvco - _ECP5_VCO_OPTIMAL))
                if best_error is None or key < best_error:
                    best, best_error = (clki_div, clkfb_div, clkop_div), key
    if best is None or best_error[0] / fout_mhz > tolerance:
        raise PLLError(f"the ECP5 PLL cannot make {fout_mhz:g} MHz from {fin_mhz:g} MHz within "
                       f"{tolerance:.1%}; choose another clock frequency")
    return ECP5PLLParams(fin, *best)


class ECP5PLL(wiring.Component):
    """One ECP5 ``EHXPLLL`` with its CLKOP output driving a clock domain.

    Parameters
    ----------
    params : ECP5PLLParams
    domain : str
        The clock domain whose clock is CLKOP.

    Ports
    -----
    clk_in : 1, in
        Reference clock (``params.fin`` Hz).
    locked : 1, out
        The PLL is locked (asynchronous to every clock).
    """

    def __init__(self, params: ECP5PLLParams, *, domain: str = "sync"):
        if not isinstance(params, ECP5PLLParams):
            raise TypeError(f"params must be an ECP5PLLParams, not {params!r}")
        self.params = params
        self.domain = domain
        super().__init__({"clk_in": In(1), "locked": Out(1)})

    def elaborate(self, platform):
        m = Module()
        p = self.params
        clkop = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{p.fin / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{p.fout / 1e6:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=p.clki_div, p_CLKFB_DIV=p.clkfb_div,
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p.clkop_div,
            p_CLKOP_CPHASE=p.clkop_cphase, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_CLKI=self.clk_in, i_CLKFB=clkop, o_CLKOP=clkop,
            i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
            i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_LOCK=self.locked,
        )
        m.d.comb += ClockSignal(self.domain).eq(clkop)
        # No clock constraint here: nextpnr derives CLKOP's frequency from the dividers and
        # the constrained input clock.
        return m


# -- Xilinx 7-series ----------------------------------------------------------------------------

# MMCME2 limits of the slowest Artix-7 speed grade (-1 / -1L, DS181): VCO 600 .. 1200 MHz,
# phase detector 10 .. 450 MHz.
_MMCM_VCO = (600.0, 1200.0)
_MMCM_PFD = (10.0, 450.0)


@dataclass(frozen=True)
class MMCMParams:
    """Dividers of an ``MMCME2_BASE`` (``fout = fin * mult / (divclk * clkout0_div)``)."""
    fin: float
    divclk: int
    mult: int
    clkout0_div: int

    @property
    def fvco(self) -> float:
        return self.fin * self.mult / self.divclk

    @property
    def fout(self) -> float:
        return self.fvco / self.clkout0_div


def mmcm_params(fin: float, fout: float, *, tolerance: float = 0.001) -> MMCMParams:
    """Search integer ``MMCME2_BASE`` dividers for ``fout`` Hz from ``fin`` Hz.

    Among the settings closest to ``fout`` it takes the one with the highest VCO frequency
    (less jitter). Raises :class:`PLLError` as :func:`ecp5_pll_params` does.
    """
    _check_freq("input frequency", fin)
    _check_freq("output frequency", fout)
    fin_mhz, fout_mhz = fin / 1e6, fout / 1e6
    if not 10 <= fin_mhz <= 800:
        raise PLLError(f"input frequency {fin_mhz:g} MHz is outside the MMCM's 10 .. 800 MHz")
    if not 4.69 <= fout_mhz <= 450:
        raise PLLError(f"output frequency {fout_mhz:g} MHz is outside the MMCM's "
                       f"4.69 .. 450 MHz (Artix-7 -1)")
    best, best_key = None, None
    for divclk in range(1, 107):
        fpfd = fin_mhz / divclk
        if not _MMCM_PFD[0] <= fpfd <= _MMCM_PFD[1]:
            continue
        for mult in range(2, 65):
            fvco = fpfd * mult
            if not _MMCM_VCO[0] <= fvco <= _MMCM_VCO[1]:
                continue
            for div in range(1, 129):
                key = (abs(fvco / div - fout_mhz), -fvco)
                if best_key is None or key < best_key:
                    best, best_key = (divclk, mult, div), key
    if best is None or best_key[0] / fout_mhz > tolerance:
        raise PLLError(f"the MMCM cannot make {fout_mhz:g} MHz from {fin_mhz:g} MHz within "
                       f"{tolerance:.1%}; choose another clock frequency")
    return MMCMParams(fin, *best)


class XilinxMMCM(wiring.Component):
    """One ``MMCME2_BASE`` with CLKOUT0 (through a BUFG) driving a clock domain.

    Parameters
    ----------
    params : MMCMParams
    domain : str

    Ports
    -----
    clk_in : 1, in
        Reference clock (``params.fin`` Hz).
    locked : 1, out
    """

    def __init__(self, params: MMCMParams, *, domain: str = "sync"):
        if not isinstance(params, MMCMParams):
            raise TypeError(f"params must be an MMCMParams, not {params!r}")
        self.params = params
        self.domain = domain
        super().__init__({"clk_in": In(1), "locked": Out(1)})

    def elaborate(self, platform):
        m = Module()
        p = self.params
        clkfb, clkout0 = Signal(), Signal()
        m.submodules.mmcm = Instance(
            "MMCME2_BASE",
            p_BANDWIDTH="OPTIMIZED",
            p_CLKIN1_PERIOD=round(1e9 / p.fin, 3),
            p_DIVCLK_DIVIDE=p.divclk,
            p_CLKFBOUT_MULT_F=float(p.mult),
            p_CLKOUT0_DIVIDE_F=float(p.clkout0_div),
            p_CLKOUT0_PHASE=0.0,
            p_CLKOUT0_DUTY_CYCLE=0.5,
            i_CLKIN1=self.clk_in, i_CLKFBIN=clkfb, o_CLKFBOUT=clkfb,
            i_RST=0, i_PWRDWN=0,
            o_CLKOUT0=clkout0, o_LOCKED=self.locked,
        )
        m.submodules.bufg = Instance("BUFG", i_I=clkout0, o_O=ClockSignal(self.domain))
        return m


# -- reset ------------------------------------------------------------------------------------

class ResetGenerator(wiring.Component):
    """Power-on, PLL-lock and button reset for one clock domain.

    The domain is held in reset from configuration until ``locked`` is high, ``button`` is
    released and then ``cycles`` more cycles of the domain's clock have passed; it is reset
    again (asynchronously asserted, synchronously released through a
    :class:`~amaranth.lib.cdc.ResetSynchronizer`) whenever ``locked`` falls or ``button`` is
    pressed.

    Parameters
    ----------
    domain : str
        The clock domain to reset. Its clock must already be driven.
    cycles : int
        Length of the power-on reset, in cycles of the domain's clock (at least 1).

    Ports
    -----
    locked : 1, in
        The clock is stable (tie to 1 for a board oscillator without a PLL).
    button : 1, in
        Reset request, active high (an active-low button is inverted by the board top).
    """

    def __init__(self, *, domain: str = "sync", cycles: int = 4096):
        if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
            raise ValueError(f"power-on reset length must be a positive number of cycles, "
                             f"not {cycles!r}")
        self.domain = domain
        self.cycles = cycles
        super().__init__({"locked": In(1), "button": In(1)})

    def elaborate(self, platform):
        m = Module()
        # "por" has no reset of its own: its counter starts at its initial value after
        # configuration and restarts whenever the asynchronous reset below fires.
        m.domains.por = cd_por = ClockDomain("por", local=True)
        m.d.comb += cd_por.clk.eq(ClockSignal(self.domain))
        async_reset = Signal()
        m.d.comb += async_reset.eq(~self.locked | self.button)
        m.submodules.por_sync = ResetSynchronizer(async_reset, domain="por")
        count = Signal(range(self.cycles + 1), init=self.cycles)
        with m.If(count != 0):
            m.d.por += count.eq(count - 1)
        # The reset reaches most flip-flops of the design: it leaves a register, not the
        # counter's comparison, so that its wide fan-out is the only delay on its paths.
        held = Signal(init=1)
        m.d.por += held.eq(count != 0)
        m.d.comb += ResetSignal(self.domain).eq(held)
        return m
