"""Run a model on an accelerator over a link and check it against the golden model.

:func:`run` is what ``python -m sw.run`` (:mod:`cli.run`) does once the link is open: identify
the device (magic, version, configuration); refuse a model that does not fit the hardware
*before writing anything*; upload it and verify the upload checksum (``CHECKSUM`` register,
:class:`hw.soc.BusChecksum`; an upload that does not match raises :class:`ChecksumMismatch` and
no inference runs); stream test images (:func:`open_images`: MNIST's test split, else
scikit-learn's digits for a 64-input model, else random images, or the ``data`` source named)
with the link kept busy (:func:`stream`), their golden results computed a chunk at a time;
compare every result (class, first spike times and potentials, final membranes and, on
hardware with ``spike_count``, spike counts of the output neurons) with :mod:`core.golden`; and report accuracy, agreement, accelerator cycles per
inference and end-to-end images/s (:class:`RunReport`).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from pathlib import Path

import numpy as np

from core import golden, memmap
from hw.soc import checksum_of, checksum_ranges

from .compiler import compile_network, input_writes, pixel_writes
from .data import DataError, data_dir, load_digits, load_mnist
from .device import Device, DeviceError, Result, _signed
from .options import progress
from .uart import encode_read, encode_write

__all__ = ["run", "RunReport", "upload", "stream", "ChecksumMismatch", "Images", "open_images",
           "link_bytes", "link_rate", "DEFAULT_SAMPLES", "SOURCES"]

#: Images run when the number is not given (or all the source has, if fewer).
DEFAULT_SAMPLES = 100
#: The named image sources; anything else is a path.
SOURCES = ("mnist", "digits", "random")
#: Images whose golden results are computed at a time (random images are made as many at a
#: time), so that memory does not grow with the number of images.
CHUNK = 256
_SOURCE_HELP = ("give mnist, digits, random, a folder of MNIST IDX files or an .npy file of "
                "uint8 images")


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
                   f"{100 * self.agree_all / max(1, self.samples):.2f} % with core.golden "
                   f"(class, first spike times and potentials, final membranes; class alone "
                   f"{self.agree_class}/{self.samples})")
        if self.cycles:
            c = np.asarray(self.cycles)
            out.append(f"cycles/image : mean {c.mean():.0f}, min {c.min()}, max {c.max()} "
                       f"(accelerator clock cycles per inference)")
        out.append(f"throughput   : {self.images_per_s:.2f} images/s end to end "
                   f"({self.seconds:.2f} s)")
        if self.link_bytes and self.samples:
            per_image = self.link_bytes / self.samples
            rates = ", ".join(f"{link_rate(per_image, 0, baud):,.0f} at {baud:,} baud"
                              for baud in (115_200, 12_000_000))
            out.append(f"link         : {per_image:.1f} request bytes/image sent; a UART "
                       f"carries {rates} (images/s)")
        out.append(f"checksum     : {self.checksum}")
        return out


@dataclass
class Images:
    """The images of a run: ``count`` of them, from ``pixels`` (uint8 (N, n_in)) and
    ``labels`` (int64 (N,) or None), or made at random as they are needed (``pixels`` None),
    so that a large ``count`` costs no memory. ``note`` says why a default source was not
    used (printed before the run), or is empty."""
    description: str
    count: int
    n_inputs: int
    pixels: np.ndarray | None = None
    labels: np.ndarray | None = None
    seed: int = 0
    note: str = ""

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def chunks(self, size: int = CHUNK):
        """Yield ``(pixels, labels or None)`` of at most ``size`` images at a time."""
        rng = np.random.default_rng(self.seed)
        for start in range(0, self.count, size):
            n = min(size, self.count - start)
            if self.pixels is not None:
                labels = self.labels[start:start + n] if self.labels is not None else None
                yield self.pixels[start:start + n], labels
            else:
                pixels = rng.integers(0, 256, (n, self.n_inputs), dtype=np.uint8)
                pixels[rng.random(pixels.shape) < 0.6] = 0      # sparse, as images are
                yield pixels, None


def _take(description, pixels, labels, samples, n_inputs, note=""):
    available = len(pixels)
    if samples is None:
        samples = min(DEFAULT_SAMPLES, available)
    elif samples > available:
        raise DataError(f"{samples} images asked for, but the {description} has {available}; "
                        f"give --samples {available} or fewer")
    return Images(description, samples, n_inputs, pixels, labels, note=note)


def _random(n_inputs, samples, reason, note=""):
    return Images(f"random images ({reason})", DEFAULT_SAMPLES if samples is None else samples,
                  n_inputs, note=note)


def _mnist(n_inputs, samples, folder=None, download=True):
    if n_inputs != 784:
        raise DataError(f"the model has {n_inputs} inputs and MNIST images have 784; give "
                        f"--data random, or a model made for MNIST")
    if download and folder is None and sys.stderr.isatty():
        print(f"loading MNIST from {data_dir()} (downloaded once if missing) ...",
              file=sys.stderr, flush=True)
    test = load_mnist(folder, download=download, quiet=True)["test"]
    where = f" in {folder}" if folder is not None else ""
    return _take(f"MNIST test split{where}", test.pixels, test.labels, samples, n_inputs)


def _digits(n_inputs, samples):
    if n_inputs != 64:
        raise DataError(f"the model has {n_inputs} inputs and the digits images have 64 (8x8); "
                        f"give --data random, or a model made for the digits")
    test = load_digits()["test"]
    return _take("scikit-learn digits test split", test.pixels, test.labels, samples, n_inputs)


def _npy(path: Path, n_inputs, samples):
    try:
        pixels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = str(error).split("\n")[0].rstrip(".")
        raise DataError(f"{path} is not an .npy file of images ({reason}); "
                        f"{_SOURCE_HELP}") from None
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        raise DataError(f"{path} holds {getattr(pixels, 'dtype', type(pixels).__name__)} "
                        f"values; give uint8 pixels 0 .. 255 (sw.data.to_pixels turns images "
                        f"in [0, 1] into them)")
    if pixels.ndim < 2 or len(pixels) == 0:
        raise DataError(f"{path} holds an array of shape {pixels.shape}; give images as "
                        f"(N, {n_inputs}) or (N, height, width) with N at least 1")
    pixels = pixels.reshape(len(pixels), -1)
    if pixels.shape[1] != n_inputs:
        raise DataError(f"{path} holds images of {pixels.shape[1]} pixels and the model has "
                        f"{n_inputs} inputs; give images of the model's size")
    return _take(f"images of {path}", pixels, None, samples, n_inputs)


def open_images(source: str | None, n_inputs: int, samples: int | None = None) -> Images:
    """The images for a run of a model with ``n_inputs`` inputs; ``samples`` of them (None:
    :data:`DEFAULT_SAMPLES`, or all the source has if fewer). Raises
    :class:`sw.data.DataError` with one line that names the fix.

    ``source``: ``"mnist"`` (the test split, downloaded as ``sw.data`` does if not cached),
    ``"digits"`` (scikit-learn's, 64 pixels), ``"random"`` (sparse random images, made as they
    are needed), a folder of the MNIST IDX files, or an ``.npy`` file of uint8 images
    (``(N, n_in)`` or ``(N, height, width)``, no labels). None: MNIST for a 784-input model if
    it is cached, the digits for a 64-input one, else random images; the note says why.
    """
    if source == "mnist":
        return _mnist(n_inputs, samples)
    if source == "digits":
        return _digits(n_inputs, samples)
    if source == "random":
        return _random(n_inputs, samples, "--data random")
    if source is None:
        if n_inputs == 784:
            try:
                return _mnist(n_inputs, samples, download=False)
            except DataError:
                reason = f"MNIST unavailable: it is not cached in {data_dir()}"
                return _random(n_inputs, samples, reason, note=(
                    f"{reason}; running random images, which have no labels (--data mnist "
                    f"downloads it)"))
        if n_inputs == 64:
            return _digits(n_inputs, samples)
        return _random(n_inputs, samples, f"no data set has {n_inputs} inputs")
    path = Path(source)
    if path.is_dir():
        return _mnist(n_inputs, samples, folder=path, download=False)
    if not path.exists():
        raise DataError(f"--data {source} is neither a data set nor an existing file or "
                        f"folder; {_SOURCE_HELP}")
    if path.suffix != ".npy":
        raise DataError(f"{path} is not an .npy file; {_SOURCE_HELP}")
    return _npy(path, n_inputs, samples)


def upload(device, network, transport) -> str:
    """Load ``network`` and verify the checksum register. Returns a line for the report;
    raises :class:`ChecksumMismatch`."""
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


def stream(device, transport, pixels, *, poll: int = 1, dma=None):
    """Run every image; yield :class:`sw.device.Result`. With ``dma`` (an
    :class:`sw.xdma.XDMAStream`) the images and results go over the PCIe DMA streams, one
    frame each way per image. With a transport that has ``batch``
    (UART), each image costs one round trip: its pixels, start, ``poll`` reads of STATUS and
    the result reads go out together; if the last STATUS still shows busy, the results are
    read again after waiting, and ``poll`` grows so that the next image needs no second trip."""
    if dma is not None:
        yield from dma.stream(device, pixels)
        return
    if not hasattr(transport, "batch"):
        yield from device.infer_batch(pixels) if device.config.stream else \
            (device.infer(row) for row in pixels)
        return
    if device.config.stream:
        yield from _stream_queued(device, transport, pixels, poll)
        return
    config, network = device.config, device.network
    results_ops = _results_ops(config, network.n_classes)
    control = 4 * memmap.REG_CONTROL
    for row in pixels:
        ops = [("write", a, w) for a, w in pixel_writes(row, config, network.n_inputs,
                                                             network=network)]
        ops += [("write", control, [memmap.CONTROL_CLEAR]),
                ("write", control, [memmap.CONTROL_START]),
                ("read_fixed", 4 * memmap.REG_STATUS, poll)] + results_ops
        status_words, *words = transport.batch(ops)
        status = status_words[-1]
        if status & memmap.STATUS_BUSY:
            status = device.wait()
            words = transport.batch(results_ops)
            poll = min(poll * 2, 255)
        elif poll > 1 and not status_words[poll // 2] & memmap.STATUS_BUSY:
            poll -= 1   # done well before the last poll: poll less
        if status & memmap.STATUS_REJECTED:
            raise DeviceError("the device rejected a write (it was busy); the results are not "
                              "trustworthy")
        if not status & memmap.STATUS_DONE:
            raise DeviceError(f"the inference stopped without finishing (status {status:#x})")
        yield _result(words)


def _stream_queued(device, transport, pixels, poll):
    """:func:`stream` on hardware with the input queue (``Config.stream``): image ``k`` goes
    out in the compact format with its START (which also pops the result read before it) and,
    in the same batch, the reads of image ``k - 1``'s result, so that the link carries image
    ``k`` while image ``k - 1`` computes and each image costs one round trip."""
    config, network = device.config, device.network
    results_ops = _results_ops(config, network.n_classes)
    control, status_reg = 4 * memmap.REG_CONTROL, 4 * memmap.REG_STATUS
    pop, waiting = 0, False

    def collect(words):
        nonlocal poll
        status_words, *words = words
        status = status_words[-1]
        if not status & memmap.STATUS_READY:
            status = device.wait()
            words = transport.batch(results_ops)
            poll = min(poll * 2, 255)
        elif poll > 1 and status_words[poll // 2] & memmap.STATUS_READY:
            poll -= 1
        if status & memmap.STATUS_REJECTED:
            raise DeviceError("the device rejected an input write or a START; the results "
                              "are not trustworthy")
        return _result(words)

    for row in pixels:
        ops = [("write", a, w) for a, w in input_writes(row, config, network)]
        ops.append(("write", control, [memmap.CONTROL_START | pop]))
        if waiting:
            ops += [("read_fixed", status_reg, poll)] + results_ops
        answers = transport.batch(ops)
        pop = 0
        if waiting:
            yield collect(answers)
            pop = memmap.CONTROL_POP       # with the next START
        waiting = True
    if waiting:
        ops = [("write", control, [pop])] if pop else []
        answers = transport.batch(ops + [("read_fixed", status_reg, poll)] + results_ops)
        yield collect(answers)
        transport.batch([("write", control, [memmap.CONTROL_POP])])


def _results_ops(config, n):
    """The reads of one inference's results: the result arrays (the spike counts too on
    hardware that has them), then CYCLES and CLASS."""
    arrays = [memmap.RESULT_FIRST_TIME, memmap.RESULT_FIRST_POTENTIAL,
              memmap.RESULT_FINAL_MEMBRANE]
    if config.spike_count:
        arrays.append(memmap.RESULT_SPIKE_COUNT)
    return ([("read", 4 * memmap.result_array(config.region_bits, a), n) for a in arrays]
            + [("read", 4 * memmap.REG_CYCLES, 2)])


def _result(words) -> Result:
    """The :class:`sw.device.Result` of the words :func:`_results_ops` read."""
    first_time, potential, membrane, *count, (cycles, cls) = words
    return Result(cls=cls, first_time=np.array(first_time, np.int64),
                  first_potential=np.array([_signed(p) for p in potential], np.int64),
                  membrane=np.array([_signed(v) for v in membrane], np.int64),
                  cycles=cycles, count=np.array(count[0], np.int64) if count else None)


def _expected(network, images: Images):
    """Yield ``(pixels, label or None, golden result)`` per image, a chunk at a time."""
    for pixels, labels in images.chunks():
        expect = golden.run(network, pixels)
        membrane = expect.membrane[-1][:, -1, :]
        for k in range(len(pixels)):
            yield (pixels[k], None if labels is None else labels[k],
                   (expect.prediction[k], expect.first_time[k], expect.first_potential[k],
                    membrane[k], expect.count[k]))


def run(transport, network, *, samples: int | None = None, data: str | None = None,
        images: Images | None = None, out=print, fail_fast: bool = False,
        report: RunReport | None = None, dma=None) -> RunReport:
    """Identify, check the fit, upload and verify, stream the images (``images``, else
    ``samples`` of ``data``, :func:`open_images`); return the report. Raises
    :class:`core.config.FitError` (before any write), :class:`ChecksumMismatch` or
    :class:`sw.data.DataError`. Pass ``report`` to keep what was done when the run is
    interrupted (``KeyboardInterrupt``): it holds the images compared so far. ``dma``: an
    :class:`sw.xdma.XDMAStream` that carries the images and results (the upload still goes
    over ``transport``)."""
    if images is None:
        images = open_images(data, network.n_inputs, samples)
    report = RunReport() if report is None else report
    device = Device(transport)
    config = device.identify()
    out(f"device       : SNN accelerator, {config.lanes} lanes, weights {config.weight_bits} "
        f"bit, membranes {config.membrane_bits} bit, up to {config.max_layers} layers x "
        f"{config.max_neurons} neurons, {config.max_inputs} inputs, {config.weight_words} "
        f"weight words")
    config.check_fits(network)                        # FitError: nothing written yet
    report.checksum = upload(device, network, transport)
    out(f"model        : {network.name or 'unnamed'} {network.sizes}, T={network.timesteps}, "
        f"{network.encoder}; {report.checksum}")

    report.dataset = images.description
    report.labelled = images.labelled
    pending = deque()

    def rows():
        for item in _expected(network, images):
            pending.append(item)
            yield item[0]

    start = time.monotonic()
    sent = getattr(transport, "bytes_sent", None)   # request bytes on a UART
    try:
        results = progress(stream(device, transport, rows(), dma=dma), total=images.count,
                           desc="images", unit="image")
        for k, result in enumerate(results):
            _, label, (cls, first_time, first_potential, membrane, count) = pending.popleft()
            report.samples += 1
            report.cycles.append(result.cycles)
            same_class = result.cls == cls
            same_all = (same_class and np.array_equal(result.first_time, first_time)
                        and np.array_equal(result.first_potential, first_potential)
                        and np.array_equal(result.membrane, membrane)
                        and (result.count is None or np.array_equal(result.count, count)))
            report.agree_class += bool(same_class)
            report.agree_all += bool(same_all)
            if label is not None:
                report.correct += int(result.cls == label)
            if not same_all:
                report.mismatches.append(k)
                out(f"MISMATCH image {k}: device class {result.cls}, golden {cls}; "
                    f"first times {result.first_time.tolist()} vs {first_time.tolist()}")
                if fail_fast:
                    break
    finally:
        report.seconds = time.monotonic() - start
        if sent is not None:
            report.link_bytes = transport.bytes_sent - sent
    return report


class _CountingLink:
    """A stand-in for :class:`sw.uart.UARTTransport` that counts the UARTBone bytes of the
    batches :func:`stream` sends (request bytes as ``encode_write``/``encode_read`` make them,
    answer bytes at 4 per word read) and answers every read at once: ``status`` for STATUS,
    zeros otherwise."""

    def __init__(self, status: int):
        self.status, self.request, self.answer = status, 0, 0

    def batch(self, ops):
        out = []
        for kind, addr, arg in ops:
            if kind == "write":
                words = [int(w) for w in arg]
                for s in range(0, len(words), 255):
                    self.request += len(encode_write(addr + 4 * s, words[s:s + 255]))
                continue
            count = int(arg)
            for s in range(0, count, 255):
                n = min(255, count - s)
                self.request += len(encode_read(addr, n, fixed=kind == "read_fixed"))
                self.answer += 4 * n
            out.append([self.status if addr == 4 * memmap.REG_STATUS else 0] * count)
        return out


def link_bytes(network, config, pixels) -> dict:
    """UART bytes per image of :func:`stream` on hardware ``config`` (with ``Config.stream``:
    the compact input and the queue; without: the pixel window), the mean over ``pixels``
    (B, n_in): ``request`` (host to device) and ``answer`` (device to host). Counted from the
    commands :func:`stream` sends, in the steady state of one STATUS read per image."""
    pixels = np.asarray(pixels)
    status = memmap.STATUS_DONE | (memmap.STATUS_READY if config.stream else 0)
    link = _CountingLink(status)
    device = SimpleNamespace(config=config, network=network, wait=lambda: status)
    for _ in stream(device, link, pixels):
        pass
    return {"request": link.request / max(1, len(pixels)),
            "answer": link.answer / max(1, len(pixels))}


def link_rate(request: float, answer: float, baud: float) -> float:
    """Images per second that a UART at ``baud`` carries for ``request`` and ``answer`` bytes
    per image: 10 bits per byte, both directions at once, so the busier one bounds it."""
    return baud / 10 / max(request, answer)
