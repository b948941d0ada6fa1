"""hw.accel.Accelerator in Amaranth's simulator against core.golden, value by value.

Every inference is compared on every spike and membrane value of every layer and step (the
trace port), on the first spike times and potentials, the final membranes and the class, and
on the cycle count that core.perf predicts. Networks are drawn from core.randnet over all options;
the seed of a failing case is in the assertion message.
"""

from contextlib import contextmanager

import numpy as np
import pytest

from core import golden, memmap
from core.config import Config
from core.network import READOUTS, Layer, Network
from core.perf import cycle_count
from core.randnet import random_network, random_pixels
from sim.pysim import AmaranthSimTransport
from sw.compiler import bias_writes, compile_network
from sw.device import Device

TINY = Config.tiny()


@contextmanager
def open_device(config):
    """The host driver on a simulated accelerator of ``config``."""
    with AmaranthSimTransport(config) as transport:
        driver = Device(transport)
        driver.identify()
        yield driver


@pytest.fixture(scope="module")
def device():
    with open_device(TINY) as driver:
        yield driver


def mismatches(driver, network, pixels, result, trace):
    """Differences between one simulated inference and the golden trace of the same image."""
    U = driver.config.neuron_units
    errors = []
    records = driver.transport.trace
    expected = sum(-(-layer.n_out // U) for layer in network.layers) * network.timesteps
    if len(records) != expected:
        errors.append(f"{len(records)} trace records, expected {expected}")
    for rec in records:
        for k in range(U):
            if not rec.mask >> k & 1:
                continue
            j = rec.index + k
            want = (bool(trace.spikes[rec.layer][0, rec.step, j]),
                    int(trace.membrane[rec.layer][0, rec.step, j]))
            got = (bool(rec.spikes >> k & 1), rec.membrane[k])
            if got != want:
                errors.append(f"layer {rec.layer} step {rec.step} neuron {j}: (spike, v) "
                              f"{got}, golden {want}")
    for name, got, want in [
        ("first_time", result.first_time.tolist(), trace.first_time[0].tolist()),
        ("first_potential", result.first_potential.tolist(),
         trace.first_potential[0].tolist()),
        ("final membrane", result.membrane.tolist(), trace.membrane[-1][0, -1].tolist()),
        ("class", result.cls, int(trace.prediction[0])),
        ("cycles", result.cycles, cycle_count(network, driver.config, pixels)),
        ("count", None if result.count is None else result.count.tolist(),
         trace.count[0].tolist() if driver.config.spike_count else None),
    ]:
        if got != want:
            errors.append(f"{name} {got}, golden {want}")
    return errors


def check(driver, network, images, label):
    driver.load(network)
    for b, pixels in enumerate(np.asarray(images)):
        driver.transport.trace.clear()
        result = driver.infer(pixels)
        errors = mismatches(driver, network, pixels, result, golden.run(network, pixels[None]))
        assert not errors, (f"{label}, image {b}: {len(errors)} differences, first: "
                            f"{errors[:3]}\nnetwork {network.sizes} {network.encoder} "
                            f"{network.readout} T={network.timesteps} M={network.membrane_bits}")


@pytest.mark.parametrize("seed", range(24))
def test_random_networks(device, seed):
    rng = np.random.default_rng(1000 + seed)
    network = random_network(rng, max_inputs=TINY.max_inputs, max_neurons=TINY.max_neurons,
                             max_layers=TINY.max_layers, max_timesteps=TINY.max_timesteps)
    check(device, network, random_pixels(rng, 2, network.n_inputs), f"seed {1000 + seed}")


#: Two inputs per cycle (inputs_per_cycle = 2): pairs of inputs, two products per lane.
TINY_K2 = Config.tiny(inputs_per_cycle=2)


@pytest.fixture(scope="module")
def device_k2():
    with open_device(TINY_K2) as driver:
        yield driver


@pytest.mark.parametrize("seed", range(16))
def test_random_networks_two_inputs_per_cycle(device_k2, seed):
    """Odd and even input counts, every encoder, 1- to 8-bit weights: the same spikes and
    membranes as the golden model, and the cycle count core.perf predicts for K = 2."""
    rng = np.random.default_rng(3000 + seed)
    network = random_network(rng, max_inputs=TINY_K2.max_inputs,
                             max_neurons=TINY_K2.max_neurons, max_layers=TINY_K2.max_layers,
                             max_timesteps=TINY_K2.max_timesteps)
    check(device_k2, network, random_pixels(rng, 2, network.n_inputs),
          f"K=2, seed {3000 + seed}")


def test_two_inputs_per_cycle_saves_cycles(device, device_k2):
    """Dense inputs: pairs halve the integration cycles of layer 0 (core.perf and the gateware
    agree on both counts, checked in ``check``)."""
    rng = np.random.default_rng(7)
    n_in = TINY.max_inputs
    network = Network([_layer(rng, TINY.max_neurons, n_in, 4, threshold=400),
                       _layer(rng, 6, TINY.max_neurons, 4, threshold=20)],
                      membrane_bits=16, timesteps=2, encoder="direct").validate()
    image = np.full(n_in, 200, np.uint8)
    cycles = []
    for driver in (device, device_k2):
        check(driver, network, image[None], f"K={driver.config.inputs_per_cycle}")
        cycles.append(driver.infer(image).cycles)
    one, two = cycles
    # Layer 0 integrates n_in events per block and step with K = 1, n_in / 2 with K = 2.
    blocks = -(-TINY.max_neurons // TINY.lanes)
    assert one - two >= network.timesteps * blocks * (n_in // 2) - 8, (one, two)


#: Enough pixel rows (50 of 4 pixels) for the scan's seven groups of 8 rows.
TINY_ROWS = Config.tiny(max_inputs=200, weight_words=512)


@pytest.fixture(scope="module")
def device_rows():
    with open_device(TINY_ROWS) as driver:
        yield driver


@pytest.mark.parametrize("seed", range(6))
def test_scan_over_row_groups(device_rows, seed):
    """Images whose nonzero rows are spread over the scan's groups of 8 rows: empty groups,
    groups with one row, a full last group, the last row alone; the same events and the cycle
    count core.perf predicts, for every encoder."""
    rng = np.random.default_rng(4000 + seed)
    n_in = int(rng.integers(150, TINY_ROWS.max_inputs + 1))
    rows = -(-n_in // 4)
    images = []
    for pattern in ("sparse", "one per group", "last", "dense"):
        image = np.zeros(rows * 4, np.int64)
        if pattern == "sparse":
            picked = rng.choice(rows, size=int(rng.integers(1, 6)), replace=False)
        elif pattern == "one per group":
            picked = [8 * g + int(rng.integers(0, 8)) for g in range(0, -(-rows // 8), 2)]
        elif pattern == "last":
            picked = [rows - 1]
        else:
            picked = rng.choice(rows, size=rows * 3 // 4, replace=False)
        for r in picked:
            if r < rows:
                image[4 * r + rng.integers(0, 4)] = int(rng.integers(1, 256))
        images.append(image[:n_in])
    for encoder in ("direct", "hybrid", "rate"):
        layer = _layer(rng, TINY_ROWS.max_neurons, n_in, 4, threshold=int(rng.integers(1, 60)))
        network = Network([layer], membrane_bits=16, timesteps=3, encoder=encoder,
                          readout="max_membrane", lfsr_seed=int(rng.integers(1, 1 << 16)))
        check(device_rows, network.validate(), images, f"{encoder}, seed {4000 + seed}")


def _layer(rng, n_out, n_in, bits, **fields):
    lo, hi = (-1, 1) if bits == 1 else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    w = rng.integers(lo, hi + 1, size=(n_out, n_in))
    if bits == 1:
        w = np.where(w == 0, 1, w)
    return Layer(w, bits, **fields)


@pytest.mark.parametrize("encoder", ["direct", "hybrid", "rate"])
def test_edges(device, encoder):
    """Saturation, all-zero and all-max images, T = 1 and T = T_max, 1- and 8-bit weights."""
    rng = np.random.default_rng(hash(encoder) % 1000)
    n_in = TINY.max_inputs
    images = np.stack([np.zeros(n_in, np.uint8), np.full(n_in, 255, np.uint8),
                       random_pixels(rng, 1, n_in)[0]])
    for T in (1, TINY.max_timesteps):
        for bits in (1, 8):
            # narrow membranes and low thresholds: currents saturate at both ends
            net = Network([
                _layer(rng, TINY.max_neurons, n_in, bits, threshold=int(rng.integers(1, 100)),
                       neuron="lif", leak_mode="shift", leak=1, reset="subtract",
                       fire_once=False),
                _layer(rng, 5, TINY.max_neurons, bits, threshold=2, reset="none",
                       fire_once=False),
            ], membrane_bits=8, timesteps=T, encoder=encoder, readout="first_spike")
            check(device, net.validate(), images, f"{encoder} T={T} bits={bits}")


def test_threshold_ties(device):
    """Output neurons with equal weights fire in the same step with equal potentials: the
    read-out must take the lowest index; without spikes, the lowest index of equal maxima."""
    rng = np.random.default_rng(3)
    hidden = _layer(rng, 8, 12, 4, threshold=200, fire_once=True)
    w = np.tile(rng.integers(0, 4, size=(1, 8)), (6, 1))
    w[0] = -w[0]  # neuron 0 never fires
    for threshold, readout in [(1, "first_spike"), (10**6, "first_spike"),
                               (1, "max_membrane")]:
        out = Layer(w, 4, threshold=threshold, reset="none", fire_once=False)
        net = Network([hidden, out], membrane_bits=24, timesteps=4, encoder="direct",
                      readout=readout).validate()
        images = np.stack([random_pixels(rng, 1, 12)[0], np.full(12, 255, np.uint8)])
        check(device, net, images, f"ties threshold={threshold} {readout}")
        trace = golden.run(net, images)
        # the case is a tie: neurons 1 .. 5 are identical, so the winner is neuron 1
        assert trace.membrane[-1][1, -1, 1] == trace.membrane[-1][1, -1, 5]
        if threshold == 1:
            assert trace.first_time[1, 1] == trace.first_time[1, 5] < golden.NEVER
            assert int(trace.prediction[1]) == 1


def test_back_to_back_and_reload(device):
    """Nothing leaks from one inference to the next, nor from one network to the next."""
    rng = np.random.default_rng(11)
    a = random_network(rng, max_inputs=20, max_neurons=16, max_layers=3, max_timesteps=6)
    b = random_network(rng, max_inputs=32, max_neurons=16, max_layers=2, max_timesteps=8)
    xa = random_pixels(rng, 2, a.n_inputs)
    device.load(a)
    first = device.infer_batch(xa)
    again = device.infer_batch(xa[::-1])[::-1]
    for r1, r2 in zip(first, again):
        assert (r1.cls, r1.first_time.tolist(), r1.membrane.tolist(), r1.cycles) == \
            (r2.cls, r2.first_time.tolist(), r2.membrane.tolist(), r2.cycles)
    check(device, b, random_pixels(rng, 1, b.n_inputs), "second network")
    check(device, a, xa, "first network again")


def test_abort_mid_inference(device):
    rng = np.random.default_rng(5)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=3, max_timesteps=8)
    x = random_pixels(rng, 1, net.n_inputs)[0]
    device.load(net)
    full = cycle_count(net, device.config, x)
    device.start(x)
    device.transport.run(full // 2)
    assert device.status() & memmap.STATUS_BUSY
    device.abort()
    status = device.status()
    assert not status & memmap.STATUS_BUSY and status & memmap.STATUS_ABORTED
    assert not status & memmap.STATUS_DONE
    # the next inference is exact: no state of the aborted one is left
    check(device, net, x[None], "after abort")


def test_abort_in_every_state(device):
    """An abort in any cycle of an inference (every state, and each state's own transition)
    stops the sequencer: the next START finds it idle and runs a whole exact inference."""
    rng = np.random.default_rng(11)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=3, max_timesteps=2)
    x = random_pixels(rng, 1, net.n_inputs)[0]
    device.load(net)
    full = cycle_count(net, device.config, x)
    for cut in range(1, min(full, 120)):
        device.start(x)
        device.transport.run(cut)
        device.abort()
        device.start(x)    # taken only if the abort left the sequencer idle
        assert device.status() & memmap.STATUS_BUSY, f"not running after an abort at {cut}"
        device.abort()
    check(device, net, x[None], "after the aborts")


def test_abort_in_the_readout(device):
    """Aborts in the last cycles (the read-out) leave nothing behind either."""
    rng = np.random.default_rng(8)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=2, max_timesteps=2)
    x = random_pixels(rng, 1, net.n_inputs)[0]
    device.load(net)
    full = cycle_count(net, device.config, x)
    aborted = 0
    for back in range(1, 3 * net.n_classes + 8):
        device.start(x)
        device.transport.run(max(1, full - back))
        if device.status() & memmap.STATUS_BUSY:
            device.abort()
            status = device.status()
            if status & memmap.STATUS_ABORTED:
                aborted += 1
                check(device, net, x[None], f"after an abort {back} cycles before the end")
            else:  # it finished while the abort was on its way
                assert status & memmap.STATUS_DONE, status
    assert aborted >= net.n_classes, aborted


def test_writes_while_busy_are_rejected(device):
    rng = np.random.default_rng(6)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=2, max_timesteps=8)
    x = random_pixels(rng, 1, net.n_inputs)[0]
    device.load(net)
    device.start(x)
    t = device.transport
    reg = 4 * memmap.layer_reg(0, memmap.LAYER_THRESHOLD)
    before = t.read_word(reg)
    t.write_word(reg, before + 1)
    t.write_word(4 * TINY.weight_base, 0x12345678)
    assert t.read_word(reg) == before
    assert device.status() & memmap.STATUS_REJECTED
    device.wait()
    assert t.read_word(reg) == before


def test_identify_and_readback(device):
    assert device.identify() == TINY
    rng = np.random.default_rng(8)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=3, max_timesteps=8)
    device.load(net)
    for address, words in compile_network(net, TINY):
        assert device.transport.read(address, len(words)) == words, hex(address)


@pytest.mark.parametrize("weight_bits", [1, 3, 4])
def test_narrow_hardware_weights(weight_bits):
    """Hardware with 1-bit (binary) or 4-bit weight memories, networks of narrower weights."""
    config = Config.tiny(weight_bits=weight_bits, membrane_bits=16, encoders=("hybrid",))
    rng = np.random.default_rng(20 + weight_bits)
    with AmaranthSimTransport(config) as transport:
        driver = Device(transport)
        for case in range(3):
            net = random_network(rng, max_inputs=config.max_inputs, max_neurons=16,
                                 max_layers=2, max_timesteps=6, encoders=("hybrid",),
                                 membrane_bits=16)
            for layer in net.layers:
                if layer.weight_bits > weight_bits:
                    layer.weights = np.clip(layer.weights, -1, 1) | (weight_bits == 1)
                    layer.weights = np.where(layer.weights == 0, 1, layer.weights)
                    layer.weight_bits = weight_bits if weight_bits > 1 else 1
            check(driver, net.validate(), random_pixels(rng, 1, net.n_inputs),
                  f"weight_bits={weight_bits} case {case}")


@pytest.mark.parametrize("units, inputs_per_cycle", [(1, 1), (2, 2)])
def test_one_input_group_per_update(units, inputs_per_cycle):
    """U / K = 1: the event buffer's one-event flag is a bit of its own, not bit 0 of the
    index (hw.accel); the same spikes, membranes and cycles as the golden model."""
    config = Config.tiny(neuron_units=units, inputs_per_cycle=inputs_per_cycle)
    with open_device(config) as driver:
        for seed in range(4):
            rng = np.random.default_rng(5000 + seed)
            network = random_network(rng, max_inputs=config.max_inputs,
                                     max_neurons=config.max_neurons,
                                     max_layers=config.max_layers,
                                     max_timesteps=config.max_timesteps)
            check(driver, network, random_pixels(rng, 2, network.n_inputs),
                  f"U={units} K={inputs_per_cycle}, seed {5000 + seed}")


def test_update_overlaps_the_next_block():
    """The next block of a layer starts while the update of the last has OVERLAP_CHUNKS
    chunks to go (U = 1: 8 chunks per block), and a block without events waits for that update
    to finish: spikes, membranes and cycles as the golden model and core.perf say."""
    from core.perf import _accum_replay, _update
    config = Config.tiny(neuron_units=1)
    # the wait is exercised
    assert _update(config.lanes, last=False, output_layer=False)[1] > _accum_replay(0)
    rng = np.random.default_rng(6000)
    n_in, n = config.max_inputs, config.max_neurons
    images = np.stack([np.zeros(n_in, np.uint8), random_pixels(rng, 1, n_in)[0]])
    with open_device(config) as driver:
        for threshold in (1 << 20, 40):   # a silent first layer (empty replays), a busy one
            net = Network([
                _layer(rng, n, n_in, 4, threshold=threshold, fire_once=False),
                _layer(rng, n, n, 4, threshold=3, fire_once=False),
            ], membrane_bits=24, timesteps=3, encoder="direct", readout="first_spike")
            check(driver, net.validate(), images, f"threshold {threshold}")


#: Both generator options: the bias memory, the spike counts and the spike_count read-out.
TINY_OPTIONS = Config.tiny(bias=True, spike_count=True)


@pytest.fixture(scope="module")
def device_options():
    with open_device(TINY_OPTIONS) as driver:
        yield driver


@pytest.mark.parametrize("seed", range(10))
def test_random_networks_with_bias_and_spike_count(device_options, seed):
    """Random networks with biases (either sign, up to the membrane's extremes) and every
    read-out, spike_count included: every spike, membrane, spike count and the class as the
    golden model, the cycles as core.perf (the options cost none)."""
    rng = np.random.default_rng(7000 + seed)
    cfg = TINY_OPTIONS
    network = random_network(rng, max_inputs=cfg.max_inputs, max_neurons=cfg.max_neurons,
                             max_layers=cfg.max_layers, max_timesteps=cfg.max_timesteps,
                             bias=True, readouts=READOUTS)
    check(device_options, network, random_pixels(rng, 2, network.n_inputs),
          f"bias/spike_count, seed {7000 + seed}")


def test_spike_count_ties_and_silence(device_options):
    """Identical output neurons spike equally often: the lowest index wins; with no spike at
    all, neuron 0. A bias alone (no input) makes neurons spike; a negative one silences them."""
    n_in = 6
    w = np.zeros((5, n_in), np.int64)
    cases = [([0, 3, 3, 2, 3], 1), ([0, 0, 0, 0, 0], 0), ([-5, 4, -128, 4, 1], 1)]
    for bias, want in cases:
        out = Layer(w, 4, threshold=4, reset="subtract", fire_once=False, bias=bias)
        net = Network([out], membrane_bits=8, timesteps=5, encoder="direct",
                      readout="spike_count").validate()
        image = np.zeros((1, n_in), np.uint8)
        check(device_options, net, image, f"spike-count ties, bias {bias}")
        assert int(golden.run(net, image).prediction[0]) == want


def test_bias_window_readback_and_reload(device_options):
    """The bias window reads back what the compiler wrote (sign-extended), and a network
    without biases loaded after one with them computes as if none had been there."""
    rng = np.random.default_rng(12)
    cfg = TINY_OPTIONS
    with_bias = random_network(rng, max_inputs=20, max_neurons=16, max_layers=3,
                               max_timesteps=6, bias=True)
    with_bias.layers[0].bias = np.resize([-(1 << 31), (1 << 31) - 1, -1, 5],
                                         with_bias.layers[0].n_out)
    with_bias.membrane_bits = 32
    device_options.load(with_bias.validate())
    for address, words in bias_writes(with_bias, cfg):
        assert device_options.transport.read(address, len(words)) == words, hex(address)
    plain = random_network(rng, max_inputs=20, max_neurons=16, max_layers=3, max_timesteps=6)
    check(device_options, plain, random_pixels(rng, 2, plain.n_inputs), "after biases")


def test_identify_options():
    """CFG_OPTIONS tells the host which options the gateware has."""
    for config in (TINY, Config.tiny(bias=True), Config.tiny(spike_count=True),
                   Config.tiny(stream=True)):
        with open_device(config) as driver:
            assert driver.identify() == config


#: The input queue (Config.stream): two pixel halves, the compact input, two result slots.
TINY_STREAM = Config.tiny(stream=True)


@pytest.fixture(scope="module")
def device_stream():
    with open_device(TINY_STREAM) as driver:
        yield driver


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_through_the_input_queue(device_stream, seed):
    """Every encoder through the input queue, one image at a time: compact entries (the
    image written whole for the rate encoder), START, the result slot, POP; every spike and
    membrane, the results and the cycles as without the queue."""
    rng = np.random.default_rng(9000 + seed)
    cfg = TINY_STREAM
    network = random_network(rng, max_inputs=cfg.max_inputs, max_neurons=cfg.max_neurons,
                             max_layers=cfg.max_layers, max_timesteps=cfg.max_timesteps)
    images = random_pixels(rng, 3, network.n_inputs)
    images[0] = 0                                    # an image without a nonzero pixel
    check(device_stream, network, images, f"stream, seed {9000 + seed}")


@pytest.mark.parametrize("seed", range(2))
def test_batch_overlaps_writes_with_inferences(device_stream, seed):
    """infer_batch writes image k + 1 while image k computes: the results of a batch in order,
    each as the golden model's, and the accelerator never idle long between two images."""
    rng = np.random.default_rng(9500 + seed)
    cfg = TINY_STREAM
    network = random_network(rng, max_inputs=cfg.max_inputs, max_neurons=cfg.max_neurons,
                             max_layers=cfg.max_layers, max_timesteps=cfg.max_timesteps,
                             encoders=("direct", "hybrid"))
    images = random_pixels(rng, 6, network.n_inputs)
    device_stream.load(network)
    results = device_stream.infer_batch(images)
    trace = golden.run(network, images)
    assert [r.cls for r in results] == trace.prediction.tolist()
    for k, r in enumerate(results):
        assert r.first_time.tolist() == trace.first_time[k].tolist(), k
        assert r.first_potential.tolist() == trace.first_potential[k].tolist(), k
        assert r.membrane.tolist() == trace.membrane[-1][k, -1].tolist(), k
        assert r.cycles == cycle_count(network, cfg, images[k]), k


def test_input_queue_status_hold_and_reject(device_stream):
    """The queue's flags and refusals: a START while an image is queued is dropped and flagged;
    with both result slots unread the queued image waits (FULL), an input write is dropped and
    flagged; POP frees a slot and the waiting image runs; REJECTED stays until CLEAR."""
    rng = np.random.default_rng(77)
    cfg = TINY_STREAM
    network = random_network(rng, max_inputs=cfg.max_inputs, max_neurons=cfg.max_neurons,
                             max_layers=2, max_timesteps=3, encoders=("direct",))
    d, t = device_stream, device_stream.transport
    d.load(network)
    control, status = 4 * memmap.REG_CONTROL, 4 * memmap.REG_STATUS
    t.write_word(control, memmap.CONTROL_CLEAR)
    image = random_pixels(rng, 1, network.n_inputs)[0]
    d.start(image)                                   # runs at once
    t.write_word(control, memmap.CONTROL_START)      # an empty image, queued
    assert t.read_word(status) & memmap.STATUS_QUEUED
    t.write_word(control, memmap.CONTROL_START)      # a second one: refused
    assert t.read_word(status) & memmap.STATUS_REJECTED
    t.run(5000)
    t.write_word(control, memmap.CONTROL_CLEAR)      # forgets the results and REJECTED
    assert not t.read_word(status) & 0x7E
    d.start(image)
    t.write_word(control, memmap.CONTROL_START)
    t.run(5000)
    word = t.read_word(status)
    assert word & memmap.STATUS_FULL and not word & memmap.STATUS_QUEUED, hex(word)
    t.write_word(control, memmap.CONTROL_START)      # a third: waits, both slots unread
    t.run(200)
    assert t.read_word(status) & memmap.STATUS_QUEUED
    t.write(4 * memmap.REG_PIXEL_STREAM, [0x0101])   # an input write now: dropped
    assert t.read_word(status) & memmap.STATUS_REJECTED
    want = golden.run(network, np.stack([image, 0 * image]))
    first = d.results()
    assert first.cls == int(want.prediction[0])
    assert first.first_time.tolist() == want.first_time[0].tolist()
    d.pop()
    t.run(5000)
    word = t.read_word(status)
    assert word & memmap.STATUS_FULL and word & memmap.STATUS_REJECTED, hex(word)
    for _ in range(2):                               # the empty images' results
        assert d.results().first_time.tolist() == want.first_time[1].tolist()
        d.pop()
    t.write_word(control, memmap.CONTROL_CLEAR)
    assert not t.read_word(status) & 0x7E            # nothing queued, unread or flagged


def test_input_queue_rows_of_two_words():
    """Eight pixels per encoder row (two bus words, as the mnist configuration has) and a row
    count that is not a power of two: each half of the pixel memory is addressed whole."""
    cfg = Config.tiny(stream=True, pixels_per_cycle=8, max_inputs=40)
    with open_device(cfg) as driver:
        for seed in range(3):
            rng = np.random.default_rng(9900 + seed)
            network = random_network(rng, max_inputs=cfg.max_inputs,
                                     max_neurons=cfg.max_neurons, max_layers=2,
                                     max_timesteps=4)
            check(driver, network, random_pixels(rng, 3, network.n_inputs),
                  f"stream S=8, seed {9900 + seed}")


def test_input_queue_clear_forgets_what_was_left(device_stream):
    """CLEAR (which load writes) forgets a queued image and unread results, so that a host
    that starts afresh reads its own results."""
    rng = np.random.default_rng(78)
    cfg = TINY_STREAM
    network = random_network(rng, max_inputs=cfg.max_inputs, max_neurons=cfg.max_neurons,
                             max_layers=2, max_timesteps=3)
    d, t = device_stream, device_stream.transport
    d.load(network)
    images = random_pixels(rng, 3, network.n_inputs)
    for image in images:                             # two run, the third waits: nobody reads
        d.start(image)
    t.run(5000)
    word = t.read_word(4 * memmap.REG_STATUS)
    assert word & memmap.STATUS_FULL and word & memmap.STATUS_QUEUED, hex(word)
    d.load(network)
    assert not t.read_word(4 * memmap.REG_STATUS) & 0x7E
    check(d, network, images[::-1], "after CLEAR")


def test_result_window_of_few_classes_among_many_neurons():
    """``max_classes`` far below ``max_neurons`` narrows the result window (``region_bits``)
    below a layer's chunk index: the final membranes, read from the membrane memory through
    that window, still come from the output layer's chunks (they once came from a later
    layer's address, the chunk field being narrower than the memory's)."""
    config = Config.tiny(max_neurons=256, max_classes=4, lanes=8, neuron_units=4)
    assert config.region_bits - 2 - 2 < (config.chunks_per_layer - 1).bit_length()
    rng = np.random.default_rng(7000)
    hidden = Layer(weights=np.full((4, 16), 3), weight_bits=4, threshold=20)
    # An output layer that never fires: its final membranes are the sums, all different.
    output = Layer(weights=rng.integers(-7, 8, size=(3, 4)), weight_bits=4, threshold=30000)
    network = Network([hidden, output], timesteps=2, encoder="direct").validate()
    pixels = random_pixels(rng, 2, network.n_inputs)
    assert np.abs(golden.run(network, pixels).membrane[-1][:, -1]).min() > 0
    with open_device(config) as driver:
        check(driver, network, pixels, "few classes")
