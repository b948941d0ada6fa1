"""sw.nirio: networks go to NIR and back unchanged, and foreign graphs are checked."""

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from core import golden  # noqa: E402
from core.randnet import random_network, random_pixels  # noqa: E402
from sw.nirio import NirError, from_nir, load_nir, save_nir, to_nir  # noqa: E402


@pytest.mark.parametrize("seed", range(12))
def test_round_trip_is_exact(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    back = from_nir(to_nir(net))
    assert back == net
    x = random_pixels(rng, 3, net.n_inputs)
    assert np.array_equal(golden.run(back, x).prediction, golden.run(net, x).prediction)


def test_file_round_trip(tmp_path):
    net = random_network(np.random.default_rng(99))
    save_nir(net, tmp_path / "n.nir")
    assert load_nir(tmp_path / "n.nir") == net


def test_graph_uses_nir_neurons():
    net = random_network(np.random.default_rng(5))
    graph = to_nir(net)
    kinds = {type(graph.nodes[f"neuron{k}"]).__name__ for k in range(len(net.layers))}
    assert kinds <= {"IF", "LIF"}
    assert np.array_equal(graph.nodes["linear0"].weight, net.layers[0].weights)


def _foreign(weight, threshold=3.0, tau=None):
    n_out, n_in = np.asarray(weight).shape
    neuron = (nir.IF(r=np.ones(n_out), v_threshold=np.full(n_out, threshold)) if tau is None
              else nir.LIF(tau=np.full(n_out, tau), r=np.ones(n_out), v_leak=np.zeros(n_out),
                           v_threshold=np.full(n_out, threshold)))
    return nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([n_in])}),
                               "w": nir.Linear(weight=np.asarray(weight, float)), "n": neuron,
                               "out": nir.Output(output_type={"output": np.array([n_out])})},
                        edges=[("in", "w"), ("w", "n"), ("n", "out")])


def test_foreign_graph_without_metadata():
    net = from_nir(_foreign([[1, -2, 3], [0, 1, 1]], tau=2.0))
    assert net.layers[0].neuron == "lif" and net.layers[0].leak == 128  # 1 - 1/tau = 0.5
    assert net.layers[0].threshold == 3 and net.layers[0].weight_bits == 3


def test_foreign_graph_errors():
    with pytest.raises(NirError, match="weights are not integers"):
        from_nir(_foreign([[0.5, 1.0]]))
    with pytest.raises(NirError, match="thresholds are not integers"):
        from_nir(_foreign([[1, 1]], threshold=2.5))
