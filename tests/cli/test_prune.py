"""The command lines of issue 17's pruning: sw.train's [prune] refusals and sw.evaluate
--sparsity (zero weights, all-zero weight words, cycles with them skipped)."""

import json

import numpy as np

from core import modelfile, perf
from core.config import Config
from core.network import Layer, Network


def test_train_refuses_bad_prune_levels(tmp_path, run_cli, fails_cleanly):
    out = tmp_path / "m.snn"
    result = run_cli("sw.train", "--data", "digits", "--output", out, "--set",
                     "prune.sparsity=0.8", "--set", "prune.levels=1", "--results",
                     tmp_path / "r")
    fails_cleanly(result, "prune.levels is 1", "2 .. 16", absent=[out])


def _pruned_digits_network(path):
    """64-16-10, layer 1's inputs 0 .. 7 pruned for every output (8 all-zero words)."""
    gen = np.random.default_rng(0)
    w0 = gen.integers(-8, 8, (16, 64))
    w0[gen.random(w0.shape) < 0.8] = 0
    w1 = gen.integers(-8, 8, (10, 16))
    w1[:, :8] = 0
    net = Network([Layer(w0, threshold=300, fire_once=True),
                   Layer(w1, threshold=10, reset="none")], timesteps=2).validate()
    modelfile.save(net, path)
    return net


def test_evaluate_reports_sparsity_words_and_cycles(tmp_path, run_cli):
    net = _pruned_digits_network(tmp_path / "p.snn")
    out = tmp_path / "e.json"
    result = run_cli("sw.evaluate", "--model", tmp_path / "p.snn", "--data", "digits",
                     "--samples", "40", "--sparsity", "--set", "lanes=8", "--json", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())["sparsity"]
    config = Config.mnist(lanes=8)
    expected = perf.sparsity(net, config)
    assert report["zero_words"] == expected["zero_words"] >= 16  # layer 1: 8 inputs x 2 blocks
    assert report["layers"][1]["zero_words"] == 16
    zeros = sum(int((np.asarray(l.weights) == 0).sum()) for l in net.layers)
    assert report["zero_fraction"] == zeros / (16 * 64 + 10 * 16)
    assert report["cycles_skipping"] <= report["cycles"]
    assert "all zero: " in result.stdout and "skipping all-zero words" in result.stdout


def test_evaluate_sparsity_options_are_checked(tmp_path, run_cli, fails_cleanly):
    _pruned_digits_network(tmp_path / "p.snn")
    model = tmp_path / "p.snn"
    fails_cleanly(run_cli("sw.evaluate", "--model", model, "--data", "digits", "--set",
                          "lanes=8"), "add --sparsity")
    fails_cleanly(run_cli("sw.evaluate", "--model", model, "--data", "digits", "--sparsity",
                          "--set", "lanes=3"), "lanes is 3")
    fails_cleanly(run_cli("sw.evaluate", "--model", model, "--data", "digits", "--sparsity",
                          "--config", "tiny", "--json", tmp_path / "e.json"),
                  "layer 0's input count is 64", absent=[tmp_path / "e.json"])
