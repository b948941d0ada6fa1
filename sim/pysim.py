"""An in-process Amaranth simulation of the accelerator behind a
:class:`~core.transport.Transport`.

:class:`AmaranthSimTransport` lets the host driver (``sw.device``) and the tests talk to the
simulated gateware exactly as they talk to a board. The simulator runs in a helper thread whose
testbench waits for the host's requests; simulated time advances only while a request is
served, so the host sees a device clocked by its own bus traffic (as with a real bus, an
inference runs on while the host polls the status register).

Each cycle the testbench samples the trace port (when ``config.trace`` is on) and appends a
:class:`TraceRecord` per record strobe to :attr:`AmaranthSimTransport.trace`.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from amaranth.sim import Simulator

from core.config import Config
from core.transport import SIMULATOR_TIMEOUT, Transport, TransportError
from hw.accel import Accelerator

__all__ = ["TraceRecord", "AmaranthSimTransport"]


@dataclass
class TraceRecord:
    """One trace strobe: ``U`` neurons of one layer in one step."""
    layer: int
    step: int
    index: int
    mask: int
    spikes: int
    membrane: list  # signed values, one per lane


class AmaranthSimTransport(Transport):
    """Transport to an :class:`~hw.accel.Accelerator` simulated by Amaranth's simulator.

    Parameters
    ----------
    config : core.config.Config
    vcd : str or None
        Write a waveform file (slow; for debugging).
    """

    max_burst = 255

    inference_timeout = SIMULATOR_TIMEOUT

    def __init__(self, config: Config, vcd: str | None = None):
        self.config = config
        self.dut = Accelerator(config)
        self.trace: list[TraceRecord] = []
        self.cycles = 0
        self._requests: queue.Queue = queue.Queue()
        self._replies: queue.Queue = queue.Queue()
        self._closed = False
        self._sim = Simulator(self.dut)
        self._sim.add_clock(1e-8)
        self._sim.add_testbench(self._bench)
        self._vcd = vcd
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- simulator side -------------------------------------------------------------------
    def _run(self):
        try:
            if self._vcd:
                with self._sim.write_vcd(self._vcd):
                    self._sim.run()
            else:
                self._sim.run()
        except BaseException as error:  # report it to the waiting host call
            self._replies.put(error)

    async def _tick(self, ctx, *extra):
        M, U = self.config.membrane_bits, self.config.neuron_units
        if self.config.trace:
            tr = self.dut.trace
            _, _, valid, layer, step, index, mask, spikes, membrane, *values = \
                await ctx.tick().sample(tr.valid, tr.layer, tr.step, tr.index, tr.mask,
                                        tr.spikes, tr.membrane, *extra)
            if valid:
                lanes = []
                for k in range(U):
                    v = (membrane >> (k * M)) & ((1 << M) - 1)
                    lanes.append(v - (1 << M) if v >> (M - 1) else v)
                self.trace.append(TraceRecord(layer, step, index, mask, spikes, lanes))
        else:
            _, _, *values = await ctx.tick().sample(*extra)
        self.cycles += 1
        return values

    async def _transfer(self, ctx, addr, we, data=0):
        bus = self.dut.bus
        ctx.set(bus.cyc, 1)
        ctx.set(bus.we, we)
        ctx.set(bus.addr, addr)
        ctx.set(bus.w_data, data)
        # A write may wait for an inference (Config.stream holds input writes while an image
        # is queued); a read is answered within a few cycles.
        for _ in range(1 << 20 if we else 64):
            ack, r_data = await self._tick(ctx, bus.ack, bus.r_data)
            if ack:
                ctx.set(bus.cyc, 0)
                return r_data
        raise TransportError(f"no ack from the simulated accelerator at word {addr:#x}")

    async def _bench(self, ctx):
        while True:
            request = self._requests.get()
            if request is None:
                return
            op, addr, payload = request
            try:
                if op == "read":
                    reply = [await self._transfer(ctx, addr + i, 0) for i in range(payload)]
                elif op == "write":
                    for i, word in enumerate(payload):
                        await self._transfer(ctx, addr + i, 1, word)
                    reply = None
                else:  # "run": idle cycles
                    for _ in range(payload):
                        await self._tick(ctx)
                    reply = None
            except Exception as error:  # noqa: BLE001 - handed to the host thread
                reply = error
            self._replies.put(reply)

    # -- host side ------------------------------------------------------------------------
    def _call(self, op, addr, payload):
        if self._closed:
            raise TransportError("the simulation transport is closed")
        self._requests.put((op, addr, payload))
        reply = self._replies.get()
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _read(self, addr: int, count: int) -> list[int]:
        return self._call("read", addr // 4, count)

    def _write(self, addr: int, words: list[int]) -> None:
        self._call("write", addr // 4, words)

    def run(self, cycles: int) -> None:
        """Let the accelerator run ``cycles`` clock cycles with the bus idle."""
        self._call("run", 0, cycles)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._requests.put(None)
            self._thread.join(timeout=10)
