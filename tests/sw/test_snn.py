"""sw.snn: surrogates, quantization, the training model's exactness against the golden model,
fire-once, encoders, the loss, trainable thresholds and leaks, conversion and export."""

import math

import numpy as np
import pytest
import torch

from core import golden
from core.network import weight_range
from sw.data import load_digits
from sw.snn import (ANN, SNN, LayerSpec, SNNConfig, activation_percentiles, convert, encode,
                    first_spike_time, readout, spike, spike_time_membrane_loss, to_network)
from sw.snn import quant
from sw.snn.model import Output


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def small(encoder="hybrid", neuron="if", leak_mode="factor", bits=4, T=4, fire_once=True,
          hidden=(24,), n_in=64, M=16, reset="subtract", **kw):
    leak = 0.8 if leak_mode == "factor" else 2
    layers = [LayerSpec(h, neuron=neuron, leak_mode=leak_mode, leak=leak, threshold=0.4,
                        fire_once=fire_once, reset=reset) for h in hidden]
    layers.append(LayerSpec(10, neuron=neuron, leak_mode=leak_mode, leak=leak, threshold=0.3,
                            reset="none"))
    return SNNConfig(n_inputs=n_in, layers=layers, timesteps=T, encoder=encoder,
                     weight_bits=bits, membrane_bits=M, **kw)


# -- surrogates -----------------------------------------------------------------------------

def test_linear_surrogate_forward_is_a_step_and_backward_a_triangle():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.25, 3.0], requires_grad=True)
    s = spike(x, "linear", gamma=2.0, width=1.0)
    assert s.tolist() == [0, 0, 1, 1, 1]  # p >= theta fires
    s.sum().backward()
    assert torch.allclose(x.grad, torch.tensor([0.0, 1.0, 2.0, 1.5, 0.0]))


def test_stdb_surrogate_decays_exponentially_with_time_since_spike():
    x = torch.tensor([-1.0, 5.0, -0.1], requires_grad=True)
    dt = torch.tensor([0.0, 3.0, 10.0])
    s = spike(x, "stdb", dt=dt, alpha=0.3, beta=0.5)
    assert s.tolist() == [0, 1, 0]
    s.sum().backward()
    assert torch.allclose(x.grad, 0.3 * torch.exp(-0.5 * dt))  # independent of the membrane


def test_surrogate_errors():
    with pytest.raises(ValueError, match="stdb surrogate needs dt"):
        spike(torch.zeros(2), "stdb")
    with pytest.raises(ValueError, match="surrogate is 'tanh'; it must be one of"):
        spike(torch.zeros(2), "tanh")


# -- quantization ---------------------------------------------------------------------------

@pytest.mark.parametrize("bits", range(1, 9))
def test_quantize_stays_in_range_and_passes_gradients(bits):
    w = torch.randn(50, 40, requires_grad=True)
    s = quant.choose_scale(w.detach(), bits)
    q = quant.quantize(w, bits, s)
    lo, hi = weight_range(bits)
    assert q.min() >= lo and q.max() <= hi and torch.equal(q, q.round())
    if bits == 1:
        assert set(q.unique().tolist()) <= {-1.0, 1.0}
    q.sum().backward()
    assert (w.grad != 0).any()  # straight-through


def test_more_bits_quantize_more_accurately():
    w = torch.randn(100, 100)
    err = [((quant.quantize(w, b, s := quant.choose_scale(w, b)) * s - w) ** 2).mean()
           for b in (2, 4, 8)]
    assert err[0] > err[1] > err[2]


def test_prune_mask_removes_the_smallest_weights():
    w = torch.arange(1, 101, dtype=torch.float32).reshape(10, 10) * torch.tensor(
        [1.0, -1.0]).repeat(50).reshape(10, 10)
    m = quant.prune_mask(w, 0.3)
    assert int(m.sum()) == 70 and bool((w.abs()[~m] <= 30).all())
    with pytest.raises(ValueError, match="prune fraction"):
        quant.prune_mask(w, 1.0)


# -- the training model is the integer model --------------------------------------------------

CASES = [("hybrid", "if", "factor", 4, 4), ("hybrid", "lif", "factor", 4, 4),
         ("hybrid", "lif", "shift", 2, 3), ("direct", "if", "factor", 8, 4),
         ("direct", "lif", "factor", 1, 5), ("rate", "lif", "shift", 4, 6),
         ("rate", "if", "factor", 3, 4), ("hybrid", "if", "factor", 4, 1)]


@pytest.mark.parametrize("encoder,neuron,leak_mode,bits,T", CASES)
def test_quantized_forward_equals_golden_model(digits, encoder, neuron, leak_mode, bits, T):
    cfg = small(encoder, neuron, leak_mode, bits, T, hidden=(24, 16), M=12)
    model = SNN(cfg, seed=3)
    with torch.no_grad():  # spread the parameters so that leaks and thresholds vary
        model.rho[0].fill_(1.3)
        model.log_theta[1].sub_(0.7)
    x = digits["test"].pixels[:200]
    out = model(torch.from_numpy(x))
    net = to_network(model)
    trace = golden.run(net, x)
    for mine, ref in zip(out.spikes, trace.spikes):
        assert np.array_equal(mine.bool().numpy(), ref)
    assert np.array_equal(out.final.long().numpy(), trace.membrane[-1][:, -1])
    assert np.array_equal(readout(out, cfg.readout).numpy(), trace.prediction)
    assert sum(int(s.sum()) for s in trace.spikes) > 0  # the case exercises spikes


def test_saturation_matches_golden_model(digits):
    cfg = small("direct", bits=8, M=8, T=3)
    model = SNN(cfg, seed=0)
    with torch.no_grad():
        model.set_threshold(0, 50.0)  # threshold near the 8-bit limit: membranes saturate
    x = digits["test"].pixels[:100]
    net = to_network(model)
    trace = golden.run(net, x)
    assert int(trace.membrane[0].max()) == 127 or int(trace.membrane[0].min()) == -128
    out = model(torch.from_numpy(x))
    assert np.array_equal(out.spikes[0].bool().numpy(), trace.spikes[0])


def test_encode_equals_golden_encoder(digits):
    x = digits["test"].pixels[:20]
    for encoder in ("direct", "hybrid", "rate"):
        for T in (1, 4, 7):
            cfg = small(encoder, T=T)
            net = to_network(SNN(cfg, seed=0))
            mine = encode(torch.from_numpy(x), T, encoder, cfg.lfsr_seed).long().numpy()
            assert np.array_equal(mine, golden.encode(net, x))


def test_hybrid_is_analog_then_one_spike_per_pixel():
    # t_spike = 1 + ((255 - x) * 3 >> 8): 170..255 at step 1, 85..169 at 2, 1..84 at 3
    x = torch.tensor([[0, 1, 84, 85, 169, 170, 255]])
    e = encode(x, 4, "hybrid")
    assert e[0, 0].tolist() == x[0].tolist()
    assert e[0, 1:].sum(0).tolist() == [0] + [255] * 6  # one spike each, none for 0
    assert e[0, 1:].argmax(0).tolist()[1:] == [2, 2, 1, 1, 0, 0]  # brighter is earlier
    assert torch.equal(encode(x, 1, "hybrid")[0, 0], x[0].float())


def test_rate_coding_counts_follow_brightness():
    x = torch.tensor([[0, 64, 128, 255]])
    counts = encode(x, 200, "rate").sum(1)[0] / 255
    assert counts[0] == 0 and counts[1] < counts[2] < counts[3]


@pytest.mark.parametrize("fire_once", [True, False])
def test_fire_once_allows_at_most_one_spike(digits, fire_once):
    cfg = small("direct", T=6, fire_once=fire_once)
    model = SNN(cfg, seed=1)
    with torch.no_grad():
        model.set_threshold(0, 0.05)
    out = model(torch.from_numpy(digits["test"].pixels[:50]))
    per_neuron = out.spikes[0].sum(1)
    if fire_once:
        assert per_neuron.max() == 1
    else:
        assert per_neuron.max() > 1


def test_float_model_is_not_rounded(digits):
    model = SNN(small(bits=None), seed=0)
    out = model(torch.from_numpy(digits["test"].pixels[:10]))
    assert not torch.equal(out.potential, out.potential.round())
    with pytest.raises(ValueError, match="float weights"):
        to_network(model)


# -- read-out and loss ------------------------------------------------------------------------

def _output(spikes, potential, final=None):
    spikes = torch.tensor(spikes, dtype=torch.float32)
    potential = torch.tensor(potential, dtype=torch.float32)
    final = potential[:, -1] if final is None else torch.tensor(final, dtype=torch.float32)
    return Output(potential, final, spikes, torch.tensor(10.0), [spikes])


def test_readout_earliest_then_potential_then_index_then_membrane():
    out = _output(
        [[[0, 0, 0], [0, 1, 1]],     # t=1: 1 and 2 fire, 2 has the larger potential
         [[0, 0, 1], [1, 0, 0]],     # 2 fires first
         [[0, 1, 1], [0, 0, 0]],     # tie in time and potential: lowest index
         [[0, 0, 0], [0, 0, 0]]],    # nobody fires: largest final membrane
        [[[1, 2, 3], [4, 11, 12]], [[5, 6, 10], [11, 3, 3]], [[1, 12, 12], [0, 0, 0]],
         [[1, 2, 3], [4, 9, 5]]])
    assert readout(out).tolist() == [2, 2, 1, 1]
    assert readout(out, "max_membrane").tolist() == [2, 0, 0, 1]
    # Spike counts [0,1,1], [1,0,1], [0,1,1], [0,0,0]: the most spikes, lowest index on ties.
    assert readout(out, "spike_count").tolist() == [1, 0, 1, 0]


def test_first_spike_time():
    s = torch.tensor([[[0, 1, 0], [1, 0, 0], [0, 0, 0]]], dtype=torch.float32)
    assert first_spike_time(s).tolist() == [[1, 0, 3]]


def test_loss_prefers_the_correct_neuron_first():
    label = torch.tensor([0])
    pot = [[[12, 5], [0, 0]]]
    good = _output([[[1, 0], [0, 0]]], pot)
    bad = _output([[[0, 1], [0, 0]]], [[[5, 12], [0, 0]]])
    for mem, tim in ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):
        assert (spike_time_membrane_loss(good, label, mem, tim)
                < spike_time_membrane_loss(bad, label, mem, tim))


def test_distillation_pulls_the_membranes_towards_the_teacher():
    """distill: the loss is smallest when the softened membrane logits equal the teacher's,
    and its gradient moves the potentials towards the teacher's ranking."""
    from sw.snn.loss import distillation_loss
    teacher = torch.tensor([[3.0, 1.0, -1.0]])
    # threshold 10 and tau_mem 10: the membrane logits are the potentials themselves
    agree = _output([[[0, 0, 0]]], [[[3.0, 1.0, -1.0]]])
    disagree = _output([[[0, 0, 0]]], [[[-1.0, 1.0, 3.0]]])
    assert distillation_loss(agree, teacher, 10.0, 2.0) < \
        distillation_loss(disagree, teacher, 10.0, 2.0)
    pot = torch.zeros(1, 1, 3, requires_grad=True)
    spikes = torch.zeros(1, 1, 3)
    out = Output(pot, pot[:, -1], spikes, torch.tensor(10.0), [spikes])
    distillation_loss(out, teacher, 10.0, 2.0).backward()
    assert pot.grad[0, 0, 0] < 0 < pot.grad[0, 0, 2]  # raise class 0, lower class 2


def test_training_reduces_the_loss_and_trains_threshold_and_leak(digits):
    cfg = small(neuron="lif", bits=4)
    model = SNN(cfg, seed=0)
    x = torch.from_numpy(digits["train"].pixels[:256])
    y = torch.from_numpy(digits["train"].labels[:256])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = [p.detach().clone() for p in list(model.log_theta) + list(model.rho)]
    losses = []
    for _ in range(30):
        loss = spike_time_membrane_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    after = list(model.log_theta) + list(model.rho)
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # DIET-SNN: all move


def test_untrainable_threshold_and_leak_stay(digits):
    layers = [LayerSpec(16, neuron="lif", train_threshold=False, train_leak=False),
              LayerSpec(10, neuron="if", train_threshold=False)]
    model = SNN(SNNConfig(n_inputs=64, layers=layers), seed=0)
    assert not any(p.requires_grad for p in list(model.log_theta) + list(model.rho))


def test_stdb_surrogate_trains(digits):
    model = SNN(small(surrogate="stdb", alpha=0.5, beta=0.3), seed=0)
    x = torch.from_numpy(digits["train"].pixels[:128])
    y = torch.from_numpy(digits["train"].labels[:128])
    spike_time_membrane_loss(model(x), y).backward()
    assert model.weight[0].grad.abs().sum() > 0


def test_config_errors():
    with pytest.raises(ValueError, match="weight_bits is 9"):
        small(bits=9)
    with pytest.raises(ValueError, match="encoder is 'poisson'"):
        small(encoder="poisson")
    with pytest.raises(ValueError, match=r"leak is 1.5; a factor leak starts in \(0, 1\)"):
        SNNConfig(n_inputs=4, layers=[LayerSpec(2, neuron="lif", leak=1.5)])
    with pytest.raises(ValueError, match="shift leak is an integer"):
        SNNConfig(n_inputs=4, layers=[LayerSpec(2, neuron="lif", leak_mode="shift", leak=0.5)])


# -- conversion and export ----------------------------------------------------------------------

def test_conversion_copies_weights_and_balances_thresholds(digits):
    ann = ANN([64, 20, 10], seed=0)
    model = SNN(small(hidden=(20,), bits=None), seed=1)
    x = torch.from_numpy(digits["train"].pixels[:300]).float() / 255
    lambdas = convert(ann, model, x, percentile=99.0)
    assert torch.equal(model.weight[0], ann.layers[0].weight)
    h = (x @ ann.layers[0].weight.T)
    assert math.isclose(lambdas[0], float(np.percentile(h[h > 0].detach().numpy(), 99.0)),
                        rel_tol=1e-5)
    assert math.isclose(model.threshold(1).item(), lambdas[1] / lambdas[0], rel_tol=1e-5)
    assert activation_percentiles(ann, x, 50.0)[0] < lambdas[0]


def test_export_formula(digits):
    model = SNN(small(bits=4), seed=2)
    net = to_network(model, timesteps=2, name="x")
    s = quant.choose_scale(model.weight[0].detach(), 4)
    assert net.layers[0].threshold == round(model.threshold(0).item() / (s.item() / 255))
    assert np.array_equal(net.layers[0].weights,
                          torch.clamp(torch.round(model.weight[0] / s), -8, 7).long().numpy())
    assert net.timesteps == 2 and net.name == "x"


def test_pruned_weights_export_as_zero():
    model = SNN(small(bits=4), seed=2)
    for k in range(2):
        model.set_mask(k, quant.prune_mask(model.weight[k].detach(), 0.5))
    net = to_network(model)
    assert (net.layers[0].weights == 0).mean() >= 0.5
