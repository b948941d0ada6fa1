"""The touched positions of a conv block: which output positions the block's events reached,
and their expansion lowest first for the conv update (``docs/architecture.md``, "Skipping
neurons that cannot change")."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

from .picker import lowest, one_hot_select

__all__ = ["TouchedPositions"]


def _encode(onehot):
    """Index of the set bit of a one-hot (or zero) vector."""
    return Cat(Cat(onehot[i] for i in range(len(onehot)) if i >> j & 1).any()
               for j in range(max(1, _clog2(len(onehot)))))


class TouchedPositions(wiring.Component):
    """A bitmap of ``conv_positions`` bits, set by the current memory's writes and expanded,
    lowest position first, into one position at a time for the conv update.

    The bits lie in groups of ``G = min(8, conv_positions)`` positions (position ``q`` is bit
    ``q mod G`` of group ``q div G``): the groups' words in distributed RAM, and a register of
    one *any* bit per group. A group whose any bit is clear holds no position, whatever its
    word: a mark writes the word afresh there (the new bit alone) and ORs it into the word
    only where the any bit is set, so that ``clear`` (every any bit, in one cycle) empties the
    bitmap and taking a group needs no write. With ``conv_banks > 1`` a mark sets a run of up
    to ``conv_banks`` consecutive positions, which may end in the next group: the groups'
    words then lie in two memories, even and odd groups, each marked in the same cycle.

    Picking (from ``start`` until ``empty``) has four registers: the lowest group with its
    any bit set (whose any bit is then cleared), that group with its word and the partial
    sums of its compact base, the positions left of the group being emitted, and the
    position offered; each advances in the cycle the one after it takes from it, so that a
    position a cycle is offered without a bubble between groups. Marks and picking never
    overlap (the sequencer walks a block only after its integration has drained).

    Parameters
    ----------
    config : core.config.Config
        With ``conv``.

    Ports
    -----
    mark : 1, in; mark_position : conv_position_bits, in; mark_run : conv_banks, in
        A current-memory write at the positions ``mark_position + i`` of the set bits ``i``
        of ``mark_run`` (``hw.currents``'s slot): set their bits.
    clear : 1, in
        Empty the bitmap and stop picking (a block starts, or an abort).
    start : 1, in
        Start picking (from the next cycle on).
    valid : 1, out; position : conv_position_bits, out
        A position is offered (registers).
    out_width : 16, in; out_w_bits : 4, in
        The output map's width and its column field (static while picking).
    compact : conv_position_bits, out
        The offered position without the padding columns, ``row * out_width + column``
        (``position = (row << out_w_bits) | column``): the membrane memory's position
        (``core.config.membrane_index``), a register: the group's part is computed by shifts
        and adds when the group is taken, the position's offset in the group comes from a
        register per position of a group (no multiplier on the read address's path).
    take : 1, in
        The offered position is taken this cycle.
    empty : 1, out
        Picking and nothing left to offer (no group left, none in the registers).

    Latency: the first position four cycles after ``start``; ``empty`` a cycle after
    ``start`` when nothing is marked. Throughput: one position per cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        if not config.conv:
            raise ValueError("the touched positions exist only with conv")
        self.config = config
        PB = config.conv_position_bits
        super().__init__({
            "mark": In(1), "mark_position": In(PB), "mark_run": In(config.conv_banks),
            "clear": In(1), "start": In(1),
            "valid": Out(1), "position": Out(PB), "take": In(1), "empty": Out(1),
            "out_width": In(16), "out_w_bits": In(4), "compact": Out(PB),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.config.conv_positions
        G = min(8, depth)
        NG = depth // G
        gb = _clog2(G)
        # A run of B positions from mark_position touches its group and, past the group's
        # end, the next one: even and odd groups in two memories, each written once a cycle.
        parts = 2 if NG > 1 and self.config.conv_banks > 1 else 1
        pb = parts.bit_length() - 1
        mark_rds, pick_rds, wrs = [], [], []
        for part in range(parts):
            words = Memory(shape=G, depth=NG // parts, init=[],
                           attrs={"ram_style": "distributed"})
            m.submodules[f"words{part}" if parts > 1 else "words"] = words
            wrs.append(words.write_port())
            mark_rds.append(words.read_port(domain="comb"))
            pick_rds.append(words.read_port(domain="comb"))
        any_ = Signal(NG)

        # Marks: each word read and written in one cycle (the next mark of the group reads it).
        group = self.mark_position[gb:] if NG > 1 else Const(0, 1)
        window = Signal(2 * G)
        m.d.comb += window.eq(self.mark_run << (self.mark_position[:gb] if G > 1 else 0))
        halves = (window[:G], window[G:])     # bits of `group` and of `group + 1`
        marked = Signal(NG)
        for part, (mark_rd, wr) in enumerate(zip(mark_rds, wrs)):
            # the group of this part among `group` and `group + 1`, and its bits
            second = (group[0] != part) if parts > 1 else Const(0)
            target = Signal(range(max(2, NG)), name=f"target{part}")
            bits = Signal(G, name=f"bits{part}")
            m.d.comb += [target.eq(group + second), bits.eq(Mux(second, halves[1], halves[0]))]
            old = Mux((any_ >> target)[0], mark_rd.data, 0)
            m.d.comb += [mark_rd.addr.eq(target >> pb), wr.addr.eq(target >> pb),
                         wr.data.eq(old | bits), wr.en.eq(self.mark & bits.any())]
            with m.If(self.mark & bits.any()):
                m.d.comb += marked.bit_select(target, 1).eq(1)
        # Picking: A holds the next group, C the group after B's with its word and base, B the
        # positions left of the group being emitted, O the position offered (registers: the
        # walk's address logic starts from flip-flops instead of the lowest-first search).
        PB = self.config.conv_position_bits
        picking = Signal()
        a_have = Signal()
        a_grp = Signal(range(max(2, NG)))
        b_bits = Signal(G)
        b_grp = Signal.like(a_grp)
        o_valid = Signal()
        o_position = Signal.like(self.position)
        o_compact = Signal.like(self.compact)
        c_have = Signal()                 # C: A's group, with its word and compact base
        c_grp = Signal.like(a_grp)
        c_bits = Signal(G)
        c_column = Signal(PB + 1)
        first = lowest(b_bits)
        for pick_rd in pick_rds:
            m.d.comb += pick_rd.addr.eq(a_grp >> pb)
        pick_data = Array(rd.data for rd in pick_rds)[a_grp[:pb] if parts > 1 else 0]
        m.d.comb += [self.valid.eq(o_valid), self.position.eq(o_position),
                     self.compact.eq(o_compact),
                     self.empty.eq(picking & ~a_have & ~c_have & ~b_bits.any() & ~any_.any()
                                   & ~o_valid)]
        # The compact position: the group's first one's (b_base: from A's group, in two
        # cycles, through C), plus the offset of the position in the group, whose rows (a
        # group spans several of a map narrower than G) are at most G / 2 of at most 4
        # columns: a register per position of a group, derived in two cycles from the map's
        # width (static while picking).
        wb, width = self.out_w_bits, self.out_width
        mask = (Const(1, PB + 2) << wb) - 1

        def width_terms(value, bits):
            # the partial products of value * out_width, for a value of `bits` bits
            return [Mux(width[i], value << i, 0) for i in range(bits)]

        offsets = [Signal(PB, name=f"offset{i}") for i in range(G)]
        for i, offset in enumerate(offsets):
            row, column = Signal(gb + 1, name=f"row{i}"), Signal(gb + 1, name=f"column{i}")
            m.d.sync += [row.eq(Const(i, gb + 1) >> wb), column.eq(i & mask),
                         offset.eq(sum(width_terms(row, gb + 1)) + column)]
        # A's group's compact base, (first >> out_w_bits) * out_width + (first & mask), as
        # three partial sums of the product in C and their total in B.
        group_first = Signal(PB + 1)
        m.d.comb += group_first.eq(a_grp << gb)
        terms = width_terms(group_first >> wb, PB + 1)
        base_parts = [sum(terms[i::3]) for i in range(min(3, len(terms)))]
        c_parts = [Signal(PB + 1, name=f"c_part{i}") for i in range(len(base_parts))]
        b_base = Signal(PB + 1)
        # O takes B's lowest position whenever it is empty or its position is taken; B takes
        # C's group once its last position is in O (or when empty); C takes A's, and A the
        # lowest group left, whenever it is empty or hands its group over.
        o_load = ~o_valid | self.take
        with m.If(o_load):
            m.d.sync += [o_valid.eq(b_bits.any()),
                         o_position.eq(Cat(_encode(first)[:gb] if G > 1 else Const(0, 1),
                                           b_grp[:_clog2(NG)])),
                         o_compact.eq(b_base + one_hot_select(first, offsets))]
        b_next = b_bits & ~Mux(o_load, first, 0)
        b_load = picking & ~b_next.any()
        c_load = picking & (~c_have | b_load)
        a_load = picking & (~a_have | c_load)
        m.d.sync += b_bits.eq(b_next)
        with m.If(b_load & c_have):
            m.d.sync += [b_bits.eq(c_bits), b_grp.eq(c_grp), b_base.eq(sum(c_parts) + c_column)]
        with m.If(c_load):
            m.d.sync += [c_have.eq(a_have), c_bits.eq(pick_data), c_grp.eq(a_grp),
                         c_column.eq(group_first & mask),
                         *(c.eq(p) for c, p in zip(c_parts, base_parts))]
        pick = lowest(any_)
        clear_pick = Signal(NG)
        with m.If(a_load):
            m.d.sync += [a_have.eq(any_.any()), a_grp.eq(_encode(pick))]
            m.d.comb += clear_pick.eq(pick)
        with m.If(self.mark):
            m.d.sync += any_.eq(any_ | marked)
        with m.Else():
            m.d.sync += any_.eq(any_ & ~clear_pick)
        with m.If(self.start):
            m.d.sync += picking.eq(1)
        with m.If(self.clear):
            m.d.sync += [any_.eq(0), picking.eq(0), a_have.eq(0), c_have.eq(0), b_bits.eq(0),
                         o_valid.eq(0)]
        return m
