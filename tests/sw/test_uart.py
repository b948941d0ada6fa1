"""sw.uart.UARTTransport: framing, errors that must not hang, and the simulated board over a pty."""

import os
import random
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
