"""hw.encoder: the pixel filter against core.golden.encode, the LFSR and the hybrid bounds against
core.numerics."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from core import golden
from core.config import ENCODER_CODES
from core.network import Layer, Network
from core.numerics import hybrid_spike_time, lfsr_shift
from hw.encoder import HybridBound, PixelFilter, hybrid_bound, lfsr_matrix

SEED = 7


def test_lfsr_matrix_is_the_shift():
    rng = np.random.default_rng(SEED)
    for shifts in (1, 8, 24, 64):
        masks = lfsr_matrix(shifts)
        for state in rng.integers(1, 1 << 16, size=50):
            r = int(state)
            for _ in range(shifts):
                r = lfsr_shift(r)
            got = sum((bin(int(state) & mask).count("1") & 1) << bit
                      for bit, mask in enumerate(masks))
            assert got == r


def test_lfsr_period():
    r, period = 0xACE1, 0
    while True:
        r = lfsr_shift(r)
        period += 1
        if r == 0xACE1:
            break
    assert period == 65535


@pytest.mark.parametrize("timesteps", [2, 3, 4, 7, 16, 255])
def test_hybrid_bound_formula(timesteps):
    for t in range(1, timesteps):
        lo, hi = (hybrid_bound(t - 1, timesteps) if t > 1 else 0), hybrid_bound(t, timesteps)
        for x in range(1, 256):
            inside = lo <= 255 - x < hi
            assert inside == (hybrid_spike_time(x, timesteps) == t)


def test_hybrid_bound_rtl():
    dut = HybridBound()
    cases = [(t, T) for T in (2, 3, 4, 5, 9, 16, 100, 255) for t in range(1, T)][::3]

    async def bench(ctx):
        for t, T in cases:
            ctx.set(dut.t, t)
            ctx.set(dut.tm1, T - 1)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for _ in range(20):
                await ctx.tick()
                if ctx.get(dut.done):
                    break
            assert ctx.get(dut.done), "no done pulse"
            assert ctx.get(dut.bound) == hybrid_bound(t, T), (t, T)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("S", [4, 8])
def test_pixel_filter_matches_golden_encode(S):
    dut = PixelFilter(S)
    rng = np.random.default_rng(SEED + S)
    failures = []

    async def bench(ctx):
        for case in range(12):
            encoder = ["direct", "hybrid", "rate"][case % 3]
            n_in = int(rng.integers(1, 3 * S + 3))
            T = int(rng.integers(1, 9))
            net = Network([Layer(np.ones((1, n_in), int), 2, 1)], timesteps=T,
                          encoder=encoder, lfsr_seed=int(rng.integers(1, 1 << 16))).validate()
            x = np.where(rng.random(n_in) < 0.3, 0,
                         rng.choice([1, 255, 128, int(rng.integers(0, 256))], n_in))
            want = golden.encode(net, x[None])[0]  # (T, n_in)
            rows = -(-n_in // S)
            padded = np.zeros(rows * S, int)
            padded[:n_in] = x
            state = net.lfsr_seed
            ctx.set(dut.encoder, ENCODER_CODES[encoder])
            for t in range(T):
                ctx.set(dut.first_step, t == 0)
                lo = hybrid_bound(t - 1, T) if t > 1 else 0
                ctx.set(dut.lo, lo)
                ctx.set(dut.hi, hybrid_bound(t, T) if t >= 1 else 0)
                for row in range(rows):
                    pixels = padded[row * S:(row + 1) * S]
                    valid = min(S, n_in - row * S)
                    ctx.set(dut.pixels, sum(int(p) << (8 * k) for k, p in enumerate(pixels)))
                    ctx.set(dut.lane_valid, (1 << valid) - 1)
                    ctx.set(dut.lfsr, state)
                    match = ctx.get(dut.match)
                    magnitude = ctx.get(dut.magnitude)
                    for k in range(valid):
                        got = (magnitude >> (8 * k)) & 0xFF if match >> k & 1 else 0
                        if got != want[t, row * S + k]:
                            failures.append((case, encoder, t, row * S + k, got,
                                             want[t, row * S + k]))
                    if match >> valid:
                        failures.append((case, "event on a padding lane", match))
                    if encoder == "rate":
                        after = ctx.get(dut.lfsr_after)
                        state = (after >> (16 * (valid - 1))) & 0xFFFF

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, f"seed {SEED + S}: {len(failures)} mismatches, first {failures[0]}"


def test_pixel_filter_without_rate_has_no_lfsr():
    # an encoder left out of the configuration costs no logic
    dut = PixelFilter(4, encoders=("hybrid",))
    from amaranth.back import rtlil
    text = rtlil.convert(dut)
    assert "lfsr_after" in text  # the port exists ...
    small = len(text)
    assert small < len(rtlil.convert(PixelFilter(4)))  # ... but the XOR trees do not
