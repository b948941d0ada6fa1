"""``python -m sw.bench`` (cli.bench): configuration specs and the configurations they build, the
event bound and the resources of a cached Yosys cell count (no synthesis here)."""

import argparse
import json

import numpy as np
import pytest

from boards import sweep
from cli import bench
from cli.bench import _config, parse_spec
from core import golden, modelfile, perf
from core.config import Config
from core.network import Layer, Network
from core.randnet import random_conv_network, random_pixels


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

    def test_synthesize_counts_a_cached_cell_count(self, tmp_path, monkeypatch):
        # The count of core.resources.xc7 on the cell count that Yosys wrote before (the
        # synthesis itself is in tests/cli/test_resources.py).
        monkeypatch.setenv("SNN_BUILD_DIR", str(tmp_path))
        config = Config.tiny()
        folder = tmp_path / f"synth-{sweep._digest(config.replace(trace=False))}"
        folder.mkdir()
        (folder / "cells.json").write_text(json.dumps(
            {"CARRY4": 10, "DSP48E1": 2, "FDRE": 100, "FDSE": 5, "LUT2": 40, "LUT6": 60,
             "RAM64M": 4, "SRLC32E": 2, "RAMB18E1": 3, "RAMB36E1": 7}))
        assert bench.synthesize(config) == {
            "lut": 118, "ff": 105, "bram36": 8.5, "dsp": 2, "lut_memory": 4 * 4 + 2,
            "lut_logic": 100, "carry4": 10, "seconds": None}


# -- the CNN row (issue 14) --------------------------------------------------------------------

def _conv_network(seed=0):
    """A random conv network (maps up to 4 x 8 x 8) that the tiny-conv configuration holds."""
    rng = np.random.default_rng(seed)
    while True:
        network = random_conv_network(rng, max_neurons=6, weight_bits=4, max_timesteps=3,
                                      encoders=("direct", "hybrid"), membrane_bits=16)
        if Config.tiny_conv().fits(network):
            return network, random_pixels(rng, 6, network.n_inputs)


def _brute_force_bound(network, pixels, lanes, conv_lanes):
    """The event bound counted from each layer's dense matrix: an event of input i costs,
    per block of lanes, the output positions whose window holds it (the rows of column i of
    the all-ones kernel's matrix, divided by the output channels it reaches)."""
    trace = golden.run(network, pixels)
    events = [golden.encode(network, pixels) != 0] + trace.spikes[:-1]
    total = np.zeros(len(pixels), np.int64)
    for layer, fired in zip(network.layers, events):
        count = fired.sum(axis=1)                                      # (B, n_in)
        if layer.conv is None:
            total += count.sum(axis=1) * -(-layer.n_out // lanes)
            continue
        c = layer.conv
        ones = Layer(np.ones(c.weight_shape, np.int64), conv=c)
        reach = (ones.dense_weights() != 0).sum(axis=0) // (c.out_channels // c.groups)
        total += count @ reach * -(-c.out_channels // conv_lanes)
    return total


@pytest.mark.parametrize("seed", range(4))
def test_event_bound_of_a_conv_network(seed):
    network, pixels = _conv_network(seed)
    assert any(layer.conv is not None for layer in network.layers)
    for lanes, conv_lanes in ((8, 4), (2, 1)):
        assert perf.event_bounds(network, pixels, lanes, conv_lanes).tolist() == \
            _brute_force_bound(network, pixels, lanes, conv_lanes).tolist()


def test_cnn_row_reports_the_cycle_model_and_the_bound():
    network, pixels = _conv_network(1)
    config = Config.tiny_conv()
    row = bench.cnn_row(network, pixels, config)
    cycles = perf.cycle_counts(network, config, pixels)
    bound = perf.event_bounds(network, pixels, config.lanes, config.conv_lanes)
    assert row["images"] == 6 and row["cycles_max"] == cycles.max()
    assert row["cycles_median"] == np.median(cycles)
    assert row["bound_ratio_median"] == pytest.approx(np.median(cycles / np.maximum(bound, 1)))
    assert row["bound_ratio_median"] >= 1      # the accelerator is no faster than the ideal


def test_cnn_entry_names_what_does_not_fit(tmp_path, capsys):
    network = Network([Layer(np.ones((2, 784), np.int8)) for _ in range(1)]
                      + [Layer(np.ones((2, 2), np.int8)) for _ in range(6)])
    modelfile.save(network, tmp_path / "seven.snn")
    entry = bench._cnn(tmp_path / "seven.snn", np.zeros((2, 784), np.uint8), no_synth=True)
    assert entry["error"] == ("the number of layers is 7, this hardware allows 6: regenerate "
                              "the gateware with --set max_layers=7 or shrink the network")
    assert "bench: CNN seven.snn on mnist-cnn: the number of layers is 7" in capsys.readouterr().out
    entry = bench._cnn(tmp_path / "seven.snn", np.zeros((2, 64), np.uint8), no_synth=True)
    assert entry["error"].endswith("takes 784 inputs; the benchmark's images have 64 pixels")
