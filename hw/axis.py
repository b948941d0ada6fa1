"""AXI-Stream bridge of the input queue: images in from a host-to-card stream, result records out
on a card-to-host stream (XDMA's H2C and C2H channels on the PCIe boards).

The bridge is a register-bus initiator (``hw.bus``) that does what a host does over MMIO
(``docs/memory-map.md``, "Input queue" and "AXI-Stream frames"): it polls ``STATUS``, writes
each H2C frame's words to ``PIXEL_STREAM`` and the frame's end as ``CONTROL.START``, and reads
each finished inference's results into one C2H frame before it writes ``CONTROL.POP``. It
needs no port of the accelerator but the bus, which it shares with the register BAR
(``hw.busarbiter``).
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from core import memmap
from core.config import Config

from . import bus

__all__ = ["AXISBridge", "beat_layout", "record_words"]


def beat_layout(data_width: int) -> data.StructLayout:
    """One AXI-Stream beat: ``data`` (``data_width`` bits, 32-bit word ``k`` in bits
    ``32k .. 32k+31``), ``keep`` (one bit per byte) and ``last`` (the frame's final beat)."""
    return data.StructLayout({"data": data_width, "keep": data_width // 8, "last": 1})


def record_words(config: Config, outputs: int) -> int:
    """Words of one C2H result record for a network of ``outputs`` output neurons."""
    arrays = 4 if config.spike_count else 3
    return 4 + arrays * outputs


class AXISBridge(wiring.Component):
    """H2C images to the input queue, finished results to C2H.

    H2C frame (one per image): the image's compact words (``sw.compiler.compact_words``), in
    order, 32 bits each, little-endian; a word is taken when its lowest byte's ``keep`` bit
    is set (XDMA sets ``keep`` on the last beat of a transfer that is not a whole number of
    beats). The beat with ``last`` ends the image and queues it (``CONTROL.START``). A frame is
    taken only while no image is queued (``STATUS.QUEUED`` low), so that no write waits on
    the bus and no START is rejected; ``h2c.ready`` is low meanwhile.

    C2H frame (one per finished inference, :func:`record_words` words): ``STATUS`` (as read
    before the record; ``REJECTED`` tells the host that a write was dropped), ``N_OUT`` of the
    last layer (``n``), ``CYCLES``, ``CLASS``, then ``n`` words of each result array in memory
    order (first spike times, their potentials, final membranes, and with
    ``Config.spike_count`` the spike counts), the words as the result window reads them. The
    last beat has ``last`` and ``keep`` set on its valid bytes only. The bus waits while
    ``c2h.ready`` is low, and the slot is popped after the last beat is taken.

    The bridge serves one frame at a time, results first: a host must read C2H while it writes
    H2C (two threads, as with XDMA's character devices), or the bridge waits for it.

    Parameters
    ----------
    config : core.config.Config
        The accelerator's configuration; it must have the input queue (``stream=True``).
    data_width : int
        AXI-Stream data width in bits: a multiple of 32 from 32 to 1024 (128 for XDMA on a
        Gen2 x4 link).

    Ports
    -----
    h2c : stream.Signature(beat_layout(data_width)), in
    c2h : stream.Signature(beat_layout(data_width)), out
    bus : hw.bus.Signature(config.addr_width), out (initiator)

    Throughput: a compact word takes one bus transfer (two cycles with the accelerator's
    register file, which also waits a cycle after each ``PIXEL_STREAM`` write); a record
    takes ``record_words + 2`` reads and one write. With 71 compact words per MNIST image and
    10 outputs that is a few hundred cycles per image, far below an inference.
    """

    def __init__(self, config: Config, data_width: int = 128):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        if not config.stream:
            raise ValueError("the AXI-Stream bridge feeds the input queue, which this "
                             "configuration lacks; build with Config(stream=True) "
                             "(--set stream=true)")
        if (not isinstance(data_width, int) or isinstance(data_width, bool)
                or not 32 <= data_width <= 1024 or data_width % 32):
            raise ValueError(f"data_width must be a multiple of 32 in 32 .. 1024, not "
                             f"{data_width!r}")
        self.config = config
        self.data_width = data_width
        layout = beat_layout(data_width)
        super().__init__({"h2c": In(stream.Signature(layout)),
                          "c2h": Out(stream.Signature(layout)),
                          "bus": Out(bus.Signature(config.addr_width))})

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        R = cfg.region_bits
        words = self.data_width // 32
        arrays = 4 if cfg.spike_count else 3
        b, h2c, c2h = self.bus, self.h2c, self.c2h

        status = Signal(32)
        layers = Signal(5)
        n = Signal(16)                      # output neurons of the network (N_OUT, last layer)
        beat = Signal(beat_layout(self.data_width))
        w = Signal(range(words))            # the word of the H2C beat, the C2H beat being filled
        pack = Signal(self.data_width)
        run = Signal(range(3 + arrays))     # record: 0 STATUS, 1 N_OUT, 2 CYCLES+CLASS, 3.. arrays
        j = Signal(16)
        last_beat = Signal()

        # -- the record's word addresses --------------------------------------------------
        run_len = Signal(16)
        addr = Signal(len(b.addr))
        m.d.comb += run_len.eq(Mux(run < 2, 1, Mux(run == 2, 2, n)))
        with m.Switch(run):
            with m.Case(0):
                m.d.comb += addr.eq(memmap.REG_STATUS)
            with m.Case(1):
                m.d.comb += addr.eq(memmap.REG_LAYER_BASE + memmap.LAYER_N_OUT
                                    + (layers - 1) * memmap.LAYER_STRIDE)
            with m.Case(2):
                m.d.comb += addr.eq(memmap.REG_CYCLES + j)
            with m.Default():
                m.d.comb += addr.eq(memmap.result_base(R) + ((run - 3) << (R - 2)) + j)
        run_end = j == run_len - 1
        record_end = run_end & (run == 2 + arrays)

        keep_mask = Signal(self.data_width // 8)
        m.d.comb += keep_mask.eq(Cat(Const(0xF, 4) if k == 0 else (w >= k).replicate(4)
                                     for k in range(words)))
        m.d.comb += [c2h.p.data.eq(pack), c2h.p.keep.eq(keep_mask), c2h.p.last.eq(last_beat)]
        word_in = beat.data.word_select(w, 32)
        kept = beat.keep.word_select(w, 4)[0]

        with m.FSM():
            with m.State("POLL"):
                m.d.comb += [b.cyc.eq(1), b.addr.eq(memmap.REG_STATUS)]
                with m.If(b.ack):
                    m.d.sync += status.eq(b.r_data)
                    m.next = "DECIDE"
            with m.State("DECIDE"):
                with m.If(status & memmap.STATUS_READY):
                    m.next = "LAYERS"
                with m.Elif(h2c.valid & ~(status & memmap.STATUS_QUEUED).any()):
                    m.next = "TAKE"
                with m.Else():
                    m.next = "POLL"

            # -- H2C: one image --------------------------------------------------------------
            with m.State("TAKE"):
                m.d.comb += h2c.ready.eq(1)
                with m.If(h2c.valid):
                    m.d.sync += [beat.eq(h2c.p), w.eq(0)]
                    m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += [b.cyc.eq(kept), b.we.eq(1), b.addr.eq(memmap.REG_PIXEL_STREAM),
                             b.w_data.eq(word_in)]
                with m.If(b.ack | ~kept):
                    m.d.sync += w.eq(w + 1)
                    with m.If(w == words - 1):
                        with m.If(beat.last):
                            m.next = "START"
                        with m.Else():
                            m.next = "TAKE"
            with m.State("START"):
                m.d.comb += [b.cyc.eq(1), b.we.eq(1), b.addr.eq(memmap.REG_CONTROL),
                             b.w_data.eq(memmap.CONTROL_START)]
                with m.If(b.ack):
                    m.next = "POLL"

            # -- C2H: one result record ------------------------------------------------------
            with m.State("LAYERS"):
                m.d.comb += [b.cyc.eq(1), b.addr.eq(memmap.REG_NET_LAYERS)]
                with m.If(b.ack):
                    m.d.sync += [layers.eq(b.r_data), run.eq(0), j.eq(0), w.eq(0), pack.eq(0)]
                    m.next = "RECORD"
            with m.State("RECORD"):
                m.d.comb += [b.cyc.eq(1), b.addr.eq(addr)]
                with m.If(b.ack):
                    m.d.sync += pack.word_select(w, 32).eq(b.r_data)
                    with m.If(run == 1):
                        m.d.sync += n.eq(b.r_data)
                    with m.If(run_end):
                        m.d.sync += [run.eq(run + 1), j.eq(0)]
                    with m.Else():
                        m.d.sync += j.eq(j + 1)
                    m.d.sync += last_beat.eq(record_end)
                    with m.If((w == words - 1) | record_end):
                        m.next = "SEND"
                    with m.Else():
                        m.d.sync += w.eq(w + 1)
            with m.State("SEND"):
                m.d.comb += c2h.valid.eq(1)
                with m.If(c2h.ready):
                    m.d.sync += [w.eq(0), pack.eq(0)]
                    with m.If(last_beat):
                        m.next = "POP"
                    with m.Else():
                        m.next = "RECORD"
            with m.State("POP"):
                m.d.comb += [b.cyc.eq(1), b.we.eq(1), b.addr.eq(memmap.REG_CONTROL),
                             b.w_data.eq(memmap.CONTROL_POP)]
                with m.If(b.ack):
                    m.next = "POLL"
        return m
