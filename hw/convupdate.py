"""The conv update's walk over an output map: chunk by chunk, with each chunk's currents from
the current memory (``docs/architecture.md``, "Convolution")."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

__all__ = ["ConvWalk"]


class ConvWalk(wiring.Component):
    """Walks the positions of a band of a conv layer's output map for one block of ``PC``
    channels and feeds the neuron update one chunk of ``U`` neurons per cycle.

    The neurons of position ``q`` (``(oy << out_w_bits) | ox``) in the block are the hardware
    indices ``(q << out_c_bits) | (block * PC + lane)``; chunk ``j`` of the position holds lanes
    ``j * U .. j * U + U - 1``, so its membrane word is ``((q << out_c_bits) | block * PC | j *
    U) / U``. Each position's current word is read with its first chunk's membrane word and
    stays at the current memory's port for its other chunks. The current memory holds one
    band of rows (``docs/architecture.md``, "Bands of output rows"): band ``n``'s positions
    are its words ``q_band = ((oy - first row) << out_w_bits) | ox``, and ``q = (n <<
    log2(conv_positions)) | q_band`` (a band is ``conv_positions >> out_w_bits`` rows), so
    that the neuron's index needs no adder. The membrane memory stores the map without its
    padding columns (``core.config.membrane_index``): the chunk's word, from the band's first
    word (the caller's), is ``((oy - first row) * out_width + ox) * 2**out_c_bits / U + (block
    * PC + j * U) / U``: the compact position counts the positions walked, or comes from the
    picker (``pick_compact``), no multiplier on the read address's path. The membrane
    memory's read is registered (stage R: the word's address, ``base`` added), so that the
    walk's choice and the block RAM's address sit in different cycles; the current memory
    is read with the choice and its word registered in stage R. In the cycle after stage R
    the chunk is fed to the update (``hw.update``, ``feed_*``), with its currents and its
    real lanes (hardware index below ``n_out``).

    Parameters
    ----------
    config : core.config.Config
        With ``conv``.

    Ports
    -----
    band_rows : 16, in; out_width : 16, in; out_w_bits : 4, in; out_c_bits : 4, in
        The band's rows and the output map (``LAYER_CONV_OUT``, ``LAYER_CONV``); static while
        walking. The positions of the padding columns (``ox >= out_width``) are not visited:
        their neurons have no current, no bias and never spike.
    band : 16, in
        The band's index (0 for a map that fits the current memory).
    block : 16, in
        The block of channels.
    n_out : 16, in
        Neurons of the layer in hardware order.
    start : 1, in
        Walk the map (from the next cycle on).
    skip : 1, in
        With ``start``: walk only the positions that the picker offers (``hw.touched``, the
        positions the block's events touched in the band) instead of every position.
    pick_valid : 1, in; pick_position : conv_position_bits, in; pick_compact :
    conv_position_bits, in; pick_take : 1, out; pick_empty : 1, in
        The picker (``hw.touched``): a position is offered (and its compact one), taken with
        its last chunk's read; nothing is left.
    abort : 1, in
        Stop walking.
    running : 1, out
        Chunks are still to be read.
    base : 16, in
        The membrane memory's word of the band's first chunk (static while walking).
    read_address : 16, out; read_en : 1, out
        The membrane memory's read port (and the bias memory's), registers; the address is
        0 while not reading.
    position : conv_position_bits, out; position_read : 1, out
        The current memory's read (``hw.currents``, ``update_*``), with the choice.
    word : ArrayLayout(signed(acc_bits), conv_lanes), in
        The current memory's word.
    feed_valid, feed_chunk, feed_first, feed_mask, feed_current : out
        The chunk for the update (``hw.update``), a cycle after its read; ``feed_chunk``
        counts from ``base``.

    Latency: a chunk's membrane read a cycle after the walk chooses it (its current
    memory's read with the choice), its feed a cycle later.
    Throughput: one chunk per cycle; a band costs ``band_rows * out_width * min(PC,
    2**out_c_bits) / U`` cycles, or with ``skip`` that many per touched position after the
    picker's ``CONV_SKIP_START`` cycles (``core.schedule``).
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        if not config.conv:
            raise ValueError("the conv walk exists only with conv")
        self.config = config
        U, A = config.neuron_units, config.acc_bits
        chunk_bits = _clog2(config.chunks_per_layer)
        super().__init__({
            "band_rows": In(16), "out_width": In(16), "out_w_bits": In(4),
            "out_c_bits": In(4), "block": In(16), "band": In(16),
            "n_out": In(16), "start": In(1), "skip": In(1), "abort": In(1), "running": Out(1),
            "pick_valid": In(1), "pick_position": In(config.conv_position_bits),
            "pick_compact": In(config.conv_position_bits),
            "pick_take": Out(1), "pick_empty": In(1),
            "base": In(16), "read_address": Out(16), "read_en": Out(1),
            "position": Out(config.conv_position_bits), "position_read": Out(1),
            "word": In(data.ArrayLayout(signed(A), config.conv_lanes)),
            "feed_valid": Out(1), "feed_chunk": Out(chunk_bits), "feed_first": Out(17),
            "feed_mask": Out(U), "feed_current": Out(data.ArrayLayout(signed(A), U)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        U, PC = cfg.neuron_units, cfg.conv_lanes
        ub, pcb = _clog2(U), _clog2(PC)
        chunks = PC // U              # chunks of a position, at most
        oy = Signal(16)
        ox = Signal(16)
        q = Signal(cfg.conv_position_bits + 1)
        j = Signal(range(max(2, chunks)))
        running = Signal()

        # Chunks of a position: min(PC, 2**out_c_bits) / U (out_c_bits >= log2 U).
        last_j = Signal.like(j)
        if chunks > 1:
            shift = (self.out_c_bits - ub).as_unsigned()
            m.d.sync += last_j.eq(Mux(self.out_c_bits >= pcb, chunks - 1,
                                      (Const(1, len(j) + 1) << shift) - 1))
        # The last column and row, registers (static while walking): the padding columns
        # (ox >= out_width) hold no neuron that can change, so the walk skips them.
        last_x = Signal(16)
        last_y = Signal(16)
        row_step = Signal(16)         # 1 << out_w_bits: a row's positions
        m.d.sync += [last_x.eq(self.out_width - 1), last_y.eq(self.band_rows - 1),
                     row_step.eq(1 << self.out_w_bits)]

        first = Signal(17)            # hardware index of the chunk's lane 0
        cpb = _clog2(cfg.conv_positions)
        map_q = Signal(17)            # the position in the map: the band's, then q's bits
        m.d.comb += map_q.eq(Cat(q[:cpb], self.band) if cpb else self.band)
        # Walking the touched positions only (hw.touched): the position comes from the
        # picker, and a chunk is read only while it offers one.
        skipping = Signal()
        emit = Signal()
        row_q = Signal.like(q)        # oy << out_w_bits, counted
        m.d.comb += [q.eq(Mux(skipping, self.pick_position, row_q | ox)),
                     first.eq((map_q << self.out_c_bits) | (self.block << pcb) | (j << ub)),
                     emit.eq(running & (~skipping | self.pick_valid))]
        # The chunk's membrane word from the band's first: the position without the padding
        # columns, row * out_width + column, counted (walked) or the picker's.
        walked = Signal(cpb + 1)
        compact = Signal(cpb + 1)
        word = Signal(17)
        m.d.comb += [compact.eq(Mux(skipping, self.pick_compact, walked)),
                     word.eq(((compact << self.out_c_bits) | (self.block << pcb) | (j << ub))
                             >> ub)]
        with m.If(emit):
            with m.If(j == last_j):
                m.d.sync += [j.eq(0), walked.eq(walked + 1)]
                m.d.comb += self.pick_take.eq(skipping)
                with m.If(~skipping):
                    with m.If(ox == last_x):
                        m.d.sync += [ox.eq(0), oy.eq(oy + 1), row_q.eq(row_q + row_step)]
                        with m.If(oy == last_y):
                            m.d.sync += running.eq(0)
                    with m.Else():
                        m.d.sync += ox.eq(ox + 1)
            with m.Else():
                m.d.sync += j.eq(j + 1)
        with m.If(running & skipping & self.pick_empty):
            m.d.sync += running.eq(0)
        with m.If(self.start):
            m.d.sync += [running.eq(1), skipping.eq(self.skip), oy.eq(0), ox.eq(0), j.eq(0),
                         row_q.eq(0), walked.eq(0)]
        with m.If(self.abort):
            m.d.sync += running.eq(0)

        # R: the membrane memory's read, from registers (its address is an OR of its users':
        # 0 unless reading).
        r_chunk, r_first = Signal.like(word), Signal.like(first)
        r_j = Signal.like(j)
        m.d.sync += [self.read_en.eq(emit & ~self.abort), r_chunk.eq(word), r_first.eq(first),
                     r_j.eq(j), self.read_address.eq(Mux(emit, self.base + word, 0))]
        m.d.comb += self.running.eq(running | self.read_en)
        # The current memory is read with the choice (it registers the address itself); its
        # word, a cycle later, is registered here for the feed.
        word_r = Signal.like(self.word)
        m.d.comb += [self.position.eq(q), self.position_read.eq(emit & (j == 0))]
        m.d.sync += word_r.eq(self.word)
        # The feed, a cycle after the reads.
        feed_j = Signal.like(j)
        m.d.sync += [self.feed_valid.eq(self.read_en), self.feed_chunk.eq(r_chunk),
                     self.feed_first.eq(r_first), feed_j.eq(r_j),
                     self.feed_mask.eq(Cat(r_first + k < self.n_out for k in range(U)))]
        for k in range(U):
            lanes = [word_r[c * U + k] for c in range(chunks)]
            if chunks == 1:
                m.d.comb += self.feed_current[k].eq(lanes[0])
            else:
                with m.Switch(feed_j):
                    for c, lane in enumerate(lanes):
                        with m.Case(c):
                            m.d.comb += self.feed_current[k].eq(lane)
        return m
