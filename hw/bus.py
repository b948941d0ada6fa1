"""The register bus between a host bridge (UART, AXI-Lite, simulation) and the accelerator.

Every transport reaches the accelerator's memory map (``docs/memory-map.md``) through this one
interface, so that a bridge and the accelerator can be built and tested apart.

It is the classic single-transfer subset of Wishbone, with 32-bit data and word addresses:

* The initiator asserts ``cyc`` with ``addr``, ``we`` and (for a write) ``w_data``, and holds
  them stable until the target answers.
* The target asserts ``ack`` for exactly one cycle per transfer; for a read, ``r_data`` is valid
  in that cycle. The target may take any number of cycles (at least one) before ``ack``.
* After the ``ack`` cycle the initiator may drop ``cyc`` or present the next transfer at once.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Signature"]


class Signature(wiring.Signature):
    """Register bus signature, seen from the initiator.

    Parameters
    ----------
    addr_width : int
        Width of the word address (the byte address divided by 4).

    Members
    -------
    cyc : 1, out
        A transfer is requested.
    we : 1, out
        The transfer is a write.
    addr : addr_width, out
        Word address.
    w_data : 32, out
        Data to write.
    r_data : 32, in
        Data read, valid while ``ack`` is high.
    ack : 1, in
        The transfer is done (one cycle per transfer).
    """

    def __init__(self, addr_width: int = 16):
        if not isinstance(addr_width, int) or not 1 <= addr_width <= 30:
            raise TypeError(f"Address width must be an integer in 1 .. 30, not {addr_width!r}")
        self._addr_width = addr_width
        super().__init__({
            "cyc": Out(1),
            "we": Out(1),
            "addr": Out(addr_width),
            "w_data": Out(32),
            "r_data": In(32),
            "ack": In(1),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    def __eq__(self, other):
        return isinstance(other, Signature) and self.addr_width == other.addr_width

    def __repr__(self):
        return f"bus.Signature(addr_width={self.addr_width})"
