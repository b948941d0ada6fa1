"""hw.update: the neuron update over a layer's blocks and timesteps against core.golden, with
models of the membrane and result memories; the layer's currents are the golden model's."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from core import memmap
from core.config import Config
from core.schedule import OVERLAP_CHUNKS
from hw.update import NeuronUpdate, TraceSignature
from core import golden
from core.network import Layer, Network

SEED = 20261203


def _network(rng, cfg):
    """A random two-layer network with thresholds that make the neurons fire now and then,
    and its golden trace for one image."""
    n_in = int(rng.integers(1, cfg.max_inputs + 1))
    sizes = [int(rng.integers(1, cfg.max_neurons + 1)) for _ in range(2)]
    M = int(rng.choice([10, cfg.membrane_bits]))
    T = int(rng.integers(2, cfg.max_timesteps + 1))
    x = rng.integers(0, 256, size=(1, n_in))
    layers = []
    fan_in = n_in
    for n_out in sizes:
        neuron = str(rng.choice(["if", "lif"]))
        leak_mode = str(rng.choice(["shift", "factor"]))
        leak = int(rng.integers(1, M) if leak_mode == "shift" else rng.integers(0, 256))
        layers.append(Layer(rng.integers(-8, 8, size=(n_out, fan_in)), 4, 1, neuron, leak_mode,
                            leak, str(rng.choice(["subtract", "zero", "none"])),
                            bool(rng.integers(0, 2))))
        fan_in = n_out
    net = Network(layers, membrane_bits=M, timesteps=T, encoder="direct").validate()
    if cfg.bias:    # biases of either sign up to the layer's threshold, and the extremes
        for layer in layers:
            layer.bias = rng.integers(-100, 101, size=layer.n_out)
            layer.bias[0] = int(rng.choice([-(1 << (M - 1)), (1 << (M - 1)) - 1]))
    # thresholds around the currents' size, layer by layer (a layer's currents do not depend
    # on its own threshold)
    inputs = golden.encode(net, x)[0]
    for k, layer in enumerate(layers):
        scale = max(1, int(np.abs(inputs @ layer.weights.T).mean()))
        layer.threshold = int(min((1 << (M - 1)) - 1, rng.integers(1, 2 * scale + 2)))
        inputs = golden.run(net, x).spikes[k][0].astype(np.int64)
    trace = golden.run(net, x)
    return net, x, trace


class Memories:
    """The membrane memory (data one cycle after the read) and the result memory, as hw.accel
    wires them for one layer; and what the update emits."""

    def __init__(self, ctx, dut, rng):
        cfg = dut.config
        self.ctx, self.dut, self.cfg = ctx, dut, cfg
        U, M = cfg.neuron_units, cfg.membrane_bits
        # stale state from an earlier inference: step 0 must read it as zero
        self.membrane = {c: [(int(rng.integers(-(1 << (M - 1)), 1 << (M - 1))),
                              int(rng.integers(0, 2))) for _ in range(U)]
                         for c in range(cfg.chunks_per_layer)}
        self.results = {c: [(int(rng.integers(0, 2)), int(rng.integers(0, 8)), 7)
                            for _ in range(U)] for c in range(cfg.chunks_per_layer)}
        # the bias memory holds the layer's biases at the membrane memory's addresses; the
        # count memory holds stale counts, read as zero at step 0
        self.biases = {c: [0] * U for c in range(cfg.chunks_per_layer)}
        self.counts = {c: [int(rng.integers(0, 8)) for _ in range(U)]
                       for c in range(cfg.chunks_per_layer)}
        self.spike_entries = []
        self.trace = []
        self.cycle = 0

    def load_biases(self, bias):
        U = self.cfg.neuron_units
        for j, b in enumerate(bias):
            self.biases[j // U][j % U] = int(b)

    async def tick(self):
        ctx, dut, U = self.ctx, self.dut, self.cfg.neuron_units
        read, chunk = ctx.get(dut.read_en), ctx.get(dut.read_chunk)
        count_chunk = ctx.get(dut.count_chunk) if self.cfg.spike_count else None
        counts = list(self.counts[count_chunk]) if self.cfg.spike_count else None
        if self.cfg.spike_count and ctx.get(dut.count_en):
            assert ctx.get(dut.last), "spikes counted for a layer that is not the output"
            self.counts[ctx.get(dut.write_chunk)] = [ctx.get(dut.count_word[k])
                                                     for k in range(U)]
        if ctx.get(dut.write_en):
            c = ctx.get(dut.write_chunk)
            self.membrane[c] = [(ctx.get(dut.write_word[k].v), ctx.get(dut.write_word[k].fired))
                                for k in range(U)]
            en = ctx.get(dut.result_en)
            for k in range(U):
                if en >> k & 1:
                    r = dut.result[k]
                    self.results[c][k] = (ctx.get(r.fired), ctx.get(r.step),
                                          ctx.get(r.potential))
        else:
            assert ctx.get(dut.result_en) == 0
        if ctx.get(dut.spikes_valid):
            self.spike_entries.append((ctx.get(dut.spikes_group), ctx.get(dut.spikes),
                                       ctx.get(dut.spikes_one)))
        if ctx.get(dut.trace.valid):
            tr = dut.trace
            assert (ctx.get(tr.layer), ctx.get(tr.step)) == (ctx.get(dut.layer), ctx.get(dut.t))
            self.trace.append((ctx.get(tr.index), ctx.get(tr.mask), ctx.get(tr.spikes),
                               ctx.get(tr.membrane)))
        await ctx.tick()
        self.cycle += 1
        if read:
            for k, (v, fired) in enumerate(self.membrane[chunk]):
                ctx.set(dut.membrane[k].v, v)
                ctx.set(dut.membrane[k].fired, fired)
                if self.cfg.bias:
                    ctx.set(dut.biases[k], self.biases[chunk][k])
        if self.cfg.spike_count:     # the read a cycle after its address, before the write
            for k in range(U):
                ctx.set(dut.counts[k], counts[k])


CONFIGS = {
    "P8-U4": Config.tiny(membrane_bits=16),
    "P16-U2-K2": Config.tiny(lanes=16, neuron_units=2, inputs_per_cycle=2, max_neurons=40,
                             membrane_bits=16),
    "P4-U1": Config.tiny(lanes=4, neuron_units=1, max_neurons=11, membrane_bits=12),
    "P8-U2-options": Config.tiny(neuron_units=2, membrane_bits=16, bias=True,
                                 spike_count=True),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_layer_steps_match_golden(name):
    cfg = CONFIGS[name]
    P, U, K, M = cfg.lanes, cfg.neuron_units, cfg.inputs_per_cycle, cfg.membrane_bits
    dut = NeuronUpdate(cfg)
    rng = np.random.default_rng(SEED + len(name))
    failures = []

    async def run_layer(ctx, net, x, trace, k):
        layer, last = net.layers[k], k == len(net.layers) - 1
        n_out, T, Mn = layer.n_out, net.timesteps, net.membrane_bits
        mem = Memories(ctx, dut, rng)
        mem.load_biases(layer.bias_or_zero())
        inputs = (golden.encode(net, x)[0] if k == 0
                  else trace.spikes[k - 1][0].astype(np.int64))
        currents = inputs @ layer.weights.T     # (T, n_out)
        ctx.set(dut.mode.lif, layer.neuron == "lif")
        ctx.set(dut.mode.factor, layer.leak_mode == "factor")
        ctx.set(dut.mode.reset, memmap.RESET_CODES[layer.reset])
        ctx.set(dut.mode.fire_once, layer.fire_once)
        ctx.set(dut.leak, layer.leak)
        ctx.set(dut.threshold, layer.threshold)
        ctx.set(dut.last, last)
        ctx.set(dut.vmax, (1 << (Mn - 1)) - 1)
        ctx.set(dut.vmin, -(1 << (Mn - 1)))
        ctx.set(dut.layer, k)
        ctx.set(dut.busy, 1)
        blocks = -(-n_out // P)
        for t in range(T):
            ctx.set(dut.t, t)
            mem.spike_entries, mem.trace = [], []
            ctx.set(dut.load, 1)
            ctx.set(dut.n_out, n_out)
            await mem.tick()
            ctx.set(dut.load, 0)
            await mem.tick()
            for b in range(blocks):
                while ctx.get(dut.running):
                    await mem.tick()
                # the block's sums (the lanes past n_out hold anything)
                for p in range(P):
                    n = b * P + p
                    value = (int(currents[t, n]) if n < n_out
                             else int(rng.integers(-1000, 1000)))
                    ctx.set(dut.acc[p], value)
                for _ in range(int(rng.integers(0, 3))):
                    await mem.tick()
                ctx.set(dut.start, 1)
                await mem.tick()
                ctx.set(dut.start, 0)
                if bool(ctx.get(dut.more_blocks)) != (b < blocks - 1):
                    failures.append((t, b, "more_blocks"))
                chunks = min(P, n_out - b * P)
                chunks = -(-chunks // U)
                read = 1
                while ctx.get(dut.running):
                    # chunks left to read after the one at the port
                    left = chunks - read
                    if bool(ctx.get(dut.near_end)) != (left <= OVERLAP_CHUNKS):
                        failures.append((t, b, "near_end", left))
                    assert ctx.get(dut.read_en) == (left > 0)
                    if left > 0:
                        assert ctx.get(dut.read_chunk) == b * P // U + read
                    read += 1
                    await mem.tick()
                if read - 1 != chunks:     # one cycle per chunk
                    failures.append((t, b, "chunks updated", read - 1, chunks))
            while not ctx.get(dut.drained):
                await mem.tick()
            await mem.tick()    # the last commit, the last spike entry
            await mem.tick()
            # membranes and fired flags of the step
            s_want = trace.spikes[k][0, t]
            v_want = trace.membrane[k][0, t]
            fired_want = trace.spikes[k][0, :t + 1].any(axis=0)
            for n in range(n_out):
                v, fired = mem.membrane[n // U][n % U]
                if (v, bool(fired)) != (int(v_want[n]), bool(fired_want[n])):
                    failures.append((t, n, "membrane", (v, fired), (v_want[n], fired_want[n])))
            # spikes: one entry per chunk with a spike, for any layer but the output layer
            got = set()
            for group, spikes, one in mem.spike_entries:
                first = group * K
                assert first % U == 0
                got |= {first + j for j in range(U) if spikes >> j & 1}
                groups = {j // K for j in range(U) if spikes >> j & 1}
                if spikes == 0 or bool(one) != (len(groups) <= 1):
                    failures.append((t, "spike entry", group, spikes, one))
            want = set() if last else {n for n in range(n_out) if s_want[n]}
            if got != want:
                failures.append((t, "spikes", sorted(got), sorted(want)))
            # the trace: one record per chunk, U lanes, real lanes masked
            records = sorted(mem.trace)
            if [r[0] for r in records] != list(range(0, n_out, U)):
                failures.append((t, "trace records", [r[0] for r in records]))
            for index, mask, spikes, membrane in records:
                lanes = min(U, n_out - index)
                if mask != (1 << lanes) - 1 or spikes >> lanes:
                    failures.append((t, "trace mask", index, mask, spikes))
                for j in range(lanes):
                    v = membrane >> (j * M) & ((1 << M) - 1)
                    v -= (v >> (M - 1)) << M
                    if (v, bool(spikes >> j & 1)) != (int(v_want[index + j]),
                                                      bool(s_want[index + j])):
                        failures.append((t, "trace", index + j, v, v_want[index + j]))
        if last and cfg.spike_count:     # the spikes of each output neuron
            want = trace.count[0].tolist()
            got = [mem.counts[n // U][n % U] for n in range(n_out)]
            if got != want:
                failures.append(("counts", got, want))
        if last:    # first spike step and potential of the output neurons
            for n in range(n_out):
                fired, step, potential = mem.results[n // U][n % U]
                got = (step, potential) if fired else (golden.NEVER, 0)
                want = (int(trace.first_time[0, n]), int(trace.first_potential[0, n]))
                if got != want:
                    failures.append(("result", n, got, want))

    async def bench(ctx):
        for case in range(4):
            net, x, trace = _network(rng, cfg)
            for k in range(2):
                await run_layer(ctx, net, x, trace, k)
                assert not failures, (f"seed {SEED + len(name)}, case {case}, layer {k}: "
                                      f"{len(failures)} mismatches, first {failures[0]}")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_abort_stops_commits():
    cfg = CONFIGS["P16-U2-K2"]
    dut = NeuronUpdate(cfg)

    async def bench(ctx):
        ctx.set(dut.busy, 1)
        ctx.set(dut.t, 1)
        ctx.set(dut.threshold, 1)
        ctx.set(dut.vmax, 1000)
        for p in range(cfg.lanes):
            ctx.set(dut.acc[p], 5)      # every neuron fires
        ctx.set(dut.load, 1)
        ctx.set(dut.n_out, 16)
        await ctx.tick()
        ctx.set(dut.load, 0)
        await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(6):
            await ctx.tick()
        assert ctx.get(dut.write_en) and ctx.get(dut.spikes_valid)
        ctx.set(dut.abort, 1)
        ctx.set(dut.busy, 0)
        await ctx.tick()
        ctx.set(dut.abort, 0)
        for _ in range(12):
            assert not ctx.get(dut.write_en) and not ctx.get(dut.spikes_valid)
            assert not ctx.get(dut.running)
            await ctx.tick()
        assert ctx.get(dut.drained)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_trace_port_only_when_configured():
    members = NeuronUpdate(Config.tiny()).signature.members
    assert members["trace"].signature.members == TraceSignature(Config.tiny()).members
    assert "trace" not in NeuronUpdate(Config.tiny(trace=False)).signature.members


def test_config_is_checked(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not str", lambda: NeuronUpdate("x"))
    raises_exactly(TypeError, "config must be a core.config.Config, not NoneType",
            lambda: NeuronUpdate(None))
