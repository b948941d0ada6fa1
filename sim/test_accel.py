"""Co-simulation benches of the accelerator against the golden model.

Each cocotb test loads networks through the memory map with the host driver
(``sw.device.Device`` over :class:`sim.harness.CocotbTransport`), runs inferences and compares
every spike and membrane value of every layer and timestep, the read-out results and the class
with ``core.golden.run`` (:mod:`sim.compare`). One build of the design serves every network.

Parameters come from the environment (set by the pytest entry points at the bottom):
``COSIM_SEED`` (base seed), ``COSIM_NETWORKS`` and ``COSIM_IMAGES`` (random cases), ``COSIM_FULL``
(1: the long variants). A failure names the seed that reproduces it.
"""

import os

import cocotb
import numpy as np
import pytest

from core import golden, memmap
from core.config import Config
from core.network import Conv, Layer, Network, max_pool
from core.randnet import random_pixels, random_weights

from . import toolchain
from .designs import accelerator, random_fitting_network
from .session import Session

SEED = int(os.environ.get("COSIM_SEED", "2026"))
NETWORKS = int(os.environ.get("COSIM_NETWORKS", "20"))
IMAGES = int(os.environ.get("COSIM_IMAGES", "3"))
FULL = os.environ.get("COSIM_FULL", "0") == "1"


def _reproduce(test: str, seed: int) -> str:
    return (f"reproduce: pytest sim/test_accel.py -k {test} --cosim-seed {seed}  "
            f"(or COSIM_SEED={seed})")


async def _session(dut):
    return await Session.open(dut)


async def _check(session, network, pixels, label):
    await session.load(network)
    report = await session.run(network, pixels)
    assert not report.failed, report.describe(label + ": ")
    return report


@cocotb.test()
async def random_networks(dut):
    """Random networks over every option of numerics.md, a few images each."""
    session = await _session(dut)
    config = session.config
    for k in range(NETWORKS):
        seed = SEED * 1000 + k
        rng = np.random.default_rng(seed)
        network = random_fitting_network(rng, config)
        pixels = random_pixels(rng, IMAGES, network.n_inputs)
        await _check(session, network, pixels,
                     f"network {k} (seed {seed}, sizes {network.sizes}, "
                     f"T={network.timesteps}, {network.encoder}); {_reproduce('random', SEED)}")


def _layer(weights, bits, **params):
    return Layer(weights=np.asarray(weights, np.int64), weight_bits=bits, **params)


def _theta(value, membrane_bits):
    """A threshold clipped to the range of the membrane."""
    return int(np.clip(value, 1, (1 << (membrane_bits - 1)) - 1))


def _edge_cases(config, rng):
    """(label, network, pixels) of the corner cases, sized to ``config``."""
    n_in, n_max, T_max = config.max_inputs, config.max_neurons, config.max_timesteps
    wb = config.weight_bits
    lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
    M_min = 8
    cases = []
    full = np.full((1, n_in), 255, np.uint8)
    zero = np.zeros((1, n_in), np.uint8)
    mixed = random_pixels(rng, 2, n_in)
    images = np.concatenate([full, zero, mixed])

    # Saturation, both ways: 8-bit membranes, the largest weights, full-scale direct input.
    w = np.where(np.arange(n_max)[:, None] % 2 == 0, hi, lo) * np.ones((n_max, n_in), np.int64)
    for reset in ("none", "subtract", "zero"):
        net = Network([_layer(w, wb, threshold=127, reset=reset, fire_once=False)],
                      membrane_bits=M_min, timesteps=min(3, T_max), encoder="direct")
        cases.append((f"saturation reset={reset}", net, images))
    # The same at the configuration's widest membrane.
    if config.membrane_bits > M_min:
        M = config.membrane_bits
        net = Network([_layer(w, wb, threshold=(1 << (M - 1)) - 1, reset="none",
                              fire_once=False, neuron="lif", leak_mode="shift", leak=M - 1)],
                      membrane_bits=M, timesteps=min(4, T_max), encoder="direct")
        cases.append(("wide membrane saturation", net, images))

    # Threshold ties: neuron j sees exactly I = w * x and has threshold I - 1, I, I + 1.
    x = 200
    weights = np.zeros((3, n_in), np.int64)
    weights[:, 0] = 1
    tie_pixels = np.zeros((1, n_in), np.uint8)
    tie_pixels[0, 0] = x
    for j, theta in enumerate((x - 1, x, x + 1)):
        net = Network([_layer(weights[:1], 2, threshold=theta, fire_once=False)],
                      membrane_bits=16, timesteps=min(4, T_max), encoder="direct")
        cases.append((f"threshold tie theta=I{theta - x:+d}", net, tie_pixels))
    # Ties in the read-out: equal first-spike times and equal potentials.
    n_cls = min(4, n_max)
    w_eq = np.zeros((n_cls, n_in), np.int64)
    w_eq[:, 0] = 1
    for readout in ("first_spike", "max_membrane"):
        net = Network([_layer(w_eq, 2, threshold=x)], membrane_bits=16,
                      timesteps=min(2, T_max), encoder="direct", readout=readout)
        cases.append((f"read-out tie {readout}", net, tie_pixels))
    cases += _option_cases(config, w, w_eq, images, tie_pixels)

    # T = 1 and T = T_max, every encoder; 1-bit and widest weights; the widest layer.
    for T in sorted({1, T_max}):
        for encoder in config.encoders:
            for bits in sorted({1, wb}):
                weights = random_weights(rng, n_max, n_in, bits)
                typical = max(1, int(np.abs(weights).sum(axis=1).mean() * 64))
                M = min(24, config.membrane_bits)
                net = Network([_layer(weights, bits, threshold=_theta(typical, M),
                                      neuron="lif", leak_mode="factor", leak=200,
                                      reset="subtract", fire_once=False)],
                              membrane_bits=M, timesteps=T,
                              encoder=encoder, lfsr_seed=int(rng.integers(1, 1 << 16)))
                cases.append((f"T={T} {encoder} {bits}-bit widest layer "
                              f"{n_in}x{n_max}", net, images))
    # Deepest network with a partial last block (n_out not a multiple of U or P).
    sizes = [n_in] + [n_max] * (config.max_layers - 1) + [max(1, n_max - 1)]
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        weights = random_weights(rng, b, a, wb)
        scale = 128 if not layers else 1
        M = min(16, config.membrane_bits)
        layers.append(_layer(weights, wb, threshold=_theta(np.abs(weights).sum(1).mean()
                                                           * scale / 3, M),
                             fire_once=False))
    net = Network(layers, membrane_bits=M,
                  timesteps=min(T_max, 5), encoder=config.encoders[0])
    cases.append((f"deepest {sizes}", net, images))
    # Leak extremes: factor 0 and 255, shift 1 and M-1.
    for mode, leak in (("factor", 0), ("factor", 255), ("shift", 1), ("shift", 15)):
        weights = random_weights(rng, n_max, n_in, wb)
        net = Network([_layer(weights, wb, threshold=_theta(np.abs(weights).sum(1).mean() * 40,
                                                             16),
                              neuron="lif", leak_mode=mode, leak=leak, fire_once=False)],
                      membrane_bits=16, timesteps=min(T_max, 6), encoder=config.encoders[0])
        cases.append((f"leak {mode} {leak}", net, images))
    # The LFSR's extreme seeds.
    if "rate" in config.encoders:
        for seed in (1, 0xFFFF):
            weights = random_weights(rng, n_max, n_in, wb)
            net = Network([_layer(weights, wb, threshold=_theta(
                np.abs(weights).sum(1).mean() * 40, 16))], membrane_bits=16,
                timesteps=min(T_max, 6), encoder="rate", lfsr_seed=seed)
            cases.append((f"rate seed {seed:#x}", net, images))
    return [(label, net.validate(), px) for label, net, px in cases]


def _option_cases(config, w, w_eq, images, tie_pixels):
    """The generator options' corner cases: biases at the 8-bit membrane's extremes with the
    largest currents (saturation both ways; alone, they make and silence spikes), and equal
    spike counts (the lowest index wins; none at all: neuron 0)."""
    T = min(4, config.max_timesteps)
    cases = []
    if config.bias:
        lane = np.arange(len(w)) % 3
        extremes = np.where(lane == 0, -128, np.where(lane == 1, 127, 0))
        readout = "spike_count" if config.spike_count else "first_spike"
        for reset in ("subtract", "none"):
            net = Network([_layer(w, config.weight_bits, threshold=100, reset=reset,
                                  fire_once=False, bias=extremes)],
                          membrane_bits=8, timesteps=T, encoder="direct", readout=readout)
            cases.append((f"bias extremes reset={reset}", net, images))
    if config.spike_count:
        for theta in (60, 10 ** 4):   # equal counts above zero; no spike at all
            net = Network([_layer(w_eq, 2, threshold=theta, fire_once=False)],
                          membrane_bits=16, timesteps=T, encoder="direct",
                          readout="spike_count")
            cases.append((f"read-out tie spike_count theta={theta}", net, tie_pixels))
    return cases


@cocotb.test()
async def edge_cases(dut):
    """Saturation, threshold and read-out ties, all-zero/all-max inputs, T=1 and T_max, 1-bit
    and widest weights, the widest and the deepest network, leak and LFSR extremes."""
    session = await _session(dut)
    config = session.config
    rng = np.random.default_rng(SEED)
    cases = _edge_cases(config, rng)
    for label, network, pixels in cases:
        assert config.fits(network), f"edge case {label} does not fit {config}"
        await _check(session, network, pixels, f"edge case '{label}'; {_reproduce('edge', SEED)}")


@cocotb.test()
async def back_to_back(dut):
    """Many inferences in a row, and a second network over the first: no state leaks."""
    session = await _session(dut)
    config = session.config
    rng = np.random.default_rng(SEED + 1)
    count = 40 if FULL else 12
    first = random_fitting_network(rng, config)
    pixels = random_pixels(rng, count, first.n_inputs)
    # Alternate dark and bright images so that leftover state would show.
    pixels[::3] = 255
    pixels[1::3] = 0
    report = await _check(session, first, pixels, f"back to back; {_reproduce('back', SEED)}")
    # The same image again gives the same cycles: nothing carried over.
    again = await session.run(first, pixels[:2])
    assert again.cycles == report.cycles[:2], (again.cycles, report.cycles[:2])
    second = random_fitting_network(rng, config)
    await _check(session, second, random_pixels(rng, 4, second.n_inputs),
                 f"second network; {_reproduce('back', SEED)}")
    await _check(session, first, pixels[:3], f"first network reloaded; "
                                             f"{_reproduce('back', SEED)}")


@cocotb.test()
async def bands(dut):
    """A conv network whose maps exceed the current memory of the conv design (8 positions),
    integrated in bands of output rows (docs/architecture.md, "Bands of output rows"): an
    8 x 8 map in 8 bands of one row with skipping, 2 x 2 max pooling (2 bands), a conv layer
    of two channel blocks in 2 bands, leaky and biased (every position at every step)."""
    session = await _session(dut)
    config = session.config
    rng = np.random.default_rng(SEED + 3)
    c1 = Conv(1, 8, 8, 4, kernel=3, padding=1)
    conv1 = Layer(weights=rng.integers(-6, 8, size=c1.weight_shape), weight_bits=4,
                  threshold=3000, conv=c1, fire_once=False)
    pool = max_pool(4, 8, 8, 2)
    c2 = Conv(4, 4, 4, 12, kernel=2)
    conv2 = Layer(weights=rng.integers(-8, 8, size=c2.weight_shape), weight_bits=4,
                  threshold=6, conv=c2, neuron="lif", leak_mode="shift", leak=2,
                  fire_once=False, bias=rng.integers(-1, 2, size=c2.n_out) if config.bias
                  else None)
    dense = Layer(weights=rng.integers(-8, 8, size=(3, conv2.n_out)), weight_bits=4,
                  threshold=4)
    network = Network([conv1, pool, conv2, dense], timesteps=3, encoder="hybrid").validate()
    assert all(len(config.conv_bands(layer)) > 1 for layer in network.layers[:-1])
    assert config.conv_blocks(conv2) == 2
    await _check(session, network, random_pixels(rng, 2, network.n_inputs),
                 f"bands of rows; {_reproduce('bands', SEED)}")


@cocotb.test()
async def abort_and_reset(dut):
    """An abort and a reset in the middle of an inference, then clean inferences."""
    session = await _session(dut)
    config = session.config
    rng = np.random.default_rng(SEED + 2)
    network = random_fitting_network(rng, config, max_timesteps=config.max_timesteps)
    network.timesteps = config.max_timesteps
    pixels = random_pixels(rng, 3, network.n_inputs)
    pixels[0] = 255
    await session.load(network)
    expected = golden.run(network, pixels)
    h = session.harness
    # Find the length of a whole inference first.
    whole = await session.run(network, pixels[:1], expected=expected[0])
    assert not whole.failed, whole.describe("abort reference: ")
    length = whole.cycles[0]
    for fraction in (0.1, 0.5, 0.9):
        await session.write_pixels(pixels[0], network)
        h.clear_trace()
        await session.control(memmap.CONTROL_START)
        await h.idle(max(1, int(length * fraction)))
        status = await session.status()
        assert status & memmap.STATUS_BUSY, f"inference ended before {fraction:.0%} of " \
                                            f"{length} cycles (status {status:#x})"
        await session.control(memmap.CONTROL_ABORT)
        status = await session.status()
        assert not status & memmap.STATUS_BUSY and status & memmap.STATUS_ABORTED, \
            f"after abort the status is {status:#x}"
        assert not h.irq, "irq is high after an abort"
        await session.control(memmap.CONTROL_CLEAR)
        # The next inferences agree with the golden model.
        report = await session.run(network, pixels[1:], expected=expected[1:])
        assert not report.failed, report.describe(f"after abort at {fraction:.0%}: ")
    # A reset in the middle of an inference; the host reloads and goes on.
    await session.write_pixels(pixels[0], network)
    await session.control(memmap.CONTROL_START)
    await h.idle(length // 2)
    await h.reset(3)
    assert not (await session.status()) & memmap.STATUS_BUSY
    await session.load(network)
    report = await session.run(network, pixels, expected=expected)
    assert not report.failed, report.describe("after reset: ")


@cocotb.test()
async def detects_a_difference(dut):
    """The comparison can fail: against a golden model whose weight W[0, 0] is one larger, the
    first difference reported is layer 0, timestep 0, neuron 0."""
    session = await _session(dut)
    config = session.config
    rng = np.random.default_rng(SEED + 3)
    weights = random_weights(rng, config.max_neurons, config.max_inputs, 2)
    weights[0, 0] = 0
    network = Network([_layer(weights, 2, threshold=30000, fire_once=False)],
                      membrane_bits=16, timesteps=2, encoder="direct").validate()
    altered = Network([_layer(weights + (np.arange(weights.size).reshape(weights.shape) == 0),
                              2, threshold=30000, fire_once=False)],
                      membrane_bits=16, timesteps=2, encoder="direct").validate()
    pixels = random_pixels(rng, 2, network.n_inputs)
    pixels[:, 0] = 255
    await session.load(network)
    report = await session.run(network, pixels, expected=golden.run(altered, pixels))
    assert len(report.failed) == 2, report.describe()
    first = report.failed[0].mismatches[0]
    assert (first.what, first.layer, first.step, first.neuron) == ("membrane", 0, 0, 0), first
    assert first.got - first.expected == -255, first
    assert "membrane differs at layer 0, timestep 0, neuron 0" in report.describe()


# -- pytest entry points -------------------------------------------------------------------

TESTS = ("random_networks", "edge_cases", "back_to_back", "abort_and_reset",
         "detects_a_difference")
#: The benches of the conv design alone.
CONV_ONLY = ("bands",)
#: What an Icarus run checks without --sim-all (it simulates ~50x slower than Verilator).
ICARUS_SMOKE = ("random_networks", "back_to_back")
ICARUS_ENV = {"COSIM_NETWORKS": 3, "COSIM_IMAGES": 2}


#: The hardware configurations the benches run on: the small default, two inputs per cycle,
#: both generator options (biases, spike counts and the spike_count read-out), and
#: convolution layers (random conv and dense networks on one design, whose current memory of
#: 8 positions holds the maps of up to 8 padded positions whole and integrates the larger
#: ones, up to 8 x 8, in bands of rows: docs/architecture.md, "Bands of output rows"), and
#: the same with four banks of the current memory (docs/architecture.md, "Banks of the
#: current memory"): four kernel columns a cycle, on 16 lanes, 16 positions.
DESIGNS = ("k1", "k2", "options", "conv", "banks")
#: What the conv design checks (its memories are sized for conv maps, not for the edge cases'
#: widest dense layers), in Verilator; Icarus runs random_networks and bands.
CONV_TESTS = ("random_networks", "back_to_back", "abort_and_reset", "bands")
CONV_ICARUS_ENV = {"COSIM_NETWORKS": 3, "COSIM_IMAGES": 1}
#: What the K = 2 and the options designs check without --sim-all (in Verilator only).
K2_SMOKE = ("random_networks", "edge_cases", "back_to_back")
#: The options design's Icarus case without --sim-all (K2_SMOKE runs in Verilator).
OPTIONS_ICARUS = ("random_networks",)
OPTIONS_ICARUS_ENV = {"COSIM_NETWORKS": 2, "COSIM_IMAGES": 2}


def _config(design):
    return {"k1": Config.tiny(), "k2": Config.tiny(inputs_per_cycle=2),
            "options": Config.tiny(bias=True, spike_count=True),
            "conv": Config.tiny_conv(conv_positions=8),
            "banks": Config.tiny_conv(lanes=16, conv_lanes=4, conv_banks=4,
                                      conv_positions=16)}[design]


def _subset(sim, design, sim_all):
    """``(tests, extra environment)`` a simulator runs on a design: everything with
    --sim-all, else a smoke subset (Icarus simulates ~50x slower than Verilator)."""
    if design == "conv":
        if sim == "icarus":
            return ["random_networks", "bands"], ({} if sim_all else dict(CONV_ICARUS_ENV))
        return list(CONV_TESTS), {}
    if design == "banks":
        return ["random_networks"], ({} if sim_all or sim != "icarus" else
                                     dict(CONV_ICARUS_ENV))
    if sim_all:
        return list(TESTS), {}
    if sim == "icarus":
        return ((list(ICARUS_SMOKE), dict(ICARUS_ENV)) if design == "k1" else
                (list(OPTIONS_ICARUS), dict(OPTIONS_ICARUS_ENV)) if design == "options" else
                ([], {}))
    return (list(TESTS), {}) if design == "k1" else (list(K2_SMOKE), {})


@pytest.fixture(scope="module")
def accel_runs(sim_all, cosim_seed):
    """One simulator process per simulator and design runs all its benches (process start-up
    and imports cost seconds); each pytest test then reports its own bench."""
    cache = {}

    def get(sim, design):
        if (sim, design) not in cache:
            env = {"COSIM_SEED": cosim_seed, "COSIM_FULL": int(sim_all)}
            tests, extra = _subset(sim, design, sim_all)
            env.update(extra)
            if sim_all:
                env.update(COSIM_NETWORKS=200, COSIM_IMAGES=4)
                if design in ("conv", "banks"):   # conv maps take about ten times the cycles
                    env.update(COSIM_NETWORKS=20 if sim == "icarus" else 100)
            # the options design shares its build with `sw.cosim --random --set bias=true
            # --set spike_count=true` (same name and configuration)
            name = "accel-p8-k2" if design == "k2" else None
            cache[sim, design] = toolchain.run(
                accelerator(_config(design), name=name), sim, "sim.test_accel",
                testcase=tests, env=env, tag=f"all-{cosim_seed}", check=False)
        return cache[sim, design]
    return get


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("testcase", TESTS + CONV_ONLY)
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_accel(sim, testcase, design, accel_runs, sim_all):
    if not toolchain.available(sim):
        pytest.skip(f"{sim} is not installed")
    if testcase in CONV_ONLY and design != "conv":
        pytest.skip(f"{testcase} runs on the conv design only")
    if testcase not in _subset(sim, design, sim_all)[0]:
        pytest.skip(f"{sim} runs a smoke subset of the {design} design; use --sim-all for the "
                    f"whole suite")
    accel_runs(sim, design).check(testcase)
