"""The cocotb side of ``python -m sw.cosim`` and ``python -m sw.bench``.

It reads a job folder (``COSIM_JOB``) written by :func:`write_job`: model files
``net<k>.snn`` and image arrays ``pix<k>.npy``. For each network it loads the model through the
memory map with the host driver, infers every image, compares every spike, membrane value and
the class with the golden model, and writes ``result.json`` into the folder:
``inferences``, ``mismatches`` (inferences that differ), ``cycles`` (per inference), ``first``
(the first difference, or null), ``seconds`` (wall time of the inferences alone) and
``load_seconds``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np

from core import golden, modelfile

from .session import Session

__all__ = ["write_job", "read_result", "CHUNK"]

#: Images whose golden and hardware traces are held at once. A convolutional network's trace
#: is about a megabyte per image: 10,000 images at once would not fit in memory.
CHUNK = 200


def write_job(folder, networks, images, *, fast: bool = False, driver_images: int = 0,
              overlap: bool = False, chunk: int = CHUNK) -> Path:
    """Write a job: one model file and one image array per network.

    The images are compared ``chunk`` at a time (their traces held at once); the outcome does
    not depend on it.

    With ``fast`` the inferences run through :meth:`sim.session.Session.run`'s one-wake-up
    path; ``driver_images`` then also runs that many images of each network through the
    blocking driver first, to measure both.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in list(folder.glob("net*.snn")) + list(folder.glob("pix*.npy")):
        old.unlink()
    (folder / "result.json").unlink(missing_ok=True)
    for k, (network, pixels) in enumerate(zip(networks, images)):
        modelfile.save(network, folder / f"net{k}.snn")
        np.save(folder / f"pix{k}.npy", np.asarray(pixels, np.uint8))
    (folder / "job.json").write_text(json.dumps({"networks": len(networks), "fast": fast,
                                                 "driver_images": driver_images,
                                                 "overlap": overlap, "chunk": chunk}))
    return folder


def read_result(folder) -> dict:
    path = Path(folder) / "result.json"
    if not path.exists():
        raise RuntimeError(f"the co-simulation wrote no result ({path}); see the log")
    return json.loads(path.read_text())



async def _run_chunk(session, network, pixels, fast, result, k, start):
    """Infer and compare the images ``pixels`` (from image ``start`` of network ``k``); add
    the outcome to ``result``."""
    started = time.monotonic()
    expected = golden.run(network, pixels)
    result["golden_seconds"] += time.monotonic() - started
    report = await session.run(network, pixels, expected=expected, fast=fast)
    result["seconds"] += report.seconds
    result["inferences"] += len(report.inferences)
    result["mismatches"] += len(report.failed)
    result["cycles"] += report.cycles
    result["classes"] += [inf.prediction for inf in report.inferences]
    if report.failed and result["first"] is None:
        bad = report.failed[0]
        result["first"] = {"network": k, "image": start + bad.index,
                           "differences": [str(m) for m in bad.mismatches[:10]],
                           "what": bad.mismatches[0].what,
                           "layer": bad.mismatches[0].layer,
                           "step": bad.mismatches[0].step,
                           "neuron": bad.mismatches[0].neuron}


@cocotb.test()
async def cosim_job(dut):
    """Run the job of COSIM_JOB and record the outcome (differences do not fail the test: the
    CLI reports them)."""
    folder = Path(os.environ["COSIM_JOB"])
    job = json.loads((folder / "job.json").read_text())
    count, fast = job["networks"], job.get("fast", False)
    session = await Session.open(dut)
    result = {"inferences": 0, "mismatches": 0, "cycles": [], "classes": [], "first": None,
              "seconds": 0.0, "load_seconds": 0.0, "golden_seconds": 0.0, "fast": fast,
              "driver_inferences": 0, "driver_seconds": 0.0, "driver_mismatches": 0}
    for k in range(count):
        network = modelfile.load(folder / f"net{k}.snn")
        pixels = np.load(folder / f"pix{k}.npy")
        started = time.monotonic()
        await session.load(network)
        result["load_seconds"] += time.monotonic() - started
        if fast and job.get("driver_images"):
            part = pixels[:job["driver_images"]]
            driver = await session.run(network, part, expected=golden.run(network, part))
            result["driver_inferences"] += len(driver.inferences)
            result["driver_seconds"] += driver.seconds
            result["driver_mismatches"] += len(driver.failed)
        if job.get("overlap"):
            started = time.monotonic()
            expected = golden.run(network, pixels)
            result["golden_seconds"] += time.monotonic() - started
            started = time.monotonic()
            over = await session.overlapped(network, pixels, expected=expected)
            result["seconds"] += time.monotonic() - started
            result["inferences"] += over["inferences"]
            result["mismatches"] += over["mismatches"]
            result["cycles"] += over["cycles"]
            result["busy_cycles"] = result.get("busy_cycles", 0) + over["busy_cycles"]
            result["total_cycles"] = result.get("total_cycles", 0) + over["total_cycles"]
            result["utilisation"] = result["busy_cycles"] / max(1, result["total_cycles"])
            if over["first"] is not None and result["first"] is None:
                result["first"] = {"network": k, "image": over["first"]["image"],
                                   "differences": over["first"]["differences"]}
            continue
        chunk = job.get("chunk", CHUNK)
        for start in range(0, len(pixels), chunk):
            await _run_chunk(session, network, pixels[start:start + chunk], fast, result, k,
                             start)
    result["flushes"] = session.harness.flushes
    result["sim_cycles"] = session.harness.cycle
    (folder / "result.json").write_text(json.dumps(result))
