"""The integration pipeline: events to weight reads to the accumulator lanes."""

from amaranth.hdl import Array, Cat, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from core.config import Config
from core.schedule import CONV_SLOT_STAGES, PIPE_DRAIN

from .lanes import GROUP_LANES, LaneGroup
from .layouts import conv_pair, input_event

__all__ = ["IntegrationPipeline"]


class IntegrationPipeline(wiring.Component):
    """``P`` accumulator lanes adding ``sum_j magnitude_j * W[lane, group * K + j]`` for one
    input group per cycle.

    Stages: E (the weight address is registered, so that the event's selection and the weight
    read sit in different cycles), A (the weight memory's read), W (its output register), G
    (the lane groups register the word again next to their multipliers, so that the routing
    from the block RAM rows to the DSP rows has a cycle of its own), B (products), C
    (accumulate). A ``clear`` travels down the same stages as an event without one and clears
    the accumulators when it reaches them, ahead of the block's first event: until then they
    hold the previous block's sums, for the neuron update that finishes meanwhile.

    The lanes are grouped by the neuron unit that reads them (unit ``k`` updates lanes ``k``,
    ``k + U``, ...), so that a unit's multiplexer gathers from one or two groups instead of
    from every group across the chip.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    event : stream.Signature(input_event(EB, K), always_ready=True), in
    clear : 1, in
        Start a block: its clear slot enters the pipeline.
    row_base : 16, in
        Weight-memory word of the block's first input group.
    weight_addr : range(weight_words), out
    weights : config.word_bits, in
        The weight memory's word, two cycles after ``weight_addr`` (``hw.weights``).
    acc : ArrayLayout(signed(acc_bits), P), out
        The lanes' sums.
    empty : 1, out
        No event or clear is in the stages before the last: the neuron update may sample the
        accumulators from the next cycle on.
    conv : 1, in
        Only with ``config.conv``: the layer is a convolution. Events come from ``pair``
        (one kernel word and output position per cycle, ``hw.convaddr``) instead of
        ``event``, and each lane's accumulator holds its slot's product alone (restart),
        which the current memory adds at the slot's position (``hw.currents``). Static while
        events flow.
    pair : stream.Signature(conv_pair(map_bits, 16, conv_banks), always_ready=True), in
        Only with ``config.conv``: the address generator's slots. With ``conv_banks = B >
        1`` the lanes ``b * conv_lanes ..`` of bank ``b`` take the weights of the word's
        column ``select[b]`` (a multiplexer before the lane groups' registers), so that each
        bank's products lie on its own lanes.
    read_position : conv_position_bits, out
        Only with ``config.conv``: the lowest position of the slot whose products are formed
        this cycle (the current memory reads its banks, so that their words arrive with them).
    slot_valid : 1, out; slot_position : conv_position_bits, out; slot_run : conv_banks, out
        Only with ``config.conv``: a slot's products are in ``acc`` this cycle, for the
        output positions ``slot_position + i`` of the set bits ``i`` of ``slot_run``.
    conv_empty : 1, out
        Only with ``config.conv``: no slot is in any stage (the current memory has every
        sum).

    Latency: :attr:`depth` cycles from an event to ``acc`` (plus the accumulation).
    Throughput: one input group per cycle.
    """

    #: Stages an event or clear spends before the accumulation (E, A, W, G, B); the cycle
    #: model (``core.perf``) counts the same number.
    depth = PIPE_DRAIN

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        members = {
            "event": In(stream.Signature(input_event(config.event_bits,
                                                     config.inputs_per_cycle),
                                         always_ready=True)),
            "clear": In(1), "row_base": In(16),
            "weight_addr": Out(range(config.weight_words)), "weights": In(config.word_bits),
            "acc": Out(data.ArrayLayout(signed(config.acc_bits), config.lanes)),
            "empty": Out(1),
        }
        if config.conv:
            members.update(
                conv=In(1),
                pair=In(stream.Signature(conv_pair(config.conv_map_bits, 16,
                                                   config.conv_banks),
                                         always_ready=True)),
                read_position=Out(config.conv_position_bits), slot_valid=Out(1),
                slot_position=Out(config.conv_position_bits),
                slot_run=Out(config.conv_banks), conv_empty=Out(1))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        P, U, K = cfg.lanes, cfg.neuron_units, cfg.inputs_per_cycle
        WB, A = cfg.weight_bits, cfg.acc_bits

        valid_e, valid_a, valid_w, valid_g = (Signal(name=f"valid_{s}") for s in "eawg")
        mag_e, mag_a, mag_w = (Signal(8 * K, name=f"mag_{s}", reset_less=True) for s in "eaw")
        clear_e, clear_a, clear_w = (Signal(name=f"clear_{s}") for s in "eaw")
        w_addr_e = Signal.like(self.weight_addr, reset_less=True)
        m.d.sync += [valid_e.eq(self.event.valid),
                     w_addr_e.eq(self.row_base + self.event.p.group),
                     mag_e.eq(self.event.p.magnitudes), clear_e.eq(self.clear),
                     valid_a.eq(valid_e), mag_a.eq(mag_e), clear_a.eq(clear_e),
                     valid_w.eq(valid_a), mag_w.eq(mag_a), clear_w.eq(clear_a),
                     valid_g.eq(valid_w | clear_w)]
        weights = self.weights
        if cfg.conv:
            weights = self._conv_slots(m, valid_e, w_addr_e, mag_e, valid_w)
        m.d.comb += self.weight_addr.eq(w_addr_e)
        stages = [valid_e | clear_e, valid_a | clear_a, valid_w | clear_w, valid_g]
        assert len(stages) + 1 == self.depth  # and B, whose product the update may overlap
        m.d.comb += self.empty.eq(~Cat(stages).any())

        order = sorted(range(P), key=lambda lane: (lane % U, lane))
        for g, first in enumerate(range(0, P, GROUP_LANES)):
            # A group builds its first lanes, as many as it has below dsp_lanes, for DSP slices
            # (the same lanes when a group holds lanes of one unit, P / U >= GROUP_LANES).
            lanes = order[first:first + GROUP_LANES]
            group = LaneGroup(lanes=len(lanes), inputs_per_cycle=K, weight_bits=WB,
                              acc_bits=A,
                              dsp_lanes=sum(lane < cfg.dsp_lanes for lane in lanes),
                              restart=cfg.conv)
            m.submodules[f"lane_group{g}"] = group
            if cfg.conv:
                m.d.comb += group.restart.eq(self.conv)
            m.d.comb += [
                group.mag.eq(mag_w), group.valid.eq(valid_w), group.clear.eq(clear_w),
                # Input j of the event: lane l's weight is field j * P + l of the word.
                group.weights.eq(Cat(weights[(j * P + lane) * WB:(j * P + lane + 1) * WB]
                                     for j in range(K) for lane in lanes)),
            ]
            for k, lane in enumerate(lanes):
                m.d.comb += self.acc[lane].eq(group.acc[k * A:(k + 1) * A])
        return m

    def _conv_slots(self, m, valid_e, w_addr_e, mag_e, valid_w):
        """A conv layer's slots: the pair's kernel word and magnitude enter stage E instead of
        an event's, and its positions travel beside the stages to the cycle its products are
        in the accumulators (E, A, W, G, B, C: the lane group registers ``valid`` twice
        before its product and accumulates it a cycle later); its banks' columns reach the
        weight word in stage W. Returns the word the lanes take."""
        cfg = self.config
        pair = self.pair
        with m.If(self.conv):
            m.d.sync += [valid_e.eq(pair.valid), w_addr_e.eq(self.row_base + pair.p.kernel),
                         mag_e.eq(pair.p.magnitude)]
        names = "eawgbc"
        assert len(names) == CONV_SLOT_STAGES  # the cycle model counts the same stages
        slot = data.StructLayout({"valid": 1, "position": cfg.conv_position_bits,
                                  "run": cfg.conv_banks})
        stage = {n: Signal(slot, name=f"slot_{n}") for n in names}
        m.d.sync += [stage["e"].valid.eq(pair.valid & self.conv),
                     stage["e"].position.eq(pair.p.position), stage["e"].run.eq(pair.p.run)]
        for before, after in zip(names, names[1:]):
            m.d.sync += stage[after].eq(stage[before])
        m.d.comb += [self.read_position.eq(stage["b"].position),
                     self.slot_valid.eq(stage["c"].valid),
                     self.slot_position.eq(stage["c"].position),
                     self.slot_run.eq(stage["c"].run),
                     self.conv_empty.eq(~Cat(s.valid for s in stage.values()).any())]
        B, PC, WB = cfg.conv_banks, cfg.conv_lanes, cfg.weight_bits
        if B == 1:
            return self.weights
        # Bank b's lanes take the column select[b] of the word: the selects of stages E, A, W,
        # plain bits (an ArrayLayout register's elements are named `select_w[b]`, which
        # Yosys 0.70's abc9 takes for bit b of `select_w` when both meet at its boundary).
        sb = (B - 1).bit_length()
        select = {n: Signal(B * sb, name=f"select_{n}") for n in "eaw"}
        m.d.sync += [select["e"].eq(pair.p.select), select["a"].eq(select["e"]),
                     select["w"].eq(select["a"])]
        column = PC * WB
        columns = [self.weights[g * column:(g + 1) * column] for g in range(B)]
        routed = Signal(cfg.word_bits)
        m.d.comb += routed.eq(self.weights)
        with m.If(self.conv):
            m.d.comb += routed[:B * column].eq(
                Cat(Array(columns)[select["w"][b * sb:(b + 1) * sb]] for b in range(B)))
        return routed
