"""``python -m sw.sweep`` (cli.sweep): the same results one after the other and on 2 Ray
workers, a point that fails while the others finish, a TOML spec, and bad input."""

import json

import numpy as np
import pytest

from core import modelfile
from core.network import Layer, Network


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.default_rng(4)
    net = Network([Layer(rng.integers(-8, 8, (16, 64)), 4, threshold=60),
                   Layer(rng.integers(-8, 8, (10, 16)), 4, threshold=6)], timesteps=3)
    path = tmp_path_factory.mktemp("sweep") / "digits.snn"
    modelfile.save(net, path)
    return path


@pytest.fixture(name="sweep_cli")
def sweep_cli_fixture(run_cli):
    def run(model, folder, *args):
        return run_cli("sw.sweep", "--model", model, "--data", "digits", "--samples", "40",
                       "--json", folder / "sweep.json", "--plot", folder / "sweep.png", *args)
    return run


def _points(folder):
    report = json.loads((folder / "sweep.json").read_text())
    # Everything but the tools' timings.
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in report["points"]], \
        report["pareto"]


def test_two_workers_give_the_serial_results(ray_local, sweep_cli, model, tmp_path):
    args = ("--lanes", "8,16,12", "--weight-bits", "2,4", "--timesteps", "2,3")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    one = sweep_cli(model, serial, *args)
    two = sweep_cli(model, parallel, *args, "--workers", "2")
    # lanes 12 is impossible: recorded for its 4 points, the other 8 finish.
    assert one.returncode == two.returncode == 1, one.stderr + two.stderr
    assert one.stdout == two.stdout
    assert one.stdout.splitlines()[-1].startswith("sweep: 12 points, 4 failed, ")
    points, front = _points(serial)
    assert (points, front) == _points(parallel)
    assert sum(1 for p in points if p["error"]) == 4
    assert all("lanes is 12" in p["error"] for p in points if p["point"]["lanes"] == 12)
    assert all("cycles" in p and "accuracy" in p for p in points if p["point"]["lanes"] != 12)
    assert (serial / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_axes_from_a_toml_spec(sweep_cli, model, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[axes]\nlanes = [8, 16]\ninputs_per_cycle = [1, 2]\n')
    done = sweep_cli(model, tmp_path, "--spec", spec, "--lanes", "16", "--metrics", "cycles")
    assert done.returncode == 0, done.stderr
    points, _ = _points(tmp_path)
    assert [(p["point"]["lanes"], p["point"]["inputs_per_cycle"]) for p in points] == \
        [(16, 1), (16, 2)]  # the command line's --lanes wins over the spec's
    assert all("accuracy" not in p for p in points)


@pytest.mark.parametrize("args, words", [
    (("--metrics", "cycles,speed"), ("unknown metric speed", "cycles, accuracy")),
    (("--board", "arty,zedboard"), ("unknown board zedboard", "ulx3s")),
    (("--lanes", "8,x"), ("not a comma-separated list of integers",)),
    (("--address", "auto"), ("--address goes with --workers",)),
])
def test_bad_input(sweep_cli, fails_cleanly, model, tmp_path, args, words):
    done = sweep_cli(model, tmp_path, *args)
    fails_cleanly(done, *words, absent=[tmp_path / "sweep.json"])


def test_bad_spec(sweep_cli, fails_cleanly, model, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("lanes = [8,\n")
    fails_cleanly(sweep_cli(model, tmp_path, "--spec", spec), "is not valid TOML",
                  absent=[tmp_path / "sweep.json"])
    spec.write_text("clock = [100]\n")
    fails_cleanly(sweep_cli(model, tmp_path, "--spec", spec), "unknown axis 'clock'")
