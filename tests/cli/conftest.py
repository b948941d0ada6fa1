"""What the command-line tests share: running a command line as a user does, and the check
that a bad input fails cleanly (issue 19)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(module, *args, cwd=None, timeout=600, env=None):
    """``python -m MODULE ARGS...`` in ``cwd``; the completed process (text output)."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=environment)


def fails_cleanly(result, *words, absent=()):
    """The command failed as issue 19 asks: a non-zero exit, one line on standard error that
    contains every one of ``words``, no traceback, and none of the paths ``absent`` left
    behind."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0, f"exit 0; stderr: {result.stderr!r}"
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {result.stderr!r}"
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    for path in absent:
        assert not Path(path).exists(), f"{path} was left behind"
    return lines[0]


@pytest.fixture(name="run_cli")
def run_cli_fixture():
    """:func:`run_cli`."""
    return run_cli


@pytest.fixture(name="fails_cleanly")
def fails_cleanly_fixture():
    """:func:`fails_cleanly`."""
    return fails_cleanly
