"""sw.snn.prune and [prune] of sw.train: the STDP score on hand-made spike trains, exact
sparsity, few levels, the exported network in the golden model, magnitude pruning, and the
recipe checks."""

import math
import re

import numpy as np
import pytest
import torch

from core import golden, modelfile, perf
from core.config import Config
from sw import snnrecipe
from sw.snn import train
from sw.data import load_digits
from sw.snn import quant
from sw.snn.prune import (Pruner, fit_levels, keep_mask, schedule, stdp_pairings,
                          stdp_score)

D = math.exp(-1.0)  # the trace's decay per step with tau = 1


def hand_made():
    """One image, T = 3. Output neuron 0 fires at step 1, neuron 1 never. Input 0 fires with
    neuron 0 (step 1), input 1 one step before it (step 0), input 2 one step after it (step 2),
    input 3 never."""
    pre = torch.zeros(1, 3, 4)
    pre[0, 1, 0] = pre[0, 0, 1] = pre[0, 2, 2] = 1.0
    post = torch.zeros(1, 3, 2)
    post[0, 1, 0] = 1.0
    return pre, post


def test_stdp_pairings_on_hand_made_trains():
    ltp, ltd = stdp_pairings(*hand_made(), tau=1.0)
    # causal: input 0 in the same step (1), input 1 one step earlier (decayed once)
    assert torch.allclose(ltp, torch.tensor([[1.0, D, 0, 0], [0, 0, 0, 0]]))
    # anti-causal: input 2 one step after neuron 0's spike
    assert torch.allclose(ltd, torch.tensor([[0, 0, D, 0], [0, 0, 0, 0]]))


def test_stdp_pairings_refuse_mismatched_trains():
    with pytest.raises(ValueError, match="same batch and step axes"):
        stdp_pairings(torch.zeros(1, 3, 4), torch.zeros(1, 2, 2))


def test_correlated_pairs_score_higher_than_uncorrelated():
    pre, post = hand_made()
    ltp, ltd = stdp_pairings(pre, post, tau=1.0)
    # Equal weights 0.25 (a fifth input of weight 1 sets the bound, w = |W| / max |W|).
    w = torch.full((2, 5), 0.25)
    w[:, 4] = 1.0
    ltp, ltd = (torch.cat([m, torch.zeros(2, 1)], dim=1) for m in (ltp, ltd))
    score = stdp_score(w, ltp, ltd, eta=1.0, mu=0.5)
    expected_0 = [0.25 + 0.75 ** 0.5, 0.25 + 0.75 ** 0.5 * D, 0.25 - 0.25 ** 0.5 * D, 0.25, 1.0]
    assert torch.allclose(score[0], torch.tensor(expected_0))
    assert torch.allclose(score[1], torch.tensor([0.25] * 4 + [1.0]))
    # correlated (0: same step, 1: before) > uncorrelated (3, and neuron 1) > anti-causal (2)
    assert score[0, 0] > score[0, 1] > score[1, 0] == score[0, 3] > score[0, 2]
    # eta = 0: the score is the normalized magnitude alone
    assert torch.allclose(stdp_score(w, ltp, ltd, eta=0.0), w)
    # pruned synapses score -inf
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[0, 0] = False
    assert stdp_score(w, ltp, ltd, mask=mask)[0, 0] == -math.inf


def test_power_law_weight_dependence():
    # LTP shrinks as the weight nears its bound, LTD as it nears 0.
    w = torch.tensor([[0.1, 0.5, 0.9, 1.0]])
    one = torch.ones(1, 4)
    gain = stdp_score(w, one, 0 * one, eta=1.0, mu=2.0) - w
    loss = w - stdp_score(w, 0 * one, one, eta=1.0, mu=2.0)
    assert torch.allclose(gain, (1 - w) ** 2) and torch.allclose(loss, w ** 2)


def test_keep_mask_reaches_the_sparsity_exactly_and_never_regrows():
    score = torch.tensor([[3.0, 1.0, 2.0], [1.0, 5.0, 0.0]])
    assert keep_mask(score, 0.5).tolist() == [[True, False, True], [False, True, False]]
    # ties keep the lower index
    assert keep_mask(torch.zeros(2, 3), 0.5).reshape(-1).tolist() == [True] * 3 + [False] * 3
    prior = torch.tensor([[False, True, True], [True, True, True]])
    mask = keep_mask(score, 0.5, prior)
    assert not mask[0, 0] and int(mask.sum()) == 3
    with pytest.raises(ValueError, match="more than sparsity"):
        keep_mask(score, 0.1, torch.zeros(2, 3, dtype=torch.bool))
    for fraction in (0.0, 0.3, 0.8, 0.99):
        w = torch.randn(37, 29)
        assert int((~keep_mask(w.abs(), fraction)).sum()) == round(fraction * w.numel())


@pytest.mark.parametrize("levels,bits", [(2, 4), (3, 4), (4, 4), (8, 4), (16, 4), (4, 2),
                                         (6, 8)])
def test_levels_are_few_symmetric_and_in_range(levels, bits):
    gen = torch.Generator().manual_seed(levels)
    w = torch.randn(50, 40, generator=gen)
    mask = torch.rand(50, 40, generator=gen) > 0.7
    mags, scale = fit_levels(w, mask, levels, bits)
    hi = (1 << (bits - 1)) - 1
    assert len(mags) <= min(levels // 2, hi) and mags.max() == hi and mags.min() >= 1
    q = quant.quantize_levels(w / scale, mags) * mask
    values = set(torch.unique(q[mask]).tolist())
    assert 0 not in values and len(values) <= levels
    assert values <= set((-mags).tolist()) | set(mags.tolist())
    if levels // 2 < hi:  # the k-means centres sit where the magnitudes are
        assert len(mags) == levels // 2


def test_quantize_levels_rounds_to_the_nearest_level_with_ste():
    mags = torch.tensor([2.0, 7.0])
    x = torch.tensor([-9.0, -4.6, -4.4, -0.5, 0.0, 0.5, 4.5, 5.0, 12.0], requires_grad=True)
    q = quant.quantize_levels(x, mags)
    assert q.tolist() == [-7, -7, -2, -2, 2, 2, 7, 7, 7]
    q.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0]  # no gradient past the range


def test_schedule_rises_to_the_target():
    s = [schedule(e, 0.8, 4) for e in range(1, 7)]
    assert s[3:] == [0.8] * 3 and s == sorted(s) and s[0] == pytest.approx(0.8 * (1 - 0.75 ** 3))


def tiny(**prune):
    over = {"data": {"dataset": "digits"}, "network": {"hidden": [24], "timesteps": 2},
            "ann": {"epochs": 2, "lr": 3e-3, "batch_size": 64},
            "train": {"epochs": 3, "batch_size": 64, "lr": 3e-3},
            "prune": {"sparsity": 0.8, "levels": 4, "start": 1, "interval": 1, "ramp": 2,
                      **prune}}
    return snnrecipe.load_config(None, over)


@pytest.fixture(scope="module", params=["stdp", "magnitude"])
def pruned(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"prune_{request.param}")
    summary = train.run(tiny(method=request.param), folder / "p.snn", folder / "r",
                        progress=False)
    return request.param, modelfile.load(folder / "p.snn"), summary


def test_pruned_network_is_exact_and_golden(pruned):
    method, net, summary = pruned
    for layer in net.layers:
        w = np.asarray(layer.weights)
        assert int((w == 0).sum()) == round(0.8 * w.size)  # the sparsity, exactly
        assert len(np.unique(w[w != 0])) <= 4               # at most 4 levels
        assert np.abs(w).max() == 7                         # the top level uses the range
    net.validate()
    test = load_digits()["test"]
    pred = golden.predict(net, test.pixels)
    info = summary["exports"][0]
    assert info["agreement"] == 1.0 and info["integer_accuracy"] == float(
        (pred == test.labels).mean())
    assert info["integer_accuracy"] > 0.3  # it still classifies (chance: 0.1)
    events = [h["prune"] for h in summary["history"] if "prune" in h]
    assert [e["epoch"] for e in events] == [1, 2, 3]
    assert events[0]["sparsity"] == pytest.approx(0.8 * (1 - 0.5 ** 3))
    assert [e["sparsity"] for e in events[1:]] == [0.8, 0.8]
    sp = perf.sparsity(net, Config.mnist())
    assert sp["zero_fraction"] == pytest.approx(0.8, abs=1e-3)


def test_stdp_and_magnitude_prune_differently(pruned, tmp_path):
    method, net, _ = pruned
    other = "magnitude" if method == "stdp" else "stdp"
    alt = train.run(tiny(method=other, ramp=1), tmp_path / "o.snn", tmp_path / "r",
                    progress=False)
    assert alt["exports"][0]["agreement"] == 1.0
    a = np.asarray(net.layers[0].weights) != 0
    b = np.asarray(modelfile.load(tmp_path / "o.snn").layers[0].weights) != 0
    assert (a != b).any()


def test_levels_start_at_levels_from():
    model = snnrecipe.build_model(tiny(), 64)
    pruner = Pruner("magnitude", 0.5, levels=4, ramp=2, levels_from=2)
    first = pruner.epoch_end(model)
    assert first["sparsity"] == pytest.approx(0.5 * (1 - 0.5 ** 3))
    assert "levels" not in first["layers"][0] and model.levels(0) is None
    second = pruner.epoch_end(model)
    assert second["sparsity"] == 0.5 and model.levels(0) is not None
    assert second["layers"][0]["levels"] == model.levels(0).int().tolist()


@pytest.mark.parametrize("over,message", [
    ({"method": "random"}, "prune.method is 'random'; it must be one of 'stdp', 'magnitude'"),
    ({"sparsity": 1.0}, "prune.sparsity is 1.0; it must be in [0, 1)"),
    ({"sparsity": -0.1}, "prune.sparsity is -0.1"),
    ({"levels": 1}, "prune.levels is 1; it must be 2 .. 16"),
    ({"levels": 17}, "prune.levels is 17"),
    ({"interval": 0}, "prune.interval is 0; it must be 1 or more"),
    ({"ramp": 0}, "prune.ramp is 0"),
    ({"levels_from": 0}, "prune.levels_from is 0; it must be 1 or more"),
    ({"mu": 0.0}, "prune.mu is 0.0; it must be above 0"),
    ({"tau": -1.0}, "prune.tau is -1.0"),
    ({"eta": -1.0}, "prune.eta is -1.0"),
    ({"start": 3, "ramp": 2}, "prune.start + prune.interval * (prune.ramp - 1) is 4"),
])
def test_bad_prune_recipes_are_refused_naming_the_key(monkeypatch, tmp_path, over, message):
    monkeypatch.setattr(train, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(ValueError, match=re.escape(message)):
        train.run(tiny(**over), tmp_path / "m.snn", tmp_path / "r", progress=False)
    assert not (tmp_path / "m.snn").exists()


def test_old_train_prune_key_still_works_alone(monkeypatch, tmp_path):
    config = tiny()
    config["train"]["prune"] = 0.3
    with pytest.raises(ValueError, match=r"train.prune is 0.3 and prune.sparsity 0.8: give one"):
        snnrecipe.check_config(config)
    config["prune"]["sparsity"] = 0.0
    snnrecipe.check_config(config)  # the one-shot magnitude pruning of before


def test_bad_prune_type_is_refused():
    with pytest.raises(ValueError, match="recipe key prune.levels is 'four'; it must be an "
                                         "integer"):
        snnrecipe.load_config(None, {"prune": {"levels": "four"}})
