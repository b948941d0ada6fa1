"""The read-out: the output layer's results, lane by lane, for the class and for the bus."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

from .layouts import count_word, membrane_word, result_word
from .neuron import Readout

__all__ = ["ReadoutScan", "result_entry"]


def result_entry(config: Config) -> wiring.Signature:
    """One output neuron's results on their way to the result queue (``Config.stream``)."""
    M = config.membrane_bits
    members = {"valid": Out(1), "index": Out(16), "time": Out(8),
               "potential": Out(signed(M)), "final": Out(signed(M))}
    if config.spike_count:
        members["count"] = Out(config.count_bits)
    return wiring.Signature(members)


class ReadoutScan(wiring.Component):
    """Feeds the output neurons' results to :class:`hw.neuron.Readout`, one per cycle, and
    selects one lane of the result and membrane words for the bus.

    The words read are registered whole before a lane is selected, and the selected lane again
    before the read-out, which compares it as it registers it, so that the memories'
    clock-to-output, the lane multiplexer and the comparisons sit in different cycles. The lane
    is a register: the read-out's while busy, the bus address's while idle (the result window
    is read when DONE), so that both share one multiplexer.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    busy : 1, in
    bus_lane : max(1, log2(U)), in
        The lane bits of the bus address (used while idle).
    membrane : ArrayLayout(membrane_word(M), U), in
    results : ArrayLayout(result_word(max_timesteps, M), U), in
        The memories' read data, one cycle after ``read_chunk``.
    counts : ArrayLayout(count_bits, U), in
        The count memory's read data, as ``results`` (only with ``config.spike_count``).
    n_classes : 16, in
    max_membrane : 1, in
        ``NET_READOUT``: 0 first spike, 1 max membrane.
    spike_count : 1, in
        ``NET_READOUT`` is spike_count (only with ``config.spike_count``).
    init : 1, in
        An inference starts (one aborted in the read-out may have left a neuron in flight).
    start : 1, in
        The read-out starts (clears the previous class).
    run : 1, in
        The sequencer's READOUT state: read the next neuron.
    read_chunk : max(1, log2(result_chunks)), out
        The memories' address while ``run`` (0 otherwise): the output layer's chunk.
    done : 1, out
        Every neuron was read and compared: ``cls`` is final.
    cls : 16, out
    time, potential, final : out
        The selected lane's first spike time (255 if it never fired), first potential (0 then)
        and final membrane, for the bus.
    count : count_bits, out
        The selected lane's spike count, for the bus (only with ``config.spike_count``).
    entry : out (only with ``config.stream``)
        Each output neuron's results as the read-out compares them, one per cycle, for the
        result queue (:class:`hw.inputs.InputQueue`): ``valid``, ``index`` (16), ``time`` (8),
        ``potential`` and ``final`` (signed M), ``count`` (count_bits, with
        ``config.spike_count``).

    Latency: ``done`` five cycles after the last neuron's read. Throughput: one neuron per
    cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        U, M = config.neuron_units, config.membrane_bits
        members = {
            "busy": In(1), "bus_lane": In(max(1, _clog2(U))),
            "membrane": In(data.ArrayLayout(membrane_word(M), U)),
            "results": In(data.ArrayLayout(result_word(config.max_timesteps, M), U)),
            "n_classes": In(16), "max_membrane": In(1),
            "init": In(1), "start": In(1), "run": In(1),
            "read_chunk": Out(max(1, _clog2(config.result_chunks))), "done": Out(1),
            "cls": Out(16),
            "time": Out(8), "potential": Out(signed(M)), "final": Out(signed(M)),
        }
        if config.spike_count:
            members.update(counts=In(count_word(config.count_bits, U)),
                           spike_count=In(1), count=Out(config.count_bits))
        if config.stream:
            members["entry"] = Out(result_entry(config))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        U, M = cfg.neuron_units, cfg.membrane_bits
        lane_bits = _clog2(U)
        n_bits = 16

        count_bits = cfg.count_bits if cfg.spike_count else 0
        m.submodules.readout = ro = Readout(M, n_bits, count_bits)
        index = Signal(n_bits + 1)    # the neuron read next
        have = Signal()               # a neuron was read
        # The read-out's clear, a register: set as the read-out starts, a cycle before the
        # first read, three before the read-out sees the first neuron.
        clear = Signal()
        m.d.sync += clear.eq(0)
        m.d.comb += [ro.clear.eq(clear), ro.max_membrane.eq(self.max_membrane),
                     self.cls.eq(ro.cls)]

        lane = Signal(range(max(2, U)))
        if U > 1:
            with m.If(~self.busy):
                m.d.sync += lane.eq(self.bus_lane)
        v_word = Signal(data.ArrayLayout(membrane_word(M), U), reset_less=True)
        r_word = Signal(data.ArrayLayout(result_word(cfg.max_timesteps, M), U),
                        reset_less=True)
        word_lane = Signal.like(lane)
        m.d.sync += [v_word.eq(self.membrane), r_word.eq(self.results), word_lane.eq(lane)]
        r_sel = r_word[word_lane] if U > 1 else r_word[0]
        v_sel = v_word[word_lane].v if U > 1 else v_word[0].v
        m.d.comb += [self.time.eq(Mux(r_sel.fired, r_sel.step, 255)),
                     self.potential.eq(Mux(r_sel.fired, r_sel.potential, 0)),
                     self.final.eq(v_sel)]
        if count_bits:
            c_word = Signal.like(self.counts, reset_less=True)
            m.d.sync += [c_word.eq(self.counts), ro.count.eq(self.count)]
            m.d.comb += [self.count.eq(c_word[word_lane] if U > 1 else c_word[0]),
                         ro.spike_count.eq(self.spike_count)]

        have_word = Signal()          # a neuron's words are in v_word and r_word
        word_index = Signal(n_bits)
        valid = Signal()
        held = Signal()               # the read-out holds a neuron it has not yet compared
        m.d.sync += [have_word.eq(have), word_index.eq(index - 1),
                     valid.eq(have_word), ro.index.eq(word_index),
                     ro.first_time.eq(self.time), ro.first_potential.eq(self.potential),
                     ro.final_v.eq(self.final), held.eq(valid)]
        m.d.comb += ro.valid.eq(valid)
        if cfg.stream:
            entry = self.entry
            m.d.comb += [entry.valid.eq(valid), entry.index.eq(ro.index),
                         entry.time.eq(ro.first_time), entry.potential.eq(ro.first_potential),
                         entry.final.eq(ro.final_v)]
            if count_bits:
                m.d.comb += entry.count.eq(ro.count)

        more = index < self.n_classes
        m.d.comb += self.done.eq(~more & ~have & ~have_word & ~valid & ~held)
        with m.If(self.run):
            m.d.comb += self.read_chunk.eq(index[lane_bits:])
            if U > 1:
                m.d.sync += lane.eq(index[:lane_bits])
            with m.If(more):
                m.d.sync += [index.eq(index + 1), have.eq(1)]
            with m.Else():
                m.d.sync += have.eq(0)
        with m.If(self.init):
            m.d.sync += [have.eq(0), have_word.eq(0)]
        with m.If(self.start):
            m.d.sync += [clear.eq(1), index.eq(0), have.eq(0)]
        return m
