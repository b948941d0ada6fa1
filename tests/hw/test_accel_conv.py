"""hw.accel.Accelerator with convolution layers (``Config.conv``) in Amaranth's simulator
against core.golden: random conv networks (kernels, strides, padding, pooling, every neuron
option) and dense ones on the same gateware, compared on every spike and membrane value
(``sim.compare``, through the hardware order of the maps), the read-out results, the class
and the cycle count that core.perf predicts."""

from dataclasses import asdict

import numpy as np
import pytest

from core import golden
from core.config import Config, conv_current_bits
from core.network import Conv, Layer, Network, max_pool
from core.perf import cycle_count
from core.randnet import random_pixels
from sim.compare import compare
from sim.designs import random_fitting_network
from sim.pysim import AmaranthSimTransport
from sw.device import Device

CONV = Config.tiny_conv(bias=True)


@pytest.fixture(scope="module")
def device():
    with AmaranthSimTransport(CONV) as transport:
        driver = Device(transport, timeout=300)
        driver.identify()
        yield driver


def check(driver, network, images, label):
    config = driver.config
    driver.load(network)
    for pixels in np.asarray(images):
        driver.transport.trace.clear()
        result = driver.infer(pixels)
        expected = golden.run(network, pixels[None])
        records = [asdict(r) for r in driver.transport.trace]
        read = {"class": result.cls, "first_time": result.first_time,
                "first_potential": result.first_potential, "final_membrane": result.membrane}
        errors = [str(e) for e in compare(records, expected, network,
                                          lanes=config.neuron_units,
                                          membrane_bits=config.membrane_bits, result=read)]
        want = cycle_count(network, config, pixels)
        if result.cycles != want:
            errors.append(f"cycles {result.cycles}, core.perf {want}")
        assert not errors, (f"{label}: {errors[:3]}\n{network.sizes} "
                            f"{[l.conv for l in network.layers]} {network.encoder} "
                            f"T={network.timesteps}")


def test_identification(device):
    assert device.config == CONV


@pytest.mark.parametrize("seed", [0, 1] + [pytest.param(s, marks=pytest.mark.slow)
                                          for s in range(2, 8)])
def test_random_networks(device, seed):
    rng = np.random.default_rng(5000 + seed)
    network = random_fitting_network(rng, CONV, max_timesteps=3)
    check(device, network, random_pixels(rng, 1, network.n_inputs), f"seed {5000 + seed}")


def test_pooling_and_channel_blocks(device):
    """A conv layer with more output channels than conv_lanes (two blocks of lanes), stride 2
    and padding, then 2 x 2 max pooling with stride 2 (one output per input), then a dense
    layer over the padded map; hybrid input over the image in the hardware order."""
    rng = np.random.default_rng(7)
    c = Conv(2, 7, 6, 12, kernel=3, stride=2, padding=1)
    conv = Layer(weights=rng.integers(-8, 8, size=c.weight_shape), weight_bits=4,
                 threshold=300, conv=c, fire_once=False)
    pool = max_pool(12, c.out_height, c.out_width, 2)
    dense = Layer(weights=rng.integers(-8, 8, size=(5, pool.n_out)), weight_bits=4,
                  threshold=3)
    network = Network([conv, pool, dense], timesteps=3, encoder="hybrid").validate()
    assert CONV.conv_blocks(conv) == 2
    check(device, network, random_pixels(rng, 2, network.n_inputs), "two blocks")


def test_rate_encoder_on_an_unpadded_image(device):
    """The rate encoder's LFSR draws follow the pixel order, which a one-channel image of a
    power-of-two width keeps in the hardware order; a 1x1 convolution with stride 1 and a
    leaky, biased average pool after it."""
    rng = np.random.default_rng(11)
    c = Conv(1, 5, 8, 3, kernel=1)
    conv = Layer(weights=rng.integers(-8, 8, size=c.weight_shape), weight_bits=4,
                 threshold=200, conv=c, fire_once=False, reset="zero")
    pool = Layer(weights=np.ones((3, 1, 2, 2), np.int64), weight_bits=2, threshold=2,
                 neuron="lif", leak_mode="shift", leak=1, reset="subtract", fire_once=False,
                 conv=Conv(3, 5, 8, 3, kernel=2, stride=1, groups=3),
                 bias=rng.integers(-1, 2, size=3 * 4 * 7))
    dense = Layer(weights=rng.integers(-8, 8, size=(4, pool.n_out)), weight_bits=4,
                  threshold=4)
    network = Network([conv, pool, dense], timesteps=4, encoder="rate",
                      lfsr_seed=0x1234).validate()
    check(device, network, random_pixels(rng, 2, network.n_inputs), "rate")


def test_memories_sized_by_the_network():
    """The result memory sized by max_classes (4 classes in 1 word of U = 4) and the current
    memory's sums by conv_acc_bits: a full-scale image under kernels of all 127 and all -128
    reaches the bound of ``conv_current_bits`` exactly (20 bits: 9 x -128 x 255) at the
    interior positions; partial sums of a mixed kernel wrap in between."""
    rng = np.random.default_rng(13)
    c = Conv(1, 6, 8, 4, kernel=3, padding=1)
    weights = rng.integers(-128, 128, size=c.weight_shape)
    weights[0], weights[1] = 127, -128
    conv = Layer(weights=weights, weight_bits=8, threshold=1 << 20, conv=c, fire_once=False,
                 reset="zero")
    pool = max_pool(4, c.out_height, c.out_width, 2)
    dense = Layer(weights=rng.integers(-8, 8, size=(4, pool.n_out)), weight_bits=4,
                  threshold=2)
    network = Network([conv, pool, dense], timesteps=2, encoder="direct",
                      membrane_bits=32).validate()
    config = Config.tiny_conv(max_classes=4, conv_acc_bits=20)
    assert config.result_chunks == 1 and conv_current_bits(conv, True) == 20
    images = np.concatenate([np.full((1, network.n_inputs), 255), random_pixels(rng, 1,
                                                                             network.n_inputs)])
    with AmaranthSimTransport(config) as transport:
        driver = Device(transport, timeout=300)
        assert driver.identify() == config
        check(driver, network, images, "sized memories")
