"""Host side of the UART link: the UARTBone protocol over a serial port (pyserial).

:class:`UARTTransport` speaks the protocol of :mod:`hw.uartbone` (LiteX's UARTBone): a board's
USB-serial port, the pseudo-terminal of the simulated board (``python -m sw.simboard``), or any
pyserial URL (``socket://host:port``, ``loop://``).

Failures never hang: every write and every read of an answer has a deadline and raises
:class:`~core.transport.LinkTimeout` with what to check; a missing device path raises
:class:`~core.transport.TransportError` naming the path and the fix. The deadlines follow what
is in flight: ``timeout`` seconds plus, with a margin, the line time of the bytes that the
device must work through first (request bytes still buffered ahead of a read, or the bytes of
a write that has to wait for room).

The simulated board (:mod:`sim.simboard`) has no baud rate: its speed is that of a Verilator
model, which slows down when the machine is busy. It announces itself in a small file per
pseudo-terminal (:func:`announce_simulated_board`, in ``$XDG_RUNTIME_DIR`` or the temporary
folder); a transport opened on that pty finds it (:func:`simulated_board`) and waits as for a
slow device (``byte_time`` from the board's cycles per byte at :data:`SIM_SLOWEST_CYCLES_PER_S`,
``timeout`` at least :data:`SIM_MIN_TIMEOUT`), and its messages name the simulated board.

After a timeout the bridge may hold a partial command; it drops it after its idle timeout
(:class:`hw.uartbone.UARTBone`), so before the next command the transport waits until the line
has been quiet for ``resync`` seconds, throwing away any late answer bytes
(:meth:`UARTTransport.recover`).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.transport import LinkTimeout, Transport, TransportError

__all__ = ["CMD_WRITE_INCR", "CMD_READ_INCR", "CMD_WRITE_FIXED", "CMD_READ_FIXED",
           "encode_write", "encode_read", "UARTTransport", "DEFAULT_BAUD",
           "announce_simulated_board", "withdraw_simulated_board", "simulated_board",
           "SIM_SLOWEST_CYCLES_PER_S", "SIM_MIN_TIMEOUT", "PIPE_BYTES", "MARGIN"]

CMD_WRITE_INCR = 0x01
CMD_READ_INCR = 0x02
CMD_WRITE_FIXED = 0x03
CMD_READ_FIXED = 0x04
DEFAULT_BAUD = 115200
#: Longest command on the line: a write of 255 words.
MAX_COMMAND = 6 + 4 * 255
#: Most request bytes that can lie between the host and the bridge, sent but not yet taken by
#: it: the kernel's tty buffers (a pty holds about 20 KiB), a USB adapter's buffers, the
#: simulated board's queue (4 KiB) and the bridge's receive FIFO.
PIPE_BYTES = 32 * 1024
#: Factor on the line time of what is in flight, for a device a little slower than its nominal
#: rate (a USB adapter's latency, a simulated board that just slowed down).
MARGIN = 1.5
#: The simulated board's slowest simulation speed assumed (clock cycles per second): the SoC of
#: the ``mnist`` configuration runs at 0.1 .. 3 M cycles/s in Verilator, and this leaves a
#: factor of 5 for a machine whose cores are all busy.
SIM_SLOWEST_CYCLES_PER_S = 20_000
#: Least ``timeout`` on the simulated board: the scheduler of a busy machine may stop it for
#: seconds.
SIM_MIN_TIMEOUT = 10.0


def _marker(port) -> Path:
    """The file in which the simulated board on ``port`` announces itself."""
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    name = os.path.realpath(port).strip("/").replace("/", "_")
    return folder / f"snn-simboard-{os.getuid()}" / f"{name}.json"


def announce_simulated_board(port, *, pid: int, divisor, idle_timeout_bytes: int,
                             description: str = "") -> Path:
    """Say that ``port`` is the pty of a simulated board (process ``pid``, ``divisor`` clock
    cycles per bit, bridge idle timeout ``idle_timeout_bytes`` byte times), so that a
    :class:`UARTTransport` opened on it waits as for a slow device. Returns the file written
    (:mod:`sim.simboard` removes it with :func:`withdraw_simulated_board`)."""
    path = _marker(port)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    facts = {"port": os.path.realpath(port), "pid": int(pid), "divisor": float(divisor),
             "cycles_per_byte": 10 * float(divisor), "idle_timeout_bytes": int(idle_timeout_bytes),
             "description": description}
    fd, tmp = tempfile.mkstemp(prefix=".marker.", dir=path.parent)
    with os.fdopen(fd, "w") as file:
        json.dump(facts, file)
    os.replace(tmp, path)
    return path


def withdraw_simulated_board(port, pid: int) -> None:
    """Remove the announcement of the simulated board ``pid`` on ``port`` (not a newer one)."""
    path = _marker(port)
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def simulated_board(port) -> dict | None:
    """What the simulated board on ``port`` announced (``pid``, ``divisor``,
    ``cycles_per_byte``, ``idle_timeout_bytes``, ``description``), or None: not a simulated
    board, or one whose process has ended (a stale announcement)."""
    try:
        facts = json.loads(_marker(port).read_text())
        if facts["port"] != os.path.realpath(port) or not _alive(int(facts["pid"])):
            return None
        float(facts["cycles_per_byte"]), int(facts["idle_timeout_bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return facts


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
        Seconds of slack on every wait, beyond the line time of what is in flight (at least
        :data:`SIM_MIN_TIMEOUT` on a simulated board). A read waits for its first answer byte
        ``timeout`` plus ``MARGIN * byte_time`` for every request byte that may still lie
        ahead of it (writes return as soon as the OS has buffered them, at most
        :data:`PIPE_BYTES`), and ``timeout`` between answer bytes; a write waits for room
        ``timeout`` plus ``MARGIN * byte_time`` per byte of its command.
    byte_time : float, optional
        Seconds the device takes per byte on the line (default ``10 / baud``; on the simulated
        board, whose pty has no baud rate, its cycles per byte at
        :data:`SIM_SLOWEST_CYCLES_PER_S`).
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
        #: What the simulated board on this pty announced, or None (a board, a URL).
        self.simulated = simulated_board(port) if isinstance(port, str) else None
        if self.simulated:
            if byte_time is None:
                byte_time = self.simulated["cycles_per_byte"] / SIM_SLOWEST_CYCLES_PER_S
            timeout = max(timeout, SIM_MIN_TIMEOUT)
            resync = max(resync, MARGIN * self.simulated["idle_timeout_bytes"] * byte_time)
        self.baud, self.timeout, self.resync, self.window = baud, timeout, resync, window
        self.byte_time = 10 / baud if byte_time is None else byte_time
        self._sent = 0          # request bytes sent since the port was opened
        self._taken = 0         # of those, how many the device has surely worked through
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
            # A command is written whole; it may have to wait until the device has taken as
            # many bytes of what is buffered ahead of it.
            return serial.serial_for_url(port, baudrate=baud, timeout=self.timeout,
                                         write_timeout=self._line_time(MAX_COMMAND))
        except serial.SerialException as error:
            if isinstance(error.__context__, PermissionError) or "ermission" in str(error):
                raise TransportError(
                    f"no permission to open {port}: add yourself to the group that owns it "
                    f"(sudo usermod -aG dialout $USER, then log in again)") from None
            if "busy" in str(error).lower():
                raise TransportError(f"{port} is busy: another program (a terminal, "
                                     f"litex_server) holds it; close it first") from None
            raise TransportError(f"cannot open serial port {port}: {error}") from None

    # -- deadlines and messages -------------------------------------------------------------

    def _line_time(self, count: int) -> float:
        """Seconds to allow for the device to take ``count`` bytes: the timeout plus their
        line time with a margin."""
        return self.timeout + MARGIN * count * self.byte_time

    def _device(self) -> str:
        if self.simulated:
            return f"the simulated board on {self.name}"
        return f"{self.name} at {self.baud} baud"

    def _slow_advice(self) -> str:
        """What to do about a device that did not keep up: the simulated board's state, or
        what to check on a board."""
        if self.simulated:
            pid = int(self.simulated["pid"])
            if not _alive(pid):
                return (f"its process ({pid}) has ended; start 'python -m sw.simboard' again "
                        f"and use the pty it prints")
            return (f"it is a Verilator model (divisor {self.simulated['divisor']:g}, "
                    f"{self.simulated['cycles_per_byte']:g} clock cycles per byte) and slows "
                    f"down when the machine is busy; if it is merely slow, allow more time "
                    f"(sw.run --timeout {max(60, 4 * self.timeout):g})")
        return None

    # -- framing ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Resynchronize with the bridge after an error or a foreign program's bytes: wait
        until the line has been quiet for ``resync`` seconds, discarding what arrives.

        The pause outlasts the bridge's idle timeout, so it has dropped any partial command; and
        waiting for quiet, not a fixed time, lets it finish an answer to a read that garbage on
        the line requested (up to 1020 bytes)."""
        limit = time.monotonic() + 5.0 + 2 * 1020 * self.byte_time
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
            self._sent += len(data)
        except serial.SerialTimeoutException:
            self._dirty = True
            advice = self._slow_advice() or (
                f"if it is merely slow, allow more time (sw.run --timeout "
                f"{max(10, 4 * self.timeout):g}); otherwise check the port, the board and its "
                f"baud rate (this link uses no flow control)")
            allowed = getattr(self._serial, "write_timeout", None) or self._line_time(len(data))
            raise LinkTimeout(f"writing to {self._device()} timed out: the device took no room "
                              f"for a {len(data)}-byte command in {allowed:.1f} s (its line "
                              f"time is {len(data) * self.byte_time:.2f} s); {advice}") from None
        except (OSError, serial.SerialException) as error:
            self._dirty = True
            raise TransportError(f"writing to {self.name} failed: {error}") from None

    def _receive(self, n: int, position: int) -> bytes:
        """The ``n`` answer bytes of the read whose command ends at send position
        ``position``."""
        import serial

        data = bytearray()
        # The device first works through what may still lie ahead of this read.
        ahead = min(position - self._taken, PIPE_BYTES)
        allowed = self._line_time(ahead + 1)
        deadline = time.monotonic() + allowed
        while len(data) < n:
            try:
                chunk = self._serial.read(n - len(data))
            except (OSError, serial.SerialException) as error:
                self._dirty = True
                raise TransportError(f"reading from {self.name} failed: {error}") from None
            if chunk:
                data += chunk
                deadline = time.monotonic() + self._line_time(n - len(data))
            elif time.monotonic() >= deadline:
                self._dirty = True
                advice = self._slow_advice() or (
                    "check that the baud rate matches the bitstream's, that the board is "
                    "programmed and its UART bridge is on this port, and that no other "
                    "program reads the port; if the device is merely slow, allow more time "
                    f"(sw.run --timeout {max(10, 4 * self.timeout):g})")
                raise LinkTimeout(
                    f"no answer from {self._device()} within {allowed:.1f} s (got {len(data)} "
                    f"of {n} bytes): {advice}")
        self._taken = max(self._taken, position)
        return bytes(data)

    # -- Transport -------------------------------------------------------------------------

    def _read(self, addr: int, count: int) -> list[int]:
        self._prepare()
        self._send(encode_read(addr, count))
        return list(struct.unpack(f">{count}I", self._receive(4 * count, self._sent)))

    def _write(self, addr: int, words: list[int]) -> None:
        self._prepare()
        self._send(encode_write(addr, words))

    def batch(self, ops: Iterable[tuple]) -> list[list[int]]:
        """Run many operations with the link kept busy; return the words of each read.

        ``ops`` holds ``("write", addr, words)``, ``("read", addr, count)`` and
        ``("read_fixed", addr, count)`` (``count`` reads of the same word, e.g. polling a status
        register) tuples, done in order. Requests are sent ahead of the answers (at most
        ``window`` bytes past the oldest unanswered read), so round trips do not add up.
        """
        self._prepare()
        answers: list[bytearray] = []
        pending = []      # (send position at the end of this read, length, index)

        def collect(room):
            # Receive answers until at most ``room`` request bytes lie past the oldest
            # unanswered read.
            while pending and self._sent - pending[0][0] > room:
                position, length, index = pending.pop(0)
                answers[index] += self._receive(length, position)

        def send(command):
            # A command goes out whole, never split across a wait (a gap inside a command
            # could trip the bridge's idle timeout); one larger than the window waits until
            # every answer is in.
            collect(self.window - len(command) if len(command) <= self.window else -1)
            self._send(command)

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
                    pending.append((self._sent, 4 * n, len(answers) - 1))
            else:
                raise ValueError(f"unknown batch operation {kind!r}; use 'write', 'read' or "
                                 f"'read_fixed'")
        collect(-1)
        return [list(struct.unpack(f">{len(a) // 4}I", a)) for a in answers]

    @property
    def bytes_sent(self) -> int:
        """Request bytes written to the line since the port was opened."""
        return self._sent

    def close(self) -> None:
        serial, self._serial = getattr(self, "_serial", None), None
        if serial is not None:
            serial.close()

    def __repr__(self):
        return f"UARTTransport({self.name!r}, baud={self.baud})"
