"""hw.touched: the touched positions of a conv block, marked as the current memory's writes
come (repeats back to back, as the channels of one input position produce them) and picked
lowest first, one per cycle, against a Python set; a clear forgets everything, including the
words of groups marked before it."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from core.config import Config
from core.schedule import CONV_SKIP_START
from hw.touched import TouchedPositions

SEED = 20261204


def _run(config, rounds, width=None):
    """Each round: clear, mark its positions (one per cycle), start, then take every offered
    position (``take_every`` cycles apart). Returns, per round, the positions offered in order
    with the cycle (after start) of each, and the cycle at which ``empty`` rose. With
    ``width`` (of a map whose rows are ``2**ceil(log2(width))`` positions) the offered
    positions' compact ones too, as (position, compact) pairs."""
    dut = TouchedPositions(config)
    out = []

    async def bench(ctx):
        if width is not None:
            ctx.set(dut.out_width, width)
            ctx.set(dut.out_w_bits, (width - 1).bit_length())
        for marks, take_every in rounds:
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for mark in marks:   # a position, or (lowest position, run length)
                p, run = mark if isinstance(mark, tuple) else (mark, 1)
                ctx.set(dut.mark, 1)
                ctx.set(dut.mark_position, p)
                ctx.set(dut.mark_run, (1 << run) - 1)
                await ctx.tick()
            ctx.set(dut.mark, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            got, cycle, wait = [], 1, 0
            while not ctx.get(dut.empty):
                assert cycle < 10 * (len(marks) + 5), "picking does not end"
                take = False
                if ctx.get(dut.valid):
                    take, wait = wait == 0, (wait + 1) % take_every
                    if take:
                        position = ctx.get(dut.position)
                        if width is not None:
                            position = (position, ctx.get(dut.compact))
                        got.append((position, cycle))
                ctx.set(dut.take, take)
                await ctx.tick()
                ctx.set(dut.take, 0)
                cycle += 1
            out.append((got, cycle))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def _marks(rng, depth, count):
    marks = [int(rng.integers(0, depth))]
    for _ in range(count - 1):
        marks.append(marks[-1] if rng.random() < 0.4 else int(rng.integers(0, depth)))
    return marks


@pytest.mark.parametrize("depth", [64, 8, 2])
def test_picks_every_touched_position_lowest_first(depth):
    config = Config.tiny_conv(conv_positions=depth)
    rng = np.random.default_rng(SEED + depth)
    rounds = [(_marks(rng, depth, n), every)
              for n, every in ((20, 1), (5, 1), (0, 1), (30, 3), (1, 1), (depth, 2))]
    rounds.append(([depth - 1, 0], 1))
    for (marks, every), (got, empty_at) in zip(rounds, _run(config, rounds)):
        want = sorted(set(marks))
        assert [p for p, _ in got] == want, (marks, got)
        if every == 1 and want:
            # the first position after the picker's start, then one per cycle
            assert [c for _, c in got] == list(range(CONV_SKIP_START + 1,
                                                     CONV_SKIP_START + 1 + len(want)))
            assert empty_at == CONV_SKIP_START + len(want) + 1
        if not want:
            assert empty_at == 1


@pytest.mark.parametrize("banks, depth", [(2, 64), (8, 64), (4, 8), (8, 16)])
def test_runs_of_positions_with_banks(banks, depth):
    """With banks a mark is a run of up to ``banks`` positions, which may cross into the next
    group of 8 (the even and odd groups' memories)."""
    config = Config.tiny_conv(lanes=8 * banks, conv_lanes=8, conv_banks=banks,
                              conv_positions=depth)
    rng = np.random.default_rng(SEED + banks + depth)

    def runs(count):
        out = []
        for _ in range(count):
            if out and rng.random() < 0.4:
                out.append(out[-1])
                continue
            low = int(rng.integers(0, depth))
            out.append((low, int(rng.integers(1, min(banks, depth - low) + 1))))
        return out
    rounds = [(runs(n), every) for n, every in ((20, 1), (3, 1), (12, 2), (40, 1))]
    rounds.append(([(6, banks)] if depth >= 6 + banks else [(0, banks)], 1))
    for (marks, every), (got, empty_at) in zip(rounds, _run(config, rounds)):
        want = sorted({p for low, run in marks for p in range(low, low + run)})
        assert [p for p, _ in got] == want, (marks, got)
        if every == 1:
            assert [c for _, c in got] == list(range(CONV_SKIP_START + 1,
                                                     CONV_SKIP_START + 1 + len(want)))


@pytest.mark.parametrize("depth, width", [(64, 5), (64, 3), (64, 1), (64, 16), (8, 3), (2, 1)])
def test_compact_position_drops_padding_columns(depth, width):
    # a map of `width` columns padded to a power of two: row * width + column of each offered
    # position, whether its group of 8 positions lies in one row or spans several
    config = Config.tiny_conv(conv_positions=depth)
    wb = (width - 1).bit_length()
    rng = np.random.default_rng(SEED + 7 * width)
    real = [p for p in range(depth) if p & ((1 << wb) - 1) < width]
    rounds = [([int(p) for p in rng.choice(real, size=min(12, len(real)))], 1), (real, 1)]
    for (marks, _), (got, _) in zip(rounds, _run(config, rounds, width)):
        assert [p for (p, _), _ in got] == sorted(set(marks))
        assert [c for (_, c), _ in got] == [(p >> wb) * width + (p & ((1 << wb) - 1))
                                             for (p, _), _ in got]


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_needs_conv():
    with pytest.raises(ValueError, match=r"^the touched positions exist only with conv$"):
        TouchedPositions(Config.tiny())
    with pytest.raises(TypeError, match=r"^config must be a core.config.Config, not int$"):
        TouchedPositions(3)
