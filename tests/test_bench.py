"""sw.bench: configuration specs and the configurations they build (no synthesis here)."""

import argparse

import pytest

from cli.bench import _config, parse_spec
from core.network import Layer, Network

import numpy as np


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
