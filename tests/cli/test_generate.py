"""hw.generate (cli.generate, hw.synth): the command line that writes Verilog and counts resources."""

from cli.generate import main
from core.config import Config


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

    assert main(["--config", "huge"]) == 2
    assert "configuration 'huge' is unknown; choose one of 'mnist', 'mnist-cnn', 'cifar10-vgg', 'tiny', 'tiny-conv'" in \
        capsys.readouterr().err


def test_set_and_field_options_are_the_same(capsys):
    # The resources of this command are tested with the other report paths in
    # tests/cli/test_resources.py.
    assert main(["--config", "tiny", "--set", "max_inputs=20", "--lanes", "4",
                 "--set", "dsp_lanes=2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == repr(Config.tiny(max_inputs=20, lanes=4, dsp_lanes=2))

