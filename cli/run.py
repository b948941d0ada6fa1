"""Run a model on an accelerator over a real link and check it against the golden model.

::

    python -m sw.run --model models/mnist.snn --port /dev/ttyUSB1 [--baud 115200] --samples 100
    python -m sw.run --model models/mnist.snn --pcie 0000:01:00.0 --samples 1000
    python -m sw.run --model models/mnist_t4.snn --pcie 0000:01:00.0 --stream --samples 1000
    python -m sw.run --model models/mnist.snn --sim verilator --samples 20
    python -m sw.run --model models/mnist.snn --port /dev/pts/7   # after python -m sw.simboard

Steps (:func:`sw.runner.run`): open the link; identify the device (magic, version,
configuration); refuse a model that does not fit the hardware *before writing anything*; upload
it and verify the upload checksum (``CHECKSUM`` register, :class:`hw.soc.BusChecksum`; an upload
that does not match is reported and no inference runs); stream the images of ``--data`` (by
default MNIST's test split if it is cached, else scikit-learn's digits for a 64-input model,
else random images, saying so) with the link kept busy; compare every result (class, first
spike times and potentials, final membranes of the output neurons) with :mod:`core.golden`;
print accuracy, agreement, accelerator cycles per inference and end-to-end images/s.

--data SOURCE: mnist (downloaded as sw.data does if not cached), digits, random (made as they
are needed, so any --samples works), a folder of the MNIST IDX files, or an .npy file of uint8
images. The link's waits follow what is in flight (the bytes ahead of an answer at the baud
rate, plus --timeout); the simulated board of sw.simboard is recognized on its pty and given
more time. --stream (with --pcie, a card built with --set stream=true) sends the images and
reads the results over XDMA's DMA streams, /dev/xdma0_h2c_0 and /dev/xdma0_c2h_0 (another
prefix than /dev/xdma0 as its value), instead of the register BAR (sw.xdma). Ctrl-C prints
the summary of the images done so far.

Exit status: 0 all agree; 1 a disagreement; 2 a bad argument, or the model does not fit or is
unreadable, or the images cannot be had; 3 the upload checksum does not match; 4 the link or
the device failed; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys

from core.config import ConfigError, FitError, add_config_arguments, resolve
from core.modelfile import ModelFileError, load
from core.transport import TransportError
from hw.uart import MIN_DIVISOR
from sim.simboard import DEFAULT_DIVISOR, SimBoard, SimBoardError
from sw.data import DataError
from sw.device import DeviceError
from sw.options import (EXIT_INTERRUPTED, ArgumentParser, add_samples, cli_main, fail,
                        input_file, int_range, positive_float, positive_int)
from sw.pcie import PCIeTransport
from sw.runner import DEFAULT_SAMPLES, ChecksumMismatch, RunReport, open_images, run
from sw.uart import DEFAULT_BAUD, UARTTransport
from sw.xdma import XDMAStream

__all__ = ["main", "open_link", "MAX_DIVISOR"]

PROG = "python -m sw.run"
EXIT_DISAGREE, EXIT_MODEL, EXIT_CHECKSUM, EXIT_LINK = 1, 2, 3, 4
#: Most clock cycles per UART bit of the simulated board: more only slows it down.
MAX_DIVISOR = 256


def one_line(error) -> str:
    """An exception's message on one line (a tool's output may span several)."""
    return " ".join(str(error).split())


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
    try:
        # The board announces itself on its pty: the transport waits as for a slow device.
        return UARTTransport(board.port, timeout=args.timeout), board
    except BaseException:
        board.close()
        raise


def parser() -> ArgumentParser:
    """The command line's arguments."""
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--model", required=True, type=input_file, metavar="FILE",
                   help=".snn model file")
    link = p.add_mutually_exclusive_group(required=True)
    link.add_argument("--port", metavar="DEV",
                      help="serial port of the board (or the simulated board's pty)")
    link.add_argument("--pcie", metavar="BDF", help="PCIe device (0000:01:00.0) or BAR file")
    link.add_argument("--sim", choices=["verilator"], help="start the simulated board")
    p.add_argument("--stream", nargs="?", const="/dev/xdma0", default=None, metavar="PREFIX",
                   help="with --pcie: images and results over the XDMA streams PREFIX_h2c_0 "
                        "and PREFIX_c2h_0 (default /dev/xdma0)")
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD,
                   help=f"baud rate of --port (default {DEFAULT_BAUD})")
    p.add_argument("--timeout", type=positive_float, default=2.0, metavar="SECONDS",
                   help="seconds to wait beyond the line time of the bytes in flight (default "
                        "2; at least 10 on the simulated board)")
    add_config_arguments(p, title="hardware configuration of --sim")
    p.add_argument("--divisor", type=int_range(MIN_DIVISOR, MAX_DIVISOR, "clock cycles per "
                                               "UART bit"),
                   default=DEFAULT_DIVISOR,
                   help=f"clock cycles per UART bit of --sim, {MIN_DIVISOR} .. {MAX_DIVISOR} "
                        f"(default {DEFAULT_DIVISOR})")
    add_samples(p, default=None, help=f"images to run (default {DEFAULT_SAMPLES}, or all "
                                      f"the data has if fewer)")
    p.add_argument("--data", metavar="SOURCE", default=None,
                   help="where the images come from: mnist, digits, random, a folder of MNIST "
                        "IDX files or an .npy file of uint8 images (default: MNIST or the "
                        "digits to match the model's inputs if at hand, else random)")
    return p


@cli_main(PROG)
def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        resolve(args.config, args.overrides)
    except ConfigError as error:
        p.error(f"argument --config/--set: {error}")
    if args.stream and not args.pcie:
        p.error("argument --stream: only with --pcie (the DMA streams of a PCIe card)")

    try:
        network = load(args.model)
    except (OSError, ModelFileError) as error:      # the message names the file
        return fail(PROG, one_line(error), EXIT_MODEL)
    try:
        images = open_images(args.data, network.n_inputs, args.samples)
    except DataError as error:
        return fail(PROG, f"--data: {one_line(error)}", EXIT_MODEL)
    if images.note:
        print(f"note: {images.note}", file=sys.stderr)

    board = None
    report = RunReport()
    try:
        transport, board = open_link(args)
        with transport:
            dma = XDMAStream(f"{args.stream}_h2c_0", f"{args.stream}_c2h_0") \
                if args.stream else None
            try:
                run(transport, network, images=images, report=report, dma=dma)
            finally:
                if dma is not None:
                    dma.close()
    except KeyboardInterrupt:
        if report.samples:
            for line in report.lines():
                print(line)
        print(f"{PROG}: interrupted after {report.samples} of {images.count} images",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except FitError as error:
        fix = ("choose a larger --config or --set the field" if args.sim else
               "use a model that fits, or a bitstream built for it")
        return fail(PROG, f"the model does not fit this hardware, nothing was written: "
                          f"{one_line(error)}; {fix}", EXIT_MODEL)
    except ChecksumMismatch as error:
        return fail(PROG, one_line(error), EXIT_CHECKSUM)
    except (TransportError, DeviceError, SimBoardError) as error:
        return fail(PROG, one_line(error), EXIT_LINK)
    finally:
        if board is not None:
            board.close()
    for line in report.lines():
        print(line)
    if report.agree_all != report.samples:
        return fail(PROG, f"{report.samples - report.agree_all} of {report.samples} images "
                          f"disagree with core.golden", EXIT_DISAGREE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
