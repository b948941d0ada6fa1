"""The current memory of conv layers: the sums of the output positions a block's events reach
(``docs/architecture.md``, "Convolution")."""

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core.config import Config

__all__ = ["CurrentMemory"]


def _bank_word(position, b: int, bank_bits: int):
    """Of the ``2**bank_bits`` consecutive positions from ``position``, the one in bank ``b``
    (position modulo the banks): its word in the bank, and its offset from ``position``."""
    low = position[:bank_bits]
    return (position >> bank_bits) + (low > b), (b - low)[:bank_bits]


class CurrentMemory(wiring.Component):
    """``conv_positions`` words of ``conv_lanes`` signed sums: read-modify-write by the
    integration's slots, read and zeroed by the conv update, cleared while idle.

    With ``conv_banks = B > 1`` the words lie in ``B`` banks of ``conv_positions / B`` words
    in distributed RAM, position ``q`` at word ``q div B`` of bank ``q mod B``: a slot writes
    up to ``B`` consecutive positions (``slot_run``), one in each bank, bank ``b`` adding the
    lanes ``b * conv_lanes ..`` (``hw.integration`` routes each bank's kernel column there).

    A sum is stored in ``conv_acc_bits`` bits and read back sign-extended to ``acc_bits``:
    the additions wrap modulo ``2**conv_acc_bits``, which leaves the final sum exact when it
    fits (``Config.check_fits`` refuses a network whose currents may not).

    A slot's products arrive in the cycle after the integration pipeline named its position
    (``read_position``), together with the word read there; their sum is written back in the
    same cycle. The read sees the write of the cycle it reads, so that a slot whose position
    is the one being written then (the slot just before it: the channels of one input
    position reach the same output positions back to back) reads the new sum; no other slot
    is in flight between a read and its write. One bank is block RAM with a read port
    transparent for the write port; banks in distributed RAM register the address and read
    asynchronously in the next cycle, after the write (a block RAM's read-during-write
    without the bypass that Yosys would build for a transparent distributed-RAM port).

    The conv update reads a word (``update_read``), which stays on ``word`` until its next
    read, and zeroes it the cycle after, so that the memory is zero again for the next block
    and step. After a reset and after ``clear`` (an abort may leave partial sums) every word
    is zeroed, one per cycle, while ``clearing`` is high; the sequencer starts no inference
    meanwhile.

    Parameters
    ----------
    config : core.config.Config
        With ``conv``.

    Ports
    -----
    read_position : conv_position_bits, in
        The integration's position read this cycle (``hw.integration``, stage B).
    slot_valid : 1, in; slot_position : conv_position_bits, in; slot_run : conv_banks, in
    acc : ArrayLayout(signed(acc_bits), lanes), in
        A slot's products (lanes ``b * conv_lanes .. (b + 1) * conv_lanes - 1`` are added at
        the position of bank ``b``), its lowest position, and which of the positions from it
        it writes (bit ``i``: ``slot_position + i``).
    update : 1, in
        The conv update owns the read port (no slot is in flight).
    update_read : 1, in; update_position : conv_position_bits, in
        Read a word for the update (and zero it in the next cycle).
    word : ArrayLayout(signed(acc_bits), conv_lanes), out
        The word read, from the cycle after its read until the next read.
    clear : 1, in
        Zero every word (after an abort).
    clearing : 1, out

    Latency: a read's word one cycle later. Throughput: one slot per cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        if not config.conv:
            raise ValueError("the current memory exists only with conv")
        self.config = config
        A, PC, PB = config.acc_bits, config.conv_lanes, config.conv_position_bits
        super().__init__({
            "read_position": In(PB), "slot_valid": In(1), "slot_position": In(PB),
            "slot_run": In(config.conv_banks),
            "acc": In(data.ArrayLayout(signed(A), config.lanes)),
            "update": In(1), "update_read": In(1), "update_position": In(PB),
            "word": Out(data.ArrayLayout(signed(A), PC)),
            "clear": In(1), "clearing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        depth = cfg.conv_positions // cfg.conv_banks

        # Cleared after a reset (the register's reset value) and after `clear`: each word is
        # written as itself plus its complement plus one (`_sum`), read first.
        clearing = Signal(init=1)
        clear_addr = Signal(range(depth + 1))
        last_clear = depth if cfg.conv_banks == 1 else depth - 1
        m.d.comb += self.clearing.eq(clearing)
        zero_next = Signal()          # the update's word read last cycle is zeroed now
        zero_addr = Signal.like(self.update_position)
        m.d.sync += [zero_next.eq(self.update & self.update_read),
                     zero_addr.eq(self.update_position)]
        with m.If(clearing):
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == last_clear):
                m.d.sync += clearing.eq(0)
        if cfg.conv_banks == 1:
            self._block_ram(m, depth, clearing, clear_addr, zero_next, zero_addr)
        else:
            self._banks(m, depth, clearing, clear_addr, zero_next, zero_addr)
        with m.If(self.clear):
            m.d.sync += [clearing.eq(1), clear_addr.eq(0)]
        return m

    def _sum(self, m, read, write, b, clearing):
        """Bank ``b``'s sums, modulo ``2**conv_acc_bits``: its word (``read``'s data) plus the
        slot's products, or zero while clearing and updating, onto ``write``'s data."""
        CA, PC = self.config.conv_acc_bits, self.config.conv_lanes
        # The zeros of the clear and of the update come out of the same adder, as the word
        # plus its two's complement (~word + 1), so that the adder's LUT takes the choice and
        # no gate follows it. Yosys puts the operand whose wire name sorts first on the carry
        # chain's DI inputs: the memory's word, free there, as long as the read port's data
        # keeps Amaranth's `$` name and the addend has a name; the other way round each bit
        # takes a LUT more (eight banks of 16 lanes: 6,900 against 4,852 LUT;
        # tests/boards/test_lut_mapping.py).
        adding = ~clearing & ~self.update
        for k in range(PC):
            word = read.data[k].as_unsigned()
            addend = Signal(CA, name=f"addend{b}_{k}")
            m.d.comb += [addend.eq(Mux(adding, self.acc[b * PC + k][:CA], ~word)),
                         write.data[k].eq(word + addend + ~adding)]

    def _block_ram(self, m, depth, clearing, clear_addr, zero_next, zero_addr):
        """One bank: a block RAM whose read port is transparent for its write port. The port
        reads a cycle ahead, so the clear writes word ``clear_addr - 1``; a four-state
        simulator (Icarus) sees no undefined port data that way, only the memory's zero
        initial contents or what an aborted inference left."""
        cfg = self.config
        memory = Memory(shape=data.ArrayLayout(signed(cfg.conv_acc_bits), cfg.conv_lanes),
                        depth=depth, init=[])
        m.submodules.memory = memory
        wr = memory.write_port()
        rd, = [memory.read_port(transparent_for=(wr,))]   # unnamed, as `_sum` needs it
        with m.If(clearing):
            m.d.comb += [rd.addr.eq(clear_addr), rd.en.eq(clear_addr != depth),
                         wr.addr.eq(clear_addr - 1), wr.en.eq(clear_addr != 0)]
        with m.Elif(self.update):
            m.d.comb += [rd.addr.eq(self.update_position), rd.en.eq(self.update_read),
                         wr.addr.eq(zero_addr), wr.en.eq(zero_next)]
        with m.Else():
            m.d.comb += [rd.addr.eq(self.read_position), rd.en.eq(1),
                         wr.addr.eq(self.slot_position),
                         wr.en.eq(self.slot_valid & self.slot_run[0])]
        self._sum(m, rd, wr, 0, clearing)
        # The word the update read, from the cycle after its read until the next read (the
        # port holds it while disabled), sign-extended to acc_bits.
        for k in range(cfg.conv_lanes):
            m.d.comb += self.word[k].eq(rd.data[k])

    def _banks(self, m, depth, clearing, clear_addr, zero_next, zero_addr):
        """``conv_banks`` banks in distributed RAM. A bank registers its address and reads
        asynchronously in the next cycle, after the write of the cycle before: the
        transparency of one bank's block RAM port, without the bypass that Yosys would build
        for a transparent distributed-RAM port."""
        CA, PC, B = self.config.conv_acc_bits, self.config.conv_lanes, self.config.conv_banks
        bB = B.bit_length() - 1
        reads = []
        for b in range(B):
            memory = Memory(shape=data.ArrayLayout(signed(CA), PC), depth=depth, init=[],
                            attrs={"ram_style": "distributed"})
            m.submodules[f"bank{b}"] = memory
            wr = memory.write_port()
            reads.append(memory.read_port(domain="comb"))   # unnamed, as `_sum` needs it
            rd = reads[-1]
            address = Signal(range(depth), name=f"read_addr{b}")
            m.d.comb += rd.addr.eq(address)
            with m.If(clearing):
                m.d.comb += [wr.addr.eq(clear_addr), wr.en.eq(1)]
            with m.Elif(self.update):
                with m.If(self.update_read):
                    m.d.sync += address.eq(self.update_position >> bB)
                m.d.comb += [wr.addr.eq(zero_addr >> bB),
                             wr.en.eq(zero_next & (zero_addr[:bB] == b))]
            with m.Else():
                write_addr, offset = _bank_word(self.slot_position, b, bB)
                m.d.sync += address.eq(_bank_word(self.read_position, b, bB)[0])
                m.d.comb += [wr.addr.eq(write_addr),
                             wr.en.eq(self.slot_valid & self.slot_run.bit_select(offset, 1))]
            self._sum(m, rd, wr, b, clearing)

        # The word the update read, from the cycle after its read until the next read: the
        # bank's port, whose word is zeroed in that cycle, then a register of it.
        update_bank = Signal(bB)
        fresh = Signal()
        held = Signal(data.ArrayLayout(signed(CA), PC))
        read = Signal(data.ArrayLayout(signed(CA), PC))
        m.d.sync += fresh.eq(self.update & self.update_read)
        with m.If(self.update & self.update_read):
            m.d.sync += update_bank.eq(self.update_position[:bB])
        # Four banks in a LUT6 each, then the last choice in one LUT with `fresh`'s: Yosys
        # builds a multiplexer of eight from four LUT3s, MUXF7s and a MUXF8, a LUT a bit more.
        quads = []
        for q in range(0, B, 4):
            quad = Signal(data.ArrayLayout(signed(CA), PC), name=f"quad{q // 4}")
            m.d.comb += quad.eq(Array(rd.data for rd in reads[q:q + 4])[update_bank[:2]])
            quads.append(quad)
        m.d.comb += read.eq(quads[0] if B <= 4 else Array(quads)[update_bank[2:]])
        with m.If(fresh):
            m.d.sync += held.eq(read)
        for k in range(PC):
            m.d.comb += self.word[k].eq(Mux(fresh, read[k], held[k]))
