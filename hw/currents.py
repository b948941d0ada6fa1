"""The current memory of conv layers: the sums of the output positions a block's events reach
(``docs/architecture.md``, "Convolution")."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core.config import Config

__all__ = ["CurrentMemory"]


class CurrentMemory(wiring.Component):
    """``conv_positions`` words of ``conv_lanes`` signed sums: read-modify-write by the
    integration's slots, read and zeroed by the conv update, cleared while idle.

    A sum is stored in ``conv_acc_bits`` bits and read back sign-extended to ``acc_bits``:
    the additions wrap modulo ``2**conv_acc_bits``, which leaves the final sum exact when it
    fits (``Config.check_fits`` refuses a network whose currents may not).

    A slot's products arrive in the cycle after the integration pipeline named its position
    (``read_position``), together with the word read there; their sum is written back in the
    same cycle. The read port is transparent for the write port, so that a slot whose position
    is the one being written in the cycle it reads (the slot just before it: the channels of
    one input position reach the same output positions back to back) reads the new sum; no
    other slot is in flight between a read and its write.

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
    slot_valid : 1, in; slot_position : conv_position_bits, in
    acc : ArrayLayout(signed(acc_bits), lanes), in
        A slot's products (lanes ``0 .. conv_lanes - 1`` are added), its position.
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
            "acc": In(data.ArrayLayout(signed(A), config.lanes)),
            "update": In(1), "update_read": In(1), "update_position": In(PB),
            "word": Out(data.ArrayLayout(signed(A), PC)),
            "clear": In(1), "clearing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        CA, PC, depth = cfg.conv_acc_bits, cfg.conv_lanes, cfg.conv_positions
        m.submodules.memory = memory = Memory(shape=data.ArrayLayout(signed(CA), PC),
                                              depth=depth, init=[])
        wr = memory.write_port()
        rd = memory.read_port(transparent_for=(wr,))
        for k in range(PC):
            m.d.comb += self.word[k].eq(rd.data[k])   # sign-extended to acc_bits

        # Cleared after a reset (the register's reset value) and after `clear`.
        clearing = Signal(init=1)
        clear_addr = Signal(range(depth))
        m.d.comb += self.clearing.eq(clearing)
        zero_next = Signal()          # the update's word read last cycle is zeroed now
        zero_addr = Signal.like(self.update_position)
        m.d.sync += [zero_next.eq(self.update & self.update_read),
                     zero_addr.eq(self.update_position)]
        with m.If(clearing):
            m.d.comb += [wr.addr.eq(clear_addr), wr.en.eq(1)]
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == depth - 1):
                m.d.sync += clearing.eq(0)
        with m.Elif(self.update):
            m.d.comb += [rd.addr.eq(self.update_position), rd.en.eq(self.update_read),
                         wr.addr.eq(zero_addr), wr.en.eq(zero_next)]
        with m.Else():
            m.d.comb += [rd.addr.eq(self.read_position), rd.en.eq(1),
                         wr.addr.eq(self.slot_position), wr.en.eq(self.slot_valid)]
            for k in range(PC):
                m.d.comb += wr.data[k].eq(rd.data[k] + self.acc[k])  # modulo 2**CA
        with m.If(self.clear):
            m.d.sync += [clearing.eq(1), clear_addr.eq(0)]
        return m
