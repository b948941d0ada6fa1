"""The Spiking-GAN benchmark: sample quality and spike activity (results/gan.json).

::

    python -m sw.ganbench [--recipe configs/mnist_gan.toml] [--steps N] [--ann-steps N] [--samples 2000]

Trains (batches of the recipe's size, one thread) the spiking generator with plain TTFS and with
Aggressive TTFS (--steps adversarial steps; with the recipe's warm start, after its ANN teacher
and distillation, docs/gan.md) and the same-size ANN generator (Aggressive TTFS, the same
discriminator, --ann-steps: by default the teacher's budget, so that it is the teacher); trains a small MLP classifier on MNIST's training digits; and measures on
--samples generated digits (the spiking ones from the exported integer networks, golden model):

* the Frechet distance to MNIST's test digits on the classifier's hidden features (with two
  references: MNIST's training digits, and the test digits on the generator's T + 1 grey levels);
* the fraction of samples the classifier labels with confidence above 0.9, and the entropy of
  its predicted-class histogram;
* mean output spike step, output spikes and all spikes per sample (spiking generators);
* accelerator cycles per image on the default configuration with max_neurons = 784 (core.perf,
  the cycle model that the co-simulation checks).

Writes --json (results/gan.json) and --grid (results/gan_grid.png: spiking generator's samples,
Aggressive TTFS) with results/gan_grid_ann.png beside it. A benchmark, not a test: minutes.
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
from sw.gan.images import latent, quantize_pixels
from sw.gan.metrics import class_view, features, frechet, train_classifier
from sw.gan.train import export, load_recipe, sample_ann, sample_snn, spike_stats, train
from sw.options import (ArgumentParser, atomic_write, cli_main, fail, input_file, output_file,
                        positive_int)

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
    p.add_argument("--json", type=output_file, default=Path("results/gan.json"),
                   metavar="FILE", help="the report (default results/gan.json)")
    p.add_argument("--grid", type=output_file, default=Path("results/gan_grid.png"),
                   metavar="PNG", help="the spiking generator's samples (default "
                                       "results/gan_grid.png)")
    return p


def _quality(clf, images, real_features) -> dict:
    feats, probs = features(clf, images)
    return {"frechet": frechet(feats, real_features), **class_view(probs)}


@cli_main(PROG)
def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_recipe(args.recipe)
    except ValueError as error:
        return fail(PROG, f"recipe: {error}")
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
    report = {
        "budget": {"steps": steps, "ann_steps": ann_steps, "batch_size": config["train"]["batch_size"],
                   "threads": config["train"]["threads"],
                   "teacher_steps": config["train"]["teacher_steps"],
                   "distill_steps": config["train"]["distill_steps"]},
        "samples": args.samples,
        "classifier_test_accuracy": float((test_probs.argmax(1) == test.labels).mean()),
        "reference": {
            "mnist_train": _quality(clf, train_x[:args.samples] / 255.0, test_feats),
            f"mnist_train_{T + 1}_levels": _quality(
                clf, quantize_pixels(train_x[:args.samples], T), test_feats),
        },
    }
    z = latent(args.samples, Z, seed=2)
    hw = Config.mnist(max_neurons=784)
    grids = {}
    for loss in ("ttfs", "aggressive"):
        cfg = load_recipe(args.recipe, {"train": {"steps": steps, "loss": loss}})
        model, history = train(cfg, train_x, "snn", progress=True)
        with tempfile.TemporaryDirectory() as folder:
            net, _ = export(model, Path(folder) / "g.snn", cfg)
        images = sample_snn(net, z)
        grids[loss] = images[:64]
        cycles = cycle_counts(net, hw, z[:200])
        report[f"snn_{loss}"] = {"train_seconds": history["seconds"],
                                 **{k: history[k] for k in ("teacher_seconds",
                                                            "distill_seconds") if k in history},
                                 **_quality(clf, images, test_feats),
                                 **spike_stats(net, z),
                                 "cycles_per_image": float(np.mean(cycles))}
        print(f"snn {loss}: {json.dumps(report[f'snn_{loss}'])}", flush=True)
    model, history = train(load_recipe(args.recipe, {"train": {"steps": ann_steps}}),
                           train_x, "ann", progress=True)
    images = sample_ann(model, z)
    report["ann_aggressive"] = {"train_seconds": history["seconds"],
                                **_quality(clf, images, test_feats)}
    print(f"ann aggressive: {json.dumps(report['ann_aggressive'])}", flush=True)
    plain, aggr = report["snn_ttfs"], report["snn_aggressive"]
    report["aggressive_vs_plain_percent"] = {
        key: 100.0 * (aggr[key] - plain[key]) / plain[key] if plain[key] else None
        for key in ("mean_output_spike_time", "spikes_per_sample", "output_spikes_per_sample",
                    "frechet", "cycles_per_image")}
    report["frechet_ratio_snn_to_ann"] = aggr["frechet"] / report["ann_aggressive"]["frechet"]
    report["seconds"] = time.monotonic() - started
    with atomic_write(args.json) as file:
        json.dump(report, file, indent=1)
    write_grid(args.grid, grids["aggressive"])
    write_grid(args.grid.with_name(args.grid.stem + "_ann.png"), images[:64])
    write_grid(args.grid.with_name(args.grid.stem + "_ttfs.png"), grids["ttfs"])
    print(f"ganbench: FD snn {aggr['frechet']:.2f} (aggressive), {plain['frechet']:.2f} "
          f"(plain), ann {report['ann_aggressive']['frechet']:.2f}; ratio "
          f"{report['frechet_ratio_snn_to_ann']:.2f}; {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
