"""cocotb benches of the UART link in Verilator and Icarus: hw.soc.SoC (UART receiver, FIFO,
UARTBone bridge, transmitter) in front of the stand-in register file of ``sim/standin.py``,
driven through its rx/tx pins.

They check what the Amaranth-simulator tests check (tests/hw/test_uart*.py), on the generated
Verilog: round trips, bursts, a framing error, random bytes on the line followed by a valid
command, and a truncated command dropped by the idle timeout.
"""

import os
import random
import struct

import cocotb
import pytest
from cocotb.triggers import FallingEdge, Timer, with_timeout

from hw.soc import SoC
from sim import toolchain
from sim.standin import RegisterFile

DIVISOR = 4          # clock cycles per bit
PERIOD_NS = 10       # the wrapper's clock: always #5
TIMEOUT = 600        # bridge idle timeout, cycles
BIT_NS = DIVISOR * PERIOD_NS

WRAPPER = """\
`timescale 1ns/1ps
// Simulation top of the UART link benches: a free-running clock, so that Python wakes up
// only when it drives or samples a bit.
module sim_top;
    reg clk /*verilator public_flat_rw*/ = 0;
    reg rst /*verilator public_flat_rw*/ = 1;
    reg rx /*verilator public_flat_rw*/ = 1;
    wire tx /*verilator public_flat_rw*/;
    wire irq /*verilator public_flat_rw*/;
    wire rx_error /*verilator public_flat_rw*/;
    always #5 clk = ~clk;
    %s core (.clk(clk), .rst(rst), .rx(rx), .tx(tx), .irq(irq), .rx_error(rx_error));
endmodule
"""


# -- bench helpers -------------------------------------------------------------------------

async def reset(dut):
    dut.rx.value = 1
    dut.rst.value = 1
    await Timer(10 * PERIOD_NS, "ns")
    dut.rst.value = 0
    await Timer(10 * PERIOD_NS, "ns")


async def send(dut, data, bit_ns=BIT_NS, stop=1):
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [stop]:
            dut.rx.value = bit
            await Timer(bit_ns, "ns")
        dut.rx.value = 1


async def receive(dut, n, timeout_ns=None):
    """``n`` bytes from the tx pin, sampled in the middle of each bit."""
    out = bytearray()
    for _ in range(n):
        edge = FallingEdge(dut.tx)
        if timeout_ns:
            await with_timeout(edge, timeout_ns, "ns")
        else:
            await edge
        await Timer(BIT_NS // 2, "ns")
        byte = 0
        for i in range(8):
            await Timer(BIT_NS, "ns")
            byte |= int(dut.tx.value) << i
        await Timer(BIT_NS, "ns")
        assert int(dut.tx.value) == 1, "stop bit of the answer is 0"
        out.append(byte)
    return bytes(out)


async def quiet(dut, cycles):
    """Wait until tx has been idle for ``cycles`` (what the host's recovery does)."""
    while True:
        try:
            await with_timeout(FallingEdge(dut.tx), cycles * PERIOD_NS, "ns")
            await Timer(10 * BIT_NS, "ns")
        except cocotb.triggers.SimTimeoutError:
            return


def write_cmd(word_addr, words):
    return bytes([1, len(words)]) + struct.pack(f">I{len(words)}I", word_addr, *words)


def read_cmd(word_addr, n):
    return bytes([2, n]) + struct.pack(">I", word_addr)


async def read(dut, word_addr, n):
    await send(dut, read_cmd(word_addr, n))
    data = await receive(dut, 4 * n, timeout_ns=200 * BIT_NS)
    return list(struct.unpack(f">{n}I", data))


# -- benches -------------------------------------------------------------------------------

@cocotb.test()
async def round_trips(dut):
    """Writes and reads of the stand-in's plain registers (word addresses 3 .. 15), single
    words and bursts; unmapped words answer the stand-in's filler or the bridge's."""
    await reset(dut)
    rng = random.Random(1)
    values = [rng.getrandbits(32) for _ in range(13)]
    await send(dut, write_cmd(3, values))
    assert await read(dut, 3, 13) == values
    for k in (3, 9, 15):
        await send(dut, write_cmd(k, [k * 0x01010101]))
        assert await read(dut, k, 1) == [k * 0x01010101]
    assert await read(dut, 200, 1) == [0xDEADBEEF]     # the stand-in's filler
    assert await read(dut, 1 << 8, 1) == [0xFFFFFFFF]  # past the 8-bit bus: the bridge


@cocotb.test()
async def framing_error_then_valid(dut):
    """A byte with a 0 stop bit and a break are dropped; the next command works."""
    await reset(dut)
    await send(dut, b"\x55", stop=0)
    dut.rx.value = 0
    await Timer(30 * BIT_NS, "ns")      # a break
    dut.rx.value = 1
    await quiet(dut, TIMEOUT + 50)
    await send(dut, write_cmd(4, [0x12345678]))
    assert await read(dut, 4, 1) == [0x12345678]


@cocotb.test()
async def fuzz_then_valid_read(dut):
    """Random bytes, at the right and at a wrong baud rate, then quiet longer than the idle
    timeout: the next write and read work every time."""
    await reset(dut)
    rng = random.Random(int(os.environ.get("UART_FUZZ_SEED", "7")))
    trials = int(os.environ.get("UART_FUZZ_TRIALS", "4"))
    for trial in range(trials):
        await send(dut, bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 24))))
        await send(dut, bytes(rng.getrandbits(8) for _ in range(6)), bit_ns=BIT_NS * 7 // 4)
        await quiet(dut, TIMEOUT + 50)
        await send(dut, write_cmd(5, [trial + 0x100]))
        assert await read(dut, 5, 1) == [trial + 0x100], f"trial {trial}"


@cocotb.test()
async def truncated_command_dropped(dut):
    """A write cut short is dropped after the idle timeout and never reaches the bus."""
    await reset(dut)
    await send(dut, write_cmd(6, [0xAAAA5555]))
    for cut in (1, 4, 6, 8):
        await send(dut, write_cmd(6, [0x11111111, 0x22222222])[:cut])
        await Timer((TIMEOUT + 20) * PERIOD_NS, "ns")
        assert await read(dut, 6, 1) == [0xAAAA5555], f"cut at {cut} bytes"


# -- pytest entry points -------------------------------------------------------------------

def _soc_design():
    return toolchain.prepare(
        lambda: SoC(divisor=DIVISOR, timeout=TIMEOUT, target=RegisterFile(16)),
        f"SoC(divisor={DIVISOR}, timeout={TIMEOUT}, RegisterFile(16))",
        name="uart-link", modules=["hw.soc"], top=WRAPPER % "core")


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_uart_link(sim, sim_all):
    if not toolchain.available(sim):
        pytest.skip(f"{sim} is not installed")
    env = {"UART_FUZZ_TRIALS": 12 if sim_all else (4 if sim == "verilator" else 2)}
    results = toolchain.run(_soc_design(), sim, "sim.test_uart_link", env=env)
    assert results.failed == 0 and results.passed == 4, results.tests

