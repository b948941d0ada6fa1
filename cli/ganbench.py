"""The Spiking-GAN benchmark: sample quality and spike activity (results/gan.json).

::

    python -m sw.ganbench [--recipe configs/mnist_gan.toml] [--steps N] [--ann-steps N]
                          [--samples 2000] [--discriminator ann|spiking]
                          [--losses PLAIN,AGGRESSIVE] [--both] [--seeds N] [--set S.K=V]

Trains (batches of the recipe's size, one thread) the spiking generator with plain TTFS and with
Aggressive TTFS (--steps adversarial steps; with the recipe's warm start, after its ANN teacher
and distillation, docs/gan.md) and the same-size ANN generator (Aggressive TTFS, the same
discriminator, --ann-steps: by default the teacher's budget, so that it is the teacher); trains
a small MLP classifier on MNIST's training digits; and measures on --samples generated digits
(the spiking ones from the exported integer networks, golden model):

* the Frechet distance to MNIST's test digits on the classifier's hidden features (with two
  references: MNIST's training digits, and the test digits on the generator's T + 1 grey levels);
* the fraction of samples the classifier labels with confidence above 0.9, and the entropy of
  its predicted-class histogram;
* mean output spike step, output spikes and all spikes per sample (spiking generators);
* with --discriminator spiking (the spiking generators trained against a spiking
  discriminator of fire-once IF neurons that takes their output spikes, docs/gan.md): each
  one's discriminator's decision time (the step of its first output spike), spikes per
  sample, and spikes up to its decision (a network that stops at its first output spike), on
  the generator's samples and on real test digits;
* accelerator cycles per image on the default configuration with max_neurons = 784 (core.perf,
  the cycle model that the co-simulation checks).

With --discriminator spiking both spiking generators start from one warm start (the recipe's
teacher, trained with train.teacher_loss or train.loss, and its distillation), so that they
differ only by the fine-tuning's loss. --losses names the two generator losses compared (default
ttfs,aggressive; e.g. s4nn,s4nn_aggressive); --both trains the discriminator with the compared
loss too (one loss for the whole GAN; by default it keeps train.discriminator_loss); --set
overrides a recipe key for the spiking runs (repeatable).

--seeds N repeats the pair of spiking runs for train.seed = S .. S + N - 1 (S the recipe's
seed; each seed its own warm start): the report gives every run, each figure's mean over the
seeds, and for each per-cent difference its mean, standard deviation and the number of seeds
in which the second loss gives the lower value.

Writes --json (results/gan.json) and --grid (results/gan_grid.png: spiking generator's samples,
Aggressive TTFS, first seed) with results/gan_grid_ann.png beside it. A benchmark, not a test:
minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.config import Config
from core.perf import cycle_counts
from sw.data import DataError, load_mnist
from sw.gan.images import latent, quantize_pixels, spike_times
from sw.gan.loss import LOSSES
from sw.gan.metrics import class_view, features, frechet, train_classifier
from sw.gan.spiking import discriminator_stats, spike_trains
from sw.gan.train import (DISCRIMINATORS, export, load_recipe, sample_ann, sample_snn,
                          spike_stats, train, train_gan, warm_start)
from sw.options import (ArgumentParser, atomic_write, cli_main, fail, input_file, int_range,
                        output_file, positive_int)
from sw.recipe import parse_override

from .gan import write_grid

__all__ = ["main"]

PROG = "python -m sw.ganbench"


def parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--recipe", type=input_file, default=Path("configs/mnist_gan.toml"),
                   metavar="FILE", help="TOML recipe (default configs/mnist_gan.toml)")
    p.add_argument("--steps", type=positive_int,
                   help="adversarial steps of the spiking generators (train.steps; after a "
                        "warm start, its fine-tuning; default: the recipe's)")
    p.add_argument("--ann-steps", type=positive_int,
                   help="steps of the ANN generator (default: train.teacher_steps when the "
                        "recipe distills, so that it is the spiking generator's teacher; "
                        "else --steps)")
    p.add_argument("--samples", type=positive_int, default=2000,
                   help="generated digits per generator (default 2000)")
    p.add_argument("--discriminator", choices=DISCRIMINATORS,
                   help="the spiking generators' discriminator (default: the recipe's "
                        "discriminator.kind); the ANN generator always has an ANN one")
    p.add_argument("--losses", type=_losses, default=("ttfs", "aggressive"),
                   metavar="PLAIN,AGGRESSIVE",
                   help="the two generator losses compared (default ttfs,aggressive)")
    p.add_argument("--both", action="store_true",
                   help="the discriminator learns with the compared loss too (default: "
                        "train.discriminator_loss)")
    p.add_argument("--seeds", type=int_range(1, 100, "seeds"), default=1, metavar="N",
                   help="pairs of spiking runs, train.seed = S .. S + N - 1 (default 1)")
    p.add_argument("--set", type=_override, action="append", default=[], dest="overrides",
                   metavar="SECTION.KEY=VALUE",
                   help="override a recipe value of the spiking runs (repeatable)")
    p.add_argument("--json", type=output_file, default=Path("results/gan.json"),
                   metavar="FILE", help="the report (default results/gan.json)")
    p.add_argument("--grid", type=output_file, default=Path("results/gan_grid.png"),
                   metavar="PNG", help="the spiking generator's samples (default "
                                       "results/gan_grid.png)")
    return p


def _losses(text: str) -> tuple:
    """``PLAIN,AGGRESSIVE``: two losses of :data:`sw.gan.loss.LOSSES`."""
    names = tuple(name.strip() for name in text.split(","))
    if len(names) != 2 or any(name not in LOSSES for name in names) or names[0] == names[1]:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give two different losses, PLAIN,AGGRESSIVE, of "
            f"{', '.join(LOSSES)} (e.g. ttfs,aggressive)")
    return names


def _override(text: str) -> dict:
    try:
        return parse_override(text, "train.margin=2")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _with(base: dict, over: dict) -> dict:
    """Nested dicts ``base`` updated by ``over`` (a copy)."""
    out = {k: dict(v) for k, v in base.items()}
    for section, values in over.items():
        out.setdefault(section, {}).update(values)
    return out


def _quality(clf, images, real_features) -> dict:
    feats, probs = features(clf, images)
    return {"frechet": frechet(feats, real_features), **class_view(probs)}


#: The figures compared between the two losses (per cent), and with --discriminator spiking
#: the discriminator's too.
COMPARED = ("mean_output_spike_time", "spikes_per_sample", "output_spikes_per_sample",
            "frechet", "cycles_per_image")
#: An entry's key of each compared figure of the discriminator, and its name in
#: :func:`sw.gan.spiking.discriminator_stats`; on real digits the key has ``real_`` before it.
_DISCRIMINATOR_FIGURES = {"decision_time": "decision_time",
                          "discriminator_spikes_per_sample": "spikes_per_sample",
                          "discriminator_spikes_to_decision": "spikes_to_decision_per_sample"}
COMPARED_SPIKING = (*_DISCRIMINATOR_FIGURES, *("real_" + key for key in _DISCRIMINATOR_FIGURES))


def _loss_keys(config: dict, loss: str, both: bool) -> dict:
    """The ``train`` keys of one spiking run: its loss (and with ``both`` the
    discriminator's); with a spiking discriminator the shared warm start's teacher keeps the
    recipe's loss."""
    keys = {"loss": loss}
    if both:
        keys["discriminator_loss"] = loss
    if config["discriminator"]["kind"] == "spiking":
        keys["teacher_loss"] = config["train"]["teacher_loss"] or config["train"]["loss"]
    return keys


def _seed_runs(args, over: dict, seed: int, data: dict) -> tuple[dict, dict]:
    """The two spiking generators of one seed: ``({loss: entry}, {loss: images[:64]})``.

    ``data`` holds what every seed shares, made once by :func:`main`: ``train_x`` (the
    training digits), ``clf`` and ``test_feats`` (the classifier and the test digits'
    features), ``steps``, ``z`` (the latent vectors), ``hw`` (the configuration of the cycle
    counts), ``real_spikes`` (test digits as spike trains)."""
    config = load_recipe(args.recipe, _with(over, {"train": {"seed": seed}}))
    spiking = config["discriminator"]["kind"] == "spiking"
    T = config["generator"]["timesteps"]
    warm = None
    if spiking and config["train"]["distill_steps"]:
        # One warm start for both (the teacher learns with the recipe's teacher_loss or
        # loss against an ANN): the two generators differ only by their fine-tuning's loss.
        warm = warm_start(config, data["train_x"], progress=True)
    entries, grids = {}, {}
    for loss in args.losses:
        keys = {"steps": data["steps"], "seed": seed, **_loss_keys(config, loss, args.both)}
        cfg = load_recipe(args.recipe, _with(over, {"train": keys}))
        model, disc, history = train_gan(cfg, data["train_x"], "snn", progress=True, warm=warm)
        with tempfile.TemporaryDirectory() as folder:
            net, _ = export(model, Path(folder) / "g.snn", cfg)
        images = sample_snn(net, data["z"])
        grids[loss] = images[:64]
        cycles = cycle_counts(net, data["hw"], data["z"][:200])
        entry = {"seed": seed, "train_seconds": history["seconds"],
                 **{k: history[k] for k in ("teacher_seconds", "distill_seconds")
                    if k in history},
                 **_quality(data["clf"], images, data["test_feats"]),
                 **spike_stats(net, data["z"]),
                 "cycles_per_image": float(np.mean(cycles))}
        if spiking:
            # The golden generator's output spike times, as spike trains, into its own
            # discriminator; and real test digits on the T + 1 levels.
            fake = discriminator_stats(disc, spike_trains(spike_times(images, T), T))
            real = discriminator_stats(disc, data["real_spikes"])
            entry["discriminator_fake"], entry["discriminator_real"] = fake, real
            for prefix, stats in (("", fake), ("real_", real)):     # the compared figures
                for key, name in _DISCRIMINATOR_FIGURES.items():
                    entry[prefix + key] = stats[name]
        entries[loss] = entry
        print(f"snn {loss} seed {seed}: {json.dumps(entry)}", flush=True)
    return entries, grids


def _percent(plain: dict, aggr: dict, keys) -> dict:
    """Per cent of ``aggr[key]`` against ``plain[key]`` (None where ``plain[key]`` is 0)."""
    return {key: 100.0 * (aggr[key] - plain[key]) / plain[key] if plain[key] else None
            for key in keys}


def _mean_entry(entries: list[dict]) -> dict:
    """The mean over runs of every number of their entries (``seed`` dropped)."""
    return {key: float(np.mean([e[key] for e in entries])) for key, value in entries[0].items()
            if isinstance(value, (int, float)) and key != "seed"
            and all(e[key] is not None for e in entries)}


def _spread(percents: list[dict]) -> dict:
    """For each key of the per-seed per cents: their values, mean, sample standard deviation
    and the number of seeds in which the second loss is lower (negative per cent)."""
    out = {}
    for key in percents[0]:
        values = [p[key] for p in percents if p[key] is not None]
        if not values:
            continue
        out[key] = {"per_seed": values, "mean": float(np.mean(values)),
                    "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                    "lower_in": sum(v < 0 for v in values), "seeds": len(values)}
    return out


@cli_main(PROG)
def main(argv=None) -> int:
    args = parser().parse_args(argv)
    over: dict = {}
    for item in args.overrides:
        over = _with(over, item)
    if args.discriminator:
        over = _with(over, {"discriminator": {"kind": args.discriminator}})
    try:
        config = load_recipe(args.recipe, over)
        for loss in args.losses:
            load_recipe(args.recipe, _with(over, {"train": _loss_keys(config, loss, args.both)}))
    except ValueError as error:
        return fail(PROG, f"recipe: {error}")
    spiking = config["discriminator"]["kind"] == "spiking"
    t = config["train"]
    steps = args.steps or t["steps"]
    ann_steps = args.ann_steps or (t["teacher_steps"] if t["distill_steps"] else steps)
    try:
        mnist = load_mnist(quiet=True)
    except DataError as error:
        return fail(PROG, str(error))
    train_x, test = mnist["train"].pixels, mnist["test"]
    T, Z = config["generator"]["timesteps"], config["generator"]["latent_dim"]
    started = time.monotonic()
    clf = train_classifier(train_x, mnist["train"].labels)
    test_feats, test_probs = features(clf, test.pixels / 255.0)
    seeds = list(range(t["seed"], t["seed"] + args.seeds))
    report = {
        "budget": {"steps": steps, "ann_steps": ann_steps, "batch_size": t["batch_size"],
                   "threads": t["threads"], "teacher_steps": t["teacher_steps"],
                   "distill_steps": t["distill_steps"]},
        "discriminator": config["discriminator"],
        "losses": list(args.losses),
        "discriminator_loss": "the compared loss" if args.both else t["discriminator_loss"],
        "seeds": seeds,
        "overrides": over,
        "samples": args.samples,
        "classifier_test_accuracy": float((test_probs.argmax(1) == test.labels).mean()),
        "reference": {
            "mnist_train": _quality(clf, train_x[:args.samples] / 255.0, test_feats),
            f"mnist_train_{T + 1}_levels": _quality(
                clf, quantize_pixels(train_x[:args.samples], T), test_feats),
        },
    }
    data = {"train_x": train_x, "clf": clf, "test_feats": test_feats, "steps": steps,
            "z": latent(args.samples, Z, seed=2), "hw": Config.mnist(max_neurons=784),
            "real_spikes": spike_trains(
                spike_times(quantize_pixels(test.pixels[:args.samples], T), T), T)}
    runs, grids = [], None
    for seed in seeds:
        entries, seed_grids = _seed_runs(args, over, seed, data)
        runs.append(entries)
        grids = grids or seed_grids
    ann_cfg = load_recipe(args.recipe, {"train": {"steps": ann_steps},
                                        "discriminator": {"kind": "ann"}})
    model, history = train(ann_cfg, train_x, "ann", progress=True)
    images = sample_ann(model, data["z"])
    report["ann_aggressive"] = {"train_seconds": history["seconds"],
                                **_quality(clf, images, test_feats)}
    print(f"ann aggressive: {json.dumps(report['ann_aggressive'])}", flush=True)
    keys = COMPARED + (COMPARED_SPIKING if spiking else ())
    percents = [_percent(run[args.losses[0]], run[args.losses[1]], keys) for run in runs]
    report["runs"] = [{**{f"snn_{loss}": run[loss] for loss in args.losses},
                       "aggressive_vs_plain_percent": p} for run, p in zip(runs, percents)]
    for loss in args.losses:        # one seed: its entry; several: the means over the seeds
        report[f"snn_{loss}"] = (runs[0][loss] if len(runs) == 1
                                 else _mean_entry([run[loss] for run in runs]))
    spread = _spread(percents)
    report["aggressive_vs_plain_percent"] = {key: spread[key]["mean"] if key in spread
                                             else None for key in keys}
    report["aggressive_vs_plain_spread"] = spread
    aggr = report[f"snn_{args.losses[1]}"]
    report["frechet_ratio_snn_to_ann"] = aggr["frechet"] / report["ann_aggressive"]["frechet"]
    report["seconds"] = time.monotonic() - started
    with atomic_write(args.json) as file:
        json.dump(report, file, indent=1)
    write_grid(args.grid, grids[args.losses[1]])
    write_grid(args.grid.with_name(args.grid.stem + "_ann.png"), images[:64])
    write_grid(args.grid.with_name(args.grid.stem + f"_{args.losses[0]}.png"),
               grids[args.losses[0]])
    plain = report[f"snn_{args.losses[0]}"]
    print(f"ganbench: {len(seeds)} seed(s); FD snn {aggr['frechet']:.2f} ({args.losses[1]}), "
          f"{plain['frechet']:.2f} ({args.losses[0]}), ann "
          f"{report['ann_aggressive']['frechet']:.2f}; ratio "
          f"{report['frechet_ratio_snn_to_ann']:.2f}; {args.losses[1]} vs {args.losses[0]}: "
          + ", ".join(f"{key} {s['mean']:+.1f} %"
                      + (f" (sd {s['sd']:.1f}, lower in {s['lower_in']}/{s['seeds']})"
                         if s["sd"] is not None else "")
                      for key, s in spread.items())
          + f"; {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
