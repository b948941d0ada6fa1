"""An AXI4-Lite slave in front of the register bus (``hw.bus``): the PCIe path.

Xilinx's DMA/Bridge Subsystem for PCI Express (XDMA) maps a BAR of the host onto an AXI4-Lite
master (``M_AXI_LITE``); this adapter is its slave, so the host reaches the accelerator's memory
map with plain MMIO loads and stores (``sw.pcie.PCIeTransport``).

Behaviour, as the AXI4-Lite rules require:

* The write address (AW) and write data (W) channels are independent: either may arrive first,
  both in the same cycle, or far apart. Each has a one-entry holding register; ``awready`` /
  ``wready`` are high while that register is empty, so a master may present both at once or
  one long before the other. The bus write starts when both are held.
* The response channels honour back-pressure: ``bvalid`` / ``rvalid`` stay high, with stable
  ``bresp`` / ``rdata``, until ``bready`` / ``rready``. A new write (read) is not started
  before the previous write (read) response is taken, so responses keep request order; the
  holding registers accept the next AW / W / AR meanwhile.
* Reads and writes share the bus; when both are ready they alternate.
* ``wstrb``: the register bus writes whole words. ``0b1111`` writes; ``0b0000`` writes
  nothing and answers OKAY; any other strobe answers SLVERR and writes nothing (a
  read-modify-write would read registers that have side effects). 32-bit host MMIO uses full
  strobes.
* The low two address bits are ignored (word addresses).
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from . import bus

__all__ = ["RESP_OKAY", "RESP_SLVERR", "AXILiteSlave"]

RESP_OKAY = 0b00
RESP_SLVERR = 0b10


class AXILiteSlave(wiring.Component):
    """AXI4-Lite slave (32-bit data) to register-bus initiator.

    Parameters
    ----------
    addr_width : int
        Width of the AXI byte address (3 .. 32); the register bus gets ``addr_width - 2`` word
        address bits (at most 30).

    Ports (directions seen from this slave)
    ----------------------------------------
    awaddr : addr_width, in;  awprot : 3, in;  awvalid : 1, in;  awready : 1, out
    wdata : 32, in;  wstrb : 4, in;  wvalid : 1, in;  wready : 1, out
    bresp : 2, out;  bvalid : 1, out;  bready : 1, in
    araddr : addr_width, in;  arprot : 3, in;  arvalid : 1, in;  arready : 1, out
    rdata : 32, out;  rresp : 2, out;  rvalid : 1, out;  rready : 1, in
    bus : hw.bus.Signature(addr_width - 2), out

    Latency: a bus transfer starts the cycle after the address (and data) are held; ``bvalid``
    / ``rvalid`` rise the cycle after the bus ``ack``. Throughput: one transfer per three
    cycles with a one-cycle bus target and ready masters.
    """

    def __init__(self, addr_width: int = 16):
        if isinstance(addr_width, bool) or not isinstance(addr_width, int) \
                or not 3 <= addr_width <= 32:
            raise TypeError(f"AXI address width must be an integer in 3 .. 32, "
                            f"not {addr_width!r}")
        self._addr_width = addr_width
        super().__init__({
            "awaddr": In(addr_width), "awprot": In(3), "awvalid": In(1), "awready": Out(1),
            "wdata": In(32), "wstrb": In(4), "wvalid": In(1), "wready": Out(1),
            "bresp": Out(2), "bvalid": Out(1), "bready": In(1),
            "araddr": In(addr_width), "arprot": In(3), "arvalid": In(1), "arready": Out(1),
            "rdata": Out(32), "rresp": Out(2), "rvalid": Out(1), "rready": In(1),
            "bus": Out(bus.Signature(min(addr_width - 2, 30))),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    def elaborate(self, platform):
        m = Module()
        aw = len(self.bus.addr)

        aw_full, w_full, ar_full = Signal(), Signal(), Signal()
        aw_addr, ar_addr = Signal(aw), Signal(aw)
        w_data, w_strb = Signal(32), Signal(4)
        last_was_write = Signal()

        m.d.comb += [self.awready.eq(~aw_full), self.wready.eq(~w_full),
                     self.arready.eq(~ar_full)]
        with m.If(self.awvalid & self.awready):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(self.awaddr[2:2 + aw])]
        with m.If(self.wvalid & self.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(self.wdata), w_strb.eq(self.wstrb)]
        with m.If(self.arvalid & self.arready):
            m.d.sync += [ar_full.eq(1), ar_addr.eq(self.araddr[2:2 + aw])]
        with m.If(self.bvalid & self.bready):
            m.d.sync += self.bvalid.eq(0)
        with m.If(self.rvalid & self.rready):
            m.d.sync += self.rvalid.eq(0)

        write_ready = aw_full & w_full & ~self.bvalid
        read_ready = ar_full & ~self.rvalid
        m.d.comb += self.bus.w_data.eq(w_data)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(write_ready & (~read_ready | ~last_was_write)):
                    m.d.sync += last_was_write.eq(1)
                    with m.If(w_strb == 0b1111):
                        m.next = "WRITE"
                    with m.Else():
                        # Nothing to write: answer at once (OKAY for an empty strobe).
                        m.d.sync += [self.bvalid.eq(1), aw_full.eq(0), w_full.eq(0),
                                     self.bresp.eq(Mux(w_strb == 0, RESP_OKAY, RESP_SLVERR))]
                with m.Elif(read_ready):
                    m.d.sync += last_was_write.eq(0)
                    m.next = "READ"

            with m.State("WRITE"):
                m.d.comb += [self.bus.cyc.eq(1), self.bus.we.eq(1), self.bus.addr.eq(aw_addr)]
                with m.If(self.bus.ack):
                    m.d.sync += [self.bvalid.eq(1), self.bresp.eq(RESP_OKAY),
                                 aw_full.eq(0), w_full.eq(0)]
                    m.next = "IDLE"

            with m.State("READ"):
                m.d.comb += [self.bus.cyc.eq(1), self.bus.addr.eq(ar_addr)]
                with m.If(self.bus.ack):
                    m.d.sync += [self.rvalid.eq(1), self.rresp.eq(RESP_OKAY),
                                 self.rdata.eq(self.bus.r_data), ar_full.eq(0)]
                    m.next = "IDLE"
        return m
