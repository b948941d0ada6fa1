"""What the gateware tests share: a stand-in bus target, UARTBone command bytes, a bridge run in
the simulator, and UART line levels. Each is a fixture that returns the function (or class), so
that a test names what it uses in its arguments."""

import gc
import struct
import warnings

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from hw import bus
from hw.soc import BusChecksum
from hw.uartbone import UARTBone


class RegFile(wiring.Component):
    """Stand-in bus target: ``2**addr_width`` words of memory that answer after ``latency``
    cycles (at least 1), and count the transfers they see."""

    def __init__(self, addr_width=6, latency=1, init=()):
        self.latency = latency
        self.init = list(init)
        self.addr_width = addr_width
        super().__init__({"bus": In(bus.Signature(addr_width)), "transfers": wiring.Out(16)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=32, depth=1 << self.addr_width, init=self.init)
        rd, wr = mem.read_port(), mem.write_port()
        wait = Signal(range(self.latency + 1))
        m.d.comb += [rd.addr.eq(self.bus.addr), wr.addr.eq(self.bus.addr),
                     wr.data.eq(self.bus.w_data), self.bus.r_data.eq(rd.data)]
        with m.If(self.bus.cyc & ~self.bus.ack):
            m.d.sync += wait.eq(wait + 1)
            with m.If(wait == self.latency - 1):
                m.d.sync += [wait.eq(0), self.bus.ack.eq(1),
                             self.transfers.eq(self.transfers + 1)]
                m.d.comb += wr.en.eq(self.bus.we)
        with m.Else():
            m.d.sync += self.bus.ack.eq(0)
        return m


def write_cmd(addr, words, fixed=False):
    return bytes([3 if fixed else 1, len(words)]) + struct.pack(">I", addr) + \
        b"".join(struct.pack(">I", w) for w in words)


def read_cmd(addr, count, fixed=False):
    return bytes([4 if fixed else 2, count]) + struct.pack(">I", addr)


def run_bridge(chunks, *, addr_width=6, latency=1, timeout=40, tx_ready=lambda c: True,
               gap=0, settle=400, checksum=None):
    """Feed byte ``chunks`` to a bridge (a chunk is bytes, or an int: that many idle cycles);
    return (bytes answered, drop pulses, bus transfers)."""
    m = Module()
    m.submodules.bridge = bridge = UARTBone(addr_width=addr_width, timeout=timeout)
    m.submodules.regs = regs = RegFile(addr_width, latency)
    if checksum is not None:   # (reg, ranges) of an hw.soc.BusChecksum between the two
        m.submodules.checksum = tap = BusChecksum(addr_width, *checksum)
        wiring.connect(m, bridge.bus, tap.initiator)
        wiring.connect(m, tap.target, regs.bus)
    else:
        wiring.connect(m, bridge.bus, regs.bus)
    answer, drops = bytearray(), []
    done = []

    async def producer(ctx):
        for chunk in chunks:
            if isinstance(chunk, int):
                await ctx.tick().repeat(chunk)
                continue
            for byte in chunk:
                ctx.set(bridge.rx.valid, 1)
                ctx.set(bridge.rx.payload, byte)
                await ctx.tick().until(bridge.rx.ready)
                ctx.set(bridge.rx.valid, 0)
                if gap:
                    await ctx.tick().repeat(gap)
        await ctx.tick().repeat(settle)
        done.append(True)

    async def consumer(ctx):
        cycle = 0
        while not done:
            ctx.set(bridge.tx.ready, tx_ready(cycle))
            await ctx.delay(0)
            if ctx.get(bridge.tx.valid) and ctx.get(bridge.tx.ready):
                answer.append(ctx.get(bridge.tx.payload))
            if ctx.get(bridge.dropped):
                drops.append(cycle)
            await ctx.tick()
            cycle += 1

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return bytes(answer), drops


def frame_bits(byte, stop=1):
    """Reference: the line levels of one 8N1 frame, one per bit."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def decode_line(levels, divisor):
    """Reference receiver: decode a per-cycle list of line levels into bytes, sampling each bit
    in its middle (the line must start idle)."""
    out, t = [], 0
    while t < len(levels):
        if levels[t] == 0:
            where = [t + int(k * divisor + divisor / 2) for k in range(10)]
            bits = [levels[w] for w in where if w < len(levels)]
            if len(bits) < 10:
                break
            assert bits[0] == 0 and bits[9] == 1, f"bad frame at cycle {t}: {bits}"
            out.append(sum(b << i for i, b in enumerate(bits[1:9])))
            t += int(9.5 * divisor)
        else:
            t += 1
    return out


def line_for(data, divisor, *, gap=0, stop=1, period=None):
    """Per-cycle line levels for ``data``; ``period`` (float cycles per bit) models a sender
    whose clock differs from the receiver's."""
    period = divisor if period is None else period
    bits = [1] * 7
    for byte in data:
        bits += frame_bits(byte, stop) + [1] * gap
    levels, t = [], 0.0
    for b in bits:
        t += period
        levels += [b] * (round(t) - len(levels))
    return levels


@pytest.fixture
def regfile():
    """:class:`RegFile`: ``regfile(addr_width=6, latency=1, init=())``."""
    return RegFile


@pytest.fixture(name="write_cmd")
def write_cmd_fixture():
    """:func:`write_cmd`: the bytes of a UARTBone write command."""
    return write_cmd


@pytest.fixture(name="read_cmd")
def read_cmd_fixture():
    """:func:`read_cmd`: the bytes of a UARTBone read command."""
    return read_cmd


@pytest.fixture(name="run_bridge")
def run_bridge_fixture():
    """:func:`run_bridge`: a UARTBone bridge and a register file in the simulator."""
    return run_bridge


@pytest.fixture(name="decode_line")
def decode_line_fixture():
    """:func:`decode_line`: the reference UART receiver."""
    return decode_line


@pytest.fixture(name="line_for")
def line_for_fixture():
    """:func:`line_for`: the line levels of a byte string."""
    return line_for


def raises_exactly(exception, message, make):
    """``make()`` raises ``exception`` with exactly ``message``; the warning that a half-built
    component was never elaborated is silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(exception) as info:
            make()
        assert str(info.value) == message
        del info
        gc.collect()


@pytest.fixture(name="raises_exactly")
def raises_exactly_fixture():
    """:func:`raises_exactly`: a constructor's exact error message."""
    return raises_exactly
