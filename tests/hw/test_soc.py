"""hw.soc: the upload checksum (BusChecksum against its reference checksum_of) and SoC parameters."""

import random
import struct

import numpy as np
import pytest

from core.config import Config
from core.randnet import random_network
from hw.soc import SoC, checksum_of, checksum_ranges
from sw.compiler import bias_writes

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

REG = 5
RANGES = [(8, 20), (40, 64)]


@pytest.mark.parametrize("latency", [1, 3])
def test_checksum_matches_reference(write_cmd, read_cmd, run_bridge, latency):
    rng = random.Random(latency)
    writes = []
    for _ in range(12):
        addr = rng.randrange(0, 60)
        words = [rng.randrange(1 << 32) for _ in range(rng.randrange(1, 5))]
        writes.append((4 * addr, words))
    stream = write_cmd(REG, [0]) + b"".join(write_cmd(a // 4, w) for a, w in writes)
    stream += read_cmd(REG, 1) + read_cmd(REG, 1, fixed=True)
    answer, _ = run_bridge([stream], latency=latency, checksum=(REG, RANGES), settle=600)
    expect = checksum_of(writes, RANGES)
    assert expect != 0
    assert answer == struct.pack(">II", expect, expect)


def test_checksum_register_is_settable_and_not_forwarded(write_cmd, read_cmd, run_bridge):
    stream = (write_cmd(REG, [0x1234]) + read_cmd(REG, 1) + write_cmd(10, [7])
              + read_cmd(REG, 1) + read_cmd(10, 1))
    answer, _ = run_bridge([stream], checksum=(REG, RANGES))
    after = (0x1234 + (7 ^ (10 * 0x9E3779B1))) & 0xFFFFFFFF
    assert answer == struct.pack(">III", 0x1234, after, 7)


def test_checksum_detects_a_changed_word():
    writes = [(4 * 8, [1, 2, 3]), (4 * 40, [4, 5])]
    good = checksum_of(writes, RANGES)
    for k in range(3):
        bad = [(4 * 8, [1, 2, 3]), (4 * 40, [4, 5])]
        bad[0][1][k] ^= 1 << k
        assert checksum_of(bad, RANGES) != good
    assert checksum_of(writes[:1], RANGES) != good   # a lost write


def test_soc_parameter_errors(regfile):
    with pytest.raises(ValueError, match="give either divisor or clk_freq"):
        SoC(divisor=8, clk_freq=100e6, target=regfile())
    with pytest.raises(ValueError, match="give clk_freq .* or divisor"):
        SoC(target=regfile())
    with pytest.raises(ValueError, match="rx_fifo_depth must be an integer of at least 2"):
        SoC(divisor=8, rx_fifo_depth=1, target=regfile())
    with pytest.raises(ValueError, match="give a core.config.Config"):
        SoC(divisor=8)
    with pytest.raises(ValueError, match="UART divisor is 3"):
        SoC(divisor=3, target=regfile())
    soc = SoC(clk_freq=100_000_000, baudrate=115200, target=regfile())
    assert soc.divisor == 868 and soc.timeout == 5_000_000
    assert SoC(divisor=8, target=regfile()).timeout == 64 * 80 + 1


def test_checksum_covers_the_bias_window():
    """With the bias memory the checksum covers the bias window, every word of it; without,
    the ranges are what they were."""
    plain, options = Config.tiny(), Config.tiny(bias=True)
    assert checksum_ranges(options)[:2] == checksum_ranges(plain)
    net = random_network(np.random.default_rng(2), max_inputs=8, max_neurons=16, bias=True)
    writes = bias_writes(net, options)
    assert checksum_of(writes, checksum_ranges(options)) != 0
    assert checksum_of(writes, checksum_ranges(plain)) == 0
