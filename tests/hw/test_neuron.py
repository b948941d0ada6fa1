"""hw.neuron: the neuron update unit and the read-out, each against its rule in core.numerics."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from core import numerics
from hw.neuron import (RESET_NONE, RESET_SUBTRACT, RESET_ZERO, LeakScale, NeuronUnit, Readout,
                       leak_constants)

SEED = 20261123
RESETS = {RESET_SUBTRACT: "subtract", RESET_ZERO: "zero", RESET_NONE: "none"}


def reference_update(v, fired, current, *, lif, factor, leak, reset, fire_once, threshold,
                     membrane_bits):
    """numerics.neuron_step with the unit's parameter codes: ``(p, spike, v_next, fired)``."""
    return numerics.neuron_step(v, fired, current, membrane_bits=membrane_bits,
                                threshold=threshold, neuron="lif" if lif else "if",
                                leak_mode="factor" if factor else "shift", leak=leak,
                                reset=RESETS[reset], fire_once=fire_once)


def reference_leak(v, *, lif, factor, leak):
    """numerics.apply_leak with the unit's parameter codes."""
    return numerics.apply_leak(v, neuron="lif" if lif else "if",
                               leak_mode="factor" if factor else "shift", leak=leak)


def _run(dut, bench, clock=True):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _check_unit(latency, *, has_bias=False, cases=1500):
    """``cases`` random steps (edge values near saturation as well as random ones) of a unit
    against numerics.neuron_step; with ``has_bias`` a random bias ``b`` joins the current
    (numerics.md, section 3, step 2: ``p = sat(u + I + b)``)."""
    M_hw, A = 32, 24
    dut = NeuronUnit(M_hw, A, latency=latency, has_bias=has_bias)
    rng = np.random.default_rng(SEED + has_bias)
    failures = []

    async def bench(ctx):
        for case in range(cases):
            M = int(rng.choice([8, 12, 16, 32]))
            lo, hi = -(1 << (M - 1)), (1 << (M - 1)) - 1
            v = int(rng.choice([lo, hi, 0, -1, 1, rng.integers(lo, hi + 1)]))
            current = int(rng.choice([0, rng.integers(-(1 << (A - 1)), 1 << (A - 1)),
                                      rng.integers(-300, 300)]))
            b = int(rng.choice([lo, hi, 0, rng.integers(lo, hi + 1)])) if has_bias else 0
            threshold = int(rng.choice([1, hi, rng.integers(1, hi + 1), max(1, v)]))
            factor = bool(rng.integers(0, 2))
            params = dict(lif=bool(rng.integers(0, 2)), factor=factor,
                          leak=int(rng.integers(0, 256) if factor else rng.integers(1, M)),
                          reset=int(rng.integers(0, 3)), fire_once=bool(rng.integers(0, 2)),
                          threshold=threshold)
            fired = bool(rng.integers(0, 2))
            scale, bias = leak_constants(lif=params["lif"], factor=factor, leak=params["leak"],
                                         membrane_bits=M_hw)
            ctx.set(dut.scale, scale)
            ctx.set(dut.bias, bias)
            for name in ("reset", "fire_once", "threshold"):
                ctx.set(getattr(dut, name), int(params[name]))
            ctx.set(dut.v, v)
            ctx.set(dut.fired, fired)
            ctx.set(dut.current, current)
            if has_bias:
                ctx.set(dut.neuron_bias, b)
            ctx.set(dut.valid, 1)
            ctx.set(dut.vmin, lo)
            ctx.set(dut.vmax, hi)
            if latency:
                await ctx.tick().repeat(latency)
            assert ctx.get(dut.fired_used) == fired
            got = (ctx.get(dut.p), bool(ctx.get(dut.spike)), ctx.get(dut.v_next),
                   bool(ctx.get(dut.fired_next)))
            want = reference_update(v, fired, current + b, membrane_bits=M, **params)
            if got != want:
                failures.append((case, v, fired, current, b, M, params, got, want))
        # a padding lane never fires
        ctx.set(dut.valid, 0)
        ctx.set(dut.current, 1000)
        ctx.set(dut.threshold, 1)
        ctx.set(dut.fire_once, 0)
        if latency:
            await ctx.tick().repeat(latency)
        assert ctx.get(dut.spike) == 0

    _run(dut, bench, clock=bool(latency))
    assert not failures, f"seed {SEED}: {len(failures)} mismatches, first {failures[0]}"


@pytest.mark.parametrize("latency", [0, 1, 2, 3, 4])
def test_neuron_unit_matches_reference(latency):
    _check_unit(latency)


@pytest.mark.parametrize("latency", [0, 4])
def test_neuron_unit_bias(latency):
    """The bias joins the current before the one saturation, and nothing wraps: the largest
    current and bias on the largest membrane saturate instead of turning negative."""
    _check_unit(latency, has_bias=True, cases=800)


def test_neuron_unit_latency_is_checked():
    with pytest.raises(ValueError, match="latency is 5; it must be 0, 1, 2, 3 or 4"):
        NeuronUnit(16, 22, latency=5)


@pytest.mark.parametrize("M", [8, 12, 16])
def test_leak_constants_exhaustive(M):
    """(v * scale + bias) >> M is the leak of numerics.md for every M-bit v and every leak."""
    v = np.arange(-(1 << (M - 1)), 1 << (M - 1), dtype=np.int64)
    cases = [(False, False, 0)] + [(True, True, lam) for lam in range(256)] + [
        (True, False, k) for k in range(M)]
    for lif, factor, leak in cases:
        scale, bias = leak_constants(lif=lif, factor=factor, leak=leak, membrane_bits=M)
        got = (v * scale + bias) >> M
        want = reference_leak(v, lif=lif, factor=factor, leak=leak)
        bad = np.flatnonzero(got != want)
        assert not bad.size, f"M={M} lif={lif} factor={factor} leak={leak}: v={v[bad[0]]}"


def test_leak_constants_wide_membrane():
    rng = np.random.default_rng(SEED)
    M = 32
    for _ in range(3000):
        v = int(rng.integers(-(1 << 31), 1 << 31))
        lif, factor = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        leak = int(rng.integers(0, 256) if factor else rng.integers(0, M))
        scale, bias = leak_constants(lif=lif, factor=factor, leak=leak, membrane_bits=M)
        u = reference_leak(v, lif=lif, factor=factor, leak=leak)
        assert (v * scale + bias) >> M == u, (v, lif, factor, leak)


@pytest.mark.parametrize("M", [8, 16])
def test_leak_scale_gateware(M):
    dut = LeakScale(M)
    cases = [(lif, factor, leak) for lif in (0, 1) for factor in (0, 1)
             for leak in (range(256) if factor else range(M))]

    async def bench(ctx):
        for lif, factor, leak in cases:
            ctx.set(dut.lif, lif)
            ctx.set(dut.factor, factor)
            ctx.set(dut.leak, leak)
            want = leak_constants(lif=lif, factor=factor, leak=leak, membrane_bits=M)
            assert (ctx.get(dut.scale), ctx.get(dut.bias)) == want, (lif, factor, leak)

    _run(dut, bench, clock=False)


def test_readout_matches_reference():
    dut = Readout(16, 8)
    rng = np.random.default_rng(SEED)
    failures = []

    async def bench(ctx):
        for case in range(150):
            n = int(rng.integers(1, 12))
            # few distinct values so that ties in time, potential and membrane are common
            first_time = [int(rng.choice([255, 0, 1, 2])) for _ in range(n)]
            first_potential = [int(rng.choice([5, 7, -3])) if t != 255 else 0
                               for t in first_time]
            final_v = [int(rng.choice([-32768, 3, 9, 32767])) for _ in range(n)]
            max_membrane = bool(rng.integers(0, 2))
            ctx.set(dut.max_membrane, max_membrane)
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for j in range(n):
                while rng.integers(0, 4) == 0:    # a gap, with other values on the inputs
                    ctx.set(dut.valid, 0)
                    ctx.set(dut.first_time, 0)
                    ctx.set(dut.final_v, 32767)
                    await ctx.tick()
                ctx.set(dut.valid, 1)
                ctx.set(dut.index, j)
                ctx.set(dut.first_time, first_time[j])
                ctx.set(dut.first_potential, first_potential[j])
                ctx.set(dut.final_v, final_v[j])
                await ctx.tick()
            ctx.set(dut.valid, 0)
            await ctx.tick()    # the class shows the last neuron two cycles after it was fed
            got = ctx.get(dut.cls)
            want = numerics.readout_class(
                first_time, first_potential, final_v,
                readout="max_membrane" if max_membrane else "first_spike")
            if got != want:
                failures.append((case, first_time, first_potential, final_v, max_membrane,
                                 got, want))

    _run(dut, bench)
    assert not failures, f"seed {SEED}: {failures[0]}"


def test_readout_spike_count():
    """With counts built in, each of the three modes against its rule; spike_count is the most
    spikes, lowest index on ties (what numpy's and torch's argmax return), neuron 0 when no
    neuron fired."""
    dut = Readout(16, 8, count_bits=5)
    rng = np.random.default_rng(SEED + 1)
    failures = []

    async def bench(ctx):
        for case in range(150):
            n = int(rng.integers(1, 12))
            mode = str(rng.choice(["first_spike", "max_membrane", "spike_count"]))
            counts = [int(rng.choice([0, 1, 3, 31])) if case % 5 else 0 for _ in range(n)]
            first_time = [int(rng.choice([255, 0, 2])) if c else 255 for c in counts]
            first_potential = [7 if t != 255 else 0 for t in first_time]
            final_v = [int(rng.choice([-5, 3, 9])) for _ in range(n)]
            ctx.set(dut.max_membrane, mode == "max_membrane")
            ctx.set(dut.spike_count, mode == "spike_count")
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for j in range(n):
                while rng.integers(0, 4) == 0:    # a gap, with other values on the inputs
                    ctx.set(dut.valid, 0)
                    ctx.set(dut.count, 31)
                    await ctx.tick()
                ctx.set(dut.valid, 1)
                ctx.set(dut.index, j)
                ctx.set(dut.first_time, first_time[j])
                ctx.set(dut.first_potential, first_potential[j])
                ctx.set(dut.final_v, final_v[j])
                ctx.set(dut.count, counts[j])
                await ctx.tick()
            ctx.set(dut.valid, 0)
            await ctx.tick()
            got = ctx.get(dut.cls)
            if mode == "spike_count":
                want = int(np.argmax(counts))
            else:
                want = numerics.readout_class(first_time, first_potential, final_v,
                                              readout=mode)
            if got != want:
                failures.append((case, mode, counts, first_time, final_v, got, want))

    _run(dut, bench)
    assert not failures, f"seed {SEED + 1}: {failures[0]}"
