"""Train the spiking generator of a GAN and export it as a model file.

::

    python -m sw.gantrain --recipe configs/mnist_gan.toml --output models/mnist_gan.snn
    python -m sw.gantrain --recipe configs/mnist_gan.toml --set train.loss="ttfs" --output g.snn

Trains (sw.gan.train) against the recipe's discriminator (discriminator.kind: an ANN, or
"spiking": fire-once IF neurons fed the generator's spikes) on MNIST's training digits, exports
the integer network, checks that the golden model gives the training model's first-spike time
on every output neuron of 256 latent vectors, and prints the training time and the generator's
spike statistics. --json FILE writes them as JSON as well.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sw.data import DataError, load_mnist
from sw.gan.images import latent
from sw.gan.train import export, load_recipe, spike_stats, train
from sw.recipe import parse_override
from sw.options import (ArgumentParser, add_json, atomic_write, cli_main, fail, input_file,
                        output_file, positive_int)

__all__ = ["main"]

PROG = "python -m sw.gantrain"


def _override(text: str) -> dict:
    """``SECTION.KEY=VALUE`` (VALUE in TOML syntax) as a nested dict."""
    try:
        return parse_override(text, "train.steps=100")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--recipe", type=input_file, metavar="FILE",
                   help="TOML recipe, e.g. configs/mnist_gan.toml (default: the built-in "
                        "defaults, docs/gan.md)")
    p.add_argument("--output", required=True, type=output_file, metavar="FILE",
                   help="the generator's model file (.snn)")
    p.add_argument("--set", type=_override, action="append", default=[], dest="overrides",
                   metavar="SECTION.KEY=VALUE", help="override a recipe value (repeatable)")
    p.add_argument("--steps", type=positive_int, help="training steps (train.steps)")
    add_json(p)
    return p


@cli_main(PROG)
def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    over: dict = {}
    for item in args.overrides + ([{"train": {"steps": args.steps}}] if args.steps else []):
        for section, values in item.items():
            over.setdefault(section, {}).update(values)
    try:
        config = load_recipe(args.recipe, over)
    except ValueError as error:
        return fail(PROG, f"recipe: {error}")
    source = config["data"]["source"] or None
    try:
        pixels = load_mnist(Path(source) if source else None, quiet=True)["train"].pixels
    except DataError as error:
        return fail(PROG, str(error))
    t = config["train"]
    warm = (f" after a warm start ({t['teacher_steps']} steps of the ANN teacher, "
            f"{t['distill_steps']} of distillation)" if t["distill_steps"] else "")
    print(f"training the spiking generator: {t['steps']} adversarial steps of "
          f"{t['batch_size']}, {t['loss']} loss{warm}", flush=True)
    model, history = train(config, pixels, "snn")
    net, check = export(model, args.output, config)
    stats = spike_stats(net, latent(1000, config["generator"]["latent_dim"], seed=2))
    print(f"model        : {args.output} {net.sizes}, T={net.timesteps}, {net.encoder}; golden "
          f"= training model on {check['samples']} latent vectors")
    split = (f"; teacher {history['teacher_seconds']:.0f} s, distillation "
             f"{history['distill_seconds']:.0f} s" if "teacher_seconds" in history else "")
    print(f"training     : {history['seconds']:.0f} s ({history['steps']} adversarial "
          f"steps{split})")
    print(f"spikes       : {stats['spikes_per_sample']:.1f} per sample "
          f"({stats['output_spikes_per_sample']:.1f} output), mean output spike step "
          f"{stats['mean_output_spike_time']:.2f}")
    if args.json:
        with atomic_write(args.json) as file:
            json.dump({"config": config, "seconds": history["seconds"], "stats": stats,
                       "log": history["log"]}, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
