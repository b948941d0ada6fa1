"""Benches of the simulation harness itself, on the stand-in register file (``sim/standin.py``).

They check the build helpers, the wrapper's bus sequencer, the posted-write transport driven
from a bridged blocking thread, the trace capture and the reset command, in Verilator and
Icarus, independently of the accelerator.
"""

import random

import cocotb
import pytest
from cocotb.task import bridge

from sim.harness import CocotbTransport, Harness
from sim.standin import RegisterFile

from . import toolchain

START, STATUS, STEPS = 0, 4, 8


@cocotb.test()
async def registers_read_back(dut):
    """Random words written to the plain registers read back, alone and in bursts."""
    h = Harness(dut)
    await h.reset()
    rng = random.Random(1)
    values = [rng.getrandbits(32) for _ in range(13)]
    await h.write(12, values)
    assert await h.read(12, 13) == values
    # Interleaved single transfers, the sequencer presenting them back to back.
    for k in range(13):
        h.post_write(12 + 4 * k, [values[k] ^ 0xFFFFFFFF])
        h.post_read(12 + 4 * k)
    assert await h.flush() == [v ^ 0xFFFFFFFF for v in values]
    # An unmapped address answers the target's filler.
    assert await h.read(4 * 200) == [0xDEADBEEF]


@cocotb.test()
async def blocking_transport_and_trace(dut):
    """A blocking 'driver' in a bridge thread starts runs and polls; the trace holds every step."""
    h = Harness(dut)
    await h.reset()
    transport = CocotbTransport(h, poll_cycles=16)

    def driver(steps):
        transport.write_word(START, steps)      # posted
        polls = 0
        while not transport.read_word(STATUS) & 1:
            polls += 1
        return polls, transport.read_word(STEPS)

    for steps in (1, 5, 100):
        h.clear_trace()
        flushes = h.flushes
        polls, seen = await bridge(driver)(steps)
        assert seen == steps
        # Polling waits on irq: a long run costs a few wake-ups, not one per cycle.
        assert h.flushes - flushes <= 3 + steps // 16, (h.flushes - flushes, steps)
        records = h.trace()
        assert [r["payload"]["step"] for r in records] == list(range(steps))
        for r in records:
            step = r["payload"]["step"]
            assert r["payload"]["spikes"] == step & 3
            expect = [-step, step * 3]
            expect = [((v + 2048) % 4096) - 2048 for v in expect]  # 12-bit signed lanes
            assert r["payload"]["membrane"] == expect
        # The countdown sets its done flag with the last record, so the wrapper sees irq
        # rise `steps` cycles after it saw the START write acknowledged.
        assert h.irq_cycles == steps, h.irq_cycles
    transport.close()


@cocotb.test()
async def reset_in_the_middle(dut):
    """A reset during a run stops it: no irq, status reads idle, registers back to zero."""
    h = Harness(dut)
    await h.reset()
    await h.write(12, [0x1234])
    h.clear_trace()
    await h.write(START, [200])
    await h.idle(50)
    await h.reset(3)
    count = len(h.trace_words())
    assert 40 <= count <= 60, count
    assert h.irq == 0
    assert await h.read(STATUS) == [0]
    assert await h.read(12) == [0]
    await h.idle(300)
    assert len(h.trace_words()) == count  # nothing ran after the reset
    # And the target works again afterwards.
    await h.write(START, [3])
    assert await h.wait_irq(100)


# -- pytest entry points -------------------------------------------------------------------

def _design():
    return toolchain.prepare(lambda: RegisterFile(16), "RegisterFile(depth=16)",
                             cmd_depth=256, name="standin")


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_harness(sim, sim_all):
    if not toolchain.available(sim):
        pytest.skip(f"{sim} is not installed")
    if sim == "verilator" and not sim_all:
        # The accelerator benches run the same harness in Verilator; a second Verilator build
        # (~30 s) only for the stand-in is left to --sim-all.
        pytest.skip("the stand-in runs in Verilator with --sim-all only")
    results = toolchain.run(_design(), sim, "sim.test_harness")
    assert results.failed == 0 and results.passed == 3, results.tests
