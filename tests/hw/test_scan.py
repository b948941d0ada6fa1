"""hw.scan: the encoder scan's events, step by step, against core.golden.encode, with a model of
the pixel memory (a synchronous read port) in the testbench."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from core.config import ENCODER_CODES, Config
from hw.scan import EncoderScan
from core import golden
from core.network import Layer, Network

SEED = 20261203


def expected_events(magnitudes, K, flagged_rows, S):
    """One step's events: (group, K magnitudes) per group of K inputs with an event, lowest
    first, for the inputs of the rows the scan visits."""
    events = []
    for g in range(-(-len(magnitudes) // K)):
        mags = [int(magnitudes[i]) if i < len(magnitudes) else 0
                for i in range(g * K, g * K + K)]
        if any(mags) and (g * K) // S in flagged_rows:
            events.append((g, mags))
    return events


class Scan:
    """Drives the scan as hw.accel's sequencer does and answers its pixel reads."""

    def __init__(self, ctx, dut, memory):
        self.ctx, self.dut, self.memory = ctx, dut, memory
        self.events = []
        self.reads = []
        self.cycle = 0

    async def tick(self):
        ctx, dut = self.ctx, self.dut
        if ctx.get(dut.event.valid):
            p = dut.event.p
            K = len(p.magnitudes)
            self.events.append((ctx.get(p.group), [ctx.get(p.magnitudes[j]) for j in range(K)],
                                self.cycle))
        read = ctx.get(dut.pixel_en)
        addr = ctx.get(dut.pixel_addr)
        await ctx.tick()
        self.cycle += 1
        if read:
            row = self.memory[addr] if addr < len(self.memory) else [0] * len(self.memory[0])
            ctx.set(dut.pixels.as_value(), sum(int(p) << (8 * k) for k, p in enumerate(row)))

    async def pulse(self, signal):
        self.ctx.set(signal, 1)
        await self.tick()
        self.ctx.set(signal, 0)

    async def start(self, encoder, n_in, seed, timesteps, row_nonzero):
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.encoder, ENCODER_CODES[encoder])
        ctx.set(dut.n_in, n_in)
        ctx.set(dut.seed, seed)
        ctx.set(dut.timesteps, timesteps)
        ctx.set(dut.row_nonzero, row_nonzero)
        for _ in range(3):      # the host's writes before START
            await self.tick()
        ctx.set(dut.t, 0)
        ctx.set(dut.more_steps, timesteps > 1)
        await self.pulse(dut.init)
        for _ in range(4):      # SETUP
            await self.tick()

    async def step(self, t, timesteps, rng, abort_at=None):
        """One step: wait for ``ready``, STEP, BLOCK, integrate until ``done``, finish; then a
        replayed block, which the scan must not feed. Returns the events and the cycles from
        BLOCK to the first event."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.t, t)
        ctx.set(dut.more_steps, t + 1 < timesteps)
        while not ctx.get(dut.ready):
            await self.tick()
        await self.pulse(dut.step)
        assert ctx.get(dut.first_block)
        block_cycle = self.cycle
        self.events = []
        await self.pulse(dut.block)
        assert ctx.get(dut.active) and not ctx.get(dut.first_block)
        while not ctx.get(dut.done):
            if abort_at is not None and self.cycle - block_cycle == abort_at:
                await self.pulse(dut.abort)
                assert not ctx.get(dut.active)
                return None, (None, None)
            await self.tick()
            assert self.cycle - block_cycle < 500, "no done"
        done = self.cycle - block_cycle
        for _ in range(int(rng.integers(0, 4))):   # the pipeline drains: no event meanwhile
            await self.tick()
        events = self.events
        await self.pulse(dut.finish)
        assert not ctx.get(dut.active)
        # the block's other blocks replay: the scan stays idle
        self.events = []
        await self.pulse(dut.block)
        assert not ctx.get(dut.active)
        for _ in range(3):
            await self.tick()
        assert self.events == [], "events outside the step's first block"
        first = events[0][2] - block_cycle if events else None
        return [(g, mags) for g, mags, _ in events], (first, done)


def _case(rng, cfg, encoder):
    S = cfg.pixels_per_cycle
    n_in = int(rng.integers(1, cfg.max_inputs + 1))
    T = int(rng.integers(1, cfg.max_timesteps + 1))
    seed = int(rng.integers(1, 1 << 16))
    density = rng.choice([0.1, 0.5, 0.9])
    x = np.where(rng.random(n_in) < density,
                 rng.choice([1, 255, 128, int(rng.integers(0, 256))], n_in), 0)
    rows = cfg.pixel_rows
    memory = rng.integers(0, 256, size=(rows, S))   # stale pixels outside the image
    flat = memory.reshape(-1)
    flat[:n_in] = x
    nonzero = {r for r in range(rows) if memory[r].any()}
    if rng.integers(0, 3) == 0:     # flags need not match the pixels: the scan trusts them
        nonzero ^= {int(r) for r in rng.integers(0, rows, size=3)}
    return n_in, T, seed, x, memory, nonzero


CONFIGS = {
    "K1": Config.tiny(),
    "K2": Config.tiny(inputs_per_cycle=2),
    "rows": Config.tiny(max_inputs=100),            # 25 rows: four groups of 8
    "rows-K2-S8": Config.tiny(max_inputs=150, pixels_per_cycle=8, inputs_per_cycle=2),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_scan_matches_golden_encode(name):
    cfg = CONFIGS[name]
    S, K = cfg.pixels_per_cycle, cfg.inputs_per_cycle
    dut = EncoderScan(cfg)
    rng = np.random.default_rng(SEED + len(name))
    failures = []

    async def bench(ctx):
        for case in range(9):
            encoder = ["direct", "hybrid", "rate"][case % 3]
            n_in, T, seed, x, memory, nonzero = _case(rng, cfg, encoder)
            net = Network([Layer(np.ones((1, n_in), int), 2, 1)], timesteps=T,
                          encoder=encoder, lfsr_seed=seed).validate()
            want = golden.encode(net, x[None])[0]   # (T, n_in)
            visited = set(range(cfg.pixel_rows)) if encoder == "rate" else nonzero
            scan = Scan(ctx, dut, memory)
            await scan.start(encoder, n_in, seed, T, sum(1 << r for r in nonzero))
            rows = [r for r in sorted(visited) if r < -(-n_in // S)]
            for t in range(T):
                got, (first, done) = await scan.step(t, T, rng)
                expected = expected_events(want[t], K, visited, S)
                if got != expected:
                    failures.append((case, encoder, n_in, T, t, got, expected))
                # Timing: the first event three cycles after BLOCK, past one cycle per row
                # without events; then one cycle per event or per row without events; done
                # in the cycle after the last.
                per_row = [sum(g * K // S == r for g, _ in expected) for r in rows]
                if expected:
                    skipped = per_row.index(next(n for n in per_row if n))
                    if first != 3 + skipped:
                        failures.append((case, encoder, t, "first event", first, 3 + skipped))
                want_done = 3 + sum(max(1, n) for n in per_row) if rows else 1
                if done != want_done:
                    failures.append((case, encoder, t, "done", done, want_done, per_row))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, f"{len(failures)} mismatching steps, first {failures[0]}"


def test_scan_after_abort():
    """An abort mid-scan leaves nothing behind: the next inference's events are whole."""
    cfg = Config.tiny()
    dut = EncoderScan(cfg)
    rng = np.random.default_rng(SEED)

    async def bench(ctx):
        for encoder in ("direct", "hybrid", "rate"):
            n_in, T = 30, 4
            x = rng.integers(0, 256, n_in)
            memory = np.zeros((cfg.pixel_rows, cfg.pixels_per_cycle), int)
            memory.reshape(-1)[:n_in] = x
            nonzero = {r for r in range(cfg.pixel_rows) if memory[r].any()}
            net = Network([Layer(np.ones((1, n_in), int), 2, 1)], timesteps=T,
                          encoder=encoder, lfsr_seed=0x1234).validate()
            want = golden.encode(net, x[None])[0]
            scan = Scan(ctx, dut, memory)
            for abort_at in (2, 5):
                await scan.start(encoder, n_in, 0x1234, T, sum(1 << r for r in nonzero))
                await scan.step(0, T, rng)
                await scan.step(1, T, rng, abort_at=abort_at)
            await scan.start(encoder, n_in, 0x1234, T, sum(1 << r for r in nonzero))
            for t in range(T):
                got, _ = await scan.step(t, T, rng)
                assert got == expected_events(want[t], 1, nonzero | {7} if encoder == "rate"
                                              else nonzero, 4), (encoder, t)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_config_is_checked(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not str", lambda: EncoderScan("x"))
    raises_exactly(TypeError, "config must be a core.config.Config, not dict",
            lambda: EncoderScan({"lanes": 8}))
