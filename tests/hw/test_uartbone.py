"""UARTBone bridge (hw/uartbone.py) in the Amaranth simulator, against a register file."""

import functools
import random
import struct

import pytest
from amaranth.sim import Simulator

from hw.soc import SoC
from hw.uartbone import UNMAPPED_READ, UARTBone

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


class Reference:
    """What the bridge should do with a byte string made of whole commands."""

    def __init__(self, addr_width):
        self.mem = {}
        self.addr_width = addr_width

    def run(self, data):
        out, i = bytearray(), 0
        while i < len(data):
            cmd = data[i]
            if cmd not in (1, 2, 3, 4):
                i += 1
                continue
            n = data[i + 1]
            (addr,) = struct.unpack(">I", data[i + 2:i + 6])
            i += 6
            for k in range(n):
                a = (addr + (k if cmd in (1, 2) else 0)) & 0xFFFFFFFF
                mapped = a < 1 << self.addr_width
                if cmd in (1, 3):
                    (w,) = struct.unpack(">I", data[i:i + 4])
                    i += 4
                    if mapped:
                        self.mem[a] = w
                else:
                    out += struct.pack(">I", self.mem.get(a, 0) if mapped else UNMAPPED_READ)
        return bytes(out)


class TestParameters:
    def test_errors(self):
        with pytest.raises(TypeError, match=r"Address width must be an integer in 1 \.\. 30, "
                                            r"not 31"):
            UARTBone(addr_width=31, timeout=10)
        with pytest.raises(ValueError, match=r"Idle timeout must be a positive integer number "
                                             r"of clock cycles, not 0"):
            UARTBone(timeout=0)
        bridge = UARTBone(addr_width=12, timeout=99)
        assert bridge.addr_width == 12 and bridge.timeout == 99
        assert len(bridge.bus.addr) == 12


def test_write_then_read(write_cmd, read_cmd, run_bridge):
    words = [0xDEADBEEF, 0x01234567, 0, 0xFFFFFFFF]
    answer, drops = run_bridge([write_cmd(3, words), read_cmd(3, 4), read_cmd(4, 1)])
    assert answer == b"".join(struct.pack(">I", w) for w in words + [words[1]])
    assert not drops


@pytest.mark.parametrize("latency", [1, 3])
@pytest.mark.parametrize("slow_tx", [False, True])
def test_random_commands_against_reference(write_cmd, read_cmd, run_bridge, latency, slow_tx):
    """Random mixes of incrementing / fixed reads and writes, unmapped addresses included, with
    a slow bus and a transmitter that back-pressures."""
    rng = random.Random(latency * 2 + slow_tx)
    aw = 5
    stream = bytearray()
    for _ in range(25):
        kind = rng.choice("wrWR")
        addr = rng.choice([rng.randrange(1 << aw), (1 << aw) - 2, 1 << aw, 0xFFFFFFFF])
        n = rng.choice([0, 1, 2, 5])
        if kind in "wW":
            stream += write_cmd(addr, [rng.randrange(1 << 32) for _ in range(n)], kind == "W")
        else:
            stream += read_cmd(addr, n, kind == "R")
    expect = Reference(aw).run(bytes(stream))
    answer, drops = run_bridge([bytes(stream)], addr_width=aw, latency=latency, timeout=100,
                               tx_ready=(lambda c: c % 7 == 0) if slow_tx else (lambda c: True),
                               settle=3000)
    assert answer == expect
    assert not drops


def test_long_burst(write_cmd, read_cmd, run_bridge):
    words = list(range(1000, 1255))
    answer, _ = run_bridge([write_cmd(0, words[:64]), read_cmd(0, 64)], addr_width=6,
                           settle=600)
    assert answer == b"".join(struct.pack(">I", w) for w in words[:64])


def test_fuzz_then_valid_read(write_cmd, read_cmd, run_bridge):
    """Random bytes on the line, a pause longer than the idle timeout, then a valid command:
    the bridge must answer it correctly whatever the garbage did."""
    for seed in range(8):
        rng = random.Random(seed)
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        # the garbage may write anywhere; the final write + read must still work
        answer, _ = run_bridge([garbage, 60, write_cmd(7, [0xCAFE0000 + seed]), read_cmd(7, 1)],
                               timeout=50, settle=300)
        # the garbage may itself contain read commands, answered first: look at the tail
        assert answer[-4:] == struct.pack(">I", 0xCAFE0000 + seed), (seed, garbage.hex())


@pytest.mark.parametrize("cut", [1, 2, 4, 6, 9])
def test_truncated_command_is_dropped(write_cmd, read_cmd, run_bridge, cut):
    """A command cut short is dropped after the idle timeout; the next command works and the
    partial one never reaches the bus."""
    partial = write_cmd(5, [0x11111111, 0x22222222])[:cut]
    answer, drops = run_bridge([write_cmd(5, [0xAAAAAAAA]), partial, 80,
                                read_cmd(5, 1)], timeout=50)
    assert answer == struct.pack(">I", 0xAAAAAAAA)
    assert len(drops) == 1


def test_slow_bytes_within_timeout_are_kept(write_cmd, read_cmd, run_bridge):
    """Bytes spaced just under the timeout are one command, not dropped."""
    answer, drops = run_bridge([write_cmd(2, [0x5A5A5A5A]), read_cmd(2, 1)], timeout=30,
                               gap=25)
    assert answer == struct.pack(">I", 0x5A5A5A5A)
    assert not drops


def test_timeout_does_not_run_while_answering(write_cmd, read_cmd, run_bridge):
    """A long read held up by a slow host side must not be cut by the idle timeout."""
    answer, drops = run_bridge([write_cmd(0, [1, 2, 3, 4]), read_cmd(0, 4)], timeout=8,
                               tx_ready=lambda c: c % 13 == 0, settle=800)
    assert answer == b"".join(struct.pack(">I", w) for w in [1, 2, 3, 4])
    assert not drops


# -- the whole path through the UART pins (hw.soc.SoC with a register file) ----------------

def run_pins(host_bytes, *, regfile, line_for, decode_line, divisor=4, timeout=None,
             expect=0):
    """Bit-bang ``host_bytes`` into the SoC's rx pin at ``divisor`` cycles per bit and decode
    the answer bytes from its tx pin that follow the last chunk. A chunk is bytes, a list of
    raw per-cycle line levels, or ``"quiet"``: wait, as the host's recovery does, until the tx
    line has been idle for longer than the bridge's idle timeout."""
    soc = SoC(divisor=divisor, timeout=timeout, target=regfile(6, 2))
    out = []
    start = []

    async def bench(ctx):
        for chunk in host_bytes:
            start[:] = [len(out)]
            if isinstance(chunk, str):
                quiet = 0
                while quiet < soc.timeout + 20 * divisor:
                    await ctx.tick()
                    out.append(ctx.get(soc.tx))
                    quiet = quiet + 1 if out[-1] else 0
                continue
            levels = chunk if isinstance(chunk, list) else line_for(chunk, divisor)
            for level in levels:
                ctx.set(soc.rx, level)
                await ctx.tick()
                out.append(ctx.get(soc.tx))
        for _ in range(10 * divisor * (expect + 2)):
            await ctx.tick()
            out.append(ctx.get(soc.tx))

    sim = Simulator(soc)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return bytes(decode_line(out[start[0]:], divisor))


@pytest.fixture(name="run_pins")
def run_pins_fixture(regfile, line_for, decode_line):
    """:func:`run_pins` with the shared register file and UART line helpers."""
    return functools.partial(run_pins, regfile=regfile, line_for=line_for,
                             decode_line=decode_line)


def test_pins_write_read(write_cmd, read_cmd, run_pins):
    answer = run_pins([write_cmd(9, [0x0BADF00D, 0x12345678]) + read_cmd(9, 2)], expect=8)
    assert answer == struct.pack(">II", 0x0BADF00D, 0x12345678)


def test_pins_fuzz_then_read(write_cmd, read_cmd, line_for, run_pins):
    """Random bytes at the right baud rate and at a wrong one, then silence longer than the
    idle timeout, then a valid write and read: the answer is right."""
    rng = random.Random(42)
    for trial in range(3):
        garbage = bytes(rng.randrange(256) for _ in range(12))
        wrong = line_for(garbage, 7)            # sent at divisor 7 to a divisor-4 receiver
        answer = run_pins([garbage, wrong, "quiet",
                           write_cmd(3, [trial + 77]) + read_cmd(3, 1)], timeout=300, expect=4)
        assert answer == struct.pack(">I", trial + 77)
