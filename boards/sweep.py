"""A design-space sweep of the accelerator for one model: the library under ``sw.sweep``.

A sweep point is a board and the generator parameters users ask about: lanes ``P``, inputs
per cycle ``K``, weight bits, membrane bits and timesteps ``T`` (:data:`AXES`). For each point
:func:`evaluate` sizes a :class:`core.config.Config` for the model and measures the metrics
asked for (:data:`METRICS`):

``cycles``
    :func:`core.perf.cycle_counts` over the images (the cycle model, exact against the
    gateware): median and mean per inference. Seconds.
``accuracy``
    :func:`core.golden.predict` against the labels. The model runs as the point's hardware
    would run it: narrowed to the point's weight and membrane widths where it is wider
    (:func:`fit_network`; a model trained for the narrower widths does better) and run for the
    point's ``T``. Seconds.
``resources``
    Artix-7 LUT, FF, BRAM and DSP of ``hw.accel.Accelerator`` from Yosys ``synth_xilinx``
    (:func:`accelerator_resources`, cached per configuration). Minutes each.
``fmax``
    Place and route with nextpnr-ecp5 (:func:`boards.build.build`) on an open-toolchain board
    (``ulx3s``): the achieved clock and the ECP5 utilisation. Minutes each.

:func:`sweep` runs the points one after the other (``workers=1``) or as Ray tasks on a local
Ray or a cluster (:func:`sim.cluster.ray_session`); the results are the same either way,
in the order of the points. A point whose configuration is impossible, or whose tool fails,
gets the error in its entry (``error``, or ``errors[metric]``) and the others finish.
:func:`pareto` picks the points no other point beats in cycles and LUT (or, without resource
counts, in cycles and accuracy), :func:`plot` draws them (PNG).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from core import golden, perf
from core.config import Config, ConfigError, FitError
from core.network import NetworkError, weight_range
from core.resources import XC7_SYNTH, xc7
from hw.synth import verilog
from sim.cluster import ray_session
from sim.toolchain import ROOT, module_files
from sw.options import atomic_write

from . import get_board
from .build import FlashError, build
from .reports import ReportError, xc7_synthesize

__all__ = ["AXES", "METRICS", "SweepError", "points", "fit_network", "point_config",
           "accelerator_cells", "accelerator_resources", "evaluate", "sweep", "pareto", "plot"]

#: The axes of a sweep, with the default value of each (``None``: the model's own).
AXES = {"board": "arty", "lanes": 128, "inputs_per_cycle": 1, "weight_bits": None,
        "membrane_bits": None, "timesteps": None}
#: The metrics, the fast ones first.
METRICS = ("cycles", "accuracy", "resources", "fmax")
#: Retries of a Ray task whose worker died (a tool's failure is recorded, not retried).
RETRIES = 2


class SweepError(RuntimeError):
    """The sweep as a whole cannot run (bad axes, Ray unreachable)."""


def points(axes: dict) -> list[dict]:
    """Every combination of ``axes`` (name -> list of values; a missing axis takes its
    default), the last axis of :data:`AXES` varying fastest."""
    unknown = set(axes) - set(AXES)
    if unknown:
        raise SweepError(f"unknown sweep axis {', '.join(sorted(unknown))}; the axes are "
                         f"{', '.join(AXES)}")
    lists = [list(axes.get(name) or [default]) for name, default in AXES.items()]
    return [dict(zip(AXES, values)) for values in itertools.product(*lists)]


def fit_network(network, *, weight_bits=None, membrane_bits=None, timesteps=None):
    """``network`` as hardware of these widths runs it.

    Weights wider than ``weight_bits`` are divided by ``2**shift`` (rounded, clipped to the
    narrower range), with the thresholds and biases, so that each neuron keeps its balance;
    a membrane wider than ``membrane_bits`` is narrowed (thresholds, biases and leak shifts
    clipped to its range); ``timesteps`` replaces ``T``. A wider setting changes nothing: the
    network saturates at its own widths in any hardware that holds it.
    """
    M = min(network.membrane_bits, membrane_bits or network.membrane_bits)
    top = (1 << (M - 1)) - 1
    layers = []
    for layer in network.layers:
        bits = min(layer.weight_bits, weight_bits or layer.weight_bits)
        shift = layer.weight_bits - bits
        scale = float(1 << shift)

        def narrow(values, low, high):
            return np.clip(np.round(np.asarray(values, np.float64) / scale), low, high) \
                .astype(np.int64)

        low, high = weight_range(bits)
        weights = narrow(layer.weights, low, high)
        if bits == 1:  # 1-bit weights are -1/+1: no zero
            weights = np.where(weights >= 0, 1, -1)
        bias = None if layer.bias is None else narrow(layer.bias, -top - 1, top)
        leak = min(layer.leak, M - 1) if layer.leak_mode == "shift" else layer.leak
        layers.append(dataclasses.replace(
            layer, weights=weights, weight_bits=bits, bias=bias, leak=leak,
            threshold=int(min(max(1, round(layer.threshold / scale)), top))))
    out = dataclasses.replace(network, layers=layers, membrane_bits=M,
                              timesteps=timesteps or network.timesteps)
    out.validate()
    return out


def point_config(network, point: dict) -> Config:
    """The :class:`core.config.Config` of ``point`` sized for ``network`` (already fitted)."""
    lanes, K = point["lanes"], point["inputs_per_cycle"]
    changes = {"lanes": lanes, "inputs_per_cycle": K}
    if isinstance(lanes, int) and lanes >= 1:
        changes["neuron_units"] = max(min(8, lanes), K)
    if point.get("weight_bits"):
        changes["weight_bits"] = point["weight_bits"]
    if point.get("membrane_bits"):
        changes["membrane_bits"] = point["membrane_bits"]
    config = Config.for_network(network, **changes)
    config.check_fits(network)
    return config


def _build_root() -> Path:
    return Path(os.environ.get("SNN_BUILD_DIR", ROOT / "build"))


def _digest(config) -> str:
    h = hashlib.sha256((repr(config) + XC7_SYNTH).encode())
    for path in module_files(["hw.accel"]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def accelerator_cells(config, *, timeout: float = 3600.0, say=None) -> tuple[dict, float | None]:
    """Yosys's Artix-7 cell count of ``hw.accel.Accelerator(config)`` (no trace port):
    :func:`boards.reports.xc7_synthesize` on :func:`hw.synth.verilog` ``(config, "top")``, and
    the seconds it took (None when cached). Cached per configuration and gateware source under
    ``build/synth-*`` (``SNN_BUILD_DIR``); ``say`` is called with a line before a synthesis of
    minutes. The one count behind ``hw.generate --resources``, ``sw.bench`` and ``sw.sweep``."""
    config = config.replace(trace=False)
    folder = _build_root() / f"synth-{_digest(config)}"
    cached = folder / "cells.json"
    folder.mkdir(parents=True, exist_ok=True)
    # Two sweep points of one configuration (two boards) may ask at once, in two processes:
    # the second waits for the first's count instead of writing the same files beside it.
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _count(config, folder, cached, timeout, say)


def accelerator_resources(config, *, timeout: float = 3600.0, say=None) -> dict:
    """Artix-7 resources of ``hw.accel.Accelerator(config)`` (:func:`accelerator_cells`,
    counted by :func:`core.resources.xc7`) as ``lut``, ``ff``, ``bram36``, ``dsp``,
    ``lut_memory``, plus ``lut_logic``, ``carry4`` and ``seconds`` (None when cached)."""
    cells, seconds = accelerator_cells(config, timeout=timeout, say=say)
    counts = xc7(cells)
    return {**counts.as_dict(), "lut_logic": counts.lut - counts.lut_memory,
            "carry4": cells.get("CARRY4", 0), "seconds": seconds}


def _count(config, folder: Path, cached: Path, timeout: float, say):
    if cached.exists():
        cells, seconds = json.loads(cached.read_text()), None
    else:
        if say is not None:
            say(f"estimating Artix-7 resources of P={config.lanes} with Yosys (minutes; "
                f"cached afterwards) ...")
        # The Verilog of `hw.generate --output` with the module named top, as the boards'
        # estimates write it: Yosys maps by name and attributes too (a LUT more or less).
        (folder / "top.v").write_text(verilog(config, "top"))
        started = time.monotonic()
        cells = dict(xc7_synthesize(["top.v"], top="top", workdir=folder,
                                    timeout=timeout).cells)
        seconds = round(time.monotonic() - started, 1)
        with atomic_write(cached) as file:
            file.write(json.dumps(cells))
    return cells, seconds


def _fmax(point: dict, config: Config) -> dict:
    board = get_board(point["board"])
    if board.toolchain != "trellis":
        raise FlashError(f"Fmax comes from nextpnr: sweep an open-toolchain board (ulx3s), "
                         f"not {board.name} ({board.toolchain})")
    root = _build_root()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sweep-fmax-", dir=root))
    try:
        report = build(board, config=config.replace(trace=False), config_label="sweep",
                       output=work / "build", results_dir=None).report
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pnr = report["place_and_route"]
    return {"fmax_mhz": report["fmax_mhz"], "timing_met": report["timing_met"],
            "constraint_mhz": pnr.get("constraint_mhz"),
            "ecp5": {cls: v["used"] for cls, v in pnr["resources"].items()}}


#: What a failing tool raises, recorded as the metric's error.
TOOL_ERRORS = (ReportError, FlashError, ConfigError, FitError, NetworkError, OSError,
               RuntimeError, ValueError, KeyError)


def evaluate(point: dict, network, pixels, labels=None, metrics=("cycles", "accuracy")) -> dict:
    """The metrics of one sweep point (see the module's description).

    Returns ``{"point", "config", "cycles": {"median", "mean"}, "accuracy", "resources",
    "fmax", "error", "errors": {metric: message}, "seconds": {metric: s}}``: ``error`` when
    the point itself is impossible (nothing measured), ``errors`` for each metric whose tool
    failed. Never raises for a tool's failure.
    """
    entry = {"point": dict(point), "config": None, "error": None, "errors": {},
             "seconds": {}}
    try:
        fitted = fit_network(network, weight_bits=point.get("weight_bits"),
                             membrane_bits=point.get("membrane_bits"),
                             timesteps=point.get("timesteps"))
        config = point_config(fitted, point)
        get_board(point["board"])
    except (ConfigError, FitError, NetworkError, KeyError, TypeError, ValueError) as error:
        entry["error"] = str(error).strip("'\"")
        return entry
    entry["config"] = dataclasses.asdict(config)
    for metric in metrics:
        started = time.monotonic()
        try:
            if metric == "cycles":
                counts = perf.cycle_counts(fitted, config, pixels)
                entry["cycles"] = {"median": float(np.median(counts)),
                                   "mean": round(float(counts.mean()), 3)}
            elif metric == "accuracy":
                if labels is None:
                    raise ValueError("the images have no labels")
                predicted = golden.predict(fitted, pixels)
                entry["accuracy"] = round(float(np.mean(predicted == np.asarray(labels))), 6)
            elif metric == "resources":
                counts = accelerator_resources(config)
                entry["resources"] = {k: v for k, v in counts.items() if k != "seconds"}
            elif metric == "fmax":
                entry["fmax"] = _fmax(point, config)
            else:
                raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        except TOOL_ERRORS as error:
            entry["errors"][metric] = str(error).strip() or type(error).__name__
        entry["seconds"][metric] = round(time.monotonic() - started, 3)
    return entry


def sweep(point_list, network, pixels, labels=None, *, metrics=("cycles", "accuracy"),
          workers: int = 1, address: str | None = None, say=None) -> list[dict]:
    """:func:`evaluate` every point, one after the other (``workers=1``, no Ray) or as Ray tasks
    (``workers`` CPUs of a local Ray, or the cluster at ``address``). The entries come in the
    order of ``point_list``; a task whose worker died :data:`RETRIES` + 1 times is recorded as
    that point's error."""
    say = say or (lambda message: None)
    if workers == 1 and address is None:
        out = []
        for index, point in enumerate(point_list):
            say(f"point {index + 1}/{len(point_list)}: {_label(point)}")
            out.append(evaluate(point, network, pixels, labels, metrics))
        return out
    with ray_session(workers, address) as ray:
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(evaluate)
        shared = [ray.put(value) for value in (network, pixels, labels)]
        pending = [task.remote(point, *shared, tuple(metrics)) for point in point_list]
        say(f"{len(pending)} points as Ray tasks on {workers if address is None else 'the'} "
            f"{'CPUs' if address is None else 'cluster'} ...")
        which = {ref: index for index, ref in enumerate(pending)}
        waiting = list(pending)
        while waiting:  # a line as each point finishes: points with Yosys take minutes
            done, waiting = ray.wait(waiting, num_returns=1)
            index = which[done[0]]
            say(f"point {index + 1}/{len(point_list)} done: {_label(point_list[index])} "
                f"({len(point_list) - len(waiting)} of {len(point_list)})")
        out = []
        for point, ref in zip(point_list, pending):
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayError as error:
                out.append({"point": dict(point), "config": None, "errors": {},
                            "seconds": {}, "error": f"the Ray task failed: "
                                                    f"{str(error).strip().splitlines()[-1]}"})
        return out


def _label(point: dict) -> str:
    parts = [f"P={point['lanes']}", f"K={point['inputs_per_cycle']}"]
    for key, name in (("weight_bits", "W"), ("membrane_bits", "M"), ("timesteps", "T")):
        if point.get(key):
            parts.append(f"{name}={point[key]}")
    return f"{point['board']} " + " ".join(parts)


def pareto(entries) -> tuple[list[int], tuple[str, str]]:
    """Indices of the entries no other entry beats, and the two axes used: cycles (median,
    lower is better) against LUT (lower is better) when every measured entry has resources,
    else against accuracy (higher is better). An entry beats another when it is at least as
    good on both axes and better on one."""
    measured = [i for i, e in enumerate(entries) if "cycles" in e]
    use_lut = measured and all("resources" in entries[i] for i in measured)
    if use_lut:
        key = lambda e: (e["cycles"]["median"], e["resources"]["lut"])
        axes = ("cycles", "lut")
    else:
        measured = [i for i in measured if "accuracy" in entries[i]]
        key = lambda e: (e["cycles"]["median"], -e["accuracy"])
        axes = ("cycles", "accuracy")
    costs = {i: key(entries[i]) for i in measured}

    def beaten(i):
        a = costs[i]
        return any(b[0] <= a[0] and b[1] <= a[1] and b != a for j, b in costs.items() if j != i)

    return [i for i in measured if not beaten(i)], axes


def plot(entries, path, *, title: str = "design-space sweep") -> None:
    """A PNG of the entries (cycles against LUT, or against accuracy; see :func:`pareto`) with
    the Pareto front drawn and labelled, written atomically to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    front, (_, other) = pareto(entries)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        def y(e):
            return e["resources"]["lut"] if other == "lut" else 100 * e["accuracy"]

        shown = [e for e in entries if "cycles" in e and (other == "lut" and "resources" in e
                                                          or other == "accuracy"
                                                          and "accuracy" in e)]
        ax.scatter([e["cycles"]["median"] for e in shown], [y(e) for e in shown], s=18,
                   color="0.6", label="configurations")
        best = sorted((entries[i] for i in front), key=lambda e: e["cycles"]["median"])
        ax.plot([e["cycles"]["median"] for e in best], [y(e) for e in best], "o-",
                color="tab:red", label="Pareto front")
        for e in best:
            ax.annotate(_label(e["point"]), (e["cycles"]["median"], y(e)), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("cycles per inference (median)")
        ax.set_ylabel("Artix-7 LUT (Yosys estimate)" if other == "lut" else "accuracy (%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_write(path, "wb") as file:
            fig.savefig(file, format="png")
    finally:
        plt.close(fig)
