"""hw.events: the event buffer's two halves and its replay, against a Python model of the
halves and of the expansion of spike entries (one event per group of K with a spike)."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from core.config import Config
from hw.events import EventBuffer

SEED = 20261203


def expand(entry, K, U, layer0):
    """The replayed events of one entry: (group, K magnitudes)."""
    if layer0:
        return [entry]
    group, spikes = entry
    events = []
    for j in range(U // K):
        bits = [spikes >> (j * K + i) & 1 for i in range(K)]
        if any(bits):
            events.append((group | j, bits))
    return events


class Driver:
    """Drives the buffer as hw.accel's sequencer does, with the spike entries of the layer's
    updates arriving at random cycles, and keeps the model of the halves."""

    def __init__(self, ctx, dut, rng):
        self.ctx, self.dut, self.rng = ctx, dut, rng
        cfg = dut.config
        self.K, self.U, self.EB = cfg.inputs_per_cycle, cfg.neuron_units, cfg.event_bits
        self.cycle = 0
        self.events = []
        self.pending = []       # spike entries still to write for the next layer
        self.hold_last = False  # keep the last entry for the next_layer cycle
        self.current, self.next = [], []
        self.mismatches = []

    async def tick(self, spike_ok=True, force=False):
        ctx, dut = self.ctx, self.dut
        if len(self.pending) > self.hold_last and (force or spike_ok
                                                   and self.rng.integers(0, 3) == 0):
            group, spikes = self.pending.pop(0)
            ctx.set(dut.spikes_valid, 1)
            ctx.set(dut.spikes_group, group)
            ctx.set(dut.spikes, spikes)
            groups = sum(any(spikes >> (j * self.K + i) & 1 for i in range(self.K))
                         for j in range(self.U // self.K))
            ctx.set(dut.spikes_one, groups <= 1)
            self.next.append((group, spikes))
        if ctx.get(dut.event.valid):
            p = dut.event.p
            self.events.append((ctx.get(p.group), [ctx.get(p.magnitudes[j])
                                                   for j in range(self.K)], self.cycle))
        await ctx.tick()
        self.cycle += 1
        ctx.set(dut.spikes_valid, 0)

    async def pulse(self, *signals, spike_ok=True, force=False):
        for signal in signals:
            self.ctx.set(signal, 1)
        await self.tick(spike_ok, force)
        for signal in signals:
            self.ctx.set(signal, 0)

    async def scan_block(self, events):
        """The step's first block of layer 0: the scan writes its events to the current
        half. No spike entry arrives meanwhile: the first update of the step follows this
        block's integration."""
        ctx, dut = self.ctx, self.dut
        self.events = []
        ctx.set(dut.replay, 0)
        await self.pulse(dut.block, spike_ok=False)
        for group, mags in events:
            while self.rng.integers(0, 3) == 0:
                await self.tick(spike_ok=False)
            ctx.set(dut.scan.valid, 1)
            ctx.set(dut.scan.p.group, group)
            for j, mag in enumerate(mags):
                ctx.set(dut.scan.p.magnitudes[j], mag)
            self.current.append((group, mags))
            await self.tick(spike_ok=False)
            ctx.set(dut.scan.valid, 0)
        for _ in range(int(self.rng.integers(1, 4))):
            await self.tick()
        assert self.events == [], "the replay is idle in the scan's block"

    async def replay_block(self, layer0):
        ctx, dut = self.ctx, self.dut
        self.events = []
        ctx.set(dut.replay, 1)
        block = self.cycle
        await self.pulse(dut.block)
        ctx.set(dut.run, 1)
        while not ctx.get(dut.done):
            await self.tick()
            assert self.cycle - block < 200, "no done"
        done = self.cycle - block
        for _ in range(int(self.rng.integers(0, 3))):   # ACCUM waits for the pipeline
            await self.tick()
        ctx.set(dut.run, 0)
        for _ in range(int(self.rng.integers(1, 4))):   # UPDATE
            await self.tick()
        want = [e for entry in self.current for e in expand(entry, self.K, self.U, layer0)]
        got = [(g, m) for g, m, _ in self.events]
        if got != want:
            self.mismatches.append((layer0, got, want))
        # the first event two cycles after BLOCK, then one per cycle; done after the last
        cycles = [c - block for _, _, c in self.events]
        if cycles != list(range(2, 2 + len(want))) or done != (2 + len(want) if want else 1):
            self.mismatches.append(("timing", cycles, done, len(want)))


def _spike_entries(rng, cfg, n):
    U, K = cfg.neuron_units, cfg.inputs_per_cycle
    chunks = sorted(rng.choice(cfg.chunks_per_layer, size=min(n, cfg.chunks_per_layer),
                               replace=False))
    # mostly sparse masks, so that single-group entries are common
    return [(int(c) * (U // K), int(rng.choice([1 << int(rng.integers(0, U)),
                                                int(rng.integers(1, 1 << U))])))
            for c in chunks]


CONFIGS = {
    "U4-K1": Config.tiny(),
    "U4-K2": Config.tiny(inputs_per_cycle=2),       # the single flag in the index's bit 0
    "U2-K2": Config.tiny(neuron_units=2, inputs_per_cycle=2),   # the flag in a field
    "U1-K1": Config.tiny(neuron_units=1),
    "U8-K1": Config.tiny(neuron_units=8),
    # spike entries set the halves' depth (Config.event_entries: 16 here, from 64 / 4), which
    # a layer's update fills completely
    "U4-K1-spikes": Config.tiny(max_inputs=8, max_neurons=64),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_replay_matches_model(name):
    cfg = CONFIGS[name]
    K, U = cfg.inputs_per_cycle, cfg.neuron_units
    dut = EventBuffer(cfg)
    rng = np.random.default_rng(SEED + len(name) + U)
    groups = -(-cfg.max_inputs // K)

    async def bench(ctx):
        d = Driver(ctx, dut, rng)
        ctx.set(dut.busy, 1)
        for step in range(10):
            layers = int(rng.integers(1, 4))
            d.current, d.next = [], []
            await d.pulse(dut.step)
            for layer in range(layers):
                ctx.set(dut.layer0, layer == 0)
                last = layer == layers - 1
                # the spikes this layer's updates write for the next layer
                n = int(rng.integers(0, 5)) if rng.integers(0, 3) else cfg.chunks_per_layer
                d.pending = [] if last else _spike_entries(rng, cfg, n)
                d.hold_last = bool(rng.integers(0, 2))
                blocks = int(rng.integers(1, 4))
                for b in range(blocks):
                    if layer == 0 and b == 0:
                        n = int(rng.integers(0, groups + 1))
                        chosen = sorted(rng.choice(groups, size=n, replace=False))
                        await d.scan_block([(int(g), [int(rng.integers(0, 256))
                                                      for _ in range(K)]) for g in chosen])
                    else:
                        await d.replay_block(layer == 0)
                if last:
                    break
                # the layer's last entries, the last one possibly in the next_layer cycle
                # (with BLOCK next, which reads entry 0 as it is written when it is the only
                # one)
                while len(d.pending) > d.hold_last:
                    await d.tick(force=True)
                d.hold_last = False
                await d.pulse(dut.next_layer, force=True)
                assert not d.pending
                d.current, d.next = d.next, []
        assert not d.mismatches, (f"seed {SEED + len(name) + U}: {len(d.mismatches)} "
                                  f"mismatching blocks, first {d.mismatches[0]}")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_config_is_checked(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not str", lambda: EventBuffer("x"))
    raises_exactly(TypeError, "config must be a core.config.Config, not int", lambda: EventBuffer(3))
