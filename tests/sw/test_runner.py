"""sw.runner.stream: the one-round-trip-per-image path (a transport with ``batch``) reads the
same results as the driver, spike counts included on hardware that has them."""

import numpy as np

from core import golden
from core.config import Config
from core.network import READOUTS
from core.randnet import random_network, random_pixels
from sim.pysim import AmaranthSimTransport
from sw.device import Device
from sw.runner import stream


class BatchTransport(AmaranthSimTransport):
    """The simulated accelerator with the batch interface of ``sw.uart.UARTTransport``."""

    def batch(self, ops):
        out = []
        for op, address, arg in ops:
            if op == "write":
                self.write(address, arg)
            elif op == "read":
                out.append(self.read(address, arg))
            else:   # read_fixed
                out.append([self.read_word(address) for _ in range(arg)])
        return out


def test_stream_reads_spike_counts():
    config = Config.tiny(trace=False, bias=True, spike_count=True)
    rng = np.random.default_rng(31)
    network = random_network(rng, max_inputs=config.max_inputs, max_neurons=16,
                             max_layers=2, max_timesteps=5, bias=True,
                             readouts=READOUTS[2:])
    pixels = random_pixels(rng, 3, network.n_inputs)
    want = golden.run(network, pixels)
    with BatchTransport(config) as transport:
        device = Device(transport)
        device.identify()
        device.load(network)
        results = list(stream(device, transport, pixels))
    assert [r.cls for r in results] == want.prediction.tolist()
    assert np.array_equal(np.stack([r.count for r in results]), want.count)
    assert np.array_equal(np.stack([r.membrane for r in results]), want.membrane[-1][:, -1])


def test_stream_through_the_input_queue():
    """On hardware with the input queue (``Config.stream``), image k goes out in the compact
    format while image k - 1 computes, its result read in the same batch: every result as the
    golden model's, in order, for every encoder (rate writes its images whole); the last
    image's result is popped, and no write was rejected."""
    from core import memmap
    config = Config.tiny(trace=False, stream=True)
    for seed, encoder in [(41, "hybrid"), (42, "direct"), (43, "rate")]:
        rng = np.random.default_rng(seed)
        network = random_network(rng, max_inputs=config.max_inputs, max_neurons=16,
                                 max_layers=2, max_timesteps=5, encoders=(encoder,))
        pixels = random_pixels(rng, 3, network.n_inputs)
        want = golden.run(network, pixels)
        with BatchTransport(config) as transport:
            device = Device(transport)
            device.identify()
            device.load(network)
            results = list(stream(device, transport, pixels))
            status = device.status()
        assert [r.cls for r in results] == want.prediction.tolist(), encoder
        assert np.array_equal(np.stack([r.first_time for r in results]), want.first_time)
        assert np.array_equal(np.stack([r.membrane for r in results]),
                              want.membrane[-1][:, -1])
        assert not status & (memmap.STATUS_READY | memmap.STATUS_QUEUED
                             | memmap.STATUS_REJECTED), hex(status)
