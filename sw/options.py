"""What every command line shares: argument types that refuse a bad value with one line, output
paths checked before any work starts, writes that never leave half a file, progress on a
terminal only, and one spelling per idea.

The spellings (issue 19): ``--samples N`` is how many images (every tool), ``--data SOURCE`` is
where images come from (a set name or a path), ``--json FILE`` is a JSON report, ``--output``
is the tool's main product (a model file, a build folder, Verilog), ``--config NAME`` is a
hardware configuration (``core.config``).

Argument types raise :class:`argparse.ArgumentTypeError`, so argparse prints
``usage: ...`` and ``PROG: error: argument --x: MESSAGE`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

__all__ = ["ArgumentParser", "positive_int", "nonnegative_int", "positive_float", "int_range", "input_file",
           "input_path", "output_file", "output_dir", "check_output_file", "check_output_dir",
           "atomic_write", "progress", "fail", "add_samples", "add_json", "cli_main", "EXIT_USAGE",
           "EXIT_INTERRUPTED", "set_advice"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130      # the shell's convention for SIGINT


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on standard error (``PROG: error: ...``,
    then where the usage is), with status 2, instead of the usage block and the error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(prog: str, message: str, status: int = EXIT_USAGE) -> int:
    """Print ``PROG: error: MESSAGE`` on standard error and return ``status`` (for ``main``)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status


def set_advice(message: str) -> str:
    """The advice of a :class:`core.config.FitError`, ``--max-layers 4`` (an option of
    ``hw.generate``), in the spelling of the command lines that change a configuration with
    ``--set``: ``--set max_layers=4``. Advice already in that spelling (``--set bias=true``)
    is kept."""
    return re.sub(r"--(?!set )([a-z][a-z-]*) (\S+)",
                  lambda match: f"--set {match[1].replace('-', '_')}={match[2]}", message)


def _number(kind, text):
    try:
        return kind(text)
    except (TypeError, ValueError):
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None


def positive_int(text) -> int:
    """An integer of at least 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer (1 or more)")
    return value


def nonnegative_int(text) -> int:
    """An integer of at least 0."""
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def positive_float(text) -> float:
    """A finite number above 0."""
    value = _number(float, text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def int_range(low: int, high: int, what: str = ""):
    """An argument type for an integer in ``low .. high`` (``what`` says why, in the message)."""
    def parse(text) -> int:
        value = _number(int, text)
        if not low <= value <= high:
            reason = f" ({what})" if what else ""
            raise argparse.ArgumentTypeError(f"{value} is outside {low} .. {high}{reason}")
        return value
    parse.__name__ = f"integer {low}..{high}"
    return parse


def input_path(text) -> Path:
    """An existing file or folder."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    return path


def input_file(text) -> Path:
    """An existing, readable file (not a folder)."""
    path = input_path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text} cannot be read (permission denied)")
    return path


def _probe(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (made with its parents if missing), or None.
    Tried for real, since permission bits say nothing for root or on /proc; whatever the probe
    made is removed again."""
    made = []
    try:
        missing = folder
        while not missing.exists() and missing != missing.parent:
            made.append(missing)
            missing = missing.parent
        for new in reversed(made):
            new.mkdir()
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as error:
        return error.strerror or str(error)
    finally:
        for new in made:
            try:
                new.rmdir()
            except OSError:
                pass
    return None


def check_output_file(path) -> str | None:
    """Why ``path`` cannot be written as a file, or None. Nothing is left behind."""
    path = Path(path)
    if path.is_dir():
        return f"cannot write {path}: it is a folder; give a file name"
    if path.exists() and not os.access(path, os.W_OK):
        return f"cannot write {path}: the file is read-only"
    reason = _probe(path.parent)
    return f"cannot write {path}: {reason}" if reason else None


def check_output_dir(path) -> str | None:
    """Why files cannot be written into the folder ``path`` (made if missing), or None."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return f"cannot write into {path}: it is a file, not a folder"
    reason = _probe(path)
    return f"cannot write into {path}: {reason}" if reason else None


def output_file(text) -> Path:
    """A file that can be written (checked now, before the tool works for minutes)."""
    reason = check_output_file(text)
    if reason:
        raise argparse.ArgumentTypeError(reason)
    return Path(text)


def output_dir(text) -> Path:
    """A folder that exists and is writable, or can be created."""
    reason = check_output_dir(text)
    if reason:
        raise argparse.ArgumentTypeError(reason)
    return Path(text)


@contextmanager
def atomic_write(path, mode: str = "w", **kwargs):
    """Write ``path`` through a temporary file in the same folder, renamed over it only when the
    block succeeds, so that a failure or an interrupt leaves nothing half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as file:
            yield file
        # mkstemp made the file private: give it the mode of an ordinary new file (or keep the
        # mode of the file it replaces).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def progress(iterable=None, *, total=None, desc=None, unit="it", quiet=False):
    """A progress bar on a terminal (standard error), nothing in logs and CI."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                disable=True if quiet else None, dynamic_ncols=True)


def add_samples(parser, *, default, help="images to run", aliases=()):
    """``--samples N`` (a positive integer)."""
    shown = f" (default {default})" if default is not None else ""
    parser.add_argument("--samples", *aliases, type=positive_int, default=default, metavar="N",
                        help=f"{help}{shown}")


def add_json(parser, *, default=None, help="write a JSON report to FILE"):
    """``--json FILE`` (checked writable before any work)."""
    shown = f" (default {default})" if default else ""
    parser.add_argument("--json", type=output_file, default=default, metavar="FILE",
                        help=f"{help}{shown}")


def cli_main(prog: str):
    """Decorate a command line's ``main``: Ctrl-C ends it with one line and status 130 instead
    of a traceback (a tool with a partial result to show catches KeyboardInterrupt itself)."""
    def wrap(main):
        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
        return run
    return wrap
