"""cocotb bench of the AXI-Stream path (hw/axis.py) in Verilator and Icarus: the accelerator
with the input queue, its bridge and the bus arbiter, as on the PCIe boards. cocotbext-axi's
AxiStreamSource plays XDMA's H2C channel (one frame of compact words per image) and
AxiStreamSink its C2H channel (one result record per image), both with random pauses; every
record is compared with the golden model (class, cycles, first spike times and potentials,
final membranes, spike counts). The network is uploaded through the wrapper's bus sequencer
(the register BAR's role), sharing the bus with the bridge through the arbiter.

With ``AXIS_JOB`` (a folder with ``network.snn`` and ``images.npy``) the bench runs those
images and writes ``result.json`` there: cycles from the first H2C frame to the last C2H
record, the inferences' cycles and the mismatches (``sw.linkbench --pcie-stream``).
"""

import dataclasses
import inspect
import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import SimTimeoutError, Timer, with_timeout

from core import golden, memmap
from core.config import Config
from core.modelfile import load
from core.perf import cycle_counts
from hw import bus
from hw.accel import Accelerator
from hw.axis import AXISBridge
from hw.busarbiter import BusArbiter
from sw.device import Device
from sw.xdma import frame, parse_record

from . import toolchain
from .designs import config_from_meta, random_fitting_network
from .harness import CocotbTransport, Harness

DATA_WIDTH = 128          # XDMA's AXI-Stream width on a Gen2 x4 link
CLOCK_NS = 8              # 125 MHz (the period does not change the cycle counts)


class Top(wiring.Component):
    """Accelerator + AXISBridge + BusArbiter, with flat AXI-Stream pins for cocotbext-axi."""

    def __init__(self, config, data_width):
        self.config, w = config, data_width
        super().__init__({
            "bus": In(bus.Signature(config.addr_width)), "irq": Out(1),
            "h2c_tdata": In(w), "h2c_tkeep": In(w // 8), "h2c_tlast": In(1),
            "h2c_tvalid": In(1), "h2c_tready": Out(1),
            "c2h_tdata": Out(w), "c2h_tkeep": Out(w // 8), "c2h_tlast": Out(1),
            "c2h_tvalid": Out(1), "c2h_tready": In(1)})

    def elaborate(self, platform):
        m = Module()
        config, w = self.config, len(self.h2c_tdata)
        m.submodules.accel = accel = Accelerator(config)
        m.submodules.bridge = br = AXISBridge(config, w)
        m.submodules.arbiter = arb = BusArbiter(config.addr_width)
        wiring.connect(m, wiring.flipped(self.bus), arb.a)
        wiring.connect(m, br.bus, arb.b)
        wiring.connect(m, arb.target, accel.bus)
        m.d.comb += [self.irq.eq(accel.irq),
                     br.h2c.p.data.eq(self.h2c_tdata), br.h2c.p.keep.eq(self.h2c_tkeep),
                     br.h2c.p.last.eq(self.h2c_tlast), br.h2c.valid.eq(self.h2c_tvalid),
                     self.h2c_tready.eq(br.h2c.ready),
                     self.c2h_tdata.eq(br.c2h.p.data), self.c2h_tkeep.eq(br.c2h.p.keep),
                     self.c2h_tlast.eq(br.c2h.p.last), self.c2h_tvalid.eq(br.c2h.valid),
                     br.c2h.ready.eq(self.c2h_tready)]
        return m


def design(config=None, data_width=DATA_WIDTH):
    """:class:`sim.toolchain.Design` of the bench's top (default ``Config.tiny(stream=True)``)."""
    config = (config or Config.tiny(stream=True)).replace(trace=False)
    return toolchain.prepare(
        lambda: Top(config, data_width),
        f"axis {data_width}\n{config!r}\n{inspect.getsource(Top)}",
        name="axis", info={"config": dataclasses.asdict(config), "data_width": data_width},
        modules=["hw.accel", "hw.axis", "hw.busarbiter"], pins=True)


def pauses(seed, p):
    rng = random.Random(seed)
    return iter(lambda: rng.random() < p, None)


async def stream(dut, harness, config, network, pixels, pause):
    """Upload ``network``, send ``pixels`` as H2C frames, receive the records; return them and
    the cycles from the first frame's send to the last record's arrival."""
    from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

    transport = CocotbTransport(harness, poll_cycles=256)
    device = Device(transport)
    await bridge(device.identify)()
    await bridge(device.load)(network)
    await harness.flush()   # the transport queues writes until a read: run them now
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "h2c"), dut.clk)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "c2h"), dut.clk)
    if pause:
        source.set_pause_generator(pauses(1, pause))
        sink.set_pause_generator(pauses(2, pause))
    started = int(dut.cycle.value)
    for image in pixels:
        await source.send(AxiStreamFrame(frame(image, config, network)))
    records = []
    limit = int(os.environ.get("AXIS_TIMEOUT_CYCLES", 1 << 20))   # a hang fails, with a hint
    for k in range(len(pixels)):
        try:
            received = await with_timeout(sink.recv(), limit * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(
                f"no C2H record {k} of {len(pixels)} within {limit} cycles; bridge "
                f"{_peek(dut, 'core.bridge.fsm_state')}, STATUS "
                f"{await harness.read(4 * memmap.REG_STATUS)}") from None
        records.append(parse_record(bytes(received.tdata), config, network.n_classes))
    cycles = int(dut.cycle.value) - started
    source.clear()
    return records, cycles


def _peek(dut, path):
    """An internal signal's value where the simulator shows it (Icarus), else '?'."""
    try:
        handle = dut
        for name in path.split("."):
            handle = getattr(handle, name)
        return str(handle.value)
    except (AttributeError, ValueError):
        return "?"


def compare(network, config, pixels, records) -> list[str]:
    """Differences between the records (``sw.device.Result``) and the golden model, one line
    per wrong image."""
    expected = golden.run(network, pixels)
    perf = cycle_counts(network, config, pixels)
    wrong = []
    for b, rec in enumerate(records):
        got = {"class": rec.cls, "cycles": rec.cycles, "first_time": rec.first_time.tolist(),
               "first_potential": rec.first_potential.tolist(),
               "final_membrane": rec.membrane.tolist()}
        want = {"class": int(expected.prediction[b]), "cycles": int(perf[b]),
                "first_time": expected.first_time[b].tolist(),
                "first_potential": expected.first_potential[b].tolist(),
                "final_membrane": expected.membrane[-1][b, -1].tolist()}
        if config.spike_count:
            got["count"], want["count"] = rec.count.tolist(), expected.count[b].tolist()
        diff = [f"{k} {got[k]}, golden {v}" for k, v in want.items() if got[k] != v]
        if diff:
            wrong.append(f"image {b}: " + "; ".join(diff[:4]))
    return wrong


async def start(dut):
    # The first edge after 2 ns: every combinational block has been evaluated once
    # (toolchain.kick_comb); an edge at time 0 would register X in Icarus.
    await Timer(2, "ns")
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, "ns").start())
    harness = Harness(dut)
    await harness.reset()
    return harness


@cocotb.test()
async def images_through_streams(dut):
    """Random networks (direct and hybrid encoders) or the job's network, images through H2C
    and records from C2H with random pauses on both, against the golden model."""
    harness = await start(dut)
    config = config_from_meta(harness.meta)
    pause = float(os.environ.get("AXIS_PAUSE", "0.3"))
    job = os.environ.get("AXIS_JOB")
    if job:
        network = load(Path(job) / "network.snn")
        pixels = np.load(Path(job) / "images.npy")
        records, cycles = await stream(dut, harness, config, network, pixels, pause)
        wrong = compare(network, config, pixels, records)
        (Path(job) / "result.json").write_text(json.dumps({
            "images": len(pixels), "total_cycles": cycles,
            "cycles": [r.cycles for r in records], "mismatches": len(wrong),
            "first": wrong[0] if wrong else None}))
        assert not wrong, wrong[:3]
        return
    rng = np.random.default_rng(int(os.environ.get("AXIS_SEED", "7")))
    count = int(os.environ.get("AXIS_IMAGES", "4"))
    for k in range(int(os.environ.get("AXIS_NETWORKS", "2"))):
        while True:
            network = random_fitting_network(rng, config)
            if network.encoder != "rate":   # the rate encoder takes whole images (MMIO)
                break
        pixels = rng.integers(0, 256, (count, network.n_inputs), dtype=np.uint8)
        pixels[rng.random(pixels.shape) < 0.6] = 0     # sparse, as MNIST
        pixels[1] = 0                                   # no nonzero pixel: the frame is [0]
        records, _ = await stream(dut, harness, config, network, pixels, pause)
        wrong = compare(network, config, pixels, records)
        assert not wrong, f"network {k}: " + "\n".join(wrong[:3])


# -- pytest entry points -------------------------------------------------------------------

@pytest.mark.tools
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_axis(sim, sim_all):
    pytest.importorskip("cocotbext.axi")
    if not toolchain.available(sim):
        pytest.skip(f"{sim} is not installed")
    env = {"AXIS_NETWORKS": 4 if sim_all else 2, "AXIS_IMAGES": 6 if sim_all else 3}
    results = toolchain.run(design(), sim, "sim.test_axis", env=env)
    assert results.failed == 0 and results.passed == 1, results.tests
