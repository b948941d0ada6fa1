"""core.perf's weight-sparsity figures and its what-if count with all-zero weight words
skipped (the count without skipping is checked against the gateware in tests/hw)."""

import numpy as np

from core import golden, perf
from core.config import Config
from core.network import Layer, Network
from core.schedule import PIPE_DRAIN


def _network(seed=0):
    """32-16-4, hybrid, T = 3; in Config.tiny (8 lanes) layer 0 has two blocks of 8 neurons."""
    gen = np.random.default_rng(seed)
    return Network([Layer(gen.integers(-8, 8, (16, 32)), threshold=400, fire_once=False),
                    Layer(gen.integers(-8, 8, (4, 16)), threshold=20, reset="none")],
                   timesteps=3, encoder="hybrid", membrane_bits=16).validate()


def _replay(count):
    return PIPE_DRAIN if count == 0 else count + 1 + PIPE_DRAIN


def test_zero_words_follow_the_weight_memory_layout():
    net = _network()
    net.layers[0].weights[8:, 3] = 0     # block 1, input 3
    net.layers[0].weights[:8, 5] = 0     # block 0, input 5
    net.layers[1].weights[:, 7] = 0      # the only block, input 7
    words = perf.zero_words(net, Config.tiny())
    assert [w.shape for w in words] == [(2, 32), (1, 16)]
    assert np.argwhere(words[0]).tolist() == [[0, 5], [1, 3]]
    assert np.argwhere(words[1]).tolist() == [[0, 7]]
    # two inputs per word: a word is zero only when both of its inputs are
    two = perf.zero_words(net, Config.tiny(inputs_per_cycle=2))
    assert not two[0].any() and not two[1].any()
    net.layers[1].weights[:, 6] = 0
    assert np.argwhere(perf.zero_words(net, Config.tiny(inputs_per_cycle=2))[1]).tolist() \
        == [[0, 3]]
    sp = perf.sparsity(net, Config.tiny())
    assert sp["words"] == 2 * 32 + 16 and sp["zero_words"] == 4
    assert sp["zero_fraction"] == sum(int((l.weights == 0).sum()) for l in net.layers) / (
        16 * 32 + 4 * 16)


def test_skipping_saves_exactly_the_replayed_events_of_zero_words():
    net = _network(1)
    net.layers[0].weights[8:, :12] = 0   # block 1 of layer 0 (replayed) skips inputs 0 .. 11
    net.layers[1].weights[:, :5] = 0     # layer 1 skips hidden neurons 0 .. 4
    config = Config.tiny()
    pixels = np.random.default_rng(2).integers(0, 256, (6, 32))
    pixels[pixels < 120] = 0
    today = perf.cycle_counts(net, config, pixels)
    skipping = perf.cycle_counts(net, config, pixels, skip_zero_words=True)
    trace = golden.run(net, pixels)
    events = golden.encode(net, pixels) != 0
    expected = today.copy()
    for b in range(len(pixels)):
        for t in range(net.timesteps):
            n0, s0 = events[b, t].sum(), events[b, t, 12:].sum()
            n1, s1 = trace.spikes[0][b, t].sum(), trace.spikes[0][b, t, 5:].sum()
            expected[b] -= _replay(n0) - _replay(s0) + _replay(n1) - _replay(s1)
    assert (expected < today).all()
    assert np.array_equal(skipping, expected)


def test_no_zero_words_no_savings():
    net = _network(3)
    for layer in net.layers:
        layer.weights[layer.weights == 0] = 1
    config = Config.tiny()
    pixels = np.random.default_rng(4).integers(0, 256, (4, 32))
    assert np.array_equal(perf.cycle_counts(net, config, pixels),
                          perf.cycle_counts(net, config, pixels, skip_zero_words=True))
    savings = perf.zero_word_savings(net, config, pixels)
    assert savings["zero_words"] == 0 and savings["cycles_saved"] == 0.0
    assert savings["cycles"] == perf.cycle_counts(net, config, pixels).mean()


def test_conv_accum_timing():
    """A conv block's ACCUM (core.perf._accum_conv, equal to the gateware's in
    tests/hw/test_accel_conv.py): the first event two cycles in, six address-generator stages,
    a pair per cycle, six slot stages to drain; an event that reaches nothing costs the
    pair stream a cycle only when nothing else is ready behind it."""
    _accum_conv = perf._accum_conv  # a private helper, tested alone
    assert _accum_conv([]) == 1
    assert _accum_conv([1] * 10) == 10 + 14          # one pair per event, back to back
    assert _accum_conv([25]) == 25 + 14
    assert _accum_conv([25, 25]) == 50 + 14           # the second event waits in S0 .. S2
    assert _accum_conv([1, 0, 1]) == _accum_conv([1, 1]) + 1
    assert _accum_conv([4, 0, 4]) == _accum_conv([4, 4])
