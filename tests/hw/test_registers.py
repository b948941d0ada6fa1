"""hw.registers: the register file driven through its bus, against Python models of the
memories behind it and of the registers (docs/memory-map.md)."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from core import memmap
from core.config import ENCODER_CODES, Config
from hw.registers import RegisterFile

SEED = 20261203
TINY = Config.tiny()    # 64-bit weight words (two slices), S = 4
# 96-bit weight words in a stride of 4 (slice 3 reads 0), S = 8 (two bus words per pixel row),
# fewer weight words than the window holds.
WIDE = Config.tiny(pixels_per_cycle=8, lanes=16, weight_bits=6, weight_words=200)


def _fields(cfg):
    """{address: width} of the network and layer registers."""
    M, L = cfg.membrane_bits, cfg.max_layers
    fields = {memmap.REG_NET_LAYERS: L.bit_length(), memmap.REG_NET_TIMESTEPS: 8,
              memmap.REG_NET_ENCODER: 2, memmap.REG_NET_SEED: 16, memmap.REG_NET_READOUT: 1,
              memmap.REG_NET_MEMBRANE_BITS: 6}
    for i in range(L):
        for offset, width in [(memmap.LAYER_N_IN, 16), (memmap.LAYER_N_OUT, 16),
                              (memmap.LAYER_WEIGHT_ROW, 16), (memmap.LAYER_THRESHOLD, M),
                              (memmap.LAYER_MODE, 5), (memmap.LAYER_LEAK, 8)]:
            fields[memmap.layer_reg(i, offset)] = width
    return fields


class Host:
    """Drives the bus one transfer at a time and models the weight memory (data two cycles
    after the address) and the pixel memory (one cycle) behind the register file, as
    hw.accel wires them while idle."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut, self.cfg = ctx, dut, dut.config
        cfg = self.cfg
        self.weights = {}
        self.pixels = [[0] * cfg.pixels_per_cycle for _ in range(cfg.pixel_rows)]
        self.addr_history = [0]     # the weight memory's address register
        self.strobes = []       # per cycle: (start, abort, clear, reject)

    def _pixel_row(self, addr):
        S, R = self.cfg.pixels_per_cycle, self.cfg.region_bits
        return ((addr % (1 << R)) >> (S // 4).bit_length() - 1) % self.cfg.pixel_rows

    def _weight_index(self, addr):
        cfg = self.cfg
        return (addr % cfg.weight_base) // cfg.weight_stride

    async def tick(self):
        ctx, dut, cfg = self.ctx, self.dut, self.cfg
        addr = ctx.get(dut.bus.addr)
        self.strobes.append(tuple(ctx.get(s) for s in (dut.start, dut.abort, dut.clear,
                                                       dut.reject)))
        if ctx.get(dut.weight_en):
            self.weights[ctx.get(dut.weight_addr)] = ctx.get(dut.weight_data)
        pw = dut.pixel_write
        en, row, data = ctx.get(pw.en), ctx.get(pw.addr), ctx.get(pw.data.as_value())
        for j in range(cfg.pixels_per_cycle // 4):
            if en >> j & 1:
                for q in range(4):
                    k = 4 * j + q
                    self.pixels[row][k] = data >> (8 * k) & 0xFF
        await ctx.tick()
        # weight data in cycle n + 1 is the word at the address of cycle n - 1
        self.addr_history.append(addr)
        w_addr = self.addr_history.pop(0)
        ctx.set(dut.weight_word, self.weights.get(self._weight_index(w_addr), 0))
        ctx.set(dut.pixel_word.as_value(), sum(p << (8 * k)
                                    for k, p in enumerate(self.pixels[self._pixel_row(addr)])))

    async def write(self, addr, data):
        """Write; returns the strobes of the cycle after the acknowledge."""
        ctx, b = self.ctx, self.dut.bus
        ctx.set(b.cyc, 1)
        ctx.set(b.we, 1)
        ctx.set(b.addr, addr)
        ctx.set(b.w_data, data)
        waited = 0
        while not ctx.get(b.ack):
            await self.tick()
            waited += 1
        assert waited <= 1, "a write waits at most for a read's last cycle"
        await self.tick()
        ctx.set(b.cyc, 0)
        ctx.set(b.we, 0)
        return self.strobes_now()

    def strobes_now(self):
        d = self.dut
        return {name: self.ctx.get(getattr(d, name))
                for name in ("start", "abort", "clear", "reject", "weight_en")} | {
                    "pixel_en": self.ctx.get(d.pixel_write.en)}

    async def read(self, addr):
        """Read; returns (data, cycles from the request to the acknowledge)."""
        ctx, b = self.ctx, self.dut.bus
        ctx.set(b.cyc, 1)
        ctx.set(b.we, 0)
        ctx.set(b.addr, addr)
        waited = 0
        while not ctx.get(b.ack):
            assert ctx.get(b.r_data) == 0, "r_data is 0 without ack"
            await self.tick()
            waited += 1
            assert waited < 10, "no acknowledge"
        data = ctx.get(b.r_data)
        await self.tick()
        ctx.set(b.cyc, 0)
        return data, waited


def _run(cfg, bench):
    dut = RegisterFile(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        await bench(Host(ctx, dut), ctx, dut)

    sim.add_testbench(testbench)
    sim.run()


def test_config_is_checked(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not str", lambda: RegisterFile("x"))
    raises_exactly(TypeError, "config must be a core.config.Config, not NoneType",
            lambda: RegisterFile(None))


@pytest.mark.parametrize("cfg", [TINY, WIDE], ids=["tiny", "wide"])
def test_identification_and_read_latency(cfg):
    async def bench(host, ctx, dut):
        for address, value in memmap.identification(cfg).items():
            data, waited = await host.read(address)
            assert data == value, hex(address)
            assert waited == 3, "a read is acknowledged in its fourth cycle"
        # unassigned and write-only registers read as 0
        for address in (0x14, 0x1F, memmap.REG_CONTROL, memmap.REG_CHECKSUM, 0x36, 0x3F,
                        memmap.layer_reg(cfg.max_layers, 0), (1 << cfg.region_bits) - 1):
            assert (await host.read(address))[0] == 0, hex(address)

    _run(cfg, bench)


@pytest.mark.parametrize("cfg", [TINY, Config.tiny(membrane_bits=16, max_layers=2)],
                         ids=["tiny", "m16"])
def test_parameters_write_and_read_back(cfg):
    rng = np.random.default_rng(SEED)
    fields = _fields(cfg)

    async def bench(host, ctx, dut):
        # values after reset (the network's defaults)
        assert ctx.get(dut.network.layers) == 1
        assert ctx.get(dut.network.encoder) == ENCODER_CODES[cfg.encoders[0]]
        assert ctx.get(dut.network.membrane_bits) == cfg.membrane_bits
        for i in range(cfg.max_layers):
            assert ctx.get(dut.layers[i].n_in) == ctx.get(dut.layers[i].threshold) == 1
        assert (await host.read(memmap.REG_NET_SEED))[0] == 1
        want = {}
        for rounds in range(2):
            for address in rng.permutation(list(fields)):
                address = int(address)
                value = int(rng.integers(0, 1 << 32))
                await host.write(address, value)
                want[address] = value & ((1 << fields[address]) - 1)
                if rng.integers(0, 2):  # a read right after the write sees it
                    assert (await host.read(address))[0] == want[address], hex(address)
            for address, value in want.items():
                assert (await host.read(address))[0] == value, hex(address)
        # the ports hold what was written
        net = dut.network
        assert ctx.get(net.seed) == want[memmap.REG_NET_SEED]
        assert ctx.get(net.timesteps) == want[memmap.REG_NET_TIMESTEPS]
        for i in range(cfg.max_layers):
            layer = dut.layers[i]
            assert ctx.get(layer.n_out) == want[memmap.layer_reg(i, memmap.LAYER_N_OUT)]
            assert ctx.get(layer.row) == want[memmap.layer_reg(i, memmap.LAYER_WEIGHT_ROW)]
            assert ctx.get(layer.leak) == want[memmap.layer_reg(i, memmap.LAYER_LEAK)]
            mode = want[memmap.layer_reg(i, memmap.LAYER_MODE)]
            assert ctx.get(layer.mode.lif) == bool(mode & memmap.MODE_LIF)
            assert ctx.get(layer.mode.factor) == bool(mode & memmap.MODE_FACTOR)
            assert ctx.get(layer.mode.reset) == mode >> memmap.MODE_RESET_SHIFT & 3
            assert ctx.get(layer.mode.fire_once) == bool(mode & memmap.MODE_FIRE_ONCE)
            assert (ctx.get(layer.threshold) % (1 << cfg.membrane_bits)
                    == want[memmap.layer_reg(i, memmap.LAYER_THRESHOLD)])

    _run(cfg, bench)


def test_status_inputs_read_back():
    async def bench(host, ctx, dut):
        for status, cycles, cls in [(0b1010, 0xDEADBEEF, 7), (0b0001, 3, 0xFFFF)]:
            ctx.set(dut.status, status)
            ctx.set(dut.cycles, cycles)
            ctx.set(dut.cls, cls)
            assert (await host.read(memmap.REG_STATUS))[0] == status
            assert (await host.read(memmap.REG_CYCLES))[0] == cycles
            assert (await host.read(memmap.REG_CLASS))[0] == cls

    _run(TINY, bench)


def test_control_strobes_and_rejects():
    """START only while idle, ABORT only while busy, CLEAR always, each one cycle after the
    write's acknowledge; parameter, pixel and weight writes while busy are dropped and flagged,
    CONTROL and result-window writes are not."""
    cfg = TINY
    n_in = memmap.layer_reg(0, memmap.LAYER_N_IN)
    quiet = {"start": 0, "abort": 0, "clear": 0, "reject": 0, "weight_en": 0, "pixel_en": 0}

    async def bench(host, ctx, dut):
        C = memmap.REG_CONTROL
        for busy in (0, 1):
            ctx.set(dut.busy, busy)
            for bits in range(8):
                got = await host.write(C, bits)
                want = dict(quiet, start=bits & 1 and not busy, abort=bits >> 1 & 1 and busy,
                            clear=bits >> 2 & 1)
                assert got == {k: int(v) for k, v in want.items()}, (busy, bits, got)
                await host.tick()
                assert host.strobes_now() == quiet, "the strobes last one cycle"
        ctx.set(dut.busy, 0)
        await host.write(n_in, 5)
        await host.tick()   # the write takes effect in this cycle, before busy rises
        ctx.set(dut.busy, 1)
        assert await host.write(n_in, 9) == dict(quiet, reject=1)
        assert await host.write(memmap.pixel_base(cfg.region_bits), 0x01020304) == dict(
            quiet, reject=1)
        assert await host.write(cfg.weight_base + 1, 0x55) == dict(quiet, reject=1)
        assert await host.write(memmap.REG_STATUS, 0xF) == quiet
        assert await host.write(memmap.result_base(cfg.region_bits), 0xF) == quiet
        assert ctx.get(dut.layers[0].n_in) == 5
        assert (await host.read(n_in))[0] == 5
        ctx.set(dut.busy, 0)
        assert await host.write(n_in, 9) == quiet
        assert (await host.read(n_in))[0] == 9
        # back-to-back writes: each takes effect, in order
        for value in (1, 2, 3):
            await host.write(n_in, value)
        assert (await host.read(n_in))[0] == 3
        assert ctx.get(dut.layers[0].n_in) == 3

    _run(cfg, bench)


@pytest.mark.parametrize("cfg", [TINY, WIDE], ids=["tiny", "wide"])
def test_pixels_and_row_flags(cfg):
    """Pixel words reach the pixel memory's write port and read back; a row is flagged while
    any of its words holds a nonzero pixel."""
    rng = np.random.default_rng(SEED + cfg.pixels_per_cycle)
    S, R = cfg.pixels_per_cycle, cfg.region_bits
    words = cfg.pixel_rows * S // 4
    base = memmap.pixel_base(R)

    async def bench(host, ctx, dut):
        nonzero = [False] * words
        data = [0] * words
        for _ in range(60):
            w = int(rng.integers(0, words))
            value = int(rng.choice([0, 0, 1 << int(rng.integers(0, 32)),
                                    rng.integers(0, 1 << 32)]))
            got = await host.write(base + w, value)
            assert got["pixel_en"] == 1 << (w % (S // 4)), "one word of the row written"
            nonzero[w], data[w] = value != 0, value
            await host.tick()   # the write took effect
            want = sum(any(nonzero[r * S // 4:(r + 1) * S // 4]) << r
                       for r in range(cfg.pixel_rows))
            assert ctx.get(dut.row_nonzero) == want
            flat = [p for row in host.pixels for p in row]
            assert flat[4 * w:4 * w + 4] == [value >> (8 * q) & 0xFF for q in range(4)]
        for w in range(words):
            assert (await host.read(base + w))[0] == data[w], w
        for w in range(words):  # all zero again: no row flagged
            await host.write(base + w, 0)
        await host.tick()
        assert ctx.get(dut.row_nonzero) == 0

    _run(cfg, bench)


@pytest.mark.parametrize("cfg", [TINY, WIDE], ids=["tiny", "wide"])
def test_weight_words_are_written_whole(cfg):
    """The earlier 32-bit slices of a weight word wait; the last writes the whole word."""
    rng = np.random.default_rng(SEED + cfg.word_bits)
    subs, stride = cfg.word_bits // 32, cfg.weight_stride
    base = cfg.weight_base

    async def bench(host, ctx, dut):
        want = {}
        for _ in range(12):
            w = int(rng.integers(0, cfg.weight_words))
            slices = [int(rng.integers(0, 1 << 32)) for _ in range(subs)]
            for sub, value in enumerate(slices):
                got = await host.write(base + w * stride + sub, value)
                last = sub == subs - 1
                assert got["weight_en"] == last, (w, sub)
                if last:
                    assert ctx.get(dut.weight_addr) == w
                    assert ctx.get(dut.weight_data) == sum(v << (32 * k)
                                                           for k, v in enumerate(slices))
            want[w] = slices
        for w, slices in want.items():
            for sub in range(stride):
                data, _ = await host.read(base + w * stride + sub)
                assert data == (slices[sub] if sub < subs else 0), (w, sub)
        # outside the memory: no write
        if cfg.weight_words * stride < cfg.weight_base:
            for sub in range(subs):
                got = await host.write(base + cfg.weight_words * stride + sub, 0xFFFFFFFF)
                assert got["weight_en"] == 0

    _run(cfg, bench)


def test_result_window():
    cfg = Config.tiny(membrane_bits=16)
    R = cfg.region_bits

    async def bench(host, ctx, dut):
        ctx.set(dut.result_time, 0xA5)
        ctx.set(dut.result_potential, -5)
        ctx.set(dut.result_membrane, 1234)
        for lane in (0, 1, 3, (1 << (R - 2)) - 1):
            assert ((await host.read(memmap.result_array(R, memmap.RESULT_FIRST_TIME) + lane))
                    [0] == 0xA5)
            assert ((await host.read(memmap.result_array(R, memmap.RESULT_FIRST_POTENTIAL)
                                     + lane))[0] == (-5) % (1 << 32))
            assert ((await host.read(memmap.result_array(R, memmap.RESULT_FINAL_MEMBRANE)
                                     + lane))[0] == 1234)
            assert (await host.read(memmap.result_array(R, 3) + lane))[0] == 0

    _run(cfg, bench)


def test_spike_count_window_and_readout_register():
    """With spike_count: the count of the lane read at array 3 of the result window, and a
    two-bit NET_READOUT (code 2, spike_count)."""
    cfg = Config.tiny(membrane_bits=16, spike_count=True)
    R = cfg.region_bits

    async def bench(host, ctx, dut):
        ctx.set(dut.result_count, 7)
        for lane in (0, 5, (1 << (R - 2)) - 1):
            got = await host.read(memmap.result_array(R, memmap.RESULT_SPIKE_COUNT) + lane)
            assert got[0] == 7
        await host.write(memmap.REG_NET_READOUT, 2)
        assert (await host.read(memmap.REG_NET_READOUT))[0] == 2
        assert ctx.get(dut.network.readout) == 2

    _run(cfg, bench)


def test_bias_window():
    """Bias window writes reach the bias memory's write port as one lane (neuron ``j`` of
    layer ``l``: word ``Cat(j // U, l)``, lane ``j mod U``, the low M bits); reads return the
    lane of the word the bus address selects, sign-extended; writes while busy or past the
    last layer do not reach the memory."""
    cfg = Config.tiny(membrane_bits=16, bias=True)
    U, M, L = cfg.neuron_units, cfg.membrane_bits, cfg.max_layers
    rng = np.random.default_rng(SEED + 15)
    memory = {}

    def capture(ctx, dut):
        bw = dut.bias_write
        en = ctx.get(bw.en)
        for k in range(U):
            if en >> k & 1:
                memory[ctx.get(bw.addr), k] = ctx.get(bw.data[k])
        return en

    async def bench(host, ctx, dut):
        want = {}
        for _ in range(20):
            layer, j = int(rng.integers(0, L)), int(rng.integers(0, cfg.max_neurons))
            value = int(rng.choice([-(1 << (M - 1)), (1 << (M - 1)) - 1, -1,
                                    rng.integers(-300, 300)]))
            await host.write(memmap.bias_address(cfg, layer, j), value & 0xFFFFFFFF)
            assert capture(ctx, dut) == 1 << (j % U)
            assert memory[layer * cfg.chunks_per_layer + j // U, j % U] == value
            want[layer, j] = value
        for (layer, j), value in want.items():
            word = layer * cfg.chunks_per_layer + j // U
            for k in range(U):    # the bias memory's word at the bus address
                ctx.set(dut.bias_data[k], memory.get((word, k), 0))
            got, _ = await host.read(memmap.bias_address(cfg, layer, j))
            assert got == value & 0xFFFFFFFF, (layer, j)
        # past the last layer, and while busy: nothing written
        await host.write(memmap.bias_address(cfg, L, 0), 5)
        assert capture(ctx, dut) == 0
        ctx.set(dut.busy, 1)
        got = await host.write(memmap.bias_address(cfg, 0, 0), 5)
        assert capture(ctx, dut) == 0 and got["reject"]

    _run(cfg, bench)
