"""Scale-out benchmark: ``sw.cosim`` and ``sw.sweep`` on N Ray workers against one process.

::

    python -m sw.scalebench                      # writes results/scale.json
    python -m sw.scalebench --images 300 --sweep-samples 10000 --workers 2

1. Co-simulation: ``--images`` MNIST test images of ``--model`` in Verilator, in one process
   (:func:`sim.cosim.run_cosim`) and sharded over ``--workers`` Ray workers
   (:func:`sim.shard.run_sharded`); the simulator is built first, outside the timing. Both
   runs must agree (inferences, mismatches, cycles, classes). The end-to-end rate counts the
   simulator starts and network loads (Ray's start not: a cluster is started once for many
   runs); the simulation rate the inferences alone (from the first shard's first to the last
   shard's last); the wall ratio everything, Ray's start included. Target (issue 18): at
   least 1.7x the one-process rate on 2 workers.
2. Sweep: 8 configurations (lanes 32 .. 256 by inputs per cycle 1, 2) of the model with the
   cycle and golden models on ``--sweep-samples`` test images, serial and as Ray tasks (wall
   time with Ray's start, and after it). Target: at most 0.6x the serial wall time.

Figures only: nothing here asserts a time, since a shared machine's load moves them; the load
average before and after each part is written beside them. Prints one line per part and
writes ``--json``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from boards.sweep import points, sweep
from cli.cosim import _config
from core import modelfile
from sim import designs, toolchain
from sim.cosim import CosimError, run_cosim
from sim.cluster import ray_session
from sim.shard import run_sharded
from sw import data
from sw.options import (ArgumentParser, atomic_write, cli_main, fail, input_file, int_range,
                        output_file, positive_int)

__all__ = ["main"]

PROG = "python -m sw.scalebench"
SAME = ("inferences", "mismatches", "cycles", "classes", "first")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _say(message: str) -> None:
    print(f"scalebench: {message}", file=sys.stderr, flush=True)


def _cosim(network, pixels, workers: int, sim: str) -> dict:
    config = _config(None, None, network)
    design = designs.accelerator(config, name=f"accel-p{config.lanes}")
    _say(f"building the {sim} model if needed ...")
    toolchain.build(design, sim)
    load = {"before": _load()}
    one = run_cosim([network], [pixels], config, sim=sim)
    load["between"] = _load()
    many = run_sharded([network], [pixels], config, workers=workers, sim=sim)
    load["after"] = _load()
    agree = all(one[k] == many[k] for k in SAME)
    # End to end: simulator starts and network loads included (the build and Ray's start
    # not); simulation alone: the inferences' time, for the sharded run the window from the
    # first inference of any shard to the last.
    rate1, rate_n = one["inferences"] / one["wall_seconds"], many["inferences"] / many["seconds"]
    sim1 = one["inferences"] / one["seconds"]
    sim_n = many["inferences"] / many["simulation_window_seconds"]
    return {"images": len(pixels), "sim": sim, "workers": workers, "agree": agree,
            "mismatches": many["mismatches"],
            "one_process": {"seconds": round(one["seconds"], 2),
                            "wall_seconds": round(one["wall_seconds"], 2),
                            "images_per_s": round(rate1, 2),
                            "simulation_images_per_s": round(sim1, 2)},
            "sharded": {"seconds": round(many["seconds"], 2),
                        "wall_seconds": round(many["wall_seconds"], 2),
                        "ray_start_and_build_seconds": round(many["wall_seconds"]
                                                             - many["seconds"], 2),
                        "images_per_s": round(rate_n, 2),
                        "simulation_images_per_s": round(sim_n, 2),
                        "shard_seconds": [round(x, 2) for x in many["shard_seconds"]],
                        "simulation_window_seconds": round(many["simulation_window_seconds"],
                                                           2),
                        "shards": many["shards"]},
            "rate_ratio": round(rate_n / rate1, 3),
            "simulation_rate_ratio": round(sim_n / sim1, 3),
            "wall_ratio": round(many["wall_seconds"] / one["wall_seconds"], 3),
            "target_rate_ratio": 1.7, "load_average": load}


def _sweep(network, pixels, labels, workers: int) -> dict:
    point_list = points({"lanes": [32, 64, 128, 256], "inputs_per_cycle": [1, 2]})
    load = {"before": _load()}
    started = time.monotonic()
    serial = sweep(point_list, network, pixels, labels, workers=1)
    serial_s = time.monotonic() - started
    load["between"] = _load()
    started = time.monotonic()
    with ray_session(workers):  # timed apart: a cluster is started once for many sweeps
        ray_start = time.monotonic() - started
        parallel = sweep(point_list, network, pixels, labels, workers=workers)
        parallel_s = time.monotonic() - started
    load["after"] = _load()

    def strip(entries):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in entries]

    return {"points": len(point_list), "samples": len(pixels), "metrics": ["cycles", "accuracy"],
            "workers": workers, "agree": strip(serial) == strip(parallel),
            "failed": sum(1 for e in parallel if e["error"] or e["errors"]),
            "serial_seconds": round(serial_s, 2), "ray_seconds": round(parallel_s, 2),
            "ray_start_seconds": round(ray_start, 2),
            "wall_ratio": round(parallel_s / serial_s, 3),
            "wall_ratio_after_ray_start": round((parallel_s - ray_start) / serial_s, 3),
            "target_wall_ratio": 0.6,
            "load_average": load}


def _parser():
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=input_file, default=Path("models/mnist_t4.snn"),
                   metavar="FILE", help="model (default models/mnist_t4.snn)")
    p.add_argument("--workers", type=int_range(2, 4096, "workers"), default=2, metavar="N")
    p.add_argument("--images", type=positive_int, default=300, metavar="N",
                   help="co-simulated MNIST test images (default 300)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument("--sweep-samples", type=positive_int, default=10000, metavar="N",
                   help="test images per sweep point (default 10000)")
    p.add_argument("--skip", choices=("cosim", "sweep"), action="append", default=[],
                   help="leave a part out")
    p.add_argument("--json", type=output_file, default=Path("results/scale.json"),
                   metavar="FILE", help="the figures (default results/scale.json)")
    return p


@cli_main(PROG)
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        network = modelfile.load(args.model)
        split = data.load_mnist()["test"]
    except (modelfile.ModelFileError, data.DataError, OSError) as error:
        return fail(PROG, str(error))
    report = {"model": str(args.model), "cpus": os.cpu_count(),
              "machine": platform.platform(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())}
    try:
        if "cosim" not in args.skip:
            pixels = np.asarray(split.pixels[:args.images], np.uint8)
            report["cosim"] = c = _cosim(network, pixels, args.workers, args.sim)
            print(f"scalebench: cosim {c['images']} images, {c['workers']} workers: "
                  f"{c['sharded']['images_per_s']} vs {c['one_process']['images_per_s']} "
                  f"images/s end to end ({c['rate_ratio']}x, target 1.7x), "
                  f"{c['simulation_rate_ratio']}x in simulation, wall with Ray's start "
                  f"{c['wall_ratio']}x, "
                  f"{'same results' if c['agree'] else 'RESULTS DIFFER'}; load "
                  f"{c['load_average']['before'][0]}")
        if "sweep" not in args.skip:
            n = args.sweep_samples
            report["sweep"] = s = _sweep(network, split.pixels[:n], split.labels[:n],
                                         args.workers)
            print(f"scalebench: sweep {s['points']} points x {s['samples']} images, "
                  f"{s['workers']} workers: {s['ray_seconds']} s vs {s['serial_seconds']} s "
                  f"serial ({s['wall_ratio']}x, target 0.6x; "
                  f"{s['wall_ratio_after_ray_start']}x after Ray's start of "
                  f"{s['ray_start_seconds']} s), "
                  f"{'same results' if s['agree'] else 'RESULTS DIFFER'}; load "
                  f"{s['load_average']['before'][0]}")
    except CosimError as error:
        return fail(PROG, str(error))
    with atomic_write(args.json) as file:
        file.write(json.dumps(report, indent=1) + "\n")
    return 0 if all(part.get("agree", True) for part in report.values()
                    if isinstance(part, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
