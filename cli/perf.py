"""Cycles per image and memories of a network on a hardware configuration, without training
or synthesis.

::

    python -m sw.perf --recipe configs/cifar10_vgg.toml --config cifar10-vgg
    python -m sw.perf --recipe configs/cifar10_vgg.toml --config cifar10-vgg --data cifar10:DIR
    python -m sw.perf --model models/mnist_cnn.snn --config mnist-cnn --data mnist

The network is a model file (``--model``) or, before anyone has trained it, an untrained
stand-in with a training recipe's shapes (``--recipe``, :func:`sw.recipenet.recipe_network`:
random weights, thresholds set so that as many neurons spike as in the shipped MNIST CNN; the
output says so, and gives no accuracy). It prints:

* whether the network fits the configuration (``--config NAME --set FIELD=VALUE``; by default
  the smallest that holds it, ``Config.for_network``), and if not the memory or field that
  overflows (``Config.check_fits``);
* cycles per image on ``--samples`` images, median and max, from :func:`core.perf.cycle_counts`
  (the exact cycle model, equal to the gateware's ``CYCLES``), and their ratio to the event
  bound (:func:`core.perf.event_bounds`);
* every memory of the accelerator with its depth, width and estimated BRAM36
  (:mod:`hw.memories`), their total against the block RAMs of ``--device`` (an Artix-7 part,
  default the 100T's 135).

The images are ``--data`` (``mnist``, ``digits``, ``cifar10:FOLDER``, a folder of MNIST IDX
files) or, by default, uniform random images of the network's input size, said so.

Exit status: 0 the network fits the configuration and the memories the device; 1 one does not
(the report is printed all the same); 2 a bad argument or file.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from boards.reports import XC7_DEVICES
from core import golden, modelfile, perf
from core.config import (Config, ConfigError, FitError, add_config_arguments, map_orders,
                         parse_overrides, resolve)
from core.modelfile import ModelFileError
from hw.memories import memories
from sw.data import DataError, labelled_data, load_dataset
from sw.options import (ArgumentParser, add_json, add_samples, atomic_write, cli_main, fail,
                        input_file, set_advice)
from sw.recipenet import HIDDEN_FRACTION, OUTPUT_FRACTION, recipe_network
from sw.snnrecipe import load_config

__all__ = ["report", "main"]

PROG = "python -m sw.perf"


def _images(data, n_inputs: int, samples: int, seed: int = 0):
    """(pixels, description): the first ``samples`` test images of ``data`` ((set, folder) of
    :func:`sw.data.labelled_data`), or uniform random ones when ``data`` is None."""
    if data is None:
        rng = np.random.default_rng(seed)
        return (rng.integers(0, 256, (samples, n_inputs)).astype(np.uint8),
                f"{samples} uniform random images of {n_inputs} pixels (no --data)")
    name, folder = data
    pixels = np.asarray(load_dataset(name, folder)["test"].pixels[:samples], np.uint8)
    if pixels.shape[1] != n_inputs:
        raise DataError(f"--data {name} has {pixels.shape[1]} pixels per image; the network "
                        f"takes {n_inputs}")
    return pixels, f"the first {len(pixels)} {name} test images"


def report(network, config: Config, pixels, device: str = "xc7a100t") -> dict:
    """The figures of the module's docstring as a dict: ``fits`` (and ``fit_error``),
    ``cycles`` (when it fits), ``memories`` (a dict per memory), ``bram36``,
    ``device_bram36``, ``needs`` (the words the network needs of each sized memory)."""
    out = {"config": repr(config), "fits": True, "device": device,
           "memories": [m.as_dict() for m in memories(config)]}
    out["bram36"] = sum(m["bram36"] for m in out["memories"])
    out["device_bram36"] = XC7_DEVICES[device]["BRAM"]
    try:
        config.check_fits(network)
    except FitError as error:
        out.update(fits=False, fit_error=set_advice(str(error)))
    orders = map_orders(network, config.neuron_units)
    convs = [layer.conv for layer in network.layers if layer.conv is not None]
    out["needs"] = {
        "weight_words": sum(config.weight_rows(network)),
        "max_neurons": max(outputs.size for _, outputs in orders),
        "max_inputs": orders[0][0].size,
        "membrane_words": sum(config.membrane_sizes(network)),
        # the current memory's words for whole maps: a map's rows times its width padded to a
        # power of two; in bands of rows (Config.conv_bands), one padded row at least
        "conv_positions": max((c.out_height << max(0, (c.out_width - 1).bit_length())
                               for c in convs), default=None),
        "conv_row_positions": max((1 << max(0, (c.out_width - 1).bit_length())
                                   for c in convs), default=None)}
    if out["fits"]:
        trace = golden.run(network, pixels)
        cycles = perf.cycle_counts(network, config, pixels)
        bound = perf.event_bounds(network, pixels, config.lanes, config.conv_lanes, trace)
        out["cycles"] = {"images": int(len(pixels)), "median": float(np.median(cycles)),
                         "max": int(cycles.max()), "event_bound_median": float(np.median(bound)),
                         "bound_ratio_median": float(np.median(cycles / np.maximum(bound, 1))),
                         "spiking_fraction": [round(float(s.any(axis=1).mean()), 3)
                                              for s in trace.spikes]}
    return out


def _print(out: dict, config_name: str) -> None:
    fit = "fits" if out["fits"] else f"does not fit: {out['fit_error']}"
    print(f"perf: configuration {config_name}: the network {fit}")
    c = out.get("cycles")
    if c:
        print(f"perf: cycles per image (core.perf, {c['images']} images): median "
              f"{c['median']:,.0f}, max {c['max']:,}; {c['bound_ratio_median']:.2f} x the event "
              f"bound (median {c['event_bound_median']:,.0f}); spiking fraction per layer "
              f"{c['spiking_fraction']}")
    print("perf: memories (depth x width; BRAM36 estimated by hw.memories):")
    print(f"  {'memory':<20} {'words':>7} {'bits':>6} {'columns':>7} {'BRAM36':>7}")
    for m in out["memories"]:
        kind = "LUT RAM" if m["lutram"] else f"{m['bram36']:7.1f}"
        print(f"  {m['name']:<20} {m['depth']:>7} {m['width']:>6} {m['columns']:>7} {kind:>7}")
    over = out["bram36"] > out["device_bram36"]
    print(f"perf: {out['bram36']:g} BRAM36 of the {out['device']}'s {out['device_bram36']}"
          + (": over capacity" if over else ""))
    n = out["needs"]
    print(f"perf: the network needs {n['weight_words']} weight words, {n['max_neurons']} "
          f"neurons in its largest layer, {n['max_inputs']} inputs"
          + (f", {n['membrane_words']} membrane words, {n['conv_positions']} conv positions "
             f"for whole maps ({n['conv_row_positions']} in bands of rows)"
             if n["conv_positions"] else ""))


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--recipe", type=input_file, metavar="FILE",
                        help="a training recipe (configs/*.toml): an untrained stand-in with "
                             "its shapes")
    source.add_argument("--model", type=input_file, metavar="FILE", help="a model file (.snn)")
    parser.add_argument("--data", type=labelled_data, metavar="SOURCE",
                        help="images: mnist, digits, cifar10:FOLDER or a folder of MNIST IDX "
                             "files (default: uniform random images)")
    add_samples(parser, default=16, help="images to calibrate the stand-in on and to count")
    parser.add_argument("--device", choices=sorted(XC7_DEVICES), default="xc7a100t",
                        help="Artix-7 part whose block RAMs the memories are held against "
                             "(default xc7a100t)")
    add_json(parser)
    add_config_arguments(parser, default=None,
                         default_help="the smallest that holds the network")
    args = parser.parse_args(argv)
    try:
        if args.model:
            network = modelfile.load(args.model)
            pixels, images = _images(args.data, network.n_inputs, args.samples)
            what = f"{args.model} ({network.name or 'model file'})"
        else:
            recipe = load_config(args.recipe)
            shape = recipe["network"]["input_shape"]
            n_inputs = int(np.prod(shape)) if shape else 784
            pixels, images = _images(args.data, n_inputs, args.samples)
            network = recipe_network(recipe, pixels)
            what = (f"an untrained stand-in of {args.recipe}: random "
                    f"{network.layers[0].weight_bits}-bit weights, thresholds set so that "
                    f"{HIDDEN_FRACTION:.0%} of each hidden layer's neurons and "
                    f"{OUTPUT_FRACTION:.0%} of the outputs spike on the images, as in the "
                    f"shipped MNIST CNN; its cycles are those of a network of this size, not of "
                    f"a trained one, and it has no accuracy")
        config = (resolve(args.config, args.overrides) if args.config else
                  Config.for_network(network, **parse_overrides(args.overrides)))
    except (OSError, ModelFileError, DataError, ConfigError, ValueError) as error:
        return fail(PROG, " ".join(str(error).split()))
    print(f"perf: {what}")
    print(f"perf: {network.sizes}, T={network.timesteps}, {network.encoder}; images: {images}")
    out = report(network, config, pixels, args.device)
    out.update(network=what, sizes=network.sizes, images=images)
    _print(out, args.config or "the smallest that holds it")
    if args.json:
        with atomic_write(args.json) as file:
            file.write(json.dumps(out, indent=1))
    return 0 if out["fits"] and out["bram36"] <= out["device_bram36"] else 1


if __name__ == "__main__":
    sys.exit(main())
