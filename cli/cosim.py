"""Co-simulate the accelerator against the golden model from the command line.

::

    python -m sw.cosim --model models/mnist.snn --samples 100 --sim verilator
    python -m sw.cosim --model models/mnist.snn --data images.npy
    python -m sw.cosim --random 50 --seed 7 --sim icarus
    python -m sw.cosim --model models/mnist_t4.snn --samples 300 --workers 2

The accelerator is built (once per configuration, cached under ``build/``) for Verilator or
Icarus; each run works in a temporary folder of its own, so that runs side by side never mix
their files. The host driver ``sw.device.Device`` loads each network through the memory map
and runs every image; every spike and membrane value of every layer and timestep, the read-out
results and the class are compared with ``core.golden.run``. It prints exactly one summary line::

    cosim: <inferences> inferences, <mismatches> mismatches, <cycles> cycles/inference median

and exits with status 1 when any inference differs, after printing the first differing layer,
timestep and neuron to stderr (status 2: the run itself failed, e.g. a missing simulator).

Images: ``--data SOURCE`` is ``mnist`` (the test set, 784 inputs), ``digits`` (the 8x8 digits,
64 inputs), ``random``, a folder of the MNIST IDX files, or an ``.npy`` file of uint8 pixels
(N, n_in) (``--images FILE`` is the old spelling); by default MNIST for a 784-input model, the
digits for a 64-input one, else random pixels. ``--samples N`` takes the first N images (10 by
default; all of them with an ``.npy`` file). ``--random N`` draws N random networks over every
option of ``docs/numerics.md`` that fit the configuration (default ``tiny``; ``--config NAME``
and ``--set FIELD=VALUE`` choose another), reproducible from ``--seed``. ``--waves FILE``
records a waveform of the run (FST with Icarus, VCD with Verilator).

Scale-out: ``--workers N`` (N >= 2) cuts the images into N contiguous shards and runs them on N
Ray workers (:mod:`sim.shard`), a local Ray by default or the cluster at ``--address``; each
worker builds or reuses the simulator once, a worker that dies has its shard run again, and the
summary line is the one-process run's.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

from core import modelfile
from core.config import (Config, ConfigError, FitError, add_config_arguments, parse_overrides,
                         resolve, shipped_for)
from core.modelfile import ModelFileError
from core.randnet import random_pixels
from sim.cosim import CosimError, rate_text, run_cosim, summary_line
from sim.designs import random_fitting_network
from sim.shard import run_sharded
from sw import data
from sw.options import (ArgumentParser, cli_main, fail, input_file, int_range, nonnegative_int,
                        output_file, positive_int, set_advice)

__all__ = ["main"]

PROG = "python -m sw.cosim"
SETS = ("mnist", "digits", "random")
#: Random images are drawn in memory, all at once: at most this many per network.
MAX_RANDOM_IMAGES = 100_000


def _config(name: str | None, lanes: int | None, network=None, inputs_per_cycle: int = 1,
            overrides=()):
    config = resolve(name, overrides, default="mnist" if network is not None else "tiny")
    if lanes is not None:
        config = config.replace(lanes=lanes, neuron_units=min(config.neuron_units, lanes))
    config = config.replace(trace=True, inputs_per_cycle=inputs_per_cycle)
    if network is not None and not config.fits(network):
        if name is not None:
            try:
                config.check_fits(network)
            except FitError as error:  # the advice in this tool's options
                raise FitError(f"the model does not fit configuration {name!r}: "
                               f"{set_advice(str(error))}; or leave --config out to size the "
                               f"accelerator for the model") from None
        changes = {**parse_overrides(overrides), "trace": True,
                   "inputs_per_cycle": inputs_per_cycle,
                   **({"lanes": lanes} if lanes is not None else {})}
        shipped = shipped_for(network, **changes)
        config = (Config.named(shipped, **changes) if shipped is not None
                  else Config.for_network(network, **changes))
    return config


def _source(text: str):
    """``--data``: a set name, or an existing file or folder."""
    if text in SETS or Path(text).exists():
        return text if text in SETS else Path(text)
    raise argparse.ArgumentTypeError(f"{text} is neither {', '.join(SETS)} nor an existing "
                                     f"file or folder")


def _load_npy(path: Path) -> np.ndarray:
    try:
        pixels = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        raise CosimError(f"{path} is not an .npy file of pixels (numpy.save's format); save "
                         f"a uint8 array (N, inputs) with numpy.save") from None
    if not isinstance(pixels, np.ndarray):  # an .npz archive
        pixels.close()
        raise CosimError(f"{path} is an .npz archive; give one array saved with numpy.save")
    return pixels


def _check_pixels(pixels: np.ndarray, path: Path, n: int) -> np.ndarray:
    """``pixels`` of an .npy file as uint8 (N, n), or a :class:`CosimError` naming the fix.
    Floats are refused, not cast: images in [0, 1] would become all-zero pixels."""
    if pixels.ndim == 3:
        pixels = pixels.reshape(len(pixels), -1)
    if pixels.ndim != 2 or pixels.shape[1] != n:
        raise CosimError(f"{path} holds an array of shape {pixels.shape}; the model needs "
                         f"(N, {n}) pixels")
    if len(pixels) == 0:
        raise CosimError(f"{path} holds no images")
    if pixels.dtype.kind not in "iu":
        raise CosimError(f"{path} holds {pixels.dtype} values; uint8 pixels 0 .. 255 are "
                         f"expected: convert float images in [0, 1] with sw.data.to_pixels "
                         f"(round(x * 255)) and save them with numpy.save")
    low, high = int(pixels.min()), int(pixels.max())
    if low < 0 or high > 255:
        raise CosimError(f"{path} holds values {low} .. {high}; uint8 pixels 0 .. 255 are "
                         f"expected")
    return pixels.astype(np.uint8)


def _random(rng, count: int, n: int) -> np.ndarray:
    if count > MAX_RANDOM_IMAGES:
        raise CosimError(f"--samples {count} random images would be drawn in memory at once; "
                         f"give at most {MAX_RANDOM_IMAGES:,}")
    return random_pixels(rng, count, n)


def _images(network, samples: int | None, source, rng) -> np.ndarray:
    """The images of ``--data`` (``source``: a set name, a path or None) for ``network``,
    ``samples`` of them (default 10; all of an .npy file)."""
    n = network.n_inputs
    if source is None:
        source = {784: "mnist", 64: "digits"}.get(n, "random")
        implicit = True
    else:
        implicit = False
    if source == "random":
        return _random(rng, samples or 10, n)
    if isinstance(source, Path) and source.is_file():
        pixels = _check_pixels(_load_npy(source), source, n)
    else:
        wanted = {"mnist": 784, "digits": 64}.get(source, 784)  # a folder holds MNIST
        if wanted != n:
            raise CosimError(f"--data {source} has {wanted} pixels per image; the model takes "
                             f"{n} inputs")
        try:
            split = (data.load_digits() if source == "digits" else
                     data.load_mnist(None if source == "mnist" else source))["test"]
        except (data.DataError, OSError) as error:
            if not implicit:
                raise CosimError(str(error)) from None
            print(f"cosim: no MNIST test set ({error}); using random pixels (--data random)",
                  file=sys.stderr)
            return _random(rng, samples or 10, n)
        pixels = np.asarray(split[0], np.uint8)
        samples = samples or 10
    if samples and samples > len(pixels):
        print(f"cosim: {samples:,} images requested, the data has {len(pixels):,}: running "
              f"{len(pixels):,}", file=sys.stderr)
    return pixels[:samples] if samples else pixels


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", metavar="FILE", type=input_file,
                      help=".snn model file to co-simulate")
    what.add_argument("--random", metavar="N", type=int_range(1, 10_000, "random networks"),
                      help="co-simulate N random networks over every option")
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--samples", type=positive_int, metavar="N",
                   help="images per network (default: 10 for --model, all of an .npy file; 3 "
                        "for --random)")
    p.add_argument("--data", "--images", metavar="SOURCE", type=_source,
                   help="images for --model: mnist, digits, random, a folder of MNIST IDX "
                        "files, or an .npy file of uint8 pixels (N, inputs) (default: mnist "
                        "or digits by the model's inputs, else random)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random networks and pixels")
    add_config_arguments(p, default=None,
                         default_help="mnist for --model, tiny for --random; a model that does "
                                      "not fit gets mnist-cnn if it fits that, else a "
                                      "configuration made for it")
    p.add_argument("--lanes", type=positive_int, metavar="P",
                   help="override the lanes P of the config")
    p.add_argument("--inputs-per-cycle", type=int, choices=(1, 2), default=1, metavar="K",
                   help="inputs applied per integration cycle (1 or 2; default 1)")
    p.add_argument("--waves", metavar="FILE", type=output_file,
                   help="write a waveform of the run to FILE")
    p.add_argument("--fast", action="store_true",
                   help="queue each inference's memory-map accesses as one simulator run "
                        "instead of driving it with the blocking host driver (same checks, "
                        "fewer Python wake-ups)")
    p.add_argument("--overlap", action="store_true",
                   help="with --set stream=true: write each image while the one before "
                        "computes, compare the results (not the trace) and print the "
                        "accelerator's utilisation")
    p.add_argument("--workers", type=int_range(1, 4096, "workers"), default=1, metavar="N",
                   help="shard the images over N Ray workers (default 1: this process, "
                        "without Ray)")
    p.add_argument("--address", metavar="RAY_ADDRESS",
                   help="with --workers: the Ray cluster to run on (HOST:6379, ray://HOST:10001 "
                        "or auto; default: a local Ray with N CPUs)")
    p.add_argument("-v", "--verbose", action="store_true", help="print timing details")
    return p


def _say(message: str) -> None:
    print(f"cosim: {message}", file=sys.stderr, flush=True)


@cli_main(PROG)
def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.workers > 1 and args.waves:
        parser.error("--waves records one simulator run; leave out --workers")
    if args.address is not None and args.workers == 1:
        parser.error("--address goes with --workers N (N >= 2)")
    if args.overlap and (args.workers > 1 or args.fast):
        parser.error("--overlap runs in one process and is fast already; leave out --workers "
                     "and --fast")
    rng = np.random.default_rng(args.seed)
    try:
        if args.model:
            try:
                network = modelfile.load(args.model)
            except ModelFileError as error:
                message = str(error)
                raise CosimError(message if str(args.model) in message else
                                 f"cannot read model file {args.model}: {message}") from None
            config = _config(args.config, args.lanes, network, args.inputs_per_cycle,
                             args.overrides)
            if args.overlap and not config.stream:
                raise CosimError("--overlap needs the input queue: add --set stream=true")
            networks = [network]
            images = [_images(network, args.samples, args.data, rng)]
        else:
            if args.data is not None:
                raise CosimError("--data goes with --model; --random draws its own pixels")
            config = _config(args.config, args.lanes, inputs_per_cycle=args.inputs_per_cycle,
                             overrides=args.overrides)
            networks, images = [], []
            for _ in range(args.random):
                network = random_fitting_network(rng, config)
                networks.append(network)
                images.append(_random(rng, args.samples or 3, network.n_inputs))
        if args.workers > 1:
            result = run_sharded(networks, images, config, workers=args.workers,
                                 address=args.address, sim=args.sim, fast=args.fast, say=_say)
        else:
            if args.overlap and not config.stream:
                raise CosimError("--overlap needs the input queue: add --set stream=true")
            result = run_cosim(networks, images, config, sim=args.sim, waves=args.waves,
                               fast=args.fast, overlap=args.overlap, say=_say)
    except (CosimError, FitError, ConfigError, ModelFileError, OSError, ValueError) as error:
        return fail(PROG, str(error))
    if result["first"] is not None:
        first = result["first"]
        print(f"cosim: first difference in network {first['network']}, image "
              f"{first['image']}" + (f" (seed {args.seed})" if args.random else "") + ":",
              file=sys.stderr)
        for line in first["differences"]:
            print(f"  {line}", file=sys.stderr)
    if args.verbose:
        workers = f", {result['workers']} workers" if "workers" in result else ""
        print(f"cosim: {args.sim}, P={config.lanes}{workers}, "
              f"{rate_text(result['inferences'], result['seconds'])} in simulation, "
              f"load {result['load_seconds']:.2f} s, total {result['wall_seconds']:.1f} s",
              file=sys.stderr)
    if args.waves:
        print(f"cosim: waveform written to {args.waves}", file=sys.stderr)
    if "utilisation" in result:
        print(f"cosim: overlapped: the accelerator was busy {100 * result['utilisation']:.1f} % "
              f"of {result['total_cycles']:,} cycles ({result['busy_cycles']:,} computing)")
    print(summary_line(result))
    return 1 if result["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
