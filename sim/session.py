"""One co-simulation session: the host driver, the harness and the golden model together.

Used inside cocotb tests (``sim/test_accel.py``, ``sim/cosim_run.py``)::

    session = await Session.open(dut)             # reset, identify through the memory map
    await session.load(network)                   # sw.device.Device.load
    report = await session.run(network, pixels)   # infer every image, compare every value
    assert not report.mismatches, report.describe()

The host side is the real blocking driver, ``sw.device.Device``, over a
:class:`sim.harness.CocotbTransport`, running in a :func:`cocotb.task.bridge` thread: the bench
exercises the same host code as a board. The trace of every inference is captured by the
wrapper and compared with :func:`core.golden.run` by :func:`sim.compare.compare`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from cocotb.task import bridge, resume

from core import golden, memmap
from core.perf import cycle_counts as perf_cycles
from sw.compiler import input_writes, pixel_writes
from sw.device import Device

from .compare import RawTrace, compare
from .harness import Harness, CocotbTransport

__all__ = ["Inference", "Report", "Session"]


@dataclass
class Inference:
    """Outcome of one inference: class, cycles, and the differences from the golden model."""
    index: int
    prediction: int
    cycles: int
    mismatches: list


@dataclass
class Report:
    """Outcome of :meth:`Session.run`."""
    inferences: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mismatches(self) -> list:
        return [(inf.index, m) for inf in self.inferences for m in inf.mismatches]

    @property
    def failed(self) -> list:
        return [inf for inf in self.inferences if inf.mismatches]

    @property
    def cycles(self) -> list[int]:
        return [inf.cycles for inf in self.inferences]

    def describe(self, label: str = "") -> str:
        bad = self.failed
        if not bad:
            return f"{label}{len(self.inferences)} inferences agree with the golden model"
        first = bad[0]
        lines = [f"{label}{len(bad)} of {len(self.inferences)} inferences differ; first: "
                 f"image {first.index}:"]
        lines += [f"  {m}" for m in first.mismatches[:8]]
        return "\n".join(lines)


def _result_class(result) -> int:
    """The class from whatever the driver's ``infer`` returns (an int or a result object)."""
    if isinstance(result, (int, np.integer)):
        return int(result)
    for name in ("prediction", "klass", "class_", "label", "cls"):
        if hasattr(result, name):
            return int(getattr(result, name))
    if isinstance(result, dict):
        return int(result.get("class", result.get("prediction")))
    raise TypeError(f"cannot find the class in the driver's result {result!r}")


def _result_fields(result) -> dict:
    out = {"class": _result_class(result)}
    names = {"first_time": "first_time", "first_potential": "first_potential",
             "membrane": "final_membrane", "final_membrane": "final_membrane",
             "count": "count", "cycles": "cycles"}
    for name, key in names.items():
        value = getattr(result, name, None)
        if value is None and isinstance(result, dict):
            value = result.get(name)
        if value is not None:
            out[key] = value
    return out


class Session:
    """Driver, transport and harness for the accelerator wrapped as ``dut``.

    Create it with :meth:`open` (a coroutine). Attributes: ``harness``, ``transport``,
    ``device`` (``sw.device.Device``), ``lanes`` and ``membrane_bits`` (the trace's lane
    count and width, read from the identification registers).
    """
    def __init__(self, dut, harness: Harness, transport: CocotbTransport, device, config):
        self.dut = dut
        self.harness = harness
        self.transport = transport
        self.device = device
        self.config = config
        self.lanes = config.neuron_units
        self.membrane_bits = config.membrane_bits
        self.region_bits = config.region_bits

    @classmethod
    async def open(cls, dut, *, poll_cycles: int = 256) -> "Session":
        """Reset the design, identify it with the driver and check it has a trace port."""
        harness = Harness(dut)
        await harness.reset()
        transport = CocotbTransport(harness, poll_cycles=poll_cycles)
        device = Device(transport)   # the transport's hour-long wall-clock guard
        config = await bridge(device.identify)()
        if not config.trace:
            raise AssertionError("the design has no trace port; build it with trace=True")
        return cls(dut, harness, transport, device, config)

    async def load(self, network) -> None:
        """Load ``network`` through the memory map with the host driver."""
        await bridge(self.device.load)(network)

    async def run(self, network, pixels, *, expected=None, limit: int = 20,
                  fast: bool = False) -> Report:
        """Infer every image of ``pixels`` (uint8 (B, n_in)) with the loaded ``network`` and
        compare each inference's every spike, membrane value and class with the golden model
        (``expected``, a :class:`core.golden.Trace` of the batch, is computed when omitted).

        By default the blocking host driver runs each inference (``device.infer``), exactly as
        on a board. With ``fast`` the same memory-map accesses (``sw.compiler.pixel_writes``,
        CLEAR, START, wait for ``irq``, read STATUS, the result arrays, CYCLES and CLASS) are
        queued as one sequencer run per inference: one Python wake-up instead of about ten,
        for throughput measurements.
        """
        pixels = np.asarray(pixels)
        if expected is None:
            expected = golden.run(network, pixels)
        harness, device = self.harness, self.device
        read_trace = resume(_async_trace)

        def host():
            out = []
            for index in range(len(pixels)):
                harness.clear_trace()
                result = device.infer(pixels[index])
                out.append((result, read_trace(harness)))
            return out

        started = time.monotonic()
        raw = await (self._fast(network, pixels) if fast else bridge(host)())
        seconds = time.monotonic() - started
        report = Report(seconds=seconds)
        for index, (result, records) in enumerate(raw):
            fields = _result_fields(result)
            cycles = int(fields.get("cycles", harness.irq_cycles))
            mismatches = compare(records, expected[index], network, lanes=self.lanes,
                                 membrane_bits=self.membrane_bits, result=fields, limit=limit)
            report.inferences.append(Inference(index, fields["class"], cycles, mismatches))
        return report

    async def _fast(self, network, pixels, max_cycles: int = 1 << 24):

        h, config = self.harness, self.config
        n, R = network.n_classes, config.region_bits
        which = [memmap.RESULT_FIRST_TIME, memmap.RESULT_FIRST_POTENTIAL,
                 memmap.RESULT_FINAL_MEMBRANE]
        if config.spike_count:
            which.append(memmap.RESULT_SPIKE_COUNT)
        arrays = [memmap.result_array(R, w) for w in which]
        out = []
        # With the input queue (Config.stream): compact input, START queues it, irq is READY,
        # and POP (sent with the next image) frees the result slot read.
        done_bit = memmap.STATUS_READY if config.stream else memmap.STATUS_DONE
        for image in pixels:
            h.clear_trace()
            for address, words in input_writes(image, config, network):
                h.post_write(address, words)
            if not config.stream:
                h.post_write(4 * memmap.REG_CONTROL, [memmap.CONTROL_CLEAR])
            h.post_write(4 * memmap.REG_CONTROL, [memmap.CONTROL_START])
            h.post("wait_irq", data=max_cycles)
            h.post_read(4 * memmap.REG_STATUS)
            for base in arrays:
                h.post_read(4 * base, n)
            h.post_read(4 * memmap.REG_CYCLES, 2)
            if config.stream:
                h.post_write(4 * memmap.REG_CONTROL, [memmap.CONTROL_POP])
            words = await h.flush()
            status = words[0]
            if (not config.stream and status & memmap.STATUS_BUSY or not status & done_bit
                    or config.stream and status & memmap.STATUS_REJECTED):
                raise AssertionError(f"the inference did not finish in {max_cycles} cycles "
                                     f"(status {status:#x})")
            signed = [w - (1 << 32) if w >> 31 else w for w in words[1 + n:1 + 3 * n]]
            result = {"class": words[-1], "cycles": words[-2],
                      "first_time": words[1:1 + n], "first_potential": signed[:n],
                      "final_membrane": signed[n:]}
            if config.spike_count:
                result["count"] = words[1 + 3 * n:1 + 4 * n]
            out.append((result, RawTrace(h.trace_words(), h.meta["trace_fields"])))
        return out

    async def overlapped(self, network, pixels, *, expected=None,
                         max_cycles: int = 1 << 24) -> dict:
        """Run ``pixels`` through the input queue (``Config.stream``) with the link kept
        ahead: image ``k`` is written and queued while image ``k - 1`` computes, then image
        ``k - 1``'s results are read (one simulator run per image), and compare every result
        (class, first spike times and potentials, final membranes, cycles) with the golden
        model. Returns ``inferences``, ``mismatches``, ``first`` (the first difference or
        None), ``cycles`` (per inference), ``busy_cycles`` (the sum of the inferences' cycles), ``total_cycles`` (from the
        first write to the last read) and ``utilisation`` (their ratio)."""
        h, config = self.harness, self.config
        if not config.stream:
            raise AssertionError("the overlapped run needs the input queue: build with "
                                 "--set stream=true")
        pixels = np.asarray(pixels)
        if expected is None:
            expected = golden.run(network, pixels)
        n, R = network.n_classes, config.region_bits
        arrays = [memmap.result_array(R, w) for w in (
            memmap.RESULT_FIRST_TIME, memmap.RESULT_FIRST_POTENTIAL,
            memmap.RESULT_FINAL_MEMBRANE)]
        control = 4 * memmap.REG_CONTROL
        cycles = perf_cycles(network, config, pixels)
        out = {"inferences": 0, "mismatches": 0, "first": None, "busy_cycles": 0,
               "cycles": []}
        started = h.cycle
        for k in range(len(pixels) + 1):
            if k < len(pixels):
                for address, words in input_writes(pixels[k], config, network):
                    h.post_write(address, words)
                # START pops the result read in the run before this one.
                h.post_write(control, [memmap.CONTROL_START
                                       | (memmap.CONTROL_POP if k >= 2 else 0)])
            elif k >= 2:
                h.post_write(control, [memmap.CONTROL_POP])
            if k:
                h.post("wait_irq", data=max_cycles)
                h.post_read(4 * memmap.REG_STATUS)
                for base in arrays:
                    h.post_read(4 * base, n)
                h.post_read(4 * memmap.REG_CYCLES, 2)
            words = await h.flush()
            if not k:
                continue
            b = k - 1
            status, got = words[0], words[1:]
            signed = [w - (1 << 32) if w >> 31 else w for w in got[n:3 * n]]
            fields = {"class": got[-1], "cycles": got[-2], "first_time": got[:n],
                      "first_potential": signed[:n], "final_membrane": signed[n:]}
            want = {"class": int(expected.prediction[b]), "cycles": int(cycles[b]),
                    "first_time": expected.first_time[b].tolist(),
                    "first_potential": expected.first_potential[b].tolist(),
                    "final_membrane": expected.membrane[-1][b, -1].tolist()}
            wrong = [f"{key} {fields[key]}, golden {want[key]}" for key in want
                     if fields[key] != want[key]]
            if not status & memmap.STATUS_READY or status & memmap.STATUS_REJECTED:
                wrong.insert(0, f"status {status:#x}: no result ready, or a write rejected")
            out["inferences"] += 1
            out["busy_cycles"] += fields["cycles"]
            out["cycles"].append(fields["cycles"])
            if wrong:
                out["mismatches"] += 1
                if out["first"] is None:
                    out["first"] = {"image": b, "differences": wrong[:10]}
        h.post_write(control, [memmap.CONTROL_POP])
        await h.flush()
        out["total_cycles"] = h.cycle - started
        out["utilisation"] = out["busy_cycles"] / max(1, out["total_cycles"])
        return out

    # -- raw control, for abort and reset benches -----------------------------------------------

    async def write_pixels(self, image, network=None) -> None:
        """Write one image into the pixel window, as the host driver does (in the hardware
        order of ``network``'s conv layer 0, when it has one)."""
        for address, words in pixel_writes(np.asarray(image), self.config, network=network):
            await self.harness.write(address, words)

    async def control(self, bits: int) -> None:
        await self.harness.write(4 * memmap.REG_CONTROL, [bits])

    async def status(self) -> int:
        return (await self.harness.read(4 * memmap.REG_STATUS))[0]


async def _async_trace(harness: Harness) -> RawTrace:
    return RawTrace(harness.trace_words(), harness.meta["trace_fields"])
