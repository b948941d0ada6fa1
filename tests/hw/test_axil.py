"""AXI4-Lite slave (hw/axil.py) in the Amaranth simulator: independent channels, back-pressure."""

import functools
import random

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.axil import RESP_OKAY, RESP_SLVERR, AXILiteSlave

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


class TestParameters:
    def test_errors(self):
        with pytest.raises(TypeError, match=r"AXI address width must be an integer in "
                                            r"3 \.\. 32, not 2"):
            AXILiteSlave(2)
        with pytest.raises(TypeError, match="not '16'"):
            AXILiteSlave("16")
        s = AXILiteSlave(12)
        assert s.addr_width == 12 and len(s.bus.addr) == 10 and len(s.awaddr) == 12
        assert len(AXILiteSlave(32).bus.addr) == 30


def run_axil(writes, reads, *, regfile, seed=0, latency=1, stall=0.0, addr_width=8, init=(),
             aw_delay=0, w_delay=0, ar_delay=0):
    """Drive ``writes`` [(byte addr, data, strb)] and ``reads`` [byte addr] through independent
    AW, W, B, AR and R processes with random delays (``stall``: probability of idling a cycle)
    and check the AXI rules on the slave's outputs. Return (bresps, rdatas/rresps)."""
    m = Module()
    m.submodules.dut = dut = AXILiteSlave(addr_width)
    m.submodules.regs = regs = regfile(addr_width - 2, latency, init)
    wiring.connect(m, dut.bus, regs.bus)
    rng = random.Random(seed)
    bresps, rresults = [], []
    violations = []

    async def wait_random(ctx):
        while rng.random() < stall:
            await ctx.tick()

    async def aw(ctx):
        for addr, _, _ in writes:
            await ctx.tick().repeat(aw_delay) if aw_delay else None
            await wait_random(ctx)
            ctx.set(dut.awvalid, 1)
            ctx.set(dut.awaddr, addr)
            await ctx.tick().until(dut.awready)
            ctx.set(dut.awvalid, 0)

    async def w(ctx):
        for _, data, strb in writes:
            await ctx.tick().repeat(w_delay) if w_delay else None
            await wait_random(ctx)
            ctx.set(dut.wvalid, 1)
            ctx.set(dut.wdata, data)
            ctx.set(dut.wstrb, strb)
            await ctx.tick().until(dut.wready)
            ctx.set(dut.wvalid, 0)

    async def b(ctx):
        while len(bresps) < len(writes):
            ready = rng.random() >= stall
            ctx.set(dut.bready, ready)
            await ctx.delay(0)
            if ctx.get(dut.bvalid) and ready:
                bresps.append(ctx.get(dut.bresp))
            await ctx.tick()
        ctx.set(dut.bready, 0)

    async def ar(ctx):
        if ar_delay:
            await ctx.tick().repeat(ar_delay)
        for addr in reads:
            await wait_random(ctx)
            ctx.set(dut.arvalid, 1)
            ctx.set(dut.araddr, addr)
            await ctx.tick().until(dut.arready)
            ctx.set(dut.arvalid, 0)

    async def r(ctx):
        while len(rresults) < len(reads):
            ready = rng.random() >= stall
            ctx.set(dut.rready, ready)
            await ctx.delay(0)
            if ctx.get(dut.rvalid) and ready:
                rresults.append((ctx.get(dut.rdata), ctx.get(dut.rresp)))
            await ctx.tick()
        ctx.set(dut.rready, 0)

    async def monitor(ctx):
        # A valid response must stay valid and stable until its handshake.
        prev = None
        async for _, _, bvalid, bready, bresp, rvalid, rready, rdata in ctx.tick().sample(
                dut.bvalid, dut.bready, dut.bresp, dut.rvalid, dut.rready, dut.rdata):
            if prev:
                pbv, pbr, pbresp, prv, prr, prdata = prev
                if pbv and not pbr and (not bvalid or bresp != pbresp):
                    violations.append("bvalid dropped or bresp changed before bready")
                if prv and not prr and (not rvalid or rdata != prdata):
                    violations.append("rvalid dropped or rdata changed before rready")
            prev = (bvalid, bready, bresp, rvalid, rready, rdata)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    for process in (aw, w, b, ar, r):
        sim.add_testbench(process)
    sim.add_testbench(monitor, background=True)
    sim.run()
    assert not violations, violations[:3]
    return bresps, rresults


@pytest.fixture(name="run_axil")
def run_axil_fixture(regfile):
    """:func:`run_axil` on the shared register file (``tests/hw/conftest.py``)."""
    return functools.partial(run_axil, regfile=regfile)


@pytest.mark.parametrize("stall", [0.0, 0.5, 0.8])
@pytest.mark.parametrize("latency", [1, 4])
def test_write_then_read_back(run_axil, stall, latency):
    rng = random.Random(int(stall * 10) + latency)
    addrs = rng.sample(range(64), 40)
    mem = {}
    writes = []
    for a in addrs:
        data = rng.randrange(1 << 32)
        writes.append((4 * a, data, 0b1111))
        mem[a] = data
    # the reads start once the writes are surely done (40 writes, under 50 cycles each)
    bresps, reads = run_axil(writes, [4 * a for a in addrs], seed=2, stall=stall,
                             latency=latency, ar_delay=2000)
    assert bresps == [RESP_OKAY] * len(writes)
    assert [d for d, _ in reads] == [mem[a] for a in addrs]
    assert all(resp == RESP_OKAY for _, resp in reads)


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_concurrent_reads_and_writes(run_axil, stall):
    """The low half is rewritten while the high half is read, all channels at once."""
    rng = random.Random(5)
    init = [rng.randrange(1 << 32) for _ in range(64)]
    writes = [(4 * a, rng.randrange(1 << 32), 0b1111) for a in range(32)]
    reads = [4 * a for a in rng.sample(range(32, 64), 32)]
    bresps, results = run_axil(writes, reads, seed=7, stall=stall, init=init)
    assert bresps == [RESP_OKAY] * 32
    assert results == [(init[a // 4], RESP_OKAY) for a in reads]
    # and everything read back once the writes are done
    new = {a // 4: d for a, d, _ in writes}
    _, back = run_axil(writes, [4 * a for a in range(64)], init=init, ar_delay=400)
    assert [d for d, _ in back] == [new.get(a, init[a]) for a in range(64)]


def test_strobes(run_axil):
    writes = [(0x10, 0x11111111, 0b1111), (0x10, 0x22222222, 0b0011), (0x10, 0x33333333, 0),
              (0x14, 0x44444444, 0b1111)]
    bresps, reads = run_axil(writes, [0x10], ar_delay=100)
    assert bresps == [RESP_OKAY, RESP_SLVERR, RESP_OKAY, RESP_OKAY]
    assert reads[0][0] == 0x11111111   # the partial and empty strobes wrote nothing


@pytest.mark.parametrize("aw_delay,w_delay", [(0, 25), (25, 0), (3, 3)])
def test_address_and_data_arrive_apart(run_axil, aw_delay, w_delay):
    """Addresses long before their data, data long before their addresses, and both together:
    AW and W are independent channels."""
    writes = [(4 * a, 0x1000 + a, 0b1111) for a in range(8)]
    m = {a: 0x1000 + a for a in range(8)}
    bresps, reads = run_axil(writes, [4 * a for a in range(8)], aw_delay=aw_delay,
                             w_delay=w_delay, ar_delay=40 * 8)
    assert bresps == [RESP_OKAY] * 8
    assert [d for d, _ in reads] == [m[a] for a in range(8)]
