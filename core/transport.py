"""The one host-side interface to the accelerator's memory map.

Every way of reaching the hardware (a UART speaking the UARTBone protocol, a PCIe BAR, a
Verilator or Amaranth simulation) is a :class:`Transport`. The driver (``sw.device``) talks to
a transport only, so the same code drives a board and a simulator, byte for byte.

Addresses are byte addresses of 32-bit words (multiples of 4), as in LiteX's host tools; the
hardware bus (``hw.bus``) sees the word address ``addr // 4``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["TransportError", "LinkTimeout", "Transport", "SIMULATOR_TIMEOUT"]


class TransportError(IOError):
    """The link to the accelerator failed: no device, a broken frame, a closed port."""


class LinkTimeout(TransportError):
    """The device did not answer in time (wrong baud rate, silent port, hung bridge)."""


#: :attr:`Transport.inference_timeout` of the simulators' transports: an hour of wall clock,
#: a hang guard only.
SIMULATOR_TIMEOUT = 3600.0


class Transport:
    """Base class of the transports. Subclasses implement :meth:`_read` and :meth:`_write`."""

    #: Most words one read or write request may carry (UARTBone: 255).
    max_burst = 255
    #: Seconds the driver waits for one inference before it calls the device hung
    #: (``sw.device.Device``'s default): milliseconds on hardware; a simulator's clock runs
    #: slower by orders of magnitude, and more so on a loaded machine.
    inference_timeout = 10.0

    def read(self, addr: int, count: int = 1) -> list[int]:
        """Read ``count`` consecutive 32-bit words starting at byte address ``addr``."""
        self._check(addr, count)
        words = []
        while count:
            n = min(count, self.max_burst)
            words += self._read(addr, n)
            addr, count = addr + 4 * n, count - n
        return words

    def write(self, addr: int, words: Sequence[int]) -> None:
        """Write 32-bit ``words`` to consecutive word addresses starting at byte address ``addr``."""
        words = [int(w) for w in words]
        self._check(addr, len(words))
        for w in words:
            if not 0 <= w < 1 << 32:
                raise ValueError(f"word {w:#x} does not fit in 32 bits")
        for start in range(0, len(words), self.max_burst):
            self._write(addr + 4 * start, words[start:start + self.max_burst])

    def read_word(self, addr: int) -> int:
        return self.read(addr, 1)[0]

    def write_word(self, addr: int, value: int) -> None:
        self.write(addr, [value])

    def close(self) -> None:
        """Release the link. Idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _check(addr: int, count: int) -> None:
        if addr < 0 or addr % 4:
            raise ValueError(f"address {addr:#x} is not a non-negative multiple of 4")
        if count < 0:
            raise ValueError(f"word count {count} is negative")

    def _read(self, addr: int, count: int) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _write(self, addr: int, words: list[int]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
