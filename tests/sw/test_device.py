"""sw.device: the driver against a scripted transport (errors) and the simulated gateware."""

import numpy as np
import pytest

from core import memmap
from core import golden
from core.config import Config, FitError
from core.network import Layer, Network
from core.randnet import random_network, random_pixels
from core.transport import Transport
from sim.harness import CocotbTransport
from sim.pysim import AmaranthSimTransport
from sw.device import Device, DeviceError


class FakeTransport(Transport):
    """A word memory with the identification registers of a configuration."""

    def __init__(self, config=Config.tiny(), magic=memmap.MAGIC, version=memmap.VERSION,
                 status=0):
        self.memory = {memmap.REG_MAGIC: magic, memmap.REG_VERSION: version,
                       memmap.REG_STATUS: status}
        self.memory.update({
            memmap.REG_CFG_LANES: config.lanes, memmap.REG_CFG_UNITS: config.neuron_units,
            memmap.REG_CFG_PIXELS_PER_CYCLE: config.pixels_per_cycle,
            memmap.REG_CFG_WEIGHT_BITS: config.weight_bits,
            memmap.REG_CFG_MEMBRANE_BITS: config.membrane_bits,
            memmap.REG_CFG_MAX_LAYERS: config.max_layers,
            memmap.REG_CFG_MAX_NEURONS: config.max_neurons,
            memmap.REG_CFG_MAX_INPUTS: config.max_inputs,
            memmap.REG_CFG_MAX_TIMESTEPS: config.max_timesteps,
            memmap.REG_CFG_WEIGHT_WORDS: config.weight_words,
            memmap.REG_CFG_ENCODERS: 7, memmap.REG_CFG_ACC_BITS: config.acc_bits,
            memmap.REG_CFG_REGION_BITS: config.region_bits,
            memmap.REG_CFG_WEIGHT_BASE: config.weight_base,
            memmap.REG_CFG_WEIGHT_STRIDE: config.weight_stride,
            memmap.REG_CFG_INPUTS_PER_CYCLE: 1, memmap.REG_CFG_TRACE: int(config.trace),
            memmap.REG_CFG_DSP_LANES: config.dsp_lanes,
        })
        self.writes = []

    def _read(self, addr, count):
        return [self.memory.get(addr // 4 + i, 0) for i in range(count)]

    def _write(self, addr, words):
        self.writes.append((addr, words))
        for i, word in enumerate(words):
            self.memory.setdefault(addr // 4 + i, word)


def test_identify():
    assert Device(FakeTransport()).identify() == Config.tiny()


def test_timeout_comes_from_the_transport_unless_given():
    """A board answers in milliseconds (10 s means hung); a simulator may take minutes of wall
    clock on a loaded machine, so its transports ask for an hour."""
    assert Device(FakeTransport()).timeout == 10.0
    assert Device(FakeTransport(), timeout=0.5).timeout == 0.5
    assert AmaranthSimTransport.inference_timeout == 3600.0
    assert CocotbTransport.inference_timeout == 3600.0


def test_identify_options():
    """CFG_OPTIONS gives the generator options; a bitstream without the register reads 0
    there (no options)."""
    transport = FakeTransport(Config.tiny(bias=True, spike_count=True))
    assert Device(transport).identify() == Config.tiny()
    transport.memory[memmap.REG_CFG_OPTIONS] = memmap.OPTION_BIAS | memmap.OPTION_SPIKE_COUNT
    assert Device(transport).identify() == Config.tiny(bias=True, spike_count=True)
    transport.memory[memmap.REG_CFG_OPTIONS] = memmap.OPTION_SPIKE_COUNT
    assert Device(transport).identify() == Config.tiny(spike_count=True)


def test_wrong_magic():
    with pytest.raises(DeviceError, match="magic register reads 0xffffffff, expected "
                                          "0x534e4e41: the device is not an SNN accelerator"):
        Device(FakeTransport(magic=0xFFFFFFFF)).identify()


def test_wrong_version():
    with pytest.raises(DeviceError, match="memory map version 2.0, this driver speaks 1.x"):
        Device(FakeTransport(version=0x00020000)).identify()


def test_not_a_transport():
    with pytest.raises(TypeError, match="transport must be a core.transport.Transport, not str"):
        Device("/dev/ttyUSB1")


def test_fit_error_writes_nothing():
    transport = FakeTransport()
    device = Device(transport)
    with pytest.raises(FitError, match="layer 0's input count is 40, this hardware allows 32"):
        device.load(Network([Layer(np.ones((3, 40), int), 2, 1)]))
    assert transport.writes == []


def test_infer_needs_a_network():
    with pytest.raises(DeviceError, match="no network loaded; call load"):
        Device(FakeTransport()).infer([0])


def test_busy_device():
    device = Device(FakeTransport(status=memmap.STATUS_BUSY), timeout=0.05)
    with pytest.raises(DeviceError, match="the accelerator is busy"):
        device.load(Network([Layer(np.ones((3, 4), int), 2, 1)]))
    with pytest.raises(DeviceError, match="did not finish within 0.05 s"):
        device.wait()


def test_driver_on_simulated_gateware():
    """The whole host path on the simulator: identify, load, infer_batch, predict."""
    config = Config.tiny(trace=False)
    rng = np.random.default_rng(42)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=2, max_timesteps=5)
    x = random_pixels(rng, 3, net.n_inputs)
    with AmaranthSimTransport(config) as transport:
        device = Device(transport)
        assert device.identify() == config
        device.load(net)
        results = device.infer_batch(x)
        trace = golden.run(net, x)
        assert [r.cls for r in results] == trace.prediction.tolist()
        assert np.array_equal(np.stack([r.first_time for r in results]), trace.first_time)
        assert np.array_equal(np.stack([r.membrane for r in results]),
                              trace.membrane[-1][:, -1])
        assert all(r.cycles > 0 for r in results)
        assert device.predict(x).tolist() == trace.prediction.tolist()


def test_identify_sizes():
    """CFG_MAX_CLASSES, CFG_CONV_ACC_BITS and CFG_CONV_BANKS give the result memory's and the
    current memory's sizes; a bitstream without them reads 0 there (the computed defaults)."""
    config = Config.tiny_conv(max_classes=5, conv_acc_bits=12, conv_lanes=4, conv_banks=2)
    transport = FakeTransport(config)
    transport.memory.update(memmap.identification(config))
    assert Device(transport).identify() == config
    older = FakeTransport(Config.tiny_conv())
    older.memory.update(memmap.identification(Config.tiny_conv()))
    del older.memory[memmap.REG_CFG_MAX_CLASSES], older.memory[memmap.REG_CFG_CONV_ACC_BITS]
    del older.memory[memmap.REG_CFG_CONV_BANKS]
    assert Device(older).identify() == Config.tiny_conv()
