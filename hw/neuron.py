"""Neuron update unit and read-out of the spiking accelerator (``docs/numerics.md`` 3 and 6).

Both are small pieces of the datapath that ``hw.accel.Accelerator`` instantiates; they are
components of their own so that each can be compared with a Python reference on its own.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ecp5 import is_ecp5, registered_product

__all__ = ["NeuronUnit", "LeakScale", "Readout", "leak_constants",
           "RESET_SUBTRACT", "RESET_ZERO", "RESET_NONE"]

RESET_SUBTRACT, RESET_ZERO, RESET_NONE = 0, 1, 2


def leak_constants(*, lif, factor, leak, membrane_bits):
    """``(scale, bias)`` such that the leak of ``docs/numerics.md`` is
    ``u = (v * scale + bias) >> M`` for every ``M``-bit ``v`` (``M = membrane_bits``).

    * ``if``: ``scale = 2^M``, ``bias = 0``, so ``u = v``.
    * ``lif`` factor ``lambda``: ``(v * lambda + 128) >> 8`` with numerator and denominator
      multiplied by ``2^(M-8)``: ``scale = lambda * 2^(M-8)``, ``bias = 2^(M-1)``.
    * ``lif`` shift ``k``: ``v - floor(v / 2^k) = ceil(v * (2^M - 2^(M-k)) / 2^M)``, and a
      ceiling is a floor after adding ``2^M - 1``: ``scale = 2^M - 2^(M-k)``,
      ``bias = 2^M - 1``.

    So one multiplier, whose operands are the same for a whole layer, does every leak.
    """
    M = membrane_bits
    if not lif:
        return 1 << M, 0
    if factor:
        return leak << (M - 8), 1 << (M - 1)
    return (1 << M) - ((1 << M) >> leak), (1 << M) - 1


class LeakScale(wiring.Component):
    """:func:`leak_constants` in gateware (combinational), computed once per layer and shared
    by all neuron units.

    Parameters
    ----------
    membrane_bits : int
        ``M``, 8 or more.

    Ports
    -----
    lif, factor : 1, in
    leak : 8, in
        Shift amount (0 .. M-1) or factor (0 .. 255).
    scale : M + 1, out
    bias : M, out
    """

    def __init__(self, membrane_bits: int):
        self.membrane_bits = membrane_bits
        M = membrane_bits
        super().__init__({
            "lif": In(1), "factor": In(1), "leak": In(8),
            "scale": Out(M + 1), "bias": Out(M),
        })

    def elaborate(self, platform):
        m = Module()
        M = self.membrane_bits
        # shift amounts are 0 .. M-1: only their low bits reach the shifter
        k = self.leak[:max(1, (M - 1).bit_length())]
        with m.If(~self.lif):
            m.d.comb += [self.scale.eq(1 << M), self.bias.eq(0)]
        with m.Elif(self.factor):
            m.d.comb += [self.scale.eq(self.leak << (M - 8)), self.bias.eq(1 << (M - 1))]
        with m.Else():
            m.d.comb += [self.scale.eq((1 << M) - (Const(1 << M, M + 1) >> k)),
                         self.bias.eq((1 << M) - 1)]
        return m


class NeuronUnit(wiring.Component):
    """One neuron step: leak, add the current, saturate once, fire, reset (combinational).

    Parameters
    ----------
    membrane_bits : int
        Width ``M`` of the membrane ports (the hardware's widest membrane).
    acc_bits : int
        Width of the ``current`` port.
    has_bias : bool
        Add the ``neuron_bias`` port (``Config.bias``).
    latency : 0, 1, 2, 3 or 4
        Pipeline registers: with 1, the leaked potential, ``fired``, ``current`` and ``valid``
        are registered between the leak and the rest, so that the leak multiplier and the
        add/saturate chain sit in different cycles; with 2, the saturated potential and its
        threshold test are registered as well, before the spike and the reset; with 3, the inputs
        ``v``, ``fired``, ``current`` and ``valid`` are registered too, so that a block RAM's
        read port feeding ``v`` and the leak multiplier sit in different cycles; with 4, the
        registers are after the inputs, after the leak's multiplier, after the sum of the
        leaked potential and the current, and after the saturation: the multiplier, the
        rounding of the leak with the addition of the current, and the saturation with the
        threshold test each have a cycle.

    Ports
    -----
    v : signed(M), in
        Membrane potential left by the previous step.
    fired : 1, in
        The neuron fired earlier in this inference.
    current : signed(acc_bits), in
        Integrated input ``I`` of this step.
    neuron_bias : signed(M), in
        The neuron's bias ``b`` (numerics.md, section 3, step 2), added to ``current`` before
        the one saturation; only with ``has_bias``. Delayed with ``v``, as ``current`` is.
    valid : 1, in
        The lane holds a real neuron (a padding lane never fires).
    scale : M + 1, in
    bias : M, in
        The layer's leak as :func:`leak_constants` gives it (from :class:`LeakScale`):
        ``u = (v * scale + bias) >> M``, one multiplier for every leak mode.
    fire_once : 1, in
        Layer mode (numerics.md, section 1).
    reset : 2, in
        0 subtract, 1 zero, 2 none.
    threshold : signed(M), in
    vmin, vmax : signed(M), in
        Saturation bounds of the network's membrane width ``k`` (shared by all units):
        ``vmax = 2^(k-1) - 1`` and ``vmin = -2^(k-1)``, nothing else.
    p : signed(M), out
        Saturated potential before the reset.
    spike : 1, out
    v_next : signed(M), out
        Potential after the reset.
    fired_next : 1, out
    fired_used : 1, out
        The ``fired`` the outputs were computed from (delayed by ``latency`` cycles).

    Latency: ``latency`` cycles (0: combinational). Throughput: one neuron per cycle.
    The layer-mode inputs, ``scale``, ``bias``, ``threshold``, ``vmin`` and ``vmax`` are not
    delayed: hold them.
    """

    def __init__(self, membrane_bits: int, acc_bits: int, latency: int = 0, *,
                 has_bias: bool = False):
        if latency not in (0, 1, 2, 3, 4):
            raise ValueError(f"latency is {latency!r}; it must be 0, 1, 2, 3 or 4")
        self.membrane_bits = membrane_bits
        self.acc_bits = acc_bits
        self.latency = latency
        self.has_bias = has_bias
        M = membrane_bits
        members = {
            "v": In(signed(M)), "fired": In(1), "current": In(signed(acc_bits)),
            "valid": In(1), "scale": In(M + 1), "bias": In(M), "fire_once": In(1),
            "reset": In(2), "threshold": In(signed(M)),
            "vmin": In(signed(M)), "vmax": In(signed(M)),
            "p": Out(signed(M)), "spike": Out(1), "v_next": Out(signed(M)),
            "fired_next": Out(1), "fired_used": Out(1),
        }
        if has_bias:
            members["neuron_bias"] = In(signed(M))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        M = self.membrane_bits
        lat = self.latency
        # Where the registers are, by latency: the inputs (3, 4), the leak's product (4), the
        # leaked potential (1 .. 3) or the sum with the current (4), the saturated potential
        # and its threshold test (2 .. 4).
        def stage(registered, name, values):
            """``values`` through a register stage (or wires). No resets: the accelerator
            qualifies the outputs with its own flags, and the domain's reset then fans out to
            fewer flip-flops."""
            outs = [Signal.like(v, name=f"{name}_{v.name}", reset_less=True) for v in values]
            if registered:
                m.d.sync += [o.eq(v) for o, v in zip(outs, values)]
            else:
                m.d.comb += [o.eq(v) for o, v in zip(outs, values)]
            return outs

        v_in, fired, current, valid = stage(lat >= 3, "in",
                                            [self.v, self.fired, self.current, self.valid])
        if self.has_bias:
            # I + b beside the leak's multiplier (its own stage with latency 4), so that the
            # sum after the leak stays one addition; wide enough that it never wraps.
            nb, = stage(lat >= 3, "in", [self.neuron_bias])
            biased = Signal(signed(max(self.acc_bits, M) + 1))
            m.d.comb += biased.eq(current + nb)
            current = biased
        # Every leak mode is one product, (v * scale + bias) >> M (leak_constants); the
        # layer's scale and bias are shared, so no unit needs a shifter or a mode multiplexer.
        product = Signal(signed(2 * M + 2))
        m.d.comb += product.eq(v_in * self.scale)
        product, fired, current, valid = stage(lat >= 4, "mul", [product, fired, current, valid])
        if lat >= 4 and is_ecp5(platform) and M + 1 <= 18:
            # The product's register is the output register of an ECP5 DSP slice.
            dsp = registered_product(m, v_in, self.scale, a_signed=True, b_signed=False,
                                     name="leak_mult")
            product = dsp[:2 * M + 2].as_signed()
        leaked = Signal(signed(M + 2))
        m.d.comb += leaked.eq((product + self.bias) >> M)
        u, fired, current, valid = stage(lat in (1, 2, 3), "leak", [leaked, fired, current, valid])
        total = Signal(signed(max(M + 2, len(current)) + 1))
        m.d.comb += total.eq(u + current)
        total, fired, valid = stage(lat >= 4, "sum", [total, fired, valid])
        # Saturate once per step (numerics.md, section 3, step 2). vmax is 2^(k-1) - 1 for the
        # network's width k: the sum is out of range when its bits from k-1 up are not all
        # copies of its sign, which a mask tests without two wide comparators.
        W = len(total)
        high = Cat(~self.vmax, Const(-1, W - M))[:W - 1]
        sign = total[W - 1]
        over = Signal()
        under = Signal()
        m.d.comb += [over.eq(~sign & (total[:W - 1] & high).any()),
                     under.eq(sign & (~total[:W - 1] & high).any())]
        p_sat = Signal(signed(M))
        with m.If(over):
            m.d.comb += p_sat.eq(self.vmax)
        with m.Elif(under):
            m.d.comb += p_sat.eq(self.vmin)
        with m.Else():
            m.d.comb += p_sat.eq(total)
        # The threshold test of the saturated potential, made on the sum in parallel with the
        # saturation: vmax and vmin are tested against the threshold on their own (they hold
        # for a layer), so that no comparison waits for the saturation's multiplexer.
        ge = Signal()
        m.d.comb += ge.eq(Mux(over, self.vmax >= self.threshold,
                              Mux(under, self.vmin >= self.threshold,
                                  total >= self.threshold)))
        # The threshold test is made before the last register, so that the spike (and what
        # follows it: the event-buffer write, the reset's multiplexer) starts from a register.
        p = self.p
        p_reg, ge, fired, valid = stage(lat >= 2, "sat", [p_sat, ge, fired, valid])
        m.d.comb += p.eq(p_reg)
        m.d.comb += self.fired_used.eq(fired)
        spike = self.spike
        m.d.comb += spike.eq(valid & ge & ~(self.fire_once & fired))
        with m.If(spike & (self.reset == RESET_SUBTRACT)):
            m.d.comb += self.v_next.eq(p - self.threshold)
        with m.Elif(spike & (self.reset == RESET_ZERO)):
            m.d.comb += self.v_next.eq(0)
        with m.Else():
            m.d.comb += self.v_next.eq(p)
        m.d.comb += self.fired_next.eq(fired | spike)
        return m


class Readout(wiring.Component):
    """Choose the class from the output neurons, one neuron per cycle (numerics.md, section 6).

    Feed the output neurons in ascending index order with ``valid``; ``clear`` (one cycle,
    at least one cycle before the first, with no neuron fed) forgets the previous inference.
    ``cls`` is valid two cycles after the last neuron was fed.

    Parameters
    ----------
    membrane_bits : int
    index_bits : int
    count_bits : int
        Width of the ``count`` port; 0 (the default) builds no spike-count read-out.

    Ports
    -----
    clear : 1, in
    valid : 1, in
    index : index_bits, in
    first_time : 8, in
        First spike step, 255 if the neuron never fired.
    first_potential : signed(M), in
    final_v : signed(M), in
    max_membrane : 1, in
        Read-out mode: 0 first_spike, 1 max_membrane.
    count : count_bits, in
        Spikes of the neuron over the inference (only with ``count_bits``).
    spike_count : 1, in
        Read-out mode spike_count: the most spikes, lowest index on ties (only with
        ``count_bits``; overrides ``max_membrane``).
    cls : index_bits, out

    Latency: a neuron fed in cycle ``c`` is registered and, in cycle ``c + 1``, taken into the
    best so far if it beats them; ``cls`` shows it from ``c + 2``. Throughput: one neuron per
    cycle.
    """

    def __init__(self, membrane_bits: int, index_bits: int, count_bits: int = 0):
        self.membrane_bits = membrane_bits
        self.index_bits = index_bits
        self.count_bits = count_bits
        M = membrane_bits
        members = {
            "clear": In(1), "valid": In(1), "index": In(index_bits),
            "first_time": In(8), "first_potential": In(signed(M)), "final_v": In(signed(M)),
            "max_membrane": In(1), "cls": Out(index_bits),
        }
        if count_bits:
            members.update(count=In(count_bits), spike_count=In(1))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        M = self.membrane_bits
        # (first time, first potential) as one unsigned key that orders as the rule does:
        # the time above, the potential's complement (sign flipped to offset binary) below, so
        # that "earlier, or as early with a higher potential" is one comparison, key < best.
        key_in = Cat(~Cat(self.first_potential[:M - 1], ~self.first_potential[M - 1]),
                     self.first_time)
        # The neuron fed, registered: the candidate taken into the best so far in this cycle.
        valid = Signal()
        index = Signal(self.index_bits)
        final_v = Signal(signed(M))
        key = Signal(len(key_in))
        spiked = Signal()
        m.d.sync += [valid.eq(self.valid), index.eq(self.index),
                     final_v.eq(self.final_v), key.eq(key_in),
                     spiked.eq(self.first_time != 255)]
        best_v = Signal(signed(M))
        best_v_index = Signal(self.index_bits)
        have_v = Signal()
        best_key = Signal(len(key))
        best_f_index = Signal(self.index_bits)
        have_f = Signal()
        # Whether the neuron fed beats the best so far is decided as it is registered, against
        # the best registers and against the candidate (which they take in the same cycle if it
        # beats them), so that no comparison precedes the best registers' enables. Strict
        # comparisons keep the lowest index on ties (neurons arrive in order).
        beats_v = Signal()
        beats_f = Signal()
        m.d.sync += [
            beats_v.eq((~have_v | (self.final_v > best_v)) & (~valid | (self.final_v > final_v))),
            beats_f.eq((self.first_time != 255)
                       & (~have_f | (key_in < best_key))
                       & (~(valid & spiked) | (key_in < key))),
        ]
        with m.If(self.clear):
            m.d.sync += [have_v.eq(0), have_f.eq(0)]
        with m.Elif(valid):
            with m.If(beats_v):
                m.d.sync += [have_v.eq(1), best_v.eq(final_v), best_v_index.eq(index)]
            with m.If(beats_f):
                m.d.sync += [have_f.eq(1), best_key.eq(key), best_f_index.eq(index)]
        cls = Mux(have_f & ~self.max_membrane, best_f_index, best_v_index)
        if self.count_bits:
            cls = Mux(self.spike_count, self._most_spikes(m, valid, index), cls)
        m.d.comb += self.cls.eq(cls)
        return m

    def _most_spikes(self, m, valid, index):
        """The index of the most spikes so far, lowest on ties: the largest-membrane rule's
        structure on the counts (strict comparisons, neurons in order). A neuron that never
        fired has count 0, so with no spike at all the class is neuron 0."""
        count = Signal(self.count_bits)
        best = Signal(self.count_bits)
        best_index = Signal(self.index_bits)
        have = Signal()
        beats = Signal()
        m.d.sync += [count.eq(self.count),
                     beats.eq((~have | (self.count > best)) & (~valid | (self.count > count)))]
        with m.If(self.clear):
            m.d.sync += have.eq(0)
        with m.Elif(valid & beats):
            m.d.sync += [have.eq(1), best.eq(count), best_index.eq(index)]
        return best_index
