"""hw.ecp5: the ECP5 variants (MULT18X18D with its output register) of hw.lanes.LaneGroup and
hw.neuron.NeuronUnit against the generic gateware, cycle by cycle, in Icarus with a behavioural
model of the DSP slice."""

import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog

from hw.lanes import LaneGroup
from hw.neuron import NeuronUnit

HERE = Path(__file__).parent / "verilog"


class _ECP5:
    """Stands in for an ECP5 platform: LaneGroup only asks for the family."""
    family = "ecp5"


def _group():
    return LaneGroup(lanes=8, inputs_per_cycle=1, weight_bits=4, acc_bits=22, dsp_lanes=5)


def test_ecp5_group_instantiates_registered_dsps():
    text = verilog.convert(_group(), name="lanes_ecp5", platform=_ECP5())
    assert text.count("MULT18X18D #(") == 5
    assert '.REG_OUTPUT_CLK("CLK0")' in text and '.REG_INPUTA_CLK("NONE")' in text
    assert "MULT18X18D" not in verilog.convert(_group(), name="lanes_generic")


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
    subprocess.run(["iverilog", "-g2012", "-o", str(binary), str(source),
                    str(HERE / "mult18x18d_model.v"), str(HERE / bench)],
                   check=True, capture_output=True, text=True)
    return subprocess.run(["vvp", str(binary)], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog (iverilog)")
def test_ecp5_neuron_unit_matches_generic(tmp_path):
    def unit():
        return NeuronUnit(16, 22, latency=4)
    text = verilog.convert(unit(), name="neuron_ecp5", platform=_ECP5())
    assert text.count("MULT18X18D #(") == 1
    out = _run_icarus(tmp_path, verilog.convert(unit(), name="neuron_generic") + text,
                      "neuron_tb.v")
    assert "PASS" in out, out[-2000:]
