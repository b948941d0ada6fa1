"""Host side of the PCIe link: the accelerator's memory map as a memory-mapped BAR.

On a PCIe board (Litefury, NiteFury) the bitstream puts Xilinx's XDMA bridge in front of the
accelerator; its AXI4-Lite master (``hw.axil.AXILiteSlave``) maps the BAR onto the register bus,
so a host load or store of 32 bits is one bus transfer. :class:`PCIeTransport` maps

* ``/sys/bus/pci/devices/<BDF>/resource<N>`` (no driver needed; root, or a udev rule), given the
  device's bus/device/function (``0000:01:00.0`` or ``01:00.0``; see ``lspci -d 10ee:``), or
* a file path: the XDMA driver's user character device (``/dev/xdma0_user``), or any file
  standing in for the BAR (the tests use a plain file).

Every access is an aligned 32-bit load or store (``memoryview.cast("I")``), as MMIO needs.
"""

from __future__ import annotations

import mmap
import os
import re
from pathlib import Path

from core.transport import Transport, TransportError

__all__ = ["PCIeTransport", "SYSFS_PCI"]

SYSFS_PCI = Path("/sys/bus/pci/devices")
_BDF = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")


class PCIeTransport(Transport):
    """Memory-mapped BAR.

    Parameters
    ----------
    device : str
        A PCI address (``0000:01:00.0``, ``01:00.0``) or the path of a file to map.
    bar : int
        BAR number when ``device`` is a PCI address (default 0).
    size : int, optional
        Bytes to map; default: the BAR's (the file's) size. Needed for a character device,
        whose size the kernel does not report.
    """

    max_burst = 1 << 20

    def __init__(self, device: str, *, bar: int = 0, size: int | None = None):
        self.device = str(device)
        match = _BDF.match(self.device)
        if match:
            domain = match.group(1) or "0000"
            bdf = f"{domain}:{match.group(2)}:{match.group(3)}.{match.group(4)}".lower()
            folder = SYSFS_PCI / bdf
            if not folder.exists():
                raise TransportError(
                    f"PCIe device {bdf} does not exist ({folder} is missing): check that the "
                    f"board is seated and its bitstream loaded, then rescan (echo 1 > "
                    f"/sys/bus/pci/rescan) and find its address with 'lspci -d 10ee:'")
            path = folder / f"resource{bar}"
            if not path.exists():
                raise TransportError(f"PCIe device {bdf} has no BAR {bar} ({path} is missing); "
                                     f"the bitstream's XDMA core exposes the AXI-Lite BAR "
                                     f"elsewhere: pass bar=N")
        else:
            path = Path(self.device)
            if not path.exists():
                raise TransportError(
                    f"{path} does not exist: pass the board's PCI address (lspci -d 10ee:) "
                    f"such as 0000:01:00.0, or load the XDMA driver for /dev/xdma0_user")
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_SYNC)
        except PermissionError:
            raise TransportError(f"no permission to open {path}: run as root, or add a udev "
                                 f"rule giving your group access to it") from None
        except OSError as error:
            raise TransportError(f"cannot open {path}: {error}") from None
        try:
            length = size if size is not None else os.fstat(self._fd).st_size
            if not length or length < 4:
                raise TransportError(f"{path} reports no size; give size=BYTES (the BAR's "
                                     f"size from lspci -vv)")
            self._map = mmap.mmap(self._fd, length, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self._fd)
            raise
        self.size = length
        self._words = memoryview(self._map).cast("I")

    def _bounds(self, addr: int, count: int) -> int:
        if addr + 4 * count > self.size:
            raise TransportError(f"address {addr:#x} + {count} words is past the end of "
                                 f"{self.path} ({self.size:#x} bytes mapped)")
        return addr // 4

    def _read(self, addr: int, count: int) -> list[int]:
        base = self._bounds(addr, count)
        words = self._words
        return [words[base + k] for k in range(count)]   # one 32-bit load each

    def _write(self, addr: int, words: list[int]) -> None:
        base = self._bounds(addr, len(words))
        view = self._words
        for k, word in enumerate(words):                   # one 32-bit store each
            view[base + k] = word

    def close(self) -> None:
        words = getattr(self, "_words", None)
        if words is not None:
            words.release()
            self._words = None
            self._map.close()
            os.close(self._fd)

    def __repr__(self):
        return f"PCIeTransport({self.device!r})"
