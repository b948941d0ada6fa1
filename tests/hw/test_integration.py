"""hw.integration: the integration pipeline against a Python sum of magnitude * weight over the
events since the last clear, with a model of the weight memory (data two cycles after the
address, as hw.weights.WeightMemory)."""


import numpy as np
import pytest
from amaranth.sim import Simulator

from core.config import Config
from hw.integration import IntegrationPipeline
from core.schedule import PIPE_DRAIN

SEED = 20261203


def weight_value(code, bits):
    """A weight field's value (hw.lanes: two's complement; with 1 bit, 1 is +1 and 0 is -1)."""
    if bits == 1:
        return 1 if code else -1
    return code - (1 << bits) if code >> (bits - 1) else code


def _signed(value, bits):
    value %= 1 << bits
    return value - (1 << bits) if value >> (bits - 1) else value


CONFIGS = {
    "tiny": Config.tiny(),                                      # 4 DSP lanes, 4 Booth lanes
    "K2": Config.tiny(inputs_per_cycle=2),
    "P16-U2-w3": Config.tiny(lanes=16, neuron_units=2, dsp_lanes=5, weight_bits=3),
    "binary": Config.tiny(weight_bits=1, dsp_lanes=2),
    "K2-w4-lut": Config.tiny(inputs_per_cycle=2, weight_bits=4, dsp_lanes=0),
}


def test_depth_is_the_schedule_constant():
    assert IntegrationPipeline.depth == PIPE_DRAIN == 5


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sums_match_reference(name):
    cfg = CONFIGS[name]
    P, K, WB, A = cfg.lanes, cfg.inputs_per_cycle, cfg.weight_bits, cfg.acc_bits
    dut = IntegrationPipeline(cfg)
    rng = np.random.default_rng(SEED + len(name))
    memory = [int.from_bytes(rng.bytes(cfg.word_bits // 8), "little")
              for _ in range(cfg.weight_words)]
    # An event or clear entered in cycle c is in `acc` from cycle c + depth + 1 (E, A, W, G,
    # B, then the accumulation), and out of the stages `empty` watches after c + depth - 1.
    lag = dut.depth + 1
    groups = -(-cfg.max_inputs // K)    # an event's input group
    cycles = 1000
    failures = []

    async def bench(ctx):
        slots = []              # per cycle: None, "clear" or the event's P lane terms
        addresses = [0]
        row_base = 0
        since_clear = 0
        want = [0] * P
        for cycle in range(cycles):
            if rng.integers(0, 40) == 0:
                row_base = int(rng.integers(0, cfg.weight_words - 1))
            ctx.set(dut.row_base, row_base)
            kind = rng.choice(["event", "event", "gap", "clear"], p=[0.5, 0.2, 0.25, 0.05])
            if since_clear > cfg.max_inputs // K - 2:
                kind = "clear"
            ctx.set(dut.event.valid, 0)
            ctx.set(dut.clear, 0)
            slot = None
            if kind == "event":
                group = int(rng.integers(0, min(groups, cfg.weight_words - row_base)))
                mags = [int(rng.choice([0, 1, 255, rng.integers(0, 256)])) for _ in range(K)]
                ctx.set(dut.event.valid, 1)
                ctx.set(dut.event.p.group, group)
                for j, mag in enumerate(mags):
                    ctx.set(dut.event.p.magnitudes[j], mag)
                word = memory[row_base + group]
                slot = [sum(mags[j] * weight_value(word >> ((j * P + lane) * WB)
                                                   & ((1 << WB) - 1), WB)
                            for j in range(K)) for lane in range(P)]
                since_clear += 1
            elif kind == "clear":
                ctx.set(dut.clear, 1)
                slot = "clear"
                since_clear = 0
            slots.append(slot)
            # the reference: the sums of the slots that have reached the accumulators
            arrived = slots[cycle - lag] if cycle >= lag else None
            if arrived == "clear":
                want = [0] * P
            elif arrived is not None:
                want = [w + t for w, t in zip(want, arrived)]
            got = [ctx.get(dut.acc[lane]) for lane in range(P)]
            if got != [_signed(w, A) for w in want]:
                failures.append((cycle, "acc", got, want))
            in_flight = any(s is not None for s in slots[max(0, cycle - dut.depth + 1):cycle])
            if ctx.get(dut.empty) != (not in_flight):
                failures.append((cycle, "empty", ctx.get(dut.empty)))
            addresses.append(ctx.get(dut.weight_addr))
            await ctx.tick()
            # the weight memory: the word at the address of two cycles ago
            ctx.set(dut.weights, memory[addresses[-2] % cfg.weight_words])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert not failures, f"{len(failures)} mismatching cycles, first {failures[0]}"


def test_config_is_checked(raises_exactly):
    raises_exactly(TypeError, "config must be a core.config.Config, not str",
            lambda: IntegrationPipeline("x"))
    raises_exactly(TypeError, "config must be a core.config.Config, not type",
            lambda: IntegrationPipeline(Config))
