"""Images per second through the simulated PCIe stream (``sim/test_axis.py``): the accelerator
with the input queue behind the AXI-Stream bridge, H2C frames in and C2H records out, every
record checked against the golden model.

The figure counts clock cycles from the first H2C frame to the last C2H record; at XDMA's
125 MHz ``axi_aclk`` that is ``125e6 * images / cycles`` images/s, against the accelerator's
bound ``125e6 / median inference cycles``; the busy fraction is the inferences' cycles over
the total.
"""

from __future__ import annotations

import json

import numpy as np

from core import modelfile
from core.config import Config

from . import test_axis, toolchain

__all__ = ["stream_throughput"]

ACLK_HZ = 125_000_000


def stream_throughput(network, pixels, config: Config | None = None, *,
                      sim: str = "verilator", pause: float = 0.0) -> dict:
    """Run ``pixels`` (uint8 (B, n_in)) through the bench and return the figures (a dict for
    JSON). ``pause``: probability that the H2C source and the C2H sink pause in a cycle (0:
    the link keeps up)."""
    config = (config or Config.mnist()).replace(stream=True)
    design = test_axis.design(config)
    with toolchain.run_folder(design, sim, "axisbench") as folder:
        modelfile.save(network, folder / "network.snn")
        np.save(folder / "images.npy", np.asarray(pixels, np.uint8))
        results = toolchain.run(design, sim, "sim.test_axis",
                                env={"AXIS_JOB": folder, "AXIS_PAUSE": pause}, folder=folder)
        result = json.loads((folder / "result.json").read_text())
    cycles = np.asarray(result["cycles"])
    total = result["total_cycles"]
    median = float(np.median(cycles))
    return {"images": result["images"], "simulator": sim, "pause": pause,
            "clock_hz": ACLK_HZ, "total_cycles": total,
            "images_per_s": ACLK_HZ * result["images"] / total,
            "median_inference_cycles": median, "bound_images_per_s": ACLK_HZ / median,
            "mean_inference_cycles": float(cycles.mean()),
            "busy_fraction": float(cycles.sum()) / total,
            "mismatches": result["mismatches"], "first_mismatch": result["first"],
            "wall_seconds": results.seconds}
