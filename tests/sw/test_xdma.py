"""sw.xdma: the streaming host path over the GoldenCard test double, the record parser and
the errors."""

from types import SimpleNamespace

import numpy as np
import pytest

from core import golden, memmap
from core.config import Config
from core.perf import cycle_counts
from core.randnet import random_network
from sim.pysim import AmaranthSimTransport
from sw.device import DeviceError
from sw.runner import run
from sw.xdma import GoldenCard, XDMAStream, frame, parse_record


def _network(rng, encoders=("direct", "hybrid")):
    return random_network(rng, max_inputs=32, max_neurons=10, max_timesteps=4,
                          encoders=encoders)


@pytest.mark.parametrize("spike_count", [False, True])
def test_stream_through_golden_card(spike_count):
    rng = np.random.default_rng(3 + spike_count)
    network = _network(rng)
    config = Config.tiny(stream=True, spike_count=spike_count)
    pixels = rng.integers(0, 256, (9, network.n_inputs), dtype=np.uint8)
    pixels[rng.random(pixels.shape) < 0.7] = 0
    pixels[4] = 0                                   # no nonzero pixel: the frame is one word
    card = GoldenCard(network, config)
    link = XDMAStream(card.h2c, card.c2h)
    device = SimpleNamespace(config=config, network=network)
    results = list(link.stream(device, iter(pixels)))
    assert np.array_equal(np.array(card.images), pixels)      # the frames decode to the images
    want = golden.run(network, pixels)
    cycles = cycle_counts(network, config, pixels)
    assert [r.cls for r in results] == want.prediction.tolist()
    for b, r in enumerate(results):
        assert r.first_time.tolist() == want.first_time[b].tolist()
        assert r.first_potential.tolist() == want.first_potential[b].tolist()
        assert r.membrane.tolist() == want.membrane[-1][b, -1].tolist()
        assert r.cycles == cycles[b]
        assert (r.count is not None) == spike_count


def _record(config, n, status=memmap.STATUS_READY, outputs=None):
    words = [status, n if outputs is None else outputs, 123, 2] + [1] * n + [0xFFFFFFFE] * n
    words += [5] * n + ([7] * n if config.spike_count else [])
    return np.asarray(words, "<u4").tobytes()


def test_parse_record():
    config = Config.tiny(stream=True)
    r = parse_record(_record(config, 3), config, 3)
    assert r.cls == 2 and r.cycles == 123 and r.first_potential.tolist() == [-2] * 3
    assert r.membrane.tolist() == [5] * 3 and r.count is None
    with pytest.raises(DeviceError, match=r"a result record has 40 bytes, not 52; is the card "
                                          r"built with the AXI-Stream bridge"):
        parse_record(_record(config, 3)[:40], config, 3)
    with pytest.raises(DeviceError, match="a result record has 4 outputs, the network 3"):
        parse_record(_record(config, 3, outputs=4), config, 3)
    with pytest.raises(DeviceError, match=r"a result record without STATUS.READY \(status "
                                          r"0x1\): it is not a result"):
        parse_record(_record(config, 3, memmap.STATUS_BUSY), config, 3)
    with pytest.raises(DeviceError, match=r"the device rejected a write \(status 0x28\)"):
        parse_record(_record(config, 3, memmap.STATUS_READY | memmap.STATUS_REJECTED),
                     config, 3)


def test_frame_is_compact_words():
    config = Config.tiny(stream=True)
    network = _network(np.random.default_rng(1))
    x = np.zeros(network.n_inputs, np.uint8)
    x[[0, 5]] = [9, 200]
    assert frame(x, config, network) == np.asarray([9 | (4 << 8 | 200) << 16], "<u4").tobytes()
    assert frame(x * 0, config, network) == bytes(4)


def test_refusals(tmp_path):
    rng = np.random.default_rng(2)
    network = _network(rng)
    card = GoldenCard(network, Config.tiny(stream=True))
    link = XDMAStream(card.h2c, card.c2h)
    with pytest.raises(DeviceError, match="the device has no input queue: the DMA streams "
                                          "need a card built with --set stream=true"):
        next(link.stream(SimpleNamespace(config=Config.tiny(), network=network), []))
    rate = _network(rng, encoders=("rate",))
    with pytest.raises(DeviceError, match="the rate encoder reads every pixel"):
        next(link.stream(SimpleNamespace(config=Config.tiny(stream=True,
                                                            encoders=("rate",)),
                                         network=rate), []))
    with pytest.raises(DeviceError, match=r"cannot open the XDMA stream devices \(No such file "
                                          r"or directory: .*nope_h2c_0\); is the xdma driver "
                                          r"loaded"):
        XDMAStream(str(tmp_path / "nope_h2c_0"), str(tmp_path / "nope_c2h_0"))


def test_short_c2h_stream():
    """A C2H stream that ends inside a record is an error, not a hang."""
    rng = np.random.default_rng(4)
    network = _network(rng)
    config = Config.tiny(stream=True)
    card = GoldenCard(network, config)
    card.c2h.put(b"\0" * 8)
    card.c2h.close()
    link = XDMAStream(SimpleNamespace(write=lambda data: None), card.c2h)
    with pytest.raises(DeviceError, match="the C2H stream ended before a whole result record"):
        list(link.stream(SimpleNamespace(config=config, network=network),
                         [np.zeros(network.n_inputs, np.uint8)]))


def test_runner_over_the_streams():
    """sw.runner.run with ``dma``: identify and upload over the register transport (the
    simulated accelerator), images and results over the streams (the golden card): every
    image agrees."""
    config = Config.tiny(trace=False, stream=True)
    network = _network(np.random.default_rng(5))
    card = GoldenCard(network, config)
    with AmaranthSimTransport(config) as transport:
        report = run(transport, network, samples=6, data="random", out=lambda line: None,
                     dma=XDMAStream(card.h2c, card.c2h))
    assert report.samples == 6 and report.agree_all == 6 and len(card.images) == 6
