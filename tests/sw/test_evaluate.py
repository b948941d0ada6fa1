"""sw.evaluate: golden-model accuracy, spike and synaptic-operation counts, float checkpoints."""

import json
import os
import stat

import numpy as np
import pytest
import torch

from core import golden, modelfile
from core.network import Conv, Layer, Network, max_pool
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
    assert evaluate.main(["--model", str(folder / "m.snn"), "--data", "digits",
                          "--samples", "50", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["images"] == 50 and "synops_per_inference" in data
    assert "integer golden-model accuracy" in capsys.readouterr().out
    # Written through a temporary file, with an ordinary file's mode (not mkstemp's 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["e.json"]


def test_cli_old_spellings_still_work(files, tmp_path, capsys):
    """--limit and --dataset (before issue 19) mean --samples and --data."""
    folder, _ = files
    out = tmp_path / "e.json"
    assert evaluate.main(["--model", str(folder / "m.snn"), "--dataset", "digits",
                          "--limit", "40", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["images"] == 40


def test_cli_more_samples_than_images_says_so(files, tmp_path, capsys):
    folder, _ = files
    assert evaluate.main(["--model", str(folder / "m.snn"), "--data", "digits",
                          "--samples", "5000", "--json", str(tmp_path / "e.json")]) == 0
    assert "the digits test set has 449 images; evaluated all of them, not 5000" in \
        capsys.readouterr().err


def test_cli_errors_name_the_problem(files, tmp_path, capsys):
    folder, _ = files
    with pytest.raises(SystemExit) as exit:
        evaluate.main(["--model", str(tmp_path / "none.snn"), "--data", "digits"])
    assert exit.value.code == 2
    assert "none.snn does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(["--model", str(tmp_path), "--data", "digits"])
    assert "is a folder; give a file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(["--model", str(folder / "m.snn"), "--limit", "-1"])
    assert "-1 is not a positive integer" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"x": 1}, bad)
    with pytest.raises(ValueError, match="not a checkpoint written by sw.train"):
        evaluate.float_accuracy(bad, np.zeros((1, 64), np.uint8), np.zeros(1))
    text = tmp_path / "text.pt"
    text.write_text("hello\n")
    with pytest.raises(ValueError, match="text.pt is not a PyTorch checkpoint"):
        evaluate.load_checkpoint(text)
    json_out = tmp_path / "out" / "e.json"
    assert evaluate.main(["--model", str(folder / "m.snn"), "--float", str(bad), "--data",
                          "digits", "--json", str(json_out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.pt is not a checkpoint written by sw.train" in err
    assert not json_out.parent.exists()


def test_checkpoint_of_another_network_is_refused(files, tmp_path):
    folder, _ = files
    cfg = SNNConfig(n_inputs=784, layers=[LayerSpec(10, reset="none")], timesteps=2)
    torch.save({"config": cfg.to_dict(), "state_dict": SNN(cfg).state_dict()}, tmp_path / "o.pt")
    with pytest.raises(ValueError, match="o.pt is a network of 784 inputs, but .*m.snn has 64"):
        evaluate.evaluate(folder / "m.snn", tmp_path / "o.pt", dataset="digits")


def test_golden_model_progress_is_quiet_off_a_terminal(files, capsys):
    """sw.options.progress: a bar on a terminal only, nothing in a log (capsys is no tty)."""
    folder, _ = files
    evaluate.evaluate(folder / "m.snn", dataset="digits")
    assert capsys.readouterr().err == ""


def test_statistics_of_a_conv_network_count_synops_per_event():
    rng = np.random.default_rng(0)
    net = Network([Layer(rng.integers(-3, 4, (3, 1, 3, 3)), threshold=20,
                         conv=Conv(1, 6, 6, 3, 3, 1, 1)),
                   max_pool(3, 6, 6, 2),
                   Layer(rng.integers(-3, 4, (4, 27)), threshold=3)],
                  timesteps=3, encoder="rate").validate()
    pixels = rng.integers(0, 256, (20, 36)).astype(np.uint8)
    stats = evaluate.statistics(net, pixels, np.zeros(20, np.int64), quiet=True)
    trace = golden.run(net, pixels)
    inputs = [golden.encode(net, pixels) != 0] + list(trace.spikes[:-1])

    def synapses(layer):  # (n_out, n_in): which neurons an input reaches, zero weights too
        if layer.conv is None:
            return np.ones((layer.n_out, layer.n_in), np.int64)
        return (Layer(np.ones_like(layer.weights), conv=layer.conv).dense_weights() != 0)
    want = [float((e.astype(np.int64) @ synapses(l).T.astype(np.int64)).sum()) / 20
            for e, l in zip(inputs, net.layers)]
    assert np.allclose(stats["synops_per_layer"], want) and want[1] > 0
