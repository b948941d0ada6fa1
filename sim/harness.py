"""The Python side of the wrapper (``sim/wrapper.py``), for use inside a cocotb test.

:class:`Harness` queues bus transfers and other sequencer commands and runs them in one go
(:meth:`Harness.flush`): it writes the commands into the wrapper's ``cmd_mem``, starts the
sequencer and awaits its single "done" change, so Python wakes once per batch and never per
clock cycle. It also reads the captured trace records.

:class:`CocotbTransport` is a :class:`core.transport.Transport` over a harness, for the *blocking*
host driver (``sw.device.Device``): run the driver in a thread with
:func:`cocotb.task.bridge` (``await bridge(driver.infer)(pixels)``) and every transport call
switches back to the simulator with :func:`cocotb.task.resume`. The same host code therefore
drives the simulation and a board.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cocotb.task import resume

from core.transport import SIMULATOR_TIMEOUT, Transport, TransportError

from .wrapper import OPS, decode_record

__all__ = ["Harness", "CocotbTransport", "load_meta"]


def load_meta(path=None) -> dict:
    """The design's meta data (written by :func:`sim.toolchain.prepare`); ``SIM_META`` by
    default."""
    path = path or os.environ.get("SIM_META")
    if not path:
        raise RuntimeError("SIM_META is not set; run this bench through sim.toolchain.run")
    with open(path) as file:
        return json.load(file)


class Harness:
    """Sequencer and trace access for the wrapped design ``dut`` (the ``sim_top`` handle).

    Parameters
    ----------
    dut : cocotb handle of ``sim_top``
    meta : dict, optional
        The design's meta data; read from ``SIM_META`` when omitted.
    """

    def __init__(self, dut, meta: dict | None = None, folder=None):
        self.dut = dut
        self.meta = meta if meta is not None else load_meta()
        self.cmd_depth = self.meta["cmd_depth"]
        # The simulator opened its files in its working folder, which is ours too.
        folder = Path(folder or os.getcwd())
        files = self.meta["files"]
        self._cmd_path = folder / files["cmd"]
        self._rd_path = folder / files["read"]
        self._trace_path = folder / files["trace"]
        self._queue: list[tuple[int, int, int]] = []
        self._seq = int(dut.go_seq.value)
        self.flushes = 0  # how many times Python handed control to the sequencer

    # -- queueing ----------------------------------------------------------------------------

    def post(self, op: str, addr: int = 0, data: int = 0) -> None:
        """Queue one sequencer command (``op`` from :data:`sim.wrapper.OPS`)."""
        self._queue.append((OPS[op], addr, data))

    def post_write(self, addr: int, words) -> None:
        """Queue writes of ``words`` from byte address ``addr`` (a multiple of 4)."""
        base = addr >> 2
        op = OPS["write"]
        self._queue += [(op, base + k, int(word)) for k, word in enumerate(words)]

    def post_read(self, addr: int, count: int = 1) -> None:
        base = addr >> 2
        op = OPS["read"]
        self._queue += [(op, base + k, 0) for k in range(count)]

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self) -> list[int]:
        """Run every queued command; return the words read, in order."""
        out: list[int] = []
        queue, self._queue = self._queue, []
        step = self.cmd_depth - 1  # room for the end marker
        for start in range(0, len(queue), step):
            chunk = queue[start:start + step]
            text = "".join(f"{(op << 64) | (addr << 32) | data:018x}\n"
                           for op, addr, data in chunk)
            self._cmd_path.write_text(text + "0" * 18 + "\n")
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            self.dut.go_seq.value = self._seq
            self.flushes += 1
            while int(self.dut.done_seq.value) != self._seq:
                await self.dut.done_seq.value_change
            if any(op == OPS["read"] for op, _, _ in chunk):
                words = self._rd_path.read_text().split()
                try:
                    out += [int(word, 16) for word in words]
                except ValueError:
                    raise RuntimeError(f"a read returned an undefined value ({words}); the "
                                       f"design drives X on r_data") from None
        return out

    # -- immediate operations ----------------------------------------------------------------

    async def write(self, addr: int, words) -> None:
        self.post_write(addr, words)
        await self.flush()

    async def read(self, addr: int, count: int = 1) -> list[int]:
        self.post_read(addr, count)
        return (await self.flush())[-count:]

    async def reset(self, cycles: int = 4) -> None:
        """Hold the design's reset for ``cycles`` cycles (queued commands run first)."""
        self.post("reset", data=cycles)
        await self.flush()

    async def wait_irq(self, max_cycles: int) -> bool:
        """Run until ``irq`` is high or ``max_cycles`` passed; return the ``irq`` level."""
        self.post("wait_irq", data=max_cycles)
        await self.flush()
        return bool(self.irq)

    async def idle(self, cycles: int) -> None:
        self.post("idle", data=cycles)
        await self.flush()

    def clear_trace(self) -> None:
        """Queue the clearing of the trace capture (it runs in order with the transfers)."""
        self.post("clear_trace")

    # -- observation -------------------------------------------------------------------------

    @property
    def irq(self) -> int:
        return int(self.dut.irq.value)

    @property
    def cycle(self) -> int:
        """Clock cycles since the simulation started."""
        return int(self.dut.cycle.value)

    @property
    def irq_cycles(self) -> int:
        """Cycles from the last acknowledged write before the last rising edge of ``irq`` to
        that edge: the latency of a start command."""
        return int(self.dut.irq_cycles.value)

    def trace_words(self) -> list[int]:
        """The raw trace records captured since the last :meth:`clear_trace` (up to the last
        flush)."""
        words = self._trace_path.read_text().split()
        try:
            return [int(word, 16) for word in words]
        except ValueError:
            raise RuntimeError("a trace record holds undefined bits (X); the design drives X "
                               "on its trace port") from None

    def trace(self) -> list:
        """The captured trace records since the last clear, decoded
        (:func:`sim.wrapper.decode_record`)."""
        fields = self.meta["trace_fields"]
        return [decode_record(word, fields) for word in self.trace_words()]


class CocotbTransport(Transport):
    """A :class:`~core.transport.Transport` into a simulated design, for blocking host code.

    Call it only from a thread started by :func:`cocotb.task.bridge`. Writes are *posted*:
    they are queued and run with the next read (or :meth:`flush`), as a write buffer would,
    which keeps Python out of the simulator's way. A read that repeats the previous read's
    address (a status poll) first lets the design run until ``irq`` rises or ``poll_cycles``
    pass, so a polling driver costs a few wake-ups per inference instead of one per transfer;
    that only models a host that polls less often, which the bus allows.

    Parameters
    ----------
    harness : Harness
    poll_cycles : int
        Most cycles a repeated read waits for ``irq``.
    posted : bool
        Queue writes until the next read (default) or run each write at once.
    """

    max_burst = 1 << 16

    inference_timeout = SIMULATOR_TIMEOUT

    def __init__(self, harness: Harness, *, poll_cycles: int = 256, posted: bool = True):
        if not isinstance(poll_cycles, int) or poll_cycles < 0:
            raise ValueError(f"poll_cycles must be a non-negative integer, not {poll_cycles!r}")
        self.harness = harness
        self.poll_cycles = poll_cycles
        self.posted = posted
        self._last_read = None
        self._flush = resume(harness.flush)
        self._closed = False

    def _check_open(self):
        if self._closed:
            raise TransportError("the simulation transport is closed")

    def _write(self, addr: int, words: list[int]) -> None:
        self._check_open()
        if addr // 4 + len(words) > 1 << self.harness.meta["addr_width"]:
            raise ValueError(f"address {addr:#x} + {len(words)} words is outside the "
                             f"{self.harness.meta['addr_width']}-bit word address space")
        self.harness.post_write(addr, words)
        self._last_read = None
        if not self.posted:
            self._flush()

    def _read(self, addr: int, count: int) -> list[int]:
        self._check_open()
        if self._last_read == (addr, count) and self.poll_cycles:
            self.harness.post("wait_irq", data=self.poll_cycles)
        self._last_read = (addr, count)
        self.harness.post_read(addr, count)
        return self._flush()[-count:]

    def flush(self) -> None:
        """Run the posted writes now."""
        self._check_open()
        if self.harness.pending:
            self._flush()

    def wait_irq(self, max_cycles: int) -> bool:
        """Let the design run until ``irq`` is high or ``max_cycles`` passed."""
        self._check_open()
        self.harness.post("wait_irq", data=max_cycles)
        self._flush()
        return bool(self.harness.irq)

    def reset(self, cycles: int = 4) -> None:
        """Pulse the design's reset (posted writes run first)."""
        self._check_open()
        self.harness.post("reset", data=cycles)
        self._flush()
        self._last_read = None

    def close(self) -> None:
        if not self._closed and self.harness.pending:
            self._flush()
        self._closed = True
