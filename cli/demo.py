"""``make demo``: a shipped model on the simulated accelerator, through ``sw.run``.

It does what a user does with a board, on a Verilator model of the whole board top level
(UART pins included) bridged to a pseudo-terminal: identify the device, upload the model and
verify its checksum, stream MNIST test images over the UARTBone link, and check every result
against the integer golden model. The board is generated in the first named configuration
that holds the model (:data:`core.config.SHIPPED`: ``mnist`` for the MLP, ``mnist-cnn`` for the CNN); the
first run of a configuration builds its Verilator model (minutes).

Usage: ``python -m sw.demo [--model FILE] [--samples N]`` (``make demo MODEL=models/mnist_cnn.snn
SAMPLES=10``)
"""

from __future__ import annotations

import sys

from core.config import SHIPPED, Config, shipped_for
from core.modelfile import ModelFileError, load
from sw.options import ArgumentParser, add_samples, cli_main, fail, input_file, set_advice

from . import run

__all__ = ["pick_config", "main"]

PROG = "python -m sw.demo"

def pick_config(network) -> str:
    """The first of :data:`core.config.SHIPPED` that holds ``network``; ``ValueError`` saying
    why each does not, and how to run it anyway, when none does."""
    name = shipped_for(network)
    if name is not None:
        return name
    reasons = []
    for name in SHIPPED:
        try:
            Config.named(name).check_fits(network)
        except ValueError as error:
            reasons.append(f"{name}: {set_advice(str(error))}")
    raise ValueError(f"no configuration of the demo holds the model ({'; '.join(reasons)}); "
                     f"run it with python -m sw.run --sim verilator --config NAME --set "
                     f"FIELD=VALUE ...")


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/mnist.snn", type=input_file, metavar="FILE",
                        help="model file (.snn)")
    add_samples(parser, default=100, help="MNIST test images to run")
    args = parser.parse_args(argv)
    try:
        config = pick_config(load(args.model))
    except (OSError, ModelFileError) as error:
        return fail(PROG, " ".join(str(error).split()))
    except ValueError as error:
        return fail(PROG, str(error))
    print(f"demo: {args.model} on a Verilator-simulated accelerator board (configuration "
          f"{config}) over its UART (python -m sw.run --sim verilator --config {config}); the "
          f"first run of a configuration builds its model")
    return run.main(["--model", str(args.model), "--sim", "verilator", "--config", config,
                     "--samples", str(args.samples)])


if __name__ == "__main__":
    sys.exit(main())
