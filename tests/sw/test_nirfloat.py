"""sw.nirfloat, the quantizing reader: graphs in the shapes snnTorch, Norse and SpikingJelly write are read
in each tool's time-step convention, simulated, quantized to integers that classify like the
float graph, and bad graphs are refused with a message naming the node and the fix."""

import re

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from core import golden  # noqa: E402
from core.randnet import random_pixels  # noqa: E402
from sw.nirfloat import agreement, nearest_leak, quantize, read_float  # noqa: E402
from sw.nirio import NirError, NirWarning, from_nir, to_nir  # noqa: E402

F32 = np.float32


def _full(value, n):
    return np.full(n, value, F32)


def test_worked_example_snntorch(shapes):
    """docs/nir.md, the snnTorch example: one neuron, W = 0.5, b = 0.1, beta = 0.875, a full
    pixel for T = 4 steps: v = 0.6, 1.125 (spike), 0.6, 1.125 (spike)."""
    graph = shapes.chain([(nir.Affine(weight=np.array([[0.5]], F32),
                                      bias=np.array([0.1], F32)), shapes.snntorch_lif(1))], 1)
    fnet = read_float(graph)
    assert fnet.dt == pytest.approx(1e-4)
    layer = fnet.layers[0]
    assert layer.decay == pytest.approx(0.875) and layer.neuron == "lif"
    assert layer.weights[0, 0] == pytest.approx(0.5) and layer.bias[0] == pytest.approx(0.1)
    pixels = np.array([[255]])
    assert fnet.run(pixels, 4).counts.tolist() == [[2]]
    net = quantize(fnet, timesteps=4, membrane_bits=24).network
    first = net.layers[0]
    assert (first.leak_mode, first.leak, first.reset) == ("factor", 224, "zero")
    assert first.weights.tolist() == [[127]]                  # 0.5 * 127/0.5
    assert first.threshold == 64771                          # floor(255 * 254) + 1
    assert first.bias.tolist() == [6477]                     # round(0.1 * 64770)
    trace = golden.run(net, pixels)
    assert trace.spikes[0][0, :, 0].tolist() == [False, True, False, True]


def test_worked_example_norse(shapes):
    """docs/nir.md, the Norse example: weights [2, -1], LIFBoxCell defaults, dt = 1e-3, input
    (1, 0): the float membrane crosses 1 at step 6, and so does the integer one."""
    graph = shapes.chain([(nir.Linear(weight=np.array([[2.0, -1.0]], F32)),
                           shapes.norse_lif(1))], 2)
    fnet = read_float(graph, dt=1e-3)
    result = quantize(fnet, timesteps=8, membrane_bits=24)
    layer = result.network.layers[0]
    assert (layer.leak_mode, layer.leak, layer.threshold) == ("factor", 230, 161925)
    assert layer.weights.tolist() == [[127, -64]]
    assert any("decay 0.9 approximated by leak_mode='factor', leak=230" in n
               for n in result.notes)
    trace = golden.run(result.network, np.array([[255, 0]]))
    assert trace.spikes[0][0, :, 0].tolist() == [False] * 6 + [True, False]
    assert trace.membrane[0][0, :6, 0].tolist() == [32385, 61481, 87622, 111108, 132209, 151167]
    assert fnet.run(np.array([[255, 0]]), 8).counts.tolist() == [[1]]


def test_worked_example_spikingjelly(shapes):
    """docs/nir.md, the SpikingJelly example: weight 1.5, LIFNode(tau=2), spikes at 1 and 3."""
    graph = shapes.chain([(nir.Linear(weight=np.array([[1.5]], F32)),
                           shapes.spikingjelly_lif(1, 2.0))], 1)
    fnet = read_float(graph, dt=1e-4)
    network = quantize(fnet, timesteps=4, membrane_bits=24).network
    layer = network.layers[0]
    assert (layer.leak_mode, layer.leak, layer.threshold) == ("factor", 128, 43180)
    trace = golden.run(network, np.array([[255]]))
    assert trace.spikes[0][0, :, 0].tolist() == [False, True, False, True]
    assert fnet.run(np.array([[255]]), 4).counts.tolist() == [[2]]


def test_norse_convention_needs_dt(shapes):
    """Norse writes r = 1 and tau in seconds: the decay and the gain dt/tau need its dt."""
    graph = shapes.chain([(nir.Linear(weight=np.array([[2.0, -1.0]], F32)),
                           shapes.norse_lif(1))], 2)
    with pytest.raises(NirError, match=re.escape("give --dt (snnTorch and SpikingJelly export "
                                                 "with dt = 1e-4, Norse with dt = 1e-3)")):
        read_float(graph)
    layer = read_float(graph, dt=1e-3).layers[0]
    assert layer.decay == pytest.approx(0.9)            # 1 - dt * tau_mem_inv
    assert np.allclose(layer.weights, [[0.2, -0.1]], rtol=1e-5)  # gain dt/tau = 0.1
    assert nearest_leak(layer.decay, 16)[:2] == ("factor", 230)


def test_spikingjelly_conventions(shapes):
    """SpikingJelly: LIFNode(tau=2) with decay_input divides its input by tau; IFNode writes
    r = 1/dt, which gives the time step."""
    rng = np.random.default_rng(0)
    graph = shapes.chain([(shapes.affine(rng, 4, 3, 1.0), shapes.spikingjelly_if(4)),
                          (shapes.affine(rng, 2, 4, 1.0), shapes.spikingjelly_lif(2, tau=2.0))],
                         3)
    fnet = read_float(graph)
    assert fnet.dt == pytest.approx(1e-4, rel=1e-5)
    if_layer, lif_layer = fnet.layers
    assert if_layer.neuron == "if"
    assert np.allclose(if_layer.weights, graph.nodes["0"].weight, rtol=1e-5)
    assert lif_layer.decay == pytest.approx(0.5)
    assert np.allclose(lif_layer.weights, graph.nodes["2"].weight / 2, rtol=1e-5)
    no_decay = shapes.chain([(shapes.affine(rng, 2, 3, 1.0),
                              shapes.spikingjelly_lif(2, 4.0, decay_input=False))], 3)
    layer = read_float(no_decay).layers[0]  # r = tau: gain 1, dt = tau / r
    assert layer.decay == pytest.approx(0.75)
    assert np.allclose(layer.weights, no_decay.nodes["0"].weight, rtol=1e-5)


def test_per_neuron_thresholds_and_v_leak_fold_exactly(shapes):
    """Thresholds that differ between neurons scale their rows (zero reset keeps the membrane
    linear), and v_leak is a constant current (dt/tau) v_leak."""
    weight = np.array([[1.0, 2.0], [3.0, -1.0]], F32)
    lif = shapes.snntorch_lif(2, beta=0.5, threshold=[2.0, 0.5])
    lif.v_leak = np.array([0.0, 0.25], F32)
    layer = read_float(shapes.chain([(nir.Linear(weight=weight), lif)], 2)).layers[0]
    assert np.allclose(layer.weights, [[0.5, 1.0], [6.0, -2.0]])
    assert np.allclose(layer.bias, [0.0, 0.5 * 0.25 / 0.5])


def test_cuba_lif_with_an_instant_synapse(shapes):
    """A CubaLIF whose synapse has tau_syn = dt (snnTorch Synaptic with alpha = 0) is an LIF."""
    dt, n = 1e-4, 2
    tau_mem = _full(dt / (1 - 0.75), n)
    cuba = nir.CubaLIF(tau_syn=_full(dt, n), tau_mem=tau_mem, r=tau_mem / F32(dt),
                       w_in=_full(1, n), v_leak=_full(0, n), v_threshold=_full(1, n),
                       v_reset=_full(0, n))
    eye = nir.Linear(weight=np.eye(2, dtype=F32))
    layer = read_float(shapes.chain([(eye, cuba)], 2)).layers[0]
    assert layer.decay == pytest.approx(0.75) and np.allclose(layer.weights, np.eye(2))
    cuba.tau_syn = _full(dt / (1 - 0.5), n)  # alpha = 0.5: a current with state
    with pytest.raises(NirError, match=r"node '1' \(CubaLIF\): tau_syn = .* synaptic current "
                                       r"that decays by 0\.5 per step"):
        read_float(shapes.chain([(eye, cuba)], 2))


@pytest.mark.parametrize("tool, dt", [("snntorch_lif", None), ("spikingjelly_if", None),
                                      ("norse_lif", 1e-3)])
def test_quantized_network_classifies_like_the_float_graph(tool, dt, shapes):
    """A random 48-24-6 network of each tool's neurons, calibrated on 200 images: the integer
    model classifies at least 95 % of 200 other images like the float simulation."""
    rng = np.random.default_rng(3)
    maker = getattr(shapes, tool)
    gain = 10.0 if tool == "norse_lif" else 1.0  # Norse's input gain is dt/tau = 0.1
    graph = shapes.chain([(shapes.affine(rng, 24, 48, 0.25 * gain, 0.2 * gain), maker(24)),
                          (shapes.affine(rng, 6, 24, 0.8 * gain, 0.2 * gain), maker(6))], 48)
    fnet = read_float(graph, dt=dt)
    calibration, test = random_pixels(rng, 200, 48), random_pixels(rng, 200, 48)
    run = fnet.run(test, 8)
    assert 0 < run.counts.mean() < 8  # the outputs spike, but not at every step
    result = quantize(fnet, timesteps=8, calibration=calibration)
    assert result.agreement >= 0.95
    assert agreement(fnet, result.network, test)["agreement"] >= 95.0
    assert result.network.readout == "spike_count" and result.network.encoder == "direct"


def test_more_weight_bits_agree_better(shapes):
    rng = np.random.default_rng(4)
    graph = shapes.chain([(shapes.affine(rng, 32, 48, 0.25), shapes.snntorch_lif(32)),
                          (shapes.affine(rng, 6, 32, 0.8), shapes.snntorch_lif(6))], 48)
    fnet = read_float(graph)
    cal, test = random_pixels(rng, 200, 48), random_pixels(rng, 300, 48)
    share = {b: agreement(fnet, quantize(fnet, timesteps=8, weight_bits=b,
                                         calibration=cal).network, test)["agreement"]
             for b in (2, 8)}
    assert share[8] > share[2]


def test_round_trip_through_to_nir_is_read_back(shapes):
    """to_nir's graphs (any dt and input scale) simulate in float as the integer network."""
    rng = np.random.default_rng(5)
    graph = shapes.chain([(shapes.affine(rng, 16, 32, 0.3), shapes.snntorch_lif(16)),
                          (shapes.affine(rng, 4, 16, 0.8), shapes.snntorch_lif(4))], 32)
    net = quantize(read_float(graph), timesteps=6,
                   calibration=random_pixels(rng, 100, 32)).network
    pixels = random_pixels(rng, 100, 32)
    for dt, scale in [(1.0, 1.0), (1e-4, 255.0)]:
        fnet = read_float(to_nir(net, dt=dt, input_scale=scale))
        assert agreement(fnet, net, pixels)["agreement"] >= 95.0


# -- bad graphs: one message naming the node and the fix --------------------------------------

def _with(shapes, change):
    rng = np.random.default_rng(0)
    graph = shapes.chain([(shapes.affine(rng, 4, 3, 1.0), shapes.snntorch_lif(4)),
                          (shapes.affine(rng, 2, 4, 1.0), shapes.snntorch_lif(2))], 3)
    change(graph)
    return graph


def _set(node, field, value):
    def change(graph):
        values = np.array(getattr(graph.nodes[node], field), dtype=F32)
        values.reshape(-1)[0] = value
        setattr(graph.nodes[node], field, values)
    return change


def _edges(*extra, drop=()):
    def change(graph):
        graph.edges = [e for e in graph.edges if e not in drop] + list(extra)
    return change


def _node(name, node):
    def change(graph):
        graph.nodes[name] = node
    return change


BAD = [
    (_edges(("3", "2")), "nodes '2' -> '3' -> '2' form a cycle (recurrence)"),
    (_edges(("1", "output")), "node '1' (LIF) feeds both '2' and 'output'; the accelerator runs "
                              "a single chain"),
    (_node("2", nir.Delay(delay=np.ones(4))), "node '2' is a Delay: the accelerator has no "
                                               "synaptic delays"),
    (_node("3", nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))),
     "node '3' is a LI: a leaky integrator never fires"),
    (_set("0", "weight", np.nan), "node '0' (Affine): weight holds nan; every parameter must be "
                                  "a finite number"),
    (_set("2", "bias", np.inf), "node '2' (Affine): bias holds inf"),
    (_set("1", "tau", np.nan), "node '1' (LIF): tau is nan for some neurons"),
    (_set("3", "v_threshold", -np.inf), "node '3' (LIF): v_threshold is -inf"),
    (_set("1", "v_reset", 0.5), "node '1' (LIF): v_reset is [0.5 0.  0.  0. ]; the accelerator "
                                "resets to 0: export v_reset = 0"),
    (_set("1", "v_threshold", 0.0), "node '1' (LIF): v_threshold is 0 for some neurons"),
    (_set("1", "tau", 2e-4), "node '1' (LIF): tau differs between neurons (decay 1 - dt/tau "
                             "from 0.5 to 0.875); the accelerator has one leak per layer"),
    (_set("1", "tau", 5e-5), "is a decay 1 - dt/tau"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_graphs_are_refused(change, message, shapes):
    with pytest.raises(NirError, match=re.escape(message)):
        read_float(_with(shapes, change), dt=1e-4)


def test_export_notes_name_what_nir_cannot_say():
    from core.network import Layer, Network
    from sw.nirio import export_notes
    net = Network([Layer(np.ones((2, 3), np.int64), 2, 3, neuron="if", reset="subtract",
                         fire_once=True)], encoder="hybrid")
    text = "\n".join(export_notes(net))
    for said in ["encoder 'hybrid'", "layer 0: reset 'subtract'", "layer 0: fire_once",
                 "layer 0: nir.IF", "saturation"]:
        assert said in text, said
    assert "nir.IF" not in "\n".join(export_notes(net, if_as_lif=True))
    net = Network([Layer(np.ones((2, 3), np.int64), 2, 3, neuron="lif", reset="zero",
                         fire_once=False)], encoder="direct")
    assert len(export_notes(net)) == 1


@pytest.mark.parametrize("readout", ["spike_count", "first_spike", "max_membrane"])
def test_float_readouts_match_the_integer_ones(readout, shapes):
    """The float simulation picks classes by the rule of each read-out: on a network exported
    from integers with dt = 1 (decays that are exact leaks, no rounding of the membrane that
    matters), it agrees with the golden model on nearly every image."""
    rng = np.random.default_rng(6)
    graph = shapes.chain([(shapes.affine(rng, 16, 32, 0.3), shapes.snntorch_lif(16)),
                          (shapes.affine(rng, 5, 16, 0.8), shapes.snntorch_lif(5))], 32)
    net = quantize(read_float(graph), timesteps=6, readout=readout,
                   calibration=random_pixels(rng, 100, 32)).network
    pixels = random_pixels(rng, 200, 32)
    fnet = read_float(to_nir(net))
    assert agreement(fnet, net, pixels)["agreement"] >= 95.0


def _norse_run(graph, pixels, timesteps, dt=1e-3):
    """Norse 1.1.0's ``from_nir(graph, dt=dt)`` run for ``timesteps`` steps, transcribed from
    its source (norse is not installed here: it needs another torch): ``Affine``/``Linear``
    -> ``nn.Linear``; ``LIF`` -> ``LIFBoxCell(tau_mem_inv=1/tau, v_th, v_leak)``, which steps
    ``v += dt tau_mem_inv (i + v_leak - v)`` and ignores ``r``; ``IF`` -> ``IAFCell(v_th)``,
    which steps ``v += i``; both spike when ``v - v_th > 0`` and reset to 0. Returns the
    output spike counts."""
    order, name = [], "input"
    successor = dict(graph.edges)
    while successor[name] != "output":
        name = successor[name]
        order.append(graph.nodes[name])
    x = pixels.astype(F32) / F32(255)
    state = [None] * len(order)
    counts = 0
    for _ in range(timesteps):
        a = x
        for k, node in enumerate(order):
            if isinstance(node, (nir.Linear, nir.Affine)):
                a = a @ node.weight.astype(F32).T + (node.bias.astype(F32)
                                                      if isinstance(node, nir.Affine) else 0)
                continue
            v = np.zeros_like(a) if state[k] is None else state[k]
            if isinstance(node, nir.LIF):
                v = v + F32(dt) / node.tau.astype(F32) * (a + node.v_leak.astype(F32) - v)
            else:
                v = v + a
            z = (v - node.v_threshold.astype(F32) > 0).astype(F32)
            state[k] = (1 - z) * v
            a = z
        counts = counts + a
    return counts


@pytest.mark.parametrize("neurons", [("lif", "lif"), ("if", "lif")])
def test_norse_export_runs_as_the_golden_model_in_norse(neurons, shapes):
    """sw.nir export --for norse (r = 1, the gain dt/tau divided out of the weights, dt =
    1e-3), run by a transcription of Norse's importer and neurons: the golden model's classes.
    snnTorch's style of graph does not run in Norse (its decay reads differently)."""
    rng = np.random.default_rng(8)
    makers = {"lif": shapes.snntorch_lif, "if": lambda n: shapes.spikingjelly_if(n)}
    graph = shapes.chain([(shapes.affine(rng, 24, 40, 0.3), makers[neurons[0]](24)),
                          (shapes.affine(rng, 6, 24, 0.8), makers[neurons[1]](6))], 40)
    net = quantize(read_float(graph), timesteps=8,
                   calibration=random_pixels(rng, 100, 40)).network
    pixels = random_pixels(rng, 300, 40)
    ours = golden.predict(net, pixels)
    norse = _norse_run(to_nir(net, dt=1e-3, input_scale=255.0, r_one=True), pixels, 8)
    assert np.mean(norse.argmax(axis=1) == ours) >= 0.97
    with pytest.warns(NirWarning, match="folded into the weights"):
        assert from_nir(to_nir(net, dt=1e-3, input_scale=255.0, r_one=True)) == net
    snntorch_style = _norse_run(to_nir(net, dt=1e-4, input_scale=255.0), pixels, 8)
    assert np.mean(snntorch_style.argmax(axis=1) == ours) < 0.9
