"""sw.evaluate: golden-model accuracy, spike and synaptic-operation counts, float checkpoints."""

import json

import numpy as np
import pytest
import torch

from core import golden, modelfile
from core.network import Layer, Network
from sw import evaluate
from sw.data import load_digits
from sw.snn import SNN, LayerSpec, SNNConfig, to_network


def test_statistics_count_events_spikes_and_synops():
    # 2 inputs -> 3 hidden -> 2 outputs, direct coding, T=2; every hidden neuron fires at t=0.
    net = Network([Layer(np.array([[1, 0], [1, 1], [0, 1]]), threshold=1, fire_once=True),
                   Layer(np.array([[1, 1, 1], [-1, -1, -1]]), threshold=100, reset="none")],
                  timesteps=2, encoder="direct").validate()
    pixels = np.array([[5, 7], [0, 9]], np.uint8)
    stats = evaluate.statistics(net, pixels, np.array([0, 1]))
    trace = golden.run(net, pixels)
    assert stats["integer_accuracy"] == float((trace.prediction == [0, 1]).mean())
    # input events: image 0 has 2 nonzero pixels x 2 steps, image 1 has 1 x 2 -> 3 per image
    assert stats["input_events_per_inference"] == 3.0
    hidden = trace.spikes[0].sum().item() / 2
    assert stats["spikes_per_layer"][0] == hidden
    assert stats["synops_per_inference"] == 3.0 * 3 + hidden * 2
    assert stats["ann_macs_per_inference"] == 2 * 3 + 3 * 2


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ev")
    cfg = SNNConfig(n_inputs=64, layers=[LayerSpec(16, threshold=0.3), LayerSpec(10, reset="none")],
                    timesteps=3, weight_bits=4)
    model = SNN(cfg, seed=0)
    modelfile.save(to_network(model), folder / "m.snn")
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, folder / "m.pt")
    return folder, model


def test_evaluate_reports_integer_and_float_accuracy(files):
    folder, model = files
    result = evaluate.evaluate(folder / "m.snn", folder / "m.pt", dataset="digits")
    test = load_digits()["test"]
    net = modelfile.load(folder / "m.snn")
    assert result["integer_accuracy"] == float((golden.predict(net, test.pixels)
                                                == test.labels).mean())
    assert result["quantized_training_model_accuracy"] == result["integer_accuracy"]
    model.quantized = False
    assert result["float_accuracy"] == float((model.predict(test.pixels) == test.labels).mean())
    assert result["timesteps"] == 3 and result["sizes"] == [64, 16, 10]


def test_cli_writes_json(files, tmp_path, capsys):
    folder, _ = files
    out = tmp_path / "e.json"
    assert evaluate.main(["--model", str(folder / "m.snn"), "--dataset", "digits",
                          "--limit", "50", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["images"] == 50 and "synops_per_inference" in data
    assert "integer golden-model accuracy" in capsys.readouterr().out


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert evaluate.main(["--model", str(tmp_path / "none.snn"), "--dataset", "digits"]) == 1
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"x": 1}, bad)
    with pytest.raises(ValueError, match="not a checkpoint written by sw.train"):
        evaluate.float_accuracy(bad, np.zeros((1, 64), np.uint8), np.zeros(1))
