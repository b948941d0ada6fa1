"""UART receiver and transmitter (hw/uart.py) in the Amaranth simulator."""

import random
from fractions import Fraction

import pytest
from amaranth import Module
from amaranth.sim import Simulator

# Components built only to check their parameters are never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

from hw.uart import MIN_DIVISOR, UARTRx, UARTTx, check_divisor, divisor_for


class TestParameters:
    def test_divisor_checks(self):
        assert check_divisor(4) == 4
        assert check_divisor(8.5) == Fraction(17, 2)
        assert check_divisor(Fraction(25, 3)) == Fraction(2133, 256)   # 1/256 steps
        with pytest.raises(TypeError, match=r"UART divisor must be a number of clock "
                                            r"cycles per bit, not '4'"):
            UARTRx(divisor="4")
        with pytest.raises(ValueError, match=r"UART divisor is nan; it must be at least 4"):
            UARTRx(divisor=float("nan"))
        with pytest.raises(ValueError, match=r"UART divisor is 3; it must be at least 4 clock "
                                             r"cycles per bit"):
            UARTRx(divisor=3)
        with pytest.raises(TypeError, match="not True"):
            UARTTx(divisor=True)
        with pytest.raises(ValueError, match=r"UART divisor is 0; it must be at least 1"):
            UARTTx(divisor=0)
        assert UARTTx(divisor=1).divisor == 1
        assert UARTRx(divisor=MIN_DIVISOR).divisor == MIN_DIVISOR

    def test_divisor_for(self):
        assert divisor_for(100e6, 115200) == 868
        assert divisor_for(100e6, 1_000_000) == 100
        assert divisor_for(100_000_000, 12_000_000) == Fraction(2133, 256)  # 8.33 cycles
        assert divisor_for(100e6, 3_000_000) == 33     # 1 % off: an integer will do
        with pytest.raises(ValueError, match=r"too fast for a 10 MHz clock.*at most 2500000"):
            divisor_for(10e6, 4_000_000)
        with pytest.raises(ValueError, match="baud rate must be a positive number"):
            divisor_for(100e6, 0)
        with pytest.raises(ValueError, match="clock frequency must be a positive"):
            divisor_for("fast", 9600)

    def test_signatures(self):
        rx = UARTRx(divisor=5)
        assert rx.rx.init == 1
        assert rx.data.payload.shape().width == 8
        assert UARTTx(divisor=5).tx.init == 1


def run_rx(divisor, levels, *, ready=lambda cycle: True, extra=50):
    """Drive ``levels`` (one per cycle) into a receiver; return (bytes, frame errors, overflows)."""
    dut = UARTRx(divisor=divisor)
    got, frame_errors, overflows = [], [], []

    async def bench(ctx):
        for cycle, level in enumerate(list(levels) + [1] * extra):
            ctx.set(dut.rx, level)
            ctx.set(dut.data.ready, ready(cycle))
            await ctx.delay(0)
            if ctx.get(dut.data.valid) and ctx.get(dut.data.ready):
                got.append(ctx.get(dut.data.payload))
            if ctx.get(dut.frame_error):
                frame_errors.append(cycle)
            if ctx.get(dut.overflow):
                overflows.append(cycle)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, frame_errors, overflows


@pytest.mark.parametrize("divisor", [4, 5, 7, 16, Fraction(25, 3), 4.5])
def test_rx_back_to_back(line_for, divisor):
    rng = random.Random(str(divisor))
    data = [0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(40)]
    got, fe, ov = run_rx(divisor, line_for(data, divisor))
    assert got == data and not fe and not ov


@pytest.mark.parametrize("skew", [0.97, 1.03])
def test_rx_tolerates_clock_mismatch(line_for, skew):
    data = list(range(0, 256, 7))
    divisor = 16
    got, fe, ov = run_rx(divisor, line_for(data, divisor, gap=1, period=divisor * skew))
    assert got == data and not fe


def test_rx_framing_error_and_recovery(line_for):
    divisor = 8
    levels = (line_for([0x12], divisor) + line_for([0x34], divisor, stop=0)
              + [0] * (divisor * 25)           # a break: the line held low
              + line_for([0x56, 0x78], divisor))
    got, fe, ov = run_rx(divisor, levels)
    assert got == [0x12, 0x56, 0x78]
    assert len(fe) == 1                      # the break is one error, not a stream of zeros
    assert not ov


def test_rx_glitch_rejected(line_for):
    divisor = 8
    # one-cycle low pulses on an idle line, and a one-cycle flip in the middle of a data bit
    levels = [1] * 20 + [0] + [1] * 20 + [0] + [1] * 30
    frame = line_for([0x00], divisor)
    start = frame.index(0)
    frame[start + 3 * divisor + divisor // 2] = 1   # flip one sample of bit 2
    got, fe, ov = run_rx(divisor, levels + frame)
    assert got == [0x00] and not fe


def test_rx_overflow_drops_new_byte(line_for):
    divisor = 6
    data = [1, 2, 3, 4]
    # the consumer does not take anything until long after all four bytes
    levels = line_for(data, divisor)
    got, fe, ov = run_rx(divisor, levels, ready=lambda c: c > len(levels) + 20, extra=100)
    assert got == [1]
    assert len(ov) == 3


def run_tx(divisor, data, *, valid=lambda cycle: True, cycles=None):
    """Offer ``data`` to a transmitter; return the per-cycle line levels and acceptance cycles."""
    dut = UARTTx(divisor=divisor)
    levels, accepted = [], []
    cycles = cycles or int(len(data) * 10 * divisor * 3 + 100)

    async def bench(ctx):
        queue = list(data)
        for cycle in range(cycles):
            ctx.set(dut.data.valid, bool(queue) and valid(cycle))
            ctx.set(dut.data.payload, queue[0] if queue else 0)
            await ctx.delay(0)
            levels.append(ctx.get(dut.tx))
            if ctx.get(dut.data.valid) and ctx.get(dut.data.ready):
                accepted.append(cycle)
                queue.pop(0)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return levels, accepted


@pytest.mark.parametrize("divisor", [1, 4, 9, 16, Fraction(25, 3)])
def test_tx_back_to_back(decode_line, divisor):
    rng = random.Random(str(divisor))
    data = [rng.randrange(256) for _ in range(20)]
    levels, accepted = run_tx(divisor, data)
    assert decode_line(levels, divisor) == data
    # full throughput: one byte every 10 bit periods (a fractional period: on average, each
    # frame a whole number of cycles)
    gaps = [b - a for a, b in zip(accepted, accepted[1:])]
    assert all(abs(g - 10 * divisor) < 1 for g in gaps)
    assert abs(accepted[-1] - accepted[0] - 19 * 10 * divisor) < 20


def test_tx_with_gaps(decode_line):
    divisor = 5
    data = [0xA5, 0x00, 0xFF, 0x3C]
    levels, _ = run_tx(divisor, data, valid=lambda c: (c // 37) % 3 == 0)
    assert decode_line(levels, divisor) == data


@pytest.mark.parametrize("divisor", [4, 6, 13, Fraction(25, 3)])
def test_loopback(divisor):
    """Transmitter into receiver: every byte value, back to back."""
    tx, rx = UARTTx(divisor=divisor), UARTRx(divisor=divisor)
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    data = list(range(256))
    got = []

    async def producer(ctx):
        for byte in data:
            ctx.set(tx.data.valid, 1)
            ctx.set(tx.data.payload, byte)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)

    async def consumer(ctx):
        ctx.set(rx.data.ready, 1)
        while len(got) < len(data):
            payload, = await ctx.tick().sample(rx.data.payload).until(rx.data.valid)
            got.append(payload)
        assert not ctx.get(rx.overflow)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-6 * (len(data) + 2) * 10 * divisor + 1e-4)
    assert got == data


def test_12_mbaud_on_a_100_mhz_clock(line_for, decode_line):
    """The Arty's 12 Mbaud build option: the divisor that ``divisor_for`` rounds to 1/256 cycle
    (8.332 against the host's exact 8 1/3 cycles per bit, 156 ppm) takes a host sending at
    exactly 12 Mbaud, back to back and 2 % fast or slow, and its transmitter's frames decode at
    exactly 12 Mbaud. A 96 MHz clock gives the integer divisor 8 instead."""
    divisor = divisor_for(100_000_000, 12_000_000)
    assert divisor == Fraction(2133, 256) and divisor_for(96_000_000, 12_000_000) == 8
    host = Fraction(100_000_000, 12_000_000)
    data = [0x00, 0xFF, 0x55, 0xAA] + [random.Random(12).randrange(256) for _ in range(60)]
    for period in (host, host * Fraction(98, 100), host * Fraction(102, 100)):
        got, fe, ov = run_rx(divisor, line_for(data, divisor, period=float(period)))
        assert got == data and not fe and not ov, float(period)
    levels, _ = run_tx(divisor, data)
    assert decode_line(levels, float(host)) == data
