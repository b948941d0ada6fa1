"""Adversarial attacks on a model file, its float SNN and a same-size ANN: ``python -m sw.attack``.

::

    python -m sw.attack --model models/mnist.snn --eps 0.05,0.1,0.2,0.3 --samples 1000
    python -m sw.attack --model m.snn --float results/train/m.pt --ann ann.pt --attack pgd
    python -m sw.attack --model models/mnist.snn --cosim verilator --cosim-samples 1000
    python -m sw.attack --summarize results/robustness

White-box FGSM, PGD (random start) and the gradient-free SPSA are crafted on each classifier of
``--craft-on`` (the ANN, the float SNN, the integer model through its bit-exact twin; the SNNs
through every surrogate gradient of ``--surrogate``); every adversarial set is rounded to uint8
pixels within the budget and run through all three, so the rows crafted on another classifier
are black-box transfer attacks (ANN to SNN and back). Prints the clean and robust accuracy in
percent and writes ``NAME.md`` (tables), ``NAME.json`` and ``NAME.png`` (accuracy against eps)
to ``--output`` (``results/robustness``). With ``--cosim SIM`` the adversarial images crafted on
the integer model run through the accelerator in co-simulation (``python -m sw.cosim --data
FILE.npy``), which must match the golden model on every one.

The ANN is ``--ann FILE`` (written by ``--save-ann``), or trained here for ``--ann-epochs``
epochs on the training set (0: no ANN). The float SNN is the checkpoint of ``--float CKPT``
(what ``sw.train`` writes beside the model), else the model file's integers in float arithmetic.

``--summarize DIR`` collects the JSON reports in ``DIR`` (the benchmark ``make robustness``)
into ``summary.md``, ``summary.json`` and ``summary.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from core import modelfile
from core.config import Config, ConfigError, resolve
from core.modelfile import ModelFileError
from sim.cosim import CosimError, run_cosim, summary_line
from sw.attacks import parse_eps
from sw.data import PIXELS, DataError, add_data_arguments, data_arguments, load_dataset
from sw.evaluate import load_checkpoint
from sw.options import (ArgumentParser, add_samples, atomic_write, cli_main, fail, input_file,
                        input_path, nonnegative_int, output_dir, output_file, positive_int)
from sw.robust import (ATTACKS, MODEL_NAMES, MODELS, ANNClassifier, IntegerClassifier,
                       SNNClassifier, Setting, least, load_ann, row_label, run_attacks, save_ann,
                       strongest, twin)
from sw.snn import SURROGATES
from sw.snnrecipe import load_config
from sw.snn.train import train_ann

__all__ = ["main", "summarize"]

PROG = "python -m sw.attack"


def _eps(text: str) -> list:
    try:
        return parse_eps(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _choices(name: str, known: tuple, everything: str | None = "all"):
    """An argument type for a comma list of ``known`` names (``all``: every one)."""
    def parse(text: str) -> tuple:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if everything and items == [everything]:
            return tuple(known)
        bad = [t for t in items if t not in known]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"{name} {(bad or [text])[0]!r} is unknown; choose from {', '.join(known)}"
                + (f" (comma-separated, or {everything})" if everything else ""))
        return tuple(dict.fromkeys(items))
    parse.__name__ = name
    return parse


def _fraction(text: str) -> float:
    try:
        return parse_eps(text)[0]
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace("eps", "step size", 1)) from None


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=input_file, metavar="FILE", help=".snn model file")
    what.add_argument("--summarize", type=input_path, metavar="DIR",
                      help="collect the JSON reports in DIR into summary.md/json/png")
    p.add_argument("--float", dest="checkpoint", type=input_file, metavar="CKPT",
                   help="training checkpoint (.pt) of the model: the float SNN (default: the "
                        "file's integers in float arithmetic)")
    p.add_argument("--ann", type=input_file, metavar="FILE",
                   help="same-size ANN written by --save-ann (default: train one)")
    p.add_argument("--ann-epochs", type=nonnegative_int, default=3, metavar="N",
                   help="epochs of the ANN trained when --ann is not given (0: no ANN; "
                        "default 3)")
    p.add_argument("--save-ann", type=output_file, metavar="FILE",
                   help="write the trained ANN to FILE (for --ann next time)")
    p.add_argument("--attack", type=_choices("attack", ATTACKS), default=ATTACKS,
                   metavar="LIST", help=f"attacks, comma-separated: {', '.join(ATTACKS)} or "
                                        f"all (default all)")
    p.add_argument("--eps", type=_eps, default=parse_eps("0.05,0.1,0.2,0.3"), metavar="LIST",
                   help="L_inf budgets in [0, 1] pixel units, comma-separated, a/b allowed "
                        "(default 0.05,0.1,0.2,0.3)")
    add_samples(parser=p, default=1000, help="test images to attack")
    p.add_argument("--surrogate", type=_choices("surrogate", SURROGATES), default=SURROGATES,
                   metavar="LIST", help="surrogate gradients of the SNN attacks: "
                                        f"{', '.join(SURROGATES)} or all (default all)")
    p.add_argument("--craft-on", type=_choices("classifier", MODELS), default=MODELS,
                   metavar="LIST", help=f"classifiers the attacks are crafted on: "
                                        f"{', '.join(MODELS)} or all (default all)")
    p.add_argument("--steps", type=positive_int, default=7, metavar="N",
                   help="PGD steps (default 7)")
    p.add_argument("--step-size", type=_fraction, metavar="S",
                   help="PGD and SPSA step in [0, 1] units, a/b allowed (default eps/4: 2/255 "
                        "at 8/255)")
    p.add_argument("--spsa-samples", type=positive_int, default=200, metavar="N",
                   help="images SPSA attacks (the first N; default 200)")
    p.add_argument("--spsa-steps", type=positive_int, default=10, metavar="N",
                   help="SPSA steps (default 10)")
    p.add_argument("--spsa-directions", type=positive_int, default=32, metavar="N",
                   help="random directions per SPSA step (default 32)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of PGD's random start and SPSA's directions")
    p.add_argument("--batch-size", type=positive_int, default=500, metavar="N")
    add_data_arguments(p)
    p.add_argument("--output", type=output_dir, default=Path("results/robustness"),
                   metavar="DIR", help="folder of the report (default results/robustness)")
    p.add_argument("--name", metavar="NAME",
                   help="file name of the report in --output (default: the model's name)")
    p.add_argument("--adv-npy", type=output_file, metavar="FILE",
                   help="write the adversarial images crafted on the integer model as uint8 "
                        "(N, inputs) .npy (what sw.cosim --data reads)")
    p.add_argument("--cosim", choices=("verilator", "icarus"),
                   help="run the adversarial images through the accelerator in this simulator")
    p.add_argument("--cosim-samples", type=positive_int, default=1000, metavar="N",
                   help="adversarial images to co-simulate (default 1000)")
    p.add_argument("--config", metavar="NAME",
                   help="hardware configuration of the co-simulation (default mnist)")
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="PyTorch threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _same_size_ann(sizes, epochs, dataset, source, seed, quiet):
    """The bias-free ReLU network of ``sizes`` trained as sw.train trains it for conversion."""
    config = load_config(overrides={"network": {"hidden": list(sizes[1:-1])},
                                    "ann": {"epochs": epochs}, "train": {"seed": seed}})
    x, y = load_dataset(dataset, source)["train"]
    return train_ann(config, x, y, progress=not quiet)


def _eps_text(eps: float) -> str:
    """``8/255`` for a whole number of grey levels that has no short decimal, else ``0.1``."""
    levels = eps * 255
    if abs(levels - round(levels)) < 1e-9 and len(f"{eps:g}") > 5:
        return f"{round(levels)}/255"
    return f"{eps:g}"


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _describe(network) -> str:
    neurons = "/".join(dict.fromkeys(layer.neuron.upper() for layer in network.layers[:-1])) \
        or network.layers[-1].neuron.upper()
    return (f"{'-'.join(map(str, network.sizes))}, T={network.timesteps}, {network.encoder} "
            f"encoder, {neurons} hidden neurons, {network.readout} read-out")


def _strongest_table(result, models, eps_list) -> dict:
    """``{model: {eps: {"fgsm": ..., "pgd": ..., "any": ...}}}`` of :func:`strongest`."""
    table = {}
    for m in models:
        table[m] = {}
        for eps in eps_list:
            entry = {}
            for key, attacks in (("fgsm", ("fgsm",)), ("pgd", ("pgd",)), ("spsa", ("spsa",)),
                                 ("any", None)):
                found = strongest(result, m, eps, attacks)
                if found is not None:
                    entry[key] = found
            table[m][f"{eps:g}"] = entry
    return table


def _markdown(result, meta, best) -> str:
    eps_list = meta["eps"]
    models = meta["models"]
    lines = [f"# Adversarial robustness of {meta['model']}", "",
             f"{meta['network']}; {result['images']} {meta['dataset']} test images; float SNN: "
             f"{meta['float_snn']}; ANN: {meta['ann']}.", "",
             "Clean accuracy: " + ", ".join(f"{MODEL_NAMES[m]} {_percent(result['clean'][m])} %"
                                            for m in models) + ".", "",
             "PGD: " + f"{meta['setting']['steps']} steps of "
             + ("eps/4" if meta['setting']['step_size'] is None
                else f"{meta['setting']['step_size']:.4g}")
             + ", random start; SPSA: "
             f"{meta['setting']['spsa_steps']} steps, {meta['setting']['spsa_directions']} "
             f"directions, first {meta['setting']['spsa_samples']} images. Accuracy in % on the "
             f"uint8 adversarial images (each within floor(255 eps) levels)."]
    for m in models:
        lines += ["", f"## {MODEL_NAMES[m]}", "",
                  "| attack, crafted on | kind | " + " | ".join(f"eps {_eps_text(e)}" for e in eps_list)
                  + " |", "|---|---|" + "---|" * len(eps_list)]
        labels = list(dict.fromkeys(row_label(r) for r in result["rows"]))
        for label in labels:
            cells, kind = [], ""
            for eps in eps_list:
                row = next((r for r in result["rows"] if row_label(r) == label
                            and abs(r["eps"] - eps) < 1e-12), None)
                cells.append(_percent(row["accuracy"].get(m)) if row else "-")
                if row:
                    kind = "white-box" if row["source"] == m else "transfer"
                    if row["attack"] == "spsa":
                        kind += f", gradient-free, {row['images']} images"
            lines.append(f"| {label} | {kind} | " + " | ".join(cells) + " |")
        cells = []
        for eps in eps_list:
            entry = best[m][f"{eps:g}"].get("any")
            cells.append(f"**{_percent(entry['accuracy'])}** ({entry['attack']})" if entry
                         else "-")
        lines.append("| **strongest attack** | | " + " | ".join(cells) + " |")
        cells = [_percent(best[m][f"{e:g}"]["any"]["worst_case"])
                 if "any" in best[m][f"{e:g}"] else "-" for e in eps_list]
        lines.append("| worst case over all attacks, per image | | " + " | ".join(cells) + " |")
    if meta.get("cosim"):
        c = meta["cosim"]
        lines += ["", f"Co-simulation ({c['sim']}): {c['images']} adversarial images crafted on "
                  f"the integer model, {c['mismatches']} mismatches against the golden model."]
    return "\n".join(lines) + "\n"


def _plot(result, meta, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = meta["models"]
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, m in zip(axes[0], models):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
        for label in dict.fromkeys(row_label(r) for r in result["rows"]):
            rows = sorted((r for r in result["rows"] if row_label(r) == label),
                          key=lambda r: r["eps"])
            white = rows[0]["source"] == m
            ax.plot([0.0] + [r["eps"] for r in rows],
                    [100 * result["clean"][m]] + [100 * r["accuracy"][m] for r in rows],
                    "-" if white else "--", marker="o", ms=3, label=label)
        ax.set(title=MODEL_NAMES[m], xlabel="eps (L_inf, [0, 1] pixel units)",
               ylabel="accuracy (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="upper right")
    fig.suptitle(f"{meta['model']}: solid white-box, dashed transfer", fontsize=9)
    fig.tight_layout()
    with atomic_write(path, "wb") as file:
        fig.savefig(file, format="png", dpi=100)
    plt.close(fig)


def _cosim_images(result, count) -> np.ndarray:
    """About ``count`` adversarial images crafted on the integer model (else on any), taken
    evenly from every adversarial set."""
    rows = [r for r in result["rows"] if r["source"] == "snn_int"] or result["rows"]
    if not rows:
        return np.zeros((0, 0), np.uint8)
    each = math.ceil(count / len(rows))
    return np.concatenate([r["pixels"][:each] for r in rows])[:count]


def _cosim(network, images, args) -> dict:
    """Run ``images`` through the accelerator (configuration ``--config``, default mnist, or
    one made for the network when it does not fit) in co-simulation; print cosim's line."""
    config = resolve(args.config, (), default="mnist").replace(trace=True)
    if not config.fits(network):
        if args.config:
            raise ConfigError(f"{args.model} does not fit configuration {args.config}; leave "
                              f"--config out to size the accelerator for the model")
        config = Config.for_network(network, trace=True)
    say = None if args.quiet else (lambda text: print(f"cosim: {text}", file=sys.stderr,
                                                      flush=True))
    result = run_cosim([network], [images], config, sim=args.cosim, fast=True, say=say)
    if result["first"] is not None:
        print(f"cosim: first difference in image {result['first']['image']}:", file=sys.stderr)
        for line in result["first"]["differences"]:
            print(f"  {line}", file=sys.stderr)
    print(summary_line(result))
    return {"sim": args.cosim, "images": int(result["inferences"]),
            "mismatches": int(result["mismatches"]),
            "config": args.config or ("mnist" if config.fits(network) else "made for the model")}


def _run(args) -> int:
    torch.set_num_threads(args.threads)
    network = modelfile.load(args.model)
    dataset, source = args.dataset_source
    if PIXELS[dataset] != network.n_inputs:     # before anything is downloaded or trained
        raise ValueError(f"{args.model} has {network.n_inputs} inputs but the {dataset} images "
                         f"have {PIXELS[dataset]} pixels; attack it on its own data set")
    classifiers = {}
    if any(layer.conv is not None for layer in network.layers) and (args.ann or args.ann_epochs):
        # before anything is trained: the same-size ANN would be an MLP of the maps' sizes
        raise ValueError(f"{args.model} has convolution layers, but the same-size ANN of "
                         f"sw.attack is a multilayer perceptron; give --ann-epochs 0 (and no "
                         f"--ann) to attack the integer model and its float twin, which both "
                         f"run the convolutions")
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
        if model.config.n_inputs != network.n_inputs:
            raise ValueError(f"{args.checkpoint} is a network of {model.config.n_inputs} "
                             f"inputs, {args.model} of {network.n_inputs}; give the checkpoint "
                             f"of this model")
        model.config.timesteps = network.timesteps
        float_snn = SNNClassifier(model, quantized=False, surrogates=args.surrogate)
        float_text = f"checkpoint {args.checkpoint}"
    else:
        float_snn = SNNClassifier(twin(network), quantized=False, surrogates=args.surrogate)
        float_text = "the model file's integers in float arithmetic"
    ann_text = "none"
    if args.ann:
        ann = load_ann(args.ann)
        ann_text = str(args.ann)
    elif args.ann_epochs:
        if not args.quiet:
            print(f"attack: training the same-size ANN for {args.ann_epochs} epochs ...",
                  file=sys.stderr)
        ann = _same_size_ann(network.sizes, args.ann_epochs, dataset, source, args.seed,
                             args.quiet)
        ann_text = f"trained here, {args.ann_epochs} epochs"
    else:
        ann = None
    if ann is not None:
        sizes = [ann.layers[0].in_features] + [layer.out_features for layer in ann.layers]
        if sizes != list(network.sizes):
            raise ValueError(f"the ANN has sizes {sizes}, the model {network.sizes}; give the "
                             f"same-size ANN (or none: --ann-epochs 0)")
        if args.save_ann:
            save_ann(ann, args.save_ann)
        classifiers["ann"] = ANNClassifier(ann)
    classifiers["snn_float"] = float_snn
    classifiers["snn_int"] = IntegerClassifier(network, surrogates=args.surrogate)
    test = load_dataset(dataset, source)["test"]
    pixels, labels = test.pixels[:args.samples], test.labels[:args.samples]
    setting = Setting(eps=args.eps, attacks=args.attack, sources=args.craft_on,
                      steps=args.steps, step_size=args.step_size, spsa_steps=args.spsa_steps,
                      spsa_directions=args.spsa_directions, spsa_samples=args.spsa_samples,
                      batch_size=args.batch_size, seed=args.seed)
    say = None if args.quiet else (lambda text: print(f"attack: {text}", file=sys.stderr,
                                                      flush=True))
    keep = bool(args.cosim or args.adv_npy)
    result = run_attacks(classifiers, pixels, labels, setting, progress=say, keep_images=keep)
    models = [m for m in MODELS if m in classifiers]
    best = _strongest_table(result, models, args.eps)
    name = args.name or Path(args.model).stem
    meta = {"kind": "sw.attack", "model": str(args.model), "network": _describe(network),
            "sizes": list(network.sizes), "timesteps": network.timesteps,
            "encoder": network.encoder, "readout": network.readout,
            "neurons": [layer.neuron for layer in network.layers], "dataset": dataset,
            "float_snn": float_text, "ann": ann_text, "models": models, "eps": args.eps,
            "setting": {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in vars(setting).items()}}
    status = 0
    if keep:
        images = _cosim_images(result, args.cosim_samples)
        npy = args.adv_npy
        if npy is not None:
            with atomic_write(npy, "wb") as file:
                np.save(file, images)
        if args.cosim:
            meta["cosim"] = _cosim(network, images, args)
            status = 1 if meta["cosim"]["mismatches"] else 0
    rows = [{k: v for k, v in r.items() if k != "pixels"} for r in result["rows"]]
    report = dict(meta, clean=result["clean"], images=result["images"], rows=rows,
                  strongest=best)
    out = Path(args.output)
    with atomic_write(out / f"{name}.json") as file:
        json.dump(report, file, indent=1)
    with atomic_write(out / f"{name}.md") as file:
        file.write(_markdown(result, meta, best))
    _plot(result, meta, out / f"{name}.png")
    _print(result, meta, best)
    print(f"wrote {out / name}.md, .json and .png")
    return status


def _print(result, meta, best) -> None:
    models = meta["models"]
    print(f"{meta['model']}: {meta['network']}")
    print("clean accuracy: " + ", ".join(f"{MODEL_NAMES[m]} {_percent(result['clean'][m])} %"
                                         for m in models))
    width = max([len(row_label(r)) for r in result["rows"]] + [20])
    head = " ".join(f"{MODEL_NAMES[m]:>13}" for m in models)
    print(f"{'attack, crafted on':<{width}}  {'eps':>6} {head}")
    for r in result["rows"]:
        cells = " ".join(f"{_percent(r['accuracy'][m]):>13}" for m in models)
        print(f"{row_label(r):<{width}}  {_eps_text(r['eps']):>6} {cells}")
    for eps in meta["eps"]:
        cells = " ".join(f"{_percent(best[m][f'{eps:g}']['any']['accuracy']):>13}"
                         if "any" in best[m][f"{eps:g}"] else f"{'-':>13}" for m in models)
        print(f"{'strongest attack':<{width}}  {_eps_text(eps):>6} {cells}")


# -- the benchmark's summary -----------------------------------------------------------------

def summarize(folder) -> dict:
    """The reports (``*.json`` of ``sw.attack``) in ``folder`` as one table: per model, the
    clean accuracy and the accuracy under the strongest FGSM, PGD and any attack at each eps,
    for every classifier. Writes ``summary.md``, ``summary.json`` and ``summary.png`` there."""
    folder = Path(folder)
    reports = []
    for path in sorted(folder.glob("*.json")):
        if path.name == "summary.json":
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and report.get("kind") == "sw.attack":
            reports.append(report)
    if not reports:
        raise ValueError(f"{folder} holds no report of sw.attack (*.json); run python -m "
                         f"sw.attack --model FILE --output {folder} first")
    eps_all = sorted({e for r in reports for e in r["eps"]})
    lines = [f"# Robustness summary ({len(reports)} models)", "",
             "Accuracy in % as ANN / SNN (float) / SNN (integer): clean, and under the "
             "strongest FGSM, the strongest PGD and the strongest of all attacks (white-box "
             "through either surrogate, gradient-free SPSA, transfer) at each eps.", ""]
    head = ["model", "encoder", "hidden", "T", "clean"]
    for e in eps_all:
        head += [f"FGSM {_eps_text(e)}", f"PGD {_eps_text(e)}", f"any {_eps_text(e)}"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table, names = [], []
    for r in reports:
        models = r["models"]
        entry = {"model": r["model"], "encoder": r["encoder"], "neurons": r["neurons"],
                 "timesteps": r["timesteps"], "clean": r["clean"], "eps": {}}
        cells = [Path(r["model"]).stem, r["encoder"], r["neurons"][0].upper(),
                 str(r["timesteps"]), " / ".join(_percent(r["clean"][m]) for m in models)]
        for e in eps_all:
            # from the rows, so that every report is judged alike, whatever wrote it
            found = {m: {} for m in models}
            for m in models:
                for k, attacks in (("fgsm", ("fgsm",)), ("pgd", ("pgd",)), ("any", None)):
                    chosen = least(r["rows"], m, e, attacks)
                    if chosen is not None:
                        found[m][k] = {"accuracy": chosen[1]["accuracy"][m],
                                       "attack": row_label(chosen[1])}
            entry["eps"][f"{e:g}"] = found
            for k in ("fgsm", "pgd", "any"):
                cells.append(" / ".join(_percent(found[m][k]["accuracy"]) if k in found[m]
                                        else "-" for m in models))
            names.append([Path(r["model"]).stem, _eps_text(e)] + [
                found[m]["any"]["attack"] if "any" in found[m] else "-" for m in models])
        table.append(entry)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "The strongest attack found (the first of equals, white-box first):", "",
              "| model | eps | " + " | ".join(MODEL_NAMES[m] for m in MODELS) + " |",
              "|---|---|" + "---|" * len(MODELS)]
    lines += ["| " + " | ".join(row) + " |" for row in names]
    with atomic_write(folder / "summary.md") as file:
        file.write("\n".join(lines) + "\n")
    with atomic_write(folder / "summary.json") as file:
        json.dump({"eps": eps_all, "models": table}, file, indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, m in zip(axes, ("snn_int", "ann")):
        for r in reports:
            if m not in r["models"]:
                continue
            xs = [0.0] + list(r["eps"])
            ys = [100 * r["clean"][m]] + [100 * r["strongest"][m][f"{e:g}"]["any"]["accuracy"]
                                          for e in r["eps"]]
            ax.plot(xs, ys, marker="o", ms=3, label=Path(r["model"]).stem)
        ax.set(title=f"{MODEL_NAMES[m]}: strongest attack", xlabel="eps", ylabel="accuracy (%)",
               ylim=(-2, 102))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    with atomic_write(folder / "summary.png", "wb") as file:
        fig.savefig(file, format="png", dpi=100)
    plt.close(fig)
    print("\n".join(lines))
    print(f"wrote {folder / 'summary.md'}, .json and .png")
    return {"eps": eps_all, "models": table}


@cli_main(PROG)
def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.dataset_source = data_arguments(args, parser)
    try:
        if args.summarize:
            if not args.summarize.is_dir():
                return fail(PROG, f"--summarize {args.summarize} is a file; give the folder "
                                  f"of the reports")
            summarize(args.summarize)
            return 0
        return _run(args)
    except (ModelFileError, DataError, ConfigError, CosimError, ValueError, OSError,
            RuntimeError) as error:
        text = str(error).strip().splitlines()
        return fail(PROG, text[0] if text else type(error).__name__, 1)


if __name__ == "__main__":
    sys.exit(main())
