"""``sim.shard``: the co-simulation cut into shards over Ray workers, joined into the
one-process result, and a worker killed in the middle of a shard."""

import numpy as np
import pytest

from core.config import Config
from core.randnet import random_pixels
from sim import toolchain
from sim.cosim import CosimError, run_cosim, summary_line
from sim.designs import random_fitting_network
from sim.shard import Piece, merge, plan, run_sharded

#: What must agree between the sharded and the one-process run.
SAME = ("inferences", "mismatches", "cycles", "classes", "first")


class TestPlan:
    @pytest.mark.parametrize("counts, shards", [([10], 2), ([10], 3), ([3, 3, 3], 2),
                                                ([1, 5, 0, 2], 4), ([2], 5), ([7], 1)])
    def test_every_image_once_in_order(self, counts, shards):
        parts = plan(counts, shards)
        flat = [(p.network, i) for pieces in parts for p in pieces for i in range(p.start, p.stop)]
        assert flat == [(k, i) for k, n in enumerate(counts) for i in range(n)]
        assert len(parts) == min(shards, sum(counts))
        sizes = [sum(p.stop - p.start for p in pieces) for pieces in parts]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1

    def test_a_shard_spans_networks(self):
        assert plan([3, 3], 2) == [[Piece(0, 0, 3)], [Piece(1, 0, 3)]]
        assert plan([2, 2, 2], 2) == [[Piece(0, 0, 2), Piece(1, 0, 1)],
                                      [Piece(1, 1, 2), Piece(2, 0, 2)]]


def test_merge_renumbers_the_first_difference():
    parts = [[Piece(0, 0, 2), Piece(1, 0, 1)], [Piece(1, 1, 2), Piece(2, 0, 2)]]
    clean = {"inferences": 3, "mismatches": 0, "cycles": [5, 6, 7], "classes": [0, 1, 2],
             "first": None, "seconds": 1.0}
    bad = {"inferences": 3, "mismatches": 2, "cycles": [8, 9, 10], "classes": [3, 4, 5],
           "first": {"network": 1, "image": 1, "differences": ["x"]}, "seconds": 2.0}
    out = merge(parts, [clean, bad])
    assert out["inferences"] == 6 and out["mismatches"] == 2
    assert out["cycles"] == [5, 6, 7, 8, 9, 10] and out["classes"] == [0, 1, 2, 3, 4, 5]
    assert out["first"] == {"network": 2, "image": 1, "differences": ["x"]}
    assert out["worker_seconds"] == 3.0


def _job(seed=3, networks=3, images=3):
    config = Config.tiny()
    rng = np.random.default_rng(seed)
    nets, pixels = [], []
    for _ in range(networks):
        nets.append(random_fitting_network(rng, config))
        pixels.append(random_pixels(rng, images, nets[-1].n_inputs))
    return nets, pixels, config


needs_verilator = pytest.mark.skipif(not toolchain.available("verilator"),
                                     reason="verilator is not installed")


@pytest.fixture(scope="module")
def one_process():
    nets, pixels, config = _job()
    return run_cosim(nets, pixels, config, sim="verilator", fast=True)


@pytest.mark.tools
@needs_verilator
def test_two_workers_give_the_one_process_result(ray_local, one_process):
    nets, pixels, config = _job()
    sharded = run_sharded(nets, pixels, config, workers=2, sim="verilator", fast=True)
    assert sharded["workers"] == 2 and sharded["shards"] == 2
    assert {k: sharded[k] for k in SAME} == {k: one_process[k] for k in SAME}
    assert summary_line(sharded) == summary_line(one_process)
    assert one_process["inferences"] == 9


@pytest.mark.tools
@needs_verilator
def test_a_killed_worker_is_restarted_and_its_shard_run_again(ray_local, one_process,
                                                              tmp_path):
    nets, pixels, config = _job()
    marker = tmp_path / "killed"
    sharded = run_sharded(nets, pixels, config, workers=2, shards=3, sim="verilator",
                          fast=True, kill_once=marker)
    assert marker.exists()  # a worker did die in a shard
    assert {k: sharded[k] for k in SAME} == {k: one_process[k] for k in SAME}


@pytest.mark.parametrize("address, words", [("127.0.0.1:1", "nothing answers at 127.0.0.1:1"),
                                            ("nowhere", "is not HOST:PORT")])
def test_an_unreachable_cluster_is_refused_at_once(address, words):
    nets, pixels, config = _job(networks=1, images=2)
    with pytest.raises(CosimError, match=words):
        run_sharded(nets, pixels, config, workers=2, address=address)
