"""Co-simulation sharded over Ray workers: ``python -m sw.cosim --workers N``.

:func:`run_sharded` cuts the images of a co-simulation (one model's test set, or many random
networks with a few images each) into ``shards`` contiguous pieces in their global order
(:func:`plan`), runs each piece with :func:`sim.cosim.run_cosim` on one of ``workers`` Ray
actors, and joins the pieces' results in that order (:func:`merge`), so that the result is
the one-process run's: the same inferences, mismatches, cycles and classes in the same order,
and the first difference named by its network and image in the whole run.

Each actor (:class:`_Worker`) prepares and builds the simulator of the configuration when it
starts, once (on one machine the actors share the build under ``build/``, whose lock makes
the second wait for the first), and then runs shard after shard in run folders of their own.

Faults: the actors are created with ``max_restarts`` and ``max_task_retries``: when a worker
process dies in the middle of a shard (killed, out of memory, its machine gone), Ray starts a
new one and runs that shard again from its start; a shard's result is only taken when the
shard finished, so every image is reported exactly once. A shard that fails on its own terms
(a crashed simulator, a difference is no failure) raises :class:`sim.cosim.CosimError` at once.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from . import designs, toolchain
from .cluster import ClusterError, ray_session
from .cosim import CosimError, run_cosim

__all__ = ["Piece", "plan", "merge", "run_sharded", "RETRIES"]

#: Restarts of a dead worker, and retries of the shard it was running.
RETRIES = 3


@dataclass(frozen=True)
class Piece:
    """Images ``start`` .. ``stop`` - 1 of network ``network`` (indices of the whole run)."""
    network: int
    start: int
    stop: int


def plan(counts, shards: int) -> list[list[Piece]]:
    """Cut a run into at most ``shards`` shards of nearly equal image counts.

    ``counts``: the image count of each network, in order. The images, taken network after
    network, are cut into contiguous runs; each shard is a list of :class:`Piece` in that
    order, and the shards in order cover every image once. No shard is empty.
    """
    total = sum(counts)
    shards = max(1, min(shards, total))
    bounds = [total * s // shards for s in range(shards + 1)]
    out = []
    for low, high in zip(bounds, bounds[1:]):
        pieces, offset = [], 0
        for k, count in enumerate(counts):
            start, stop = max(low - offset, 0), min(high - offset, count)
            if start < stop:
                pieces.append(Piece(k, start, stop))
            offset += count
        out.append(pieces)
    return out


def merge(parts, results) -> dict:
    """Join the results of the shards ``parts`` (from :func:`plan`, in order) into the result of
    the whole run, as :func:`sim.cosim.run_cosim` returns it for one process: counts summed,
    ``cycles`` and ``classes`` in the run's order, ``first`` the earliest difference with the
    network and image numbered in the whole run. The shards' ``seconds`` (of the inferences
    alone) are kept as ``shard_seconds`` and summed as ``worker_seconds``, ``load_seconds`` and
    ``golden_seconds`` summed; the caller sets the wall time."""
    out = {"inferences": 0, "mismatches": 0, "cycles": [], "classes": [], "first": None,
           "load_seconds": 0.0, "golden_seconds": 0.0, "worker_seconds": 0.0, "flushes": 0,
           "sim_cycles": 0, "shards": len(parts), "shard_seconds": []}
    for pieces, result in zip(parts, results):
        for key in ("inferences", "mismatches", "flushes", "sim_cycles"):
            out[key] += result.get(key, 0)
        for key in ("load_seconds", "golden_seconds"):
            out[key] += result.get(key, 0.0)
        out["worker_seconds"] += result.get("seconds", 0.0)
        out["shard_seconds"].append(result.get("seconds", 0.0))
        out["cycles"] += result.get("cycles", [])
        out["classes"] += result.get("classes", [])
        first = result.get("first")
        if first is not None and out["first"] is None:
            piece = pieces[first["network"]]
            out["first"] = {**first, "network": piece.network,
                            "image": piece.start + first["image"]}
    return out


class _Worker:
    """A Ray actor: the simulator of one configuration, built once, and the shards it runs."""

    def __init__(self, config, sim: str, fast: bool):
        self.config, self.sim, self.fast = config, sim, fast
        design = designs.accelerator(config, name=f"accel-p{config.lanes}")
        toolchain.build(design, sim)

    def ready(self) -> bool:
        return True

    def run(self, networks, images, kill_once: str | None = None) -> dict:
        if kill_once is not None:
            try:
                os.close(os.open(kill_once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:  # the first attempt of any shard dies, as a killed worker would
                os.kill(os.getpid(), signal.SIGKILL)
        result = run_cosim(networks, images, self.config, sim=self.sim, fast=self.fast,
                           job="shard")
        # When the inferences ended (they end the shard), on this machine's clock: with their
        # seconds, the window in which the shards simulated side by side.
        result["finished_at"] = time.time()
        return result


def _cause(error) -> str:
    """The message of the exception a worker raised, without Ray's wrapping and traceback."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return str(cause).strip()
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def run_sharded(networks, images, config, *, workers: int, sim: str = "verilator",
                address: str | None = None, shards: int | None = None, fast: bool = False,
                say=None, kill_once=None) -> dict:
    """Co-simulate ``networks`` (each with its image array) on ``workers`` Ray actors.

    Parameters
    ----------
    networks, images : lists of equal length
        As for :func:`sim.cosim.run_cosim`.
    workers : int
        Actors; with a local Ray also its CPUs.
    address : str, optional
        A Ray cluster (see :func:`sim.cluster.ray_session`); default a local Ray.
    shards : int, optional
        Pieces the images are cut into (default ``workers``: one simulator start each;
        more pieces balance uneven workers and lose less to a retried shard).
    kill_once : path, optional
        Test hook: the first shard to start creates this file and kills its own worker
        process, which Ray restarts and whose shard it runs again.

    Returns the merged result (:func:`merge`) with ``workers``, ``seconds`` (wall time from
    handing out the shards to the last result: the simulators' starts and the network loads
    included, Ray's start and the builds not), ``wall_seconds`` (all of it) and
    ``simulation_window_seconds`` (from the first shard's first inference to the last shard's
    last, by the workers' clocks: the simulation alone, for the rate of ``sw.cosim -v``).
    Raises :class:`sim.cosim.CosimError`.
    """
    started = time.monotonic()
    say = say or (lambda message: None)
    parts = plan([len(pixels) for pixels in images], shards or workers)
    try:
        design = designs.accelerator(config, name=f"accel-p{config.lanes}")
        if not (design.build_dir(sim) / "build.stamp").exists():
            say(f"building the {sim} model of this configuration (once per machine; Verilator "
                f"takes about 3 min, Icarus under a minute) ...")
        if address is None:
            # On this machine: built here, once, with the tool's own errors; the workers find
            # it built. A cluster's machines build their own.
            toolchain.build(design, sim)
        with ray_session(workers, address) as ray:
            actor = ray.remote(num_cpus=1, max_restarts=RETRIES,
                               max_task_retries=RETRIES)(_Worker)
            pool = [actor.remote(config, sim, fast) for _ in range(min(workers, len(parts)))]
            try:
                ray.get([member.ready.remote() for member in pool])  # built, everywhere
            except ray.exceptions.RayActorError as error:
                raise CosimError(f"a co-simulation worker could not start: "
                                 f"{_cause(error)}") from None
            count = sum(len(pixels) for pixels in images)
            say(f"co-simulating {count:,} images of {len(networks)} network(s) in {sim} on "
                f"{len(pool)} Ray workers, {len(parts)} shards ...")
            dispatched = time.monotonic()
            hook = None if kill_once is None else str(Path(kill_once).resolve())
            # Shard s goes to worker s mod N; Ray queues each actor's calls in order.
            pending = [pool[s % len(pool)].run.remote(
                [networks[p.network] for p in pieces],
                [images[p.network][p.start:p.stop] for p in pieces], hook)
                for s, pieces in enumerate(parts)]
            try:
                results = ray.get(pending)
                seconds = time.monotonic() - dispatched
            except ray.exceptions.RayActorError as error:
                raise CosimError(f"a co-simulation worker died {RETRIES + 1} times; the run "
                                 f"is abandoned ({_cause(error)})") from None
            except ray.exceptions.RayTaskError as error:  # a shard failed on its own terms
                raise CosimError(_cause(error)) from None
            finally:
                for member in pool:
                    ray.kill(member)
    except CosimError:
        raise
    except (toolchain.ToolMissing, toolchain.SimulationFailed, ClusterError,
            RuntimeError) as error:  # RuntimeError: a failed build
        raise CosimError(str(error)) from None
    result = merge(parts, results)
    ends = [r["finished_at"] for r in results]
    result["simulation_window_seconds"] = max(ends) - min(
        end - r.get("seconds", 0.0) for end, r in zip(ends, results))
    result["workers"] = len(pool)
    result["seconds"] = seconds
    result["wall_seconds"] = time.monotonic() - started
    return result
