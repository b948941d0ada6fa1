"""The golden model: worked examples of docs/numerics.md, and reference vs fast on random cases.

The worked examples pin every rule of the document to numbers computed by hand, so changing
a rule that both implementations share (core.numerics: the neuron step, the leak, the encoders'
spike time and LFSR) still fails. The random comparison makes a change to either
implementation alone fail (the batching, the dot products, the first spikes, the read-out).
The mutation tests show both.
"""

import subprocess
import sys

import numpy as np
import pytest

from core import golden, numerics
from core.golden import NEVER, hybrid_spike_time, lfsr_draws, reference, run
from core.network import Layer, Network
from core.randnet import random_network, random_pixels


def net(*layers, **fields):
    fields.setdefault("encoder", "direct")
    return Network(layers=list(layers), **fields).validate()


def layer(weights, **fields):
    fields.setdefault("weight_bits", 8)
    return Layer(weights=np.array(weights), **fields)


def both(network, pixels):
    """Run the fast and the reference model on one image and check they agree."""
    fast = run(network, np.array([pixels]))
    ref = reference(network, pixels)
    assert_same(fast, ref)
    return fast


def assert_same(a, b, where=""):
    for k, (x, y) in enumerate(zip(a.spikes, b.spikes)):
        assert same(x, y), f"{where}spikes of layer {k} differ"
    for k, (x, y) in enumerate(zip(a.membrane, b.membrane)):
        assert same(x, y), f"{where}membrane of layer {k} differs"
    assert same(a.first_time, b.first_time), f"{where}first_time differs"
    assert same(a.first_potential, b.first_potential), f"{where}first_potential differs"
    assert same(a.count, b.count), f"{where}count differs"
    assert same(a.prediction, b.prediction), f"{where}prediction differs"


def same(x, y):
    """Equal arrays of equal shape and dtype."""
    return x.dtype == y.dtype and np.array_equal(x, y)


class TestWorkedExamples:
    def test_integrate_fire_subtract(self):
        # p: 3, 6 -> spike (v = 1), 4, 7 -> spike (v = 2)
        t = both(net(layer([[1]], threshold=5, fire_once=False), timesteps=4), [3])
        assert t.spikes[0][0, :, 0].tolist() == [False, True, False, True]
        assert t.membrane[0][0, :, 0].tolist() == [3, 1, 4, 2]

    def test_fire_once_keeps_integrating(self):
        t = both(net(layer([[1]], threshold=5, fire_once=True), timesteps=4), [3])
        assert t.spikes[0][0, :, 0].tolist() == [False, True, False, False]
        assert t.membrane[0][0, :, 0].tolist() == [3, 1, 4, 7]

    def test_reset_zero_and_none(self):
        zero = both(net(layer([[1]], threshold=5, reset="zero", fire_once=False),
                        timesteps=3), [4])
        assert zero.membrane[0][0, :, 0].tolist() == [4, 0, 4]
        none = both(net(layer([[1]], threshold=5, reset="none", fire_once=False),
                        timesteps=3), [4])
        assert none.membrane[0][0, :, 0].tolist() == [4, 8, 12]
        assert none.spikes[0][0, :, 0].tolist() == [False, True, True]

    def test_saturation_once_per_step(self):
        # 4-bit weight 7 x pixel 255 = 1785 clamps to 127 at M = 8; -8 x 255 clamps to -128.
        t = both(net(layer([[7], [-8]], weight_bits=4, threshold=127, reset="none",
                           fire_once=False), membrane_bits=8, timesteps=2), [255])
        assert t.membrane[0][0, :, 0].tolist() == [127, 127]
        assert t.membrane[0][0, :, 1].tolist() == [-128, -128]
        assert t.spikes[0][0, :, 0].tolist() == [True, True]

    def test_saturation_applies_to_the_sum_not_each_term(self):
        # +7*255 and -7*255 cancel exactly; clamping each term first would too, so use
        # +7*255 (1785) and -6*255 (-1530): sum 255 -> clamps to 127, termwise would give -1.
        t = both(net(layer([[7, -6]], weight_bits=4, threshold=127, reset="none"),
                     membrane_bits=8, timesteps=1), [255, 255])
        assert t.membrane[0][0, 0, 0].item() == 127

    def test_leak_shift_rounds_down(self):
        lif = dict(neuron="lif", leak_mode="shift", leak=1, threshold=1000)
        up = both(net(layer([[1]], **lif), timesteps=3), [10])
        assert up.membrane[0][0, :, 0].tolist() == [10, 15, 18]   # 10-5+10, 15-7+10
        down = both(net(layer([[-1]], **lif), timesteps=3), [5])
        assert down.membrane[0][0, :, 0].tolist() == [-5, -7, -8]  # -5+3-5, -7+4-5

    def test_leak_factor_rounds_half_up(self):
        lif = dict(neuron="lif", leak_mode="factor", leak=128, threshold=1000)
        up = both(net(layer([[1]], **lif), timesteps=2), [10])
        assert up.membrane[0][0, :, 0].tolist() == [10, 15]       # (1280+128)>>8 = 5
        down = both(net(layer([[-1]], **lif), timesteps=2), [5])
        assert down.membrane[0][0, :, 0].tolist() == [-5, -7]     # (-640+128)>>8 = -2
        sticky = both(net(layer([[-1]], **dict(lif, leak=255)), timesteps=2), [1])
        assert sticky.membrane[0][0, :, 0].tolist() == [-1, -2]   # (-255+128)>>8 = -1

    def test_if_ignores_leak_fields(self):
        t = both(net(layer([[1]], neuron="if", leak_mode="factor", leak=0, threshold=1000),
                     timesteps=3), [2])
        assert t.membrane[0][0, :, 0].tolist() == [2, 4, 6]

    def test_zero_delay_between_layers(self):
        # The hidden neuron fires at t = 0 and the output sees it in the same step.
        t = both(net(layer([[1]], threshold=1), layer([[3]], threshold=100), timesteps=2), [1])
        assert t.spikes[0][0, :, 0].tolist() == [True, False]
        assert t.membrane[1][0, :, 0].tolist() == [3, 3]

    def test_hybrid_spike_times(self):
        x = np.array([255, 170, 169, 85, 84, 1])
        assert hybrid_spike_time(x, 4).tolist() == [1, 1, 2, 2, 3, 3]
        network = net(layer([[1, 1, 1]], threshold=30000), encoder="hybrid", timesteps=4)
        events = golden.encode(network, np.array([[200, 0, 100]]))[0]
        assert events.tolist() == [[200, 0, 100], [255, 0, 0], [0, 0, 255], [0, 0, 0]]
        assert golden.encode(net(layer([[1]]), encoder="hybrid", timesteps=1),
                             np.array([[9]])).tolist() == [[[9]]]

    def test_lfsr_is_maximal_length(self):
        state, seed, period = 0xACE1, 0xACE1, 0
        while True:
            state = numerics.lfsr_shift(state)
            period += 1
            if state == seed:
                break
        assert period == 65535

    def test_lfsr_draw_is_eight_shifts(self):
        r = 0x1234
        expected = []
        for _ in range(6):
            for _ in range(8):  # one shift, spelled out from the document's taps
                r = (r >> 1) ^ (0xB400 if r & 1 else 0)
            expected.append(r & 0xFF)
        assert lfsr_draws(0x1234, 2, 3).reshape(-1).tolist() == expected

    def test_rate_encoding_uses_the_draws_in_order(self):
        network = net(layer([[1] * 5]), encoder="rate", timesteps=3, lfsr_seed=77)
        pixels = np.array([[0, 40, 128, 200, 255]])
        draws = lfsr_draws(77, 3, 5)
        events = golden.encode(network, pixels)[0]
        assert (events == np.where(pixels > draws, 255, 0)).all()
        assert (events[:, 0] == 0).all()

    def test_first_spike_readout_ties(self):
        # Outputs 0 and 1 both first fire at t = 0; 1 has the larger potential and wins.
        w = [[2], [3], [1]]
        t = both(net(layer(w, threshold=2), timesteps=2, readout="first_spike"), [1])
        assert t.first_time.tolist() == [[0, 0, 1]]
        assert t.first_potential.tolist() == [[2, 3, 2]]
        assert t.prediction.item() == 1
        # Equal time and potential: the lower index wins.
        t = both(net(layer([[1], [3], [3]], threshold=2), timesteps=1), [1])
        assert t.prediction.item() == 1

    def test_first_spike_falls_back_to_membrane(self):
        t = both(net(layer([[1], [4], [4], [-2]], threshold=100), timesteps=2), [1])
        assert t.first_time.tolist() == [[NEVER] * 4]
        assert t.prediction.item() == 1   # 8 ties with 8: lowest index

    def test_max_membrane_readout(self):
        t = both(net(layer([[9], [4]], threshold=9, reset="zero", fire_once=False),
                     timesteps=2, readout="max_membrane"), [1])
        # Neuron 0 fires and resets to 0 each step; neuron 1 holds 8 at the end.
        assert t.membrane[0][0, -1].tolist() == [0, 8]
        assert t.prediction.item() == 1

    def test_bias_is_a_current_every_step(self):
        # p: 3 + 2 = 5 -> spike (v = 0), 5 -> spike, ...; a negative bias of -4 keeps the
        # second neuron at 3 - 4 = -1, -2, -3: it never fires.
        t = both(net(layer([[1], [1]], threshold=5, reset="zero", fire_once=False,
                           bias=np.array([2, -4])), timesteps=3), [3])
        assert t.spikes[0][0, :, 0].tolist() == [True, True, True]
        assert t.membrane[0][0, :, 1].tolist() == [-1, -2, -3]

    def test_bias_without_input_and_before_the_clamp(self):
        # No input events at all: the bias alone drives the neuron (an 8-bit membrane).
        # 100 + 100 = 200 saturates to 127 once, after the bias is added to the leaked value.
        t = both(net(layer([[1]], threshold=127, reset="none", fire_once=False,
                           bias=np.array([100])), timesteps=3, membrane_bits=8), [0])
        assert t.membrane[0][0, :, 0].tolist() == [100, 127, 127]
        assert t.spikes[0][0, :, 0].tolist() == [False, True, True]
        # The bias and the synaptic sum are added together, then clamped once: 127 + 1 - 100.
        t = both(net(layer([[1]], threshold=127, reset="none", fire_once=False,
                           bias=np.array([-100])), timesteps=2, membrane_bits=8), [200])
        assert t.membrane[0][0, :, 0].tolist() == [100, 127]

    def test_bias_feeds_a_lif_after_the_leak(self):
        # leak shift 1 then add: 0 -> 0 + 8 = 8 -> 8 - 4 + 8 = 12 -> 12 - 6 + 8 = 14
        t = both(net(layer([[0]], threshold=100, neuron="lif", leak_mode="shift", leak=1,
                           bias=np.array([8])), timesteps=3), [0])
        assert t.membrane[0][0, :, 0].tolist() == [8, 12, 14]

    def test_spike_count_readout(self):
        # Thresholds 3, weights 1 / 2 / 3 with input 1 and zero reset: neuron 0 fires every
        # third step, neuron 1 every other, neuron 2 every step. The most spikes win.
        w = [[1], [2], [3]]
        t = both(net(layer(w, threshold=3, reset="zero", fire_once=False), timesteps=6,
                     readout="spike_count"), [1])
        assert t.count.tolist() == [[2, 3, 6]]
        assert t.prediction.item() == 2
        # Equal counts: the lowest index, even against an earlier first spike or a higher
        # membrane of a later neuron.
        t = both(net(layer([[1], [3], [3]], threshold=3, reset="subtract", fire_once=True),
                     timesteps=4, readout="spike_count"), [1])
        assert t.count.tolist() == [[1, 1, 1]]
        assert t.first_time.tolist() == [[2, 0, 0]]
        assert t.prediction.item() == 0
        # No spikes: class 0.
        t = both(net(layer([[1], [1]], threshold=100), timesteps=2,
                     readout="spike_count"), [1])
        assert t.prediction.item() == 0

    def test_state_does_not_leak_between_batch_items(self):
        network = net(layer([[1]], threshold=3, fire_once=True), timesteps=2)
        alone = run(network, np.array([[2]]))
        batch = run(network, np.array([[255], [2]]))
        assert_same(alone, batch[1])


def test_encode_rejects_bad_pixels():
    network = net(layer([[1, 1]]))
    with pytest.raises(ValueError, match=r"expected \(batch, 2\)"):
        golden.encode(network, np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="0 .. 255"):
        golden.encode(network, np.array([[0, 256]]))


ALL_READOUTS = ("first_spike", "max_membrane", "spike_count")


def random_cases(seed, count):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        network = random_network(rng, bias=True, readouts=ALL_READOUTS)
        yield network, random_pixels(rng, 4, network.n_inputs)


def compare_random(seed, count):
    """Number of random cases on which fast and reference disagree, and what they covered."""
    seen = dict(spike=0, silenced=0, saturated=0, tie=0, fallback=0, bias=0, count_tie=0)
    mismatches = 0
    for network, pixels in random_cases(seed, count):
        fast = run(network, pixels)
        for b in range(len(pixels)):
            ref = reference(network, pixels[b].tolist())
            try:
                assert_same(fast[b], ref)
            except AssertionError:
                mismatches += 1
                continue
            vmax = (1 << (network.membrane_bits - 1)) - 1
            seen["spike"] += any(s.any().item() for s in ref.spikes)
            seen["saturated"] += any(((m == vmax) | (m == -vmax - 1)).any().item()
                                     for m in ref.membrane)
            ft = ref.first_time[0]
            fired = ft[ft < NEVER]
            seen["tie"] += len(fired) > 1 and int((fired == fired.min()).sum()) > 1
            seen["fallback"] += network.readout == "first_spike" and len(fired) == 0
            seen["bias"] += network.has_bias
            counts = ref.count[0]
            seen["count_tie"] += (network.readout == "spike_count" and counts.max() > 0
                                  and int((counts == counts.max()).sum()) > 1)
            seen["silenced"] += any(l.fire_once and (s.sum(1) > 0).any().item()
                                    for l, s in zip(network.layers, ref.spikes))
    return mismatches, seen


@pytest.mark.parametrize("seed", range(4))
def test_reference_and_fast_agree(seed):
    # 4 seeds x 260 networks x 4 images: over 4,000 inferences, 1,040 random networks.
    mismatches, seen = compare_random(seed, 260)
    assert mismatches == 0, f"seed {seed}: {mismatches} inferences differ"
    for what, count in seen.items():
        assert count > 10, f"seed {seed}: random cases covered {what!r} only {count} times"


def test_random_networks_cover_every_option():
    rng = np.random.default_rng(99)
    options = set()
    for _ in range(400):
        n = random_network(rng, bias=True, readouts=ALL_READOUTS)
        options |= {("encoder", n.encoder), ("readout", n.readout), ("bias", n.has_bias)}
        options |= {("M", n.membrane_bits) for _ in [0]}
        for l in n.layers:
            options |= {("neuron", l.neuron, l.leak_mode), ("reset", l.reset),
                        ("fire_once", l.fire_once), ("bits", l.weight_bits)}
    expected = ({("encoder", e) for e in ("direct", "hybrid", "rate")}
                | {("readout", r) for r in ALL_READOUTS}
                | {("bias", b) for b in (True, False)}
                | {("neuron", n, m) for n in ("if", "lif") for m in ("shift", "factor")}
                | {("reset", r) for r in ("subtract", "zero", "none")}
                | {("fire_once", f) for f in (True, False)}
                | {("bits", b) for b in range(1, 9)}
                | {("M", m) for m in (8, 32)})
    assert expected <= options


# Changes to a rule that both paths share (core.numerics, or golden's encoder): the random
# comparison cannot see them, the worked examples must.
SHARED_MUTANTS = {
    "leak rounds down instead of half up":
        (numerics, "apply_leak", lambda orig: lambda v, **k: (v * k["leak"]) >> 8
         if k["neuron"] == "lif" and k["leak_mode"] == "factor" else orig(v, **k)),
    "leak shift off by one":
        (numerics, "apply_leak", lambda orig: lambda v, **k: v - (v >> (k["leak"] + 1))
         if k["neuron"] == "lif" and k["leak_mode"] == "shift" else orig(v, **k)),
    "saturation one bit narrower":
        (numerics, "saturate", lambda orig: lambda x, bits: orig(x, bits - 1)),
    "hybrid spikes one step late":
        (golden, "hybrid_spike_time", lambda orig: lambda x, T: orig(x, T) + 1),
    "LFSR taps off by one bit":
        (numerics, "LFSR_TAPS", lambda orig: orig ^ 0x0400),
    "spike count ties go to the highest index":
        (numerics, "readout_class", lambda orig: lambda ft, fp, v, *, readout, count=None:
         max(range(len(v)), key=lambda j: (int(count[j]), j)) if readout == "spike_count"
         else orig(ft, fp, v, readout=readout, count=count)),
}

# Changes to the fast path alone: the random comparison with the reference must see them.
FAST_MUTANTS = {
    "readout ignores the potential on ties":
        ("_readout", lambda orig: lambda n, ft, fp, v, c: orig(n, ft, np.zeros_like(fp), v, c)),
    "spike count misses the last step":
        ("_readout", lambda orig: lambda n, ft, fp, v, c: orig(n, ft, fp, v, c - (c > 0))),
    "dot products miss the last input":
        ("_dot", lambda orig: lambda events, w: orig(events[..., :-1], w[:-1])),
}


def worked_example_failures():
    """Names of the worked examples that fail."""
    examples = TestWorkedExamples()
    failed = []
    for name in sorted(n for n in dir(examples) if n.startswith("test_")):
        try:
            getattr(examples, name)()
        except AssertionError:
            failed.append(name)
    return failed


@pytest.fixture
def fresh_draws():
    """Clear the cached LFSR draws before and after a test that changes the LFSR."""
    numerics._draw_table.cache_clear()
    yield
    numerics._draw_table.cache_clear()


def test_worked_examples_pass():
    assert worked_example_failures() == []


@pytest.mark.parametrize("name", SHARED_MUTANTS)
def test_worked_examples_catch_a_changed_rule(monkeypatch, fresh_draws, name):
    module, attr, make = SHARED_MUTANTS[name]
    monkeypatch.setattr(module, attr, make(getattr(module, attr)))
    assert worked_example_failures(), f"a rule where {name} went unnoticed"


@pytest.mark.parametrize("name", FAST_MUTANTS)
def test_comparison_catches_a_changed_fast_model(monkeypatch, name):
    attr, make = FAST_MUTANTS[name]
    monkeypatch.setattr(golden, attr, make(getattr(golden, attr)))
    mismatches, _ = compare_random(0, 150)
    assert mismatches > 0, f"a fast model where {name} went unnoticed"


# The host driver, the cycle model and co-simulation start without torch (issue 13).
TORCH_FREE = ["core.numerics", "core.golden", "core.network", "core.modelfile", "core.randnet",
              "core.transport", "core.memmap", "core.config", "core.perf", "sw.device",
              "sw.uart", "sw.runner", "sim.cosim", "sim.compare", "cli.run", "cli.cosim"]


def test_golden_model_and_its_users_import_without_torch():
    code = (f"import sys\nimport {', '.join(TORCH_FREE)}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]", f"importing {TORCH_FREE} imports torch"
