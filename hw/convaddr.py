"""The address generator of a convolution layer: an input event to the output positions it
reaches (``docs/architecture.md``, "Convolution")."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from core.config import kernel_row_words
from core.schedule import CONV_ADDRESS_STAGES

from .layouts import MAX_KERNEL, conv_geometry, conv_pair, input_event
from .picker import at_most_one, lowest, one_hot_select

__all__ = ["ConvAddress", "reciprocal_shift", "reciprocal", "landing"]


def reciprocal_shift(map_bits: int) -> int:
    """The shift ``F`` of the reciprocal division: ``n // s == (n * reciprocal(s)) >> F`` for
    every ``n`` below ``2 ** (max(map_bits, 3) + 1)`` (a coordinate plus the padding) and
    ``s`` in 1 .. 7. The error of ``n * ceil(2**F / s) / 2**F`` against ``n / s`` is below
    ``n / 2**F < 2**-5``, less than the ``1 / s`` that would move the floor."""
    return max(map_bits, 3) + 1 + 5


def reciprocal(stride: int, map_bits: int) -> int:
    """``ceil(2**F / stride)`` (:func:`reciprocal_shift`)."""
    return -(-(1 << reciprocal_shift(map_bits)) // stride)


def landing(r: int, stride: int, k: int):
    """For the remainder ``r = (y + p) mod s`` of an input coordinate: whether kernel row ``k``
    can land on an output row (``(r - k) mod s == 0``) and the output row's offset from
    ``q = (y + p) div s`` if so (``(r - k) div s``, in -6 .. 6)."""
    d = r - k
    return d % stride == 0, d // stride


class ConvAddress(wiring.Component):
    """For each input event of a conv layer, the kernel positions that land inside the output
    map: one *slot* per cycle, a kernel word and the output positions of its kernel columns
    that land (one (kernel position, output position) pair with ``banks`` 1).

    An event at ``(c, y, x)`` (its index in the input map's hardware order, ``((y << w_bits) |
    x) << c_bits | c``) reaches output ``(oy, ox)`` through kernel position ``(ky, kx)`` when
    ``oy * s + ky - p == y`` and ``ox * s + kx - p == x``, ``0 <= ky, kx < k``, ``0 <= ox <
    OW`` and ``oy`` in the band of output rows being integrated, ``band_first <= oy <
    band_first + band_rows`` (the whole map, ``0 .. OH - 1``, when it fits the current
    memory; ``docs/architecture.md``, "Bands of output rows"); its position address is
    relative to the band, ``((oy - band_first) << out_w_bits) | ox``.

    A kernel word holds ``B = banks`` kernel columns (``kx = j * B + g``, ``g`` in 0 .. B -
    1, ``Config.conv_banks``); a slot is a kernel row ``ky`` and a word ``j`` of it that
    has a column that lands. The columns of a word that land reach consecutive output
    columns of one row (``ox`` falls by one for each ``stride`` columns of ``kx``), at most
    ``B`` of them, so their positions lie in distinct banks of the current memory (position
    modulo ``B``): the slot names the lowest position, the run of positions from it, and for
    each bank the column ``g`` whose position it holds. The slots come lowest ``ky`` first
    and, within a row, lowest ``j`` first; a word with no column that lands costs no cycle,
    and neither does an event that reaches nothing in the band.

    Five stages with a ready chain, so that the next event is prepared while the current one
    emits its pairs: S0 splits the index into ``c``, ``y``, ``x`` (shifts by the field
    widths); S1 divides ``y + p`` and ``x + p`` by the stride with a reciprocal product
    (:func:`reciprocal`, from a table of the stride; no divider) and forms ``c * k * k``; S2
    turns quotient and remainder into the masks of the kernel rows and columns that land and
    their output rows and columns (:func:`landing`, a small table per row); S3 chooses the
    slots one per cycle, and takes the next event in the cycle it hands the last slot of this
    one on; S4 holds the slot on ``pair`` (a register, so that the slot's positions and
    kernel word reach the integration from flip-flops).

    Parameters
    ----------
    index_bits : int
        Width of an event's index.
    map_bits : int
        Width of a map coordinate (a map side is at most ``2 ** map_bits``), 1 .. 12.
    kernel_bits : int
        Width of a kernel word offset (``(c * k + ky) * KW + j``).
    banks : int
        ``B``, kernel columns a word holds and banks of the current memory: 1, 2, 4 or 8.

    Ports
    -----
    geometry : conv_geometry(map_bits), in
        The layer's registers (``hw.layouts.conv_geometry``); static while events flow.
        ``kernel`` 1 .. 7, ``stride`` 1 .. 7, ``padding`` 0 .. 6; ``out_width <= 2 **
        out_w_bits``; ``band_first + band_rows`` at most the map's height.
    event : stream.Signature(input_event(index_bits, 1)), in
        ``p.group``: the event's index; ``p.magnitudes[0]``: its magnitude.
    pair : stream.Signature(conv_pair(map_bits, kernel_bits, banks)), out
        ``kernel``: ``(c * k + ky) * KW + j``, ``KW = ceil(k / B)``; ``position``: the lowest
        ``((oy - band_first) << out_w_bits) | ox`` of the slot; ``run``, ``select``
        (``hw.layouts.conv_pair``); ``magnitude``: the event's.
    idle : 1, out
        No event is in any stage.
    flush : 1, in
        Drop every event in the stages (an abort).

    Latency: an event's first slot is on ``pair`` four cycles after the event is taken (when
    the stages before it are empty). Throughput: one slot per cycle, events back to back.
    """

    def __init__(self, *, index_bits: int, map_bits: int = 10, kernel_bits: int = 16,
                 banks: int = 1):
        for name, value, lo, hi in (("index_bits", index_bits, 1, 32),
                                    ("map_bits", map_bits, 1, 12),
                                    ("kernel_bits", kernel_bits, 1, 32)):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} is {value!r}; it must be an integer in {lo} .. {hi}")
        if banks not in (1, 2, 4, 8) or isinstance(banks, bool):
            raise ValueError(f"banks is {banks!r}; it must be 1, 2, 4 or 8")
        self.index_bits, self.map_bits, self.kernel_bits = index_bits, map_bits, kernel_bits
        self.banks = banks
        super().__init__({
            "geometry": In(conv_geometry(map_bits)),
            "event": In(stream.Signature(input_event(index_bits, 1))),
            "pair": Out(stream.Signature(conv_pair(map_bits, kernel_bits, banks))),
            "idle": Out(1), "flush": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        MB, EB, KB = self.map_bits, self.index_bits, self.kernel_bits
        KM = MAX_KERNEL
        NB = max(MB, 3) + 1               # y + p
        F = reciprocal_shift(MB)
        g = self.geometry
        k, s, p = g.kernel, g.stride, g.padding
        B = self.banks
        JM = -(-KM // B)                  # words of the widest kernel row
        kw = Signal(3)                    # KW = ceil(k / B), words of this layer's rows
        m.d.comb += kw.eq(kernel_row_words(k, B))

        # -- S0: the coordinates ------------------------------------------------------------
        valid0, valid1, valid2, valid3 = (Signal(name=f"valid{n}") for n in range(4))
        c0 = Signal(EB)
        y0 = Signal(MB)
        x0 = Signal(MB)
        mag0, mag1, mag2, mag3 = (Signal(8, name=f"mag{n}") for n in range(4))
        index = self.event.p.group
        valid1a = Signal()
        mag1a = Signal(8)
        ready3 = Signal()                 # S3 takes S2's event this cycle (or has none)
        ready2 = ~valid2 | ready3
        ready1 = ~valid1 | ready2
        ready1a = ~valid1a | ready1
        ready0 = ~valid0 | ready1a
        m.d.comb += self.event.ready.eq(ready0)
        # the cycle model (core.perf) counts the same stages before the slots' S4
        assert len((valid0, valid1a, valid1, valid2, valid3)) == CONV_ADDRESS_STAGES
        with m.If(ready0):
            field = lambda value, bits: value & ((Const(1, EB + 1) << bits) - 1)  # noqa: E731
            m.d.sync += [valid0.eq(self.event.valid),
                         c0.eq(field(index, g.c_bits)),
                         x0.eq(field(index >> g.c_bits, g.w_bits)),
                         y0.eq(index >> (g.c_bits + g.w_bits)),
                         mag0.eq(self.event.p.magnitudes[0])]

        # -- S1a: y + p and x + p and their reciprocal products; c * k * KW -----------------
        recip = Array(Const(reciprocal(max(1, v), MB), F + 1) for v in range(8))[s]
        kkw = Signal(6)                   # k * KW, static
        m.d.sync += kkw.eq(k * kw)
        n1 = {a: Signal(NB, name=f"n1{a}") for a in "yx"}
        prod1 = {a: Signal(NB + F + 1, name=f"prod1{a}") for a in "yx"}
        ckk1a = Signal(KB)
        with m.If(ready1a):
            m.d.sync += [valid1a.eq(valid0), mag1a.eq(mag0), ckk1a.eq(c0 * kkw)]
            for a, coord in (("y", y0), ("x", x0)):
                n = coord + p
                m.d.sync += [n1[a].eq(n), prod1[a].eq(n * recip)]

        # -- S1b: the quotients and remainders ----------------------------------------------
        # the row quotient relative to the band's first row (negative above the band)
        q1y, q1x = Signal(signed(NB + 1), name="q1y"), Signal(NB, name="q1x")
        r1y, r1x = Signal(3, name="r1y"), Signal(3, name="r1x")
        ckk1 = Signal(KB)
        with m.If(ready1):
            m.d.sync += [valid1.eq(valid1a), mag1.eq(mag1a), ckk1.eq(ckk1a)]
            for a, q, r, base in (("y", q1y, r1y, g.band_first), ("x", q1x, r1x, 0)):
                quotient = Signal(NB, name=f"quot_{a}")
                m.d.comb += quotient.eq(prod1[a] >> F)
                # r = n - quotient * s < s <= 7: three bits of each suffice (shifts and
                # adds, no multiplier)
                times_s = sum(Mux(s[i], quotient[:3] << i, 0) for i in range(3))
                m.d.sync += [q.eq(quotient - base), r.eq(n1[a][:3] - times_s)]

        # -- S2: the kernel rows and columns that land, and their output rows (in the band)
        # and columns -------------------------------------------------------------------------
        rows1, oy1 = self._lands(m, q1y, r1y, g.band_rows, "row")
        cols1, ox1 = self._lands(m, q1x, r1x, g.out_width, "col")
        rows2, cols2 = Signal(KM), Signal(KM)
        oy2, ox2 = (Signal(data.ArrayLayout(MB, KM), name=n) for n in ("oy2", "ox2"))
        ckk2 = Signal(KB)
        with m.If(ready2):
            # An event that reaches nothing goes no further.
            m.d.sync += [valid2.eq(valid1 & rows1.any() & cols1.any()), rows2.eq(rows1),
                         cols2.eq(cols1), oy2.eq(oy1), ox2.eq(ox1), ckk2.eq(ckk1),
                         mag2.eq(mag1)]

        # -- S3: one slot per cycle -----------------------------------------------------------
        rows3 = Signal(KM)                # rows not yet done (the current one included)
        cols3 = Signal(KM)                # the event's columns
        words3 = Signal(JM)               # the event's words (a column of theirs lands)
        cur3 = Signal(JM)                 # words of the current row not yet emitted
        # each row's first position, (oy - band_first) << out_w_bits, and each column's ox
        rowpos3 = Signal(data.ArrayLayout(2 * MB, KM))
        ox3 = Signal(data.ArrayLayout(MB, KM))
        runs3 = Signal(data.ArrayLayout(B, JM))     # each word's run of positions
        ckk3 = Signal(KB)

        # The slot: the lowest row left and its lowest word left, one-hot registers beside
        # rows3 and cur3 (no priority logic or encoder before the selections).
        ky1, j1 = Signal(KM), Signal(JM)
        j = Signal(range(max(2, JM)))
        for i in reversed(range(JM)):
            with m.If(cur3[i]):
                m.d.comb += j.eq(i)
        row_offset = one_hot_select(ky1, [Const(i, 3) * kw for i in range(KM)])
        last_word = at_most_one(cur3)
        last3 = Signal()                  # at_most_one(rows3) & last_word
        # S4: the slot in a register, so that the integration's stage E (the weight address's
        # adder) starts from one instead of this stage's choices.
        out = Signal.like(self.pair.p)
        out4 = Signal.like(self.pair.p)
        valid4 = Signal()
        ready4 = ~valid4 | self.pair.ready           # S4 takes S3's slot this cycle
        # The row's first position, then the word's columns that land (`_slot`).
        row_base = Signal(2 * MB)
        m.d.comb += row_base.eq(one_hot_select(ky1, list(rowpos3)))
        self._slot(m, j1, row_base, cols3, ox3, runs3, out)
        m.d.comb += [
            out.kernel.eq(ckk3 + row_offset + j),
            out.magnitude.eq(mag3),
            ready3.eq(~valid3 | (ready4 & last3)),
            self.pair.valid.eq(valid4),
            self.pair.p.eq(out4),
            self.idle.eq(~(valid0 | valid1a | valid1 | valid2 | valid3 | valid4)),
        ]
        with m.If(ready4):
            m.d.sync += [valid4.eq(valid3), out4.eq(out)]
        # The rows and words left after this cycle, and whether the slot then in S3 is its
        # event's last (a register: the ready chain back to the event buffer starts from it).
        rows_next, cur_next = Signal.like(rows3), Signal.like(cur3)
        m.d.comb += [rows_next.eq(rows3), cur_next.eq(cur3)]
        with m.If(valid3 & ready4):
            with m.If(last_word):
                m.d.comb += [rows_next.eq(rows3 & ~lowest(rows3)), cur_next.eq(words3)]
            with m.Else():
                m.d.comb += cur_next.eq(cur3 & ~lowest(cur3))
        with m.If(ready3):
            m.d.comb += [rows_next.eq(rows2), cur_next.eq(_words(cols2, B, JM))]
            m.d.sync += [valid3.eq(valid2), cols3.eq(cols2), words3.eq(_words(cols2, B, JM)),
                         runs3.eq(_runs(cols2, B, JM)), ox3.eq(ox2), ckk3.eq(ckk2),
                         mag3.eq(mag2)]
            m.d.sync += [rowpos3[kk].eq(oy2[kk] << g.out_w_bits) for kk in range(KM)]
        m.d.sync += [rows3.eq(rows_next), cur3.eq(cur_next), ky1.eq(lowest(rows_next)),
                     j1.eq(lowest(cur_next)),
                     last3.eq(at_most_one(rows_next) & at_most_one(cur_next))]
        with m.If(self.flush):
            m.d.sync += [valid0.eq(0), valid1a.eq(0), valid1.eq(0), valid2.eq(0), valid3.eq(0),
                         valid4.eq(0)]
        return m

    def _lands(self, m, q, r, limit, name):
        """S2 of one coordinate: the mask of the kernel rows (columns) that land, from the
        quotient ``q`` and remainder ``r`` of the stride's division (:func:`landing`, a table
        per row), and each one's output row (column), below ``limit``."""
        KM, MB = MAX_KERNEL, self.map_bits
        NB = max(MB, 3) + 1
        s, k = self.geometry.stride, self.geometry.kernel
        mask = Signal(KM, name=f"{name}_mask")
        out = Signal(data.ArrayLayout(MB, KM), name=f"{name}_out")
        for kk in range(KM):
            ok = Signal(name=f"{name}{kk}_ok")
            delta = Signal(signed(4), name=f"{name}{kk}_delta")
            with m.Switch(Cat(r, s)):
                for stride in range(1, 8):
                    for rem in range(stride):
                        hit, offset = landing(rem, stride, kk)
                        if hit:
                            with m.Case(rem | stride << 3):
                                m.d.comb += [ok.eq(1), delta.eq(offset)]
            target = Signal(signed(NB + 3), name=f"{name}{kk}_target")
            m.d.comb += [target.eq(q + delta), out[kk].eq(target),
                         mask[kk].eq(ok & (kk < k) & (target >= 0) & (target < limit))]
        return mask, out

    def _slot(self, m, j1, row_base, cols3, ox3, runs3, out):
        """S3's slot onto ``out``: of word ``j1`` (one-hot) of the row whose first position is
        ``row_base``, the columns ``g`` (``kx = j * B + g``) that land, their positions
        (consecutive and falling with ``g``: the lowest is the last ``g`` that lands), the
        word's run, and for each bank the column whose position it holds."""
        KM, MB, B = MAX_KERNEL, self.map_bits, self.banks
        bB, JM = B.bit_length() - 1, -(-KM // B)
        lands, positions = [], []
        for gg in range(B):
            kx = [j_ * B + gg for j_ in range(JM)]
            hit = Signal(name=f"hit{gg}")
            position = Signal(2 * MB, name=f"position{gg}")
            m.d.comb += [
                hit.eq(one_hot_select(j1, [cols3[x] if x < KM else Const(0) for x in kx])),
                position.eq(row_base | one_hot_select(
                    j1, [ox3[x] if x < KM else Const(0, MB) for x in kx])),
            ]
            lands.append(hit)
            positions.append(position)
            with m.If(hit):
                m.d.comb += out.position.eq(position)
        m.d.comb += out.run.eq(one_hot_select(j1, list(runs3)))
        if B > 1:
            for bank in range(B):
                for gg in range(B):
                    with m.If(lands[gg] & (positions[gg][:bB] == bank)):
                        m.d.comb += out.select[bank].eq(gg)


def _words(cols, B: int, JM: int):
    """Of a kernel row's columns ``cols``, the words of ``B`` columns with one that lands."""
    return Cat(cols[j * B:(j + 1) * B].any() for j in range(JM))


def _runs(cols, B: int, JM: int):
    """Each word's run: as many consecutive positions as it has columns that land."""
    return Cat(((Const(1, B + 1) << sum(cols[x] if x < MAX_KERNEL else 0
                                         for x in range(j * B, (j + 1) * B))) - 1)[:B]
               for j in range(JM))
