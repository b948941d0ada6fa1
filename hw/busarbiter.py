"""Two register-bus initiators sharing one target (``hw.bus``): the PCIe top's AXI-Lite BAR and
its AXI-Stream bridge (``hw.axis``) both reach the accelerator."""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import bus

__all__ = ["BusArbiter"]


class BusArbiter(wiring.Component):
    """Round-robin arbiter of two ``hw.bus`` initiators in front of one target.

    A transfer is granted in the cycle its initiator raises ``cyc`` (no cycle is lost) when
    the other initiator has no transfer in flight; when both ask at once, the one not served
    last goes first. The grant holds until the target's ``ack``, so each initiator sees the bus
    rules of ``hw.bus`` unchanged (it only waits longer).

    Parameters
    ----------
    addr_width : int
        Word-address width of the bus (``hw.bus.Signature``).

    Ports
    -----
    a, b : hw.bus.Signature(addr_width), in (targets: the initiators connect here)
    target : hw.bus.Signature(addr_width), out (initiator: connect the shared target)
    """

    def __init__(self, addr_width: int):
        bus.Signature(addr_width)   # checks the width (its message names the range)
        self.addr_width = addr_width
        super().__init__({"a": In(bus.Signature(addr_width)), "b": In(bus.Signature(addr_width)),
                          "target": Out(bus.Signature(addr_width))})

    def elaborate(self, platform):
        m = Module()
        a, b, t = self.a, self.b, self.target
        locked = Signal()     # a transfer is in flight: the grant may not change
        owner = Signal()      # 0: a, 1: b (the grant while locked)
        last = Signal()       # the initiator served last
        sel = Signal()
        choose = Mux(a.cyc & b.cyc, ~last, b.cyc)
        m.d.comb += sel.eq(Mux(locked, owner, choose))
        for name in ("cyc", "we", "addr", "w_data"):
            m.d.comb += getattr(t, name).eq(Mux(sel, getattr(b, name), getattr(a, name)))
        m.d.comb += [a.r_data.eq(t.r_data), b.r_data.eq(t.r_data),
                     a.ack.eq(t.ack & ~sel), b.ack.eq(t.ack & sel)]
        with m.If(t.cyc & ~t.ack):
            m.d.sync += [locked.eq(1), owner.eq(sel)]
        with m.Else():
            m.d.sync += locked.eq(0)
        with m.If(t.ack):
            m.d.sync += last.eq(sel)
        return m
