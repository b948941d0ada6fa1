"""``snn-accel``: one entry point for every command line of the project.

::

    snn-accel demo
    snn-accel cosim --model models/mnist.snn --samples 100 --sim verilator
    snn-accel run --model models/mnist.snn --sim verilator --samples 20
    snn-accel flash --board ulx3s --dry-run
    snn-accel COMMAND --help

``snn-accel COMMAND ARGS...`` runs what ``python -m sw.COMMAND ARGS...`` runs (``python -m
hw.generate ARGS...`` for ``generate``): both call the same ``main``.
"""

from __future__ import annotations

import difflib
import importlib
import sys

__all__ = ["COMMANDS", "main"]

#: Command name -> (module whose ``main(argv)`` runs it, one line of help).
COMMANDS = {
    "demo": ("cli.demo", "a shipped MNIST model (MLP or CNN) on the simulated board (make demo)"),
    "cosim": ("cli.cosim", "co-simulate the accelerator against the golden model"),
    "run": ("cli.run", "run a model on a board or the simulated board, checked against the "
                       "golden model"),
    "simboard": ("cli.simboard", "the simulated board on a pseudo-terminal"),
    "linkbench": ("cli.linkbench", "UART bytes and images/s of the pixel window and the "
                                   "compact input"),
    "flash": ("cli.flash", "build the accelerator for an FPGA board and program it"),
    "generate": ("cli.generate", "the accelerator's Verilog, or its Artix-7 resources"),
    "sweep": ("cli.sweep", "a design-space sweep (lanes, K, widths, T, board) of a model: "
                           "cycles, accuracy, resources, Fmax, Pareto plot"),
    "scalebench": ("cli.scalebench", "sw.cosim and sw.sweep on Ray workers against one "
                                     "process (results/scale.json)"),
    "bench": ("cli.bench", "cycles, FPGA resources and co-simulation speed (make bench)"),
    "perf": ("cli.perf", "cycles per image and memories of a model or a recipe's untrained "
                         "stand-in on a configuration"),
    "attack": ("cli.attack", "adversarial attacks on a model, its float SNN and an ANN"),
    "evaluate": ("sw.evaluate", "accuracy and activity of a model file on a data set"),
    "train": ("cli.train", "train a model and export it as a model file (make model)"),
    "data": ("sw.data", "fetch, check and cache MNIST"),
    "sample": ("cli.gan", "digits from a spiking generator on a target, checked against the "
                          "golden model (python -m sw.generate)"),
    "gantrain": ("cli.gantrain", "train the Spiking-GAN generator (models/mnist_gan.snn)"),
    "ganbench": ("cli.ganbench", "the Spiking-GAN generator's quality and spikes "
                                 "(results/gan.json)"),
    "nir": ("cli.nir", "import a float NIR graph (snnTorch, Norse, SpikingJelly) as a "
                       "quantized model, or export a model as NIR"),
    "nirbench": ("cli.nirbench", "an snnTorch MNIST network through NIR, compared with "
                                 "snnTorch (results/nir.json)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: snn-accel COMMAND [ARGS...]", "",
             "One entry point for every command line of the project.", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "snn-accel COMMAND --help describes the arguments of COMMAND."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # a usage error: the usage on standard error, status 2
        print(_usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    command, args = argv[0], argv[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"snn-accel: error: unknown command {command!r}; {hint}choose one of "
              f"{', '.join(COMMANDS)} (see snn-accel --help)", file=sys.stderr)
        return 2
    # Only the chosen command's module is imported: `snn-accel run` does not load the training
    # code (and torch), `snn-accel train` not the simulators.
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(args)


if __name__ == "__main__":
    sys.exit(main())
