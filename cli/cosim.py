"""Co-simulate the accelerator against the golden model from the command line.

::

    python -m sw.cosim --model models/mnist.snn --samples 100 --sim verilator
    python -m sw.cosim --random 50 --seed 7 --sim icarus

The accelerator is built (once per configuration, cached under ``build/``) for Verilator or
Icarus; each run works in a temporary folder of its own, so that runs side by side never mix
their files. The host driver ``sw.device.Device`` loads each network through the memory map
and runs every image; every spike and membrane value of every layer and timestep, the read-out
results and the class are compared with ``core.golden.run``. It prints exactly one summary line::

    cosim: <inferences> inferences, <mismatches> mismatches, <cycles> cycles/inference median

and exits with status 1 when any inference differs, after printing the first differing layer,
timestep and neuron to stderr (status 2: the run itself failed, e.g. a missing simulator).

Images: ``--samples N`` takes the first N MNIST test images (``sw.data``) for a 784-input model,
or the 8x8 digits for a 64-input one; ``--images FILE.npy`` any uint8 array (N, n_in); otherwise
random pixels. ``--random N`` draws N random networks over every option of
``docs/numerics.md`` that fit the configuration (default ``tiny``; ``--config NAME`` and
``--set FIELD=VALUE`` choose another), reproducible from
``--seed``. ``--waves FILE`` records a waveform of the run (FST with Icarus, VCD with
Verilator).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from core import modelfile
from core.config import (Config, ConfigError, FitError, add_config_arguments, parse_overrides,
                         resolve)
from core.modelfile import ModelFileError
from core.randnet import random_pixels
from sim.cosim import CosimError, run_cosim, summary_line
from sim.designs import random_fitting_network
from sw import data

__all__ = ["main"]


def _config(name: str | None, lanes: int | None, network=None, inputs_per_cycle: int = 1,
            overrides=()):
    config = resolve(name, overrides, default="mnist" if network is not None else "tiny")
    if lanes is not None:
        config = config.replace(lanes=lanes, neuron_units=min(config.neuron_units, lanes))
    config = config.replace(trace=True, inputs_per_cycle=inputs_per_cycle)
    if network is not None and not config.fits(network):
        if name is not None:
            config.check_fits(network)  # raises FitError naming what is too big
        config = Config.for_network(network, **{
            **parse_overrides(overrides), "trace": True, "inputs_per_cycle": inputs_per_cycle,
            **({"lanes": lanes} if lanes is not None else {})})
    return config


def _images(network, samples: int | None, images: str | None, rng) -> np.ndarray:
    n = network.n_inputs
    if images is not None:
        pixels = np.load(images)
        if pixels.ndim == 3:
            pixels = pixels.reshape(len(pixels), -1)
        if pixels.ndim != 2 or pixels.shape[1] != n:
            raise CosimError(f"{images} holds an array of shape {pixels.shape}; the model needs "
                             f"(N, {n}) pixels")
        if pixels.dtype != np.uint8:
            if pixels.min() < 0 or pixels.max() > 255:
                raise CosimError(f"{images} holds values outside 0 .. 255; convert float images "
                                 f"with sw.data.to_pixels")
            pixels = pixels.astype(np.uint8)
        return pixels[:samples] if samples else pixels
    count = samples or 10
    try:
        if n == 784:
            split = data.load_mnist()["test"]
        elif n == 64:
            split = data.load_digits()["test"]
        else:
            split = None
        if split is not None:
            return np.asarray(split[0][:count], np.uint8)
    except Exception as error:  # no data set here: say so, and use random pixels
        print(f"cosim: no MNIST test set ({error}); using random pixels", file=sys.stderr)
    return random_pixels(rng, count, n)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sw.cosim", description=__doc__.split("\n\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", metavar="FILE", help=".snn model file to co-simulate")
    what.add_argument("--random", metavar="N", type=int,
                      help="co-simulate N random networks over every option")
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--samples", type=int, metavar="N",
                   help="images per network (default: 10 for --model, 3 for --random)")
    p.add_argument("--images", metavar="NPY", help="uint8 image array (N, n_in) for --model")
    p.add_argument("--seed", type=int, default=0, help="seed of the random networks and pixels")
    add_config_arguments(p, default=None,
                         default_help="mnist for --model, tiny for --random; a model that does "
                                      "not fit gets a configuration made for it")
    p.add_argument("--lanes", type=int, metavar="P", help="override the lanes P of the config")
    p.add_argument("--inputs-per-cycle", type=int, choices=(1, 2), default=1, metavar="K",
                   help="inputs applied per integration cycle (1 or 2; default 1)")
    p.add_argument("--waves", metavar="FILE", help="write a waveform of the run to FILE")
    p.add_argument("--fast", action="store_true",
                   help="queue each inference's memory-map accesses as one simulator run "
                        "instead of driving it with the blocking host driver (same checks, "
                        "fewer Python wake-ups)")
    p.add_argument("-v", "--verbose", action="store_true", help="print timing details")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    rng = np.random.default_rng(args.seed)
    try:
        if args.samples is not None and args.samples < 1:
            raise CosimError(f"--samples is {args.samples}; it must be at least 1")
        if args.model:
            network = modelfile.load(args.model)
            config = _config(args.config, args.lanes, network, args.inputs_per_cycle,
                             args.overrides)
            networks = [network]
            images = [_images(network, args.samples, args.images, rng)]
        else:
            if args.random < 1:
                raise CosimError(f"--random is {args.random}; it must be at least 1")
            if args.images:
                raise CosimError("--images goes with --model; --random draws its own pixels")
            config = _config(args.config, args.lanes, inputs_per_cycle=args.inputs_per_cycle,
                             overrides=args.overrides)
            networks, images = [], []
            for _ in range(args.random):
                network = random_fitting_network(rng, config)
                networks.append(network)
                images.append(random_pixels(rng, args.samples or 3, network.n_inputs))
        result = run_cosim(networks, images, config, sim=args.sim, waves=args.waves,
                           fast=args.fast)
    except Exception as error:  # noqa: BLE001 - one clear line instead of a traceback
        if not isinstance(error, (CosimError, FitError, ConfigError, ModelFileError,
                                  FileNotFoundError, ValueError)):
            raise
        print(f"cosim: error: {error}", file=sys.stderr)
        return 2
    if result["first"] is not None:
        first = result["first"]
        print(f"cosim: first difference in network {first['network']}, image "
              f"{first['image']}" + (f" (seed {args.seed})" if args.random else "") + ":",
              file=sys.stderr)
        for line in first["differences"]:
            print(f"  {line}", file=sys.stderr)
    if args.verbose:
        rate = result["inferences"] / result["seconds"] if result["seconds"] else 0.0
        print(f"cosim: {args.sim}, P={config.lanes}, {rate:.1f} inferences/s in simulation, "
              f"load {result['load_seconds']:.2f} s, total {result['wall_seconds']:.1f} s",
              file=sys.stderr)
    if args.waves:
        print(f"cosim: waveform written to {args.waves}", file=sys.stderr)
    print(summary_line(result))
    return 1 if result["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
