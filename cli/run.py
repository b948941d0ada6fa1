"""Run a model on an accelerator over a real link and check it against the golden model.

::

    python -m sw.run --model models/mnist.snn --port /dev/ttyUSB1 [--baud 115200] --samples 100
    python -m sw.run --model models/mnist.snn --pcie 0000:01:00.0 --samples 1000
    python -m sw.run --model models/mnist.snn --sim verilator --samples 20

Steps (:func:`sw.runner.run`): open the link; identify the device (magic, version,
configuration); refuse a model that does not fit the hardware *before writing anything*; upload
it and verify the upload checksum (``CHECKSUM`` register, :class:`hw.soc.BusChecksum`; an upload
that does not match is reported and no inference runs); stream test images (MNIST's test split,
else scikit-learn's digits for a 64-input model, else random images) with the link kept busy;
compare every result (class, first spike times and potentials, final membranes of the output
neurons) with :mod:`core.golden`; print accuracy, agreement, accelerator cycles per inference
and end-to-end images/s.

Exit status: 0 all agree; 1 a disagreement; 2 the model does not fit or is unreadable; 3 the
upload checksum does not match; 4 the link or the device failed.
"""

from __future__ import annotations

import argparse
import sys

from core.config import ConfigError, FitError, add_config_arguments, resolve
from core.modelfile import ModelFileError, load
from core.transport import TransportError
from sim.simboard import SimBoard
from sw.pcie import PCIeTransport
from sw.runner import ChecksumMismatch, run
from sw.uart import UARTTransport

__all__ = ["main", "open_link"]

EXIT_DISAGREE, EXIT_MODEL, EXIT_CHECKSUM, EXIT_LINK = 1, 2, 3, 4


def open_link(args):
    """The transport (and a simulated board to close, or None) for the parsed arguments."""
    if args.port:
        return UARTTransport(args.port, baud=args.baud, timeout=args.timeout), None
    if args.pcie:
        return PCIeTransport(args.pcie), None
    config = resolve(args.config, args.overrides)
    print(f"starting the simulated board (Verilator, config {args.config}, divisor "
          f"{args.divisor}; the first build takes minutes) ...", file=sys.stderr, flush=True)
    board = SimBoard(config, divisor=args.divisor).start(timeout=900)
    print(f"simulated board on {board.port}", file=sys.stderr, flush=True)
    # The model runs at 0.1 .. 3 M cycles/s, depending on its size and the machine's load.
    return UARTTransport(board.port, timeout=max(args.timeout, 10.0),
                         byte_time=10 * args.divisor / 1e5), board


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sw.run", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--model", required=True, help=".snn model file")
    link = parser.add_mutually_exclusive_group(required=True)
    link.add_argument("--port", help="serial port of the board (or the simulated board's pty)")
    link.add_argument("--pcie", metavar="BDF", help="PCIe device (0000:01:00.0) or BAR file")
    link.add_argument("--sim", choices=["verilator"], help="start the simulated board")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds to wait for an answer (default 2)")
    add_config_arguments(parser, title="hardware configuration of --sim")
    parser.add_argument("--divisor", type=int, default=8,
                        help="clock cycles per UART bit of --sim (default 8)")
    parser.add_argument("--samples", type=int, default=100, help="images to run (default 100)")
    parser.add_argument("--data", choices=["mnist", "digits", "random"], default=None,
                        help="images to use (default: what matches the model's inputs)")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    try:
        resolve(args.config, args.overrides)
    except ConfigError as error:
        parser.error(str(error))

    try:
        network = load(args.model)
    except (OSError, ModelFileError) as error:
        print(f"error: cannot read the model {args.model}: {error}", file=sys.stderr)
        return EXIT_MODEL
    board = None
    try:
        transport, board = open_link(args)
        with transport:
            report = run(transport, network, samples=args.samples, data=args.data)
    except FitError as error:
        print(f"error: the model does not fit this hardware, nothing was written: {error}",
              file=sys.stderr)
        return EXIT_MODEL
    except ChecksumMismatch as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CHECKSUM
    except TransportError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_LINK
    finally:
        if board is not None:
            board.close()
    for line in report.lines():
        print(line)
    if report.agree_all != report.samples:
        print(f"FAIL: {report.samples - report.agree_all} images disagree with core.golden",
              file=sys.stderr)
        return EXIT_DISAGREE
    return 0


if __name__ == "__main__":
    sys.exit(main())
