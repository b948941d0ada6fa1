"""Issue 19, the model tools (sw.evaluate, sw.train, sw.data) and the ``snn-accel`` dispatcher:
every bad argument or bad file fails with one line on standard error that names the problem, a
non-zero status, no traceback, and nothing left behind, before any training or evaluation.

Each row of :data:`TABLE` is ``pytest.param(module, args, words, absent, id=...)``: the command
``python -m MODULE ARGS...`` is run in a fresh temporary folder, ``words`` must all be in its one
line on standard error, and the paths ``absent`` must not exist afterwards. In ``args`` and
``absent``, ``{tmp}`` is that folder and ``{root}`` the repository; the folder holds
``file.txt`` (a text file), ``folder/`` (an empty folder), ``dict.pt`` (a PyTorch file that is
no checkpoint of sw.train) and the recipes ``bad.toml`` (not TOML) and ``type.toml`` (a string
where an integer belongs). None of the rows needs MNIST: they all fail before any data is read.
"""

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from core.modelfile import dumps
from core.network import Conv, Layer, Network

ROOT = Path(__file__).resolve().parents[2]

MODEL = "{root}/models/mnist.snn"
# sw.train's products, all under one folder that must not appear.
TRAIN_OUT = ["--output", "{tmp}/out/m.snn", "--results", "{tmp}/out/results"]
EVAL_JSON = ["--json", "{tmp}/out/e.json"]
OUT = ["{tmp}/out"]

TABLE = [
    # sw.evaluate: the model file
    pytest.param("sw.evaluate", ["--model", "{tmp}/folder", *EVAL_JSON],
                 ["--model", "folder is a folder; give a file"], OUT, id="evaluate-model-folder"),
    pytest.param("sw.evaluate", ["--model", "{tmp}/none.snn", *EVAL_JSON],
                 ["--model", "none.snn does not exist"], OUT, id="evaluate-model-missing"),
    pytest.param("sw.evaluate", ["--model", "{tmp}/file.txt", *EVAL_JSON],
                 ["file.txt", "not an .snn model file"], OUT, id="evaluate-model-not-snn"),
    pytest.param("sw.evaluate", [*EVAL_JSON], ["--model", "required"], OUT,
                 id="evaluate-model-required"),
    # sw.evaluate: how many images
    pytest.param("sw.evaluate", ["--model", MODEL, "--limit", "-1", *EVAL_JSON],
                 ["--samples/--limit", "-1 is not a positive integer"], OUT,
                 id="evaluate-limit-negative"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--samples", "0", *EVAL_JSON],
                 ["--samples", "0 is not a positive integer"], OUT, id="evaluate-samples-zero"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--samples", "ten", *EVAL_JSON],
                 ["'ten' is not an integer"], OUT, id="evaluate-samples-word"),
    # sw.evaluate: the JSON report, checked before the golden model runs
    pytest.param("sw.evaluate", ["--model", MODEL, "--json", "/proc/snn-accel/e.json"],
                 ["--json", "cannot write /proc/snn-accel/e.json"], ["/proc/snn-accel"],
                 id="evaluate-json-proc"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--json", "{tmp}/folder"],
                 ["--json", "it is a folder"], [], id="evaluate-json-folder"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--json", "{tmp}/file.txt/e.json"],
                 ["--json", "cannot write", "file.txt/e.json"], [],
                 id="evaluate-json-under-file"),
    # sw.evaluate: the data source
    pytest.param("sw.evaluate", ["--model", MODEL, "--data", "nowhere", *EVAL_JSON],
                 ["--data", "nowhere is neither a data set (mnist, digits)"], OUT,
                 id="evaluate-data-missing"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--data", "random", *EVAL_JSON],
                 ["--data", "random images have no labels"], OUT, id="evaluate-data-random"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--data", "{tmp}/file.txt", *EVAL_JSON],
                 ["--data", "file.txt is a file"], OUT, id="evaluate-data-file"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--data", "mnist", "--dataset", "digits",
                                 *EVAL_JSON],
                 ["--data mnist and --dataset digits disagree"], OUT,
                 id="evaluate-data-dataset-disagree"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--dataset", "cifar", *EVAL_JSON],
                 ["--dataset", "invalid choice: 'cifar'", "mnist", "digits"], OUT,
                 id="evaluate-dataset-unknown"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--data", "digits", *EVAL_JSON],
                 ["mnist.snn has 784 inputs but the digits images have 64 pixels"], OUT,
                 id="evaluate-model-wrong-data"),
    # sw.evaluate: the float checkpoint, refused before any data is read
    pytest.param("sw.evaluate", ["--model", MODEL, "--float", "{tmp}/file.txt", *EVAL_JSON],
                 ["file.txt is not a PyTorch checkpoint"], OUT, id="evaluate-float-text"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--float", "{tmp}/dict.pt", *EVAL_JSON],
                 ["dict.pt is not a checkpoint written by sw.train"], OUT,
                 id="evaluate-float-not-sw-train"),
    pytest.param("sw.evaluate", ["--model", MODEL, "--float", "{tmp}/folder", *EVAL_JSON],
                 ["--float", "is a folder"], OUT, id="evaluate-float-folder"),

    # sw.train: counts, refused before any training
    pytest.param("sw.train", ["--epochs", "0", *TRAIN_OUT],
                 ["--epochs", "0 is not a positive integer"], OUT, id="train-epochs-zero"),
    pytest.param("sw.train", ["--iir-epochs", "-1", *TRAIN_OUT],
                 ["--iir-epochs", "-1 is negative"], OUT, id="train-iir-epochs-negative"),
    pytest.param("sw.train", ["--ann-epochs", "-1", *TRAIN_OUT],
                 ["--ann-epochs", "-1 is negative"], OUT, id="train-ann-epochs-negative"),
    pytest.param("sw.train", ["--subset", "0", *TRAIN_OUT],
                 ["--samples/--subset", "0 is not a positive integer"], OUT,
                 id="train-subset-zero"),
    pytest.param("sw.train", ["--samples", "-5", *TRAIN_OUT],
                 ["--samples", "-5 is not a positive integer"], OUT, id="train-samples-negative"),
    # sw.train: the recipe
    pytest.param("sw.train", ["--recipe", "{tmp}/none.toml", *TRAIN_OUT],
                 ["--recipe/--config", "none.toml does not exist"], OUT,
                 id="train-recipe-missing"),
    pytest.param("sw.train", ["--config", "{tmp}/folder", *TRAIN_OUT],
                 ["--recipe/--config", "folder is a folder"], OUT, id="train-config-folder"),
    pytest.param("sw.train", ["--recipe", "{tmp}/bad.toml", *TRAIN_OUT],
                 ["bad.toml is not valid TOML", "line 1"], OUT, id="train-recipe-not-toml"),
    pytest.param("sw.train", ["--recipe", "{tmp}/type.toml", *TRAIN_OUT],
                 ["type.toml", "train.epochs is 'ten'; it must be an integer"], OUT,
                 id="train-recipe-wrong-type"),
    pytest.param("sw.train", ["--set", "train.epochs=0", *TRAIN_OUT],
                 ["train.epochs is 0", "untrained"], OUT, id="train-set-epochs-zero"),
    pytest.param("sw.train", ["--set", "nonsense", *TRAIN_OUT],
                 ["--set 'nonsense'", "SECTION.KEY=VALUE"], OUT, id="train-set-syntax"),
    pytest.param("sw.train", ["--set", "netwrk.hidden=[128]", *TRAIN_OUT],
                 ["unknown recipe key 'netwrk'", "network"], OUT, id="train-set-unknown-key"),
    pytest.param("sw.train", ["--set", "network.hidden=128", *TRAIN_OUT],
                 ["network.hidden is 128; it must be a list"], OUT, id="train-set-wrong-type"),
    pytest.param("sw.train", ["--set", "network.encoder=fancy", *TRAIN_OUT],
                 ["[network]", "encoder is 'fancy'", "hybrid"], OUT,
                 id="train-set-unknown-encoder"),
    pytest.param("sw.train", ["--set", "data.dataset=cifar", *TRAIN_OUT],
                 ["data.dataset is 'cifar'", "mnist, digits"], OUT, id="train-set-dataset"),
    pytest.param("sw.train", ["--set", "export.also=[2]", *TRAIN_OUT],
                 ["T=2", "add it to iir.timesteps"], OUT, id="train-export-untrained-stage"),
    # sw.train: the outputs, checked before training (issue 19: it failed after training)
    pytest.param("sw.train", ["--output", "/proc/snn-accel/m.snn", "--results",
                              "{tmp}/out/results"],
                 ["--output", "cannot write /proc/snn-accel/m.snn"], OUT,
                 id="train-output-proc"),
    pytest.param("sw.train", ["--output", "{tmp}/folder", "--results", "{tmp}/out/results"],
                 ["--output", "it is a folder"], OUT, id="train-output-folder"),
    pytest.param("sw.train", ["--output", "{tmp}/file.txt/m.snn", "--results",
                              "{tmp}/out/results"],
                 ["--output", "cannot write", "file.txt/m.snn"], OUT,
                 id="train-output-under-file"),
    pytest.param("sw.train", ["--output", "{tmp}/out/m.snn", "--results", "{tmp}/file.txt"],
                 ["--results", "file.txt: it is a file, not a folder"], OUT,
                 id="train-results-file"),
    pytest.param("sw.train", ["--output", "{tmp}/out/m.snn", "--results", "/proc/snn-accel"],
                 ["--results", "cannot write into /proc/snn-accel"], OUT,
                 id="train-results-proc"),
    # sw.train: the data source
    pytest.param("sw.train", ["--data", "nowhere", *TRAIN_OUT],
                 ["--data", "nowhere is neither a data set"], OUT, id="train-data-missing"),
    pytest.param("sw.train", ["--data", "{tmp}/folder", "--dataset", "digits", *TRAIN_OUT],
                 ["folder of MNIST IDX files", "--dataset is digits"], OUT,
                 id="train-data-folder-with-digits"),

    # sw.data
    pytest.param("sw.data", ["--data", "nowhere"], ["--data", "nowhere is neither"], [],
                 id="data-missing"),
    pytest.param("sw.data", ["--data", "{tmp}/folder"],
                 ["folder has no train-images-idx3-ubyte", "MNIST IDX files"], [],
                 id="data-empty-folder"),
    pytest.param("sw.data", ["--limit", "3"], ["unrecognized arguments: --limit 3"], [],
                 id="data-unknown-option"),

    # model files whose convolution geometry is bad: the field is named, whichever tool reads
    # it (issue 14)
    pytest.param("sw.evaluate", ["--model", "{tmp}/kernel.snn", *EVAL_JSON],
                 ["kernel.snn", "layers[0].conv.kernel is 9; it must be in 1 .. 7"], OUT,
                 id="evaluate-conv-kernel"),
    pytest.param("sw.evaluate", ["--model", "{tmp}/padding.snn", *EVAL_JSON],
                 ["layers[0].conv.padding is 3; it must be in 0 .. 2 (a padding of a whole "
                  "kernel adds outputs that see only zeros)"], OUT, id="evaluate-conv-padding"),
    pytest.param("sw.perf", ["--model", "{tmp}/stride.snn", "--json", "{tmp}/out/p.json"],
                 ["layers[0].conv.stride is 0; it must be in 1 .. 3 (a stride past the kernel "
                  "skips inputs)"], OUT, id="perf-conv-stride"),
    pytest.param("sw.demo", ["--model", "{tmp}/groups.snn"],
                 ["layers[0].conv.groups is 2; it must be 1 (a full convolution) or "
                  "in_channels = out_channels = groups"], [], id="demo-conv-groups"),
    pytest.param("sw.evaluate", ["--model", "{tmp}/width.snn", *EVAL_JSON],
                 ["layers[0].conv.kernel is 3, larger than the padded width 2 (width 2 + 2 x "
                  "padding 0), so the output map is empty"], OUT, id="evaluate-conv-empty-map"),

    # snn-accel
    pytest.param("cli.main", ["frobnicate"],
                 ["unknown command 'frobnicate'", "demo, cosim", "evaluate, train, data"], [],
                 id="snn-accel-unknown-command"),
    pytest.param("cli.main", ["trian"], ["did you mean 'train'?"], [],
                 id="snn-accel-misspelt-command"),
    pytest.param("cli.main", ["evaluate", "--model", MODEL, "--limit", "-1", *EVAL_JSON],
                 ["-1 is not a positive integer"], OUT, id="snn-accel-evaluate-limit"),
    pytest.param("cli.main", ["train", "--epochs", "0", *TRAIN_OUT],
                 ["--epochs", "0 is not a positive integer"], OUT, id="snn-accel-train-epochs"),
]


def _conv_file(path, **geometry):
    """A conv model file (2 x 5 x 5 -> conv 3 3x3 -> dense 2) whose header's geometry of
    layers[0] is changed to ``geometry``, with a valid checksum, so that the loader reaches
    the field check."""
    c = Conv(2, 5, 5, 3, kernel=3)
    network = Network([Layer(np.ones(c.weight_shape, np.int8), conv=c),
                       Layer(np.ones((2, c.n_out), np.int8))])
    data = dumps(network)
    (length,) = struct.unpack_from("<I", data, 12)
    header, payload = json.loads(data[16:16 + length]), data[16 + length:-4]
    header["layers"][0]["conv"].update(geometry)
    text = json.dumps(header).encode()
    body = struct.pack("<8sII", b"SNNMODEL", 3, len(text)) + text + payload
    path.write_bytes(body + struct.pack("<I", zlib.crc32(body)))


def _setup(folder):
    """The files the rows refer to, in the run's folder."""
    (folder / "file.txt").write_text("not a model, not a checkpoint, not a folder\n")
    _conv_file(folder / "kernel.snn", kernel=9)
    _conv_file(folder / "padding.snn", padding=3)
    _conv_file(folder / "stride.snn", stride=0)
    _conv_file(folder / "groups.snn", groups=2)
    _conv_file(folder / "width.snn", width=2)
    (folder / "folder").mkdir()
    torch.save({"x": 1}, folder / "dict.pt")
    (folder / "bad.toml").write_text("[train\nepochs = 1\n")
    (folder / "type.toml").write_text('[train]\nepochs = "ten"\n')


@pytest.mark.parametrize("module,args,words,absent", TABLE)
def test_bad_input_fails_cleanly(tmp_path, run_cli, fails_cleanly, module, args, words, absent):
    _setup(tmp_path)

    def place(text):
        return text.format(tmp=tmp_path, root=ROOT)
    result = run_cli(module, *map(place, args), cwd=tmp_path, timeout=300)
    fails_cleanly(result, *words, absent=[place(path) for path in absent])
    # The default outputs (models/, results/ in the working folder) are not made either.
    assert not (tmp_path / "results").exists() and not (tmp_path / "models").exists()
