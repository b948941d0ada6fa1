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


def _run(config, rounds):
    """Each round (a dict): clear (and with ``new`` forget the seen positions), mark
    ``marks`` (one per cycle), start for ``layer`` with ``pending`` and ``last``, then take
    every offered position (``every`` cycles apart). Returns, per round, the positions offered
    in order with their fresh flag and cycle (after start), and the cycle at which ``empty``
    rose."""
    dut = TouchedPositions(config)
    out = []

    async def bench(ctx):
        for r in rounds:
            ctx.set(dut.clear, 1)
            ctx.set(dut.new_inference, r.get("new", False))
            await ctx.tick()
            ctx.set(dut.clear, 0)
            ctx.set(dut.new_inference, 0)
            for p in r["marks"]:
                ctx.set(dut.mark, 1)
                ctx.set(dut.mark_position, p)
                await ctx.tick()
            ctx.set(dut.mark, 0)
            ctx.set(dut.start, 1)
            ctx.set(dut.layer, r.get("layer", 0))
            ctx.set(dut.pending, r.get("pending", False))
            ctx.set(dut.last_block, r.get("last", False))
            await ctx.tick()
            ctx.set(dut.start, 0)
            got, cycle, wait = [], 1, 0
            while not ctx.get(dut.empty):
                assert cycle < 10 * (config.conv_positions + 5), "picking does not end"
                take = False
                if ctx.get(dut.valid):
                    take, wait = wait == 0, (wait + 1) % r.get("every", 1)
                    if take:
                        got.append((ctx.get(dut.position), ctx.get(dut.fresh), cycle))
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
    return marks[:count]


@pytest.mark.parametrize("depth", [64, 8, 2])
def test_picks_the_positions_to_visit_lowest_first(depth):
    """Rounds over three layers and two inferences, against a Python model: the positions
    offered are the touched ones, with ``pending`` also the layer's seen ones; fresh is
    "not seen"; the last block of a step adds its touched positions to the seen ones."""
    config = Config.tiny_conv(conv_positions=depth)
    rng = np.random.default_rng(SEED + depth)
    rounds = []
    for inference in range(2):
        for step in range(4):
            for layer in range(3):
                blocks = 1 + (layer == 1)
                marks = _marks(rng, depth, int(rng.choice([0, 1, 5, 20, depth])))
                pending = bool(step and rng.random() < 0.4)
                for block in range(blocks):
                    rounds.append({"marks": marks, "layer": layer, "pending": pending,
                                   "last": block == blocks - 1, "every": 1 + (block == 1) * 2,
                                   "new": inference and step == layer == block == 0})
    rounds += [{"marks": [depth - 1, 0], "layer": 4, "new": True}]
    seen = {}
    for r, (got, empty_at) in zip(rounds, _run(config, rounds)):
        if r.get("new"):
            seen = {}
        before = seen.get(r["layer"], set())
        want = sorted(set(r["marks"]) | (before if r["pending"] else set())
                      if "pending" in r else set(r["marks"]))
        assert [(p, f) for p, f, _ in got] == [(p, int(p not in before)) for p in want], r
        if r.get("every", 1) == 1 and want:
            # the first position after the picker's start, then one per cycle
            assert [c for _, _, c in got] == list(range(CONV_SKIP_START + 1,
                                                        CONV_SKIP_START + 1 + len(want)))
            assert empty_at == CONV_SKIP_START + len(want) + 1
        if not want:
            assert empty_at == 1
        if r.get("last"):
            seen[r["layer"]] = before | set(r["marks"])


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_needs_conv():
    with pytest.raises(ValueError, match=r"^the touched positions exist only with conv$"):
        TouchedPositions(Config.tiny())
    with pytest.raises(TypeError, match=r"^config must be a core.config.Config, not int$"):
        TouchedPositions(3)
