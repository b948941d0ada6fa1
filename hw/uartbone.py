"""A byte-stream-to-bus bridge that speaks LiteX's UARTBone protocol.

Wire protocol (LiteX ``litex/soc/cores/uart.py``, ``Stream2Wishbone``; host side
``litex/tools/remote/comm_uart.py``), all multi-byte fields big-endian::

    host -> device   cmd (1 byte) | length (1 byte) | word address (4 bytes) | data (4 bytes x length, writes only)
    device -> host   data (4 bytes x length, reads only)

============  =====  ===========================================================
cmd           value  meaning
============  =====  ===========================================================
WRITE_INCR    0x01   write ``length`` words to address, address + 1, ...
READ_INCR     0x02   read ``length`` words from address, address + 1, ...
WRITE_FIXED   0x03   write ``length`` words, all to the same address
READ_FIXED    0x04   read ``length`` words, all from the same address
============  =====  ===========================================================

Writes are not answered. The address is a 32-bit *word* address (a byte address divided by
4). So stock LiteX host tools (``litex_server --uart``, ``RemoteClient``) drive this bridge.

Robustness (the line may carry garbage: a host opened at the wrong baud rate, a board reset
mid-command, noise):

* A byte that is not a command while the bridge waits for one is dropped at once, so a burst of
  garbage resynchronizes on the first real command byte after it.
* A command of length 0 does nothing.
* **Idle timeout**: while a command is partly received, the bridge counts the cycles since the
  last byte; after ``timeout`` cycles without one it drops the partial command (``dropped``
  pulses) and waits for a new command. So a truncated command never wedges the bridge: the
  host waits longer than the timeout after an error and starts afresh. The timer does not run
  while the bridge itself is busy (a bus transfer, sending an answer).
* A word address beyond the bus's ``addr_width`` bits is not sent to the bus (it would alias a
  real register): such a write is dropped and such a read answers ``0xFFFFFFFF``.
"""

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import bus

__all__ = ["CMD_WRITE_INCR", "CMD_READ_INCR", "CMD_WRITE_FIXED", "CMD_READ_FIXED",
           "UNMAPPED_READ", "UARTBone"]

CMD_WRITE_INCR = 0x01
CMD_READ_INCR = 0x02
CMD_WRITE_FIXED = 0x03
CMD_READ_FIXED = 0x04
#: What a read of a word address beyond the bus's address width returns.
UNMAPPED_READ = 0xFFFFFFFF


class UARTBone(wiring.Component):
    """UARTBone protocol engine: bytes in, bus transfers out, read data back as bytes.

    Parameters
    ----------
    addr_width : int
        Word-address width of the bus (1 .. 30).
    timeout : int
        Idle timeout in clock cycles (at least 1): a partial command is dropped after this
        many cycles without a byte. Choose several byte times, and on a board several
        milliseconds, so that gaps of a USB-serial adapter do not trip it (LiteX uses 100 ms).

    Ports
    -----
    rx : stream of unsigned(8), in
        Bytes from the host (from :class:`hw.uart.UARTRx`, through a FIFO).
    tx : stream of unsigned(8), out
        Bytes to the host (to :class:`hw.uart.UARTTx`).
    bus : hw.bus.Signature(addr_width), out
        Register-bus initiator.
    dropped : 1, out
        Pulses for one cycle when the idle timeout drops a partial command.

    Latency: a bus transfer starts the cycle after the last byte of its address (read) or data
    word (write); the first answer byte is offered the cycle after the read's ``ack``.
    Throughput: one byte per cycle in and out, when the bus answers in one cycle; the UART is
    the bottleneck by far.
    """

    def __init__(self, *, addr_width: int = 16, timeout: int):
        if isinstance(addr_width, bool) or not isinstance(addr_width, int) \
                or not 1 <= addr_width <= 30:
            raise TypeError(f"Address width must be an integer in 1 .. 30, not {addr_width!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"Idle timeout must be a positive integer number of clock cycles, "
                             f"not {timeout!r}")
        self._addr_width = addr_width
        self._timeout = timeout
        super().__init__({
            "rx": In(stream.Signature(unsigned(8))),
            "tx": Out(stream.Signature(unsigned(8))),
            "bus": Out(bus.Signature(addr_width)),
            "dropped": Out(1),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def timeout(self) -> int:
        return self._timeout

    def elaborate(self, platform):
        m = Module()

        write = Signal()             # the command is a write
        incr = Signal()              # the address increments after each word
        length = Signal(8)
        count = Signal(8)            # words done
        address = Signal(32)
        data = Signal(32)
        nbytes = Signal(2)           # bytes of the current address / data word done
        idle = Signal(range(self._timeout + 1))
        mapped = Signal()
        m.d.comb += mapped.eq(address[self._addr_width:] == 0)

        m.d.comb += [
            self.bus.addr.eq(address[:self._addr_width]),
            self.bus.w_data.eq(data),
            self.tx.payload.eq(data[24:]),
        ]
        got = Signal()               # a byte is taken this cycle
        m.d.comb += got.eq(self.rx.valid & self.rx.ready)

        # The idle timer runs only while the bridge waits for the rest of a command, not while
        # it is busy itself (a slow bus transfer, an answer held up by the transmitter).
        waiting = Signal()           # set in LENGTH, ADDRESS and DATA
        timed_out = Signal()
        m.d.comb += timed_out.eq(waiting & ~got & (idle == self._timeout - 1))
        with m.If(~waiting | got | timed_out):
            m.d.sync += idle.eq(0)
        with m.Else():
            m.d.sync += idle.eq(idle + 1)
        m.d.comb += self.dropped.eq(timed_out)

        def next_word():
            # Called when a word's transfer is over: move on or finish the command.
            m.d.sync += [count.eq(count + 1), address.eq(address + incr)]
            with m.If(count + 1 == length):
                m.next = "CMD"
            with m.Elif(write):
                m.next = "DATA"
            with m.Else():
                m.next = "READ"

        with m.FSM():
            with m.State("CMD"):
                m.d.comb += self.rx.ready.eq(1)
                m.d.sync += [count.eq(0), nbytes.eq(0)]
                with m.If(self.rx.valid):
                    b = self.rx.payload
                    m.d.sync += [
                        write.eq((b == CMD_WRITE_INCR) | (b == CMD_WRITE_FIXED)),
                        incr.eq((b == CMD_WRITE_INCR) | (b == CMD_READ_INCR)),
                    ]
                    with m.If((b >= CMD_WRITE_INCR) & (b <= CMD_READ_FIXED)):
                        m.next = "LENGTH"

            with m.State("LENGTH"):
                m.d.comb += [self.rx.ready.eq(1), waiting.eq(1)]
                with m.If(timed_out):
                    m.next = "CMD"
                with m.If(self.rx.valid):
                    m.d.sync += length.eq(self.rx.payload)
                    m.next = "ADDRESS"

            with m.State("ADDRESS"):
                m.d.comb += [self.rx.ready.eq(1), waiting.eq(1)]
                with m.If(timed_out):
                    m.next = "CMD"
                with m.If(self.rx.valid):
                    m.d.sync += [address.eq(Cat(self.rx.payload, address[:24])),
                                 nbytes.eq(nbytes + 1)]
                    with m.If(nbytes == 3):
                        with m.If(length == 0):
                            m.next = "CMD"
                        with m.Elif(write):
                            m.next = "DATA"
                        with m.Else():
                            m.next = "READ"

            with m.State("DATA"):
                m.d.comb += [self.rx.ready.eq(1), waiting.eq(1)]
                with m.If(timed_out):
                    m.next = "CMD"
                with m.If(self.rx.valid):
                    m.d.sync += [data.eq(Cat(self.rx.payload, data[:24])),
                                 nbytes.eq(nbytes + 1)]
                    with m.If(nbytes == 3):
                        m.next = "WRITE"

            with m.State("WRITE"):
                with m.If(mapped):
                    m.d.comb += [self.bus.cyc.eq(1), self.bus.we.eq(1)]
                    with m.If(self.bus.ack):
                        next_word()
                with m.Else():
                    next_word()

            with m.State("READ"):
                with m.If(mapped):
                    m.d.comb += self.bus.cyc.eq(1)
                    with m.If(self.bus.ack):
                        m.d.sync += data.eq(self.bus.r_data)
                        m.next = "SEND"
                with m.Else():
                    m.d.sync += data.eq(Const(UNMAPPED_READ, 32))
                    m.next = "SEND"

            with m.State("SEND"):
                m.d.comb += self.tx.valid.eq(1)
                with m.If(self.tx.ready):
                    m.d.sync += [data.eq(data << 8), nbytes.eq(nbytes + 1)]
                    with m.If(nbytes == 3):
                        next_word()

        return m
