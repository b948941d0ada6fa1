"""Run a model on an accelerator over a real link and check it against the golden model.

::

    python -m sw.run --model models/mnist.snn --port /dev/ttyUSB1 [--baud 115200] --samples 100
    python -m sw.run --model models/mnist.snn --pcie 0000:01:00.0 --samples 1000
    python -m sw.run --model models/mnist.snn --sim verilator --samples 20

Steps: open the link; identify the device (magic, version, configuration); refuse a model that
does not fit the hardware *before writing anything*; upload it and verify the upload checksum
(``CHECKSUM`` register, :class:`hw.soc.BusChecksum`; an upload that does not match is reported
and no inference runs); stream test images (MNIST's test split, else scikit-learn's digits for a
64-input model, else random images) with the link kept busy; compare every result (class, first
spike times and potentials, final membranes of the output neurons) with :mod:`sw.golden`; print
accuracy, agreement, accelerator cycles per inference and end-to-end images/s.

Exit status: 0 all agree; 1 a disagreement; 2 the model does not fit or is unreadable; 3 the
upload checksum does not match; 4 the link or the device failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from hw.config import ConfigError, add_config_arguments, resolve

__all__ = ["main", "run", "RunReport", "open_link", "stream"]

EXIT_DISAGREE, EXIT_MODEL, EXIT_CHECKSUM, EXIT_LINK = 1, 2, 3, 4


@dataclass
class RunReport:
    samples: int = 0
    correct: int = 0
    labelled: bool = True
    agree_class: int = 0
    agree_all: int = 0
    cycles: list = field(default_factory=list)
    seconds: float = 0.0
    link_bytes: int = 0
    checksum: str = ""
    dataset: str = ""
    mismatches: list = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        out = [f"dataset      : {self.dataset}, {self.samples} images"]
        if self.labelled:
            out.append(f"accuracy     : {self.correct}/{self.samples} = "
                       f"{100 * self.correct / max(1, self.samples):.2f} %")
        else:
            out.append("accuracy     : n/a (images without labels)")
        out.append(f"agreement    : {self.agree_all}/{self.samples} = "
                   f"{100 * self.agree_all / max(1, self.samples):.2f} % with sw.golden "
                   f"(class, first spike times and potentials, final membranes; class alone "
                   f"{self.agree_class}/{self.samples})")
        if self.cycles:
            c = np.asarray(self.cycles)
            out.append(f"cycles/image : mean {c.mean():.0f}, min {c.min()}, max {c.max()} "
                       f"(accelerator clock cycles per inference)")
        out.append(f"throughput   : {self.images_per_s:.2f} images/s end to end "
                   f"({self.seconds:.2f} s)")
        out.append(f"checksum     : {self.checksum}")
        return out


def _load_images(n_inputs: int, samples: int, data: str | None, seed: int = 0):
    """(pixels uint8 (N, n_in), labels int64 (N,) or None, description)."""
    notes = []
    if data in (None, "mnist") and n_inputs == 784:
        try:
            from .data import load_mnist
            test = load_mnist(download=False, quiet=True)["test"]
            return test[0][:samples], test[1][:samples], "MNIST test split"
        except Exception as error:  # sw.data absent or MNIST not cached
            notes.append(f"MNIST unavailable ({error})")
    if data in (None, "digits") and n_inputs == 64:
        try:
            from .data import load_digits
            test = load_digits()["test"]
            return test[0][:samples], test[1][:samples], "scikit-learn digits test split"
        except Exception as error:
            notes.append(f"digits unavailable ({error})")
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (samples, n_inputs), dtype=np.uint8)
    pixels[rng.random(pixels.shape) < 0.6] = 0      # sparse, as images are
    reason = "; ".join(notes) or f"no data set has {n_inputs} inputs"
    return pixels, None, f"random images ({reason})"


def open_link(args):
    """The transport (and a simulated board to close, or None) for the parsed arguments."""
    if args.port:
        from .uart import UARTTransport
        return UARTTransport(args.port, baud=args.baud, timeout=args.timeout), None
    if args.pcie:
        from .pcie import PCIeTransport
        return PCIeTransport(args.pcie), None
    from .simboard import SimBoard
    from .uart import UARTTransport
    config = resolve(args.config, args.overrides)
    print(f"starting the simulated board (Verilator, config {args.config}, divisor "
          f"{args.divisor}; the first build takes minutes) ...", file=sys.stderr, flush=True)
    board = SimBoard(config, divisor=args.divisor).start(timeout=900)
    print(f"simulated board on {board.port}", file=sys.stderr, flush=True)
    # The model runs at 0.1 .. 3 M cycles/s, depending on its size and the machine's load.
    return UARTTransport(board.port, timeout=max(args.timeout, 10.0),
                         byte_time=10 * args.divisor / 1e5), board


def upload(device, network, transport) -> str:
    """Load ``network`` and verify the checksum register. Returns a line for the report;
    raises :class:`ChecksumMismatch`."""
    from hw import memmap
    from hw.soc import checksum_of, checksum_ranges
    from .compiler import compile_network

    config = device.config
    writes = compile_network(network, config)          # raises FitError before any write
    expected = checksum_of(writes, checksum_ranges(config))
    reg = 4 * memmap.REG_CHECKSUM
    transport.write_word(reg, 0)
    device.load(network)
    got = transport.read_word(reg)
    if got == 0 and expected != 0:
        transport.write_word(reg, 1)
        if transport.read_word(reg) == 0:
            return ("not verified: this bitstream has no checksum register (CHECKSUM reads 0; "
                    "hw.soc.BusChecksum adds it)")
        raise ChecksumMismatch(expected, got)
    if got != expected:
        raise ChecksumMismatch(expected, got)
    return f"upload verified (CHECKSUM {got:#010x})"


class ChecksumMismatch(RuntimeError):
    def __init__(self, expected, got):
        super().__init__(f"upload checksum mismatch: the device computed {got:#010x}, the "
                         f"model gives {expected:#010x}; words were lost or corrupted on the "
                         f"link, so no inference is run. Check the cable and the baud rate, "
                         f"and upload again")
        self.expected, self.got = expected, got


def stream(device, transport, pixels, *, poll: int = 1):
    """Run every image; yield :class:`sw.device.Result`. With a transport that has ``batch``
    (UART), each image costs one round trip: its pixels, start, ``poll`` reads of STATUS and
    the result reads go out together; if the last STATUS still shows busy, the results are
    read again after waiting, and ``poll`` grows so that the next image needs no second trip."""
    from hw import memmap
    from .compiler import pixel_writes
    from .device import DeviceError, Result, _signed

    if not hasattr(transport, "batch"):
        for row in pixels:
            yield device.infer(row)
        return
    config, network = device.config, device.network
    n, R = network.n_classes, config.region_bits
    results_ops = [
        ("read", 4 * memmap.result_array(R, memmap.RESULT_FIRST_TIME), n),
        ("read", 4 * memmap.result_array(R, memmap.RESULT_FIRST_POTENTIAL), n),
        ("read", 4 * memmap.result_array(R, memmap.RESULT_FINAL_MEMBRANE), n),
        ("read", 4 * memmap.REG_CYCLES, 2),
    ]
    control = 4 * memmap.REG_CONTROL
    for row in pixels:
        ops = [("write", a, w) for a, w in pixel_writes(row, config, network.n_inputs)]
        ops += [("write", control, [memmap.CONTROL_CLEAR]),
                ("write", control, [memmap.CONTROL_START]),
                ("read_fixed", 4 * memmap.REG_STATUS, poll)] + results_ops
        status_words, first_time, potential, membrane, (cycles, cls) = transport.batch(ops)
        status = status_words[-1]
        if status & memmap.STATUS_BUSY:
            status = device.wait()
            first_time, potential, membrane, (cycles, cls) = transport.batch(results_ops)
            poll = min(poll * 2, 255)
        elif poll > 1 and not status_words[poll // 2] & memmap.STATUS_BUSY:
            poll -= 1   # done well before the last poll: poll less
        if status & memmap.STATUS_REJECTED:
            raise DeviceError("the device rejected a write (it was busy); the results are not "
                              "trustworthy")
        if not status & memmap.STATUS_DONE:
            raise DeviceError(f"the inference stopped without finishing (status {status:#x})")
        yield Result(cls=cls, first_time=np.array(first_time, np.int64),
                     first_potential=np.array([_signed(p) for p in potential], np.int64),
                     membrane=np.array([_signed(v) for v in membrane], np.int64),
                     cycles=cycles)


def run(transport, network, *, samples: int, data: str | None = None, out=print,
        fail_fast: bool = False) -> RunReport:
    """Identify, check the fit, upload and verify, stream ``samples`` images; return the report.
    Raises :class:`hw.config.FitError` (before any write) or :class:`ChecksumMismatch`."""
    from . import golden
    from .device import Accelerator

    device = Accelerator(transport)
    config = device.identify()
    out(f"device       : SNN accelerator, {config.lanes} lanes, weights {config.weight_bits} "
        f"bit, membranes {config.membrane_bits} bit, up to {config.max_layers} layers x "
        f"{config.max_neurons} neurons, {config.max_inputs} inputs, {config.weight_words} "
        f"weight words")
    config.check_fits(network)                        # FitError: nothing written yet
    report = RunReport()
    report.checksum = upload(device, network, transport)
    out(f"model        : {network.name or 'unnamed'} {network.sizes}, T={network.timesteps}, "
        f"{network.encoder}; {report.checksum}")

    pixels, labels, report.dataset = _load_images(network.n_inputs, samples, data)
    expect = golden.run(network, pixels)
    exp_cls = expect.prediction.numpy()
    exp_time = expect.first_time.numpy()
    exp_pot = expect.first_potential.numpy()
    exp_mem = expect.membrane[-1][:, -1, :].numpy()
    report.labelled = labels is not None
    start = time.monotonic()
    for k, result in enumerate(stream(device, transport, pixels)):
        report.samples += 1
        report.cycles.append(result.cycles)
        same_class = result.cls == exp_cls[k]
        same_all = (same_class and np.array_equal(result.first_time, exp_time[k])
                    and np.array_equal(result.first_potential, exp_pot[k])
                    and np.array_equal(result.membrane, exp_mem[k]))
        report.agree_class += bool(same_class)
        report.agree_all += bool(same_all)
        if labels is not None:
            report.correct += int(result.cls == labels[k])
        if not same_all:
            report.mismatches.append(k)
            out(f"MISMATCH image {k}: device class {result.cls}, golden {exp_cls[k]}; "
                f"first times {result.first_time.tolist()} vs {exp_time[k].tolist()}")
            if fail_fast:
                break
    report.seconds = time.monotonic() - start
    return report


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

    from hw.config import FitError
    from .modelfile import ModelFileError, load
    from .transport import TransportError

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
        print(f"FAIL: {report.samples - report.agree_all} images disagree with sw.golden",
              file=sys.stderr)
        return EXIT_DISAGREE
    return 0


if __name__ == "__main__":
    sys.exit(main())
