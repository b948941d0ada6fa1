"""The Spiking-GAN generator: decoding, the TTFS losses, training, export and the metrics."""

import numpy as np
import pytest
import torch

from core import golden
from core.network import Network
from core.numerics import NEVER
from sw.gan.images import grid, intensity, latent, quantize_pixels, to_pixels
from sw.gan.loss import FAKE, REAL, ttfs_loss, ttfs_targets
from sw.gan.metrics import class_view, frechet
from sw.gan.model import ANNGenerator, generate
from sw.gan.train import (build_generator, distill, export, first_times, load_recipe,
                          spike_stats, train)


# -- decoding -----------------------------------------------------------------------------

def test_intensity_by_hand():
    # T = 8: step 0 is white, step 7 the darkest grey, no spike (255 or T) black.
    times = np.array([0, 1, 7, 8, NEVER])
    assert intensity(times, 8).tolist() == [1.0, 7 / 8, 1 / 8, 0.0, 0.0]
    assert to_pixels(times, 8).tolist() == [255, 223, 32, 0, 0]


def test_intensity_is_the_same_on_tensors_and_differentiable():
    t = torch.tensor([0.0, 3.0, 4.0, 2.5, 6.0], requires_grad=True)
    out = intensity(t, 4)
    assert out.detach().tolist() == intensity(np.array([0, 3, 4, 2.5, 6]), 4).tolist()
    out.sum().backward()
    # At T (a neuron that never fired, from first_spike_time) the gradient still flows, so
    # that a silent neuron can learn to fire; past T there is none.
    assert t.grad.tolist() == [-0.25, -0.25, -0.25, -0.25, 0.0]


def test_quantize_pixels_and_latent_and_grid():
    assert quantize_pixels(np.array([0, 15, 16, 128, 255]), 8).tolist() == [0, 0.0, 0.125,
                                                                             0.5, 1.0]
    a, b = latent(5, 32, seed=3), latent(5, 32, seed=3)
    assert a.dtype == np.uint8 and a.shape == (5, 32) and np.array_equal(a, b)
    assert not np.array_equal(a, latent(5, 32, seed=4))
    picture = grid(np.ones((5, 784)), columns=3)
    assert picture.shape == (2 * 30 + 2, 3 * 30 + 2) and picture.max() == 255
    assert picture[0].max() == 0                   # the padding is black


# -- losses -------------------------------------------------------------------------------

def test_ttfs_targets_by_hand():
    times = torch.tensor([[3.0, 5.0], [4.0, 4.5]])
    correct = torch.tensor([REAL, REAL])
    plain = ttfs_targets(times, correct, gamma=1.0)
    assert plain.tolist() == [[3.0, 5.0], [4.0, 5.0]]      # leads by 2: nothing to change
    aggr = ttfs_targets(times, correct, gamma=1.0, aggressive=True)
    assert aggr.tolist() == [[2.0, 5.0], [3.0, 5.0]]


def test_aggressive_loss_pushes_the_correct_neuron_earlier():
    # The correct neuron already fires first, by 4 steps: plain TTFS (cross-entropy) has
    # almost nothing left to ask; Aggressive TTFS still pulls it earlier by the full margin
    # (a positive gradient on its time: gradient descent lowers it).
    times = torch.tensor([[2.0, 6.0]], requires_grad=True)
    ttfs_loss(times, REAL, gamma=1.0).backward()
    plain = times.grad.clone()
    times.grad = None
    loss = ttfs_loss(times, REAL, gamma=1.0, aggressive=True)
    loss.backward()
    ce = torch.nn.functional.cross_entropy(-times.detach(), torch.tensor([REAL]))
    assert loss.item() == pytest.approx(ce.item() + 0.5)       # 1/2 (2 - (2 - 1))^2
    assert times.grad[0, REAL] - plain[0, REAL] == pytest.approx(1.0)
    assert 0 < plain[0, REAL] < 0.02


def test_both_losses_push_a_late_correct_neuron_ahead():
    times = torch.tensor([[5.0, 3.0]], requires_grad=True)
    for aggressive in (False, True):
        times.grad = None
        ttfs_loss(times, torch.tensor([REAL]), gamma=1.0, aggressive=aggressive).backward()
        assert times.grad[0, REAL] > 0 > times.grad[0, FAKE]


# -- training and export --------------------------------------------------------------------

def _tiny(tmp_path, steps=4, loss="aggressive", **train_keys):
    config = load_recipe(overrides={
        "generator": {"latent_dim": 8, "hidden": [16], "timesteps": 4},
        "discriminator": {"hidden": 16},
        "train": {"steps": steps, "batch_size": 8, "loss": loss, **train_keys},
        "export": {"name": "tiny_gan", "check_samples": 32}})
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 784), dtype=np.uint8)
    pixels[rng.random(pixels.shape) < 0.8] = 0
    model, history = train(config, pixels, "snn", progress=False)
    net, check = export(model, tmp_path / "g.snn", config)
    return config, model, net, check, history


def test_tiny_generator_trains_and_exports_a_valid_network(tmp_path):
    config, model, net, check, history = _tiny(tmp_path)
    assert isinstance(net, Network) and net.validate() is net
    assert net.sizes == [8, 16, 784] and net.encoder == "direct" and net.timesteps == 4
    assert all(layer.fire_once for layer in net.layers)
    assert check == {"samples": 32, "disagree": 0}
    assert history["steps"] == 4 and history["log"]
    # Training moved the weights: a model of 0 steps is a different network.
    assert (tmp_path / "g.snn").stat().st_size > 0


def test_golden_and_training_model_agree_on_every_spike_time(tmp_path):
    _, model, net, _, _ = _tiny(tmp_path, steps=6, loss="ttfs")
    z = latent(40, 8, seed=9)
    expect = first_times(model, z)
    got = golden.run(net, z).first_time
    assert np.array_equal(got, expect)
    assert (got < NEVER).any()                   # some output neurons fire at all


def test_spike_stats_count_the_golden_spikes(tmp_path):
    _, _, net, _, _ = _tiny(tmp_path, steps=2)
    z = latent(10, 8, seed=1)
    stats = spike_stats(net, z)
    trace = golden.run(net, z)
    assert stats["output_spikes_per_sample"] == pytest.approx(
        (trace.first_time < NEVER).sum() / 10)
    assert stats["spikes_per_sample"] >= stats["output_spikes_per_sample"]


def test_warm_start_trains_teacher_distills_and_exports_bit_exactly(tmp_path):
    _, model, net, check, history = _tiny(tmp_path, steps=3, distill_steps=4, teacher_steps=3)
    assert check == {"samples": 32, "disagree": 0}
    phases = [entry["phase"] for entry in history["log"]]
    assert phases.count("teacher") == 2 and phases.count("distill") == 2
    assert phases.count("snn") == 2 and phases.index("snn") > phases.index("distill")
    assert 0 < history["teacher_seconds"] and 0 < history["distill_seconds"]
    z = latent(40, 8, seed=9)
    assert np.array_equal(golden.run(net, z).first_time, first_times(model, z))


def test_distillation_brings_the_images_closer_to_the_teachers():
    config = load_recipe(overrides={
        "generator": {"latent_dim": 8, "hidden": [32], "timesteps": 4},
        "train": {"batch_size": 32, "distill_steps": 40, "lr_distill": 3e-3}})
    teacher = ANNGenerator(8, (16,), seed=5)
    student = build_generator(config)
    z = torch.from_numpy(latent(64, 8, seed=4).astype(np.float32))

    def error():
        with torch.no_grad():
            return ((generate(student, z)[0] - teacher(z)) ** 2).mean().item()

    before = error()
    distill(student, teacher, config)
    assert error() < 0.7 * before


def test_recipe_errors_name_the_key():
    with pytest.raises(ValueError, match="train.distill_steps"):
        load_recipe(overrides={"train": {"distill_steps": 5, "teacher_steps": 0}})
    with pytest.raises(ValueError, match="train.loss"):
        load_recipe(overrides={"train": {"loss": "fast"}})
    with pytest.raises(ValueError, match="unknown recipe key 'train.speed'"):
        load_recipe(overrides={"train": {"speed": 1}})


# -- metrics ------------------------------------------------------------------------------

def test_frechet_and_class_view():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet(a, a + 2.0) == pytest.approx(16.0, rel=1e-6)   # |mu shift|^2 = 4 * 2^2
    uniform = np.eye(10)[np.arange(100) % 10]
    view = class_view(uniform)
    assert view["entropy_bits"] == pytest.approx(np.log2(10))
    assert view["confident"] == 1.0
    collapsed = class_view(np.full((20, 10), 0.1) + np.eye(10)[[3] * 20] * 0.05)
    assert collapsed["entropy_bits"] == 0.0 and collapsed["confident"] == 0.0
