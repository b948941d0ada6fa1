"""sw.options: the shared argument types, the output checks and the atomic write."""

import argparse

import pytest

from sw import options


@pytest.mark.parametrize("parse,text,message", [
    (options.positive_int, "0", "0 is not a positive integer (1 or more)"),
    (options.positive_int, "-3", "-3 is not a positive integer (1 or more)"),
    (options.positive_int, "x", "'x' is not an integer"),
    (options.nonnegative_int, "-1", "-1 is negative; give 0 or more"),
    (options.positive_float, "-1", "-1 is not a positive number"),
    (options.positive_float, "nan", "nan is not a positive number"),
    (options.positive_float, "inf", "inf is not a positive number"),
    (options.int_range(2, 255, "clock cycles per bit"), "1",
     "1 is outside 2 .. 255 (clock cycles per bit)"),
])
def test_bad_values(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse(text)
    assert str(info.value) == message


def test_good_values():
    assert options.positive_int("7") == 7
    assert options.nonnegative_int("0") == 0
    assert options.positive_float("0.5") == 0.5
    assert options.int_range(2, 5)("5") == 5


def test_input_file(tmp_path):
    with pytest.raises(argparse.ArgumentTypeError, match="does not exist"):
        options.input_file(str(tmp_path / "missing.snn"))
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder; give a file"):
        options.input_file(str(tmp_path))
    (tmp_path / "a.snn").write_bytes(b"x")
    assert options.input_file(str(tmp_path / "a.snn")) == tmp_path / "a.snn"


def test_output_checks_leave_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    assert "is a folder" in options.check_output_file(tmp_path)
    assert "Not a directory" in options.check_output_file(tmp_path / "file" / "out.json")
    assert "No such file" in options.check_output_file("/proc/no/such/out.json")
    assert "is a file, not a folder" in options.check_output_dir(tmp_path / "file")
    assert options.check_output_file(tmp_path / "new" / "deeper" / "out.json") is None
    assert options.check_output_dir(tmp_path / "made" / "here") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]   # the probes left nothing


def test_atomic_write(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with options.atomic_write(target) as f:
        f.write("whole")
    assert target.read_text() == "whole"
    with pytest.raises(RuntimeError):
        with options.atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("stop")
    assert target.read_text() == "whole"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_cli_main_turns_ctrl_c_into_one_line(capsys):
    @options.cli_main("tool")
    def main():
        raise KeyboardInterrupt
    assert main() == options.EXIT_INTERRUPTED
    assert capsys.readouterr().err == "tool: interrupted\n"


def test_set_advice():
    """hw.generate's options become --set items; advice already in that spelling is kept."""
    from_fit = "regenerate the gateware with --max-layers 5 or shrink the network"
    assert options.set_advice(from_fit) == "regenerate the gateware with --set max_layers=5 or " \
                                   "shrink the network"
    kept = "layers[1] has biases; generate the accelerator with --set bias=true"
    assert options.set_advice(kept) == kept
