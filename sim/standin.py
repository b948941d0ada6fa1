"""A small bus target that stands in for the accelerator while testing the simulation harness.

It has the same kind of ports as ``hw.accel.Accelerator`` (a ``hw.bus`` target, an ``irq`` and a
``trace`` stream), so that the build helpers, the bus sequencer of the Verilog wrapper, the
simulation transport and the trace capture can be tested without the real gateware.
"""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

import hw.bus

__all__ = ["RegisterFile", "TRACE_LAYOUT"]

#: Payload of the stand-in's trace: a step number and two signed "membrane" lanes.
TRACE_LAYOUT = data.StructLayout({
    "step": unsigned(8),
    "spikes": unsigned(2),
    "membrane": data.ArrayLayout(signed(12), 2),
})


class RegisterFile(wiring.Component):
    """``depth`` 32-bit registers on a ``hw.bus`` target, plus a countdown that emits a trace.

    Register map (word addresses):

    * 0: ``START`` (write): start a run of ``value & 0xff`` steps; clears ``irq``.
    * 1: ``STATUS`` (read): bit 0 = done (the last run finished).
    * 2: ``STEPS`` (read): steps of the last run.
    * 3 .. ``depth - 1``: plain read/write registers.

    A run emits one trace record per step (``step``; ``spikes = step & 3``; membrane lanes
    ``-step`` and ``step * 3``) and raises ``irq`` one cycle after the last record.

    Parameters
    ----------
    depth : int
        Number of registers, 4 .. 256.

    Ports
    -----
    bus : hw.bus.Signature(addr_width=8), in
        Register access; ``ack`` one cycle after ``cyc``.
    irq : 1, out
        High from the end of a run until the next ``START``.
    trace : stream.Signature(TRACE_LAYOUT), out
        One record per step; ``ready`` is ignored (the trace never stalls the run).
    """

    def __init__(self, depth: int = 16):
        if not isinstance(depth, int) or not 4 <= depth <= 256:
            raise ValueError(f"Depth must be an integer in 4 .. 256, not {depth!r}")
        self.depth = depth
        super().__init__({
            "bus": In(hw.bus.Signature(addr_width=8)),
            "irq": Out(1),
            "trace": Out(stream.Signature(TRACE_LAYOUT)),
        })

    def elaborate(self, platform):
        m = Module()
        regs = [Signal(32, name=f"reg{i}") for i in range(self.depth)]
        remaining = Signal(8)
        step = Signal(8)
        done = Signal()

        m.d.sync += self.bus.ack.eq(self.bus.cyc & ~self.bus.ack)
        with m.If(self.bus.cyc & ~self.bus.ack):
            with m.Switch(self.bus.addr):
                for i in range(self.depth):
                    with m.Case(i):
                        if i == 1:
                            m.d.sync += self.bus.r_data.eq(done)
                        else:
                            m.d.sync += self.bus.r_data.eq(regs[i])
                        with m.If(self.bus.we):
                            if i == 0:
                                m.d.sync += [remaining.eq(self.bus.w_data[:8]), step.eq(0),
                                             done.eq(0), regs[2].eq(self.bus.w_data[:8])]
                            elif i >= 3:
                                m.d.sync += regs[i].eq(self.bus.w_data)
                with m.Default():
                    m.d.sync += self.bus.r_data.eq(0xDEADBEEF)

        m.d.comb += self.trace.valid.eq(0)
        with m.If(remaining != 0):
            m.d.sync += [remaining.eq(remaining - 1), step.eq(step + 1)]
            m.d.comb += [self.trace.valid.eq(1),
                         self.trace.payload.step.eq(step),
                         self.trace.payload.spikes.eq(step[:2]),
                         self.trace.payload.membrane[0].eq(-step),
                         self.trace.payload.membrane[1].eq(step * 3)]
            with m.If(remaining == 1):
                m.d.sync += done.eq(1)
        m.d.comb += self.irq.eq(done)
        return m
