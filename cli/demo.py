"""``make demo``: the shipped MNIST model on the simulated accelerator, through ``sw.run``.

It does what a user does with a board, on a Verilator model of the whole board top level
(UART pins included) bridged to a pseudo-terminal: identify the device, upload the model and
verify its checksum, stream MNIST test images over the UARTBone link, and check every result
against the integer golden model. The first run builds the Verilator model (a minute or two).

Usage: ``python -m sw.demo [--model FILE] [--samples N]``
"""

from __future__ import annotations

import sys

from sw.options import ArgumentParser, add_samples, cli_main, input_file

from . import run

PROG = "python -m sw.demo"


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/mnist.snn", type=input_file, metavar="FILE",
                        help="model file (.snn)")
    add_samples(parser, default=100, help="MNIST test images to run")
    args = parser.parse_args(argv)
    print(f"demo: {args.model} on a Verilator-simulated accelerator board over its UART "
          f"(python -m sw.run --sim verilator); the first run builds the model")
    return run.main(["--model", str(args.model), "--sim", "verilator",
                     "--samples", str(args.samples)])


if __name__ == "__main__":
    sys.exit(main())
