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
#: A current memory of 8 positions: a map of 3 or more padded rows of 4 (or of 2 rows of 8) is
#: integrated in bands of rows (docs/architecture.md, "Bands of output rows").
BANDED = CONV.replace(conv_positions=8)


def _device(config):
    with AmaranthSimTransport(config) as transport:
        driver = Device(transport)
        driver.identify()
        yield driver


@pytest.fixture(scope="module")
def device():
    yield from _device(CONV)


@pytest.fixture(scope="module")
def banded():
    yield from _device(BANDED)


def check(driver, network, images, label):
    """Every image against the golden model and the cycle model; returns the trace records
    of each image (dicts)."""
    config = driver.config
    driver.load(network)
    traces = []
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
        traces.append(records)
    return traces


def test_identification(device):
    assert device.config == CONV


@pytest.mark.parametrize("seed", [0, 1] + [pytest.param(s, marks=pytest.mark.slow)
                                          for s in range(2, 8)])
def test_random_networks(device, seed):
    rng = np.random.default_rng(5000 + seed)
    network = random_fitting_network(rng, CONV, max_timesteps=3)
    check(device, network, random_pixels(rng, 1, network.n_inputs), f"seed {5000 + seed}")


def pooling_network(rng):
    """A conv layer with more output channels than conv_lanes (two blocks of lanes), stride 2
    and padding, then 2 x 2 max pooling with stride 2 (one output per input), then a dense
    layer over the padded map; hybrid input over the image in the hardware order."""
    c = Conv(2, 7, 6, 12, kernel=3, stride=2, padding=1)
    conv = Layer(weights=rng.integers(-8, 8, size=c.weight_shape), weight_bits=4,
                 threshold=300, conv=c, fire_once=False)
    pool = max_pool(12, c.out_height, c.out_width, 2)
    dense = Layer(weights=rng.integers(-8, 8, size=(5, pool.n_out)), weight_bits=4,
                  threshold=3)
    network = Network([conv, pool, dense], timesteps=3, encoder="hybrid").validate()
    assert CONV.conv_blocks(conv) == 2
    return network, random_pixels(rng, 2, network.n_inputs)


def test_pooling_and_channel_blocks(device):
    """:func:`pooling_network`."""
    check(device, *pooling_network(np.random.default_rng(7)), "two blocks")


def rate_network(rng):
    """The rate encoder's LFSR draws follow the pixel order, which a one-channel image of a
    power-of-two width keeps in the hardware order; a 1x1 convolution with stride 1 and a
    leaky, biased average pool after it."""
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
    return network, random_pixels(rng, 2, network.n_inputs)


def test_rate_encoder_on_an_unpadded_image(device):
    """:func:`rate_network`."""
    check(device, *rate_network(np.random.default_rng(11)), "rate")


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
        driver = Device(transport)
        assert driver.identify() == config
        check(driver, network, images, "sized memories")


def skipping_network(rng):
    """The updates of `if` layers without biases visit, after step 0, only the positions that
    the step's events touched (hw.touched), unless the step before left a neuron pending:
    a conv layer without fire-once that never resets (a neuron over the threshold fires at
    every step, so the walk visits every position), then fire-once max pooling, a conv layer
    of two channel blocks whose later steps see few events (or none), and a biased one that
    always visits every position. Hybrid input, T = 5: the steps after 0 carry a few events."""
    c1 = Conv(1, 8, 8, 4, kernel=3, padding=1)
    conv1 = Layer(weights=rng.integers(-6, 8, size=c1.weight_shape), weight_bits=4,
                  threshold=6000, conv=c1, fire_once=False, reset="none")
    pool = max_pool(4, 8, 8, 2)
    c2 = Conv(4, 4, 4, 12, kernel=2, stride=1)
    conv2 = Layer(weights=rng.integers(-8, 8, size=c2.weight_shape), weight_bits=4,
                  threshold=5, conv=c2, fire_once=False, reset="subtract")
    c3 = Conv(12, 3, 3, 4, kernel=1)
    conv3 = Layer(weights=rng.integers(-8, 8, size=c3.weight_shape), weight_bits=4,
                  threshold=2, conv=c3, bias=rng.integers(-1, 2, size=c3.n_out))
    dense = Layer(weights=rng.integers(-8, 8, size=(3, conv3.n_out)), weight_bits=4,
                  threshold=4)
    network = Network([conv1, pool, conv2, conv3, dense], timesteps=5,
                      encoder="hybrid").validate()
    assert CONV.conv_blocks(conv2) == 2
    images = random_pixels(rng, 2, network.n_inputs)
    images[0, :24] = 0                                  # the top rows blank
    images[1, rng.random(network.n_inputs) < 0.8] = 0   # a sparse image
    return network, images


def test_skipping_untouched_positions(device):
    """:func:`skipping_network`: fewer chunks after step 0 where the layer may skip."""
    network, images = skipping_network(np.random.default_rng(21))
    conv1 = network.layers[0]
    chunks = {}
    for records in check(device, network, images, "skipping"):
        for r in records:
            key = (r["layer"], r["step"])
            chunks[key] = chunks.get(key, 0) + 1
    # step 0 visits every position; the biased layer always does, the others skip some later
    assert all(chunks[(3, t)] == chunks[(3, 0)] for t in range(1, 5))
    for l in range(3):
        assert min(chunks.get((l, t), 0) for t in range(1, 5)) < chunks[(l, 0)], l
    # conv1 has pending neurons in some steps of an image and not in others
    pending = (golden.run(network, images).membrane[0] >= conv1.threshold).any(axis=2)
    assert pending[:, :4].any() and not pending[:, :4].all()


def one_step_network(rng):
    """:func:`skipping_network` at T = 1: its one step is step 0, which skips too (nothing
    reads what it leaves in the membrane memory)."""
    network, images = skipping_network(rng)
    return Network(network.layers, timesteps=1, encoder="hybrid").validate(), images


def test_skipping_at_the_only_step(device):
    """:func:`one_step_network`: the `if` layers without biases visit fewer chunks than their
    maps hold at step 0, the biased one all of them; the trace and the cycles as checked."""
    network, images = one_step_network(np.random.default_rng(21))
    chunks = {}
    for records in check(device, network, images, "one step"):
        for r in records:
            chunks[r["layer"]] = chunks.get(r["layer"], 0) + 1
    full = {l: CONV.conv_blocks(layer) * layer.conv.out_height * layer.conv.out_width
            * min(CONV.conv_lanes, 1 << (layer.conv.out_channels - 1).bit_length())
            // CONV.neuron_units * len(images)
            for l, layer in enumerate(network.layers[:-1])}
    assert chunks[3] == full[3]
    assert all(chunks.get(l, 0) < full[l] for l in range(3)), (chunks, full)


def silent_layer_network(rng):
    """A conv layer of 3 x 3 outputs that never spikes (its threshold out of reach), then a
    conv layer of one output position: the second layer's blocks have no event, so that its
    walk starts in the cycle after its ACCUM starts, and its map's one row must have replaced
    the 3 rows of the layer before by then (a walk of the earlier layer's rows repeats the
    position)."""
    c1 = Conv(2, 5, 4, 3, kernel=4, stride=2, padding=1)
    conv1 = Layer(weights=rng.integers(-8, 8, size=c1.weight_shape), weight_bits=4,
                  threshold=30000, conv=c1, neuron="lif", leak_mode="shift", leak=2)
    c2 = Conv(3, 2, 2, 1, kernel=2, stride=1)
    conv2 = Layer(weights=rng.integers(-8, 8, size=c2.weight_shape), weight_bits=4,
                  threshold=3, conv=c2)
    dense = Layer(weights=rng.integers(-8, 8, size=(3, conv2.n_out)), weight_bits=4,
                  threshold=3)
    network = Network([conv1, conv2, dense], timesteps=2, encoder="direct").validate()
    return network, random_pixels(rng, 1, network.n_inputs)


def test_a_block_without_events_after_a_taller_map(device):
    """:func:`silent_layer_network`: the trace and the cycles as checked."""
    network, images = silent_layer_network(np.random.default_rng(22))
    assert golden.run(network, images).spikes[0].sum() == 0
    check(device, network, images, "silent layer")


def three_bands_network(rng):
    """A 6 x 4 map of 3 bands of 2 rows (on BANDED), leaky and biased (every position at every
    step), then 2 x 2 average pooling with stride 2 and padding 1 (a 4 x 3 map: 2 bands)."""
    c = Conv(2, 6, 4, 8, kernel=3, padding=1)
    conv = Layer(weights=rng.integers(-8, 8, size=c.weight_shape), weight_bits=4,
                 threshold=150, conv=c, neuron="lif", leak_mode="shift", leak=2,
                 reset="subtract", fire_once=False, bias=rng.integers(-3, 4, size=c.n_out))
    p = Conv(8, 6, 4, 8, kernel=2, stride=2, padding=1, groups=8)
    pool = Layer(weights=np.ones(p.weight_shape, np.int64), weight_bits=2, threshold=2,
                 conv=p, fire_once=False)
    dense = Layer(weights=rng.integers(-8, 8, size=(3, pool.n_out)), weight_bits=4,
                  threshold=3)
    network = Network([conv, pool, dense], timesteps=3, encoder="hybrid").validate()
    return network, random_pixels(rng, 2, network.n_inputs)


@pytest.mark.parametrize("make, seed, bands", [
    (pooling_network, 7, [2, 1]), (three_bands_network, 3, [3, 2]),
    (rate_network, 11, [5, 4]), (skipping_network, 21, [8, 2, 2, 2])])
def test_bands_of_rows(device, banded, make, seed, bands):
    """Maps larger than the current memory integrated in bands of rows (each band replaying
    the step's events): the same trace records, in the same order, as on the hardware that
    holds every map whole, and the cycles that core.perf counts for each band (stride 2,
    padding, pooling, two channel blocks, skipping on and off)."""
    network, images = make(np.random.default_rng(seed))
    assert [len(BANDED.conv_bands(layer)) for layer in network.layers[:-1]] == bands
    assert all(len(CONV.conv_bands(layer)) == 1 for layer in network.layers[:-1])
    whole = check(device, network, images, "whole maps")
    assert check(banded, network, images, "bands") == whole


@pytest.mark.parametrize("seed", [4] + [pytest.param(s, marks=pytest.mark.slow)
                                       for s in (0, 1, 2, 3, 5)])
def test_random_networks_in_bands(banded, seed):
    """Random networks (seed 4: a conv layer in 2 bands) on the hardware of 8 positions."""
    rng = np.random.default_rng(6000 + seed)
    network = random_fitting_network(rng, BANDED, max_timesteps=3)
    check(banded, network, random_pixels(rng, 1, network.n_inputs), f"seed {6000 + seed}")


#: Banks of the current memory (docs/architecture.md, "Banks of the current memory"): two
#: banks of 4 lanes on 8; four of 4 lanes on 16 with 16 positions (bands of rows too); two of
#: 8 lanes on 16, whose positions hold two chunks of the update's 4 neurons; eight of 4 lanes
#: on 32 (the shipped mnist-cnn's eight banks, each of 4 words).
BANKS2 = CONV.replace(conv_lanes=4, conv_banks=2)
BANKS4 = CONV.replace(lanes=16, conv_lanes=4, conv_banks=4, conv_positions=16)
BANKS2_WIDE = CONV.replace(lanes=16, conv_lanes=8, conv_banks=2)
BANKS8 = CONV.replace(lanes=32, conv_lanes=4, conv_banks=8, conv_positions=32)


@pytest.fixture(scope="module", params=[BANKS2, BANKS4, BANKS2_WIDE, BANKS8],
                ids=["banks2", "banks4", "banks2-wide", "banks8"])
def banked_device(request):
    yield from _device(request.param)


@pytest.mark.parametrize("make, seed", [
    (pooling_network, 7), (three_bands_network, 3), (rate_network, 11),
    (skipping_network, 21), (one_step_network, 21)])
def test_banks(banked_device, make, seed):
    """Several kernel columns a cycle, one in each bank: against the golden model and the
    cycles that core.perf counts (stride 2, padding, pooling, channel blocks, skipping,
    bands), and fewer cycles than one bank takes where a kernel row reaches several output
    columns (stride 1; with stride 2 the columns of a word that land are one in two)."""
    network, images = make(np.random.default_rng(seed))
    check(banked_device, network, images, f"{banked_device.config.conv_banks} banks")
    if any(layer.conv.kernel > 1 and layer.conv.stride == 1 for layer in network.layers
           if layer.conv is not None):
        one = banked_device.config.replace(conv_banks=1)
        assert sum(cycle_count(network, banked_device.config, x) for x in images) < sum(
            cycle_count(network, one, x) for x in images)


@pytest.mark.parametrize("seed", [0, 1] + [pytest.param(s, marks=pytest.mark.slow)
                                          for s in range(2, 6)])
def test_random_networks_on_banks(banked_device, seed):
    rng = np.random.default_rng(7000 + seed)
    network = random_fitting_network(rng, banked_device.config, max_timesteps=3)
    check(banked_device, network, random_pixels(rng, 1, network.n_inputs),
          f"seed {7000 + seed}, {banked_device.config.conv_banks} banks")
