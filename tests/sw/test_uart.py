"""sw.uart.UARTTransport: framing, errors that must not hang, and the simulated board over a pty."""

import os
import random
import subprocess
import struct
import threading
import time

import pytest

from core.transport import LinkTimeout, TransportError
from sw.uart import UARTTransport, encode_read, encode_write


def test_encoding_matches_litex():
    # LiteX comm_uart: [cmd, length] + big-endian word address + big-endian words
    assert encode_write(0x40, [0x01020304]) == bytes([1, 1, 0, 0, 0, 0x10, 1, 2, 3, 4])
    assert encode_read(0x1000, 3) == bytes([2, 3, 0, 0, 4, 0])
    assert encode_read(8, 1, fixed=True)[0] == 4
    with pytest.raises(ValueError, match="1 .. 255 words, not 256"):
        encode_read(0, 256)
    with pytest.raises(ValueError, match="1 .. 255 words, not 0"):
        encode_write(0, [])


def test_parameter_errors():
    with pytest.raises(ValueError, match="baud rate must be a positive integer, not 0"):
        UARTTransport("/dev/null", baud=0)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        UARTTransport("/dev/null", timeout=0)


def test_missing_device_path():
    path = "/dev/ttyUSB_does_not_exist_42"
    with pytest.raises(TransportError, match=r"serial port /dev/ttyUSB_does_not_exist_42 does "
                                             r"not exist: .*sw\.simboard"):
        UARTTransport(path)


@pytest.fixture
def silent_pty():
    """A pseudo-terminal whose other end never answers."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(slave)
    os.close(master)


def test_silent_port_times_out(silent_pty):
    with UARTTransport(silent_pty, baud=115200, timeout=0.3) as link:
        start = time.monotonic()
        with pytest.raises(LinkTimeout, match=r"no answer from .* at 115200 baud within 0\.3 s "
                                              r"\(got 0 of 4 bytes\): check that the baud "
                                              r"rate matches"):
            link.read_word(0)
        assert time.monotonic() - start < 2.0


class FakeDevice(threading.Thread):
    """The other end of a pty playing a UARTBone device in Python: ``mode`` "ok" answers
    reads from a dict, "short" answers only the first 2 bytes (a wrong baud rate turns the
    answer into fewer, garbled bytes), "chatty" also sends bytes nobody asked for."""

    def __init__(self, master, mode="ok"):
        super().__init__(daemon=True)
        self.master, self.mode, self.mem, self.stop = master, mode, {}, False
        self.buffer = bytearray()

    def run(self):
        while not self.stop:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            self.buffer += chunk
            while len(self.buffer) >= 6:
                cmd, n = self.buffer[0], self.buffer[1]
                (addr,) = struct.unpack(">I", self.buffer[2:6])
                size = 6 + (4 * n if cmd == 1 else 0)
                if len(self.buffer) < size:
                    break
                if cmd == 1:
                    for k in range(n):
                        self.mem[addr + k] = struct.unpack(">I", self.buffer[6 + 4 * k:10 + 4 * k])[0]
                elif cmd == 2:
                    answer = b"".join(struct.pack(">I", self.mem.get(addr + k, 0))
                                      for k in range(n))
                    if self.mode == "short":
                        answer = answer[:2]
                    os.write(self.master, answer)
                del self.buffer[:size]


@pytest.fixture
def fake():
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)
    devices = []

    def make(mode="ok"):
        device = FakeDevice(master, mode)
        device.start()
        devices.append(device)
        return os.ttyname(slave), device
    yield make
    for d in devices:
        d.stop = True
    os.close(slave)
    os.close(master)


def test_round_trip_and_batch_against_fake(fake):
    port, device = fake()
    with UARTTransport(port, timeout=1.0, window=20) as link:
        words = [random.Random(1).randrange(1 << 32) for _ in range(600)]
        link.write(0x100, words)                   # split into 255-word commands
        assert link.read(0x100, 600) == words
        results = link.batch([("write", 0, [7, 8, 9]), ("read", 0, 3), ("read", 4, 1),
                              ("write", 4, [10]), ("read", 0, 2), ("read", 0x100, 300)])
        assert results == [[7, 8, 9], [8], [7, 10], words[:300]]


def test_wrong_baud_short_answer_times_out(fake):
    port, _ = fake("short")
    with UARTTransport(port, timeout=0.3, resync=0.05) as link:
        with pytest.raises(LinkTimeout, match=r"got 2 of 4 bytes"):
            link.read_word(0)


def test_transport_recovers_after_timeout(fake):
    """After a timeout the transport waits for quiet and discards stale bytes."""
    port, device = fake()
    with UARTTransport(port, timeout=0.3, resync=0.05) as link:
        link.write_word(8, 0x1234)
        device.mode = "short"
        with pytest.raises(LinkTimeout):
            link.read_word(8)
        device.mode = "ok"
        assert link.read_word(8) == 0x1234


# -- deadlines that follow what is in flight, and the simulated board recognized --------------

@pytest.fixture
def markers(tmp_path, monkeypatch):
    """Announcements of simulated boards go to a folder of this test."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


def _ended_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_simulated_board_is_recognized(markers, silent_pty):
    from sw.uart import (MARGIN, SIM_MIN_TIMEOUT, SIM_SLOWEST_CYCLES_PER_S,
                         announce_simulated_board, simulated_board, withdraw_simulated_board)

    with UARTTransport(silent_pty, timeout=0.3) as link:
        assert link.simulated is None and link.timeout == 0.3
        assert link.byte_time == pytest.approx(10 / 115200)
    announce_simulated_board(silent_pty, pid=os.getpid(), divisor=8, idle_timeout_bytes=64,
                             description="test")
    assert simulated_board(silent_pty)["cycles_per_byte"] == 80
    with UARTTransport(silent_pty, timeout=0.3) as link:
        assert link.simulated["pid"] == os.getpid()
        assert link.timeout == SIM_MIN_TIMEOUT
        assert link.byte_time == pytest.approx(80 / SIM_SLOWEST_CYCLES_PER_S)
        assert link.resync >= MARGIN * 64 * link.byte_time
    withdraw_simulated_board(silent_pty, os.getpid() + 1)     # not ours: stays
    assert simulated_board(silent_pty) is not None
    withdraw_simulated_board(silent_pty, os.getpid())
    assert simulated_board(silent_pty) is None
    # An announcement left by a board whose process has ended is ignored.
    announce_simulated_board(silent_pty, pid=_ended_pid(), divisor=8, idle_timeout_bytes=64)
    assert simulated_board(silent_pty) is None
    (next(markers.rglob("*.json"))).write_text("not json")
    assert simulated_board(silent_pty) is None


def test_silent_simulated_board_says_so(markers, silent_pty, monkeypatch):
    import sw.uart
    from sw.uart import announce_simulated_board

    monkeypatch.setattr(sw.uart, "SIM_MIN_TIMEOUT", 0.3)
    announce_simulated_board(silent_pty, pid=os.getpid(), divisor=8, idle_timeout_bytes=64)
    with UARTTransport(silent_pty, timeout=0.2, byte_time=1e-4) as link:
        with pytest.raises(LinkTimeout, match=r"no answer from the simulated board on .* within "
                                              r"0\.3 s \(got 0 of 4 bytes\): it is a Verilator "
                                              r"model .* slows down when the machine is busy; "
                                              r"if it is merely slow, allow more time \(sw\.run "
                                              r"--timeout 60\)"):
            link.read_word(0)


def test_write_that_gets_no_room_times_out(silent_pty):
    """Nobody reads the pty: once its buffer is full, a write gives up after its timeout plus
    its own line time, and says what to do if the device is merely slow."""
    with UARTTransport(silent_pty, timeout=0.2) as link:
        start = time.monotonic()
        with pytest.raises(LinkTimeout, match=r"writing to .* at 115200 baud timed out: the "
                                              r"device took no room for a 1026-byte command in "
                                              r"0\.3 s .*if it is merely slow, allow more "
                                              r"time \(sw\.run --timeout 10\)"):
            for _ in range(100):
                link.write(0, list(range(255)))
        assert time.monotonic() - start < 3


class SlowDevice(FakeDevice):
    """A FakeDevice that takes ``rate`` bytes per second from the line."""

    def __init__(self, master, rate):
        super().__init__(master)
        self.rate = rate

    def run(self):
        while not self.stop:
            try:
                self.buffer += os.read(self.master, 256)
            except OSError:
                return
            time.sleep(256 / self.rate)
            self.answer()

    def answer(self):
        while len(self.buffer) >= 6:
            cmd, n = self.buffer[0], self.buffer[1]
            (addr,) = struct.unpack(">I", self.buffer[2:6])
            size = 6 + (4 * n if cmd == 1 else 0)
            if len(self.buffer) < size:
                return
            if cmd == 1:
                for k in range(n):
                    self.mem[addr + k] = struct.unpack(">I", self.buffer[6 + 4 * k:10 + 4 * k])[0]
            elif cmd == 2:
                os.write(self.master, b"".join(struct.pack(">I", self.mem.get(addr + k, 0))
                                               for k in range(n)))
            del self.buffer[:size]


def test_slow_device_gets_the_time_its_bytes_need():
    """12 KB of writes to a device that takes 8 KB/s, then a read: the answer comes after about
    1.5 s, far beyond the 0.2 s timeout, and the read waits for it since its deadline counts the
    bytes still buffered ahead of it (at the device's byte time)."""
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    device = SlowDevice(master, rate=8000)
    device.start()
    try:
        with UARTTransport(os.ttyname(slave), timeout=0.2, byte_time=1 / 6000) as link:
            words = list(range(255))
            start = time.monotonic()
            for k in range(12):
                link.write(4 * 256 * k, words)
            assert link.read(4 * 256 * 11, 255) == words
            assert time.monotonic() - start > 1.0
    finally:
        device.stop = True
        os.close(slave)
        os.close(master)
