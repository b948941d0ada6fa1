"""hw.memories: the memories it lists are those the gateware builds, and its BRAM36 estimate."""

import pytest
from amaranth.hdl import Fragment, Shape
from amaranth.hdl._mem import MemoryInstance

from core.config import Config
from hw.accel import Accelerator
from hw.memories import bram36, memories


def built(config):
    """(name, depth, width) of every memory in the elaborated ``Accelerator(config)``."""
    found = []

    def walk(fragment, name):
        if isinstance(fragment, MemoryInstance):
            found.append((name, fragment._data.depth, Shape.cast(fragment._data.shape).width))
            return
        for sub, sub_name, *_ in fragment.subfragments:
            walk(sub, str(sub_name))
    walk(Fragment.get(Accelerator(config), None), "top")
    return found


@pytest.mark.parametrize("config", [
    Config.tiny(), Config.tiny(stream=True, spike_count=True),
    Config.tiny_conv(bias=True, spike_count=True), Config.tiny(weight_words=2048),
    Config.tiny_conv(spike_count=True, max_inputs=16, max_classes=5, conv_acc_bits=12)],
    ids=["tiny", "stream", "conv-bias-count", "deep-weights", "sized"])
def test_the_listed_memories_are_the_built_ones(config):
    listed = memories(config)
    memories_built = built(config)
    columns = [(d, w) for name, d, w in memories_built if name.startswith("column")]
    others = sorted((d, w) for name, d, w in memories_built if not name.startswith("column"))
    weights = listed[0]
    assert weights.name == "weights" and weights.columns == len(columns)
    assert {d for d, _ in columns} == {weights.depth}
    assert sum(w for _, w in columns) == weights.width == config.word_bits
    assert sorted((m.depth, m.width) for m in listed[1:]) == others


def test_bram36_rule():
    assert bram36(2048, 9) == 0.5            # one RAMB18 at 2K x 9
    assert bram36(2048, 10) == 1.0           # two
    assert bram36(512, 72) == 1.0            # 512 x 36 twice
    assert bram36(1024, 704) == 20.0         # 40 RAMB18 of 1K x 18 (the MNIST CNN's currents)
    assert bram36(4096, 136) == 15.5         # 15 RAMB36 at 4K x 9, a RAMB18 at 4K x 4
    # Depth in two blocks of different aspects, as Yosys builds them (docs/architecture.md):
    assert bram36(3072, 136) == 12.0         # 2K x 9 (16 RAMB18) and 1K x 18 (8)
    assert bram36(2560, 136) == 10.0         # 2K x 9 (16) and 512 x 36 (4)
    assert bram36(4096, 22) == 2.5           # two RAMB36 at 4K x 9, a RAMB18 at 4K x 4
    assert bram36(32768, 22) == 20.0         # eight blocks of 4K: 2 RAMB36 at 4K x 9, a RAMB18


@pytest.mark.parametrize("changes, yosys", [
    ({}, 31.5), ({"stream": True}, 32.5), ({"bias": True, "spike_count": True}, 33.5)])
def test_the_estimate_is_yosys_count_on_measured_configurations(changes, yosys):
    # Yosys's BRAM36 of these configurations (README, "Results": synth_xilinx -widemux 5).
    assert sum(m.bram36 for m in memories(Config(**changes))) == yosys


def test_the_estimate_of_the_mnist_cnn_configuration():
    # Yosys measured 41.5 BRAM36 (docs/architecture.md: eight banks of the current memory in
    # distributed RAM, 256 positions; the membranes without the maps' padding columns, 2,560
    # words): the estimate is 41.0, each memory as Yosys splits it.
    listed = {m.name: m for m in memories(Config.named("mnist-cnn"))}
    banks = {f"currents bank {b}": 0.0 for b in range(8)}
    assert {name: m.bram36 for name, m in listed.items()} == {
        "weights": 28.5, "pixels": 0.0, "membrane": 10.0, "results": 0.0, "event buffer": 2.5,
        **banks, "touched positions": 0.0}
    assert all(listed[name].lutram and listed[name].depth == 32 for name in banks)
    assert listed["pixels"].lutram and listed["results"].lutram
