"""cocotb benches of the AXI4-Lite slave (hw/axil.py) in Verilator and Icarus, driven by
cocotbext-axi's AxiLiteMaster (the part that plays XDMA's M_AXI_LITE), with random pauses on
all five channels and a bus target that answers after a random number of wait states.
"""

import inspect
import itertools
import os
import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import Combine, Timer

from hw.axil import AXILiteSlave
from sim import toolchain

ADDR_WIDTH = 10          # AXI byte address: 256 words
MEMBERS = [("awaddr", ADDR_WIDTH, "in"), ("awprot", 3, "in"), ("awvalid", 1, "in"),
           ("awready", 1, "out"), ("wdata", 32, "in"), ("wstrb", 4, "in"), ("wvalid", 1, "in"),
           ("wready", 1, "out"), ("bresp", 2, "out"), ("bvalid", 1, "out"), ("bready", 1, "in"),
           ("araddr", ADDR_WIDTH, "in"), ("arprot", 3, "in"), ("arvalid", 1, "in"),
           ("arready", 1, "out"), ("rdata", 32, "out"), ("rresp", 2, "out"), ("rvalid", 1, "out"),
           ("rready", 1, "in")]


def make_top():
    """AXILiteSlave in front of a memory that answers after 1 .. 4 cycles (an LFSR picks)."""
    from amaranth import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.memory import Memory
    from amaranth.lib.wiring import In, Out

    class Top(wiring.Component):
        def __init__(self):
            super().__init__({name: (In if d == "in" else Out)(w) for name, w, d in MEMBERS})

        def elaborate(self, platform):
            m = Module()
            m.submodules.axil = axil = AXILiteSlave(ADDR_WIDTH)
            for name, _, d in MEMBERS:
                ours, theirs = getattr(self, name), getattr(axil, name)
                m.d.comb += (theirs.eq(ours) if d == "in" else ours.eq(theirs))
            bus = axil.bus
            m.submodules.mem = mem = Memory(shape=32, depth=1 << len(bus.addr), init=[])
            rd, wr = mem.read_port(), mem.write_port()
            lfsr = Signal(8, init=0xA5)
            wait = Signal(3)
            m.d.comb += [rd.addr.eq(bus.addr), wr.addr.eq(bus.addr), wr.data.eq(bus.w_data),
                         bus.r_data.eq(rd.data)]
            m.d.sync += lfsr.eq((lfsr << 1) | (lfsr[7] ^ lfsr[5] ^ lfsr[4] ^ lfsr[3]))
            m.d.sync += bus.ack.eq(0)
            with m.If(bus.cyc & ~bus.ack):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait >= lfsr[:2]):
                    m.d.sync += [bus.ack.eq(1), wait.eq(0)]
                    m.d.comb += wr.en.eq(bus.we)
            return m

    return Top()


def wrapper():
    decls = []
    for name, width, d in MEMBERS:
        kind = "reg" if d == "in" else "wire"
        rng = f"[{width - 1}:0] " if width > 1 else ""
        init = " = 0" if d == "in" else ""
        decls.append(f"    {kind} {rng}{name} /*verilator public_flat_rw*/{init};")
    ports = ", ".join(f".{n}({n})" for n, _, _ in MEMBERS)
    return ("`timescale 1ns/1ps\nmodule sim_top;\n"
            "    reg clk /*verilator public_flat_rw*/ = 0;\n"
            "    reg rst /*verilator public_flat_rw*/ = 1;\n" + "\n".join(decls) +
            "\n"
            f"    core core (.clk(clk), .rst(rst), {ports});\nendmodule\n")


# -- benches -------------------------------------------------------------------------------

def pauses(seed, p):
    rng = random.Random(seed)
    return itertools.cycle([rng.random() < p for _ in range(997)])


async def setup(dut, pause):
    from cocotbext.axi import AxiLiteBus, AxiLiteMaster

    # The clock comes from cocotb, not from the wrapper: the master samples the ready signals
    # at every rising edge, and with a clock inside a Verilator --timing model the edge
    # callback sees the values after the edge, so a handshake would be seen one cycle late.
    # The first edge comes after 1 ps, when every combinational block has been evaluated once
    # (see sim.toolchain.kick_comb); an edge at time 0 would register X in Icarus.
    await Timer(2, "ns")
    cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
    master = AxiLiteMaster(AxiLiteBus.from_entity(dut), dut.clk, dut.rst)
    if pause:
        master.write_if.aw_channel.set_pause_generator(pauses(1, pause))
        master.write_if.w_channel.set_pause_generator(pauses(2, pause))
        master.write_if.b_channel.set_pause_generator(pauses(3, pause))
        master.read_if.ar_channel.set_pause_generator(pauses(4, pause))
        master.read_if.r_channel.set_pause_generator(pauses(5, pause))
    if os.environ.get("AXIL_TRACE"):
        cocotb.start_soon(trace(dut, int(os.environ["AXIL_TRACE"])))
    dut.rst.value = 1
    await Timer(100, "ns")
    dut.rst.value = 0
    await Timer(50, "ns")
    return master


async def trace(dut, cycles):
    """Log the handshake signals of every channel for ``cycles`` cycles (debugging)."""
    from cocotb.triggers import RisingEdge
    names = ["awvalid", "awready", "wvalid", "wready", "bvalid", "bready", "arvalid", "arready",
             "rvalid", "rready"]
    for _ in range(cycles):
        await RisingEdge(dut.clk)
        dut._log.info(" ".join(f"{n}={dut._id(n, extended=False).value}" for n in names))


def word(value):
    return value.to_bytes(4, "little")


@cocotb.test()
async def write_read_back(dut):
    """Random words, written and read back one by one, then by overlapping transactions."""
    pause = float(os.environ.get("AXIL_PAUSE", "0.3"))
    master = await setup(dut, pause)
    rng = random.Random(11)
    model = {}
    count = int(os.environ.get("AXIL_COUNT", "40"))
    for _ in range(count):
        addr = 4 * rng.randrange(256)
        value = rng.getrandbits(32)
        resp = await master.write(addr, word(value))
        assert int(resp.resp) == 0
        model[addr] = value
        back = await master.read(addr, 4)
        assert int.from_bytes(back.data, "little") == value
    # Many transactions in flight at once: AW, W and AR all busy, responses back-pressured.
    addrs = rng.sample(range(0, 128), 32)
    writes = [master.init_write(4 * a, word(a * 0x01010101)) for a in addrs]
    await Combine(*[w.wait() for w in writes])
    for a in addrs:
        model[4 * a] = a * 0x01010101
    reads = [master.init_read(a, 4) for a in sorted(model)]
    await Combine(*[r.wait() for r in reads])
    for r, a in zip(reads, sorted(model)):
        assert int.from_bytes(r.data.data, "little") == model[a], hex(a)


@cocotb.test()
async def concurrent_disjoint(dut):
    """Writes to one half and reads of the other, started together."""
    master = await setup(dut, float(os.environ.get("AXIL_PAUSE", "0.3")))
    for a in range(128, 256):
        await master.write(4 * a, word(a))
    writes = [master.init_write(4 * a, word(a ^ 0xFFFF)) for a in range(0, 64)]
    reads = [master.init_read(4 * a, 4) for a in range(128, 192)]
    await Combine(*[t.wait() for t in writes + reads])
    assert [int.from_bytes(r.data.data, "little") for r in reads] == list(range(128, 192))
    for a in range(0, 64, 7):
        assert int.from_bytes((await master.read(4 * a, 4)).data, "little") == a ^ 0xFFFF


@cocotb.test()
async def partial_strobe_is_refused(dut):
    """A write with a partial byte strobe answers SLVERR and leaves the word as it was."""
    master = await setup(dut, 0.0)
    await master.write(0x40, word(0x11223344))
    resp = await master.write(0x41, b"\xAA")          # one byte: wstrb = 0b0010
    assert int(resp.resp) == 2                         # SLVERR
    back = await master.read(0x40, 4)
    assert int.from_bytes(back.data, "little") == 0x11223344


# -- pytest entry points -------------------------------------------------------------------

def _design():
    # The bench's own top (make_top) is part of the design: its source enters the key.
    return toolchain.prepare(
        make_top, f"AXILiteSlave({ADDR_WIDTH}) + random-latency memory\n"
                  f"{inspect.getsource(make_top)}",
        name="axil", modules=["hw.axil"], top=wrapper())


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_axil(sim, sim_all):
    pytest.importorskip("cocotbext.axi")
    if not toolchain.available(sim):
        pytest.skip(f"{sim} is not installed")
    env = {"AXIL_COUNT": 200 if sim_all else (40 if sim == "verilator" else 10)}
    results = toolchain.run(_design(), sim, "sim.test_axil", env=env)
    assert results.failed == 0 and results.passed == 3, results.tests
