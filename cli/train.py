"""Train a spiking network for the accelerator and export it as a model file.

::

    python -m sw.train --recipe configs/mnist.toml --output models/mnist.snn
    python -m sw.train --recipe configs/mnist_cnn.toml --output models/mnist_cnn.snn \\
        --results results/train_cnn
    python -m sw.train --recipe configs/mnist.toml --from-checkpoint results/train/last.pt \\
        --output models/mnist.snn

Runs :func:`sw.snn.train.run` (ANN conversion, surrogate-gradient training with QAT, timestep
reduction, export checked by the golden model; the steps are listed there and in
docs/training.md) on the recipe with the flags' and ``--set``'s overrides, logging to the
terminal and to ``<results>/train.log``, and prints each exported file's accuracy.
``--from-checkpoint`` trains nothing and exports a checkpoint.
"""

from __future__ import annotations

import logging
import sys

from sw import recipe
from sw.data import DataError, add_data_arguments, data_arguments
from sw.options import (ArgumentParser, add_samples, cli_main, fail, input_file,
                        nonnegative_int, output_dir, output_file, positive_int)
from sw.snn.train import export_checkpoint, log, run
from sw.snnrecipe import check_config, load_config

__all__ = ["main"]

PROG = "python -m sw.train"


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", "--config", type=input_file, metavar="FILE",
                        help="TOML training recipe, e.g. configs/mnist.toml (default: the "
                             "built-in defaults; --config is its older name)")
    parser.add_argument("--output", type=output_file, default="models/mnist.snn", metavar="FILE",
                        help="model file to write, and <output>_t<T>.snn for export.also "
                             "(default models/mnist.snn)")
    parser.add_argument("--results", type=output_dir, default="results/train", metavar="DIR",
                        help="folder for the log, plots, checkpoints and JSON summary "
                             "(default results/train)")
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="override train.epochs")
    parser.add_argument("--ann-epochs", type=nonnegative_int, metavar="N",
                        help="override ann.epochs (0: no ANN conversion, random start)")
    parser.add_argument("--iir-epochs", type=nonnegative_int, metavar="N",
                        help="override iir.epochs (0: each smaller T runs the previous "
                             "stage's weights, not retrained)")
    parser.add_argument("--resume", type=input_file, metavar="CKPT",
                        help="start from the weights, thresholds and leaks of CKPT (a .pt of "
                             "sw.train of the same network, e.g. <results>/last.pt) instead of "
                             "ANN conversion; overrides train.init")
    add_samples(parser, default=None, aliases=("--subset",),
                help="train on the first N training images only (overrides data.subset)")
    add_data_arguments(parser, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any recipe value (TOML syntax), e.g. --set "
                             "network.hidden=[128]")
    parser.add_argument("--from-checkpoint", type=input_file, metavar="CKPT",
                        help="train nothing: export the model of CKPT (a .pt that sw.train "
                             "wrote, e.g. <results>/last.pt after every epoch) to --output at "
                             "its T and check it with the golden model on the test set of the "
                             "recipe's data")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    over: dict = {}

    def put(section, key, value):
        over.setdefault(section, {})[key] = value
    for name, (section, key) in {"epochs": ("train", "epochs"), "ann_epochs": ("ann", "epochs"),
                                 "iir_epochs": ("iir", "epochs"),
                                 "samples": ("data", "subset")}.items():
        if getattr(args, name) is not None:
            put(section, key, getattr(args, name))
    if args.resume is not None:
        put("train", "init", str(args.resume))
    dataset, folder = data_arguments(args, parser)
    if dataset is not None:
        put("data", "dataset", dataset)
    if args.data:  # --data names the whole source; --dataset alone keeps the recipe's folder
        put("data", "source", str(folder) if folder else "")
    for item in args.set:
        try:
            (section, values), = recipe.parse_override(item, "network.hidden=[128]").items()
        except ValueError as error:
            parser.error(f"--set {error}")
        for key, value in values.items():
            put(section, key, value)
    try:
        config = load_config(args.recipe, over)
        check_config(config, args.output)
    except ValueError as error:
        return fail(PROG, str(error))
    if args.from_checkpoint is not None:
        try:
            info = export_checkpoint(args.from_checkpoint, args.output, config)
        except (DataError, ValueError, OSError) as error:
            return fail(PROG, str(error), 1)
        print(f"{info['path']}: T={info['timesteps']} integer accuracy "
              f"{info['integer_accuracy']:.4f} (float {info['float_accuracy']:.4f}), "
              f"golden/training agreement {info['agreement']:.4f}")
        return 0 if info["agreement"] == 1.0 else 1
    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    console = logging.StreamHandler(sys.stderr)
    logfile = logging.FileHandler(results / "train.log", mode="w")
    for handler in (console, logfile):
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        summary = run(config, args.output, results, progress=not args.quiet)
    except (DataError, ValueError, OSError) as error:
        log.removeHandler(console)  # the error goes to the log file, and as one line to stderr
        log.error("error: %s", error)
        return fail(PROG, str(error), 1)
    finally:
        for handler in (console, logfile):
            log.removeHandler(handler)
            handler.close()
    for info in summary["exports"]:
        print(f"{info['path']}: T={info['timesteps']} integer accuracy "
              f"{info['integer_accuracy']:.4f} (float {info['float_accuracy']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
