"""``python -m sw.nir`` (cli.nir): import a float graph with its agreement report, export a
model that reads back exactly, and one clear line for every bad graph or argument."""

import json

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from core import golden, modelfile  # noqa: E402
from core.randnet import random_pixels  # noqa: E402

MODULE = "sw.nir"


def _digits_graph(shapes, path, hidden=24, seed=0, inputs=64):
    """A random inputs-hidden-10 float graph in snnTorch's shape whose outputs spike."""
    rng = np.random.default_rng(seed)
    graph = shapes.chain([(shapes.affine(rng, hidden, inputs, 0.2, 0.2),
                           shapes.snntorch_lif(hidden)),
                          (shapes.affine(rng, 10, hidden, 0.8, 0.2), shapes.snntorch_lif(10))],
                         inputs)
    nir.write(path, graph)
    return path


@pytest.fixture
def graph(tmp_path, shapes):
    return _digits_graph(shapes, tmp_path / "g.nir")


def test_import_reports_and_writes(run_cli, graph, tmp_path):
    out, report = tmp_path / "m.snn", tmp_path / "r.json"
    result = run_cli(MODULE, "import", graph, "--output", out, "--timesteps", 8, "--data",
                     "digits", "--samples", 300, "--json", report)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert any(line.startswith("nir: dt = 0.0001") for line in lines)
    assert any(line.startswith("float (the NIR graph): ") for line in lines)
    assert any(line.startswith("integer (m.snn): ") for line in lines)
    summary = json.loads(report.read_text())
    assert summary["agreement"] >= 95.0 and summary["samples"] == 300
    network = modelfile.load(out)
    assert network.sizes == [64, 24, 10] and network.timesteps == 8
    assert network.readout == "spike_count" and network.encoder == "direct"
    assert all(layer.weight_bits == 8 and layer.reset == "zero" for layer in network.layers)


def test_calibration_file(run_cli, graph, tmp_path):
    np.save(tmp_path / "x.npy", random_pixels(np.random.default_rng(1), 100, 64))
    result = run_cli(MODULE, "import", graph, "--output", tmp_path / "m.snn", "--timesteps",
                     4, "--calibrate", tmp_path / "x.npy", "--weight-bits", 6)
    assert result.returncode == 0, result.stderr
    assert "agreement: " in result.stdout and "float (the NIR graph)" not in result.stdout
    assert modelfile.load(tmp_path / "m.snn").layers[0].weight_bits == 6


def test_export_then_import_is_exact(run_cli, graph, tmp_path):
    assert run_cli(MODULE, "import", graph, "--output", tmp_path / "a.snn", "--timesteps",
                   8).returncode == 0
    result = run_cli(MODULE, "export", tmp_path / "a.snn", "--output", tmp_path / "a.nir")
    assert result.returncode == 0, result.stderr
    assert "dt = 0.0001" in result.stdout
    result = run_cli(MODULE, "import", tmp_path / "a.nir", "--output", tmp_path / "b.snn",
                     "--data", "digits", "--samples", 100, "--name", "")
    assert result.returncode == 0, result.stderr
    assert "read exactly" in result.stdout
    a, b = modelfile.load(tmp_path / "a.snn"), modelfile.load(tmp_path / "b.snn")
    a.name = b.name = ""
    assert a == b


def test_below_min_agreement_fails_and_writes_nothing(run_cli, fails_cleanly, graph,
                                                      tmp_path):
    out = tmp_path / "m.snn"
    result = run_cli(MODULE, "import", graph, "--output", out, "--timesteps", 8, "--data",
                     "digits", "--samples", 200, "--weight-bits", 2, "--min-agreement", 100)
    line = fails_cleanly(result, "below --min-agreement 100; nothing written", absent=[out])
    assert result.returncode == 1 and "agreement: " in result.stdout, line


def _bad(shapes, tmp_path, change, name="bad.nir"):
    rng = np.random.default_rng(0)
    graph = shapes.chain([(shapes.affine(rng, 4, 3, 1.0), shapes.snntorch_lif(4)),
                          (shapes.affine(rng, 2, 4, 1.0), shapes.snntorch_lif(2))], 3)
    change(graph, shapes)
    nir.write(tmp_path / name, graph)
    return tmp_path / name


def _cycle(graph, shapes):
    graph.edges.append(("3", "2"))


def _branch(graph, shapes):
    graph.edges.append(("1", "output"))


def _unknown(graph, shapes):
    graph.nodes["2"] = nir.Threshold(threshold=np.ones(4))


def _nan(graph, shapes):
    graph.nodes["0"].weight[1, 2] = np.nan


def _inf_tau(graph, shapes):
    graph.nodes["3"].tau = np.full(2, np.inf, np.float32)


def _norse(graph, shapes):
    graph.nodes["1"], graph.nodes["3"] = shapes.norse_lif(4), shapes.norse_lif(2)


@pytest.mark.parametrize("change, args, words", [
    (_cycle, ["--timesteps", 4], ["'2' -> '3' -> '2' form a cycle", "feed-forward"]),
    (_branch, ["--timesteps", 4], ["node '1' (LIF) feeds both", "without branches"]),
    (_unknown, ["--timesteps", 4], ["node '2' is a Threshold", "export IF neurons"]),
    (_nan, ["--timesteps", 4], ["node '0' (Affine): weight holds nan", "finite"]),
    (_inf_tau, ["--timesteps", 4], ["node '3' (LIF): tau is inf", "finite"]),
    (lambda graph, shapes: None, [], ["does not say how many steps", "give --timesteps T"]),
    (_norse, ["--timesteps", 4], ["does not say its time step", "give --dt", "Norse"]),
])
def test_bad_graphs_fail_cleanly(run_cli, fails_cleanly, shapes, tmp_path, change, args, words):
    out = tmp_path / "m.snn"
    result = run_cli(MODULE, "import", _bad(shapes, tmp_path, change), "--output", out, *args)
    fails_cleanly(result, *words, absent=[out])


def test_too_big_for_the_configuration(run_cli, fails_cleanly, shapes, tmp_path):
    graph = _digits_graph(shapes, tmp_path / "g.nir", hidden=20, inputs=16)
    out = tmp_path / "m.snn"
    result = run_cli(MODULE, "import", graph, "--output", out, "--timesteps", 4, "--config",
                     "tiny")
    fails_cleanly(result, "does not fit configuration 'tiny'", "neuron count is 20",
                  "--set max_neurons=20", absent=[out])


def test_too_big_for_any_accelerator(run_cli, fails_cleanly, shapes, tmp_path):
    rng = np.random.default_rng(0)
    graph = shapes.chain([(shapes.affine(rng, 5000, 3, 1.0), shapes.snntorch_lif(5000))], 3)
    nir.write(tmp_path / "big.nir", graph)
    out = tmp_path / "m.snn"
    result = run_cli(MODULE, "import", tmp_path / "big.nir", "--output", out, "--timesteps", 2)
    fails_cleanly(result, "no accelerator holds this network", "max_neurons", absent=[out])


@pytest.mark.parametrize("args, words", [
    (["import", "missing.nir", "--output", "m.snn"], ["missing.nir does not exist"]),
    (["import", "GRAPH", "--output", "m.snn", "--weight-bits", "9"], ["9 is outside 2 .. 8"]),
    (["import", "GRAPH", "--output", "m.snn", "--min-agreement", "101"],
     ["101 is not a percentage"]),
    (["import", "GRAPH", "--output", "m.snn", "--timesteps", "4", "--calibrate", "GRAPH"],
     ["is not an .npy file"]),
    (["import", "MODEL", "--output", "m.snn"], ["is an .snn model file, not a NIR file"]),
    (["export", "GRAPH", "--output", "x.nir"], ["this is not an .snn model file"]),
])
def test_bad_arguments(run_cli, fails_cleanly, graph, tmp_path, args, words):
    golden_model = tmp_path / "model.snn"
    assert run_cli(MODULE, "import", graph, "--output", golden_model,
                   "--timesteps", 2).returncode == 0
    args = [str(graph) if a == "GRAPH" else str(golden_model) if a == "MODEL" else a
            for a in args]
    result = run_cli(MODULE, *args, cwd=tmp_path)
    fails_cleanly(result, *words, absent=[tmp_path / "x.nir"])


def test_snn_accel_lists_nir(run_cli):
    result = run_cli("cli.main", "--help")
    assert "nir " in result.stdout and "nirbench" in result.stdout


def test_exported_graph_keeps_the_classes(run_cli, graph, tmp_path):
    """The exported graph, simulated in float by the importer, classifies as the model."""
    from sw.nirfloat import read_float
    from sw.nirio import read_nir
    assert run_cli(MODULE, "import", graph, "--output", tmp_path / "a.snn", "--timesteps",
                   8).returncode == 0
    assert run_cli(MODULE, "export", tmp_path / "a.snn", "--output", tmp_path / "a.nir",
                   "--input", "pixels", "--dt", 1).returncode == 0
    network = modelfile.load(tmp_path / "a.snn")
    fnet = read_float(read_nir(tmp_path / "a.nir"))
    pixels = random_pixels(np.random.default_rng(2), 100, 64)
    assert np.mean(fnet.run(pixels, 8).prediction == golden.predict(network, pixels)) >= 0.95


def test_export_for_norse(run_cli, graph, tmp_path):
    from sw.nirio import read_nir
    assert run_cli(MODULE, "import", graph, "--output", tmp_path / "a.snn", "--timesteps",
                   8).returncode == 0
    result = run_cli(MODULE, "export", tmp_path / "a.snn", "--output", tmp_path / "a.nir",
                     "--for", "norse")
    assert result.returncode == 0, result.stderr
    assert "for norse: dt = 0.001" in result.stdout
    node = read_nir(tmp_path / "a.nir").nodes["neuron0"]
    assert np.allclose(node.r, 1.0) and np.allclose(1 - 1e-3 / node.tau, 224 / 256)
    result = run_cli(MODULE, "import", tmp_path / "a.nir", "--output", tmp_path / "b.snn")
    assert result.returncode == 0 and "read exactly" in result.stdout, result.stderr
    a, b = modelfile.load(tmp_path / "a.snn"), modelfile.load(tmp_path / "b.snn")
    a.name = b.name = ""
    assert a == b
