"""An 8N1 UART: an oversampling receiver and a transmitter, each with a ``lib.stream`` port.

The bit period is ``divisor`` clock cycles (``divisor = clk_freq / baud``), fixed when the
gateware is generated. Small divisors (4 .. 16) are allowed so that a simulation spends few
cycles per bit; on a board the divisor is large (100 MHz / 115200 baud = 868). The divisor may
have a fractional part (in steps of 1/256 cycle): 12 Mbaud on a 100 MHz clock is 8 1/3 cycles
per bit, which no integer divisor comes within 2 % of. A fractional bit lasts ``floor(divisor)``
or one more cycle, chosen so that bit ``k`` of a frame starts less than one cycle before
``k * divisor``.

Frame: one start bit (0), eight data bits, least significant first, one stop bit (1); no parity.
"""

import math
from fractions import Fraction
from numbers import Real

from amaranth import Cat, Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["MIN_DIVISOR", "check_divisor", "divisor_for", "UARTRx", "UARTTx"]

#: The receiver takes three samples around the middle of each bit (cycles ``d//2 - 1`` ..
#: ``d//2 + 1`` of the bit); they must all lie inside the bit, so a bit lasts at least 4 cycles.
MIN_DIVISOR = 4


#: Resolution of a fractional divisor: 2**-FRACTION_BITS clock cycles.
FRACTION_BITS = 8


def check_divisor(divisor, *, minimum=MIN_DIVISOR) -> Fraction:
    """Check a bit period in clock cycles; return it as a :class:`~fractions.Fraction` rounded
    to 1/256 cycle, or raise :exc:`TypeError` / :exc:`ValueError`."""
    if isinstance(divisor, bool) or not isinstance(divisor, Real):
        raise TypeError(f"UART divisor must be a number of clock cycles per bit, "
                        f"not {divisor!r}")
    if not divisor >= minimum:   # also refuses NaN
        fix = ("(the receiver takes 3 samples per bit); lower the baud rate or raise the "
               "clock frequency" if minimum == MIN_DIVISOR else "")
        raise ValueError(f"UART divisor is {divisor}; it must be at least {minimum} clock "
                         f"cycles per bit {fix}".rstrip())
    if math.isinf(divisor):
        raise ValueError("UART divisor is infinite; give clock cycles per bit")
    scale = 1 << FRACTION_BITS
    return Fraction(round(Fraction(divisor) * scale), scale)


def divisor_for(clk_freq, baud, *, tolerance: float = 0.01):
    """The divisor for ``baud`` at ``clk_freq`` Hz: an ``int`` when an integer is within
    ``tolerance`` of the ideal bit period, else a :class:`~fractions.Fraction` in steps of
    1/256 cycle.

    Raises :exc:`ValueError` for a divisor below :data:`MIN_DIVISOR` (the baud rate is too fast
    for the clock).
    """
    if isinstance(clk_freq, bool) or not isinstance(clk_freq, Real) or not clk_freq > 0:
        raise ValueError(f"clock frequency must be a positive number of Hz, not {clk_freq!r}")
    if isinstance(baud, bool) or not isinstance(baud, Real) or not baud > 0:
        raise ValueError(f"baud rate must be a positive number, not {baud!r}")
    ideal = Fraction(clk_freq) / Fraction(baud)
    if ideal < MIN_DIVISOR:
        raise ValueError(f"baud rate {baud} is too fast for a {clk_freq / 1e6:g} MHz clock: "
                         f"{float(ideal):.2f} cycles per bit, the receiver needs at least "
                         f"{MIN_DIVISOR}; lower the baud rate to at most "
                         f"{int(clk_freq // MIN_DIVISOR)}")
    nearest = round(ideal)
    if abs(nearest - ideal) / ideal <= tolerance:
        return int(nearest)
    return check_divisor(ideal)


class _BitTimer:
    """Bit-period bookkeeping shared by the receiver and the transmitter: a bit lasts
    ``floor(divisor)`` cycles, or one more when a fractional accumulator carries."""

    def __init__(self, m, divisor: Fraction):
        scale = 1 << FRACTION_BITS
        self.whole = math.floor(divisor)
        self.frac = int((divisor - self.whole) * scale)
        self.phase = Signal(range(self.whole + 1))   # cycle inside the current bit
        self.acc = Signal(FRACTION_BITS)
        self.extra = Signal()                        # this bit lasts one cycle more
        self.last = Signal()                         # last cycle of this bit
        self._total = Signal(FRACTION_BITS + 1)
        m.d.comb += [
            self.last.eq(self.phase == self.whole - 1 + self.extra),
            self._total.eq(self.acc + self.frac),
        ]

    def start(self, phase=0):
        """Start a frame: the next cycle is cycle ``phase`` of bit 0."""
        # The accumulator starts at one half, so that the first k bits last
        # round(k * divisor) cycles: every bit edge is within half a cycle of its ideal time.
        half = self.frac + (1 << (FRACTION_BITS - 1))
        return [self.phase.eq(phase), self.acc.eq(half % (1 << FRACTION_BITS)),
                self.extra.eq(half >> FRACTION_BITS)]

    def advance(self):
        """One cycle inside a frame; after ``last`` the next bit begins."""
        return [self.phase.eq(self.phase + 1)]

    def next_bit(self):
        """Used in the ``last`` cycle of a bit, after :meth:`advance` (it overrides it)."""
        return [self.phase.eq(0), self.acc.eq(self._total[:FRACTION_BITS]),
                self.extra.eq(self._total[FRACTION_BITS])]


class UARTRx(wiring.Component):
    """UART receiver with 3-sample majority voting and framing-error detection.

    The input goes through a two-flip-flop synchronizer. The receiver waits for the line to go
    low, then takes three samples around the middle of every bit (cycles ``d//2 - 1``,
    ``d//2`` and ``d//2 + 1`` of the bit, ``d = floor(divisor)``, counted from the falling
    edge) and keeps the majority, so that a one-cycle glitch neither starts a frame nor flips a
    bit. A start bit whose majority is 1 was a glitch: the receiver goes back to waiting. A stop
    bit whose majority is 0 is a framing error: the byte is dropped, ``frame_error`` pulses,
    and the receiver waits for the line to return high (a break does not read as a stream of
    zero bytes). A frame ends in the middle of its stop bit, which leaves half a bit of slack
    for a sender whose clock runs fast.

    The receiver cannot stall the sender, so it holds one received byte on ``data``; a byte
    that completes while the previous one is still waiting is dropped and ``overflow`` pulses.
    Put a FIFO behind it if its consumer can be slow.

    Parameters
    ----------
    divisor : int or Fraction
        Clock cycles per bit, at least :data:`MIN_DIVISOR` (see :func:`divisor_for`).

    Ports
    -----
    rx : 1, in
        Serial input (idle high), asynchronous to the clock.
    data : stream of unsigned(8), out
        Received bytes.
    frame_error : 1, out
        Pulses for one cycle when a frame is dropped because its stop bit was 0.
    overflow : 1, out
        Pulses for one cycle when a byte is dropped because ``data`` was not taken in time.

    Latency: a byte appears on ``data`` about ``9.5 * divisor + 4`` cycles after the falling
    edge of its start bit (in the middle of its stop bit). Throughput: one byte per frame,
    back-to-back frames included.
    """

    def __init__(self, *, divisor):
        self._divisor = divisor
        self._period = check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(unsigned(8))),
            "frame_error": Out(1),
            "overflow": Out(1),
        })

    @property
    def divisor(self):
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        timer = _BitTimer(m, self._period)
        mid = timer.whole // 2

        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)

        bit = Signal(range(10))      # 0: start bit, 1 .. 8: data bits, 9: stop bit
        ones = Signal(2)             # ones among the first two samples of this bit
        shreg = Signal(8)
        sample = Signal()            # majority of the three samples, valid at phase mid + 1
        m.d.comb += sample.eq((ones + rx) >= 2)

        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # This cycle is cycle 0 of the start bit.
                    m.d.sync += timer.start(phase=1) + [bit.eq(0), ones.eq(0)]
                    m.next = "FRAME"

            with m.State("FRAME"):
                m.d.sync += timer.advance()
                with m.If(timer.last):
                    m.d.sync += timer.next_bit()
                with m.If((timer.phase == mid - 1) | (timer.phase == mid)):
                    m.d.sync += ones.eq(ones + rx)
                with m.If(timer.phase == mid + 1):
                    m.d.sync += [ones.eq(0), bit.eq(bit + 1)]
                    with m.If(bit == 0):
                        with m.If(sample):
                            m.next = "IDLE"          # a glitch, not a start bit
                    with m.Elif(bit == 9):
                        with m.If(~sample):
                            m.d.comb += self.frame_error.eq(1)
                            m.next = "BREAK"
                        with m.Elif(self.data.valid & ~self.data.ready):
                            m.d.comb += self.overflow.eq(1)
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                            m.next = "IDLE"
                    with m.Else():
                        m.d.sync += shreg.eq(Cat(shreg[1:], sample))

            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"

        return m


class UARTTx(wiring.Component):
    """UART transmitter.

    Parameters
    ----------
    divisor : int or Fraction
        Clock cycles per bit, at least 1 (the receiver of this module needs 4).

    Ports
    -----
    data : stream of unsigned(8), in
        Bytes to send.
    tx : 1, out
        Serial output (idle high), registered.

    Latency: the start bit begins on ``tx`` the cycle after a byte is accepted. Throughput: one
    byte every ``10 * divisor`` cycles (on average, for a fractional divisor); ``data.ready`` is
    also high in the last cycle of a stop bit, so that a waiting byte follows without an extra
    idle cycle.
    """

    def __init__(self, *, divisor):
        self._divisor = divisor
        self._period = check_divisor(divisor, minimum=1)
        super().__init__({
            "data": In(stream.Signature(unsigned(8))),
            "tx": Out(1, init=1),
        })

    @property
    def divisor(self):
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        timer = _BitTimer(m, self._period)

        shreg = Signal(9)            # the bits after the one on tx: data, then the stop bit
        left = Signal(range(10))     # bits still to send after the current one
        busy = Signal()

        m.d.comb += self.data.ready.eq(~busy | ((left == 0) & timer.last))

        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [
                self.tx.eq(0),
                shreg.eq(Cat(self.data.payload, 1)),
                left.eq(9),
                busy.eq(1),
            ] + timer.start()
        with m.Elif(busy):
            m.d.sync += timer.advance()
            with m.If(timer.last):
                m.d.sync += timer.next_bit()
                with m.If(left == 0):
                    m.d.sync += busy.eq(0)
                with m.Else():
                    m.d.sync += [
                        self.tx.eq(shreg[0]),
                        shreg.eq(shreg >> 1),
                        left.eq(left - 1),
                    ]
        return m
