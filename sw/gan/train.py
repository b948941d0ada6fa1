"""Adversarial training of the spiking generator, its export, and its spike statistics.

The recipe is a TOML file (``configs/mnist_gan.toml``; every key and default in
:data:`DEFAULTS`, documented in ``docs/gan.md``). :func:`train` runs ``train.steps`` steps of

1. the discriminator on a batch of real digits (target ``real``; on the generator's ``T + 1``
   grey levels, :func:`sw.gan.images.quantize_pixels`, for the spiking generator) and a batch of
   generated ones (target ``fake``),
2. the generator through the discriminator (target ``real``),

the discriminator with ``train.discriminator_loss`` (plain TTFS), the generator with
``train.loss`` (``"ttfs"``, ``"aggressive"``, ``"s4nn"`` or ``"s4nn_aggressive"``,
:mod:`sw.gan.loss`), Adam, one thread. The discriminator (``discriminator.kind``) is a float ANN
whose outputs are read as times (:class:`sw.gan.model.Discriminator`) or a spiking network of
fire-once IF neurons (:class:`sw.gan.spiking.SpikingDiscriminator`) that takes the generator's
output spikes themselves, so that the losses act on spike times all the way back. The spiking generator's forward pass is quantized from the first step (4-bit
weights, 16-bit membranes by default), so :func:`export` writes the very network that was
trained, and checks that :func:`core.golden.run` gives the training model's first-spike times on
every output neuron of a batch of latent vectors. The same loop trains the same-size ANN
generator (:class:`sw.gan.model.ANNGenerator`) for the benchmark.

With ``train.distill_steps`` set, the spiking generator gets a warm start first: that ANN
generator is trained as a GAN (the teacher), the spiking generator is taught its images
(:func:`distill`), and the adversarial loop then fine-tunes it against the teacher's
discriminator (trained from scratch, the spiking generator collapses onto one digit;
docs/gan.md).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from core import golden
from core.network import Network
from core.numerics import NEVER

from .. import recipe
from ..options import progress as progress_bar
from ..snn import SNN
from ..snn.export import export as export_snn
from .images import intensity, latent, quantize_pixels, spike_times
from .loss import FAKE, LOSSES, REAL, WINDOW_LOSSES, gan_loss
from .model import ANNGenerator, Discriminator, generate, generator
from .spiking import SpikingDiscriminator, spike_trains

__all__ = ["DEFAULTS", "DISCRIMINATORS", "load_recipe", "build_generator",
           "build_discriminator", "train", "train_gan", "warm_start", "distill", "first_times",
           "spike_stats", "export", "sample_snn", "sample_ann"]

#: ``discriminator.kind``: a float ANN read as times, or fire-once IF neurons (TTFS).
DISCRIMINATORS = ("ann", "spiking")

#: Every recipe key and its default (docs/gan.md describes them).
DEFAULTS = {
    "data": {"source": ""},                 # folder of MNIST IDX files; empty: sw.data's cache
    "generator": {
        "latent_dim": 32,
        "hidden": [256],
        "timesteps": 8,
        "weight_bits": 4,
        "membrane_bits": 16,
        "hidden_threshold": 1.0,
        "output_threshold": 0.5,
    },
    "discriminator": {
        "kind": "ann",                      # "ann" or "spiking" (docs/gan.md)
        "hidden": 256,
        "minibatch_std": True,              # the batch-spread feature (ANN only)
        "timesteps": 12,                    # the spiking one's window T_d (>= generator's T)
        "hidden_threshold": 0.15,           # ... and its initial thresholds (float units)
        "output_threshold": 0.2,
        "warmup_steps": 0,                  # discriminator-only steps before the adversarial ones
    },
    "train": {
        "loss": "aggressive",               # the generator's: one of sw.gan.loss.LOSSES
        "discriminator_loss": "ttfs",       # the discriminator's
        "teacher_loss": "",                 # the warm start's ANN teacher's (empty: loss)
        "margin": 1.0,                      # gamma of the TTFS targets
        "diversity": 0.3,                   # weight of the mode-seeking term (0: off)
        "teacher_steps": 1500,              # adversarial steps of the ANN teacher
        "distill_steps": 0,                 # warm start on the teacher's images (0: none)
        "lr_distill": 1e-3,
        "lr_finetune": 5e-5,                # the generator's Adam step after the warm start
        "anchor": 1.0,                      # weight of the teacher's images after it
        "steps": 3000,
        "batch_size": 64,
        "lr_generator": 5e-4,
        "lr_discriminator": 2e-4,
        "seed": 0,
        "threads": 1,
    },
    "export": {"name": "mnist_gan", "check_samples": 256},
}


def load_recipe(path=None, overrides: dict | None = None) -> dict:
    """:data:`DEFAULTS` updated by the TOML file ``path`` and ``overrides`` (nested dicts).
    Raises ValueError naming an unknown key, a value of the wrong kind or out of range."""
    config = recipe.load(DEFAULTS, path, overrides)
    t, d = config["train"], config["discriminator"]
    for key in ("loss", "discriminator_loss"):
        if t[key] not in LOSSES:
            raise ValueError(f"train.{key} is {t[key]!r}; it must be one of "
                             f"{', '.join(map(repr, LOSSES))}")
    if d["kind"] not in DISCRIMINATORS:
        raise ValueError(f"discriminator.kind is {d['kind']!r}; it must be one of "
                         f"{', '.join(map(repr, DISCRIMINATORS))}")
    if d["kind"] == "spiking" and d["timesteps"] < config["generator"]["timesteps"]:
        raise ValueError(f"discriminator.timesteps is {d['timesteps']}; the spiking "
                         f"discriminator's window must be at least generator.timesteps "
                         f"({config['generator']['timesteps']}), or it misses input spikes")
    if t["teacher_loss"] not in ("", *LOSSES):
        raise ValueError(f"train.teacher_loss is {t['teacher_loss']!r}; it must be empty (the "
                         f"generator's loss) or one of {', '.join(map(repr, LOSSES))}")
    teacher = t["teacher_loss"] or t["loss"]
    if t["distill_steps"] and teacher in WINDOW_LOSSES:
        raise ValueError(f"the warm start's teacher would learn with {teacher!r}, which needs "
                         f"a spiking discriminator, but the teacher's is an ANN; set "
                         f"train.teacher_loss to 'ttfs' or 'aggressive'")
    for key in ("loss", "discriminator_loss"):
        if t[key] in WINDOW_LOSSES and d["kind"] != "spiking":
            raise ValueError(f"train.{key} is {t[key]!r}, which needs a window of spike "
                             f"times; set discriminator.kind = \"spiking\" or use 'ttfs' or "
                             f"'aggressive'")
    if d["warmup_steps"] < 0:
        raise ValueError(f"discriminator.warmup_steps is {d['warmup_steps']}; it must be 0 or "
                         f"more")
    if t["distill_steps"] < 0 or (t["distill_steps"] and t["teacher_steps"] < 1):
        raise ValueError(f"train.distill_steps is {t['distill_steps']} and train.teacher_steps "
                         f"{t['teacher_steps']}; distill_steps must be 0 (no warm start) or "
                         f"positive with teacher_steps at least 1")
    for section, key in (("train", "steps"), ("train", "batch_size"), ("train", "threads"),
                         ("generator", "latent_dim"), ("generator", "timesteps")):
        if config[section][key] < 1:
            raise ValueError(f"{section}.{key} is {config[section][key]}; it must be at least 1")
    if not config["generator"]["timesteps"] < NEVER:
        raise ValueError("generator.timesteps must be below 255 (255 means 'never' in hardware)")
    return config


def build_generator(config: dict) -> SNN:
    """The spiking generator of a recipe."""
    g = config["generator"]
    return generator(g["latent_dim"], tuple(g["hidden"]), g["timesteps"], g["weight_bits"],
                     g["membrane_bits"], g["hidden_threshold"], g["output_threshold"],
                     seed=config["train"]["seed"])


def build_discriminator(config: dict, kind: str | None = None):
    """A fresh discriminator of ``kind`` (default: the recipe's ``discriminator.kind``)."""
    d, seed = config["discriminator"], config["train"]["seed"]
    if (kind or d["kind"]) == "spiking":
        return SpikingDiscriminator(d["hidden"], d["timesteps"], d["hidden_threshold"],
                                    d["output_threshold"], seed=seed)
    return Discriminator(d["hidden"], d["minibatch_std"], seed=seed)


def train(config: dict, pixels: np.ndarray, kind: str = "snn", progress: bool = True,
          log=None) -> tuple:
    """:func:`train_gan` without the discriminator: ``(generator, history)``."""
    gen, _, history = train_gan(config, pixels, kind, progress, log)
    return gen, history


def train_gan(config: dict, pixels: np.ndarray, kind: str = "snn", progress: bool = True,
              log=None, warm: dict | None = None) -> tuple:
    """Train a generator of ``kind`` (``"snn"`` or ``"ann"``) on ``pixels`` (uint8 (N, 784)).

    The ANN generator: ``train.steps`` adversarial steps against a fresh discriminator. The
    spiking generator, with ``train.distill_steps`` 0: the same. With ``train.distill_steps``
    set, the warm start of :func:`warm_start` first (or a copy of ``warm``, one computed
    before, so that several fine-tunings start from the same network), and then ``train.steps``
    adversarial steps against the teacher's discriminator (an ANN; with
    ``discriminator.kind = "spiking"`` against a fresh spiking discriminator, after
    ``discriminator.warmup_steps`` steps of it alone).

    Returns ``(generator, discriminator, history)``; ``history``: ``seconds`` (all phases),
    ``steps``, ``teacher_seconds``, ``distill_seconds``, the losses every 100 steps of each
    phase."""
    t = config["train"]
    torch.set_num_threads(t["threads"])
    torch.manual_seed(t["seed"])
    T = config["generator"]["timesteps"]
    g = config["generator"]
    history = {"kind": kind, "loss": t["loss"], "steps": t["steps"], "log": []}
    start = time.monotonic()
    disc, teacher, lr = None, None, t["lr_generator"]
    spiking = config["discriminator"]["kind"] == "spiking"
    if kind == "snn":
        gen = build_generator(config)
        real_all = torch.from_numpy(quantize_pixels(pixels, T).astype(np.float32))
        if t["distill_steps"]:
            if warm is None:
                warm = warm_start(config, pixels, progress, log)
            gen, teacher = copy.deepcopy(warm["generator"]), warm["teacher"]
            disc = None if spiking else copy.deepcopy(warm["discriminator"])
            history["log"] += warm["log"]
            for key in ("teacher_seconds", "distill_seconds"):
                history[key] = warm[key]
            # the training time counts the warm start, computed here or before
            start = time.monotonic() - warm["teacher_seconds"] - warm["distill_seconds"]
            lr = t["lr_finetune"]
    elif kind == "ann":
        if spiking:
            raise ValueError("the ANN generator draws intensities, not spikes; train it with "
                             "discriminator.kind = \"ann\"")
        gen = ANNGenerator(g["latent_dim"], tuple(g["hidden"]), seed=t["seed"])
        real_all = torch.from_numpy(pixels.astype(np.float32) / 255.0)
    else:
        raise ValueError(f"kind is {kind!r}; it must be 'snn' or 'ann'")
    if disc is None:
        disc = build_discriminator(config)
    _adversarial(gen, kind, disc, real_all, config, t["steps"], history, kind, progress, log,
                 start, lr, teacher, warmup=config["discriminator"]["warmup_steps"])
    history["seconds"] = time.monotonic() - start
    return gen, disc, history


def warm_start(config: dict, pixels: np.ndarray, progress: bool = True, log=None) -> dict:
    """The warm start of the spiking generator: a same-size ANN generator (the teacher) trained
    for ``train.teacher_steps`` adversarial steps against an ANN discriminator, with
    ``train.teacher_loss`` (empty: ``train.loss``), then the spiking generator taught its
    images for ``train.distill_steps`` steps (:func:`distill`).

    Returns a dict: ``generator`` (the distilled spiking generator), ``teacher``,
    ``discriminator`` (the teacher's), ``teacher_seconds``, ``distill_seconds``, ``log``."""
    t, g = config["train"], config["generator"]
    torch.manual_seed(t["seed"])
    history = {"log": []}
    start = time.monotonic()
    gen = build_generator(config)
    teacher = ANNGenerator(g["latent_dim"], tuple(g["hidden"]), seed=t["seed"])
    disc = build_discriminator(config, "ann")
    real_ann = torch.from_numpy(pixels.astype(np.float32) / 255.0)
    _adversarial(teacher, "ann", disc, real_ann, config, t["teacher_steps"], history,
                 "teacher", progress, log, lr=t["lr_generator"],
                 loss=t["teacher_loss"] or t["loss"])
    teacher_seconds = time.monotonic() - start
    distill(gen, teacher, config, history, progress, log)
    return {"generator": gen, "teacher": teacher, "discriminator": disc,
            "teacher_seconds": teacher_seconds,
            "distill_seconds": time.monotonic() - start - teacher_seconds,
            "log": history["log"]}


def _inputs(disc, images: torch.Tensor, out, timesteps: int) -> torch.Tensor:
    """What ``disc`` sees of a batch: the images (ANN), or spike trains (spiking): the
    generator's output spikes ``out.out_spikes`` as they are, or (``out`` None, real
    digits) the spike trains of the images' intensities (:func:`spike_times`)."""
    if not isinstance(disc, SpikingDiscriminator):
        return images
    if out is not None:
        return out.out_spikes
    return spike_trains(spike_times(images.numpy(), timesteps), timesteps)


def _adversarial(gen, kind: str, disc, real_all: torch.Tensor, config: dict,
                 steps: int, history: dict, phase: str, progress: bool, log,
                 start: float | None = None, lr: float = 1e-3, teacher=None,
                 warmup: int = 0, loss: str | None = None):
    """``warmup`` discriminator-only steps, then ``steps`` adversarial steps of ``gen`` (of ``kind``) against ``disc`` (both trained
    in place, fresh Adam states; the generator's step size ``lr``); with a ``teacher``, the
    generator's loss has ``train.anchor`` times the squared difference to the teacher's
    images of the same latent bits added. The losses every 100 steps go to
    ``history["log"]``."""
    t = config["train"]
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=t["lr_discriminator"], betas=(0.5, 0.999))
    gamma, T = t["margin"], config["generator"]["timesteps"]
    loss = loss or t["loss"]
    spiking = isinstance(disc, SpikingDiscriminator)
    t_max = float(disc.timesteps) if spiking else None
    B, Z = t["batch_size"], config["generator"]["latent_dim"]
    rng = torch.Generator().manual_seed(t["seed"])
    start = time.monotonic() if start is None else start
    for step in progress_bar(range(-warmup, steps), desc=f"{phase} {loss}", unit="step",
                             quiet=not progress):
        real = real_all[torch.randint(len(real_all), (B,), generator=rng)]
        z = torch.randint(0, 2, (B, Z), generator=rng).to(torch.float32) * 255.0  # as latent()
        fake, out = generate(gen, z) if kind == "snn" else (gen(z), None)
        fake_in = _inputs(disc, fake, out, T)
        # The discriminator learns with plain TTFS by default: satisfied at a lead of gamma,
        # so its outputs do not grow without bound (a hinge); train.loss is the generator's.
        d_fake = disc(fake_in.detach())
        d_loss = (gan_loss(disc(_inputs(disc, real, None, T)), REAL, t["discriminator_loss"],
                           gamma, t_max)
                  + gan_loss(d_fake, FAKE, t["discriminator_loss"], gamma, t_max))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        if step < 0:    # warm-up: the discriminator alone
            continue
        d_gen = disc(fake_in)
        g_loss = gan_loss(d_gen, REAL, loss, gamma, t_max)
        if t["diversity"]:
            g_loss = g_loss - t["diversity"] * _diversity(fake, z)
        if teacher is not None and t["anchor"]:
            with torch.no_grad():
                target = teacher(z)
            g_loss = g_loss + t["anchor"] * ((fake - target) ** 2).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step % 100 == 0 or step == steps - 1:
            entry = {"phase": phase, "step": step, "d": round(d_loss.item(), 4),
                     "g": round(g_loss.item(), 4), "mean": round(fake.mean().item(), 3),
                     "seconds": round(time.monotonic() - start, 1)}
            if spiking:     # the discriminator's output times on the fakes, by neuron
                entry["t_real"], entry["t_fake"] = (round(float(v), 2)
                                                    for v in d_gen.detach().mean(dim=0))
            history["log"].append(entry)
            if log is not None:
                log(entry)


def distill(gen: SNN, teacher: ANNGenerator, config: dict, history: dict | None = None,
            progress: bool = False, log=None):
    """Warm start of the spiking generator ``gen`` (in place): ``train.distill_steps`` steps
    of Adam (``train.lr_distill``) on the squared difference between its images (the decoded
    first-spike times, quantization-aware, through the surrogate) and the ANN ``teacher``'s
    for the same random latent bits."""
    t = config["train"]
    opt = torch.optim.Adam(gen.parameters(), lr=t["lr_distill"])
    B, Z = t["batch_size"], config["generator"]["latent_dim"]
    rng = torch.Generator().manual_seed(t["seed"] + 1)
    start = time.monotonic()
    for step in progress_bar(range(t["distill_steps"]), desc="distill", unit="step",
                             quiet=not progress):
        z = torch.randint(0, 2, (B, Z), generator=rng).to(torch.float32) * 255.0
        with torch.no_grad():
            target = teacher(z)
        loss = ((generate(gen, z)[0] - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if history is not None and (step % 100 == 0 or step == t["distill_steps"] - 1):
            entry = {"phase": "distill", "step": step, "mse": round(loss.item(), 5),
                     "seconds": round(time.monotonic() - start, 1)}
            history["log"].append(entry)
            if log is not None:
                log(entry)


def _diversity(images: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mode-seeking term (Mao et al. 2019): how far apart the images of the batch's two
    halves lie, per unit of distance of their latent vectors (to be maximized)."""
    half = len(images) // 2
    di = (images[:half] - images[half:2 * half]).abs().mean(dim=1)
    dz = (z[:half] - z[half:2 * half]).abs().mean(dim=1) / 255.0
    return (di / (dz + 1e-3)).mean()


@torch.no_grad()
def first_times(model: SNN, z) -> np.ndarray:
    """First spike step of every output neuron (int64 (B, 784), 255 if none) of the training
    model's quantized forward pass: what ``core.golden.run(...).first_time`` must give."""
    out = model(torch.as_tensor(np.asarray(z)).to(torch.float32))
    s = out.out_spikes > 0
    return torch.where(s.any(dim=1), s.to(torch.int64).argmax(dim=1),
                       torch.full(s.shape[::2], NEVER)).numpy().astype(np.int64)


def spike_stats(network: Network, z) -> dict:
    """Spike statistics of the integer network on latent bytes ``z`` (golden model): mean
    first-spike step of the output neurons that fire, output spikes and all spikes per sample,
    the fraction of output neurons that fire."""
    trace = golden.run(network, np.asarray(z))
    fired = trace.first_time < NEVER
    return {
        "mean_output_spike_time": float(trace.first_time[fired].mean()) if fired.any() else None,
        "output_spikes_per_sample": float(fired.sum(axis=1).mean()),
        "spikes_per_sample": float(sum(s.sum() for s in trace.spikes) / len(fired)),
        "output_fire_fraction": float(fired.mean()),
    }


def export(model: SNN, path, config: dict) -> tuple[Network, dict]:
    """Write the integer generator to ``path`` and check it against the training model on
    ``export.check_samples`` latent vectors (seed 1): every output neuron's first spike time
    must agree. Returns ``(network, check)``; raises RuntimeError on a disagreement."""
    net = export_snn(model, path, name=config["export"]["name"])
    z = latent(config["export"]["check_samples"], config["generator"]["latent_dim"], seed=1)
    expect = first_times(model, z)
    got = golden.run(net, z).first_time
    bad = int((got != expect).any(axis=1).sum())
    if bad:
        raise RuntimeError(f"the exported generator disagrees with the training model on {bad} "
                           f"of {len(z)} latent vectors; the export is wrong")
    return net, {"samples": len(z), "disagree": bad}


def sample_snn(network: Network, z) -> np.ndarray:
    """Images (B, 784) in [0, 1] of the integer generator (golden model)."""
    return intensity(golden.run(network, np.asarray(z)).first_time, network.timesteps)


@torch.no_grad()
def sample_ann(model: ANNGenerator, z) -> np.ndarray:
    """Images (B, 784) in [0, 1] of the ANN generator."""
    return model(torch.as_tensor(np.asarray(z))).numpy().astype(np.float64)
