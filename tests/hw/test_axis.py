"""The AXI-Stream bridge (hw/axis.py) and the bus arbiter (hw/busarbiter.py) in the Amaranth
simulator, against a Python model of the input queue's registers (docs/memory-map.md, "Input
queue"): random back-pressure on H2C, C2H and the bus."""

import collections
import gc
import random

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from core import memmap
from core.config import Config
from hw.axis import AXISBridge, record_words
from hw.busarbiter import BusArbiter

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


class TestParameters:
    def test_errors(self):
        with pytest.raises(TypeError, match="config must be a core.config.Config, not int"):
            AXISBridge(3)
        with pytest.raises(ValueError, match=r"the AXI-Stream bridge feeds the input queue, "
                                             r"which this configuration lacks; build with "
                                             r"Config\(stream=True\) \(--set stream=true\)"):
            AXISBridge(Config.tiny())
        for bad in (0, 16, 48, 2048, "128", True, 128.0):
            with pytest.raises(ValueError, match=rf"data_width must be a multiple of 32 in "
                                                 rf"32 \.\. 1024, not {bad!r}"):
                AXISBridge(Config.tiny(stream=True), bad)
        bridge = AXISBridge(Config.tiny(stream=True), 64)
        assert len(bridge.h2c.p.data) == 64 and len(bridge.h2c.p.keep) == 8
        assert len(bridge.bus.addr) == Config.tiny(stream=True).addr_width
        del bridge
        gc.collect()    # its UnusedElaboratable warning here, where the mark filters it

    def test_arbiter_width(self):
        with pytest.raises(TypeError, match="Address width must be an integer in 1 .. 30"):
            BusArbiter(0)


class QueueModel:
    """What the bridge sees of the accelerator: STATUS, the queue, two result slots."""

    def __init__(self, config, n_out, layers, infer_cycles, rng):
        self.config, self.n, self.layers = config, n_out, layers
        self.infer_cycles, self.rng = infer_cycles, rng
        self.writing, self.queued, self.running, self.left = [], None, None, 0
        self.slots = collections.deque()
        self.started = []
        self.errors = []

    def result(self, words):
        h = hash(tuple(words)) & 0xFFFFFFFF
        arrays = 4 if self.config.spike_count else 3
        return {"cycles": 100 + len(words), "cls": h % 7,
                "arrays": [[(h * (a + 3) + 17 * j) & 0xFFFFFFFF for j in range(self.n)]
                           for a in range(arrays)]}

    def step(self):
        if self.running is not None:
            self.left -= 1
            if self.left <= 0:
                self.slots.append(self.result(self.running))
                self.running = None
        if self.running is None and self.queued is not None and len(self.slots) < 2:
            self.running, self.queued = self.queued, None
            self.left = self.infer_cycles
            self.started.append(self.running)

    def status(self):
        s = memmap.STATUS_BUSY if self.running is not None else 0
        s |= memmap.STATUS_QUEUED if self.queued is not None else 0
        s |= memmap.STATUS_READY if self.slots else 0
        s |= memmap.STATUS_FULL if len(self.slots) == 2 else 0
        return s

    def read(self, addr):
        R = self.config.region_bits
        if addr == memmap.REG_STATUS:
            return self.status()
        if addr == memmap.REG_NET_LAYERS:
            return self.layers
        if addr == memmap.layer_reg(self.layers - 1, memmap.LAYER_N_OUT):
            return self.n
        if not self.slots:
            self.errors.append(f"read of {addr:#x} with no result")
            return 0
        slot = self.slots[0]
        if addr == memmap.REG_CYCLES:
            return slot["cycles"]
        if addr == memmap.REG_CLASS:
            return slot["cls"]
        base, q = memmap.result_base(R), 1 << (R - 2)
        a, j = divmod(addr - base, q)
        if 0 <= a < len(slot["arrays"]) and j < self.n:
            return slot["arrays"][a][j]
        self.errors.append(f"read of {addr:#x}")
        return 0

    def write(self, addr, value):
        if addr == memmap.REG_PIXEL_STREAM:
            if self.queued is not None:
                self.errors.append("PIXEL_STREAM written while an image was queued")
            self.writing.append(value)
        elif addr == memmap.REG_CONTROL and value == memmap.CONTROL_START:
            if self.queued is not None:
                self.errors.append("START while queued (rejected)")
            self.queued, self.writing = self.writing, []
        elif addr == memmap.REG_CONTROL and value == memmap.CONTROL_POP:
            if not self.slots:
                self.errors.append("POP with no result")
            else:
                self.slots.popleft()
        else:
            self.errors.append(f"write of {value:#x} to {addr:#x}")


def run_bridge(frames, *, config, data_width, seed, stall=0.3, n_out=3, layers=2,
               infer_cycles=40, max_cycles=60_000):
    """Send ``frames`` (lists of words) through H2C, collect the C2H frames; return
    (records, model)."""
    rng = random.Random(seed)
    m = Module()
    m.submodules.dut = dut = AXISBridge(config, data_width)
    model = QueueModel(config, n_out, layers, infer_cycles, rng)
    words_per_beat = data_width // 32
    records = []
    violations = []

    async def h2c(ctx):
        for frame in frames:
            beats = [frame[k:k + words_per_beat] for k in range(0, len(frame), words_per_beat)]
            beats = beats or [[]]
            for k, beat in enumerate(beats):
                while rng.random() < stall:
                    await ctx.tick()
                data = sum(w << (32 * i) for i, w in enumerate(beat))
                keep = (1 << (4 * len(beat))) - 1
                ctx.set(dut.h2c.p, {"data": data, "keep": keep, "last": k == len(beats) - 1})
                ctx.set(dut.h2c.valid, 1)
                await ctx.tick().until(dut.h2c.ready)
                ctx.set(dut.h2c.valid, 0)

    async def c2h(ctx):
        words, held = [], None
        while len(records) < len(frames):
            ready = rng.random() >= stall
            ctx.set(dut.c2h.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.c2h.valid, dut.c2h.p)
            payload = (p.data, p.keep, p.last) if valid else None
            if held is not None and payload != held:
                violations.append("C2H beat changed or dropped before it was taken")
            held = None
            if not valid:
                continue
            if not ready:
                held = payload
                continue
            data, keep, last = payload
            for i in range(words_per_beat):
                if keep >> (4 * i) & 1:
                    words.append(data >> (32 * i) & 0xFFFFFFFF)
            if last:
                records.append(words)
                words = []

    async def target(ctx):
        bus = dut.bus
        wait, lat = 0, 1
        for _ in range(max_cycles):
            if len(records) == len(frames):
                return
            await ctx.tick()
            ctx.set(bus.ack, 0)
            model.step()
            if not ctx.get(bus.cyc):
                wait = 0
                continue
            wait += 1
            if wait < lat:
                continue
            addr, we = ctx.get(bus.addr), ctx.get(bus.we)
            if we:
                model.write(addr, ctx.get(bus.w_data))
            else:
                ctx.set(bus.r_data, model.read(addr))
            ctx.set(bus.ack, 1)
            await ctx.tick()
            ctx.set(bus.ack, 0)
            model.step()
            wait, lat = 0, rng.randint(1, 3)
        raise AssertionError(f"{len(records)} of {len(frames)} records after {max_cycles} "
                             f"cycles; model errors {model.errors[:3]}")

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(h2c, background=True)
    sim.add_testbench(c2h)
    sim.add_testbench(target)
    sim.run()
    assert not violations, violations[:3]
    return records, model


def expected(model, frame):
    r = model.result(frame)
    return [model.n, r["cycles"], r["cls"]] + sum(r["arrays"], [])


@pytest.mark.parametrize("data_width,spike_count", [(128, False), (32, True), (96, False)])
def test_frames_through_bridge(data_width, spike_count):
    config = Config.tiny(stream=True, spike_count=spike_count)
    rng = random.Random(data_width)
    frames = [[rng.getrandbits(32) for _ in range(rng.randrange(0, 11))] for _ in range(7)]
    frames[2] = []              # an empty image: one beat without kept bytes, START only
    records, model = run_bridge(frames, config=config, data_width=data_width, seed=5)
    assert not model.errors, model.errors[:3]
    assert model.started == frames
    assert len(records) == len(frames)
    for frame, record in zip(frames, records):
        assert len(record) == record_words(config, model.n)
        assert record[0] & memmap.STATUS_READY
        assert record[1:] == expected(model, frame)


def test_frames_without_stall():
    config = Config.tiny(stream=True)
    frames = [[k + 1] * (k + 3) for k in range(5)]
    records, model = run_bridge(frames, config=config, data_width=64, seed=1, stall=0.0,
                                infer_cycles=5)
    assert not model.errors and model.started == frames
    assert [r[1:] for r in records] == [expected(model, f) for f in frames]


def test_arbiter_serves_both(regfile):
    """Two initiators writing and reading a stand-in register file at random: every transfer
    reaches the target once, with its own data, and each gets its own answers."""
    m = Module()
    m.submodules.arb = arb = BusArbiter(6)
    m.submodules.regs = regs = regfile(6, latency=2)
    wiring.connect(m, arb.target, regs.bus)
    got = {0: [], 1: []}

    def initiator(port, index):
        rng = random.Random(index)

        async def process(ctx):
            base = 32 * index
            for k in range(20):
                for we in (1, 0):
                    while rng.random() < 0.3:
                        await ctx.tick()
                    ctx.set(port.cyc, 1)
                    ctx.set(port.we, we)
                    ctx.set(port.addr, base + k)
                    ctx.set(port.w_data, 1000 * index + k)
                    (data,) = await ctx.tick().sample(port.r_data).until(port.ack)
                    if not we:
                        got[index].append(data)
                    ctx.set(port.cyc, rng.random() < 0.5)   # back to back or not
                ctx.set(port.cyc, 0)
        return process

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(initiator(arb.a, 0))
    sim.add_testbench(initiator(arb.b, 1))
    sim.run()
    assert got[0] == list(range(20)) and got[1] == [1000 + k for k in range(20)]
