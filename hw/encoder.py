"""Layer-0 input encoder of the spiking accelerator (``docs/numerics.md``, section 4).

The encoder turns a row of ``S`` pixels into a mask of *events* (inputs with a nonzero
magnitude this step) and their magnitudes, so that the sequencer only spends integration
cycles on events. Rows with no event cost one cycle; a row with ``k`` events costs ``k``.

* ``direct``: every nonzero pixel, magnitude ``x``.
* ``hybrid``: at step 0 as direct; at step ``t >= 1`` the pixels with ``t_spike(x) == t``,
  magnitude 255. ``t_spike(x) == t`` is the interval test ``lo <= 255 - x < hi`` with bounds
  ``B(t)``, ``B(t+1)`` that :class:`HybridBound` computes once per step, so no per-pixel
  multiplier is needed.
* ``rate``: pixel ``k`` of the row spikes (magnitude 255) when ``x > draw_k``; the ``S`` draws
  of a row come from the 16-bit Galois LFSR advanced ``8 (k + 1)`` times, computed in one cycle
  as GF(2) matrix products (each output bit is an XOR of state bits).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from core.config import ENCODER_CODES
from core.numerics import lfsr_shift

__all__ = ["lfsr_matrix", "PixelFilter", "HybridBound", "hybrid_bound"]


def lfsr_matrix(shifts: int) -> list[int]:
    """For each output bit of the state after ``shifts`` shifts, the mask of input state bits
    whose XOR it is (the LFSR is linear over GF(2))."""
    columns = []
    for bit in range(16):
        r = 1 << bit
        for _ in range(shifts):
            r = lfsr_shift(r)
        columns.append(r)  # the image of input bit `bit`
    return [sum(((columns[bit] >> out) & 1) << bit for bit in range(16)) for out in range(16)]


def hybrid_bound(t: int, timesteps: int) -> int:
    """``B(t+1)``: smallest ``y`` in 0 .. 256 with ``y * (T - 1) >= t * 256``."""
    return next(y for y in range(257) if y * (timesteps - 1) >= t * 256)


class PixelFilter(wiring.Component):
    """Events of one row of ``S`` pixels (combinational).

    Parameters
    ----------
    pixels_per_cycle : int
        ``S``.
    encoders : tuple of str
        Encoders to build; logic of the others is left out.

    Ports
    -----
    pixels : S * 8, in
        Pixel ``k`` in bits ``8k+7 : 8k``.
    lane_valid : S, in
        Pixel ``k`` exists (its index is below ``n_in``).
    encoder : 2, in
        0 direct, 1 hybrid, 2 rate.
    first_step : 1, in
        The step is ``t = 0``.
    lo, hi : 9, in
        Hybrid interval for this step (``B(t)``, ``B(t+1)``).
    lfsr : 16, in
        LFSR state before the row's first draw.
    match : S, out
        Pixel ``k`` has an event.
    magnitude : S * 8, out
        Event magnitudes, pixel ``k`` in bits ``8k+7 : 8k``.
    lfsr_after : S * 16, out
        State after ``k + 1`` draws in bits ``16k+15 : 16k`` (the next row starts from entry
        ``valid_count - 1``).
    """

    def __init__(self, pixels_per_cycle: int, encoders=("direct", "hybrid", "rate")):
        self.pixels_per_cycle = S = pixels_per_cycle
        self.encoders = tuple(encoders)
        super().__init__({
            "pixels": In(8 * S), "lane_valid": In(S), "encoder": In(2), "first_step": In(1),
            "lo": In(9), "hi": In(9), "lfsr": In(16),
            "match": Out(S), "magnitude": Out(8 * S), "lfsr_after": Out(16 * S),
        })

    def elaborate(self, platform):
        m = Module()
        S = self.pixels_per_cycle
        if "rate" in self.encoders:
            for k in range(S):
                masks = lfsr_matrix(8 * (k + 1))
                state = Cat(*[(self.lfsr & mask).xor() for mask in masks])
                m.d.comb += self.lfsr_after[16 * k:16 * (k + 1)].eq(state)
        for k in range(S):
            x = self.pixels[8 * k:8 * (k + 1)]
            match = Signal(name=f"match{k}")
            magnitude = Signal(8, name=f"magnitude{k}")
            analog = Signal(name=f"analog{k}")
            m.d.comb += analog.eq(0)
            with m.Switch(self.encoder):
                if "direct" in self.encoders:
                    with m.Case(ENCODER_CODES["direct"]):
                        m.d.comb += [match.eq(x != 0), analog.eq(1)]
                if "hybrid" in self.encoders:
                    with m.Case(ENCODER_CODES["hybrid"]):
                        y = Signal(9, name=f"y{k}")
                        m.d.comb += y.eq(255 - x)
                        with m.If(self.first_step):
                            m.d.comb += [match.eq(x != 0), analog.eq(1)]
                        with m.Else():
                            m.d.comb += match.eq((x != 0) & (y >= self.lo) & (y < self.hi))
                if "rate" in self.encoders:
                    with m.Case(ENCODER_CODES["rate"]):
                        draw = self.lfsr_after[16 * k:16 * k + 8]
                        m.d.comb += match.eq(x > draw)
            m.d.comb += [
                self.match[k].eq(match & self.lane_valid[k]),
                magnitude.eq(Mux(analog, x, 255)),
                self.magnitude[8 * k:8 * (k + 1)].eq(magnitude),
            ]
        return m


class HybridBound(wiring.Component):
    """Binary search for ``B(t+1)``, the smallest ``y`` with ``y * (T - 1) >= t * 256``.

    ``start`` is registered first (so that the sequencer's decision to start does not fan
    out to the search's registers in the same cycle): the cycle after ``start``, ``t`` and
    ``tm1 = T - 1`` are latched (hold them until then); ``busy`` is high for the nine cycles
    after that, after which ``bound`` holds the result (until the next ``start``) and ``done``
    pulses.
    No multiplier: each iteration adds a shifted ``T - 1`` to the product of the bound so far.
    The sequencer starts the search for step ``t + 1`` at the beginning of step ``t``, so it
    costs no cycles of its own.

    Ports
    -----
    start : 1, in
    t : 8, in
    tm1 : 8, in
    bound : 9, out
    busy : 1, out
    done : 1, out
    """

    def __init__(self):
        super().__init__({
            "start": In(1), "t": In(8), "tm1": In(8), "bound": Out(9), "busy": Out(1),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        below = Signal(9)     # largest y found so far with y * (T-1) < t * 256
        bit = Signal(range(10))
        # The product of a candidate is kept incrementally, so that no multiplier sits on the
        # path to the decision: candidate = below | 2^(bit-1), and its product with T-1 is
        # below's product plus (T-1) << (bit-1), a register shifted right once per iteration.
        mask = Signal(9)      # 2^(bit-1)
        shifted = Signal(17)  # (T-1) << (bit-1)
        product = Signal(18)  # below * (T-1)
        target = Signal(16)   # t * 256
        total = Signal(18)
        m.d.comb += [total.eq(product + shifted), self.bound.eq(below + 1)]
        m.d.sync += self.done.eq(0)
        go = Signal()
        m.d.sync += go.eq(self.start)
        with m.If(go):
            m.d.sync += [below.eq(0), bit.eq(9), self.busy.eq(1), mask.eq(1 << 8),
                         shifted.eq(self.tm1 << 8), product.eq(0),
                         target.eq(Cat(Const(0, 8), self.t))]
        with m.Elif(self.busy):
            with m.If(total < target):
                m.d.sync += [below.eq(below | mask), product.eq(total)]
            m.d.sync += [bit.eq(bit - 1), mask.eq(mask >> 1), shifted.eq(shifted >> 1)]
            with m.If(bit == 1):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        return m
