"""Images and results over XDMA's streaming DMA channels (the Litefury/Nitefury top with the
input queue, ``hw.axis``): one H2C write per image, one C2H read per result record.

Linux' ``xdma`` driver exposes the channels as character devices: ``/dev/xdma0_h2c_0`` (a
``write`` is one transfer, its end is the AXI-Stream ``tlast`` that queues the image) and
``/dev/xdma0_c2h_0`` (a ``read`` returns one record, up to its ``tlast``). The register BAR
(``sw.pcie.PCIeTransport``) still identifies the device and uploads the network; then
:meth:`XDMAStream.stream` writes the images from a thread while the caller reads the
results, as the bridge needs (``hw.axis``: it serves one frame at a time, results first).

:class:`GoldenCard` is the test double for machines without the driver: the two "devices" are
its ``h2c`` and ``c2h`` file-like ends, and the card answers each image with the record the
golden model (``core.golden``, cycles from ``core.perf``) gives, as the hardware does bit for
bit.
"""

from __future__ import annotations

import os
import queue
import threading

import numpy as np

from core import golden, memmap
from core.perf import cycle_counts
from hw.axis import record_words

from .compiler import compact_words
from .device import DeviceError, Result, _signed

__all__ = ["XDMAStream", "GoldenCard", "frame", "parse_record", "H2C_DEVICE", "C2H_DEVICE"]

H2C_DEVICE = "/dev/xdma0_h2c_0"
C2H_DEVICE = "/dev/xdma0_c2h_0"


def frame(pixels, config, network) -> bytes:
    """One H2C frame: the image's compact words (``sw.compiler.compact_words``), little-endian.
    An image without a nonzero pixel is the word 0 (two entries that write pixels 0 and 1 as
    zero): a DMA transfer is never empty."""
    words = compact_words(pixels, config, network.n_inputs) or [0]
    return np.asarray(words, "<u4").tobytes()


def parse_record(data: bytes, config, n: int) -> Result:
    """A C2H record (``docs/memory-map.md``, "AXI-Stream frames") as a :class:`Result`;
    :class:`sw.device.DeviceError` when it is short, for another network or the device
    rejected a write."""
    size = 4 * record_words(config, n)
    if len(data) != size:
        raise DeviceError(f"a result record has {len(data)} bytes, not {size}; is the card "
                          f"built with the AXI-Stream bridge and this network loaded?")
    words = np.frombuffer(data, "<u4").astype(np.int64).tolist()
    status, outputs, cycles, cls = words[:4]
    if outputs != n:
        raise DeviceError(f"a result record has {outputs} outputs, the network {n}")
    if not status & memmap.STATUS_READY:
        raise DeviceError(f"a result record without STATUS.READY (status {status:#x}): it "
                          f"is not a result")
    if status & memmap.STATUS_REJECTED:
        raise DeviceError(f"the device rejected a write (status {status:#x}); the results "
                          f"are not trustworthy")
    arrays = [words[4 + k * n:4 + (k + 1) * n] for k in range(len(words[4:]) // n)]
    return Result(cls=cls, first_time=np.array(arrays[0], np.int64),
                  first_potential=np.array([_signed(p) for p in arrays[1]], np.int64),
                  membrane=np.array([_signed(v) for v in arrays[2]], np.int64), cycles=cycles,
                  count=np.array(arrays[3], np.int64) if config.spike_count else None)


class XDMAStream:
    """The H2C and C2H channels of one card.

    Parameters
    ----------
    h2c, c2h : str or file-like
        The character devices (default ``/dev/xdma0_h2c_0``, ``/dev/xdma0_c2h_0``) or open
        binary files (the test double's ends).
    """

    def __init__(self, h2c=H2C_DEVICE, c2h=C2H_DEVICE):
        try:
            # O_WRONLY without O_CREAT: a missing device must not become a plain file in /dev.
            self._h2c = (os.fdopen(os.open(h2c, os.O_WRONLY), "wb", buffering=0)
                         if isinstance(h2c, str) else h2c)
            self._c2h = open(c2h, "rb", buffering=0) if isinstance(c2h, str) else c2h
        except OSError as error:
            raise DeviceError(f"cannot open the XDMA stream devices ({error.strerror}: "
                              f"{error.filename}); is the xdma driver loaded and the card "
                              f"built with --set stream=true?") from None

    def stream(self, device, pixels):
        """Run each image of ``pixels`` (an iterable of 1-D uint8 images) on the network
        ``device`` has loaded; yield a :class:`Result` per image, in order."""
        config, network = device.config, device.network
        if not config.stream:
            raise DeviceError("the device has no input queue: the DMA streams need a card "
                              "built with --set stream=true")
        if network.encoder == "rate":
            raise DeviceError("the rate encoder reads every pixel, which the compact frames "
                              "do not carry; run it over the register BAR (without --stream)")
        size = 4 * record_words(config, network.n_classes)
        sent = queue.Queue()
        failure = []

        def writer():
            try:
                for image in pixels:
                    data = frame(image, config, network)
                    self._h2c.write(data)
                    sent.put(1)
            except BaseException as error:   # reported by the reader
                failure.append(error)
            sent.put(None)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        while sent.get() is not None:
            data = b""
            while len(data) < size:
                chunk = self._c2h.read(size - len(data))
                if not chunk:
                    raise DeviceError("the C2H stream ended before a whole result record")
                data += chunk
            yield parse_record(data, config, network.n_classes)
        thread.join()
        if failure:
            raise failure[0]

    def close(self):
        for f in (self._h2c, self._c2h):
            f.close()


class _Pipe:
    """A byte queue with blocking reads (one end of :class:`GoldenCard`)."""

    def __init__(self, on_write=None):
        self._chunks = queue.Queue()
        self._left = b""
        self._on_write = on_write
        self.closed = False

    def write(self, data: bytes) -> int:
        self._on_write(bytes(data))
        return len(data)

    def put(self, data: bytes):
        self._chunks.put(data)

    def read(self, size: int) -> bytes:
        if not self._left:
            self._left = self._chunks.get()
        out, self._left = self._left[:size], self._left[size:]
        return out

    def close(self):
        self.closed = True
        self._chunks.put(b"")


class GoldenCard:
    """Test double of the card's streams: each H2C write (one image's compact words) is decoded
    as the input queue does and answered on C2H with the record of the golden model.

    Parameters
    ----------
    network : core.network.Network
        The network the card runs (loaded over the BAR on a real card).
    config : core.config.Config
        The card's configuration (with ``stream``).

    Attributes
    ----------
    h2c, c2h : file-like
        Pass them to :class:`XDMAStream`.
    images : list of numpy arrays
        The images received, decoded.
    """

    def __init__(self, network, config):
        self.network, self.config = network, config
        self.images = []
        self.c2h = _Pipe()
        self.h2c = _Pipe(on_write=self._image)

    def decode(self, data: bytes) -> np.ndarray:
        """The pixels that a frame's compact entries write (``docs/memory-map.md``)."""
        x = np.zeros(self.network.n_inputs, np.uint8)
        pointer = 0
        for word in np.frombuffer(data, "<u4").tolist():
            for entry in (word & 0xFFFF, word >> 16):
                pointer += entry >> 8
                if pointer < len(x):
                    x[pointer] = entry & 0xFF
                pointer += 1
        return x

    def _image(self, data: bytes):
        if len(data) % 4:
            raise OSError(f"an H2C frame of {len(data)} bytes: frames are whole 32-bit words")
        x = self.decode(data)
        self.images.append(x)
        trace = golden.run(self.network, x[None])
        n = self.network.n_classes
        words = [memmap.STATUS_READY, n, int(cycle_counts(self.network, self.config, x[None])[0]),
                 int(trace.prediction[0])]
        words += trace.first_time[0].tolist() + trace.first_potential[0].tolist()
        words += trace.membrane[-1][0, -1].tolist()
        if self.config.spike_count:
            words += trace.count[0].tolist()
        self.c2h.put(np.asarray([w & 0xFFFFFFFF for w in words], "<u4").tobytes())
