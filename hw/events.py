"""The event buffer between layers, and its replay into integration events."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

from .layouts import event_entry, input_event
from .picker import LowestFirst, any_per_group

__all__ = ["EventBuffer"]


class EventBuffer(wiring.Component):
    """Two halves of events, one for the layer in integration and one for the next, with the
    replay that turns the current half's entries back into one event per cycle. A half holds
    ``Config.event_entries`` entries, the most a layer writes.

    An entry is (index, payload) (:func:`hw.layouts.event_entry`): for layer 0 one event
    (input group, ``K`` magnitudes), written as the encoder scan emits it, so that the other
    blocks of layer 0 replay it without a second scan; for a later layer the spikes of one
    neuron-update cycle (group of lane 0, ``U``-bit spike mask), so that the update never waits
    for its spikes to be written one by one. The replay expands a spike entry into one event
    per group of ``K`` neurons with a spike, lowest first.

    Writes are registered (address, entry and enable, one cycle later), so that the decision
    to write and the count's increment do not reach the block RAM's inputs in the same cycle.
    The counts advance at once: the count the replay reads in BLOCK is final. The one entry
    written in the cycle a replay reads it (entry 0 of the next layer, read in BLOCK) comes
    through the read port's transparency. The entry being expanded is held in a register and
    the read port already holds the next one, so that the block RAM's clock-to-output never
    reaches the decision to read.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    busy : 1, in
        The sequencer owns the read port (it reads address 0 while idle).
    layer0 : 1, in
        The layer in integration is layer 0 (its entries are single events).
    step : 1, in
        A timestep starts: the current half is half 0, both are empty.
    next_layer : 1, in
        The next layer becomes current: the halves swap, the new next half is emptied.
    block : 1, in
        The sequencer's BLOCK state: read the current half's first entry.
    replay : 1, in
        With ``block``: this block replays the current half (it is not the scan's).
    run : 1, in
        The block integrates replayed events (the sequencer's ACCUM state, no scan).
    scan : stream.Signature(input_event(EB, K)), in
        The encoder scan's events, written to the current half. Never in the same cycle as a
        spike entry (the scan feeds a step's first block only, when no spike entry is on its
        way): that entry would be lost.
    spikes_valid : 1, in; spikes_group : EB, in; spikes : U, in; spikes_one : 1, in
        One update cycle's spikes, written to the next half (``spikes_one``: a single group
        of ``K`` has a spike).
    event : stream.Signature(input_event(EB, K), always_ready=True), out
        The replayed events.
    done : 1, out
        No entry is left to replay.

    Latency: the first event two cycles after ``block``. Throughput: one event per cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        EB, K, U = config.event_bits, config.inputs_per_cycle, config.neuron_units
        super().__init__({
            "busy": In(1), "layer0": In(1),
            "step": In(1), "next_layer": In(1), "block": In(1), "replay": In(1), "run": In(1),
            "scan": In(stream.Signature(input_event(EB, K), always_ready=True)),
            "spikes_valid": In(1), "spikes_group": In(EB), "spikes": In(U), "spikes_one": In(1),
            "event": Out(stream.Signature(input_event(EB, K), always_ready=True)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        EB, K, U = cfg.event_bits, cfg.inputs_per_cycle, cfg.neuron_units
        UG = U // K                   # input groups per neuron-update cycle
        PW = max(8 * K, U)
        # The single-event flag: bit 0 of the index (always 0 there: lane 0's group is a
        # multiple of U / K) when U / K >= 2, else a field of its own.
        flag_in_index = UG >= 2
        entry = event_entry(EB, PW, flag_in_index)
        # A half holds the most entries a layer writes (Config.event_entries), EN bits of
        # address.
        EN = _clog2(cfg.event_entries)
        m.submodules.memory = memory = Memory(shape=entry, depth=2 << EN, init=[])
        wr = memory.write_port()
        rd = memory.read_port(transparent_for=(wr,))

        cur_sel = Signal()            # the current half
        count = Array(Signal(EN + 1, name=f"count{i}") for i in range(2))

        # -- writes ---------------------------------------------------------------------------
        write = Signal()
        write_sel = Signal()
        write_group = Signal(EB)
        write_payload = Signal(PW)
        write_one = Signal()
        with m.If(self.spikes_valid):
            m.d.comb += [write.eq(1), write_sel.eq(~cur_sel), write_group.eq(self.spikes_group),
                         write_payload.eq(self.spikes), write_one.eq(self.spikes_one)]
        with m.If(self.scan.valid):
            m.d.comb += [write.eq(1), write_sel.eq(cur_sel), write_group.eq(self.scan.p.group),
                         write_payload.eq(self.scan.p.magnitudes)]
        m.d.sync += [wr.addr.eq(Cat(count[write_sel][:EN], write_sel)),
                     wr.data.index.eq(write_group | (write_one if flag_in_index else 0)),
                     wr.data.payload.eq(write_payload), wr.en.eq(write)]
        if not flag_in_index:
            m.d.sync += wr.data.one.eq(write_one)
        for i in range(2):
            with m.If(write & (write_sel == i)):
                m.d.sync += count[i].eq(count[i] + 1)

        # -- replay -------------------------------------------------------------------------
        ptr = Signal(EN + 1)          # next entry to read
        have_next = Signal()          # the read port holds the next entry
        have = Signal()               # `held` holds an entry being expanded
        held = Signal(EB + PW)
        # At most one group of the entry is left: a register (as the scan's), so that the
        # decision to read the next entry starts from registers.
        last = Signal()
        # Entries still to read after ptr's: counted down, so that the decision to read does
        # not compare ptr with the count.
        todo = Signal(EN + 1)
        current = count[cur_sel]
        spikes = held[EB:EB + U]
        m.submodules.picker = picker = LowestFirst(UG)
        take_over = ~have | last
        m.d.comb += [
            picker.flags.eq(Mux(self.layer0, 1, any_per_group(spikes, K))),
            picker.load.eq(self.block | (self.run & take_over)),
            picker.take.eq(self.run & have & ~last),
        ]
        # A spike group's magnitudes are its spike bits (1 or 0 each).
        spike_mag = (Const(1, 8) if K == 1 else
                     Cat(Cat(spikes.word_select(picker.index, K)[j], Const(0, 7))
                         for j in range(K)))
        # The entry's group is a multiple of U / K and the picker's index is below it: OR, not
        # an adder.
        m.d.comb += [
            self.event.valid.eq(self.run & have),
            self.event.p.group.eq(held[:EB] | picker.index),
            self.event.p.magnitudes.eq(Mux(self.layer0, held[EB:EB + 8 * K], spike_mag)),
            self.done.eq(~have & ~have_next),
        ]
        read_addr = Signal.like(rd.addr)
        read_en = Signal()
        with m.If(self.block):
            m.d.sync += [ptr.eq(1), have_next.eq(self.replay & (current != 0)),
                         todo.eq(current - 1), have.eq(0)]
            m.d.comb += [read_addr.eq(Cat(Const(0, EN), cur_sel)), read_en.eq(1)]
        with m.If(self.run):
            with m.If(have & ~last):
                m.d.sync += last.eq(picker.last_after)
            # Take the next entry over when the current one is done (or none is held), and
            # read the one after it.
            with m.If(take_over):
                flag = rd.data.index[0] if flag_in_index else rd.data.one
                m.d.sync += [have.eq(have_next), held.eq(rd.data.as_value()[:EB + PW]),
                             last.eq(self.layer0 | flag)]
                if flag_in_index:
                    with m.If(~self.layer0):  # the index without the flag
                        m.d.sync += held[0].eq(0)
                with m.If(have_next & (todo != 0)):
                    m.d.comb += [read_addr.eq(Cat(ptr[:EN], cur_sel)), read_en.eq(1)]
                    m.d.sync += [ptr.eq(ptr + 1), todo.eq(todo - 1)]
                with m.Else():
                    m.d.sync += have_next.eq(0)
        with m.If(self.busy):
            m.d.comb += [rd.addr.eq(read_addr), rd.en.eq(read_en)]

        # -- halves ---------------------------------------------------------------------------
        with m.If(self.step):
            m.d.sync += [cur_sel.eq(0), count[0].eq(0), count[1].eq(0)]
        with m.If(self.next_layer):
            m.d.sync += [cur_sel.eq(~cur_sel), count[cur_sel].eq(0)]
        return m
