"""Generate digits with a spiking generator on the accelerator, checked against the golden
model.

::

    python -m sw.generate --model models/mnist_gan.snn --samples 64 --output grid.png
    python -m sw.generate --model models/mnist_gan.snn --samples 1000 --sim verilator --output g.png
    python -m sw.generate --model models/mnist_gan.snn --port /dev/ttyUSB1 --output g.png
    python -m sw.generate --model models/mnist_gan.snn --pcie 0000:01:00.0 --output g.png

Draws --samples latent vectors (random bits as bytes 0 or 255 from --seed,
sw.gan.images.latent), runs the generator on the target (without --sim, --port or --pcie: the
golden model alone), compares every output neuron's first-spike time with core.golden (and the
potentials and membranes),
prints one summary line and writes the images as a PNG grid (written whole or not at all).
The images are the target's spike times decoded by sw.gan.images.intensity: a spike in step t
of T is (T - t) / T white, no spike is black.

--sim verilator simulates the default configuration (--config mnist) with max_neurons raised
to the generator's widest layer (784) unless --set max_neurons=N says otherwise: the result
window already returns every output neuron's first-spike time, so no other change is needed.

Exit status: 0 all agree; 1 a disagreement; 2 a bad argument, a model that is no generator or
does not fit; 3 the upload checksum does not match; 4 the link or the device failed; 130
interrupted.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from matplotlib.image import imsave  # writes through Agg, no display needed

from core.config import Config, ConfigError, FitError, add_config_arguments, resolve
from core.modelfile import ModelFileError, load
from core.transport import TransportError
from hw.uart import MIN_DIVISOR
from sim.simboard import DEFAULT_DIVISOR, SimBoardError
from sw.device import DeviceError
from sw.gan.images import grid, latent
from sw.gan.sample import is_generator, sample
from sw.options import (ArgumentParser, atomic_write, cli_main, fail, input_file,
                        int_range, nonnegative_int, output_file, positive_float, positive_int)
from sw.runner import ChecksumMismatch
from sw.uart import DEFAULT_BAUD

from .run import MAX_DIVISOR, one_line, open_link

__all__ = ["main", "parser", "sim_overrides", "write_grid"]

PROG = "python -m sw.generate"
EXIT_DISAGREE, EXIT_MODEL, EXIT_CHECKSUM, EXIT_LINK = 1, 2, 3, 4
MAX_SAMPLES = 1_000_000


def parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("\n", " "),
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--model", required=True, type=input_file, metavar="FILE",
                   help="generator model file (.snn), e.g. models/mnist_gan.snn")
    p.add_argument("--samples", type=int_range(1, MAX_SAMPLES, "samples to generate"),
                   default=64, metavar="N", help="images to generate (default 64)")
    p.add_argument("--output", required=True, type=output_file, metavar="PNG",
                   help="the PNG grid of the images")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the latent vectors (default 0)")
    link = p.add_mutually_exclusive_group()
    link.add_argument("--port", metavar="DEV",
                      help="serial port of the board (or the simulated board's pty)")
    link.add_argument("--pcie", metavar="BDF", help="PCIe device (0000:01:00.0) or BAR file")
    link.add_argument("--sim", choices=["verilator"], help="start the simulated board")
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD,
                   help=f"baud rate of --port (default {DEFAULT_BAUD})")
    p.add_argument("--timeout", type=positive_float, default=2.0, metavar="SECONDS",
                   help="seconds to wait beyond the line time of the bytes in flight")
    add_config_arguments(p, title="hardware configuration of --sim")
    p.add_argument("--divisor", type=int_range(MIN_DIVISOR, MAX_DIVISOR, "clock cycles per "
                                               "UART bit"), default=DEFAULT_DIVISOR,
                   help=f"clock cycles per UART bit of --sim (default {DEFAULT_DIVISOR})")
    return p


def sim_overrides(network, config_name: str, overrides: list) -> list:
    """``--set`` items for the simulated board: the user's, after ``max_neurons`` raised to
    the network's widest layer when the named configuration has fewer and the user set none."""
    widest = max(layer.n_out for layer in network.layers)
    named = resolve(config_name, overrides)
    if widest > named.max_neurons and not any(item.replace("-", "_").split("=")[0].strip()
                                              == "max_neurons" for item in overrides):
        return [f"max_neurons={widest}", *overrides]
    return list(overrides)


def write_grid(path, images) -> None:
    """The images (N, 784) in [0, 1] as one grey PNG, written whole or not at all."""
    with atomic_write(path, "wb") as file:
        imsave(file, grid(images), cmap="gray", vmin=0, vmax=255, format="png")


@cli_main(PROG)
def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        resolve(args.config, args.overrides)
    except ConfigError as error:
        p.error(f"argument --config/--set: {error}")
    try:
        network = load(args.model)
    except (OSError, ModelFileError) as error:
        return fail(PROG, one_line(error), EXIT_MODEL)
    reason = is_generator(network)
    if reason:
        return fail(PROG, f"{args.model} is not an image generator: {reason}", EXIT_MODEL)
    z = latent(args.samples, network.n_inputs, args.seed)
    target = "the golden model"
    board = None
    try:
        if args.sim or args.port or args.pcie:
            if args.sim:
                args.overrides = sim_overrides(network, args.config, args.overrides)
                Config.check_fits(resolve(args.config, args.overrides), network)
                target = f"the accelerator in Verilator (--config {args.config}" + "".join(
                    f" --set {item}" for item in args.overrides) + ")"
            else:
                target = f"the accelerator on {args.port or args.pcie}"
            transport, board = open_link(args)
            with transport:
                report = sample(network, z, transport, out=print)
        else:
            report = sample(network, z)
    except FitError as error:
        return fail(PROG, f"the generator does not fit this hardware, nothing was written: "
                          f"{one_line(error)}", EXIT_MODEL)
    except ChecksumMismatch as error:
        return fail(PROG, one_line(error), EXIT_CHECKSUM)
    except (TransportError, DeviceError, SimBoardError) as error:
        return fail(PROG, one_line(error), EXIT_LINK)
    finally:
        if board is not None:
            board.close()
    write_grid(args.output, report.images(network.timesteps))
    cycles = (f", {statistics.mean(report.cycles):.0f} cycles/sample mean"
              if report.cycles else "")
    bad = len(report.mismatches) + len(report.other)
    print(f"generate: {report.samples} samples on {target}, {len(report.mismatches)} "
          f"mismatches in output spike times, {len(report.other)} in potentials or membranes"
          f"{cycles}; {args.output}")
    if bad:
        return fail(PROG, f"{bad} of {report.samples} samples disagree with core.golden",
                    EXIT_DISAGREE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
