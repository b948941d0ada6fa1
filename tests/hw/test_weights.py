"""hw.weights: the weight memory against a Python reference (latency, columns, writes);
its ECP5 variant is compared with it in tests/test_hw_ecp5.py."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.weights import WeightMemory

SEED = 20261130


@pytest.mark.parametrize("depth, width", [(64, 20), (100, 9), (3000, 4), (1, 1)])
def test_weight_memory_matches_reference(depth, width):
    """Random writes and reads every cycle: the word read is the one at the address two cycles
    earlier, with every write done before the cycle after it."""
    dut = WeightMemory(depth=depth, width=width)
    rng = np.random.default_rng(SEED)
    words = [0] * depth
    failures, checked = [], 0

    async def bench(ctx):
        nonlocal checked
        pending = []                  # the expected word of the last two reads
        for cycle in range(600):
            r_addr = int(rng.integers(0, depth))
            w_en = bool(rng.integers(0, 2))
            w_addr = int(rng.integers(0, depth))
            w_data = int(rng.integers(0, 1 << width))
            ctx.set(dut.r_addr, r_addr)
            ctx.set(dut.w_addr, w_addr)
            ctx.set(dut.w_data, w_data)
            ctx.set(dut.w_en, w_en)
            # a read of the word being written in the same cycle is never used
            pending.append(None if w_en and w_addr == r_addr else words[r_addr])
            await ctx.tick()
            if w_en:
                words[w_addr] = w_data
            if len(pending) == 2:
                want = pending.pop(0)
                if want is not None:
                    checked += 1
                    got = ctx.get(dut.r_data)
                    if got != want:
                        failures.append((cycle, got, want))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert checked > 250
    assert not failures, f"seed {SEED}: {len(failures)} mismatches, first {failures[0]}"


def test_weight_memory_parameters_are_checked():
    with pytest.raises(ValueError, match="depth is 0; it must be a positive integer"):
        WeightMemory(depth=0, width=8)
    with pytest.raises(ValueError, match="width is 2.5; it must be a positive integer"):
        WeightMemory(depth=8, width=2.5)
