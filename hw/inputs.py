"""The input and result queues of ``Config.stream``: a pixel memory of two halves, the compact
input's decoder and two result slots (``docs/memory-map.md``, "Input queue")."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, WritePort
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

from .readout import result_entry

__all__ = ["InputQueue"]


class InputQueue(wiring.Component):
    """Overlap of the host link with the computation.

    The pixel memory has two halves. The host writes the *input* half (the pixel window, or
    compact entries through ``PIXEL_STREAM``) while an inference reads the other; ``START``
    queues the input half (``queued``), and as soon as the accelerator is idle and a result
    slot is free the halves swap and ``go`` starts the inference. The input half then starts
    empty: its row flags are cleared, so that rows the host does not write are never visited
    by the direct and hybrid encoders (the rate encoder visits every row: the host writes its
    images whole).

    Compact entries (two per bus word, bits 15:0 first) are ``(skip << 8) | value``: the pointer
    moves ``skip`` pixels on, the pixel there is ``value``, and the pointer moves one more. The
    decoder gathers an encoder row (``S`` pixels) in a register and writes it whole, zeros
    where no entry fell, when an entry lands in a later row or the image is queued: entries
    must come in ascending pixel order. The register file holds every write for one cycle after
    a ``PIXEL_STREAM`` write, while the word's second entry is decoded.

    Each finished inference's output-neuron results go to a result slot as the read-out
    compares them (``entry``), its class and cycle count beside them; the bus reads the oldest
    unread slot until ``pop`` frees it.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    pixel_write : WritePort.Signature(rows bits, ArrayLayout(8, S), granularity 4), in
        Pixel-window writes to the input half (the register file's, enabled while not held).
    stream_en : 1, in; stream_data : 32, in
        A ``PIXEL_STREAM`` write (the register file's registered write).
    queue : 1, in
        ``CONTROL.START``: queue the input half (rejected when an image is queued already).
    pop : 1, in
        ``CONTROL.POP``: free the oldest unread result slot.
    clear : 1, in
        ``CONTROL.CLEAR``: forget the queued image, the image being written and every unread
        result (a host starting afresh after another one stopped half-way).
    busy, done : 1, in
        The sequencer's flags: an inference runs; the last one finished (its rise is the end).
    cls : 16, in; cycles : 32, in
        The finished inference's class and cycle count (valid as ``done`` rises).
    entry : result_entry(config), in
        The read-out's output neurons.
    go : 1, out
        Start the inference of the queued image (one cycle, after the swap).
    hold : 1, out
        Input writes must wait: an image is queued and will start (the register file holds
        them on the bus).
    block : 1, out
        Input writes are refused: an image is queued and both result slots are unread.
    reject : 1, out
        A ``START`` arrived while an image was queued.
    queued, ready, full : 1, out
        ``STATUS.QUEUED``, ``STATUS.READY`` (a result is unread) and ``STATUS.FULL``.
    row_nonzero : pixel_rows, out
        The computed half's rows with a nonzero pixel (for the scan).
    read_addr : rows bits, in; read_en : 1, in; read_data : ArrayLayout(8, S), out
        The pixel memory's read port: the computed half while ``busy``, the input half while
        idle (the bus), data one cycle after the address.
    result_index : log2(max_neurons), in
        The output neuron the bus reads (its address's low bits).
    time, potential, final, count : out
        The oldest unread slot's results for ``result_index``, two cycles after it (the
        memory's read, then a register), as ``hw.readout.ReadoutScan`` gives them.
    slot_cls : 16, out; slot_cycles : 32, out
        The oldest unread slot's class and cycles (``CLASS``, ``CYCLES``).
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        S, M = config.pixels_per_cycle, config.membrane_bits
        row_bits = _clog2(config.pixel_rows)
        members = {
            "pixel_write": Out(WritePort.Signature(addr_width=row_bits,
                                                   shape=data.ArrayLayout(8, S), granularity=4)),
            "stream_en": In(1), "stream_data": In(32), "queue": In(1), "pop": In(1),
            "clear": In(1),
            "busy": In(1), "done": In(1), "cls": In(16), "cycles": In(32),
            "entry": In(result_entry(config)),
            "go": Out(1), "hold": Out(1), "block": Out(1), "reject": Out(1),
            "queued": Out(1), "ready": Out(1), "full": Out(1),
            "row_nonzero": Out(config.pixel_rows),
            "read_addr": In(row_bits), "read_en": In(1),
            "read_data": Out(data.ArrayLayout(8, S)),
            "result_index": In(self.index_bits(config)),
            "time": Out(8), "potential": Out(signed(M)), "final": Out(signed(M)),
            "slot_cls": Out(16), "slot_cycles": Out(32),
        }
        if config.spike_count:
            members["count"] = Out(config.count_bits)
        super().__init__(members)

    @staticmethod
    def index_bits(config):
        """Address bits of one slot of the result memory (a neuron index)."""
        return max(1, _clog2(config.max_neurons))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        S, M = cfg.pixels_per_cycle, cfg.membrane_bits
        rows = cfg.pixel_rows
        sub = S // 4                          # 32-bit words per row
        sb = _clog2(S)

        # -- the two halves and their row flags ------------------------------------------------
        # Each half a power of two deep, so that the half is the address's top bit.
        m.submodules.pixels = pmem = Memory(shape=data.ArrayLayout(8, S),
                                            depth=2 << _clog2(rows),
                                            init=[], attrs={"ram_style": "distributed"})
        rd = pmem.read_port()
        wr = pmem.write_port(granularity=4)
        half = Signal()               # the half an inference reads; the host writes ~half
        # One flag per 32-bit word of each half, set when the word is written nonzero.
        flags = [Signal(rows * sub, name=f"flags{h}") for h in range(2)]
        computed = Signal(rows * sub)
        m.d.comb += computed.eq(Mux(half, flags[1], flags[0]))
        m.d.comb += [rd.addr.eq(Cat(self.read_addr, Mux(self.busy, half, ~half))),
                     rd.en.eq(self.read_en | ~self.busy), self.read_data.eq(rd.data),
                     self.row_nonzero.eq(Cat(computed[r * sub:(r + 1) * sub].any()
                                             for r in range(rows)))]

        # -- the compact decoder: a row gathered in a register, written whole ----------------
        ptr = Signal(17)              # the next pixel
        a_row = Signal(17 - sb)       # the row gathered (may lie past the memory: dropped)
        a_have = Signal()
        a_bytes = Signal(data.ArrayLayout(8, S))
        second = Signal()             # the word's second entry is decoded next
        second_entry = Signal(16)
        entry = Signal(16)
        m.d.comb += entry.eq(Mux(second, second_entry, self.stream_data[:16]))
        with m.If(self.stream_en):
            m.d.sync += [second.eq(1), second_entry.eq(self.stream_data[16:])]
        with m.Elif(second):
            m.d.sync += second.eq(0)
        decode = self.stream_en | second
        pos = Signal(17)
        m.d.comb += pos.eq(ptr + entry[8:])
        row = pos[sb:]
        flush = Signal()              # write the gathered row this cycle
        with m.If(decode):
            m.d.sync += [ptr.eq(pos + 1), a_row.eq(row), a_have.eq(1)]
            with m.If(a_have & (row != a_row)):
                m.d.comb += flush.eq(1)
                m.d.sync += a_bytes.eq(0)
                m.d.sync += a_bytes[pos[:sb]].eq(entry[:8])
            with m.Else():
                m.d.sync += a_bytes[pos[:sb]].eq(entry[:8])
        with m.If(self.queue):
            # The image is complete: its last row goes to the memory, the pointer back to 0.
            m.d.comb += flush.eq(a_have)
            m.d.sync += [ptr.eq(0), a_have.eq(0), a_bytes.eq(0)]

        pw = self.pixel_write
        row_fits = a_row < rows
        with m.If(flush):
            m.d.comb += [wr.addr.eq(Cat(a_row[:_clog2(rows)], ~half)), wr.data.eq(a_bytes),
                         wr.en.eq(Mux(row_fits, (1 << sub) - 1, 0))]
        with m.Else():
            m.d.comb += [wr.addr.eq(Cat(pw.addr, ~half)), wr.data.eq(pw.data),
                         wr.en.eq(pw.en)]
        # The input half's flags (the swap clears the other's, below).
        words = a_bytes.as_value()
        for h in range(2):
            with m.If(half != h):
                for r in range(rows):
                    for w in range(sub):
                        f = r * sub + w
                        with m.If(flush & (a_row == r)):
                            m.d.sync += flags[h][f].eq(words[32 * w:32 * (w + 1)] != 0)
                        with m.Elif(pw.en[w] & (pw.addr == r)):
                            m.d.sync += flags[h][f].eq(
                                pw.data.as_value()[32 * w:32 * (w + 1)] != 0)

        # -- the queue: swap the halves and start ---------------------------------------------
        queued = Signal()
        unread = Signal(range(3))     # result slots holding an unread result
        rslot = Signal()              # the oldest unread slot
        wslot = Signal()              # the slot of the running inference
        done_d = Signal()
        finished = Signal()
        m.d.sync += done_d.eq(self.done)
        m.d.comb += finished.eq(self.done & ~done_d)
        swap = Signal()
        # Not in the cycle an inference finishes: its result is counted in `unread` first, so
        # that the next one's slot is the free one.
        m.d.comb += swap.eq(queued & ~self.busy & ~self.go & ~finished & (unread != 2))
        m.d.sync += self.go.eq(swap)
        with m.If(self.queue):
            with m.If(queued):
                m.d.comb += self.reject.eq(1)
            with m.Else():
                m.d.sync += queued.eq(1)
        with m.If(swap):
            m.d.sync += [queued.eq(0), half.eq(~half), wslot.eq(rslot ^ (unread == 1))]
            for h in range(2):
                with m.If(half == h):
                    m.d.sync += flags[h].eq(0)
        m.d.comb += [self.queued.eq(queued), self.ready.eq(unread != 0),
                     self.full.eq(unread == 2),
                     self.block.eq(queued & ~self.busy & (unread == 2)),
                     self.hold.eq(queued & ~(~self.busy & (unread == 2)))]

        # -- the result slots --------------------------------------------------------------
        ib = self.index_bits(cfg)
        fields = {"time": 8, "potential": signed(M), "final": signed(M)}
        if cfg.spike_count:
            fields["count"] = cfg.count_bits
        layout = data.StructLayout(fields)
        m.submodules.results = qmem = Memory(shape=layout, depth=2 << ib, init=[])
        q_rd = qmem.read_port()
        q_wr = qmem.write_port()
        e = self.entry
        m.d.comb += [q_wr.addr.eq(Cat(e.index[:ib], wslot)), q_wr.en.eq(e.valid),
                     q_rd.addr.eq(Cat(self.result_index, rslot))]
        m.d.comb += [getattr(q_wr.data, name).eq(getattr(e, name)) for name in fields]
        q_word = Signal(layout, reset_less=True)
        m.d.sync += q_word.eq(q_rd.data)
        m.d.comb += [getattr(self, name).eq(getattr(q_word, name)) for name in fields]
        slot_cls = Array(Signal(16, name=f"slot_cls{k}") for k in range(2))
        slot_cycles = Array(Signal(32, name=f"slot_cycles{k}") for k in range(2))
        m.d.comb += [self.slot_cls.eq(slot_cls[rslot]), self.slot_cycles.eq(slot_cycles[rslot])]
        pop = self.pop & (unread != 0)
        with m.If(finished):
            m.d.sync += [slot_cls[wslot].eq(self.cls), slot_cycles[wslot].eq(self.cycles)]
        with m.If(pop):
            m.d.sync += rslot.eq(~rslot)
        m.d.sync += unread.eq(unread + finished - pop)
        with m.If(self.clear):
            m.d.sync += [queued.eq(0), unread.eq(0), ptr.eq(0), a_have.eq(0), a_bytes.eq(0)]
        return m
