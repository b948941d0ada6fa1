"""``make demo``: the shipped MNIST model on the simulated accelerator, through ``sw.run``.

It does what a user does with a board, on a Verilator model of the whole board top level
(UART pins included) bridged to a pseudo-terminal: identify the device, upload the model and
verify its checksum, stream MNIST test images over the UARTBone link, and check every result
against the integer golden model. The first run builds the Verilator model (a minute or two).

Usage: ``python -m sw.demo [--model FILE] [--samples N]``
"""

from __future__ import annotations

import argparse
import sys

from . import run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/mnist.snn", help="model file (.snn)")
    parser.add_argument("--samples", type=int, default=100, help="MNIST test images to run")
    args = parser.parse_args(argv)
    print(f"demo: {args.model} on a Verilator-simulated accelerator board over its UART "
          f"(python -m sw.run --sim verilator); the first run builds the model")
    return run.main(["--model", args.model, "--sim", "verilator",
                     "--samples", str(args.samples)])


if __name__ == "__main__":
    sys.exit(main())
