"""hw.rows: the encoder scan's row queue gives the rows of its mask, lowest first, one per
``next``, against the mask's set bits, for memories of one group, several, and a partial one."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.rows import RowQueue

SEED = 20261204


@pytest.mark.parametrize("rows", [1, 5, 8, 20, 98])
def test_rows_come_lowest_first(rows):
    rng = np.random.default_rng(SEED + rows)
    masks = [0, (1 << rows) - 1, 1 << (rows - 1)]
    masks += [int(sum(1 << r for r in range(rows) if rng.random() < p)) for p in (0.1, 0.5, 0.9)]
    dut = RowQueue(rows)

    async def bench(ctx):
        for mask in masks:
            ctx.set(dut.mask, mask)
            await ctx.tick().repeat(3)            # the first row's register stages
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            got = []
            # Take rows with gaps between them, as the scan does while a row's events go out.
            for k in range(rows + 2):
                if not ctx.get(dut.have):
                    break
                got.append(ctx.get(dut.row))
                ctx.set(dut.next, 1)
                await ctx.tick()
                ctx.set(dut.next, 0)
                for _ in range(k % 3):
                    await ctx.tick()
            want = [r for r in range(rows) if mask >> r & 1]
            assert got == want, (rows, hex(mask))
            assert not ctx.get(dut.have)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_rows_are_checked(raises_exactly):
    raises_exactly(ValueError, "rows must be a positive integer, not 0", lambda: RowQueue(0))
    raises_exactly(ValueError, "rows must be a positive integer, not '8'", lambda: RowQueue("8"))
