"""Host side of the UART link: the UARTBone protocol over a serial port (pyserial).

:class:`UARTTransport` speaks the protocol of :mod:`hw.uartbone` (LiteX's UARTBone): a board's
USB-serial port, the pseudo-terminal of the simulated board (``python -m sw.simboard``), or any
pyserial URL (``socket://host:port``, ``loop://``).

Failures never hang: every read of an answer has a deadline and raises
:class:`~core.transport.LinkTimeout` with what to check; a missing device path raises
:class:`~core.transport.TransportError` naming the path and the fix.

After a timeout the bridge may hold a partial command; it drops it after its idle timeout
(:class:`hw.uartbone.UARTBone`), so before the next command the transport waits until the line
has been quiet for ``resync`` seconds, throwing away any late answer bytes
(:meth:`UARTTransport.recover`).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterable, Sequence

from core.transport import LinkTimeout, Transport, TransportError

__all__ = ["CMD_WRITE_INCR", "CMD_READ_INCR", "CMD_WRITE_FIXED", "CMD_READ_FIXED",
           "encode_write", "encode_read", "UARTTransport", "DEFAULT_BAUD"]

CMD_WRITE_INCR = 0x01
CMD_READ_INCR = 0x02
CMD_WRITE_FIXED = 0x03
CMD_READ_FIXED = 0x04
DEFAULT_BAUD = 115200


def encode_write(addr: int, words: Sequence[int], *, fixed: bool = False) -> bytes:
    """Bytes of one write command: ``words`` (at most 255) to byte address ``addr``."""
    if not 1 <= len(words) <= 255:
        raise ValueError(f"a UARTBone write carries 1 .. 255 words, not {len(words)}")
    head = bytes([CMD_WRITE_FIXED if fixed else CMD_WRITE_INCR, len(words)])
    return head + struct.pack(f">I{len(words)}I", addr // 4, *words)


def encode_read(addr: int, count: int, *, fixed: bool = False) -> bytes:
    """Bytes of one read command: ``count`` (at most 255) words from byte address ``addr``."""
    if not 1 <= count <= 255:
        raise ValueError(f"a UARTBone read carries 1 .. 255 words, not {count}")
    return bytes([CMD_READ_FIXED if fixed else CMD_READ_INCR, count]) + struct.pack(">I", addr // 4)


class UARTTransport(Transport):
    """UARTBone over a serial port.

    Parameters
    ----------
    port : str or serial.Serial-like
        Device path (``/dev/ttyUSB1``, the pty printed by ``sw.simboard``), a pyserial URL, or
        an object with pyserial's ``read``/``write``/``reset_input_buffer``/``close``.
    baud : int
        Baud rate; must match the bitstream's (``hw.soc.SoC(baudrate=...)``).
    timeout : float
        Seconds to wait for the first answer byte of a read and between answer bytes. The wait
        for the first byte also grows by ``byte_time`` for every byte sent since the last
        answer: writes return as soon as the OS has buffered them, and the device answers a
        read only after it has worked through them.
    byte_time : float, optional
        Seconds the device takes per byte on the line (default ``10 / baud``; the simulated
        board, whose pty has no baud rate, passes its own estimate).
    resync : float
        Seconds of silence after an error, longer than the bridge's idle timeout, so that the
        bridge has dropped any partial command before the next one.
    window : int
        Most request bytes sent past a read whose answer has not arrived (:meth:`batch`). The
        bridge stops reading while it answers, so this must stay below its receive FIFO's depth
        (``hw.soc.SoC(rx_fifo_depth=...)``, 256 by default).
    """

    max_burst = 255

    def __init__(self, port, baud: int = DEFAULT_BAUD, timeout: float = 1.0, *,
                 resync: float = 0.12, window: int = 192, byte_time: float | None = None):
        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise ValueError(f"baud rate must be a positive integer, not {baud!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not 6 <= window:
            raise ValueError(f"window must be at least 6 bytes (one read command), not {window}")
        self.baud, self.timeout, self.resync, self.window = baud, timeout, resync, window
        self.byte_time = 10 / baud if byte_time is None else byte_time
        self._queued = 0        # bytes sent since the last complete answer
        self._dirty = False     # an error happened: resynchronize before the next command
        if isinstance(port, str):
            self.name = port
            self._serial = self._open(port, baud)
        else:
            self.name = getattr(port, "name", None) or repr(port)
            self._serial = port

    def _open(self, port: str, baud: int):
        import serial  # pyserial

        if "://" not in port and not os.path.exists(port):
            raise TransportError(
                f"serial port {port} does not exist: check that the board is plugged in and "
                f"powered and use its port (ls /dev/ttyUSB* /dev/ttyACM*; an Arty's UART is "
                f"usually the second, /dev/ttyUSB1), or start the simulated board with "
                f"'python -m sw.simboard' and pass the pty path it prints")
        try:
            return serial.serial_for_url(port, baudrate=baud, timeout=self.timeout,
                                         write_timeout=max(self.timeout, 1.0))
        except serial.SerialException as error:
            if isinstance(error.__context__, PermissionError) or "ermission" in str(error):
                raise TransportError(
                    f"no permission to open {port}: add yourself to the group that owns it "
                    f"(sudo usermod -aG dialout $USER, then log in again)") from None
            if "busy" in str(error).lower():
                raise TransportError(f"{port} is busy: another program (a terminal, "
                                     f"litex_server) holds it; close it first") from None
            raise TransportError(f"cannot open serial port {port}: {error}") from None

    # -- framing ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Resynchronize with the bridge after an error or a foreign program's bytes: wait
        until the line has been quiet for ``resync`` seconds, discarding what arrives.

        The pause outlasts the bridge's idle timeout, so it has dropped any partial command; and
        waiting for quiet, not a fixed time, lets it finish an answer to a read that garbage on
        the line requested (up to 1020 bytes)."""
        limit = time.monotonic() + 5.0 + 2 * 10 * 1020 / self.baud
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < self.resync:
            waiting = self._serial.in_waiting
            if waiting:
                self._serial.read(waiting)
                quiet_since = time.monotonic()
                if quiet_since > limit:
                    raise LinkTimeout(
                        f"{self.name} keeps sending without being asked: is something else "
                        f"than the accelerator's UART bridge on this port, or is the baud rate "
                        f"({self.baud}) wrong?")
            else:
                time.sleep(min(0.005, self.resync / 4))
        self._dirty = False

    def _prepare(self) -> None:
        """Before a command: after an error, wait out the bridge's idle timeout and discard
        stale answer bytes."""
        if self._dirty:
            self.recover()
        self._serial.reset_input_buffer()

    def _send(self, data: bytes) -> None:
        import serial

        try:
            self._serial.write(data)
            self._serial.flush()
            self._queued += len(data)
        except serial.SerialTimeoutException:
            self._dirty = True
            raise LinkTimeout(f"writing to {self.name} timed out after {self.timeout} s: "
                              f"the device does not take data (flow control?); check the "
                              f"port and the board") from None
        except (OSError, serial.SerialException) as error:
            self._dirty = True
            raise TransportError(f"writing to {self.name} failed: {error}") from None

    def _receive(self, n: int) -> bytes:
        import serial

        data = bytearray()
        # The device first works through everything still queued before this read.
        deadline = time.monotonic() + self.timeout + 1.5 * self._queued * self.byte_time
        while len(data) < n:
            try:
                chunk = self._serial.read(n - len(data))
            except (OSError, serial.SerialException) as error:
                self._dirty = True
                raise TransportError(f"reading from {self.name} failed: {error}") from None
            if chunk:
                data += chunk
                deadline = time.monotonic() + self.timeout
            elif time.monotonic() >= deadline:
                self._dirty = True
                raise LinkTimeout(
                    f"no answer from {self.name} at {self.baud} baud within {self.timeout:g} s "
                    f"(got {len(data)} of {n} bytes): check that the baud rate matches the "
                    f"bitstream's, that the board is programmed and its UART bridge is on "
                    f"this port, and that no other program reads the port")
        self._queued = 0
        return bytes(data)

    # -- Transport -------------------------------------------------------------------------

    def _read(self, addr: int, count: int) -> list[int]:
        self._prepare()
        self._send(encode_read(addr, count))
        return list(struct.unpack(f">{count}I", self._receive(4 * count)))

    def _write(self, addr: int, words: list[int]) -> None:
        self._prepare()
        self._send(encode_write(addr, words))

    def batch(self, ops: Iterable[tuple]) -> list[list[int]]:
        """Run many operations with the link kept busy; return the words of each read.

        ``ops`` holds ``("write", addr, words)``, ``("read", addr, count)`` and
        ``("read_fixed", addr, count)`` (``count`` reads of the same word, e.g. polling a status
        register) tuples, done in order. Requests are sent ahead of the answers (at most ``window`` bytes past the oldest
        unanswered read), so round trips do not add up.
        """
        self._prepare()
        answers: list[bytearray] = []
        pending = []      # (request bytes sent up to and including this read, length, index)
        sent = 0

        def collect(room):
            # Receive answers until at most ``room`` request bytes lie past the oldest
            # unanswered read.
            while pending and sent - pending[0][0] > room:
                _, length, index = pending.pop(0)
                answers[index] += self._receive(length)

        def send(command):
            # A command goes out whole, never split across a wait (a gap inside a command
            # could trip the bridge's idle timeout); one larger than the window waits until
            # every answer is in.
            nonlocal sent
            collect(self.window - len(command) if len(command) <= self.window else -1)
            self._send(command)
            sent += len(command)

        for op in ops:
            kind, addr = op[0], op[1]
            if kind == "write":
                words = [int(w) for w in op[2]]
                self._check(addr, len(words))
                for s in range(0, len(words), self.max_burst):
                    send(encode_write(addr + 4 * s, words[s:s + self.max_burst]))
            elif kind in ("read", "read_fixed"):
                count = int(op[2])
                self._check(addr, count)
                fixed = kind == "read_fixed"
                answers.append(bytearray())
                for s in range(0, count, self.max_burst):
                    n = min(self.max_burst, count - s)
                    send(encode_read(addr + (0 if fixed else 4 * s), n, fixed=fixed))
                    pending.append((sent, 4 * n, len(answers) - 1))
            else:
                raise ValueError(f"unknown batch operation {kind!r}; use 'write', 'read' or "
                                 f"'read_fixed'")
        collect(-1)
        return [list(struct.unpack(f">{len(a) // 4}I", a)) for a in answers]

    def close(self) -> None:
        serial, self._serial = getattr(self, "_serial", None), None
        if serial is not None:
            serial.close()

    def __repr__(self):
        return f"UARTTransport({self.name!r}, baud={self.baud})"
