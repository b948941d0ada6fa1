"""sw.robust: the attacks on models whose gradient is known, the budgets, the integer model's
twin against the golden model, the differentiable encoder and the experiment's bookkeeping."""

import math

import numpy as np
import pytest
import torch

from core import golden
from core.network import Conv, Layer, Network, avg_pool
from sw import attacks, robust
from sw.snn import SNN, LayerSpec, SNNConfig, readout, spike_time_membrane_loss
from sw.snn.ann import ANN
from sw.snn.export import to_network
from sw.snn.model import encode

torch.set_num_threads(1)


def linear_loss(w):
    """A loss whose gradient in x is w for every image: x @ w."""
    return lambda x, labels: x @ w


@pytest.fixture
def linear():
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(8, generator=gen)
    x = torch.rand(5, 8, generator=gen) * 0.4 + 0.3       # inside (0.3, 0.7): no clipping
    return w, x, torch.zeros(5, dtype=torch.int64)


def test_fgsm_steps_eps_times_the_sign_of_the_gradient(linear):
    w, x, y = linear
    adv = attacks.fgsm(linear_loss(w), x, y, 0.1)
    assert torch.allclose(adv - x, 0.1 * torch.sign(w).expand_as(x), atol=1e-6)


def test_fgsm_clips_to_the_image_range():
    w = torch.tensor([1.0, -1.0])
    adv = attacks.fgsm(linear_loss(w), torch.tensor([[0.95, 0.05]]), torch.zeros(1, dtype=torch.long), 0.2)
    assert adv.tolist() == [[1.0, 0.0]]


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_reaches_the_corner_of_the_ball_and_stays_in_it(linear, random_start):
    w, x, y = linear
    gen = torch.Generator().manual_seed(0)
    adv = attacks.pgd(linear_loss(w), x, y, 0.1, steps=10, step_size=0.03,
                     random_start=random_start, generator=gen)
    assert torch.allclose(adv, x + 0.1 * torch.sign(w), atol=1e-6)
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6


def test_pgd_random_start_lies_in_the_ball():
    w = torch.zeros(50)  # no gradient: the random start is all there is
    x = torch.full((4, 50), 0.5)
    adv = attacks.pgd(linear_loss(w), x, torch.zeros(4, dtype=torch.long), 0.2, steps=0,
                     generator=torch.Generator().manual_seed(0))
    assert float((adv - x).abs().max()) <= 0.2 + 1e-6
    assert float((adv - x).abs().max()) > 0.1       # it did move


def test_spsa_finds_the_gradient_sign_without_gradients(linear):
    _, x, y = linear
    w = torch.tensor([1.0, -1.2, 1.1, -1.0, 1.3, -1.1, 1.0, 1.2])
    calls = []

    def loss(images, labels):
        assert not images.requires_grad   # forward passes only
        calls.append(len(images))
        return images @ w
    adv = attacks.spsa(loss, x, y, 0.1, steps=10, directions=256, delta=0.01,
                      generator=torch.Generator().manual_seed(0))
    assert torch.allclose(adv, x + 0.1 * torch.sign(w), atol=1e-6)
    assert calls == [2 * 256 * len(x)] * 10   # all directions of a step in one batch


@pytest.mark.parametrize("eps, levels", [(0.1, 25), (8 / 255, 8), (0.3, 76), (1.0, 255)])
def test_within_rounds_to_pixels_inside_the_budget(eps, levels):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30)).astype(np.uint8)
    adv = torch.from_numpy(rng.random((20, 30)).astype(np.float32))   # anywhere in [0, 1]
    out = attacks.within(pixels, adv, eps)
    assert out.dtype == np.uint8
    diff = np.abs(out.astype(int) - pixels.astype(int))
    assert diff.max() == levels or eps == 1.0     # as far as the budget allows, no further
    inside = np.abs(np.rint(adv.numpy() * 255) - pixels) <= levels
    assert (out[inside] == np.rint(adv.numpy() * 255)[inside]).all()   # else rounded only


def test_parse_eps():
    assert attacks.parse_eps("0.3, 8/255,0.1,0.1") == [8 / 255, 0.1, 0.3]
    for bad, word in [("0.1,x", "'x' is not a number"), ("0", "outside"), ("1.5", "outside"),
                      ("1/0", "not a number"), ("", "not a number")]:
        with pytest.raises(ValueError, match=word):
            attacks.parse_eps(bad)


def small_snn(encoder, neuron, seed=0, T=3):
    cfg = SNNConfig(n_inputs=64, layers=[LayerSpec(24, neuron=neuron, threshold=0.3),
                                         LayerSpec(10, neuron=neuron, reset="none")],
                    timesteps=T, encoder=encoder, weight_bits=4)
    return SNN(cfg, seed=seed)


@pytest.mark.parametrize("encoder", ["direct", "hybrid", "rate"])
@pytest.mark.parametrize("neuron", ["if", "lif"])
def test_twin_gives_the_golden_models_classes(encoder, neuron):
    network = to_network(small_snn(encoder, neuron))
    pixels = np.random.default_rng(1).integers(0, 256, (300, 64)).astype(np.uint8)
    twin = robust.twin(network)
    expected = golden.predict(network, pixels)
    assert (robust.SNNClassifier(twin, quantized=True).predict(pixels) == expected).all()
    assert (robust.IntegerClassifier(network).predict(pixels) == expected).all()
    # the differentiable path runs the same forward pass
    x = torch.from_numpy(pixels.astype(np.float32) / 255)
    events = robust.encode_events(x, network.timesteps, encoder, network.lfsr_seed)
    twin.quantized = True
    assert (readout(twin(None, events=events), network.readout).numpy() == expected).all()


def test_twin_refuses_a_network_with_a_bias():
    network = to_network(small_snn("direct", "if"))
    network.layers[0].bias = np.ones(24, np.int64)
    with pytest.raises(ValueError, match="bias"):
        robust.twin(network)


@pytest.mark.parametrize("encoder, neuron", [("hybrid", "if"), ("direct", "lif")])
def test_twin_of_a_convolutional_network_gives_the_golden_models_classes(encoder, neuron):
    # conv 4 3x3 pad 1 - max pool 2 - conv 4 3x3 - dense 10 on 1 x 8 x 8 images (issue 14)
    cfg = SNNConfig(n_inputs=64, input_shape=(1, 8, 8), timesteps=3, encoder=encoder,
                    weight_bits=4, layers=[
                        LayerSpec(4, kind="conv", kernel=3, padding=1, neuron=neuron,
                                  threshold=0.2),
                        LayerSpec(0, kind="pool", kernel=2),
                        LayerSpec(4, kind="conv", kernel=3, neuron=neuron, threshold=0.2),
                        LayerSpec(10, neuron=neuron, reset="none", threshold=0.3)])
    network = to_network(SNN(cfg, seed=2))
    assert [layer.conv is not None for layer in network.layers] == [True, True, True, False]
    pixels = np.random.default_rng(3).integers(0, 256, (200, 64)).astype(np.uint8)
    expected = golden.predict(network, pixels)
    assert len(np.unique(expected)) > 1        # the classes depend on the image
    twin = robust.twin(network)
    assert (robust.SNNClassifier(twin, quantized=True).predict(pixels) == expected).all()


def test_twin_refuses_an_average_pooling():
    c = Conv(1, 4, 4, 2, kernel=3)
    network = Network(layers=[Layer(weights=np.ones(c.weight_shape, int), conv=c),
                              avg_pool(2, 2, 2, 2), Layer(weights=np.ones((3, 2), int))])
    with pytest.raises(ValueError, match=r"^layer 1 of the network is a grouped convolution "
                       r"other than max pooling \(an average pooling\?\); the training model "
                       r"\(sw.snn\) has dense, convolution and max-pooling layers only"):
        robust.twin(network)


@pytest.mark.parametrize("encoder, per_pixel", [("direct", 255 * 3), ("hybrid", 255),
                                                 ("rate", 255 * 3)])
def test_encode_events_values_and_gradients(encoder, per_pixel):
    pixels = np.random.default_rng(2).integers(0, 256, (6, 64)).astype(np.uint8)
    x = torch.from_numpy(pixels.astype(np.float32) / 255).requires_grad_(True)
    events = robust.encode_events(x, 3, encoder)
    assert torch.equal(events.detach(), encode(torch.from_numpy(pixels), 3, encoder))
    (grad,) = torch.autograd.grad(events.sum(), x)
    assert torch.allclose(grad, torch.full_like(grad, float(per_pixel)))


def test_snn_loss_is_the_training_loss_per_image():
    model = small_snn("hybrid", "if")
    pixels = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (12, 64)))
    labels = torch.arange(12) % 10
    out = model(pixels)
    per_image = robust.snn_loss(out, labels)
    assert per_image.shape == (12,)
    assert torch.allclose(per_image.mean(), spike_time_membrane_loss(out, labels))


def test_attacks_lower_the_accuracy_and_every_set_is_in_the_budget():
    """An SNN and an ANN trained on one linear rule: the clean path, white-box and transfer
    rows, budgets on the kept images, the strongest attack and the worst case."""
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 256, (60, 64)).astype(np.uint8)
    network = to_network(small_snn("direct", "if", seed=3))
    integer = robust.IntegerClassifier(network)
    labels = integer.predict(pixels)              # every clean image right
    ann = robust.ANNClassifier(ANN([64, 24, 10], seed=0))
    setting = robust.Setting(eps=[0.05, 0.3], attacks=("fgsm", "pgd", "spsa"),
                             sources=("ann", "snn_int"), steps=3, spsa_steps=2,
                             spsa_directions=4, spsa_samples=20, batch_size=25)
    said = []
    result = robust.run_attacks({"ann": ann, "snn_int": integer}, pixels, labels, setting,
                                progress=said.append, keep_images=True)
    assert result["clean"]["snn_int"] == 1.0
    assert result["clean"]["ann"] == pytest.approx(float((ann.predict(pixels) == labels).mean()))
    # ANN: fgsm, pgd; SNN: fgsm and pgd for two surrogates, spsa; each at two budgets
    assert len(result["rows"]) == 2 * 2 + (2 * 2 + 1) * 2 == len(said)
    for row in result["rows"]:
        n = row["images"]
        assert n == (20 if row["attack"] == "spsa" else 60)
        diff = np.abs(row["pixels"].astype(int) - pixels[:n].astype(int))
        assert diff.max() <= math.floor(255 * row["eps"] + 1e-6)
        assert row["accuracy"]["snn_int"] == pytest.approx(
            float((integer.predict(row["pixels"]) == labels[:n]).mean()))
    best = robust.strongest(result, "snn_int", 0.3)
    assert best["accuracy"] == min(r["accuracy"]["snn_int"] for r in result["rows"]
                                   if r["eps"] == 0.3)
    assert best["accuracy"] < 1.0
    assert best["worst_case"] <= best["accuracy"]
    assert robust.strongest(result, "snn_int", 0.2) is None


def test_ann_files(tmp_path):
    ann = ANN([64, 24, 10], seed=0)
    robust.save_ann(ann, tmp_path / "a.pt")
    back = robust.load_ann(tmp_path / "a.pt")
    x = torch.rand(3, 64)
    assert torch.equal(back(x), ann(x))
    (tmp_path / "bad.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt is not an ANN file"):
        robust.load_ann(tmp_path / "bad.pt")
