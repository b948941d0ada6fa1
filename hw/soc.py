"""The whole chip: UART pins -> UARTBone bridge -> accelerator.

This is the top that board files (``boards/``) and the simulated board (``sw.simboard``)
instantiate. It has no clock or reset of its own: it runs in the ``sync`` domain that the
platform provides.

::

    rx pin -> UARTRx -> receive FIFO -> UARTBone -> BusChecksum -> Accelerator
    tx pin <- UARTTx <------------------/
"""

from __future__ import annotations

from fractions import Fraction

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from core import memmap

from . import bus
from .accel import Accelerator
from .ecp5 import is_ecp5, registered_product
from .uart import UARTRx, UARTTx, check_divisor, divisor_for
from .uartbone import UARTBone

__all__ = ["SoC", "BusChecksum", "checksum_ranges", "checksum_of", "DEFAULT_BAUD",
           "DEFAULT_TIMEOUT_S", "CHECKSUM_MULT"]

DEFAULT_BAUD = 115200
#: Idle timeout of the bridge on a board: long enough for the gaps a USB-serial adapter and the
#: host's scheduler leave inside one command, short enough that the host's resynchronization
#: pause after an error (``sw.uart.UARTTransport(resync=0.12)``) outlasts it.
DEFAULT_TIMEOUT_S = 0.05
#: Idle timeout in a simulation given by divisor alone, in byte times.
SIM_TIMEOUT_BYTES = 64


#: Multiplier that spreads a word address over 32 bits in the upload checksum.
CHECKSUM_MULT = 0x9E3779B1


def checksum_ranges(config):
    """Word-address ranges ``[(lo, hi), ...]`` whose writes the upload checksum covers: the
    network parameters and layer blocks, the weight window and (with ``config.bias``) the
    bias window; not the control registers, the pixels or the results (they change with every
    image)."""
    end = 1 << config.addr_width
    ranges = [(memmap.REG_NET_LAYERS, memmap.pixel_base(config.region_bits)),
              (config.weight_base, end)]
    if config.bias:
        base = memmap.bias_base(config.region_bits)
        ranges.append((base, base + config.bias_words))
    return ranges


def checksum_of(writes, ranges, checksum: int = 0) -> int:
    """Host-side reference of :class:`BusChecksum`: the checksum after ``writes``
    (``[(byte_address, words)]``, as ``sw.compiler.compile_network`` makes them) starting from
    ``checksum``."""
    for address, words in writes:
        for k, word in enumerate(words):
            a = address // 4 + k
            if any(lo <= a < hi for lo, hi in ranges):
                checksum = (checksum + (int(word) ^ (a * CHECKSUM_MULT))) & 0xFFFFFFFF
    return checksum


class BusChecksum(wiring.Component):
    """Register slice on the register bus that keeps a checksum of the writes it forwards.

    It implements the ``CHECKSUM`` register of the memory map (``core.memmap.REG_CHECKSUM``):
    every write acknowledged by the target whose word address ``a`` lies in one of ``ranges``
    adds ``data ^ (a * 0x9E3779B1)`` to it (mod 2**32), so that the host can check an upload
    word for word with one read (:func:`checksum_of`). A read of ``reg`` returns the checksum;
    a write to ``reg`` sets it (write 0 before an upload). Neither reaches the target. The
    sum does not depend on the order of the writes; a changed or lost word changes it.

    Parameters
    ----------
    addr_width : int
        Word-address width of the bus.
    reg : int
        Word address of the checksum register.
    ranges : list of (lo, hi)
        Word-address ranges (``lo <= a < hi``) that count.

    Ports
    -----
    initiator : hw.bus.Signature(addr_width), in
        From the bridge.
    target : hw.bus.Signature(addr_width), out
        To the accelerator.

    Latency: two cycles added to a forwarded transfer (it is registered on the way in and on
    the way out); the checksum register answers two cycles after the request.
    """

    def __init__(self, addr_width: int, reg: int, ranges):
        self._reg, self._ranges = reg, [(int(lo), int(hi)) for lo, hi in ranges]
        super().__init__({
            "initiator": In(bus.Signature(addr_width)),
            "target": Out(bus.Signature(addr_width)),
        })

    def elaborate(self, platform):
        m = Module()
        up, down = self.initiator, self.target
        # A register slice: the transfer is taken into registers, forwarded from them, and
        # answered from registers, so that neither the bridge's decoding nor the target's read
        # multiplexer shares a timing path with the other side.
        addr, we, w_data = Signal.like(up.addr), Signal(), Signal(32)
        local, counted = Signal(), Signal()
        forward = Signal()            # down.cyc: the transfer is forwarded
        answer = Signal()             # up.ack: the transfer is answered this cycle
        r_data = Signal(32)
        checksum = Signal(32)
        m.d.comb += [
            down.addr.eq(addr), down.we.eq(we), down.w_data.eq(w_data), down.cyc.eq(forward),
            up.ack.eq(answer), up.r_data.eq(Mux(answer, r_data, 0)),
        ]
        in_range = Signal()
        m.d.comb += in_range.eq(0)
        for lo, hi in self._ranges:
            with m.If((up.addr >= lo) & (up.addr < hi)):
                m.d.comb += in_range.eq(1)
        # The checksum's hash in two registered steps (the product's halves, then their sum);
        # it is added in the cycle of the answer, when both steps are done. The products are
        # taken every cycle from the initiator's address, which it holds from the cycle the
        # transfer is taken until the answer: the hash of the cycle after the target's `ack`
        # comes from the address of the cycle before it, at the earliest the taking cycle. On
        # an ECP5 the product registers are the DSP slices' output registers (hw.ecp5).
        half = 16
        hashed = Signal(32)
        consts = (CHECKSUM_MULT & 0xFFFF, CHECKSUM_MULT >> half)
        if is_ecp5(platform) and len(up.addr) <= 18:
            prod_lo, prod_hi = (
                registered_product(m, up.addr, Const(c, half), a_signed=False, b_signed=False,
                                   name=f"hash_{part}")
                for c, part in zip(consts, ("lo", "hi")))
        else:
            prod_lo, prod_hi = Signal(32), Signal(half)
            m.d.sync += [prod_lo.eq(up.addr * consts[0]), prod_hi.eq(up.addr * consts[1])]
        m.d.sync += hashed.eq(w_data ^ (prod_lo[:32] + (prod_hi[:half] << half))[:32])
        waiting = Signal()            # a local transfer answers one cycle after it is taken
        m.d.sync += [answer.eq(0), waiting.eq(0)]
        with m.If(~forward & ~answer & ~waiting & up.cyc):
            # Take the transfer (the cycle after its answer, the initiator holds or drops it).
            m.d.sync += [
                addr.eq(up.addr), we.eq(up.we), w_data.eq(up.w_data),
                local.eq(up.addr == self._reg), counted.eq(in_range),
            ]
            with m.If(up.addr == self._reg):
                m.d.sync += waiting.eq(1)
            with m.Else():
                m.d.sync += forward.eq(1)
        with m.If(waiting):
            m.d.sync += [answer.eq(1), r_data.eq(checksum)]
            with m.If(we):
                m.d.sync += checksum.eq(w_data)
        add = Signal()                # the answered write counts: add its hash
        m.d.sync += add.eq(0)
        with m.If(forward & down.ack):
            m.d.sync += [forward.eq(0), answer.eq(1), r_data.eq(down.r_data),
                         add.eq(we & counted)]
        with m.If(add):
            m.d.sync += checksum.eq(checksum + hashed)
        return m


class SoC(wiring.Component):
    """UART-controlled accelerator.

    Parameters
    ----------
    config : core.config.Config or None
        Accelerator configuration, passed to ``hw.accel.Accelerator``. ``None`` with ``target``.
    clk_freq : int or float, optional
        Clock frequency in Hz. With ``baudrate`` it sets the UART divisor (fractional if need
        be, :func:`hw.uart.divisor_for`) and the idle timeout (50 ms).
    baudrate : int
        Baud rate (default 115200), used with ``clk_freq``.
    divisor : int or Fraction, optional
        Clock cycles per bit, instead of ``clk_freq`` and ``baudrate`` (simulation: 4 .. 16).
    timeout : int, optional
        Bridge idle timeout in cycles (default: 50 ms of ``clk_freq``, or 64 byte times).
    rx_fifo_depth : int
        Bytes buffered between the receiver and the bridge (default 256); the bridge does not
        read while it answers, so the host keeps fewer request bytes than this in flight.
    target : wiring.Component, optional
        Bus target to use instead of an accelerator (tests); needs a ``bus: In(hw.bus.Signature)``.
    checksum : (reg, ranges), optional
        Where :class:`BusChecksum` answers and what it counts; by default, with a ``config``,
        ``core.memmap.REG_CHECKSUM`` over :func:`checksum_ranges`; none for a bare ``target``.

    Ports
    -----
    rx : 1, in
        UART receive pin (from the host), idle high.
    tx : 1, out
        UART transmit pin (to the host), idle high.
    irq : 1, out
        The accelerator's interrupt line (0 when the target has none); boards put it on an LED.
    rx_error : 1, out
        Pulses on a framing error or a receive overflow (for an LED stretcher or a counter).
    """

    def __init__(self, config=None, *, clk_freq=None, baudrate: int = DEFAULT_BAUD,
                 divisor=None, timeout: int | None = None, rx_fifo_depth: int = 256,
                 target=None, checksum=None):
        if divisor is not None and clk_freq is not None:
            raise ValueError("give either divisor or clk_freq (with baudrate), not both")
        if divisor is None and clk_freq is None:
            raise ValueError("give clk_freq (Hz, with baudrate) or divisor (clock cycles per "
                             "bit) so that the UART knows its bit period")
        if divisor is None:
            divisor = divisor_for(clk_freq, baudrate)
        check_divisor(divisor)
        if timeout is None:
            timeout = (round(clk_freq * DEFAULT_TIMEOUT_S) if clk_freq is not None
                       else int(SIM_TIMEOUT_BYTES * 10 * Fraction(divisor)) + 1)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"Idle timeout must be a positive integer number of clock cycles, "
                             f"not {timeout!r}")
        if isinstance(rx_fifo_depth, bool) or not isinstance(rx_fifo_depth, int) \
                or rx_fifo_depth < 2:
            raise ValueError(f"rx_fifo_depth must be an integer of at least 2 bytes, "
                             f"not {rx_fifo_depth!r}")
        if target is None:
            if config is None:
                raise ValueError("give a core.config.Config (or a bus target for tests)")
            target = Accelerator(config)
        self.config = config
        self.divisor = divisor
        self.clk_freq = clk_freq
        self.baudrate = baudrate if clk_freq is not None else None
        self.timeout = timeout
        self.rx_fifo_depth = rx_fifo_depth
        self.target = target
        self.addr_width = len(target.bus.addr)
        if checksum is None and config is not None:
            checksum = (memmap.REG_CHECKSUM, checksum_ranges(config))
        self.checksum = checksum
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "irq": Out(1),
            "rx_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = rx = UARTRx(divisor=self.divisor)
        m.submodules.uart_tx = tx = UARTTx(divisor=self.divisor)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8,
                                                               depth=self.rx_fifo_depth)
        m.submodules.bridge = bridge = UARTBone(addr_width=self.addr_width,
                                                timeout=self.timeout)
        m.submodules.target = target = self.target

        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     self.rx_error.eq(rx.frame_error | rx.overflow)]
        wiring.connect(m, rx.data, rx_fifo.w_stream)
        # One register between the FIFO's block RAM and the bridge, so that the RAM's
        # clock-to-output and the bridge's command decoding sit in different cycles.
        pipe_valid = Signal()
        pipe_byte = Signal(8)
        m.d.comb += [
            rx_fifo.r_stream.ready.eq(~pipe_valid | bridge.rx.ready),
            bridge.rx.valid.eq(pipe_valid), bridge.rx.payload.eq(pipe_byte),
        ]
        with m.If(rx_fifo.r_stream.ready):
            m.d.sync += [pipe_valid.eq(rx_fifo.r_stream.valid),
                         pipe_byte.eq(rx_fifo.r_stream.payload)]
        wiring.connect(m, bridge.tx, tx.data)
        if self.checksum is not None:
            m.submodules.checksum = checksum = BusChecksum(self.addr_width, *self.checksum)
            wiring.connect(m, bridge.bus, checksum.initiator)
            wiring.connect(m, checksum.target, target.bus)
        else:
            wiring.connect(m, bridge.bus, target.bus)
        if hasattr(target, "irq"):
            m.d.comb += self.irq.eq(target.irq)
        return m
