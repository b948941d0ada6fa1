"""core.numerics: every rule gives the same answer on Python ints and on numpy arrays, and the
values of docs/numerics.md's examples (the golden model's worked examples pin the rest)."""

import itertools

import numpy as np
import pytest

from core import numerics

SEED = 13


def test_saturation():
    assert numerics.saturation_bounds(8) == (-128, 127)
    assert numerics.saturation_bounds(32) == (-(1 << 31), (1 << 31) - 1)
    assert [numerics.saturate(x, 8) for x in (-300, -128, 0, 127, 1785)] == [-128, -128, 0, 127,
                                                                                127]
    assert numerics.saturate(np.array([-300, 5, 300]), 8).tolist() == [-128, 5, 127]


def test_leak_examples():
    shift = dict(neuron="lif", leak_mode="shift", leak=1)
    factor = dict(neuron="lif", leak_mode="factor", leak=128)
    assert [numerics.apply_leak(v, **shift) for v in (10, -5, -1)] == [5, -2, 0]
    assert [numerics.apply_leak(v, **factor) for v in (10, -5, -1)] == [5, -2, 0]
    assert numerics.apply_leak(-1, neuron="lif", leak_mode="factor", leak=255) == -1
    assert numerics.apply_leak(7, neuron="if", leak_mode="factor", leak=0) == 7


@pytest.mark.parametrize("reset, fire_once, neuron, leak_mode",
                         list(itertools.product(("subtract", "zero", "none"), (False, True),
                                                ("if", "lif"), ("shift", "factor"))))
def test_neuron_step_scalar_and_array_agree(reset, fire_once, neuron, leak_mode):
    rng = np.random.default_rng(SEED)
    M = 12
    lo, hi = numerics.saturation_bounds(M)
    v = rng.integers(lo, hi + 1, 400)
    fired = rng.random(400) < 0.5
    current = rng.integers(-3000, 3000, 400)
    rule = dict(threshold=int(rng.integers(1, hi)), neuron=neuron, leak_mode=leak_mode,
                leak=3 if leak_mode == "shift" else 200, reset=reset, fire_once=fire_once)
    arrays = numerics.neuron_step(v, fired, current, membrane_bits=M, **rule)
    for k in range(len(v)):
        scalars = numerics.neuron_step(int(v[k]), bool(fired[k]), int(current[k]),
                                       membrane_bits=M, **rule)
        assert [type(x) for x in scalars] == [int, bool, int, bool]
        assert scalars == tuple(a[k].item() for a in arrays), (k, rule)
    p, spike, v_next, fired_next = arrays
    assert (spike == ((p >= rule["threshold"]) & ~(fired & fire_once))).all()
    assert (fired_next == fired | spike).all()
    assert ((lo <= p) & (p <= hi)).all()


def test_lfsr_draws():
    r, draws = 0xACE1, []
    for _ in range(6):
        r, d = numerics.lfsr_draw(r)
        draws.append(d)
    table = numerics.lfsr_draws(0xACE1, 2, 3)
    assert table.dtype == np.int64 and table.tolist() == [draws[:3], draws[3:]]
    assert not table.flags.writeable


def test_hybrid_spike_time():
    x = np.array([255, 170, 169, 85, 84, 1])
    assert numerics.hybrid_spike_time(x, 4).tolist() == [1, 1, 2, 2, 3, 3]
    assert [numerics.hybrid_spike_time(int(p), 4) for p in x] == [1, 1, 2, 2, 3, 3]
    assert all(1 <= numerics.hybrid_spike_time(p, 255) <= 254 for p in range(1, 256))


def test_readout_class():
    never = numerics.NEVER
    first_spike = dict(readout="first_spike")
    # earliest time, then largest potential, then lowest index
    assert numerics.readout_class([1, 0, 0], [9, 2, 3], [0, 0, 0], **first_spike) == 2
    assert numerics.readout_class([0, 0], [3, 3], [0, 0], **first_spike) == 0
    # nobody fired: largest final membrane, lowest index on ties
    assert numerics.readout_class([never] * 3, [0] * 3, [4, 8, 8], **first_spike) == 1
    assert numerics.readout_class([0, never], [5, 0], [1, 8], readout="max_membrane") == 1
