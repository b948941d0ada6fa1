"""hw.ecp5: the ECP5 variants of hw.lanes.LaneGroup and hw.neuron.NeuronUnit (MULT18X18D with
its output register) and of hw.weights.WeightMemory (DP16KD with its output register) against
the generic gateware, cycle by cycle, in Icarus with behavioural models of the DSP slice and
the block RAM."""

import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Signal

from hw.ecp5 import registered_product, registered_ram
from hw.lanes import LaneGroup
from hw.neuron import NeuronUnit
from hw.weights import WeightMemory

HERE = Path(__file__).parent / "verilog"


class _ECP5:
    """Stands in for an ECP5 platform: the gateware only asks for the family."""
    family = "ecp5"


def _group():
    return LaneGroup(lanes=8, inputs_per_cycle=1, weight_bits=4, acc_bits=22, dsp_lanes=5)


def test_ecp5_group_instantiates_registered_dsps():
    text = verilog.convert(_group(), name="lanes_ecp5", platform=_ECP5())
    assert text.count("MULT18X18D #(") == 5
    assert '.REG_OUTPUT_CLK("CLK0")' in text and '.REG_INPUTA_CLK("NONE")' in text
    assert "MULT18X18D" not in verilog.convert(_group(), name="lanes_generic")


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_ecp5_lanes_match_generic_lanes(tmp_path):
    out = _run_icarus(tmp_path, verilog.convert(_group(), name="lanes_generic")
                      + verilog.convert(_group(), name="lanes_ecp5", platform=_ECP5()),
                      "lanes_tb.v")
    assert "PASS" in out, out[-2000:]


def _run_icarus(tmp_path, source_text, bench):
    source = tmp_path / "dut.v"
    source.write_text(source_text)
    binary = tmp_path / "tb.vvp"
    # -s: the bench is the only root (the models' modules are otherwise roots of their own)
    subprocess.run(["iverilog", "-g2012", "-s", Path(bench).stem, "-o", str(binary),
                    str(source), str(HERE / "mult18x18d_model.v"),
                    str(HERE / "dp16kd_model.v"), str(HERE / bench)],
                   check=True, capture_output=True, text=True)
    return subprocess.run(["vvp", str(binary)], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_ecp5_neuron_unit_matches_generic(tmp_path):
    def unit():
        return NeuronUnit(16, 22, latency=4)
    text = verilog.convert(unit(), name="neuron_ecp5", platform=_ECP5())
    assert text.count("MULT18X18D #(") == 1
    out = _run_icarus(tmp_path, verilog.convert(unit(), name="neuron_generic") + text,
                      "neuron_tb.v")
    assert "PASS" in out, out[-2000:]


def test_ecp5_weight_memory_instantiates_registered_block_rams():
    text = verilog.convert(WeightMemory(depth=2048, width=20), name="weights_ecp5",
                           platform=_ECP5())
    assert text.count("DP16KD #(") == 3  # columns of 9, 9 and 2 bits
    assert text.count('.REGMODE_B("OUTREG")') == 3
    # deeper than one block RAM: the generic memory (Yosys splits and multiplexes it)
    assert "DP16KD" not in verilog.convert(WeightMemory(depth=2049, width=20),
                                           name="weights_deep", platform=_ECP5())
    assert "DP16KD" not in verilog.convert(WeightMemory(depth=2048, width=20),
                                           name="weights_generic")


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_ecp5_weight_memory_matches_generic(tmp_path):
    def memory():
        return WeightMemory(depth=2048, width=20)
    out = _run_icarus(tmp_path, verilog.convert(memory(), name="weights_generic")
                      + verilog.convert(memory(), name="weights_ecp5", platform=_ECP5()),
                      "weights_tb.v")
    assert "PASS" in out, out[-2000:]


def test_primitive_operands_are_checked():
    m = None  # the operands are checked before anything is added to a module
    with pytest.raises(ValueError, match="operands of 19 and 8 bits do not fit an 18 x 18 "
                                         "multiplier"):
        registered_product(m, Signal(19), Signal(8), a_signed=True, b_signed=False, name="p")
    with pytest.raises(ValueError, match="a 10-bit memory with 11-bit addresses does not fit "
                                         "a 2048 x 9 DP16KD"):
        registered_ram(m, r_addr=Signal(11), w_addr=Signal(11), w_data=Signal(10),
                       w_en=Signal(), name="r")
    with pytest.raises(ValueError, match="a 9-bit memory with 12-bit addresses does not fit "
                                         "a 2048 x 9 DP16KD"):
        registered_ram(m, r_addr=Signal(12), w_addr=Signal(11), w_data=Signal(9),
                       w_en=Signal(), name="r")
