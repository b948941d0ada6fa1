"""A bring-up design: a UART echo, to check a board's clock, reset and serial link alone.

``python -m sw.flash --board ulx3s --design echo`` builds it in place of the accelerator; every
byte sent to the board's serial port comes back unchanged, which proves the pins, the baud
rate (and so the PLL frequency) and the reset before the accelerator is involved.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.uart import UARTRx, UARTTx, divisor_for

__all__ = ["UARTEcho"]


class UARTEcho(wiring.Component):
    """UART loopback through the project's own receiver and transmitter.

    Parameters
    ----------
    clk_freq : int
        Frequency of the ``sync`` domain in Hz.
    baudrate : int
        Serial rate; ``clk_freq / baudrate`` must be within 2 % of an integer.

    Ports
    -----
    rx : 1, in
        Serial input pin (idle high).
    tx : 1, out
        Serial output pin (idle high).

    Latency: a byte starts going out one bit time after its stop bit was sampled. Throughput:
    line rate (the transmitter and receiver run at the same divisor).
    """

    def __init__(self, *, clk_freq: int, baudrate: int = 115200):
        self.divisor = divisor_for(clk_freq, baudrate)
        self.clk_freq = clk_freq
        self.baudrate = baudrate
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(divisor=self.divisor)
        m.submodules.tx = tx = UARTTx(divisor=self.divisor)
        wiring.connect(m, rx.data, tx.data)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        return m
