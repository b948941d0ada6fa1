"""Co-simulate the accelerator against the golden model: the library under ``sw.cosim``.

:func:`run_cosim` builds the accelerator (once per configuration, cached under ``build/``) for
Verilator or Icarus, writes a job of networks and images for :mod:`sim.cosim_run` into a run
folder of its own (:func:`sim.toolchain.run_folder`, so that runs side by side, in one process
or two, never mix their files), runs it and returns its result: the host driver
``sw.device.Device`` loads each network through the memory map and runs every image; every
spike and membrane value of every layer and timestep, the read-out results and the class are
compared with ``core.golden.run``. The command line is
``python -m sw.cosim`` (:mod:`cli.cosim`).
"""

from __future__ import annotations

import shutil
import statistics
import time

from sw.options import atomic_write

from . import designs, toolchain
from .cosim_run import CHUNK, read_result, write_job

__all__ = ["run_cosim", "summary_line", "rate_text", "CosimError"]


class CosimError(RuntimeError):
    """The co-simulation could not run (bad arguments, missing tools, a crashed simulator)."""


def summary_line(result: dict) -> str:
    """The one line ``python -m sw.cosim`` prints::

        cosim: <inferences> inferences, <mismatches> mismatches, <cycles> cycles/inference median
    """
    cycles = result.get("cycles") or [0]
    return (f"cosim: {result['inferences']} inferences, {result['mismatches']} mismatches, "
            f"{int(statistics.median(cycles))} cycles/inference median")


def rate_text(inferences: int, seconds: float) -> str:
    """A simulation speed with the digits it deserves: ``127 inferences/s``, ``3.4
    inferences/s``, or ``26.5 s/inference`` when below one per second (Icarus on the MNIST
    network), never ``0.0 inferences/s``."""
    if not inferences or not seconds or seconds <= 0:
        return "no inferences timed"
    rate = inferences / seconds
    if rate >= 10:
        return f"{rate:.0f} inferences/s"
    if rate >= 1:
        return f"{rate:.1f} inferences/s"
    return f"{seconds / inferences:.1f} s/inference"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _rate_file(design, sim: str, fast: bool, waves: bool):
    """Where the speed of the last run of ``design`` in ``sim`` is kept (seconds per
    inference), for the expected duration of the next one."""
    return design.build_dir(sim, waves) / f"seconds-per-inference-{'fast' if fast else 'driver'}"


def _expected(design, sim: str, fast: bool, waves: bool, count: int) -> float | None:
    """Seconds the co-simulation of ``count`` images should take, at the last run's speed."""
    try:
        return float(_rate_file(design, sim, fast, waves).read_text()) * count
    except (OSError, ValueError):
        return None


def run_cosim(networks, images, config, *, sim: str = "verilator", waves: str | None = None,
              job: str = "cosim", fast: bool = False, driver_images: int = 0,
              overlap: bool = False, chunk: int = CHUNK, say=None) -> dict:
    """Run ``networks`` (each with its image array) on the simulated accelerator.

    Returns the result dict of :mod:`sim.cosim_run` plus ``wall_seconds`` (all of it, build
    included). ``fast``, ``driver_images``, ``overlap`` and ``chunk``: see
    :func:`sim.cosim_run.write_job`. ``say``,
    when given, is called with a line before each step that can take long (a first build of
    the simulator model, the co-simulation itself with its expected duration).
    """
    started = time.monotonic()
    say = say or (lambda message: None)
    count = sum(len(pixels) for pixels in images)
    try:
        design = designs.accelerator(config, name=f"accel-p{config.lanes}")
        if not (design.build_dir(sim, bool(waves)) / "build.stamp").exists():
            say(f"building the {sim} model of this configuration (once; Verilator takes about "
                f"3 min, Icarus under a minute) ...")
        # The job, its result and the simulator's files live in a folder of this run alone;
        # the compiled model is shared (sim.toolchain.build). A failed run keeps its folder.
        with toolchain.run_folder(design, sim, job, waves=bool(waves)) as folder:
            write_job(folder, networks, images, fast=fast, driver_images=driver_images,
                      overlap=overlap, chunk=chunk)
            toolchain.build(design, sim, waves=bool(waves))
            expected = _expected(design, sim, fast, bool(waves), count)
            if expected is None and count >= 100 or expected is not None and expected >= 10:
                about = f", about {_duration(expected)}" if expected else ""
                say(f"co-simulating {count:,} images of {len(networks)} network(s) in {sim}"
                    f"{about} ...")
            toolchain.run(design, sim, "sim.cosim_run", env={"COSIM_JOB": folder},
                          waves=bool(waves), folder=folder)
            result = read_result(folder)
            if waves:
                found = [folder / name for name in ("dump.vcd", "dump.fst", "sim_top.fst")
                         if (folder / name).exists()]
                if not found:
                    raise CosimError(f"the simulator wrote no waveform in {folder}")
                with open(found[0], "rb") as source, atomic_write(waves, "wb") as target:
                    shutil.copyfileobj(source, target)
                result["waves"] = str(waves)
    except (toolchain.ToolMissing, toolchain.SimulationFailed, RuntimeError) as error:
        raise CosimError(str(error)) from None
    if result.get("inferences") and result.get("seconds"):
        try:
            with atomic_write(_rate_file(design, sim, fast, bool(waves))) as file:
                file.write(f"{result['seconds'] / result['inferences']:.6g}\n")
        except OSError:
            pass  # only an estimate for the next run
    result["wall_seconds"] = time.monotonic() - started
    return result
