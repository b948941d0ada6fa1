"""Sweep the accelerator's design space for a model: cycles, accuracy, resources, Fmax.

::

    python -m sw.sweep --model models/mnist_t4.snn --lanes 32,64,128 --weight-bits 4,8
    python -m sw.sweep --model models/mnist_t4.snn --spec sweep.toml --workers 2
    python -m sw.sweep --model models/mnist.snn --lanes 64,128 --metrics cycles,resources \\
        --workers 8 --address auto

Each axis takes a comma-separated list: ``--board``, ``--lanes`` (P), ``--inputs-per-cycle``
(K), ``--weight-bits``, ``--membrane-bits``, ``--timesteps`` (T); the sweep is every
combination (``boards.sweep.points``). ``--spec FILE`` reads the lists from a TOML file
instead (keys named like the options with underscores, e.g. ``lanes = [64, 128]``; options
given on the command line win). Weight and membrane widths narrower than the model's, and a
different T, run the model narrowed to them (``boards.sweep.fit_network``).

``--metrics`` picks what is measured, each opt-in by its cost: ``cycles`` (the cycle model)
and ``accuracy`` (the golden model on ``--samples`` test images) take seconds;
``resources`` (Artix-7 counts from Yosys) and ``fmax`` (nextpnr on the ``ulx3s``) take minutes
per configuration. ``--workers N`` runs the points as Ray tasks (a local Ray with N CPUs, or the
cluster at ``--address``); the results are those of ``--workers 1``, which runs them here one
after the other. A point whose configuration is impossible or whose tool fails records the
error and the others finish (exit status 1 then).

Writes ``--json`` (default ``results/sweep.json``) and a Pareto plot ``--plot`` (default
``results/sweep.png``: cycles against LUT, or against accuracy without ``resources``), and
prints one line per point and a summary line::

    sweep: <points> points, <failed> failed, <front> on the Pareto front (cycles vs <lut|accuracy>)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from pathlib import Path

from boards import BOARDS
from boards.sweep import AXES, METRICS, SweepError, pareto, plot, points, sweep
from core import modelfile
from core.modelfile import ModelFileError
from sim.cluster import ClusterError
from sw import data
from sw.options import (ArgumentParser, atomic_write, cli_main, fail, input_file, int_range,
                        output_file, positive_int)

__all__ = ["main"]

PROG = "python -m sw.sweep"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         f"integers (e.g. 64,128)") from None
    if not values:
        raise argparse.ArgumentTypeError("the list is empty; give e.g. 64,128")
    return values


def _names(what: str, allowed: tuple, *, canonical: bool):
    """An argument type: a comma-separated list of ``what`` drawn from ``allowed``; returned
    as given, or with ``canonical`` in ``allowed``'s order without repeats."""
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or repr(text)}"
                                             f"; choose from {', '.join(allowed)}")
        return [name for name in allowed if name in names] if canonical else names
    return parse


_boards = _names("board", tuple(BOARDS), canonical=False)
_metrics = _names("metric", tuple(METRICS), canonical=True)


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--model", metavar="FILE", type=input_file, required=True,
                   help=".snn model file whose design space is swept")
    p.add_argument("--spec", metavar="FILE", type=input_file,
                   help="TOML file with the axes as lists (lanes = [64, 128], ...)")
    p.add_argument("--board", type=_boards, metavar="LIST", help="boards (default arty)")
    p.add_argument("--lanes", type=_int_list, metavar="LIST", help="lanes P (default 128)")
    p.add_argument("--inputs-per-cycle", type=_int_list, metavar="LIST",
                   help="inputs per cycle K (default 1)")
    p.add_argument("--weight-bits", type=_int_list, metavar="LIST",
                   help="weight widths (default: the model's)")
    p.add_argument("--membrane-bits", type=_int_list, metavar="LIST",
                   help="membrane widths (default: the model's)")
    p.add_argument("--timesteps", type=_int_list, metavar="LIST",
                   help="timesteps T (default: the model's)")
    p.add_argument("--metrics", type=_metrics, default=["cycles", "accuracy"], metavar="LIST",
                   help=f"what to measure, of {', '.join(METRICS)} (default cycles,accuracy; "
                        f"resources and fmax take minutes per point)")
    data.add_data_arguments(p, default=None)
    p.add_argument("--samples", type=positive_int, default=1000, metavar="N",
                   help="test images for cycles and accuracy (default 1000)")
    p.add_argument("--workers", type=int_range(1, 4096, "workers"), default=1, metavar="N",
                   help="run the points as Ray tasks on N CPUs (default 1: here, without Ray)")
    p.add_argument("--address", metavar="RAY_ADDRESS",
                   help="with --workers: the Ray cluster to run on (default: a local Ray)")
    p.add_argument("--json", type=output_file, default=Path("results/sweep.json"),
                   metavar="FILE", help="the results (default results/sweep.json)")
    p.add_argument("--plot", type=output_file, default=Path("results/sweep.png"),
                   metavar="FILE", help="the Pareto plot, PNG (default results/sweep.png)")
    return p


def _axes(args, parser) -> dict:
    axes = {}
    if args.spec:
        try:
            spec = tomllib.loads(args.spec.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            parser.error(f"--spec {args.spec} is not valid TOML ({error})")
        spec = spec.get("axes", spec)
        for name, values in spec.items():
            key = name.replace("-", "_")
            if key not in AXES:
                parser.error(f"--spec {args.spec}: unknown axis {name!r}; the axes are "
                             f"{', '.join(AXES)}")
            values = values if isinstance(values, list) else [values]
            kind = str if key == "board" else int
            if not values or not all(isinstance(v, kind) and not isinstance(v, bool)
                                     for v in values):
                parser.error(f"--spec {args.spec}: {name} must be a list of "
                             f"{'board names' if kind is str else 'integers'}")
            if key == "board":
                try:
                    _boards(",".join(values))
                except argparse.ArgumentTypeError as error:
                    parser.error(f"--spec {args.spec}: {error}")
            axes[key] = values
    for key in AXES:
        value = getattr(args, key)
        if value is not None:
            axes[key] = value
    return axes


def _images(args, parser, network):
    name, folder = data.data_arguments(args, parser)
    name = name or {784: "mnist", 64: "digits"}.get(network.n_inputs)
    if name is None:
        raise SweepError(f"the model takes {network.n_inputs} inputs; --data mnist (784) or "
                         f"digits (64) has labelled images for it only when the sizes agree")
    split = data.load_dataset(name, folder)["test"]
    if split.pixels.shape[1] != network.n_inputs:
        raise SweepError(f"--data {name} has {split.pixels.shape[1]} pixels per image; the "
                         f"model takes {network.n_inputs} inputs")
    return split.pixels[:args.samples], split.labels[:args.samples]


def _row(entry) -> str:
    point = entry["point"]
    head = (f"  {point['board']:<9} P={point['lanes']:<4} K={point['inputs_per_cycle']} "
            f"W={point['weight_bits'] or '-':<2} M={point['membrane_bits'] or '-':<2} "
            f"T={point['timesteps'] or '-':<3}")
    if entry["error"]:
        return f"{head} error: {entry['error']}"
    parts = []
    if "cycles" in entry:
        parts.append(f"{entry['cycles']['median']:.0f} cycles")
    if "accuracy" in entry:
        parts.append(f"{100 * entry['accuracy']:.2f} %")
    if "resources" in entry:
        r = entry["resources"]
        parts.append(f"{r['lut']} LUT {r['ff']} FF {r['bram36']:g} BRAM {r['dsp']} DSP")
    if "fmax" in entry:
        parts.append(f"{entry['fmax']['fmax_mhz']:.1f} MHz")
    parts += [f"{metric} failed: {text.splitlines()[0]}"
              for metric, text in entry["errors"].items()]
    return f"{head} " + ", ".join(parts)


def _say(message: str) -> None:
    print(f"sweep: {message}", file=sys.stderr, flush=True)


@cli_main(PROG)
def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.address is not None and args.workers == 1:
        parser.error("--address goes with --workers N (N >= 2)")
    axes = _axes(args, parser)
    started = time.monotonic()
    try:
        network = modelfile.load(args.model)
        pixels, labels = _images(args, parser, network)
        point_list = points(axes)
        entries = sweep(point_list, network, pixels, labels, metrics=args.metrics,
                        workers=args.workers, address=args.address, say=_say)
    except (SweepError, ModelFileError, ClusterError, data.DataError, OSError) as error:
        return fail(PROG, str(error))
    wall = time.monotonic() - started
    front, plotted = pareto(entries)
    report = {"model": str(args.model), "samples": int(len(pixels)),
              "metrics": args.metrics, "axes": axes, "workers": args.workers,
              "address": args.address, "wall_seconds": round(wall, 2),
              "pareto": {"axes": list(plotted), "points": front}, "points": entries}
    try:
        with atomic_write(args.json) as file:
            file.write(json.dumps(report, indent=1) + "\n")
        if front:
            plot(entries, args.plot, title=f"{Path(args.model).name}: {len(entries)} "
                                           f"configurations")
    except OSError as error:
        return fail(PROG, f"cannot write the results: {error}")
    for entry in entries:
        print(_row(entry))
    failed = sum(1 for e in entries if e["error"] or e["errors"])
    print(f"sweep: {len(entries)} points, {failed} failed, {len(front)} on the Pareto front "
          f"(cycles vs {plotted[1]})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
