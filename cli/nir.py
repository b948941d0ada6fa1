"""Bring float networks from snnTorch, Norse and SpikingJelly onto the accelerator through NIR,
and write the accelerator's networks as NIR graphs.

::

    python -m sw.nir import GRAPH.nir --output MODEL.snn [--timesteps T] [--data mnist]
    python -m sw.nir import GRAPH.nir --output MODEL.snn --calibrate images.npy --dt 1e-3
    python -m sw.nir export MODEL.snn --output GRAPH.nir [--dt 1e-4] [--input unit|pixels]

``import`` reads a chain of Linear/Affine and IF/LIF/CubaLIF nodes with float parameters,
quantizes it (``sw.nirfloat.read_float`` and ``quantize``: a per-layer integer scale for
``--weight-bits``, thresholds and biases scaled with it, the leak mapped to the nearest shift
or factor, each layer's scale chosen on calibration images), and compares the integer model
with a float simulation of the graph: it prints the float graph's accuracy, the integer
model's, and the percentage of images they classify alike, and exits with status 1 (writing
nothing) when that is below ``--min-agreement``. A graph written by ``export`` (or
``sw.nirio.save_nir``) reads back exactly. Images: ``--data mnist|digits`` (calibration on the
training side, the report on the first ``--samples`` test images) and/or ``--calibrate FILE.npy``
(uint8 pixels (N, inputs)). The network must fit the hardware: ``--config NAME`` (with ``--set``)
names it, else the smallest accelerator that holds the network is assumed. docs/nir.md has the
conventions of each tool and worked examples.

``export`` writes a model file as a NIR graph that snnTorch's ``import_from_nir`` loads and
runs: by default in snnTorch's convention (``dt = 1e-4``, images in ``[0, 1]``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

from core import modelfile
from core.config import Config, ConfigError, FitError, add_config_arguments, resolve
from core.modelfile import ModelFileError
from core.network import READOUTS, NetworkError
from sw import data
from sw.nirfloat import RESETS, agreement, quantize, read_float
from sw.nirio import NirError, export_notes, from_nir, is_exported, read_nir, save_nir
from sw.options import (ArgumentParser, add_json, atomic_write, cli_main, fail, input_file,
                        int_range, output_file, positive_float, positive_int, set_advice)

__all__ = ["main"]

PROG = "python -m sw.nir"


def _percent(text) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"{text} is not a percentage (0 .. 100)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="{import,export}",
                           parser_class=ArgumentParser)
    i = sub.add_parser("import", help="a float NIR graph as a quantized .snn model")
    i.add_argument("graph", type=input_file, metavar="GRAPH.nir",
                   help="the NIR file (snnTorch's export_to_nir, Norse's to_nir, "
                        "SpikingJelly's export_to_nir, or sw.nir export)")
    i.add_argument("--output", type=output_file, required=True, metavar="MODEL.snn",
                   help="the model file to write (only when the agreement is enough)")
    i.add_argument("--weight-bits", type=int_range(2, 8, "weight bits"), default=8, metavar="B",
                   help="bits per weight (default 8)")
    i.add_argument("--membrane-bits", type=int_range(8, 32, "membrane bits"), metavar="M",
                   help="membrane width (default: the narrowest that holds the calibration "
                        "images' potentials, with a margin of 2)")
    i.add_argument("--timesteps", type=int_range(1, 255, "timesteps"), metavar="T",
                   help="steps per inference (needed unless the graph says it)")
    i.add_argument("--dt", type=positive_float, metavar="SECONDS",
                   help="the graph's time step (default: from the graph; snnTorch's r = tau/dt "
                        "implies it; Norse graphs need --dt 1e-3)")
    i.add_argument("--reset", choices=RESETS, default="zero",
                   help="what the tool's neurons did after a spike, which NIR does not record: "
                        "zero (NIR's v_reset = 0; snnTorch reset_mechanism='zero', Norse, "
                        "SpikingJelly's hard reset; the default), subtract (SpikingJelly's soft "
                        "reset, v_reset=None: exact) or snntorch-subtract (snnTorch's "
                        "reset_mechanism='subtract': approximated)")
    i.add_argument("--readout", choices=READOUTS, default="spike_count",
                   help="how the class is chosen, in the float simulation and on the "
                        "accelerator (default spike_count)")
    i.add_argument("--calibrate", type=input_file, metavar="FILE.npy",
                   help="calibration images: uint8 pixels (N, inputs) saved with numpy.save")
    i.add_argument("--data", type=data.labelled_data, metavar="SOURCE",
                   help="labelled images: mnist, digits or a folder of the MNIST IDX files "
                        "(calibration on training images, the report on test images)")
    i.add_argument("--samples", type=positive_int, default=1000, metavar="N",
                   help="images calibrated on and compared (default 1000)")
    i.add_argument("--min-agreement", type=_percent, default=95.0, metavar="PCT",
                   help="fail (status 1, nothing written) when fewer images are classified "
                        "alike (default 95)")
    i.add_argument("--name", default=None, help="the model's name (default: the file's stem)")
    add_json(i)
    add_config_arguments(i, default=None, default_help="the smallest accelerator that holds "
                                                       "the network")
    e = sub.add_parser("export", help="an .snn model as a NIR graph (snnTorch can load it)")
    e.add_argument("model", type=input_file, metavar="MODEL.snn", help="the model file")
    e.add_argument("--output", type=output_file, required=True, metavar="GRAPH.nir",
                   help="the NIR file to write")
    e.add_argument("--for", dest="tool", choices=("snntorch", "norse"), default="snntorch",
                   help="whose importer the graph is for: snntorch (r = tau/dt, dt = 1e-4; the "
                        "default) or norse (r = 1 with the input gain dt/tau divided out of "
                        "the weights, dt = 1e-3); both read correctly with a forward-Euler "
                        "step of dt")
    e.add_argument("--dt", type=positive_float, metavar="SECONDS",
                   help="the time step written into tau (default: 1e-4 for snntorch, 1e-3 for "
                        "norse, their importers' dt)")
    e.add_argument("--input", choices=("unit", "pixels"), default="unit",
                   help="what the graph's input is: images in [0, 1] (unit, default) or "
                        "pixels 0 .. 255")
    return p


def _npy(path: Path, n_inputs: int) -> np.ndarray:
    try:
        pixels = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise NirError(f"{path} is not an .npy file (numpy.save's format); save a uint8 array "
                       f"(N, {n_inputs}) with numpy.save") from None
    if not isinstance(pixels, np.ndarray):
        pixels.close()
        raise NirError(f"{path} is an .npz archive; give one array saved with numpy.save")
    if pixels.ndim == 3:
        pixels = pixels.reshape(len(pixels), -1)
    if pixels.ndim != 2 or pixels.shape[1] != n_inputs or not len(pixels):
        raise NirError(f"{path} holds an array of shape {pixels.shape}; the graph needs "
                       f"(N, {n_inputs}) pixels")
    if pixels.dtype.kind not in "iu" or pixels.min() < 0 or pixels.max() > 255:
        raise NirError(f"{path} holds {pixels.dtype} values; uint8 pixels 0 .. 255 are expected "
                       f"(convert images in [0, 1] with sw.data.to_pixels)")
    return pixels.astype(np.uint8)


def _images(args, n_inputs: int):
    """``(calibration pixels or None, report pixels or None, report labels or None)``."""
    calibration = report = labels = None
    if args.data is not None:
        name, folder = args.data
        splits = data.load_digits() if name == "digits" else data.load_mnist(folder)
        if splits["test"].pixels.shape[1] != n_inputs:
            raise NirError(f"--data {name} has {splits['test'].pixels.shape[1]} pixels per "
                           f"image; the graph takes {n_inputs} inputs")
        side = splits["valid"] if "valid" in splits else splits["train"]
        calibration = side.pixels[:args.samples]
        report, labels = (a[:args.samples] for a in splits["test"])
    if args.calibrate is not None:
        calibration = _npy(args.calibrate, n_inputs)[:args.samples]
        if report is None:
            report = calibration
    return calibration, report, labels


def _check_fits(network, args):
    if args.config is None and not args.overrides:
        try:
            Config.for_network(network)
        except ConfigError as error:
            raise FitError(f"no accelerator holds this network: {error}; shrink the "
                           f"network") from None
        return
    config = resolve(args.config, args.overrides)
    try:
        config.check_fits(network)
    except FitError as error:
        raise FitError(f"the network does not fit configuration {args.config or 'mnist'!r}: "
                       f"{set_advice(str(error))}") from None


def _import(args) -> int:
    graph = read_nir(args.graph)
    network, caught = None, []
    if is_exported(graph):  # the accelerator's own export: read exactly, nothing to choose
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            network = from_nir(graph, dt=args.dt)
    fnet = read_float(graph, dt=args.dt, reset=args.reset)
    timesteps = args.timesteps or fnet.timesteps
    if timesteps is None:
        raise NirError(f"{args.graph} does not say how many steps an inference takes (NIR "
                       f"graphs have no T): give --timesteps T, the T the network was trained "
                       f"with")
    calibration, report, labels = _images(args, fnet.n_inputs)
    name = args.name if args.name is not None else args.output.stem
    if network is not None:
        network.name, network.timesteps = name, timesteps
        notes = ["the graph was written by sw.nir export: read exactly"]
        notes += [str(w.message) for w in caught]
    else:
        result = quantize(fnet, timesteps=timesteps, weight_bits=args.weight_bits,
                          membrane_bits=args.membrane_bits, readout=args.readout,
                          calibration=calibration, name=name)
        network = result.network
        notes = fnet.notes + result.notes
        if calibration is not None:
            top = 2 ** (args.weight_bits - 1) - 1
            notes.append("weight scales: " + ", ".join(
                f"layer {k}: {c:g} of the largest weight maps to {top}"
                for k, c in enumerate(result.clip)))
        else:
            notes.append("no calibration images (--data or --calibrate): each layer's largest "
                         "weight maps to the largest integer weight")
    _check_fits(network, args)
    for note in notes:
        print(f"nir: {note}")
    summary = {"graph": str(args.graph), "model": str(args.output),
               "sizes": network.sizes, "timesteps": timesteps,
               "weight_bits": [layer.weight_bits for layer in network.layers],
               "membrane_bits": network.membrane_bits,
               "thresholds": [layer.threshold for layer in network.layers]}
    passed = True
    if report is not None:
        result = agreement(fnet, network, report, labels)
        summary.update({k: v for k, v in result.items() if not k.endswith("prediction")})
        if labels is not None:
            print(f"float (the NIR graph): {result['float_accuracy']:.2f} % on "
                  f"{result['samples']} test images")
            print(f"integer ({args.output.name}): {result['integer_accuracy']:.2f} %")
        alike = int(np.sum(result["float_prediction"] == result["integer_prediction"]))
        print(f"agreement: {result['agreement']:.2f} % ({alike} of {result['samples']} images "
              f"classified alike)")
        passed = result["agreement"] >= args.min_agreement
    if args.json:
        with atomic_write(args.json) as file:
            json.dump(summary, file, indent=1)
    if not passed:
        return fail(PROG, f"the integer model agrees with the float graph on "
                          f"{summary['agreement']:.2f} % of the images, below --min-agreement "
                          f"{args.min_agreement:g}; nothing written: try --weight-bits 8, a "
                          f"wider --membrane-bits or more calibration images", 1)
    modelfile.save(network, args.output)
    print(f"wrote {args.output}")
    return 0


def _export(args) -> int:
    network = modelfile.load(args.model)
    path = Path(args.output)
    dt = args.dt or {"snntorch": 1e-4, "norse": 1e-3}[args.tool]
    snntorch = args.tool == "snntorch"
    save_nir(network, path, dt=dt, input_scale=255.0 if args.input == "unit" else 1.0,
             r_one=not snntorch, if_as_lif=snntorch)
    for note in export_notes(network, if_as_lif=snntorch):
        print(f"nir: {note}")
    inputs = "images in [0, 1]" if args.input == "unit" else "pixels 0 .. 255"
    print(f"wrote {path} (for {args.tool}: dt = {dt:g}, inputs: {inputs})")
    return 0


@cli_main(PROG)
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _import(args) if args.command == "import" else _export(args)
    except (NirError, ModelFileError, NetworkError, FitError, ConfigError,
            data.DataError) as error:
        return fail(PROG, str(error), 1)
    except OSError as error:
        return fail(PROG, f"{error.filename or ''}: {error.strerror or error}".lstrip(": "), 1)


if __name__ == "__main__":
    sys.exit(main())
