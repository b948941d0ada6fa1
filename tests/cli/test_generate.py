"""hw.generate (cli.generate, hw.synth): the command line that writes Verilog and counts resources."""

import pytest

from cli.generate import main
from core.config import Config
from hw.synth import resources


def test_verilog_of_tiny(tmp_path, capsys):
    out = tmp_path / "accel.v"
    assert main(["--config", "tiny", "--max-inputs", "20", "--encoders", "hybrid,rate",
                 "--output", str(out)]) == 0
    text = out.read_text()
    assert "module snn_accel" in text and "bus__addr" in text
    assert "max_inputs=20" in capsys.readouterr().out


def test_bad_option(capsys):
    assert main(["--lanes", "12"]) == 2
    assert "lanes is 12; it must be a power of two" in capsys.readouterr().err


@pytest.mark.tools
@pytest.mark.slow
def test_resources_of_tiny():
    counts = resources(Config.tiny(trace=False))
    assert counts["LUT"] > 0 and counts["FF"] > 0
