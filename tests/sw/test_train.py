"""sw.snn.train: the whole pipeline on the digits set (conversion, BPTT, QAT, pruning, timestep
reduction, export checked by the golden model, plots), the config and the CLI."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core import golden, modelfile
from cli import train as cli_train
from sw import snnrecipe
from sw.snn import train
from sw.data import DataError, load_digits

ROOT = Path(__file__).resolve().parents[2]


def tiny(**sections):
    over = {"data": {"dataset": "digits"}, "network": {"hidden": [32]},
            "ann": {"epochs": 3, "lr": 3e-3, "batch_size": 64},
            "train": {"epochs": 3, "batch_size": 64, "lr": 3e-3}}
    for section, values in sections.items():
        over.setdefault(section, {}).update(values)
    return snnrecipe.load_config(None, over)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """One run with every stage: conversion, QAT, pruning, IIR 4 -> 2 -> 1, two exports."""
    folder = tmp_path_factory.mktemp("train")
    config = tiny(train={"prune": 0.3, "prune_epoch": 1, "qat_start": 1, "shift": 1},
                  iir={"timesteps": [2, 1], "epochs": 2, "lr": 1e-3},
                  export={"also": [1], "name": "digits"})
    summary = train.run(config, folder / "d.snn", folder / "results", progress=False)
    return folder, summary


def test_pipeline_exports_files_that_the_golden_model_reproduces(pipeline):
    folder, summary = pipeline
    assert [e["timesteps"] for e in summary["exports"]] == [4, 1]
    digits = load_digits()
    for info in summary["exports"]:
        assert info["agreement"] == 1.0  # training model's quantized pass == golden model
        net = modelfile.load(info["path"])
        assert net.timesteps == info["timesteps"]
        acc = float((golden.predict(net, digits["test"].pixels) == digits["test"].labels).mean())
        assert acc == info["integer_accuracy"]
        assert acc > 0.5  # well above chance (0.1) after a few epochs, T=1 included
    assert (folder / "d_t1.snn").is_file()


def test_pipeline_stages_and_options(pipeline):
    folder, summary = pipeline
    stages = [h["stage"] for h in summary["history"]]
    assert stages == ["T=4"] * 3 + ["T=2"] * 2 + ["T=1"] * 2  # IIR: 4, then 2, then 1
    assert [h["quantized"] for h in summary["history"]][:3] == [False, True, True]  # qat_start
    net = modelfile.load(folder / "d.snn")
    assert net.layers[0].weight_bits == 4 and np.abs(net.layers[0].weights).max() <= 8
    assert (net.layers[0].weights == 0).mean() >= 0.3  # pruned
    assert all(layer.fire_once for layer in net.layers)
    assert net.encoder == "hybrid" and net.readout == "first_spike"


def test_pipeline_writes_plots_log_and_checkpoint(pipeline):
    folder, summary = pipeline
    for name in ("accuracy.png", "spikes.png", "raster.png", "summary.json"):
        assert (folder / "results" / name).stat().st_size > 1000
    data = json.loads((folder / "results" / "summary.json").read_text())
    assert data["exports"][0]["integer_accuracy"] == summary["exports"][0]["integer_accuracy"]
    state = torch.load(summary["exports"][0]["checkpoint"], weights_only=False)
    assert state["config"]["timesteps"] == 4


def test_timestep_reduction_starts_from_the_previous_stage(monkeypatch, tmp_path):
    starts = []
    real = train.train_snn

    def spy(model, config, x, y, epochs, lr, stage, *args, **kwargs):
        starts.append((stage, model.config.timesteps, model.weight[0].detach().clone()))
        out = real(model, config, x, y, epochs, lr, stage, *args, **kwargs)
        starts.append(("end", None, model.weight[0].detach().clone()))
        return out
    monkeypatch.setattr(train, "train_snn", spy)
    config = tiny(ann={"epochs": 0}, train={"epochs": 1}, iir={"timesteps": [3], "epochs": 1})
    train.run(config, tmp_path / "m.snn", tmp_path / "r", progress=False)
    assert [s[1] for s in starts] == [4, None, 3, None]
    assert torch.equal(starts[1][2], starts[2][2])  # T=3 starts where T=4 ended
    assert not torch.equal(starts[2][2], starts[3][2])


def test_iir_without_epochs_exports_the_previous_stage_at_fewer_steps(tmp_path):
    """``iir.epochs = 0``: the T=1 file is the T=4 file's network, weights, thresholds and
    leaks unchanged, run at one step (how ``models/mnist_cnn.snn`` is made)."""
    config = tiny(ann={"epochs": 1}, train={"epochs": 1},
                  iir={"timesteps": [1], "epochs": 0, "rebalance": False},
                  export={"timesteps": 1, "also": [4], "name": "digits"})
    summary = train.run(config, tmp_path / "m.snn", tmp_path / "r", progress=False)
    assert [e["timesteps"] for e in summary["exports"]] == [1, 4]
    one, four = modelfile.load(tmp_path / "m.snn"), modelfile.load(tmp_path / "m_t4.snn")
    assert (one.timesteps, four.timesteps) == (1, 4)
    assert len(summary["history"]) == 1              # the T=4 epoch only
    assert modelfile.dumps(dataclasses.replace(four, timesteps=1, name=one.name)) == \
        modelfile.dumps(one)


def test_rebalance_keeps_spike_counts_when_steps_shrink(tmp_path):
    config = tiny(ann={"epochs": 2}, train={"epochs": 1})
    digits = load_digits()
    model = snnrecipe.build_model(config, 64)
    x = digits["train"].pixels[:300]
    xt = torch.from_numpy(x)

    def count(T):
        with torch.no_grad():
            return float(model(xt, T).spikes[0].sum())
    before = count(4)
    assert count(1) < 0.7 * before  # one step: fewer spikes
    factors = train.rebalance(model, x, 4, 1)
    assert factors[0] < 1.0
    assert count(1) == pytest.approx(before, rel=0.1)


def test_conversion_initializes_from_the_ann(monkeypatch, tmp_path):
    seen = {}
    real = train.convert

    def spy(ann, model, x, percentile):
        seen["lambdas"] = real(ann, model, x, percentile)
        seen["theta"] = [model.threshold(k).item() for k in range(len(model.weight))]
        return seen["lambdas"]
    monkeypatch.setattr(train, "convert", spy)
    config = tiny(train={"epochs": 1})
    train.run(config, tmp_path / "m.snn", tmp_path / "r", progress=False)
    assert seen["theta"][0] == pytest.approx(seen["lambdas"][0], rel=1e-5)


@pytest.mark.parametrize("encoder,surrogate", [("direct", "stdb"), ("rate", "linear")])
def test_other_encoders_and_surrogates_train(tmp_path, encoder, surrogate):
    config = tiny(network={"encoder": encoder, "surrogate": surrogate, "neuron": "lif",
                           "timesteps": 3}, ann={"epochs": 0}, train={"epochs": 2})
    summary = train.run(config, tmp_path / "m.snn", tmp_path / "r", progress=False)
    net = modelfile.load(tmp_path / "m.snn")
    assert net.encoder == encoder and net.layers[0].neuron == "lif"
    assert summary["exports"][0]["agreement"] == 1.0
    assert summary["exports"][0]["integer_accuracy"] > 0.2


def test_augment_shifts_images():
    x = torch.zeros(2, 16, dtype=torch.uint8)
    x[:, 5] = 200  # pixel (1, 1) of a 4x4 image
    gen = torch.Generator().manual_seed(0)
    y = train.augment(x, 1, gen)
    assert y.sum(1).tolist() == [200, 200]  # moved, not lost (away from the border)
    assert torch.equal(train.augment(x, 0, gen), x)
    table = train.shift_table(4, 1)
    assert table.shape == (9, 16)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown recipe key 'network.hiden'"):
        snnrecipe.load_config(None, {"network": {"hiden": [1]}})
    with pytest.raises(ValueError, match="recipe key train.epochs is 'ten'; it must be an integer"):
        snnrecipe.load_config(None, {"train": {"epochs": "ten"}})
    with pytest.raises(ValueError, match="recipe key network.fire_once is 1; it must be true or"):
        snnrecipe.load_config(None, {"network": {"fire_once": 1}})
    snnrecipe.load_config(None, {"ann": {"percentile": 60}})  # an integer is a number
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ValueError, match="bad.toml is not valid TOML"):
        snnrecipe.load_config(bad)


@pytest.mark.parametrize("over,message", [
    ({"train": {"epochs": 0}}, "train.epochs is 0; it must be 1 or more"),
    ({"data": {"subset": -1}}, "data.subset is -1"),
    ({"iir": {"timesteps": [2], "epochs": -1}}, "iir.epochs is -1; it must be 0 or more"),
    ({"train": {"lr": 0.0}}, "train.lr is 0.0; it must be above 0"),
    ({"train": {"prune": 1.0}}, "train.prune is 1.0"),
    ({"data": {"dataset": "cifar"}}, "data.dataset is 'cifar'"),
    ({"data": {"source": "/nowhere"}}, "data.source /nowhere is not a folder"),
    ({"iir": {"timesteps": [0]}}, "timesteps 0 in network.timesteps/iir.timesteps"),
    ({"network": {"encoder": "fancy"}}, "encoder is 'fancy'"),
    ({"export": {"also": [2]}}, "add it to iir.timesteps"),
])
def test_recipe_is_checked_before_training(monkeypatch, tmp_path, over, message):
    """run() refuses a recipe that would fail, or export an untrained network, before it
    loads any data or trains (issue 19: --epochs 0 exported a 54.6 % model)."""
    monkeypatch.setattr(train, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(ValueError, match=re.escape(message)):
        train.run(tiny(**over), tmp_path / "m.snn", tmp_path / "r", progress=False)
    assert not (tmp_path / "m.snn").exists()


def test_outputs_are_checked_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(train, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    (tmp_path / "m_t1.snn").mkdir()  # the second export's name is taken by a folder
    with pytest.raises(ValueError, match="cannot write .*m_t1.snn: it is a folder"):
        train.run(tiny(iir={"timesteps": [1]}, export={"also": [1]}), tmp_path / "m.snn",
                  tmp_path / "r", progress=False)
    assert snnrecipe.export_paths(tiny(export={"also": [1, 2]}), "a/m.snn") == [
        (4, Path("a/m.snn")), (1, Path("a/m_t1.snn")), (2, Path("a/m_t2.snn"))]


def test_cli_reads_recipe_and_overrides(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\ndataset = "digits"\n[network]\nhidden = [16]\n'
                   '[ann]\nepochs = 0\n[train]\nepochs = 1\n')
    out = tmp_path / "m.snn"
    rc = cli_train.main(["--recipe", str(cfg), "--output", str(out), "--results",
                     str(tmp_path / "r"), "--set", "network.timesteps=2", "--set",
                     "network.encoder=direct", "--samples", "200", "--quiet"])
    assert rc == 0
    net = modelfile.load(out)
    assert net.sizes == [64, 16, 10] and net.timesteps == 2 and net.encoder == "direct"
    log = (tmp_path / "r" / "train.log").read_text()
    assert log.count("exported") == 1 and "200 training images" in log
    with pytest.raises(SystemExit):
        cli_train.main(["--set", "nonsense", "--quiet"])  # argparse: "write SECTION.KEY=VALUE"


def test_cli_old_spellings_still_work(tmp_path):
    """--config (now --recipe), --subset (now --samples) and --dataset (now --data)."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[network]\nhidden = [16]\n[ann]\nepochs = 0\n[train]\nepochs = 1\n')
    out = tmp_path / "m.snn"
    assert cli_train.main(["--config", str(cfg), "--dataset", "digits", "--subset", "100",
                       "--output", str(out), "--results", str(tmp_path / "r"), "--quiet"]) == 0
    assert modelfile.load(out).sizes == [64, 16, 10]
    assert "100 training images" in (tmp_path / "r" / "train.log").read_text()


def test_cli_data_source(monkeypatch, tmp_path, capsys):
    """--data NAME sets the set and clears the recipe's folder; --data FOLDER is MNIST from
    that folder; --dataset alone keeps the recipe's folder."""
    seen = []

    def stop(config, *args, **kwargs):
        seen.append((config["data"]["dataset"], config["data"]["source"]))
        raise ValueError("stop")
    monkeypatch.setattr(cli_train, "run", stop)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\nsource = "{tmp_path}"\n')
    common = ["--recipe", str(cfg), "--output", str(tmp_path / "m.snn"), "--results",
              str(tmp_path / "r")]
    for args in (["--data", "digits"], ["--data", str(tmp_path)], ["--dataset", "mnist"], []):
        assert cli_train.main(common + args) == 1
    assert seen == [("digits", ""), ("mnist", str(tmp_path)), ("mnist", str(tmp_path)),
                    ("mnist", str(tmp_path))]
    assert capsys.readouterr().err.count("python -m sw.train: error: stop") == 4


def test_cli_error_after_start_is_one_line(monkeypatch, tmp_path, capsys):
    """An error during the run: one line on stderr (the log file keeps it too)."""
    def broken(*args, **kwargs):
        raise DataError("MNIST is not in data/; run 'python -m sw.data --download'")
    monkeypatch.setattr(train, "load_dataset", broken)
    out = tmp_path / "m.snn"
    rc = cli_train.main(["--output", str(out), "--results", str(tmp_path / "r"), "--quiet"])
    assert rc == 1 and not out.exists()
    err = capsys.readouterr().err.splitlines()
    assert err == ["python -m sw.train: error: MNIST is not in data/; run 'python -m sw.data "
                   "--download'"]
    assert "MNIST is not in data/" in (tmp_path / "r" / "train.log").read_text()


def test_progress_is_quiet_off_a_terminal(capsys):
    """sw.options.progress: bars on a terminal only, nothing in logs (capsys is no tty)."""
    digits = load_digits()
    config = tiny(ann={"epochs": 1}, train={"epochs": 1})
    model = snnrecipe.build_model(config, 64)
    x, y = digits["train"].pixels[:128], digits["train"].labels[:128]
    train.train_ann(config, x, y, progress=True)
    train.train_snn(model, config, x, y, 1, 3e-3, "T=4", [], progress=True)
    assert capsys.readouterr().err == ""


def test_ema_ends_the_stage_with_the_average(monkeypatch):
    """train.ema: the stage ends with the running average of the parameters, not the last step."""
    digits = load_digits()
    x, y = digits["train"].pixels[:256], digits["train"].labels[:256]
    steps = []
    real_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        steps.append(self.param_groups[0]["params"][0].detach().clone())
        return out
    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    config = tiny(ann={"epochs": 0}, train={"epochs": 1, "ema": 0.5})
    torch.manual_seed(0)
    model = snnrecipe.build_model(config, 64)
    start = model.weight[0].detach().clone()
    train.train_snn(model, config, x, y, 1, 3e-3, "T=4", [], progress=False)
    want = start
    for w in steps:
        want = 0.5 * want + 0.5 * w
    assert len(steps) == 4
    assert torch.allclose(model.weight[0].detach(), want)
    assert not torch.allclose(model.weight[0].detach(), steps[-1])


def test_distillation_trains_a_teacher_and_uses_it(monkeypatch, tmp_path):
    """distill.weight > 0: a float teacher is trained first and every SNN batch adds the
    distillation term computed from the teacher's logits on the same (augmented) images."""
    from sw.snn import loss as loss_module
    calls = []
    real = loss_module.distillation_loss

    def spy(out, teacher_logits, *args):
        calls.append(teacher_logits.shape)
        return real(out, teacher_logits, *args)
    monkeypatch.setattr(train, "distillation_loss", spy)
    config = tiny(ann={"epochs": 0}, train={"epochs": 1, "shift": 1},
                  distill={"weight": 1.0, "hidden": [16], "epochs": 1})
    digits = load_digits()
    x, y = digits["train"].pixels, digits["train"].labels
    teacher = train.train_teacher(config, x, y, progress=False)
    assert not teacher.training
    model = snnrecipe.build_model(config, 64)
    train.train_snn(model, config, x[:128], y[:128], 1, 3e-3, "T=4", [], progress=False,
                    teacher=teacher)
    assert calls == [torch.Size([64, 10])] * 2
    calls.clear()
    train.train_snn(model, config, x[:128], y[:128], 1, 3e-3, "T=4", [], progress=False)
    assert calls == []  # no teacher, no distillation term


def test_a_cnn_teacher_from_layer_entries():
    """distill.hidden with network.hidden's layer entries: the teacher is the ReLU CNN of those
    layers on network.input_shape, trained like the MLP teacher; integers keep the MLP."""
    config = tiny(network={"hidden": ["conv 4 3x3"], "input_shape": [1, 8, 8]},
                  distill={"weight": 1.0, "hidden": ["conv 8 3x3 pad 1", "pool 2", 16],
                           "epochs": 1})
    snnrecipe.check_config(config)
    net = snnrecipe.teacher_network(config, 64)
    assert [type(l).__name__ for l in net.layers] == ["Conv2d", "MaxPool2d", "Linear", "Linear"]
    assert net.layers[0].out_channels == 8 and net.layers[2].in_features == 8 * 4 * 4
    digits = load_digits()
    x, y = digits["train"].pixels[:512], digits["train"].labels[:512]
    before = net.layers[0].weight.detach().clone()
    teacher = train.train_teacher(config, x, y, progress=False)
    assert not teacher.training and teacher(torch.zeros(3, 64)).shape == (3, 10)
    assert not torch.allclose(teacher.layers[0].weight, before)   # trained
    mlp = snnrecipe.teacher_network(tiny(distill={"hidden": [16]}), 64)
    assert [type(l).__name__ for l in mlp] == ["Linear", "ReLU", "Dropout", "Linear"]


@pytest.mark.parametrize("hidden, message", [
    (["conv 8 9x9"], "distill.hidden: layers[0].kernel is 9; it must be in 1 .. 7"),
    ([16, "pool 3"], "distill.hidden: layers[1] is a pool layer after a dense layer; conv and "
                     "pool layers come before the dense layers"),
    ([0], "distill.hidden is [0]; give layer sizes (integers 1 or more) or layer entries as in "
          "network.hidden"),
])
def test_a_bad_teacher_is_refused_before_training(hidden, message):
    config = tiny(network={"hidden": ["conv 4 3x3"], "input_shape": [1, 8, 8]},
                  distill={"weight": 1.0, "hidden": hidden})
    with pytest.raises(ValueError, match=re.escape(message)):
        snnrecipe.check_config(config)
    snnrecipe.check_config(tiny(network={"hidden": ["conv 4 3x3"], "input_shape": [1, 8, 8]},
                            distill={"weight": 0.0, "hidden": hidden}))   # no teacher: unused


# -- convolutional networks (issue 14) ----------------------------------------------------------

def test_parse_layer_entries():
    assert snnrecipe.parse_layer(128) == {"kind": "dense", "n_out": 128}
    assert snnrecipe.parse_layer("conv 16 5x5 pad 2") == {"kind": "conv", "n_out": 16, "kernel": 5,
                                                     "padding": 2}
    assert snnrecipe.parse_layer("Conv 8 3x3 stride 2 pad 1") == {
        "kind": "conv", "n_out": 8, "kernel": 3, "stride": 2, "padding": 1}
    assert snnrecipe.parse_layer("pool 2") == {"kind": "pool", "n_out": 0, "kernel": 2}
    assert snnrecipe.parse_layer("pool 3 stride 2")["stride"] == 2
    for bad in ("conv 16 5x3", "conv 16", "pool", "pool 2 pad 1", "conv 8 3x3 pad", "dense 4",
                "conv 8 3x3 pad 1 pad 1", "conv x 3x3", 2.5, True, "pool 2 stride 0"):
        with pytest.raises(ValueError, match=r"network.hidden entry .*(write|stride must)"):
            snnrecipe.parse_layer(bad)


@pytest.mark.parametrize("over,message", [
    ({"network": {"hidden": ["conv 4 3x3", "pool 2", "conv 4 5x5"]}},
     "[network]: layers[2]: a 5x5 conv does not fit the 3x3 map"),
    ({"network": {"hidden": [16, "pool 2"]}}, "[network]: layers[1] is a pool layer after a dense"),
    ({"network": {"hidden": ["conv 4 3x3"], "input_shape": [2, 8, 8]}},
     "input_shape (2, 8, 8) holds 128 pixels, but n_inputs is 64"),
    ({"network": {"hidden": ["conv 4 3x3"]}, "prune": {"sparsity": 0.5}},
     "[prune] (STDP pairings per synapse) takes dense networks only"),
    ({"network": {"hidden": ["conv 4 9x9"]}}, "kernel is 9; it must be in 1 .. 7"),
])
def test_conv_recipe_is_checked_before_training(monkeypatch, tmp_path, over, message):
    monkeypatch.setattr(train, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(ValueError, match=re.escape(message)):
        train.run(tiny(**over), tmp_path / "m.snn", tmp_path / "r", progress=False)


def test_the_cifar10_recipe_is_checked_with_cifar10_images(tmp_path):
    """configs/cifar10_vgg.toml passes the checks made before any data is read (its network
    takes CIFAR-10's 3,072 pixels, not MNIST's 784), and the same network on MNIST does not."""
    config = snnrecipe.load_config(ROOT / "configs" / "cifar10_vgg.toml")
    snnrecipe.check_config(config, tmp_path / "c.snn")
    assert snnrecipe.build_model(config, 3072).shapes[-1] == (10,)
    config["data"]["dataset"] = "mnist"
    with pytest.raises(ValueError, match=re.escape("input_shape (3, 32, 32) holds 3072 pixels, "
                                                   "but n_inputs is 784")):
        snnrecipe.check_config(config)


def test_conv_pipeline_exports_what_the_golden_model_reproduces(tmp_path):
    """conv -> pool -> dense on the digits as 1 x 8 x 8 images: ANN (CNN) conversion, QAT,
    timestep reduction 4 -> 2 (the pooling layer keeps threshold 1), export of both stages,
    golden model == training model on every test image."""
    config = tiny(network={"hidden": ["conv 6 3x3 pad 1", "pool 2", 24],
                           "input_shape": [1, 8, 8]},
                  ann={"epochs": 2}, train={"epochs": 2, "qat_start": 1},
                  iir={"timesteps": [2], "epochs": 1, "lr": 1e-3},
                  export={"also": [2], "name": "digits-cnn"})
    summary = train.run(config, tmp_path / "c.snn", tmp_path / "r", progress=False)
    assert [e["timesteps"] for e in summary["exports"]] == [4, 2]
    for info in summary["exports"]:
        assert info["agreement"] == 1.0
        assert info["integer_accuracy"] > 0.5
    net = modelfile.load(tmp_path / "c.snn")
    assert [l.conv is not None for l in net.layers] == [True, True, False, False]
    assert net.layers[0].weights.shape == (6, 1, 3, 3)
    assert net.layers[1].threshold == 1 and net.layers[1].conv.groups == 6
    assert net.sizes == [64, 384, 96, 24, 10]
    # The per-epoch checkpoint (the T = 2 stage's last epoch) exports to the same network.
    again = tmp_path / "again.snn"
    assert cli_train.main(["--from-checkpoint", str(tmp_path / "r" / "last.pt"), "--data", "digits",
                       "--output", str(again), "--quiet"]) == 0
    assert modelfile.load(again).layers == modelfile.load(tmp_path / "c_t2.snn").layers


def test_resume_starts_from_a_checkpoint(monkeypatch, tmp_path):
    """train.init (--resume): the weights, thresholds and leaks of a checkpoint instead of ANN
    conversion; a checkpoint of another network is refused."""
    first = tiny(network={"hidden": [16]}, ann={"epochs": 0}, train={"epochs": 1})
    train.run(first, tmp_path / "a.snn", tmp_path / "r1", progress=False)
    ckpt = tmp_path / "r1" / "last.pt"
    saved = torch.load(ckpt, weights_only=False)["state_dict"]
    seen = {}

    def no_training(model, *args, **kwargs):
        seen.update({k: v.clone() for k, v in model.state_dict().items()})
        return model
    monkeypatch.setattr(train, "train_snn", no_training)
    monkeypatch.setattr(train, "train_ann", lambda *a, **k: pytest.fail("ANN trained"))
    again = tiny(network={"hidden": [16]}, train={"epochs": 1, "init": str(ckpt)})
    train.run(again, tmp_path / "b.snn", tmp_path / "r2", progress=False)
    assert all(torch.equal(seen[k], saved[k]) for k in saved)
    assert modelfile.load(tmp_path / "b.snn") == modelfile.load(tmp_path / "a.snn")
    with pytest.raises(ValueError, match="holds another network"):
        train.run(tiny(network={"hidden": [8]}, train={"init": str(ckpt)}), tmp_path / "c.snn",
                  tmp_path / "r3", progress=False)
    with pytest.raises(ValueError, match="train.init /nowhere.pt is not a file"):
        train.run(tiny(train={"init": "/nowhere.pt"}), tmp_path / "c.snn", tmp_path / "r3",
                  progress=False)
