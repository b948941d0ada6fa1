"""Lowest-first expansion of a set of flags into one index per cycle.

The encoder scan expands a row's events (one flag per input group) and the replay expands an
event-buffer entry's spikes (one flag per group of ``K`` neurons) into one event per cycle,
lowest index first. Both are :class:`LowestFirst`; the counting helpers below decide, from
registers, whether the current set has at most one flag left, so that the decision to fetch
the next set never waits for the priority encoder.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LowestFirst", "at_most_one", "at_most_two", "any_per_group", "lowest",
           "one_hot_select"]


def _count_to_three(bits):
    """How many bits of ``bits`` are set, saturated at 3 (2 bits), as a tree over halves:
    about log2(n) LUT levels, not a carry chain as ``bits & (bits - 1)`` would be."""
    if len(bits) == 1:
        return bits[0].as_unsigned()
    half = len(bits) // 2
    lo, hi = _count_to_three(bits[:half]), _count_to_three(bits[half:])
    return Mux(lo + hi > 3, 3, lo + hi)[:2]


def at_most_one(bits):
    """True when at most one bit of ``bits`` is set."""
    return _count_to_three(bits) <= 1


def at_most_two(bits):
    """True when at most two bits of ``bits`` are set: whether at most one is left once the
    lowest is taken, without finding the lowest first."""
    return _count_to_three(bits) <= 2


def any_per_group(bits, size):
    """One bit per group of ``size`` consecutive bits of ``bits``: any of the group's set."""
    if size == 1:
        return bits
    return Cat(bits[g * size:(g + 1) * size].any() for g in range(len(bits) // size))


def lowest(bits):
    """The lowest set bit of ``bits`` alone (one-hot, or zero)."""
    return (bits & -bits)[:len(bits)]


def one_hot_select(onehot, values):
    """The value of the set bit of a one-hot (or zero: 0) vector ``onehot``: an AND-OR,
    about log4 of ``len(values)`` LUT levels, no encoder and no multiplexer chain."""
    out = 0
    for bit, value in zip(onehot, values, strict=True):
        out = out | Mux(bit, value, 0)
    return out


class LowestFirst(wiring.Component):
    """Emits the set flags of ``flags`` one per cycle, lowest index first.

    The flags stay on ``flags`` (a register of the user's) while they are expanded; this
    component remembers which were already taken.

    Parameters
    ----------
    width : int
        Number of flags, at least 1.

    Ports
    -----
    flags : width, in
        The set being expanded.
    load : 1, in
        A new set starts next cycle: forget the flags taken (overrides ``take``).
    take : 1, in
        The flag at ``index`` is emitted this cycle: it is taken from the next cycle on.
    remaining : width, out
        Flags not yet taken (combinational).
    index : range(max(2, width)), out
        Index of the lowest remaining flag (combinational; 0 when none remains).
    last_after : 1, out
        At most two flags remain, so at most one once ``index`` is taken (combinational): the
        next value of the user's "last flag" register after a ``take``.

    Latency: combinational outputs, one register (the taken flags). Throughput: one flag per
    cycle.
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width is {width!r}; it must be a positive integer")
        self.width = width
        super().__init__({
            "flags": In(width), "load": In(1), "take": In(1),
            "remaining": Out(width), "index": Out(range(max(2, width))), "last_after": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        taken = Signal(self.width)
        first = Signal(self.width)
        m.d.comb += [self.remaining.eq(self.flags & ~taken), first.eq(lowest(self.remaining)),
                     self.last_after.eq(at_most_two(self.remaining))]
        # A priority chain, not an encoder of `first`: the index is ready as early.
        for k in reversed(range(self.width)):
            with m.If(self.remaining[k]):
                m.d.comb += self.index.eq(k)
        with m.If(self.load):
            m.d.sync += taken.eq(0)
        with m.Elif(self.take):
            m.d.sync += taken.eq(taken | first)
        return m
