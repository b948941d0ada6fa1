"""``snn-accel`` (cli.main): one entry point that dispatches to every command line."""

import importlib
import subprocess
import sys

import pytest

from cli.main import COMMANDS, main


def test_usage_lists_every_command(capsys):
    assert main(["--help"]) == 0 and main(["help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: snn-accel COMMAND [ARGS...]")
    for name in COMMANDS:
        assert f"\n  {name} " in out


def test_no_command_is_a_usage_error(capsys):
    """Like argparse: the usage on standard error and status 2 (``--help``: stdout, 0)."""
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: snn-accel COMMAND")
    for name in COMMANDS:
        assert f"\n  {name} " in err


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err == ("snn-accel: error: unknown command 'frobnicate'; choose one of "
                   f"{', '.join(COMMANDS)} (see snn-accel --help)\n")
    assert main(["evalute"]) == 2
    assert "unknown command 'evalute'; did you mean 'evaluate'?" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_main(name):
    assert callable(importlib.import_module(COMMANDS[name][0]).main)


def test_arguments_reach_the_command(capsys):
    assert main(["generate", "--lanes", "12"]) == 2
    assert "lanes is 12; it must be a power of two" in capsys.readouterr().err


def test_python_m_runs_the_same_command():
    """``python -m hw.generate`` and ``snn-accel generate`` share their ``main``."""
    done = subprocess.run([sys.executable, "-m", "hw.generate", "--lanes", "12"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "lanes is 12; it must be a power of two" in done.stderr
