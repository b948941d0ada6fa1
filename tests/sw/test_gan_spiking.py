"""The spiking discriminator of the GAN (sw.gan.spiking): its forward times against a
reference, gradients through it into the generator, the S4NN losses, the recipe keys and the
benchmark's flags."""

import numpy as np
import pytest
import torch

from cli import ganbench
from cli.ganbench import _loss_keys, _mean_entry, _percent, _seed_runs, _spread
from cli.ganbench import parser as ganbench_parser
from core.config import Config
from sw.gan.images import intensity, latent, spike_times
from sw.gan.metrics import features, train_classifier
from sw.gan.loss import FAKE, REAL, gan_loss, s4nn_loss, s4nn_targets
from sw.gan.spiking import SpikingDiscriminator, discriminator_stats, spike_trains
from sw.gan.train import (build_discriminator, build_generator, export, first_times,
                          load_recipe, train_gan, warm_start)
from core import golden


def test_spike_times_invert_the_decoding():
    T = 8
    times = np.array([0, 1, 5, 7, 8])
    assert spike_times(intensity(times, T), T).tolist() == times.tolist()
    # Real digits on the T + 1 levels: white fires first, black never.
    assert spike_times(np.array([1.0, 0.5, 0.125, 0.0]), T).tolist() == [0, 4, 7, 8]
    trains = spike_trains(np.array([[0, 2, 4]]), 4)
    assert trains.shape == (1, 4, 3)
    assert trains[0].T.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def _reference_times(w0, th0, w1, th1, input_times, window):
    """Fire-once IF neurons by hand: a neuron's membrane at step t is the sum of the weights
    of the inputs that spiked at or before t (zero delay); it fires at the first t where that
    reaches its threshold. Returns the hidden and the output first-spike steps (window if
    none)."""
    def layer(w, th, times_in):
        out = []
        for row in w:
            first = window
            for t in range(window):
                if sum(wi for wi, ti in zip(row, times_in) if ti <= t) >= th:
                    first = t
                    break
            out.append(first)
        return out
    hidden = layer(w0, th0, input_times)
    return hidden, layer(w1, th1, hidden)


def test_forward_times_equal_a_reference_computation():
    window = 6
    disc = SpikingDiscriminator(hidden=3, timesteps=window, hidden_threshold=1.0,
                                output_threshold=1.0)
    rng = np.random.default_rng(4)
    # Six active pixels (the others never spike), weights on a 1/8 grid so sums are exact.
    pixels = [3, 100, 200, 400, 600, 783]
    w0 = np.zeros((3, 784))
    w0[:, pixels] = rng.integers(-4, 9, (3, 6)) / 8.0
    w1 = rng.integers(-2, 9, (2, 3)) / 8.0
    with torch.no_grad():
        disc.snn.weight[0].copy_(torch.tensor(w0, dtype=torch.float32))
        disc.snn.weight[1].copy_(torch.tensor(w1, dtype=torch.float32))
        disc.snn.set_threshold(0, 0.75)
        disc.snn.set_threshold(1, 0.5)
    decided = cut = 0
    for trial in range(5):
        when = rng.integers(0, 5, 6)                # generator steps 0 .. 4 (T = 5 < window)
        times = np.full((1, 784), 5)
        times[0, pixels] = when
        got = disc(spike_trains(times, 5))
        hidden, expect = _reference_times(w0, 0.75, w1, 0.5, times[0].tolist(), window)
        assert got[0].tolist() == expect, trial
        # Its statistics: every spike, and those in steps 0 .. the first output spike.
        stats = discriminator_stats(disc, spike_trains(times, 5))
        fired = [t for t in hidden + expect if t < window]
        assert stats["decision_time"] == min(expect)
        assert stats["spikes_per_sample"] == len(fired)
        assert stats["spikes_to_decision_per_sample"] == sum(t <= min(expect) for t in fired)
        decided += min(expect) < window
        cut += stats["spikes_to_decision_per_sample"] < stats["spikes_per_sample"]
    # Some trial decided, and in some the decision came before the last spike, or the
    # comparisons above say little.
    assert decided and cut
    # Some trial must have fired something, or the comparison above says little.
    got = disc(spike_trains(np.zeros((1, 784), np.int64), 5))
    assert (got < window).any()


def test_gradients_reach_the_generator_through_its_spikes():
    config = load_recipe(overrides={
        "generator": {"latent_dim": 8, "hidden": [16], "timesteps": 4,
                      "output_threshold": 0.2},
        "discriminator": {"kind": "spiking", "hidden": 16, "timesteps": 6}})
    gen = build_generator(config)
    disc = build_discriminator(config)
    assert isinstance(disc, SpikingDiscriminator) and disc.timesteps == 6
    z = torch.from_numpy(latent(16, 8, seed=3).astype(np.float32))
    out = gen(z)
    loss = gan_loss(disc(out.out_spikes), REAL, "aggressive")
    loss.backward()
    for k in range(2):
        assert gen.weight[k].grad is not None and gen.weight[k].grad.abs().sum() > 0, k
    # Cut the spikes off the graph and nothing reaches the generator: the gradient above went
    # through the spike trains, not around them.
    gen.zero_grad()
    out = gen(z)
    gan_loss(disc(out.out_spikes.detach()), REAL, "aggressive").backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in gen.parameters())


def test_s4nn_targets_and_loss_by_hand():
    times = torch.tensor([[3.0, 5.0], [6.0, 4.0]], requires_grad=True)
    correct = torch.tensor([REAL, REAL])
    assert s4nn_targets(times, correct, 10.0).tolist() == [[3.0, 10.0], [4.0, 10.0]]
    assert s4nn_targets(times, correct, 10.0, 2.0, aggressive=True).tolist() == [
        [1.0, 10.0], [2.0, 10.0]]
    loss = s4nn_loss(times, correct, 10.0, 2.0, aggressive=True)
    # (1/2) [(3-1)^2 + (5-10)^2 + (6-2)^2 + (4-10)^2] / 2
    assert loss.item() == pytest.approx(0.5 * (4 + 25 + 16 + 36) / 2)
    assert gan_loss(times, FAKE, "s4nn", t_max=10.0).item() == pytest.approx(
        s4nn_loss(times, FAKE, 10.0).item())
    with pytest.raises(ValueError, match="needs the discriminator's window"):
        gan_loss(times, REAL, "s4nn")


def test_recipe_keys_of_the_spiking_discriminator():
    with pytest.raises(ValueError) as error:
        load_recipe(overrides={"discriminator": {"kind": "snn"}})
    assert str(error.value) == "discriminator.kind is 'snn'; it must be one of 'ann', 'spiking'"
    with pytest.raises(ValueError) as error:
        load_recipe(overrides={"discriminator": {"kind": "spiking", "timesteps": 7}})
    assert str(error.value) == (
        "discriminator.timesteps is 7; the spiking discriminator's window must be at least "
        "generator.timesteps (8), or it misses input spikes")
    with pytest.raises(ValueError) as error:
        load_recipe(overrides={"train": {"loss": "s4nn_aggressive"}})
    assert str(error.value) == (
        "train.loss is 's4nn_aggressive', which needs a window of spike times; set "
        "discriminator.kind = \"spiking\" or use 'ttfs' or 'aggressive'")
    with pytest.raises(ValueError) as error:
        load_recipe(overrides={"train": {"discriminator_loss": "hinge"}})
    assert str(error.value) == ("train.discriminator_loss is 'hinge'; it must be one of "
                                "'ttfs', 'aggressive', 's4nn', 's4nn_aggressive'")
    config = load_recipe(overrides={"discriminator": {"kind": "spiking"},
                                    "train": {"loss": "s4nn", "discriminator_loss": "s4nn"}})
    assert config["discriminator"]["kind"] == "spiking"


def test_tiny_gan_with_a_spiking_discriminator_trains_and_exports(tmp_path):
    config = load_recipe(overrides={
        "generator": {"latent_dim": 8, "hidden": [16], "timesteps": 4},
        "discriminator": {"kind": "spiking", "hidden": 16, "timesteps": 5,
                          "warmup_steps": 2},
        "train": {"steps": 3, "batch_size": 8, "distill_steps": 2, "teacher_steps": 2},
        "export": {"name": "tiny_gan", "check_samples": 16}})
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 784), dtype=np.uint8)
    gen, disc, history = train_gan(config, pixels, "snn", progress=False)
    assert isinstance(disc, SpikingDiscriminator)
    snn_log = [e for e in history["log"] if e["phase"] == "snn"]
    assert snn_log and all("t_real" in e and "t_fake" in e for e in snn_log)
    net, check = export(gen, tmp_path / "g.snn", config)
    assert check["disagree"] == 0
    z = latent(8, 8, seed=5)
    assert np.array_equal(golden.run(net, z).first_time, first_times(gen, z))
    spikes = spike_trains(np.minimum(golden.run(net, z).first_time, 4), 4)
    stats = discriminator_stats(disc, spikes)
    assert 0 <= stats["decision_time"] <= 5 and stats["spikes_per_sample"] >= 0
    with pytest.raises(ValueError, match="ANN generator draws intensities"):
        train_gan(config, pixels, "ann", progress=False)


def test_one_warm_start_serves_two_fine_tunings():
    config = load_recipe(overrides={
        "generator": {"latent_dim": 8, "hidden": [16], "timesteps": 4},
        "discriminator": {"kind": "spiking", "hidden": 16, "timesteps": 4},
        "train": {"steps": 2, "batch_size": 8, "distill_steps": 2, "teacher_steps": 2,
                  "teacher_loss": "aggressive"}})
    pixels = np.random.default_rng(1).integers(0, 256, (32, 784), dtype=np.uint8)
    warm = warm_start(config, pixels, progress=False)
    before = [w.detach().clone() for w in warm["generator"].weight]
    runs = {}
    for loss in ("s4nn", "s4nn_aggressive"):
        config["train"]["loss"] = loss
        runs[loss] = train_gan(config, pixels, "snn", progress=False, warm=warm)
    # The shared start is copied, not trained in place, and both runs moved away from it.
    assert all(torch.equal(a, b) for a, b in zip(before, warm["generator"].weight))
    for gen, _, history in runs.values():
        assert not torch.equal(gen.weight[1], before[1])
        assert history["teacher_seconds"] == warm["teacher_seconds"]
    with pytest.raises(ValueError) as error:
        load_recipe(overrides={"discriminator": {"kind": "spiking"},
                               "train": {"loss": "s4nn", "distill_steps": 10}})
    assert str(error.value) == (
        "the warm start's teacher would learn with 's4nn', which needs a spiking "
        "discriminator, but the teacher's is an ANN; set train.teacher_loss to 'ttfs' or "
        "'aggressive'")


def test_ganbench_flags():
    args = ganbench_parser().parse_args(["--discriminator", "spiking", "--losses",
                                         "s4nn,s4nn_aggressive", "--set", "train.margin=2"])
    assert args.discriminator == "spiking"
    assert args.losses == ("s4nn", "s4nn_aggressive")
    assert args.overrides == [{"train": {"margin": 2}}]
    defaults = ganbench_parser().parse_args([])
    assert defaults.discriminator is None and defaults.losses == ("ttfs", "aggressive")
    assert defaults.seeds == 1 and not defaults.both
    args = ganbench_parser().parse_args(["--both", "--seeds", "3"])
    assert args.both and args.seeds == 3


@pytest.mark.parametrize("argv, words", [
    (["--discriminator", "snn"], ["--discriminator", "invalid choice"]),
    (["--losses", "ttfs"], ["--losses", "two different losses"]),
    (["--losses", "ttfs,fast"], ["--losses", "two different losses"]),
    (["--set", "margin"], ["--set", "SECTION.KEY=VALUE"]),
    (["--seeds", "0"], ["--seeds", "0 is outside 1 .. 100"]),
])
def test_ganbench_bad_flags(argv, words, capsys):
    with pytest.raises(SystemExit) as error:
        ganbench_parser().parse_args(argv)
    assert error.value.code == 2
    message = capsys.readouterr().err
    assert all(word in message for word in words), message


def test_ganbench_loss_keys():
    spiking = load_recipe(overrides={"discriminator": {"kind": "spiking"}})
    # Both networks learn with the compared loss; the shared warm start's teacher keeps the
    # recipe's (train.loss, "aggressive").
    assert _loss_keys(spiking, "ttfs", both=True) == {
        "loss": "ttfs", "discriminator_loss": "ttfs", "teacher_loss": "aggressive"}
    assert _loss_keys(spiking, "ttfs", both=False) == {"loss": "ttfs",
                                                        "teacher_loss": "aggressive"}
    assert _loss_keys(load_recipe(), "aggressive", both=False) == {"loss": "aggressive"}


def test_ganbench_percent_mean_and_spread():
    plain = [{"seed": 0, "frechet": 40.0, "spikes": 200.0},
             {"seed": 1, "frechet": 50.0, "spikes": 100.0}]
    aggr = [{"seed": 0, "frechet": 44.0, "spikes": 150.0},
            {"seed": 1, "frechet": 45.0, "spikes": 110.0}]
    percents = [_percent(p, a, ("frechet", "spikes")) for p, a in zip(plain, aggr)]
    assert percents == [{"frechet": 10.0, "spikes": -25.0}, {"frechet": -10.0, "spikes": 10.0}]
    spread = _spread(percents)
    assert spread["frechet"]["mean"] == 0.0 and spread["frechet"]["lower_in"] == 1
    assert spread["spikes"]["mean"] == -7.5
    assert spread["spikes"]["sd"] == pytest.approx(np.std([-25.0, 10.0], ddof=1))
    assert spread["spikes"]["per_seed"] == [-25.0, 10.0] and spread["spikes"]["seeds"] == 2
    assert _spread([{"x": None}]) == {}
    assert _percent({"x": 0.0}, {"x": 1.0}, ("x",)) == {"x": None}
    assert _mean_entry(plain) == {"frechet": 45.0, "spikes": 150.0}


def test_ganbench_seed_runs_with_one_loss_for_both_networks(monkeypatch):
    """One seed's pair of tiny runs against spiking discriminators, both networks trained
    with the compared loss: an entry per loss with the generator's and the discriminator's
    figures."""
    seen = []

    def recording(config, *args, **kwargs):
        seen.append({k: config["train"][k] for k in ("loss", "discriminator_loss", "seed")})
        return train_gan(config, *args, **kwargs)

    monkeypatch.setattr(ganbench, "train_gan", recording)
    over = {"generator": {"latent_dim": 8, "hidden": [16], "timesteps": 4},
            "discriminator": {"kind": "spiking", "hidden": 16, "timesteps": 5},
            "train": {"steps": 2, "batch_size": 8, "distill_steps": 2, "teacher_steps": 2},
            "export": {"check_samples": 8}}
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (64, 784), dtype=np.uint8)
    clf = train_classifier(pixels, rng.integers(0, 10, 64), epochs=1)
    args = ganbench_parser().parse_args(["--both", "--recipe", "configs/mnist_gan.toml"])
    data = {"train_x": pixels, "clf": clf, "test_feats": features(clf, pixels / 255.0)[0],
            "steps": 2, "z": latent(16, 8, seed=2), "hw": Config.mnist(max_neurons=784),
            "real_spikes": spike_trains(spike_times(pixels[:16] / 255.0, 4), 4)}
    entries, grids = _seed_runs(args, over, 3, data)
    assert seen == [{"loss": "ttfs", "discriminator_loss": "ttfs", "seed": 3},
                    {"loss": "aggressive", "discriminator_loss": "aggressive", "seed": 3}]
    assert list(entries) == ["ttfs", "aggressive"] and list(grids) == ["ttfs", "aggressive"]
    for entry in entries.values():
        assert entry["seed"] == 3
        assert 0 <= entry["decision_time"] <= 5 and 0 <= entry["real_decision_time"] <= 5
        assert entry["spikes_per_sample"] >= entry["output_spikes_per_sample"] >= 0
        assert entry["cycles_per_image"] > 0 and np.isfinite(entry["frechet"])
    # One warm start for both: the runs differ by their losses alone.
    assert entries["ttfs"]["teacher_seconds"] == entries["aggressive"]["teacher_seconds"]
    assert grids["ttfs"].shape == (16, 784)
