"""hw.currents: the current memory's read-modify-write (positions back to back, as the
channels of one input position produce them), the update's read-and-zero and the clear, against
a Python dict of sums."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from core.config import Config
from hw.currents import CurrentMemory

SEED = 20261204
CONFIG = Config.tiny_conv(conv_positions=16)


def _signed(value, bits):
    value %= 1 << bits
    return value - (1 << bits) if value >> (bits - 1) else value


@pytest.mark.parametrize("conv_acc_bits, changes", [
    (None, {}), (12, {}), (None, dict(conv_lanes=4, conv_banks=2)),
    (12, dict(lanes=16, conv_lanes=4, conv_banks=4)),
    (None, dict(lanes=32, conv_lanes=4, conv_banks=8))])
def test_sums_match_reference(conv_acc_bits, changes):
    """With conv_acc_bits narrower than the products' sums, they wrap modulo
    2**conv_acc_bits and are read back sign-extended to acc_bits. With banks, a slot adds
    bank b's lanes at the position of its run that lies in bank b."""
    config = CONFIG.replace(conv_acc_bits=conv_acc_bits, **changes)
    dut = CurrentMemory(config)
    PC, A, P, B = config.conv_lanes, config.acc_bits, config.lanes, config.conv_banks
    CA = config.conv_acc_bits
    rng = np.random.default_rng(SEED + B)

    def run_from(low):
        return int(rng.integers(1, min(B, 16 - low) + 1))

    # slots: mostly repeats of the last position or one of the two before (the hazards)
    positions = [int(rng.integers(0, 16))]
    runs = [run_from(positions[0])]
    for _ in range(300):
        if rng.random() < 0.6:
            back = int(rng.integers(1, 3))
            positions.append(positions[-back])
            runs.append(runs[-back])
        else:
            positions.append(int(rng.integers(0, 16)))
            runs.append(run_from(positions[-1]))
    products = rng.integers(-(1 << 12), 1 << 12, size=(len(positions), P))
    want = {}
    for low, run, a in zip(positions, runs, products):
        for p in range(low, low + run):
            lanes = a[p % B * PC:(p % B + 1) * PC]
            want[p] = want.get(p, np.zeros(PC, np.int64)) + lanes
    got = {}

    async def bench(ctx):
        while ctx.get(dut.clearing):          # cleared after the reset
            await ctx.tick()
        # the integration names slot n's position a cycle before its products arrive
        for n in range(len(positions) + 1):
            ctx.set(dut.read_position, positions[n] if n < len(positions) else 0)
            if n:
                ctx.set(dut.slot_valid, 1)
                ctx.set(dut.slot_position, positions[n - 1])
                ctx.set(dut.slot_run, (1 << runs[n - 1]) - 1)
                for k in range(P):
                    ctx.set(dut.acc[k], int(products[n - 1][k]))
            await ctx.tick()
        ctx.set(dut.slot_valid, 0)
        ctx.set(dut.update, 1)
        for p in range(16):                    # read each word, then read it again: zero
            for again in range(2):
                ctx.set(dut.update_position, p)
                ctx.set(dut.update_read, 1)
                await ctx.tick()
                ctx.set(dut.update_read, 0)
                word = [_signed(ctx.get(dut.word[k]), A) for k in range(PC)]
                await ctx.tick()               # the zero is written in this cycle
                if again:
                    assert word == [0] * PC, (p, word)
                elif any(word):
                    got[p] = np.array(word)
        ctx.set(dut.update, 0)
        # a clear zeroes everything: a slot after it adds to zero
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert ctx.get(dut.clearing)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    wrapped = {p: np.array([_signed(int(x), CA) for x in v]) for p, v in want.items()}
    assert set(got) == {p for p, v in wrapped.items() if v.any()}
    for p, v in got.items():
        assert (v == wrapped[p]).all(), (p, v, wrapped[p])
    if conv_acc_bits:     # some sums did wrap
        assert any((wrapped[p] != want[p]).any() for p in want)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_needs_conv():
    with pytest.raises(ValueError, match=r"^the current memory exists only with conv$"):
        CurrentMemory(Config.tiny())
