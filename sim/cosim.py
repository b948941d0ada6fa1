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

from . import designs, toolchain
from .cosim_run import read_result, write_job

__all__ = ["run_cosim", "summary_line", "CosimError"]


class CosimError(RuntimeError):
    """The co-simulation could not run (bad arguments, missing tools, a crashed simulator)."""


def summary_line(result: dict) -> str:
    """The one line ``python -m sw.cosim`` prints::

        cosim: <inferences> inferences, <mismatches> mismatches, <cycles> cycles/inference median
    """
    cycles = result.get("cycles") or [0]
    return (f"cosim: {result['inferences']} inferences, {result['mismatches']} mismatches, "
            f"{int(statistics.median(cycles))} cycles/inference median")


def run_cosim(networks, images, config, *, sim: str = "verilator", waves: str | None = None,
              job: str = "cosim", fast: bool = False, driver_images: int = 0) -> dict:
    """Run ``networks`` (each with its image array) on the simulated accelerator.

    Returns the result dict of :mod:`sim.cosim_run` plus ``wall_seconds`` (all of it, build
    included). ``fast`` and ``driver_images``: see :func:`sim.cosim_run.write_job`.
    """
    started = time.monotonic()
    try:
        design = designs.accelerator(config, name=f"accel-p{config.lanes}")
        # The job, its result and the simulator's files live in a folder of this run alone;
        # the compiled model is shared (sim.toolchain.build). A failed run keeps its folder.
        with toolchain.run_folder(design, sim, job, waves=bool(waves)) as folder:
            write_job(folder, networks, images, fast=fast, driver_images=driver_images)
            toolchain.run(design, sim, "sim.cosim_run", env={"COSIM_JOB": folder},
                          waves=bool(waves), folder=folder)
            result = read_result(folder)
            if waves:
                found = [folder / name for name in ("dump.vcd", "dump.fst", "sim_top.fst")
                         if (folder / name).exists()]
                if not found:
                    raise CosimError(f"the simulator wrote no waveform in {folder}")
                shutil.copyfile(found[0], waves)
                result["waves"] = str(waves)
    except (toolchain.ToolMissing, toolchain.SimulationFailed, RuntimeError) as error:
        raise CosimError(str(error)) from None
    result["wall_seconds"] = time.monotonic() - started
    return result
