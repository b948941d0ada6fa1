"""``python -m sw.bench`` (cli.bench): configuration specs and the configurations they build, the
event bound and the Yosys statistics (no synthesis here)."""

import argparse

import numpy as np
import pytest

from cli import bench
from cli.bench import _config, parse_spec
from core import golden
from core.network import Layer, Network


def test_parse_spec():
    assert parse_spec("128") == (128, 1)
    assert parse_spec("64x2") == (64, 2)
    with pytest.raises(argparse.ArgumentTypeError,
                       match="'128k2' is not a configuration: write P .lanes. or PxK"):
        parse_spec("128k2")


def test_config_grows_the_weight_memory():
    rng = np.random.default_rng(0)
    network = Network([Layer(rng.integers(-2, 2, size=(256, 784)), 4, 10),
                       Layer(rng.integers(-2, 2, size=(10, 256)), 4, 10)]).validate()
    pairs = _config(128, network, 2)
    assert pairs.inputs_per_cycle == 2 and pairs.weight_rows(network) == [784, 128]
    assert pairs.weight_words == 1024  # the default's bits, in words twice as wide
    assert pairs.fits(network)
    narrow = _config(32, network)
    assert narrow.weight_words == 784 * 8 + 256 and narrow.fits(network)


class TestBenchHelpers:
    def test_event_bound_counts_events_times_blocks(self):
        # Layer 0: 3 outputs, P=2 -> 2 blocks; layer 1: 1 output -> 1 block.
        w0 = np.array([[1, 1], [1, 1], [-1, -1]])
        w1 = np.array([[1, 1, 1]])
        net = Network([Layer(w0, 2, 100, fire_once=False), Layer(w1, 2, 1, fire_once=False)],
                      timesteps=3, encoder="direct")
        pixels = np.array([[200, 0], [0, 0]], np.uint8)
        trace = golden.run(net, pixels)
        # Image 0: one input event per step (3 steps x 2 blocks); layer 0 spikes: neurons 0
        # and 1 fire when their membrane reaches 100 (every step: 200 >= 100).
        spikes0 = trace.spikes[0][0].sum().item()
        expected0 = 3 * 2 + spikes0 * 1
        assert bench.event_bound(net, pixels, 2).tolist() == [expected0, 0]
        assert bench.event_bound(net, pixels, 4).tolist() == [3 + spikes0, 0]

    def test_parse_stat_reads_the_hierarchy_totals(self):
        text = """
=== accel ===
    11110 cells
      572   CARRY4
       80   DSP48E1
     3317   FDRE
     2255   LUT2
=== accel.unit0 ===
      205 cells
       40   LUT2
=== design hierarchy ===
    13934 cells
       10   CARRY4
        2   DSP48E1
      100   FDRE
        5   FDSE
       40   LUT2
       60   LUT6
        4   RAM64M
        2   SRLC32E
        3   RAMB18E1
        7   RAMB36E1
        1 submodules
"""
        counts = bench.parse_stat(text)
        assert counts["lut_logic"] == 100 and counts["lut_memory"] == 4 * 4 + 2
        assert counts["lut"] == 118
        assert counts["ff"] == 105
        assert counts["bram36"] == 8.5
        assert counts["dsp"] == 2 and counts["carry4"] == 10

    def test_parse_stat_flat_old_format(self):
        counts = bench.parse_stat("   Number of cells: 3\n     LUT4  7\n     FDRE  2\n")
        assert counts["lut"] == 7 and counts["ff"] == 2
