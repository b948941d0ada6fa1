"""The rows of the pixel memory that the encoder scan visits, lowest first."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from core.config import _clog2

from .picker import lowest

__all__ = ["RowQueue", "encode"]

#: Rows per group: the widest priority encoder the queue builds.
GROUP = 8


def encode(onehot):
    """Index of the set bit of a one-hot (or zero) vector."""
    return Cat(Cat(onehot[i] for i in range(len(onehot)) if i >> j & 1).any()
               for j in range(max(1, _clog2(len(onehot)))))


class RowQueue(wiring.Component):
    """The rows to visit of one step, lowest first: the encoder scan's stage F.

    Rows are found in groups of 8 (row = 8 * group + bit): the next row comes from the rest of
    the current group, or else from the next group with a row to visit, which is prefetched,
    so that no priority encoder spans all the rows. The first row is computed in register
    stages from ``mask``, which only changes while idle, so that none of that logic sits on a
    timing path of the inference.

    Parameters
    ----------
    rows : int
        Rows of the pixel memory, at least 1.

    Ports
    -----
    mask : rows, in
        The rows to visit. Static while rows are taken; ``load`` may come three cycles after
        it settles.
    load : 1, in
        ``row`` becomes the first row of ``mask`` (a step starts).
    next : 1, in
        ``row`` becomes the next row of ``mask`` after it (the row was fetched); ``have``
        falls after the last.
    row : range(max(2, rows)), out
        The row to fetch next (a register).
    have : 1, out
        ``row`` is a row to visit (a register); low once every row was taken.

    Latency: ``row`` and ``have`` change in the cycle after ``load`` or ``next``. Throughput:
    a row per cycle.
    """

    def __init__(self, rows: int):
        if not isinstance(rows, int) or rows < 1:
            raise ValueError(f"rows must be a positive integer, not {rows!r}")
        self.rows = rows
        super().__init__({"mask": In(rows), "load": In(1), "next": In(1),
                          "row": Out(range(max(2, rows))), "have": Out(1)})

    def elaborate(self, platform):
        m = Module()
        GS = GROUP
        NG = -(-self.rows // GS)

        # -- the first row, in registers while idle --------------------------------------------
        scan_mask = Signal(self.rows)
        grp_any = Signal(NG)          # groups with a row to visit
        m.d.sync += [scan_mask.eq(self.mask),
                     grp_any.eq(Cat(self.mask[g * GS:(g + 1) * GS].any() for g in range(NG)))]
        words = [Signal(GS, name=f"scan_word{g}") for g in range(NG)]
        m.d.comb += [words[g].eq(scan_mask[g * GS:(g + 1) * GS]) for g in range(NG)]

        def select(onehot):
            """The word of the group whose bit is set in ``onehot`` (an AND-OR multiplexer)."""
            return Cat(Cat(onehot[g] & words[g][b] for g in range(NG)).any() for b in range(GS))

        b_g0 = Signal(NG)
        b_g1 = Signal(NG)
        b_left = Signal(NG)
        rest0 = grp_any & ~lowest(grp_any)
        m.d.sync += [b_g0.eq(lowest(grp_any)), b_g1.eq(lowest(rest0)),
                     b_left.eq(rest0 & ~lowest(rest0))]
        b_bits0 = select(b_g0)
        first_low = lowest(b_bits0)
        first_row = Signal.like(self.row)
        first_any = Signal()
        init_cur = Signal(GS)
        init_grp = Signal(range(max(2, NG)))
        init_nxt = Signal(GS)
        init_nxt_grp = Signal.like(init_grp)
        init_nxt_have = Signal()
        init_left = Signal(NG)
        m.d.sync += [first_row.eq(Cat(encode(first_low), encode(b_g0))),
                     first_any.eq(b_g0.any()), init_cur.eq(b_bits0 & ~first_low),
                     init_grp.eq(encode(b_g0)), init_nxt.eq(select(b_g1)),
                     init_nxt_grp.eq(encode(b_g1)), init_nxt_have.eq(b_g1.any()),
                     init_left.eq(b_left)]

        # -- the queue ----------------------------------------------------------------------
        f_cur = Signal(GS)                # rows of the current group after `row` still to take
        f_grp = Signal.like(init_grp)
        f_nxt = Signal(GS)                # rows of the next group with any (prefetched)
        f_nxt_grp = Signal.like(init_grp)
        f_nxt_have = Signal()
        f_left = Signal(NG)               # groups after that one with rows to take
        with m.If(self.next):
            m.d.sync += self.have.eq(f_cur.any() | f_nxt_have)
            with m.If(f_cur.any()):
                m.d.sync += [self.row.eq(Cat(encode(lowest(f_cur)), f_grp)),
                             f_cur.eq(f_cur & ~lowest(f_cur))]
            with m.Elif(f_nxt_have):
                m.d.sync += [self.row.eq(Cat(encode(lowest(f_nxt)), f_nxt_grp)),
                             f_cur.eq(f_nxt & ~lowest(f_nxt)), f_grp.eq(f_nxt_grp),
                             f_nxt.eq(select(lowest(f_left))),
                             f_nxt_grp.eq(encode(lowest(f_left))),
                             f_nxt_have.eq(f_left.any()), f_left.eq(f_left & ~lowest(f_left))]
        with m.If(self.load):
            m.d.sync += [self.row.eq(first_row), self.have.eq(first_any), f_cur.eq(init_cur),
                         f_grp.eq(init_grp), f_nxt.eq(init_nxt), f_nxt_grp.eq(init_nxt_grp),
                         f_nxt_have.eq(init_nxt_have), f_left.eq(init_left)]
        return m
