"""hw.sequencer: its parameter check, its handshakes against the components' ports, and its
states through one short inference (a one-layer, one-step network) and an abort, with the
components stood in by the testbench."""

import gc

import pytest
from amaranth.sim import Simulator

from core.config import Config
from core.schedule import SETUP_CYCLES
from hw.convupdate import ConvWalk
from hw.events import EventBuffer
from hw.integration import IntegrationPipeline
from hw.readout import ReadoutScan
from hw.scan import EncoderScan
from hw.sequencer import Sequencer
from hw.update import NeuronUpdate


def test_config_must_be_a_config(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not int",
                   lambda: Sequencer(3))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("config", [Config.tiny(), Config.tiny_conv()], ids=["tiny", "conv"])
def test_handshakes_match_the_components_ports(config):
    """Each handshake member is the like-named port of its component, of the same shape and
    the other direction (``hw.sequencer.join`` wires them by name)."""
    seq = Sequencer(config)
    peers = {"scan": EncoderScan(config), "events": EventBuffer(config),
             "integration": IntegrationPipeline(config), "update": NeuronUpdate(config),
             "readout": ReadoutScan(config)}
    if config.conv:
        peers["walk"] = ConvWalk(config)
    else:
        assert "walk" not in seq.signature.members
    for group, peer in peers.items():
        for name, member in seq.signature.members[group].signature.members.items():
            theirs = peer.signature.members[name]
            assert theirs.flow == member.flow.flip(), (group, name)
            assert theirs.shape == member.shape, (group, name)
    del seq, peers, peer
    gc.collect()    # their UnusedElaboratable warnings here, where the mark filters them


def run(config, bench):
    dut = Sequencer(config)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    async def testbench(ctx):
        await bench(ctx, dut)
    sim.add_testbench(testbench)
    sim.run()


def setup_network(ctx, dut, layers=1, timesteps=1):
    ctx.set(dut.network.layers, layers)
    ctx.set(dut.network.timesteps, timesteps)
    ctx.set(dut.network.membrane_bits, 8)
    for i in range(layers):
        ctx.set(dut.layers[i].n_out, 10 + i)
        ctx.set(dut.layers[i].n_in, 20)
        ctx.set(dut.layers[i].row, 100 * i)
        ctx.set(dut.layers[i].threshold, 7)


async def start(ctx, dut):
    """START, then SETUP: returns in STEP's first cycle."""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    assert ctx.get(dut.busy) == 1 and ctx.get(dut.cycles) == 0
    assert ctx.get(dut.status) == 0b0001
    for _ in range(SETUP_CYCLES):
        assert ctx.get(dut.scan.step) == 0
        await ctx.tick()


def test_one_layer_one_step():
    """IDLE -> SETUP -> STEP -> BLOCK -> ACCUM -> UPDATE -> READOUT -> FINISH -> IDLE, each
    transition one cycle after its condition; CYCLES counts the busy cycles."""
    async def bench(ctx, dut):
        setup_network(ctx, dut)
        await start(ctx, dut)
        await ctx.tick()                            # STEP waits for the scan
        assert ctx.get(dut.scan.step) == 0 and ctx.get(dut.update.load) == 0
        ctx.set(dut.scan.ready, 1)
        assert ctx.get(dut.scan.step) == 1 and ctx.get(dut.events.step) == 1
        assert ctx.get(dut.update.load) == 1 and ctx.get(dut.update.n_out) == 10
        await ctx.tick()                            # BLOCK
        assert ctx.get(dut.layer) == 0 and ctx.get(dut.n_out) == 10
        assert ctx.get(dut.threshold) == 7 and ctx.get(dut.last) == 1
        assert ctx.get(dut.row_base) == 0
        ctx.set(dut.scan.first_block, 1)
        assert ctx.get(dut.integration.clear) == 1 and ctx.get(dut.scan.block) == 1
        assert ctx.get(dut.events.replay) == 0
        await ctx.tick()                            # ACCUM: the scan's events
        ctx.set(dut.scan.active, 1)
        assert ctx.get(dut.events.run) == 0 and ctx.get(dut.update.start) == 0
        ctx.set(dut.scan.done, 1)
        ctx.set(dut.integration.empty, 1)
        assert ctx.get(dut.update.start) == 1 and ctx.get(dut.scan.finish) == 1
        await ctx.tick()                            # UPDATE, until drained
        assert ctx.get(dut.readout.start) == 0
        ctx.set(dut.update.drained, 1)
        assert ctx.get(dut.readout.start) == 1
        await ctx.tick()                            # READOUT
        assert ctx.get(dut.readout.run) == 1
        ctx.set(dut.readout.cls, 3)
        ctx.set(dut.readout.done, 1)
        await ctx.tick()                            # FINISH
        assert ctx.get(dut.busy) == 1 and ctx.get(dut.done) == 0
        await ctx.tick()                            # IDLE
        assert ctx.get(dut.busy) == 0 and ctx.get(dut.done) == 1
        assert ctx.get(dut.result_class) == 3 and ctx.get(dut.status) == 0b0010
        # SETUP, STEP twice (once waiting for the scan), BLOCK, ACCUM, UPDATE, READOUT, FINISH
        assert ctx.get(dut.cycles) == SETUP_CYCLES + 7
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert ctx.get(dut.status) == 0
    run(Config.tiny(), bench)


def test_abort_returns_to_idle():
    """ABORT in BLOCK: idle one cycle later, ABORTED set, no state's strobes; START again
    clears ABORTED."""
    async def bench(ctx, dut):
        setup_network(ctx, dut)
        await start(ctx, dut)
        ctx.set(dut.scan.ready, 1)
        await ctx.tick()                            # BLOCK
        ctx.set(dut.abort, 1)
        assert ctx.get(dut.integration.clear) == 1
        await ctx.tick()
        ctx.set(dut.abort, 0)
        assert ctx.get(dut.busy) == 0 and ctx.get(dut.status) == 0b0100
        assert ctx.get(dut.events.run) == 0 and ctx.get(dut.integration.clear) == 0
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.busy) == 1 and ctx.get(dut.status) == 0b0001
    run(Config.tiny(), bench)


def test_next_layer_and_next_step():
    """A layer's end: the next layer's registers (BLOCK), then after the last layer the next
    step (STEP) while ``t + 1 < T``."""
    async def bench(ctx, dut):
        setup_network(ctx, dut, layers=2, timesteps=2)
        await start(ctx, dut)
        assert ctx.get(dut.more_steps) == 1
        ctx.set(dut.scan.ready, 1)
        await ctx.tick()                            # BLOCK
        await ctx.tick()                            # ACCUM
        ctx.set(dut.scan.active, 1)
        ctx.set(dut.scan.done, 1)
        ctx.set(dut.integration.empty, 1)
        await ctx.tick()                            # UPDATE
        ctx.set(dut.update.drained, 1)
        assert ctx.get(dut.events.next_layer) == 1 and ctx.get(dut.update.n_out) == 11
        await ctx.tick()                            # BLOCK, layer 1
        assert ctx.get(dut.layer) == 1 and ctx.get(dut.row_base) == 100
        assert ctx.get(dut.last) == 1
        await ctx.tick()                            # ACCUM
        await ctx.tick()                            # UPDATE
        assert ctx.get(dut.events.next_layer) == 0 and ctx.get(dut.readout.start) == 0
        await ctx.tick()                            # STEP, t = 1
        assert ctx.get(dut.t) == 1 and ctx.get(dut.more_steps) == 0
        assert ctx.get(dut.scan.step) == 1
    run(Config.tiny(), bench)
