"""Neuron update unit and read-out of the spiking accelerator (``docs/numerics.md`` 3 and 6).

Both are small pieces of the datapath that ``hw.accel.Accelerator`` instantiates; they are
components of their own so that each can be compared with a Python reference on its own.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["NeuronUnit", "Readout", "reference_update", "RESET_SUBTRACT", "RESET_ZERO",
           "RESET_NONE"]

RESET_SUBTRACT, RESET_ZERO, RESET_NONE = 0, 1, 2


def reference_update(v, fired, current, *, lif, factor, leak, reset, fire_once, threshold,
                     membrane_bits):
    """Python reference of one neuron step; returns ``(p, spike, v_next, fired_next)``."""
    if lif and not factor:
        u = v - (v >> leak)
    elif lif:
        u = (v * leak + 128) >> 8
    else:
        u = v
    lo, hi = -(1 << (membrane_bits - 1)), (1 << (membrane_bits - 1)) - 1
    p = max(lo, min(hi, u + current))
    spike = p >= threshold and not (fire_once and fired)
    if spike and reset == RESET_SUBTRACT:
        v_next = p - threshold
    elif spike and reset == RESET_ZERO:
        v_next = 0
    else:
        v_next = p
    return p, spike, v_next, bool(fired or spike)


class NeuronUnit(wiring.Component):
    """One neuron step: leak, add the current, saturate once, fire, reset (combinational).

    Parameters
    ----------
    membrane_bits : int
        Width ``M`` of the membrane ports (the hardware's widest membrane).
    acc_bits : int
        Width of the ``current`` port.
    registered : bool
        Register the leaked potential, ``fired``, ``current`` and ``valid`` between the leak
        and the rest (latency one cycle instead of zero), so that the leak multiplier and the
        add/saturate/compare chain sit in different cycles.

    Ports
    -----
    v : signed(M), in
        Membrane potential left by the previous step.
    fired : 1, in
        The neuron fired earlier in this inference.
    current : signed(acc_bits), in
        Integrated input ``I`` of this step.
    valid : 1, in
        The lane holds a real neuron (a padding lane never fires).
    lif, factor, fire_once : 1, in
        Layer mode (numerics.md, section 1).
    leak : 8, in
        Shift amount (1 .. M-1) or factor (0 .. 255).
    reset : 2, in
        0 subtract, 1 zero, 2 none.
    threshold : signed(M), in
    vmin, vmax : signed(M), in
        Saturation bounds of the network's membrane width (shared by all units).
    p : signed(M), out
        Saturated potential before the reset.
    spike : 1, out
    v_next : signed(M), out
        Potential after the reset.
    fired_next : 1, out
    fired_used : 1, out
        The ``fired`` the outputs were computed from (delayed when ``registered``).

    Latency: combinational, or one cycle when ``registered``. Throughput: one neuron per cycle.
    The layer-mode inputs, ``threshold``, ``vmin`` and ``vmax`` are not delayed: hold them.
    """

    def __init__(self, membrane_bits: int, acc_bits: int, registered: bool = False):
        self.membrane_bits = membrane_bits
        self.acc_bits = acc_bits
        self.registered = registered
        M = membrane_bits
        super().__init__({
            "v": In(signed(M)), "fired": In(1), "current": In(signed(acc_bits)),
            "valid": In(1), "lif": In(1), "factor": In(1), "fire_once": In(1),
            "leak": In(8), "reset": In(2), "threshold": In(signed(M)),
            "vmin": In(signed(M)), "vmax": In(signed(M)),
            "p": Out(signed(M)), "spike": Out(1), "v_next": Out(signed(M)),
            "fired_next": Out(1), "fired_used": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        M = self.membrane_bits
        v = self.v
        # Shift leak: v - (v >> k) never leaves the M-bit range (k >= 1).
        shift_leak = Signal(signed(M + 1))
        # shift amounts are 1 .. M-1: only their low bits reach the barrel shifter
        m.d.comb += shift_leak.eq(v - (v >> self.leak[:max(1, (M - 1).bit_length())]))
        # Factor leak: (v * lambda + 128) >> 8, |result| <= |v|.
        product = Signal(signed(M + 10))
        m.d.comb += product.eq(v * self.leak + 128)
        factor_leak = Signal(signed(M + 2))
        m.d.comb += factor_leak.eq(product >> 8)
        leaked = Signal(signed(M + 2))
        with m.If(~self.lif):
            m.d.comb += leaked.eq(v)
        with m.Elif(self.factor):
            m.d.comb += leaked.eq(factor_leak)
        with m.Else():
            m.d.comb += leaked.eq(shift_leak)
        u = Signal(signed(M + 2))
        fired = Signal()
        current = Signal(signed(self.acc_bits))
        valid = Signal()
        domain = m.d.sync if self.registered else m.d.comb
        domain += [u.eq(leaked), fired.eq(self.fired), current.eq(self.current),
                   valid.eq(self.valid)]
        m.d.comb += self.fired_used.eq(fired)
        total = Signal(signed(max(M + 2, self.acc_bits) + 1))
        m.d.comb += total.eq(u + current)
        # Saturate once per step (numerics.md, section 3, step 2).
        p = self.p
        with m.If(total > self.vmax):
            m.d.comb += p.eq(self.vmax)
        with m.Elif(total < self.vmin):
            m.d.comb += p.eq(self.vmin)
        with m.Else():
            m.d.comb += p.eq(total)
        spike = self.spike
        m.d.comb += spike.eq(valid & (p >= self.threshold) & ~(self.fire_once & fired))
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
    before the first) forgets the previous inference. ``cls`` is valid the cycle after the last
    neuron was fed.

    Parameters
    ----------
    membrane_bits : int
    index_bits : int

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
    cls : index_bits, out
    """

    def __init__(self, membrane_bits: int, index_bits: int):
        self.membrane_bits = membrane_bits
        self.index_bits = index_bits
        M = membrane_bits
        super().__init__({
            "clear": In(1), "valid": In(1), "index": In(index_bits),
            "first_time": In(8), "first_potential": In(signed(M)), "final_v": In(signed(M)),
            "max_membrane": In(1), "cls": Out(index_bits),
        })

    def elaborate(self, platform):
        m = Module()
        M = self.membrane_bits
        best_v = Signal(signed(M))
        best_v_index = Signal(self.index_bits)
        have_v = Signal()
        best_t = Signal(8)
        best_p = Signal(signed(M))
        best_f_index = Signal(self.index_bits)
        have_f = Signal()
        with m.If(self.clear):
            m.d.sync += [have_v.eq(0), have_f.eq(0)]
        with m.Elif(self.valid):
            # Strict comparisons keep the lowest index on ties (neurons arrive in order).
            with m.If(~have_v | (self.final_v > best_v)):
                m.d.sync += [have_v.eq(1), best_v.eq(self.final_v),
                             best_v_index.eq(self.index)]
            earlier = (self.first_time < best_t) | (
                (self.first_time == best_t) & (self.first_potential > best_p))
            with m.If((self.first_time != 255) & (~have_f | earlier)):
                m.d.sync += [have_f.eq(1), best_t.eq(self.first_time),
                             best_p.eq(self.first_potential), best_f_index.eq(self.index)]
        m.d.comb += self.cls.eq(Mux(have_f & ~self.max_membrane, best_f_index, best_v_index))
        return m
