"""hw.readout: the read-out scan's class against numerics.md section 6 (first spike, then max
membrane), with models of the membrane and result memories; and the bus-side lane selection."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from core.config import Config
from hw.readout import ReadoutScan
from core.golden import NEVER

SEED = 20261203


def read_out(first_time, first_potential, final_v, max_membrane, counts=None):
    """numerics.md, section 6: the earliest first spike (then the highest potential then, then
    the lowest index); with none, or in max_membrane mode, the highest final membrane (lowest
    index on ties); with ``counts`` (spike_count mode), the most spikes, lowest index on ties."""
    n = len(final_v)
    if counts is not None:
        return max(range(n), key=lambda j: (counts[j], -j))
    if not max_membrane and any(t != NEVER for t in first_time):
        return min(range(n), key=lambda j: (first_time[j], -first_potential[j], j))
    return max(range(n), key=lambda j: (final_v[j], -j))


class Memories:
    """The membrane and result memories of the output layer (data one cycle after the
    address; the membrane memory's read enable is ``run``, the result memory's always on)."""

    def __init__(self, ctx, dut, membrane, results, counts=None):
        self.ctx, self.dut = ctx, dut
        self.membrane, self.results = membrane, results     # [chunk][lane]
        self.counts = counts                                # [chunk][lane], with spike_count
        self.cycle = 0

    def _set(self, chunk, membrane_too):
        ctx, dut = self.ctx, self.dut
        for k, (fired, step, potential) in enumerate(self.results[chunk]):
            r = dut.results[k]
            ctx.set(r.fired, fired)
            ctx.set(r.step, step)
            ctx.set(r.potential, potential)
            if self.counts is not None:
                ctx.set(dut.counts[k], self.counts[chunk][k])
        if membrane_too:
            for k, (v, fired) in enumerate(self.membrane[chunk]):
                ctx.set(dut.membrane[k].v, v)
                ctx.set(dut.membrane[k].fired, fired)

    async def tick(self, bus_chunk=None):
        ctx, dut = self.ctx, self.dut
        if ctx.get(dut.busy):
            chunk, membrane_too = ctx.get(dut.read_chunk), bool(ctx.get(dut.run))
        else:
            chunk, membrane_too = bus_chunk, True
        await ctx.tick()
        self.cycle += 1
        if chunk is not None:
            self._set(chunk, membrane_too)


def _contents(rng, cfg, n):
    """Random results and membranes with few distinct values, so that ties are common; the
    lanes past ``n`` hold stale values that must not count."""
    U, M, T = cfg.neuron_units, cfg.membrane_bits, cfg.max_timesteps
    lo, hi = -(1 << (M - 1)), (1 << (M - 1)) - 1
    none_fired = rng.integers(0, 3) == 0
    results, membrane, times, potentials, finals = [], [], [], [], []
    for c in range(cfg.chunks_per_layer):
        rrow, vrow = [], []
        for k in range(U):
            j = c * U + k
            fired = int(not none_fired and rng.integers(0, 3) == 0)
            step = int(rng.choice([0, 1, T - 1]))
            potential = int(rng.choice([lo, -3, 5, 7, hi]))
            v = int(rng.choice([lo, -1, 3, 9, hi]))
            rrow.append((fired, step, potential if fired else int(rng.integers(-9, 9))))
            vrow.append((v, int(rng.integers(0, 2))))
            if j < n:
                times.append(step if fired else NEVER)
                potentials.append(potential if fired else 0)
                finals.append(v)
        results.append(rrow)
        membrane.append(vrow)
    return results, membrane, times, potentials, finals


CONFIGS = {
    "U4": Config.tiny(membrane_bits=16),
    "U1": Config.tiny(neuron_units=1, membrane_bits=8),
    "U8": Config.tiny(lanes=16, neuron_units=8, max_neurons=40),
    "U4-counts": Config.tiny(membrane_bits=16, spike_count=True),
    "U1-counts": Config.tiny(neuron_units=1, membrane_bits=8, spike_count=True),
}


def _counts(rng, cfg, n):
    """Random spike counts with few distinct values (ties common; all zero now and then),
    ``[chunk][lane]``, and those of the first ``n`` neurons."""
    U, top = cfg.neuron_units, (1 << cfg.count_bits) - 1
    zero = rng.integers(0, 4) == 0
    table = [[0 if zero else int(rng.choice([0, 2, 5, top])) for _ in range(U)]
             for _ in range(cfg.chunks_per_layer)]
    return table, [table[j // U][j % U] for j in range(n)]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_class_matches_reference(name):
    cfg = CONFIGS[name]
    dut = ReadoutScan(cfg)
    rng = np.random.default_rng(SEED + len(name))
    failures = []

    async def bench(ctx):
        for case in range(40):
            n = int(rng.integers(1, cfg.max_neurons + 1))
            max_membrane = bool(rng.integers(0, 2))
            results, membrane, times, potentials, finals = _contents(rng, cfg, n)
            count_table, counts = _counts(rng, cfg, n) if cfg.spike_count else (None, None)
            spike_count = cfg.spike_count and bool(rng.integers(0, 2))
            mem = Memories(ctx, dut, membrane, results, count_table)
            ctx.set(dut.busy, 1)
            ctx.set(dut.n_classes, n)
            ctx.set(dut.max_membrane, max_membrane)
            if cfg.spike_count:
                ctx.set(dut.spike_count, spike_count)
            if case % 3 == 0:   # an inference aborted in the read-out, then a new one
                ctx.set(dut.start, 1)
                await mem.tick()
                ctx.set(dut.start, 0)
                ctx.set(dut.run, 1)
                for _ in range(int(rng.integers(1, n + 1))):
                    await mem.tick()
                ctx.set(dut.run, 0)
                ctx.set(dut.init, 1)
                await mem.tick()
                ctx.set(dut.init, 0)
            for _ in range(int(rng.integers(0, 5))):   # the inference
                await mem.tick()
            ctx.set(dut.start, 1)
            await mem.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.run, 1)
            start = mem.cycle
            while not ctx.get(dut.done):
                await mem.tick()
                assert mem.cycle - start < 200, "no done"
            cycles = mem.cycle - start
            ctx.set(dut.run, 0)
            got = ctx.get(dut.cls)
            want = read_out(times, potentials, finals, max_membrane,
                            counts if spike_count else None)
            if got != want:
                failures.append((case, n, max_membrane, got, want, times, potentials, finals))
            # one neuron read per cycle from the first cycle of `run`; done five cycles after
            # the last read
            if cycles != (n - 1) + 5:
                failures.append((case, "cycles", cycles, n + 4))
            await mem.tick()
            ctx.set(dut.busy, 0)
            await mem.tick()
            assert ctx.get(dut.cls) == got, "the class holds after the read-out"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, f"{len(failures)} mismatches, first {failures[0]}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_bus_lane_selection(name):
    """While idle, the bus address's lane of the words read at its chunk: the first spike time
    (255 if the neuron never fired), its potential (0 then) and the final membrane."""
    cfg = CONFIGS[name]
    U = cfg.neuron_units
    dut = ReadoutScan(cfg)
    rng = np.random.default_rng(SEED)
    results, membrane, *_ = _contents(rng, cfg, cfg.max_neurons)
    counts = _counts(rng, cfg, 0)[0] if cfg.spike_count else None

    async def bench(ctx):
        mem = Memories(ctx, dut, membrane, results, counts)
        for j in rng.permutation(cfg.chunks_per_layer * U):
            j = int(j)
            ctx.set(dut.bus_lane, j % U if U > 1 else 0)
            for _ in range(3):      # address, memory read, registered words
                await mem.tick(bus_chunk=j // U)
            fired, step, potential = results[j // U][j % U]
            assert ctx.get(dut.time) == (step if fired else 255), j
            assert ctx.get(dut.potential) == (potential if fired else 0), j
            assert ctx.get(dut.final) == membrane[j // U][j % U][0], j
            if counts is not None:
                assert ctx.get(dut.count) == counts[j // U][j % U], j

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_config_is_checked(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not str", lambda: ReadoutScan("x"))
    raises_exactly(TypeError, "config must be a core.config.Config, not float",
            lambda: ReadoutScan(1.5))
