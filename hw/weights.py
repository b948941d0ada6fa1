"""The accelerator's weight memory: one word of ``K * P`` weights per event, to every lane.

The word read goes to all ``P`` lanes, across the whole chip, so the memory's own output
register holds it: the lanes' first logic then starts from a register next to the block RAM's
array instead of from the array's slow clock-to-output (``hw.ecp5``).
"""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .ecp5 import RAM_DEPTH, RAM_WIDTH, is_ecp5, registered_ram

__all__ = ["COLUMN_BITS", "WeightMemory"]

#: Bits per column: the memory is split into columns of this width, each as deep as the memory,
#: so that every column is one block RAM in its 9-bit shape (2K x 9 on the ECP5, 2K x 9 RAMB18
#: on the Artix-7) and no bank multiplexer follows the block RAMs. A memory of at most 1K words
#: outside the ECP5 has columns twice as wide (1K x 18 RAMB18s), so that no half of a block
#: RAM is left empty.
COLUMN_BITS = RAM_WIDTH


class WeightMemory(wiring.Component):
    """Simple dual-port memory of ``depth`` words of ``width`` bits with a registered output.

    Parameters
    ----------
    depth : int
        Words.
    width : int
        Bits per word.

    Ports
    -----
    r_addr : range(depth), in
        Word to read.
    r_data : width, out
        The word at ``r_addr`` two cycles earlier (the read, then the output register).
    w_addr : range(depth), in
        Word to write.
    w_data : width, in
        Data to write.
    w_en : 1, in
        Write ``w_data`` to ``w_addr`` this cycle.

    Latency: two cycles from ``r_addr`` to ``r_data``; a read of a word written in cycle ``c``
    returns the new data from ``r_addr`` in cycle ``c + 1`` on. The caller never reads a word
    in the cycle it writes it (that read's data is undefined on the ECP5). Throughput: one read
    and one write per cycle.

    On a Lattice ECP5 (``platform.family == "ecp5"``) with at most 2,048 words, each column is a
    ``DP16KD`` with its output register (``hw.ecp5.registered_ram``); elsewhere a column is an
    Amaranth ``Memory`` (:data:`COLUMN_BITS` wide, twice that for at most 1,024 words) and the
    output register is in the fabric.
    """

    def __init__(self, *, depth: int, width: int):
        for name, value in (("depth", depth), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} is {value!r}; it must be a positive integer")
        self.depth, self.width = depth, width
        super().__init__({
            "r_addr": In(range(depth)), "r_data": Out(width),
            "w_addr": In(range(depth)), "w_data": In(width), "w_en": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        block_rams = is_ecp5(platform) and self.depth <= RAM_DEPTH
        column_bits = COLUMN_BITS if block_rams or self.depth > 1024 else 2 * COLUMN_BITS
        for c, lo in enumerate(range(0, self.width, column_bits)):
            hi = min(lo + column_bits, self.width)
            if block_rams:
                data = registered_ram(m, r_addr=self.r_addr, w_addr=self.w_addr,
                                      w_data=self.w_data[lo:hi], w_en=self.w_en,
                                      name=f"column{c}")
                m.d.comb += self.r_data[lo:hi].eq(data)
                continue
            m.submodules[f"column{c}"] = column = Memory(shape=unsigned(hi - lo),
                                                         depth=self.depth, init=[])
            rd, wr = column.read_port(), column.write_port()
            data = Signal(hi - lo, name=f"column{c}_data", reset_less=True)
            m.d.sync += data.eq(rd.data)
            m.d.comb += [rd.addr.eq(self.r_addr), self.r_data[lo:hi].eq(data),
                         wr.addr.eq(self.w_addr), wr.data.eq(self.w_data[lo:hi]),
                         wr.en.eq(self.w_en)]
        return m
