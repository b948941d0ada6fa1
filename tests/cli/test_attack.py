"""python -m sw.attack: a whole run on the digits set, the summary, and bad input."""

import json

import numpy as np

import pytest
import torch

from core import modelfile
from sw.snn import SNN, LayerSpec, SNNConfig
from sw.snn.export import to_network

MODULE = "sw.attack"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attack")
    cfg = SNNConfig(n_inputs=64, layers=[LayerSpec(16, threshold=0.3),
                                         LayerSpec(10, reset="none")], timesteps=2,
                    weight_bits=4)
    model = SNN(cfg, seed=0)
    modelfile.save(to_network(model), folder / "m.snn")
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, folder / "m.pt")
    return folder


FAST = ["--data", "digits", "--samples", "30", "--steps", "2", "--spsa-samples", "10",
        "--spsa-steps", "2", "--spsa-directions", "4", "--quiet"]


def test_a_run_writes_tables_json_plot_and_adversarial_images(files, tmp_path, run_cli):
    out = tmp_path / "r"
    result = run_cli(MODULE, "--model", files / "m.snn", "--float", files / "m.pt",
                     "--ann-epochs", "1", "--save-ann", tmp_path / "ann.pt", "--eps",
                     "0.1,8/255", "--output", out, "--adv-npy", tmp_path / "adv.npy", *FAST)
    assert result.returncode == 0, result.stderr
    assert "clean accuracy: ANN" in result.stdout
    assert "strongest attack" in result.stdout
    report = json.loads((out / "m.json").read_text())
    assert report["eps"] == [8 / 255, 0.1]
    assert report["float_snn"] == f"checkpoint {files / 'm.pt'}"
    # ANN: fgsm, pgd; two SNNs: fgsm and pgd for two surrogates, spsa; at two budgets
    assert len(report["rows"]) == 2 * (2 + 2 * 5)
    assert set(report["strongest"]) == {"ann", "snn_float", "snn_int"}
    assert (out / "m.md").read_text().startswith("# Adversarial robustness of")
    assert (out / "m.png").stat().st_size > 1000
    assert (tmp_path / "ann.pt").exists()
    adv = np.load(tmp_path / "adv.npy")
    assert adv.dtype.name == "uint8" and adv.shape[1] == 64
    # the saved ANN is used again; the summary collects the report
    again = run_cli(MODULE, "--model", files / "m.snn", "--ann", tmp_path / "ann.pt",
                    "--attack", "fgsm", "--surrogate", "stdb", "--eps", "0.2", "--output", out,
                    "--name", "second", *FAST)
    assert again.returncode == 0, again.stderr
    second = json.loads((out / "second.json").read_text())
    assert {r["surrogate"] for r in second["rows"]} == {None, "stdb"}
    summary = run_cli(MODULE, "--summarize", out)
    assert summary.returncode == 0, summary.stderr
    assert len(json.loads((out / "summary.json").read_text())["models"]) == 2
    assert (out / "summary.png").exists()


@pytest.mark.parametrize("args, words", [
    (["--eps", "0.1,abc"], ["--eps", "'abc' is not a number"]),
    (["--eps", "3"], ["--eps", "outside (0, 1]"]),
    (["--attack", "cw"], ["--attack", "'cw' is unknown", "fgsm, pgd, spsa"]),
    (["--surrogate", "sigmoid"], ["--surrogate", "'sigmoid' is unknown"]),
    (["--craft-on", "cnn"], ["--craft-on", "'cnn' is unknown"]),
    (["--step-size", "-1"], ["--step-size", "outside"]),
    (["--samples", "0"], ["--samples", "not a positive integer"]),
])
def test_bad_options_fail_cleanly(files, tmp_path, args, words, run_cli, fails_cleanly):
    result = run_cli(MODULE, "--model", files / "m.snn", "--data", "digits", "--output",
                     tmp_path / "r", *args)
    fails_cleanly(result, *words, absent=[tmp_path / "r" / "m.json"])


def test_bad_files_fail_cleanly(files, tmp_path, run_cli, fails_cleanly):
    fails_cleanly(run_cli(MODULE, "--model", tmp_path / "none.snn"), "--model",
                  "does not exist")
    fails_cleanly(run_cli(MODULE), "one of the arguments --model --summarize is required")
    text = tmp_path / "text.snn"
    text.write_text("hello")
    fails_cleanly(run_cli(MODULE, "--model", text, "--data", "digits", "--output",
                          tmp_path / "r"), "text.snn", absent=[tmp_path / "r" / "text.json"])
    fails_cleanly(run_cli(MODULE, "--model", files / "m.snn", "--data", "digits", "--ann",
                          text, "--output", tmp_path / "r"), "text.snn is not an ANN file")
    fails_cleanly(run_cli(MODULE, "--model", files / "m.snn", "--data", "digits", "--float",
                          text, "--output", tmp_path / "r"), "text.snn is not a PyTorch")
    fails_cleanly(run_cli(MODULE, "--summarize", tmp_path), "holds no report of sw.attack")
    fails_cleanly(run_cli(MODULE, "--model", files / "m.snn", "--data", "mnist", "--ann-epochs",
                          "0", "--output", tmp_path / "r"),
                  "64 inputs")


def test_snn_accel_lists_attack(run_cli):
    result = run_cli("cli.main", "--help")
    assert "attack" in result.stdout


@pytest.fixture(scope="module")
def conv_file(tmp_path_factory):
    """A small CNN on the digits as 1 x 8 x 8 images: conv 4 3x3 pad 1, max pool 2, dense 10."""
    folder = tmp_path_factory.mktemp("attack_conv")
    cfg = SNNConfig(n_inputs=64, input_shape=(1, 8, 8), timesteps=2, weight_bits=4, layers=[
        LayerSpec(4, kind="conv", kernel=3, padding=1, threshold=0.2),
        LayerSpec(0, kind="pool", kernel=2), LayerSpec(10, reset="none", threshold=0.3)])
    modelfile.save(to_network(SNN(cfg, seed=0)), folder / "c.snn")
    return folder / "c.snn"


def test_a_conv_network_is_attacked_through_its_twin(conv_file, tmp_path, run_cli):
    """The integer CNN and its float twin are attacked (issue 14: robust.twin builds conv and
    pooling layers); the same-size ANN, a multilayer perceptron, is refused before training."""
    out = tmp_path / "r"
    result = run_cli(MODULE, "--model", conv_file, "--ann-epochs", "0", "--attack", "fgsm",
                     "--eps", "0.1", "--output", out, *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "c.json").read_text())
    assert set(report["strongest"]) == {"snn_float", "snn_int"}


def test_a_conv_network_with_an_ann_is_refused(conv_file, tmp_path, run_cli, fails_cleanly):
    fails_cleanly(run_cli(MODULE, "--model", conv_file, "--data", "digits", "--output",
                          tmp_path / "r"),
                  "c.snn has convolution layers, but the same-size ANN of sw.attack is a "
                  "multilayer perceptron; give --ann-epochs 0 (and no --ann) to attack the "
                  "integer model and its float twin, which both run the convolutions",
                  absent=[tmp_path / "r" / "c.json"])
