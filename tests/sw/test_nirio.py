"""sw.nirio: networks go to NIR and back unchanged, foreign graphs are read exactly or refused
with a message naming the node, and every value a graph does not state is reported."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from core import golden, modelfile  # noqa: E402
from core.network import Conv, Layer, Network, max_pool  # noqa: E402
from core.randnet import random_network, random_pixels  # noqa: E402
from sw.nirfloat import read_float  # noqa: E402
from sw.nirio import (NirError, NirWarning, export_notes, from_nir, load_nir,  # noqa: E402
                      save_nir, to_nir)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("seed", range(12))
def test_round_trip_is_exact(seed, no_warnings):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    back = from_nir(to_nir(net))
    assert back == net
    x = random_pixels(rng, 3, net.n_inputs)
    assert np.array_equal(golden.run(back, x).prediction, golden.run(net, x).prediction)


@pytest.mark.parametrize("seed", range(3))
def test_file_round_trip(tmp_path, seed, no_warnings):
    net = random_network(np.random.default_rng(99 + seed))
    save_nir(net, tmp_path / "n.nir")
    assert load_nir(tmp_path / "n.nir") == net


def test_graph_uses_nir_neurons():
    net = random_network(np.random.default_rng(5))
    graph = to_nir(net)
    kinds = {type(graph.nodes[f"neuron{k}"]).__name__ for k in range(len(net.layers))}
    assert kinds <= {"IF", "LIF"}
    assert np.array_equal(graph.nodes["linear0"].weight, net.layers[0].weights)


@pytest.mark.parametrize("leak_mode, leak", [("factor", 0), ("factor", 200), ("shift", 3),
                                             ("shift", 12)])
def test_exported_lif_has_unit_gain(leak_mode, leak):
    """Another tool reading the graph with dt = 1 sees v' = f v + W a, the accelerator's step."""
    net = random_network(np.random.default_rng(7))
    net.membrane_bits = 16
    for layer in net.layers:
        layer.neuron, layer.leak_mode, layer.leak = "lif", leak_mode, leak
    node = to_nir(net).nodes["neuron0"]
    decay = 1 - 1 / node.tau
    assert np.allclose(node.r / node.tau, 1.0)
    assert np.allclose(decay, leak / 256 if leak_mode == "factor" else 1 - 2.0 ** -leak)
    # Without the metadata, the same node reads back as the same leak.
    layer = _read(_strip(to_nir(net)))[0].layers[0]
    assert (layer.leak_mode, layer.leak) == (leak_mode, leak) or (
        leak_mode == "shift" and leak <= 8 and layer.leak == 256 - 2 ** (8 - leak))


def _strip(graph):
    """The graph without this project's metadata, as another tool would write it."""
    for node in graph.nodes.values():
        node.metadata = {}
    graph.metadata = {}
    return graph


# Foreign graphs: Input 'in' -> Linear 'w' -> neuron 'n' -> Output 'out'.

def _neuron(n_out, kind="IF", threshold=3.0, r=1.0, tau=None, v_leak=0.0, v_reset=0.0):
    def full(value):
        return np.broadcast_to(np.asarray(value, float), (n_out,)).copy()
    if kind == "IF":
        return nir.IF(r=full(r), v_threshold=full(threshold), v_reset=full(v_reset))
    return nir.LIF(tau=full(tau), r=full(r), v_leak=np.full(n_out, v_leak, float),
                   v_threshold=np.full(n_out, threshold, float),
                   v_reset=np.full(n_out, v_reset, float))


def _graph(weight=((1, -2, 3), (0, 1, 1)), neuron=None, linear=None, metadata=None, **kw):
    weight = np.asarray(weight, float)
    n_out, n_in = weight.shape
    nodes = {"in": nir.Input(input_type={"input": np.array([n_in])}),
             "w": linear if linear is not None else nir.Linear(weight=weight),
             "n": neuron if neuron is not None else _neuron(n_out, **kw),
             "out": nir.Output(output_type={"output": np.array([n_out])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "w"), ("w", "n"), ("n", "out")],
                        metadata=metadata or {}, type_check=False)


def _read(graph, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = from_nir(graph, **kw)
    assert all(issubclass(w.category, NirWarning) for w in caught)
    return net, [str(w.message) for w in caught]


def test_foreign_graph_without_metadata():
    net, _ = _read(_graph(kind="LIF", tau=2.0, r=2.0))
    layer = net.layers[0]
    assert layer.neuron == "lif" and layer.leak_mode == "factor" and layer.leak == 128
    assert layer.threshold == 3 and layer.weight_bits == 3 and layer.reset == "zero"
    assert np.array_equal(layer.weights, [[1, -2, 3], [0, 1, 1]])


def test_defaults_are_reported():
    _, notes = _read(_graph(kind="LIF", tau=2.0, r=2.0))
    text = "\n".join(notes)
    for said in ["dt = 1", "layer 0 ('w' -> 'n')", "leak_mode='factor', leak=128",
                 "reset='zero'", "fire_once=True", "weight_bits=3", "membrane_bits=16",
                 "timesteps=4", "encoder='hybrid'", "lfsr_seed=44257", "readout='first_spike'"]:
        assert said in text, said


def test_stated_values_are_not_reported():
    graph = _graph(metadata={"snn_accel": {"timesteps": 9, "encoder": "rate"}})
    net, notes = _read(graph, dt=1.0)
    assert net.timesteps == 9 and net.encoder == "rate"
    text = "\n".join(notes)
    assert "dt = 1" not in text and "timesteps" not in text and "encoder" not in text
    assert "membrane_bits=16" in text


@pytest.mark.parametrize("kw, weights, note", [
    (dict(r=3.0), [[3, -6, 9], [0, 3, 3]], "r*dt = 3 folded into the weights"),
    (dict(kind="LIF", tau=4.0, r=8.0), [[2, -4, 6], [0, 2, 2]], "r*dt/tau = 2 folded"),
    (dict(kind="LIF", tau=4.0, r=[4.0, 8.0]), [[1, -2, 3], [0, 2, 2]], "folded"),
])
def test_gain_is_folded_into_the_weights(kw, weights, note):
    net, notes = _read(_graph(**kw))
    assert np.array_equal(net.layers[0].weights, weights)
    assert any(note in n for n in notes), notes


def test_snntorch_convention_with_its_dt():
    """snnTorch writes tau = dt / (1 - beta) and r = tau / dt, with dt = 1e-4, in float32."""
    dt, beta = 1e-4, np.float32(192 / 256)
    tau = np.float32(dt / (1 - beta))
    graph = _graph(kind="LIF", tau=tau, r=np.float32(tau / dt))
    net, notes = _read(graph, dt=dt)
    assert (net.layers[0].leak_mode, net.layers[0].leak) == ("factor", 192)
    assert np.array_equal(net.layers[0].weights, [[1, -2, 3], [0, 1, 1]])
    assert not any("folded" in n for n in notes)
    with pytest.raises(NirError, match=re.escape("pass the dt the graph was made with")):
        from_nir(graph)


def test_shift_leak():
    net, notes = _read(_graph(kind="LIF", tau=2.0 ** 10, r=2.0 ** 10))
    assert (net.layers[0].leak_mode, net.layers[0].leak) == ("shift", 10)
    assert any("leak_mode='shift', leak=10" in n for n in notes)


def test_flatten_is_skipped():
    nodes = {"in": nir.Input(input_type={"input": np.array([1, 3])}),
             "flat": nir.Flatten(input_type={"input": np.array([1, 3])}),
             "w": nir.Linear(weight=np.array([[1.0, 2.0, 3.0]])), "n": _neuron(1),
             "out": nir.Output(output_type={"output": np.array([1])})}
    graph = nir.NIRGraph(nodes=nodes, edges=[("in", "flat"), ("flat", "w"), ("w", "n"),
                                             ("n", "out")], type_check=False)
    assert _read(graph)[0].sizes == [3, 1]


NAN, INF = float("nan"), float("inf")

REFUSED = [
    # The node: each of its parameters on its own.
    (dict(kind="LIF", tau=2.0, r=2.0, v_leak=2.0),
     "node 'n' (LIF): v_leak is 2; the accelerator's membranes leak towards 0: export v_leak = 0"),
    (dict(kind="LIF", tau=0.02, r=0.02),
     "node 'n' (LIF): tau = 0.02 at dt = 1 is a decay 1 - dt/tau = -49 per step, which no leak "
     "of the accelerator has (lambda/256 for lambda 0 .. 255, or 1 - 2**-k); tau is shorter "
     "than the time step: pass the dt"),
    (dict(kind="LIF", tau=2.0, r=3.0, weight=[[1, 1]]),
     "node 'n' (LIF): r = 3 is an input gain r*dt/tau = 1.5 at dt = 1, which the accelerator "
     "can only fold into integer weights, but weight [0, 0] of 'w' becomes 1.5; export r = "
     "tau/dt (gain 1)"),
    (dict(r=0.5), "node 'n' (IF): r = 0.5 is an input gain r*dt = 0.5 at dt = 1"),
    (dict(kind="LIF", tau=3.0, r=3.0),
     "decay 1 - dt/tau = 0.666667 per step, which no leak of the accelerator has"
     " (lambda/256 for lambda 0 .. 255, or 1 - 2**-k); the nearest is the factor 171/256, "
     "tau = 3.01176"),
    (dict(kind="LIF", tau=-2.0, r=-2.0), "node 'n' (LIF): tau is -2; a time constant must be "
                                         "positive"),
    (dict(kind="LIF", tau=[2.0, 4.0], r=[2.0, 4.0]),
     "node 'n' (LIF): tau differs between neurons ([2. 4.]); the accelerator has one tau per "
     "layer"),
    (dict(v_reset=1.0), "node 'n' (IF): v_reset is 1; the accelerator resets to 0 or subtracts "
                        "the threshold: export v_reset = 0"),
    (dict(threshold=NAN), "node 'n' (IF): v_threshold is nan for some neurons; every parameter "
                          "must be a finite number"),
    (dict(r=INF), "node 'n' (IF): r is inf for some neurons"),
    (dict(kind="LIF", tau=NAN, r=2.0), "node 'n' (LIF): tau is nan for some neurons"),
    (dict(kind="LIF", tau=2.0, r=2.0, v_leak=-INF), "node 'n' (LIF): v_leak is -inf"),
    (dict(threshold=2.5), "node 'n' (IF): thresholds are not integers (v_threshold = 2.5)"),
    (dict(threshold=3.0, weight=[[0.5, 1.0]]), "node 'w' (Linear): weights are not integers "
                                               "(e.g. 0.5); quantize the network"),
    (dict(weight=[[NAN, 1.0]]), "node 'w' (Linear): weight holds nan; every weight must be "
                                "finite"),
    (dict(linear=nir.Affine(weight=np.ones((2, 3)), bias=np.array([0.0, 1.5]))),
     "node 'w' (Affine): biases are not integers (e.g. 1.5); quantize the network"),
    (dict(linear=nir.Affine(weight=np.ones((2, 3)), bias=np.array([0.0, NAN]))),
     "node 'w' (Affine): bias holds nan; every bias must be finite"),
    (dict(weight=[[200, 1]]), "node 'w' (Linear): the weights reach 200, which needs 9 bits; "
                              "the accelerator has weights of at most 8 bits"),
    (dict(r=3.0, weight=[[50, 1]]), "node 'w' (Linear): the weights reach 150 after the gain is "
                                    "folded in, which needs 9 bits"),
    (dict(threshold=0.0), "not a valid accelerator network: layers[0].threshold is 0"),
]


@pytest.mark.parametrize("kw, message", REFUSED, ids=[m[:40] for _, m in REFUSED])
def test_refused_parameters(kw, message):
    graph = _graph(**kw)
    with pytest.raises(NirError, match=re.escape(message)):
        from_nir(graph)


def test_integer_bias_is_read_exactly():
    graph = _graph(linear=nir.Affine(weight=np.array([[1.0, -1.0], [2.0, 0.0]]),
                                     bias=np.array([3.0, -2.0])), weight=[[1, -1], [2, 0]],
                   r=2.0)
    layer = _read(graph)[0].layers[0]
    assert np.array_equal(layer.bias, [6, -4])  # the gain r*dt = 2 applies to the bias too
    assert np.array_equal(layer.weights, [[2, -2], [4, 0]])


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_with_bias_dt_and_input_scale(seed, no_warnings):
    """A network with biases and a spike-count read-out, written in snnTorch's convention
    (dt = 1e-4, inputs in [0, 1]), reads back unchanged."""
    rng = np.random.default_rng(40 + seed)
    net = random_network(rng)
    net.readout = "spike_count"
    vmax = (1 << (net.membrane_bits - 1)) - 1
    for layer in net.layers:
        layer.bias = rng.integers(-min(vmax, 50), min(vmax, 50) + 1, layer.n_out)
    graph = to_nir(net, dt=1e-4, input_scale=255.0)
    assert np.allclose(graph.nodes["linear0"].weight, 255.0 * net.layers[0].weights)
    assert from_nir(graph) == net


def test_affine_without_bias_is_a_linear():
    graph = _graph(linear=nir.Affine(weight=np.array([[1.0, -1.0]]), bias=np.zeros(1)),
                   weight=[[1, -1]])
    assert np.array_equal(_read(graph)[0].layers[0].weights, [[1, -1]])


@pytest.mark.parametrize("dt", [0, -1.0, NAN, INF, "1"])
def test_bad_dt(dt):
    with pytest.raises(NirError, match="the time step must be a positive number"):
        from_nir(_graph(), dt=dt)


UNSUPPORTED = {
    "CubaLIF": (lambda n: nir.CubaLIF(tau_syn=np.full(n, 2.0), tau_mem=np.full(n, 2.0),
                                      r=np.full(n, 2.0), v_leak=np.zeros(n),
                                      v_threshold=np.ones(n)),
                "a current-based synapse (tau_syn) has no exact integer form on the accelerator;"
                " export LIF (snnTorch Leaky) or IF neurons instead"),
    "CubaLI": (lambda n: nir.CubaLI(tau_syn=np.full(n, 2.0), tau_mem=np.full(n, 2.0),
                                    r=np.full(n, 2.0), v_leak=np.zeros(n)), "tau_syn"),
    "LI": (lambda n: nir.LI(tau=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n)),
           "a leaky integrator never fires"),
    "I": (lambda n: nir.I(r=np.ones(n)), "an integrator never fires"),
    "Delay": (lambda n: nir.Delay(delay=np.ones(n)), "no synaptic delays"),
    "Scale": (lambda n: nir.Scale(scale=np.ones(n)), "fold the scale into the weights"),
    "Threshold": (lambda n: nir.Threshold(threshold=np.ones(n)), "export IF neurons"),
}


@pytest.mark.parametrize("kind", UNSUPPORTED)
def test_unsupported_node_is_named(kind):
    make, reason = UNSUPPORTED[kind]
    graph = _graph(neuron=make(2))
    graph.nodes["lif1"] = graph.nodes.pop("n")
    graph.edges = [("in", "w"), ("w", "lif1"), ("lif1", "out")]
    with pytest.raises(NirError, match=re.escape(f"node 'lif1' is a {kind}: ") + ".*"
                       + re.escape(reason)):
        from_nir(graph)


def _chain_graph(edges, **extra):
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}),
             "w": nir.Linear(weight=np.ones((2, 2))), "n": _neuron(2),
             "w2": nir.Linear(weight=np.ones((2, 2))), "n2": _neuron(2),
             "out": nir.Output(output_type={"output": np.array([2])})}
    nodes.update(extra)
    names = {name for edge in edges for name in edge}
    return nir.NIRGraph(nodes={k: v for k, v in nodes.items() if k in names or k in extra},
                        edges=edges, type_check=False)


BAD_GRAPHS = [
    ([("in", "w"), ("w", "n"), ("n", "w2"), ("w2", "n2"), ("n2", "w2"), ("n2", "out")],
     "nodes 'w2' -> 'n2' -> 'w2' form a cycle (recurrence); the accelerator runs a "
     "feed-forward chain of dense layers"),
    ([("in", "w"), ("w", "n"), ("n", "out"), ("n", "w2"), ("w2", "n2")],
     "node 'n' (IF) feeds both 'out' and 'w2'; the accelerator runs a single chain of dense "
     "layers, without branches"),
    ([("in", "w"), ("in", "w2"), ("w", "n"), ("w2", "n"), ("n", "out")],
     "node 'in' (Input) feeds both 'w' and 'w2'"),
    ([("in", "w"), ("w", "n"), ("n", "out"), ("w2", "n2"), ("n2", "n")],
     "node 'n' (IF) has two inputs, 'w' and 'n2'; the accelerator runs a single chain of dense "
     "layers, without merges"),
    ([("in", "w"), ("w", "w2"), ("w2", "n"), ("n", "out")],
     "node 'w2' is a Linear where the chain needs an IF or LIF neuron after 'w'"),
    ([("in", "n"), ("n", "out")], "node 'n' is a IF where the chain needs a Linear (or Affine) "
                                  "node"),
    ([("in", "w"), ("w", "out")], "node 'w' (Linear) is the last layer but no IF or LIF neuron "
                                  "follows it"),
    ([("in", "w"), ("w", "n")], "the chain ends at node 'n' (IF), which feeds nothing; connect "
                                "it to an Output node"),
    ([("in", "w"), ("w", "n"), ("n", "out"), ("w2", "n2")],
     "node 'w2' (Linear) is not on the path from Input 'in' to Output 'out'"),
    ([("in", "w"), ("w", "ghost"), ("n", "out")],
     "the edge 'w' -> 'ghost' names node 'ghost', which the graph does not have"),
    ([("w", "n"), ("n", "out")], "the graph has 0 Input nodes; the accelerator needs exactly "
                                 "one"),
    ([("in", "out")], "the graph has no Linear -> IF/LIF layer between its Input and Output"),
]


@pytest.mark.parametrize("edges, message", BAD_GRAPHS, ids=[m[:40] for _, m in BAD_GRAPHS])
def test_bad_graphs(edges, message):
    with pytest.raises(NirError, match=re.escape(message)):
        from_nir(_chain_graph(edges))


def test_two_inputs():
    graph = _chain_graph([("in", "w"), ("w", "n"), ("n", "out"), ("in2", "w2")],
                         in2=nir.Input(input_type={"input": np.array([2])}))
    with pytest.raises(NirError, match=re.escape("the graph has 2 Input nodes ('in', 'in2')")):
        from_nir(graph)


def test_input_shape_must_match():
    graph = _graph()
    graph.nodes["in"] = nir.Input(input_type={"input": np.array([5])})
    with pytest.raises(NirError, match=re.escape("Input 'in' has shape (5,) but the first "
                                                  "layer takes 3 inputs")):
        from_nir(graph)


# Files.

def _text(path):
    path.write_text("hello, I am not a graph\n")


def _snn(path):
    modelfile.save(random_network(np.random.default_rng(1)), path)


def _hdf5(path):
    import h5py
    with h5py.File(path, "w") as file:
        file.create_dataset("x", data=np.arange(3))


def _foreign_nir(path):
    nir.write(path, _graph(kind="LIF", tau=0.02, r=0.02))


BAD_FILES = [
    ("missing.nir", None, "{path} does not exist"),
    ("folder", lambda p: p.mkdir(), "{path} is a directory; give a .nir file"),
    ("empty.nir", lambda p: p.write_bytes(b""), "{path} is empty"),
    ("notes.txt", _text, "{path} is not a NIR file (NIR files are HDF5; this one starts with "
                         "b'hello, I'); write it with nir.write or sw.nirio.save_nir"),
    ("model.snn", _snn, "{path} is an .snn model file, not a NIR file; load it with "
                        "core.modelfile.load"),
    ("other.h5", _hdf5, "{path} is an HDF5 file but not a NIR graph that nir "),
    ("lif.nir", _foreign_nir, "{path}: node 'n' (LIF): tau = 0.02 at dt = 1"),
]


@pytest.mark.parametrize("name, make, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files(tmp_path, name, make, message):
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(NirError, match="^" + re.escape(message.format(path=path))):
        load_nir(path)


def test_load_reports_defaults(tmp_path):
    nir.write(tmp_path / "g.nir", _graph())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = load_nir(tmp_path / "g.nir")
    assert net.layers[0].threshold == 3
    assert {w.category for w in caught} == {NirWarning}
    assert any("fire_once=True" in str(w.message) for w in caught)


def _conv_network(bias=None):
    c = Conv(1, 4, 4, 2, kernel=3, padding=1)
    first = Layer(weights=np.arange(-9, 9).reshape(c.weight_shape), weight_bits=5, threshold=3,
                  conv=c, bias=bias)
    return Network(layers=[first, max_pool(2, 4, 4, 2), Layer(weights=np.ones((3, 8), int))],
                   timesteps=2)


@pytest.mark.parametrize("options", [{}, {"dt": 1e-4, "input_scale": 255.0}, {"r_one": True},
                                     {"if_as_lif": True}])
def test_convolutions_are_written_and_read_back_exactly(options):
    """conv -> max pool -> dense: Conv2d, SumPool2d, Flatten nodes and 3-D neuron parameters
    (issue 14), read back unchanged, without a warning."""
    network = _conv_network(bias=np.repeat([2, -1], 16))
    graph = to_nir(network, **options)
    assert [type(graph.nodes[n]).__name__ for n in ("conv0", "pool1", "flatten2", "linear2")] \
        == ["Conv2d", "SumPool2d", "Flatten", "Linear"]
    assert graph.nodes["input"].input_type["input"].tolist() == [1, 4, 4]
    assert graph.nodes["neuron0"].v_threshold.shape == (2, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_nir(graph) == network


def test_random_conv_networks_are_read_back_exactly():
    rng = np.random.default_rng(5)
    for _ in range(20):
        network = random_network(rng, conv=True)
        assert from_nir(to_nir(network)) == network


def test_the_shipped_cnn_through_a_nir_file(tmp_path):
    network = modelfile.load(ROOT / "models" / "mnist_cnn.snn")
    save_nir(network, tmp_path / "cnn.nir")
    assert load_nir(tmp_path / "cnn.nir") == network


def test_a_conv_bias_that_differs_within_a_channel_is_refused():
    with pytest.raises(NirError, match=r"^layers\[0\] is a convolution whose bias differs "
                       r"between the positions of a channel; NIR's Conv2d has one bias per "
                       r"channel$"):
        to_nir(_conv_network(bias=np.arange(32)))


def test_the_quantizing_reader_refuses_convolutions_with_one_message():
    graph = to_nir(_conv_network())
    with pytest.raises(NirError, match=r"^node 'conv0' is a Conv2d: the quantizing reader "
                       r"\(python -m sw.nir import\) takes chains of Linear/Affine and IF/LIF "
                       r"nodes only, though the accelerator runs convolutions"):
        read_float(graph, dt=1.0)


def test_a_bad_conv_node_is_named():
    graph = to_nir(_conv_network())
    graph.nodes["conv0"].dilation = np.array([2, 2])
    with pytest.raises(NirError, match=r"node 'conv0' \(Conv2d\): dilation is .*; the "
                       r"accelerator's convolutions are not dilated"):
        from_nir(graph)
    graph = to_nir(_conv_network())
    graph.nodes["conv0"].stride = np.array([1, 2])
    with pytest.raises(NirError, match=r"node 'conv0' \(Conv2d\): stride is .*; the "
                       r"accelerator's convolutions take one integer for both axes"):
        from_nir(graph)


def test_export_notes_of_a_conv_network():
    assert any("one image at a time" in note for note in export_notes(_conv_network()))
    assert not any("one image at a time" in note
                   for note in export_notes(Network([Layer(weights=np.ones((2, 3), int))])))
