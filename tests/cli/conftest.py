"""What the command-line tests share: running a command line as a user does, and the check
that a bad input fails cleanly (issue 19)."""

import contextlib
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(module, *args, cwd=None, timeout=600, env=None, subprocess_=False):
    """``python -m MODULE ARGS...`` in ``cwd``; a completed process (text output).

    By default the module's ``main`` runs in this process (the imports are paid once for a
    whole table of cases, and an exception that escapes ``main`` fails the test as a
    traceback would); ``subprocess_=True`` starts a real ``python -m`` (signals, exit codes
    set by the interpreter)."""
    args = [str(a) for a in args]
    if subprocess_:
        environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, env=environment)
    main = importlib.import_module(module).main
    out, err = io.StringIO(), io.StringIO()
    previous, saved_env = os.getcwd(), dict(os.environ)
    os.environ.update(env or {})
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(args)
            except SystemExit as exit:
                status = exit.code if isinstance(exit.code, int) else (exit.code is not None)
    finally:
        os.chdir(previous)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess([module, *args], status or 0, out.getvalue(),
                                       err.getvalue())


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
