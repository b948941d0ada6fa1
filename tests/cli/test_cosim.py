"""``python -m sw.cosim`` (cli.cosim): arguments, reporting, and random networks in Verilator."""

import re
import subprocess
import sys

import numpy as np
import pytest

from cli import cosim
from core import modelfile
from core.config import resolve
from core.randnet import random_pixels
from sim.cosim import rate_text, run_cosim
from sim.designs import random_fitting_network
from core.network import Layer, Network
from sim import toolchain

SUMMARY = re.compile(r"^cosim: (\d+) inferences, (\d+) mismatches, (\d+) cycles/inference "
                     r"median$")


def _cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "sw.cosim", *args], capture_output=True,
                          text=True, timeout=timeout)


def _model(tmp_path, inputs=5):
    net = Network([Layer(np.ones((3, inputs), np.int64), 2, 10)], timesteps=2)
    modelfile.save(net, tmp_path / "m.snn")
    return str(tmp_path / "m.snn")


class TestArguments:
    def test_needs_model_or_random(self, capsys):
        with pytest.raises(SystemExit) as exit_:
            cosim.main(["--sim", "verilator"])
        assert exit_.value.code == 2
        assert "--model" in capsys.readouterr().err

    def test_random_count_must_be_positive(self, capsys):
        with pytest.raises(SystemExit) as exit_:
            cosim.main(["--random", "0"])
        assert exit_.value.code == 2
        assert "argument --random: 0 is outside 1 .. 10000" in capsys.readouterr().err

    def test_missing_model(self, capsys, tmp_path):
        with pytest.raises(SystemExit):
            cosim.main(["--model", str(tmp_path / "none.snn")])
        err = capsys.readouterr().err
        assert "does not exist" in err and "none.snn" in err

    def test_images_of_the_wrong_shape(self, capsys, tmp_path):
        np.save(tmp_path / "x.npy", np.zeros((4, 6), np.uint8))
        assert cosim.main(["--model", _model(tmp_path), "--images",
                           str(tmp_path / "x.npy")]) == 2
        assert "needs (N, 5) pixels" in capsys.readouterr().err

    def test_bias_model_on_hardware_without_biases(self, capsys, tmp_path):
        """A named configuration without the bias memory is refused with the --set to add;
        without --config the accelerator is sized for the model, biases included."""
        net = Network([Layer(np.ones((3, 5), np.int64), 2, 10, bias=[1, -2, 0])], timesteps=2)
        modelfile.save(net, tmp_path / "b.snn")
        assert cosim.main(["--model", str(tmp_path / "b.snn"), "--config", "tiny"]) == 2
        err = capsys.readouterr().err
        assert "layers[0] has biases; generate the accelerator with --set bias=true" in err
        assert cosim._config(None, None, net).bias

    def test_data_only_with_model(self, capsys, tmp_path):
        np.save(tmp_path / "x.npy", np.zeros((4, 6), np.uint8))
        assert cosim.main(["--random", "1", "--data", str(tmp_path / "x.npy")]) == 2
        assert "--data goes with --model" in capsys.readouterr().err


class TestImages:
    """What ``--data FILE.npy`` accepts (the simulator itself is replaced)."""

    @pytest.fixture
    def ran(self, monkeypatch):
        runs = []

        def run_cosim(networks, images, config, **kwargs):
            runs.append(images)
            return {"inferences": len(images[0]), "mismatches": 0, "cycles": [5], "first": None,
                    "seconds": 40.0, "load_seconds": 0.1, "wall_seconds": 41.0}
        monkeypatch.setattr(cosim, "run_cosim", run_cosim)
        return runs

    def test_integer_pixels_run(self, tmp_path, capsys, ran):
        np.save(tmp_path / "x.npy", np.arange(20, dtype=np.int64).reshape(4, 5))
        assert cosim.main(["--model", _model(tmp_path), "--data", str(tmp_path / "x.npy")]) == 0
        assert ran[0][0].dtype == np.uint8 and ran[0][0].tolist()[1] == [5, 6, 7, 8, 9]

    def test_float_images_are_refused_not_cast_to_zero(self, tmp_path, capsys, ran):
        np.save(tmp_path / "x.npy", np.full((4, 5), 0.5))
        assert cosim.main(["--model", _model(tmp_path), "--data", str(tmp_path / "x.npy")]) == 2
        err = capsys.readouterr().err
        assert "float64" in err and "uint8 pixels 0 .. 255" in err and "to_pixels" in err
        assert not ran

    def test_more_samples_than_images_says_so(self, tmp_path, capsys, ran):
        np.save(tmp_path / "x.npy", np.zeros((4, 5), np.uint8))
        assert cosim.main(["--model", _model(tmp_path), "--data", str(tmp_path / "x.npy"),
                           "--samples", "1000000000"]) == 0
        assert "1,000,000,000 images requested, the data has 4: running 4" in \
            capsys.readouterr().err
        assert len(ran[0][0]) == 4

    def test_slow_rate_keeps_its_digits(self, tmp_path, capsys, ran):
        # 1 inference in 40 s printed "0.0 inferences/s" (sw.cosim --sim icarus, issue 19).
        np.save(tmp_path / "x.npy", np.zeros((1, 5), np.uint8))
        assert cosim.main(["--model", _model(tmp_path), "--data", str(tmp_path / "x.npy"),
                           "-v"]) == 0
        assert "40.0 s/inference" in capsys.readouterr().err
        assert rate_text(10_000, 79.0) == "127 inferences/s"
        assert rate_text(3, 2.0) == "1.5 inferences/s"


class TestReporting:
    def test_summary_line(self):
        line = cosim.summary_line({"inferences": 7, "mismatches": 0, "cycles": [5, 9, 100]})
        assert line == "cosim: 7 inferences, 0 mismatches, 9 cycles/inference median"
        assert SUMMARY.match(line)

    def test_mismatch_exits_nonzero_and_names_the_place(self, capsys, monkeypatch):
        result = {"inferences": 3, "mismatches": 1, "cycles": [10, 11, 12], "seconds": 1.0,
                  "load_seconds": 0.1, "wall_seconds": 2.0, "classes": [0, 0, 0],
                  "first": {"network": 0, "image": 2, "what": "spike", "layer": 1, "step": 3,
                            "neuron": 4,
                            "differences": ["spike differs at layer 1, timestep 3, neuron 4: "
                                            "golden 1, hardware 0"]}}
        monkeypatch.setattr(cosim, "run_cosim", lambda *a, **k: result)
        assert cosim.main(["--random", "1", "--seed", "5"]) == 1
        out, err = capsys.readouterr()
        assert out.splitlines() == ["cosim: 3 inferences, 1 mismatches, 11 cycles/inference "
                                    "median"]
        assert "network 0, image 2 (seed 5)" in err
        assert "layer 1, timestep 3, neuron 4" in err


@pytest.mark.tools
@pytest.mark.skipif(not toolchain.available("verilator"), reason="verilator is not installed")
@pytest.mark.parametrize("inputs_per_cycle", ["1", "2"])
def test_random_networks_in_verilator(inputs_per_cycle):
    """The real thing: random networks co-simulated, one summary line, exit status 0."""
    done = _cli("--random", "3", "--seed", "11", "--samples", "2", "--sim", "verilator",
                "--inputs-per-cycle", inputs_per_cycle)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    inferences, mismatches, cycles = map(int, match.groups())
    assert (inferences, mismatches) == (6, 0) and cycles > 0


@pytest.mark.tools
@pytest.mark.skipif(not toolchain.available("verilator"), reason="verilator is not installed")
def test_two_runs_side_by_side_keep_their_own_files():
    """Two processes on one design share its build but not their run folders: each counts
    exactly its own inferences (they once shared one job folder and counted each other's)."""
    runs = {("--random", "2", "--seed", "21", "--samples", "2"): 4,
            ("--random", "1", "--seed", "22", "--samples", "3"): 3}
    processes = {args: subprocess.Popen([sys.executable, "-m", "sw.cosim", *args, "--sim",
                                         "verilator"], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
                 for args in runs}
    for args, process in processes.items():
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, out + err
        match = SUMMARY.match(out.strip())
        assert match, out
        assert tuple(map(int, match.groups()[:2])) == (runs[args], 0), out



class TestWorkers:
    def test_address_needs_workers(self, capsys):
        with pytest.raises(SystemExit) as exit_:
            cosim.main(["--random", "1", "--address", "auto"])
        assert exit_.value.code == 2
        assert "--address goes with --workers" in capsys.readouterr().err

    def test_waves_need_one_process(self, capsys, tmp_path):
        with pytest.raises(SystemExit) as exit_:
            cosim.main(["--random", "1", "--workers", "2", "--waves", str(tmp_path / "w.vcd")])
        assert exit_.value.code == 2
        assert "leave out --workers" in capsys.readouterr().err

    @pytest.mark.tools
    @pytest.mark.skipif(not toolchain.available("verilator"),
                        reason="verilator is not installed")
    def test_two_workers_print_the_one_process_line(self, ray_local, capsys):
        args = ["--random", "3", "--seed", "11", "--samples", "2", "--fast"]
        assert cosim.main(args) == 0
        alone = capsys.readouterr().out
        assert cosim.main(args + ["--workers", "2"]) == 0
        assert capsys.readouterr().out == alone and SUMMARY.match(alone.strip())


@pytest.mark.tools
@pytest.mark.skipif(not toolchain.available("verilator"), reason="verilator is not installed")
def test_chunks_do_not_change_the_outcome():
    """The images are compared a chunk at a time (a CNN's traces for 10,000 images do not fit
    in memory at once): chunks of 2 give the same cycles and classes as one chunk."""
    rng = np.random.default_rng(5)
    config = resolve("tiny")
    network = random_fitting_network(rng, config)
    pixels = random_pixels(rng, 5, network.n_inputs)
    one = run_cosim([network], [pixels], config, fast=True)
    chunked = run_cosim([network], [pixels], config, fast=True, chunk=2)
    assert (one["inferences"], one["mismatches"]) == (chunked["inferences"], 0) == (5, 0)
    assert chunked["cycles"] == one["cycles"] and chunked["classes"] == one["classes"]
