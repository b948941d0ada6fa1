"""hw.bus.Signature: construction, equality and the error message."""

import pytest
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw import bus


def test_members():
    sig = bus.Signature(addr_width=12)
    assert sig.members == wiring.SignatureMembers({
        "cyc": Out(1), "we": Out(1), "addr": Out(12), "w_data": Out(32),
        "r_data": In(32), "ack": In(1)})
    assert sig.addr_width == 12
    assert repr(sig) == "bus.Signature(addr_width=12)"


def test_equality():
    assert bus.Signature(8) == bus.Signature(8)
    assert bus.Signature(8) != bus.Signature(9)
    assert bus.Signature(8).flip().flip() == bus.Signature(8)


@pytest.mark.parametrize("width", [0, 31, "8", 1.5])
def test_bad_width(width):
    with pytest.raises(TypeError, match=r"Address width must be an integer in 1 .. 30, not "):
        bus.Signature(width)
