"""hw.picker: the lowest-first expander and its counting helpers against Python references."""


import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.picker import LowestFirst, any_per_group, at_most_one, at_most_two, lowest

SEED = 20261203


def _run(dut, bench, clock=True):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _lowest_index(bits):
    return (bits & -bits).bit_length() - 1 if bits else 0


class _Helpers(wiring.Component):
    """The combinational helpers of hw.picker on one input."""

    def __init__(self, width, size):
        self.width, self.size = width, size
        super().__init__({"bits": In(width), "one": Out(1), "two": Out(1),
                          "groups": Out(width // size), "low": Out(width)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.one.eq(at_most_one(self.bits)), self.two.eq(at_most_two(self.bits)),
                     self.groups.eq(any_per_group(self.bits, self.size)),
                     self.low.eq(lowest(self.bits))]
        return m


@pytest.mark.parametrize("width,size", [(1, 1), (2, 2), (3, 1), (4, 2), (5, 1), (6, 2),
                                        (7, 1), (8, 4)])
def test_helpers_exhaustive(width, size):
    dut = _Helpers(width, size)
    failures = []

    async def bench(ctx):
        for bits in range(1 << width):
            ctx.set(dut.bits, bits)
            ones = bin(bits).count("1")
            groups = sum(((bits >> (g * size)) & ((1 << size) - 1) != 0) << g
                         for g in range(width // size))
            want = (ones <= 1, ones <= 2, groups, bits & -bits)
            got = (bool(ctx.get(dut.one)), bool(ctx.get(dut.two)), ctx.get(dut.groups),
                   ctx.get(dut.low))
            if got != want:
                failures.append((bits, got, want))

    _run(dut, bench, clock=False)
    assert not failures, f"{len(failures)} mismatches, first {failures[0]}"


@pytest.mark.parametrize("width", [1, 2, 3, 8, 13])
def test_lowest_first_matches_reference(width):
    """Random sets, loaded and taken with gaps: ``remaining`` is the set less the flags taken,
    ``index`` its lowest, ``last_after`` whether at most two are left; a load forgets the
    flags taken and overrides a take."""
    dut = LowestFirst(width)
    rng = np.random.default_rng(SEED + width)
    failures = []

    async def bench(ctx):
        taken = 0
        flags = 0
        for cycle in range(1500):
            if rng.integers(0, 8) == 0:     # a new set (load), sometimes with take as well
                flags = int(rng.integers(0, 1 << width))
            load = bool(rng.integers(0, 10) == 0)
            take = bool(rng.integers(0, 3) != 0)
            ctx.set(dut.flags, flags)
            ctx.set(dut.load, load)
            ctx.set(dut.take, take)
            remaining = flags & ~taken
            want = (remaining, _lowest_index(remaining),
                    bool(bin(remaining).count("1") <= 2))
            got = (ctx.get(dut.remaining), ctx.get(dut.index), bool(ctx.get(dut.last_after)))
            if got != want:
                failures.append((cycle, flags, taken, load, take, got, want))
            await ctx.tick()
            if load:
                taken = 0
            elif take:
                taken |= remaining & -remaining

    _run(dut, bench)
    assert not failures, f"seed {SEED + width}: {len(failures)} mismatches, first {failures[0]}"


def test_lowest_first_expands_a_set_in_order():
    """The user's loop: load a set, take until ``last_after`` said one was left."""
    dut = LowestFirst(6)

    async def bench(ctx):
        for flags in (0b101101, 0b000001, 0b100000, 0b111111, 0b010010):
            ctx.set(dut.flags, flags)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            got = []
            last = bin(flags).count("1") <= 1
            while True:
                got.append(ctx.get(dut.index))
                if last:
                    break
                last = ctx.get(dut.last_after)
                ctx.set(dut.take, 1)
                await ctx.tick()
                ctx.set(dut.take, 0)
            assert got == [k for k in range(6) if flags >> k & 1], bin(flags)

    _run(dut, bench)


@pytest.mark.parametrize("width", [0, -3, "4", 2.0, None, True])
def test_lowest_first_width_is_checked(width, raises_exactly):
    raises_exactly(ValueError, f"width is {width!r}; it must be a positive integer",
            lambda: LowestFirst(width))
