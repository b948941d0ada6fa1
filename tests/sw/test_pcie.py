"""sw.pcie.PCIeTransport against a plain file standing in for the BAR."""

import numpy as np
import pytest

from core.transport import TransportError
from sw.pcie import PCIeTransport


@pytest.fixture
def bar(tmp_path):
    path = tmp_path / "bar0"
    path.write_bytes(bytes(64 * 1024))
    return path


def test_round_trip_and_layout(bar):
    rng = np.random.default_rng(1)
    words = rng.integers(0, 1 << 32, 300, dtype=np.uint64).tolist()
    with PCIeTransport(str(bar)) as link:
        link.write(0x100, words)
        assert link.read(0x100, 300) == words
        link.write_word(0xFFFC, 0xA5A5A5A5)
        assert link.read_word(0xFFFC) == 0xA5A5A5A5
    # the BAR holds little-endian 32-bit words at their byte addresses
    data = np.frombuffer(bar.read_bytes(), "<u4")
    assert data[0x100 // 4:0x100 // 4 + 300].tolist() == words
    assert data[0xFFFC // 4] == 0xA5A5A5A5


def test_bounds(bar):
    with PCIeTransport(str(bar)) as link:
        with pytest.raises(TransportError, match=r"address 0xfffc \+ 2 words is past the end"):
            link.read(0xFFFC, 2)
        with pytest.raises(ValueError, match="not a non-negative multiple of 4"):
            link.read(2)


def test_missing_device():
    with pytest.raises(TransportError, match=r"PCIe device 0000:7f:1f\.7 does not exist .*"
                                             r"lspci -d 10ee:"):
        PCIeTransport("7f:1f.7")
    with pytest.raises(TransportError, match=r"/dev/xdma9_user does not exist: pass the "
                                             r"board's PCI address"):
        PCIeTransport("/dev/xdma9_user")


def test_empty_file_needs_size(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(TransportError, match="reports no size; give size=BYTES"):
        PCIeTransport(str(path))
