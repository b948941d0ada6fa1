"""The encoder scan: layer 0's events, read from the pixel memory row by row."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from core.config import ENCODER_CODES, Config, _clog2

from .encoder import HybridBound, PixelFilter
from .layouts import input_event
from .picker import LowestFirst, any_per_group, at_most_one
from .rows import RowQueue

__all__ = ["EncoderScan"]


class EncoderScan(wiring.Component):
    """Layer 0's events of one timestep, one per cycle, from the pixel memory.

    Four stages, so that no pixel value reaches a memory address in the same cycle and the
    filter and the event selection sit in different cycles: F holds the next row to fetch, D
    the row at the pixel memory's read port, E the filter's results for a row, X the row whose
    events are emitted. The rows to visit do not depend on the pixels' values this step, so F,
    D and E run ahead of X, and X takes a new row in the cycle it emits its last event.

    Rows are visited only where the host wrote a nonzero pixel (``row_nonzero``), except for
    the rate encoder, whose LFSR advances for every pixel. F is a :class:`hw.rows.RowQueue`:
    it finds them in groups of 8, and the first row in registers while idle (the sequencer's
    SETUP waits for them).

    The hybrid encoder's interval of the next step (:class:`hw.encoder.HybridBound`) is
    searched during this one; ``ready`` is low while it is not yet known.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    encoder : 2, in
        ``NET_ENCODER``. Static while busy, as are ``n_in``, ``seed``, ``timesteps`` and
        ``row_nonzero``.
    n_in : 16, in
        Inputs of layer 0.
    seed : 16, in
    timesteps : 8, in
    row_nonzero : pixel_rows, in
    t : 8, in
        The current step.
    more_steps : 1, in
        A step follows ``t``.
    init : 1, in
        The inference starts: seed the LFSR, clear the hybrid interval.
    ready : 1, out
        The next step's hybrid interval is known (always, for the other encoders).
    step : 1, in
        A step starts (with ``ready``): load the first row into F.
    block : 1, in
        The sequencer's BLOCK state: the scan feeds this block if it is the step's first.
    first_block : 1, out
        The next BLOCK is the step's first (the scan feeds it, the others replay).
    active : 1, out
        The scan feeds the block in integration (set by ``block``, cleared by ``finish``).
    finish : 1, in
        The block's integration ends.
    abort : 1, in
    pixel_addr, pixel_en : out; pixels : ArrayLayout(8, S), in
        The pixel memory's read port while busy (data one cycle after the address).
    event : stream.Signature(input_event(EB, K), always_ready=True), out
        One event per cycle.
    done : 1, out
        No row is left to fetch or emit.

    Latency: three cycles from ``block`` to the first event. Throughput: one event per cycle; a
    row without events costs one cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        S, K = config.pixels_per_cycle, config.inputs_per_cycle
        super().__init__({
            "encoder": In(2), "n_in": In(16), "seed": In(16), "timesteps": In(8),
            "row_nonzero": In(config.pixel_rows),
            "t": In(8), "more_steps": In(1),
            "init": In(1), "ready": Out(1), "step": In(1), "block": In(1),
            "first_block": Out(1), "active": Out(1), "finish": In(1), "abort": In(1),
            "pixel_addr": Out(_clog2(config.pixel_rows)), "pixel_en": Out(1),
            "pixels": In(data.ArrayLayout(8, S)),
            "event": Out(stream.Signature(input_event(config.event_bits, K),
                                          always_ready=True)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        S, K = cfg.pixels_per_cycle, cfg.inputs_per_cycle
        G = S // K                    # input groups per pixel row
        rows = cfg.pixel_rows

        # -- the step's encoder state: LFSR and hybrid interval ------------------------------
        lfsr = Signal(16)
        hyb_lo = Signal(9)
        hyb_hi = Signal(9)
        m.submodules.bound = bound = HybridBound()
        m.d.comb += [bound.t.eq(self.t + 1), bound.tm1.eq(self.timesteps - 1)]
        hybrid = self.encoder == ENCODER_CODES["hybrid"]
        m.d.comb += self.ready.eq(~(hybrid & bound.busy))
        with m.If(self.init):
            m.d.sync += [lfsr.eq(self.seed), hyb_lo.eq(0), hyb_hi.eq(0)]

        # -- rows to visit: within N_IN (a thermometer code in a register of its own) and, but
        # for the rate encoder, with a nonzero pixel
        scan_rows = Signal(range(rows + 1))
        m.d.sync += scan_rows.eq((self.n_in + S - 1) >> _clog2(S))
        rows_valid = Signal(rows)
        m.d.sync += rows_valid.eq(Cat(scan_rows > r for r in range(rows)))
        m.submodules.rows = queue = RowQueue(rows)
        m.d.comb += queue.mask.eq(Mux(self.encoder == ENCODER_CODES["rate"], rows_valid,
                                      rows_valid & self.row_nonzero))

        # -- the stages -------------------------------------------------------------------
        f_row, f_have = queue.row, queue.have  # F: next row to fetch
        d_row = Signal.like(f_row)        # D: the pixel read port holds row d_row
        d_have = Signal()
        e_row = Signal.like(f_row)    # E: the filter's results for row e_row
        e_have = Signal()
        e_match = Signal(G)
        e_mag = Signal(8 * S)
        x_row = Signal.like(f_row)    # X: row whose events are emitted
        x_have = Signal()
        x_match = Signal(G)               # groups of the row with an event
        x_mag = Signal(8 * S)
        # The scan feeds the block in integration (set in BLOCK, cleared as it ends), and
        # BLOCK of the step's first block is flagged ahead, so that the decision to fetch
        # comes from registers and not from the sequencer's state or the block number.
        scan_active = Signal()
        first_block = Signal()
        # At most one event of X's row is left, and X's row has an event left: registers
        # (updated when X takes a row and after each event), so that the decision to fetch,
        # which drives the pixel memory's read enable, and the event-buffer write start
        # from registers.
        row_last_event = Signal()
        x_left = Signal()
        m.d.comb += [self.active.eq(scan_active), self.first_block.eq(first_block)]

        fetch = first_block | (scan_active & (~x_have | row_last_event))
        # The address is F's row whether or not it is fetched (only the read enable depends
        # on the decision), so that it starts from a register.
        m.d.comb += [self.pixel_addr.eq(f_row), self.pixel_en.eq(fetch)]
        m.d.comb += queue.next.eq(fetch)
        with m.If(fetch):
            m.d.sync += [d_have.eq(f_have), d_row.eq(f_row)]

        # D -> E: the filter. Only the last row can be partial: compare row numbers, not pixel
        # indices.
        m.submodules.filter = filt = PixelFilter(S, cfg.encoders)
        last_pixel = Signal(16)
        m.d.sync += last_pixel.eq(self.n_in - 1)  # static while busy
        on_last_row = d_row == last_pixel[_clog2(S):]
        tail = Signal(range(S + 1))   # pixels in the last row
        m.d.comb += tail.eq(last_pixel[:_clog2(S)] + 1)
        # Step 0 in a register beside the filter, so that the step counter (far away, with a
        # large fan-out) does not reach the filter's results in the same cycle. It lags `t` by
        # a cycle, which is early enough: `t` changes as a step starts (STEP), and the filter's
        # first results of the step are taken two cycles later (ACCUM).
        first_step = Signal()
        m.d.sync += first_step.eq(self.t == 0)
        m.d.comb += [
            filt.pixels.eq(self.pixels),
            filt.lane_valid.eq(Cat(~on_last_row | (k < tail) for k in range(S))),
            filt.encoder.eq(self.encoder), filt.first_step.eq(first_step),
            filt.lo.eq(hyb_lo), filt.hi.eq(hyb_hi), filt.lfsr.eq(lfsr),
        ]
        valid_count = Signal(range(S + 1))
        m.d.comb += valid_count.eq(Mux(on_last_row, tail, S))
        lfsr_next = Signal(16)        # the LFSR state for the row after D's
        lfsr_table = Array(filt.lfsr_after[16 * k:16 * (k + 1)] for k in range(S))
        m.d.comb += lfsr_next.eq(lfsr_table[valid_count - 1])
        # A group is an event when any of its K pixels is; the others' magnitudes become 0.
        group_match = any_per_group(filt.match, K)
        if K == 1:
            group_mag = filt.magnitude
        else:
            group_mag = Cat(Mux(filt.match[k], filt.magnitude[8 * k:8 * (k + 1)], 0)
                            for k in range(S))

        # X: the row's events, lowest group first.
        m.submodules.picker = picker = LowestFirst(G)
        take_over = ~x_have | row_last_event
        m.d.comb += [picker.flags.eq(x_match), picker.load.eq(scan_active & take_over),
                     picker.take.eq(scan_active & ~take_over)]
        index = picker.index[:_clog2(G)] if G > 1 else picker.index[:0]
        m.d.comb += [
            self.event.valid.eq(scan_active & x_left),
            self.event.p.group.eq(Cat(index, x_row)),
            self.event.p.magnitudes.eq(x_mag.word_select(picker.index, 8 * K)),
            self.done.eq(~x_have & ~e_have & ~d_have & ~f_have),
        ]
        with m.If(scan_active):
            with m.If(take_over):
                # X takes E's row, E the filter's results for D's row, D the row in F.
                m.d.sync += [x_have.eq(e_have), x_row.eq(e_row), x_match.eq(e_match),
                             x_mag.eq(e_mag), x_left.eq(e_have & (e_match != 0)),
                             row_last_event.eq(at_most_one(e_match)),
                             e_have.eq(d_have), e_row.eq(d_row),
                             e_match.eq(group_match), e_mag.eq(group_mag)]
                with m.If(d_have):
                    m.d.sync += lfsr.eq(lfsr_next)
            with m.Else():
                # Two or more events were left: one is still left after this one.
                m.d.sync += [x_left.eq(1), row_last_event.eq(picker.last_after)]

        # -- the sequencer's commands ---------------------------------------------------------
        with m.If(self.step):
            with m.If(hybrid & (self.t != 0)):
                m.d.sync += [hyb_lo.eq(hyb_hi), hyb_hi.eq(bound.bound)]
            with m.If(hybrid & self.more_steps):
                m.d.comb += bound.start.eq(1)
            m.d.comb += queue.load.eq(1)
            m.d.sync += first_block.eq(1)
        with m.If(self.block):
            m.d.sync += [first_block.eq(0), scan_active.eq(first_block),
                         x_have.eq(0), x_left.eq(0), e_have.eq(0)]
        with m.If(self.finish):
            m.d.sync += scan_active.eq(0)
        with m.If(self.abort):
            m.d.sync += [scan_active.eq(0), first_block.eq(0)]
        return m
