"""sim.axisbench: images through the simulated PCIe stream (Verilator), on the small
configuration: the figures follow from the cycle counts, and every result agrees."""

import numpy as np
import pytest

from core.config import Config
from core.randnet import random_network
from sim import toolchain
from sim.axisbench import ACLK_HZ, stream_throughput


@pytest.mark.tools
def test_stream_throughput_figures():
    if not toolchain.available("verilator"):
        pytest.skip("verilator is not installed")
    rng = np.random.default_rng(9)
    config = Config.tiny(stream=True)
    network = random_network(rng, max_inputs=32, max_neurons=10, max_timesteps=4,
                             encoders=("hybrid",))
    pixels = rng.integers(0, 256, (5, network.n_inputs), dtype=np.uint8)
    report = stream_throughput(network, pixels, config, pause=0.2)
    assert report["images"] == 5 and report["mismatches"] == 0
    assert report["images_per_s"] == pytest.approx(ACLK_HZ * 5 / report["total_cycles"])
    assert report["bound_images_per_s"] == ACLK_HZ / report["median_inference_cycles"]
    assert 0 < report["busy_fraction"] < 1
