"""Accumulator lanes of the spiking accelerator: the crossbar's dot-product columns.

``hw.accel.Accelerator`` splits its ``P`` lanes into groups of :data:`GROUP_LANES`
(:class:`LaneGroup`). Every group keeps its own copy of the event's magnitudes, one register
stage before its products, so that the magnitudes reach 8 lanes' multipliers from a register
next to them instead of all ``P`` lanes from one register across the chip. Board builds keep
the groups as separate modules through synthesis (``boards.ulx3s``), so that the copies are not
merged back into one register.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ecp5 import is_ecp5, registered_product

__all__ = ["GROUP_LANES", "LaneGroup", "booth_product"]

#: Lanes per :class:`LaneGroup`.
GROUP_LANES = 8


def booth_product(m, a, neg_a, code, name):
    """``a * w`` for a two's complement weight code, as radix-4 Booth partial products.

    ``neg_a`` is ``-a`` (computed once for the lanes that share ``a``). A lane outside the DSP
    slices costs about 51 LUTs this way (with its accumulator) against 72 for a generic
    multiplier, because each partial product bit is one LUT of the digit's three weight bits
    and two bits of ``a``.
    """
    width = len(code) + len(code) % 2
    w = code.as_signed()
    bits = [Const(0, 1)] + [w[min(i, len(code) - 1)] for i in range(width)]
    total = 0
    for i in range(width // 2):
        lo, mid, hi = bits[2 * i], bits[2 * i + 1], bits[2 * i + 2]
        digit = Signal(signed(len(a) + 2), name=f"booth{name}_{i}")
        with m.Switch(Cat(lo, mid, hi)):
            with m.Case(0b001, 0b010):
                m.d.comb += digit.eq(a)
            with m.Case(0b011):
                m.d.comb += digit.eq(a << 1)
            with m.Case(0b100):
                m.d.comb += digit.eq(neg_a << 1)
            with m.Case(0b101, 0b110):
                m.d.comb += digit.eq(neg_a)
            with m.Default():
                m.d.comb += digit.eq(0)
        total = total + (digit << (2 * i))
    return total


class LaneGroup(wiring.Component):
    """``n`` accumulator lanes sharing one input event: ``acc[k] += sum_j mag_j * w[j, k]``.

    Parameters
    ----------
    lanes : int
        ``n``, the lanes of the group.
    inputs_per_cycle : 1 or 2
        ``K``, inputs (magnitudes) per event.
    weight_bits : int
        ``WB``, two's complement weight codes; with 1, code 1 is +1 and code 0 is -1.
    acc_bits : int
        ``A``, accumulator width.
    dsp_lanes : int
        The first ``dsp_lanes`` lanes of the group multiply with a plain product (synthesis
        maps it into DSP slices); the others with Booth partial products in LUTs.
    restart : bool
        Build the ``restart`` input (conv layers, ``Config.conv``).

    Ports
    -----
    mag : 8 * K, in
        Magnitudes of the event's inputs (0 for an input without an event).
    valid : 1, in
        An event this cycle (with ``mag``).
    clear : 1, in
        A slot without an event that zeroes the accumulators as far down the pipeline as an
        event goes: they read 0 from cycle ``c + 3`` for a ``clear`` in cycle ``c``, as an
        event presented in ``c`` would be in ``acc`` from ``c + 3``. So the accumulators keep
        a block's sums until the clear reaches them, while the next block's first events
        follow it.
    weights : K * n * WB, in
        Field ``j * n + k``: the weight code of input ``j`` for lane ``k`` (with ``mag``).
    acc : n * A, out
        Lane ``k``'s sum, signed, bits ``k*A + A-1 .. k*A``.
    restart : 1, in
        Only with ``restart``: every event replaces the sum by its own product instead of
        adding to it (a conv layer adds each product to the current memory instead,
        ``docs/architecture.md``). Static while events flow.

    Latency: an event presented in cycle ``c`` is in ``acc`` from cycle ``c + 3`` (inputs
    registered, product registered, accumulated). Throughput: one event per cycle.

    On a Lattice ECP5 (``platform.family == "ecp5"``) with ``K = 1``, a DSP lane's product
    register is the output register of its ``MULT18X18D`` (``hw.ecp5``), so that no routing
    follows the multiplier.
    """

    def __init__(self, *, lanes: int, inputs_per_cycle: int, weight_bits: int, acc_bits: int,
                 dsp_lanes: int, restart: bool = False):
        self.lanes = lanes
        self.restarts = restart
        self.inputs_per_cycle = inputs_per_cycle
        self.weight_bits = weight_bits
        self.acc_bits = acc_bits
        self.dsp_lanes = dsp_lanes
        members = {
            "mag": In(8 * inputs_per_cycle), "valid": In(1), "clear": In(1),
            "weights": In(inputs_per_cycle * lanes * weight_bits),
            "acc": Out(lanes * acc_bits),
        }
        if restart:
            members["restart"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n, K, WB, A = self.lanes, self.inputs_per_cycle, self.weight_bits, self.acc_bits
        k_bits = (K - 1).bit_length()
        # The group's copies of the magnitudes (and their negations, for the Booth digits and
        # the binary weights), and of the flags. No resets on the data: `valid` qualifies it.
        mag = [Signal(signed(9), name=f"mag{j}", reset_less=True) for j in range(K)]
        neg = [Signal(signed(9), name=f"neg{j}", reset_less=True) for j in range(K)]
        for j in range(K):
            value = self.mag[8 * j:8 * (j + 1)]
            m.d.sync += [mag[j].eq(value), neg[j].eq(-value)]
        weights = Signal.like(self.weights, reset_less=True)
        m.d.sync += weights.eq(self.weights)
        valid_w = Signal()
        valid_b = Signal()
        clear_w = Signal()
        clear_b = Signal()
        m.d.sync += [valid_w.eq(self.valid), valid_b.eq(valid_w),
                     clear_w.eq(self.clear), clear_b.eq(clear_w)]
        ecp5 = is_ecp5(platform) and K == 1 and WB > 1
        for k in range(n):
            prod = Signal(signed(WB + 9 + k_bits), name=f"prod{k}", reset_less=True)
            if ecp5 and k < self.dsp_lanes:
                code = weights[k * WB:(k + 1) * WB]
                product = registered_product(m, code, mag[0][:8], a_signed=True,
                                             b_signed=False, name=f"mult{k}")
                m.d.comb += prod.eq(product[:len(prod)])
            else:
                terms = []
                for j in range(K):
                    code = weights[(j * n + k) * WB:(j * n + k + 1) * WB]
                    if WB == 1:  # binary weights: code 1 is +1, code 0 is -1 (numerics.md, 2)
                        terms.append(Mux(code, mag[j], neg[j]))
                    elif k < self.dsp_lanes:
                        terms.append(mag[j] * code.as_signed())
                    else:
                        terms.append(booth_product(m, mag[j], neg[j], code,
                                                   k if K == 1 else f"{k}_{j}"))
                m.d.sync += prod.eq(sum(terms[1:], terms[0]))
            acc = Signal(signed(A), name=f"acc{k}", reset_less=True)
            with m.If(clear_b):
                m.d.sync += acc.eq(0)
            with m.Elif(valid_b):
                m.d.sync += acc.eq((Mux(self.restart, 0, acc) if self.restarts else acc) + prod)
            m.d.comb += self.acc[k * A:(k + 1) * A].eq(acc)
        return m

