"""The touched positions of a conv block: which output positions the block's events reached,
and their expansion lowest first for the conv update (``docs/architecture.md``, "Skipping
neurons that cannot change")."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

from .picker import lowest

__all__ = ["TouchedPositions"]


def _encode(onehot):
    """Index of the set bit of a one-hot (or zero) vector."""
    return Cat(Cat(onehot[i] for i in range(len(onehot)) if i >> j & 1).any()
               for j in range(max(1, _clog2(len(onehot)))))


class TouchedPositions(wiring.Component):
    """A bitmap of ``conv_positions`` bits, set by the current memory's writes, and per layer
    the positions written in this inference (*seen*); the positions to visit (the touched
    ones, and with ``pending`` the seen ones too) are expanded lowest first, one at a time,
    for the conv update, each with whether it is *fresh* (not seen: its membrane word is
    left from an earlier inference and reads as zero).

    The bits lie in groups of ``G = min(8, conv_positions)`` positions (position ``q`` is bit
    ``q mod G`` of group ``q div G``): the groups' words in distributed RAM, and a register of
    one *any* bit per group (per layer for the seen bitmap). A group whose any bit is clear
    holds no position, whatever its word: a mark writes the word afresh there (the new bit
    alone) and ORs it into the word only where the any bit is set, so that ``clear`` (the
    touched any bits) and ``new_inference`` (the seen ones) empty a bitmap in one cycle.

    Picking (from ``start`` until ``empty``) has two registers: the lowest group left to
    visit, and the positions left of the group being emitted, read from its words; each
    advances in the cycle the one after it takes from it, so that a position a cycle is
    offered without a bubble between groups. With ``last_block`` the seen bitmap of
    ``layer`` takes the touched positions of each group as it is read (the earlier blocks of
    the layer, which visit the same positions, see it as the step began). Marks and picking
    never overlap (the sequencer walks a block only after its integration has drained).

    Parameters
    ----------
    config : core.config.Config
        With ``conv``.

    Ports
    -----
    mark : 1, in; mark_position : conv_position_bits, in
        A current-memory write at this position (``hw.currents``'s slot): set its bit.
    clear : 1, in
        Empty the touched bitmap and stop picking (a block starts, or an abort).
    new_inference : 1, in
        Empty every layer's seen bitmap (an inference starts).
    layer : range(max_layers), in; pending : 1, in; last_block : 1, in
        With ``start``: the layer walked, whether its seen positions are to be visited too
        (its last step left a neuron that may fire without current), and whether this is its
        step's last block. Static while picking.
    start : 1, in
        Start picking (from the next cycle on).
    valid : 1, out; position : conv_position_bits, out; fresh : 1, out
        A position is offered (combinational, from registers), and whether it is fresh.
    take : 1, in
        The offered position is taken this cycle.
    empty : 1, out
        Picking and nothing left to offer (no group left, none in the registers).

    Latency: the first position two cycles after ``start``. Throughput: one position per cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        if not config.conv:
            raise ValueError("the touched positions exist only with conv")
        self.config = config
        PB = config.conv_position_bits
        super().__init__({
            "mark": In(1), "mark_position": In(PB), "clear": In(1), "new_inference": In(1),
            "layer": In(range(max(2, config.max_layers))), "pending": In(1),
            "last_block": In(1), "start": In(1),
            "valid": Out(1), "position": Out(PB), "fresh": Out(1), "take": In(1),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth, L = self.config.conv_positions, self.config.max_layers
        G = min(8, depth)
        NG = depth // G
        gb, ngb = _clog2(G), _clog2(NG)
        m.submodules.words = words = Memory(shape=G, depth=NG, init=[],
                                            attrs={"ram_style": "distributed"})
        wr = words.write_port()
        mark_rd = words.read_port(domain="comb")
        pick_rd = words.read_port(domain="comb")
        any_ = Signal(NG)
        m.submodules.seen = seen = Memory(shape=G, depth=NG << _clog2(L), init=[],
                                          attrs={"ram_style": "distributed"})
        seen_wr = seen.write_port()
        seen_rd = seen.read_port(domain="comb")
        seen_any = Array(Signal(NG, name=f"seen_any{l}") for l in range(L))

        # Marks: the word read and written in one cycle (the next mark of the group reads it).
        group = self.mark_position[gb:] if NG > 1 else 0
        bit = (1 << self.mark_position[:gb]) if G > 1 else 1
        old = Mux((any_ >> group)[0], mark_rd.data, 0)
        m.d.comb += [mark_rd.addr.eq(group), wr.addr.eq(group),
                     wr.data.eq(old | bit), wr.en.eq(self.mark)]

        # Picking: A holds the next group, B the positions left of the group emitted.
        picking = Signal()
        pend = Signal()
        last_block = Signal()
        layer = Signal.like(self.layer)
        left = Signal(NG)             # groups still to visit
        a_have = Signal()
        a_grp = Signal(range(max(2, NG)))
        b_bits = Signal(G)
        b_fresh = Signal(G)
        b_grp = Signal.like(a_grp)
        first = lowest(b_bits)
        m.d.comb += [pick_rd.addr.eq(a_grp),
                     seen_rd.addr.eq(Cat(a_grp[:ngb], layer)),
                     self.valid.eq(b_bits.any()),
                     self.position.eq(Cat(_encode(first)[:gb], b_grp[:ngb])),
                     self.fresh.eq((b_fresh & first).any()),
                     self.empty.eq(picking & ~a_have & ~b_bits.any() & ~left.any())]
        # B takes A's group once its last position is taken (or when empty); A takes the
        # lowest group left whenever it is empty or hands its group over.
        b_next = b_bits & ~Mux(self.take, first, 0)
        b_load = picking & ~b_next.any()
        a_load = picking & (~a_have | b_load)
        m.d.sync += b_bits.eq(b_next)
        # The seen groups of the layer walked, in a register of their own from `start` on
        # (and written back from it), so that no group's bit has logic per layer.
        row = Signal(NG)
        touched = Mux((any_ >> a_grp)[0], pick_rd.data, 0)
        was_seen = Mux((row >> a_grp)[0], seen_rd.data, 0)
        with m.If(b_load & a_have):
            m.d.sync += [b_bits.eq(touched | Mux(pend, was_seen, 0)), b_fresh.eq(~was_seen),
                         b_grp.eq(a_grp)]
            with m.If(last_block):
                m.d.comb += [seen_wr.addr.eq(seen_rd.addr), seen_wr.data.eq(was_seen | touched),
                             seen_wr.en.eq(1)]
                m.d.sync += row.eq(row | (1 << a_grp))
        pick = lowest(left)
        with m.If(a_load):
            m.d.sync += [a_have.eq(left.any()), a_grp.eq(_encode(pick)),
                         left.eq(left & ~pick)]
        with m.If(self.mark):
            m.d.sync += any_.eq(any_ | (1 << group))
        with m.If(picking & last_block):
            m.d.sync += seen_any[layer].eq(row)
        with m.If(self.start):
            # the groups to visit: the touched ones, and with `pending` the seen ones
            start_row = seen_any[self.layer]
            m.d.sync += [picking.eq(1), layer.eq(self.layer), pend.eq(self.pending),
                         last_block.eq(self.last_block), row.eq(start_row),
                         left.eq(any_ | Mux(self.pending, start_row, 0))]
        with m.If(self.clear):
            m.d.sync += [any_.eq(0), left.eq(0), picking.eq(0), a_have.eq(0), b_bits.eq(0)]
        with m.If(self.new_inference):
            m.d.sync += [seen_any[l].eq(0) for l in range(L)] + [row.eq(0)]
        return m
