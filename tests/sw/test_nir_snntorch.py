"""A round trip through snnTorch itself: a small network trained here on the digits, exported
with snnTorch's ``export_to_nir``, imported and quantized by sw.nirfloat, and classifying like
snnTorch; and a model exported by sw.nirio, loaded with snnTorch's ``import_from_nir`` and run
there, classifying like the golden model."""

import numpy as np
import pytest

snntorch = pytest.importorskip("snntorch")
pytest.importorskip("nirtorch")
torch = pytest.importorskip("torch")

from cli import nirbench  # noqa: E402
from core import golden  # noqa: E402
from sw import data  # noqa: E402
from sw.nirfloat import agreement, quantize, read_float  # noqa: E402
from sw.nirio import to_nir  # noqa: E402

T = 8


@pytest.fixture(scope="module")
def trained():
    """A 64-32-10 snnTorch network (Leaky, beta 0.875, zero reset, biases), 3 epochs on the
    digits (about 3 s), its predictions on the test split, and its NIR graph."""
    torch.set_num_threads(1)
    digits = data.load_digits()
    model = nirbench.build([64, 32, 10], seed=0)
    nirbench.train(model, *digits["train"], timesteps=T, epochs=3, lr=1e-2)
    predictions = nirbench.predict(model, digits["test"].pixels, timesteps=T)
    return digits, model, predictions, nirbench.export(model, 64)


def test_snntorch_graph_shape(trained):
    """What snnTorch 1.0.0 writes: Affine (with the bias) and LIF with dt = 1e-4."""
    *_, graph = trained
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert sorted(kinds.values()) == ["Affine", "Affine", "Input", "LIF", "LIF", "Output"]
    lif = next(n for n in graph.nodes.values() if type(n).__name__ == "LIF")
    assert np.allclose(lif.r * 1e-4, lif.tau) and np.allclose(1 - 1e-4 / lif.tau, 0.875)


def test_float_simulation_matches_snntorch(trained):
    digits, model, predictions, graph = trained
    assert np.mean(predictions == digits["test"].labels) > 0.7  # it learned something
    fnet = read_float(graph)
    assert np.mean(fnet.run(digits["test"].pixels, T).prediction == predictions) >= 0.99


def test_import_agrees_with_snntorch(trained):
    digits, model, predictions, graph = trained
    fnet = read_float(graph)
    result = quantize(fnet, timesteps=T, weight_bits=8,
                      calibration=digits["train"].pixels[:300])
    ours = golden.predict(result.network, digits["test"].pixels)
    assert np.mean(ours == predictions) >= 0.95
    report = agreement(fnet, result.network, *digits["test"])
    assert abs(report["integer_accuracy"] - report["float_accuracy"]) <= 2.0


def test_export_runs_in_snntorch(trained):
    """Our model, written with snnTorch's dt and inputs in [0, 1], loaded by snnTorch's own
    importer and run for T steps: the same classes as the golden model."""
    from snntorch.import_nir import import_from_nir
    import snntorch.utils
    digits, _, _, graph = trained
    network = quantize(read_float(graph), timesteps=T,
                       calibration=digits["train"].pixels[:300]).network
    module = import_from_nir(to_nir(network, dt=1e-4, input_scale=255.0))
    x = torch.from_numpy(data.from_pixels(digits["test"].pixels))
    snntorch.utils.reset(module)
    counts = 0
    with torch.no_grad():
        for _ in range(T):
            spikes, _ = module(x)
            counts = counts + spikes
    theirs = counts.argmax(dim=1).numpy()
    assert np.mean(theirs == golden.predict(network, digits["test"].pixels)) >= 0.98


@pytest.mark.parametrize("mechanism, reset", [("zero", "zero"),
                                              ("subtract", "snntorch-subtract")])
def test_float_simulation_is_snntorch_spike_for_spike(mechanism, reset):
    """An untrained 20-30-10 snnTorch network, 16 steps: the float simulation counts the same
    spikes as snnTorch's Leaky, for either reset (NIR cannot say which: --reset does)."""
    import snntorch as snn
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(20, 30), snn.Leaky(beta=torch.full((30,), 0.75), threshold=torch.ones(30),
                                           reset_mechanism=mechanism, init_hidden=True),
        torch.nn.Linear(30, 10), snn.Leaky(beta=torch.full((10,), 0.75), threshold=torch.ones(10),
                                           reset_mechanism=mechanism, init_hidden=True))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
    pixels = np.random.default_rng(0).integers(0, 256, (200, 20))
    theirs = nirbench._counts(model, torch.from_numpy(data.from_pixels(pixels)), 16)
    ours = read_float(nirbench.export(model, 20), reset=reset).run(pixels, 16).counts
    assert theirs.sum() > 200  # the network spikes
    assert np.mean(ours == theirs.detach().numpy()) >= 0.99


def test_if_layers_run_in_snntorch_as_lif_with_no_leak(trained):
    """snnTorch 1.0.0 reads nir.IF as a Leaky with beta 0.9; written as an LIF whose decay is
    1 in float32 (if_as_lif), an IF layer runs as the golden model's."""
    from snntorch.import_nir import import_from_nir
    import snntorch.utils
    digits, _, _, graph = trained
    network = quantize(read_float(graph), timesteps=T,
                       calibration=digits["train"].pixels[:300]).network
    network.layers[0].neuron = "if"
    network.layers[0].threshold *= 4  # without the leak, a higher threshold keeps it sparse
    module = import_from_nir(to_nir(network, dt=1e-4, input_scale=255.0, if_as_lif=True))
    x = torch.from_numpy(data.from_pixels(digits["test"].pixels))
    snntorch.utils.reset(module)
    counts = 0
    with torch.no_grad():
        for _ in range(T):
            spikes, _ = module(x)
            counts = counts + spikes
    trace = golden.run(network, digits["test"].pixels)
    assert trace.spike_counts[:, 0].mean() > 10  # the IF layer fires
    assert np.mean(counts.argmax(dim=1).numpy() == trace.prediction) >= 0.98
