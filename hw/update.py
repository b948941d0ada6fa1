"""The neuron update: a block's accumulated currents into membranes, spikes and results."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2
from core.schedule import OVERLAP_CHUNKS

from .layouts import LAYER_MODE, bias_word, count_word, membrane_word, result_word
from .neuron import LeakScale, NeuronUnit
from .picker import any_per_group, at_most_one

__all__ = ["TraceSignature", "NeuronUpdate"]


class TraceSignature(wiring.Signature):
    """Trace record of ``U`` neurons, one per neuron-update cycle (co-simulation only).

    Members (all out)
    -----------------
    valid : 1
        A record this cycle.
    layer : 4
    step : 8
    index : 16
        Neuron index of lane 0.
    mask : U
        Lane ``k`` holds a real neuron (``index + k < n_out``).
    spikes : U
        Spike of lane ``k`` in this step.
    membrane : U * M
        Membrane potential after the reset of lane ``k``, signed, bits ``kM+M-1 : kM``.
    """

    def __init__(self, config: Config):
        U, M = config.neuron_units, config.membrane_bits
        super().__init__({
            "valid": Out(1), "layer": Out(4), "step": Out(8), "index": Out(16),
            "mask": Out(U), "spikes": Out(U), "membrane": Out(U * M),
        })


class NeuronUpdate(wiring.Component):
    """Updates a block's neurons ``U`` at a time (a *chunk*) against the membrane memory.

    Five stages: the chunk's membrane word is at the memory's read port and is registered with
    the chunk's currents (stage 1), so that the block RAM's clock-to-output and the leak
    multiplier sit in different cycles; stage 2 multiplies for the leak; stage 3 rounds the
    leak and adds the current; stage 4 saturates and tests the threshold; stage 5 fires,
    resets and writes back (:class:`hw.neuron.NeuronUnit` with latency 4). Each stage carries
    its chunk's membrane word, first neuron and real lanes, so that the next block of the layer
    may start integrating while the last chunks of this one are still in the pipeline.

    Stage 5 commits whatever the sequencer's state: the membrane word, the results of the output
    layer (first spike time and potential, written at step 0 and at a neuron's first spike), and
    the spikes of any other layer as one event-buffer entry, registered before it is written so
    that the spike decision and the event buffer's write multiplexers sit in different cycles.

    With ``config.bias`` the bias memory's word, read with the membrane word, enters the units
    with it, and each unit forms ``I + b`` in stage 2 beside the leak's multiplier (stage 3's
    sum stays one addition, wide enough not to wrap, before the one saturation). With
    ``config.spike_count`` the output layer's counts are read from the count memory at the
    chunk of stage 4 and written back in stage 5 with the step's spikes added. Neither costs a
    cycle.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    acc : ArrayLayout(signed(acc_bits), P), in
        The integration lanes' sums (``hw.integration``); sampled from stage 1.
    membrane : ArrayLayout(membrane_word(M), U), in
        The membrane memory's read data, one cycle after ``read_chunk``.
    layer : 4, in; t : 8, in
        The layer and the step (membrane and fired state read as zero at step 0). The step may
        change only while no chunk is in the stages, and at least a cycle before ``start``.
    mode : LAYER_MODE, in; leak : 8, in; threshold : signed(M), in; last : 1, in
        The layer's registers (``last``: the output layer). Static while a block updates.
    vmin, vmax : signed(M), in
        Saturation bounds of the network's membrane width.
    busy : 1, in
        An inference runs (nothing is committed after an abort).
    load : 1, in; n_out : 16, in
        A layer starts: its first block is neurons ``0 .. P - 1`` of ``n_out``.
    start : 1, in
        The block has integrated its events: update it.
    abort : 1, in
    running : 1, out
        Chunks of the block are still being read.
    more_blocks : 1, out
        The layer has a block after this one.
    near_end : 1, out
        At most ``OVERLAP_CHUNKS`` chunks are left to read.
    drained : 1, out
        Nothing is in the stages, but for an output layer's last commit (which completes this
        cycle) or a spike entry on its way to the event buffer.
    read_chunk : chunk_bits, out; read_en : 1, out
        The membrane memory's read port.
    write_chunk : chunk_bits, out; write_word : ArrayLayout(membrane_word(M), U), out;
    write_en : 1, out
        The membrane memory's write port (and the result memory's address).
    result : ArrayLayout(result_word(max_timesteps, M), U), out; result_en : U, out
        The result memory's write data and lane enables.
    spikes_valid, spikes_group, spikes, spikes_one : out
        The registered spike entry (``hw.events.EventBuffer``).
    biases : ArrayLayout(signed(M), U), in
        The bias memory's read data, read at the membrane memory's address (only with
        ``config.bias``): each lane's bias joins its current in the neuron unit.
    count_chunk : chunk_bits, out; counts : ArrayLayout(count_bits, U), in
        The count memory's read port (only with ``config.spike_count``): the chunk a cycle
        before it commits, and its counts a cycle later, read as zero at step 0.
    count_word : ArrayLayout(count_bits, U), out; count_en : 1, out
        The count memory's write port (address ``write_chunk``): the counts plus this step's
        spikes, written with every commit of the output layer.
    trace : TraceSignature(config), out
        Only when ``config.trace``.
    conv : 1, in
        Only with ``config.conv``: the layer is a convolution; its chunks come from the conv
        update's ``feed_*`` instead of a block's accumulators (``start`` is not used).
    base : 16, in; read_address : 16, out
        Only with ``config.conv``: the membrane memory's word of the layer's (or band's)
        first chunk, static while a block updates, and ``base + read_chunk`` (0 while not
        reading), both sums formed from registers before the multiplexer that ``start``
        drives, so that no adder follows the sequencer's decision.
    pending : 1, out
        Only with ``config.conv``: the chunk committed this cycle leaves a neuron with
        ``v >= threshold`` that fire-once does not silence (it may fire in the next step
        without any current).
    feed_valid : 1, in; feed_chunk : chunk_bits, in; feed_first : 17, in; feed_mask : U, in;
    feed_current : ArrayLayout(signed(acc_bits), U), in
        Only with ``config.conv``: a chunk whose membrane word is at the read port this cycle
        (read by the conv update the cycle before), its first neuron, its real lanes and
        their currents.

    Latency: a chunk commits five cycles after its read. Throughput: ``U`` neurons per cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        P, U, M = config.lanes, config.neuron_units, config.membrane_bits
        A, EB = config.acc_bits, config.event_bits
        chunk_bits = _clog2(config.chunks_per_layer)
        members = {
            "acc": In(data.ArrayLayout(signed(A), P)),
            "membrane": In(data.ArrayLayout(membrane_word(M), U)),
            "layer": In(4), "t": In(8),
            "mode": In(LAYER_MODE), "leak": In(8), "threshold": In(signed(M)), "last": In(1),
            "vmin": In(signed(M)), "vmax": In(signed(M)),
            "busy": In(1), "load": In(1), "n_out": In(16), "start": In(1), "abort": In(1),
            "running": Out(1), "more_blocks": Out(1), "near_end": Out(1), "drained": Out(1),
            "read_chunk": Out(chunk_bits), "read_en": Out(1),
            "write_chunk": Out(chunk_bits),
            "write_word": Out(data.ArrayLayout(membrane_word(M), U)), "write_en": Out(1),
            "result": Out(data.ArrayLayout(result_word(config.max_timesteps, M), U)),
            "result_en": Out(U),
            "spikes_valid": Out(1), "spikes_group": Out(EB), "spikes": Out(U),
            "spikes_one": Out(1),
        }
        if config.bias:
            members["biases"] = In(bias_word(M, U))
        if config.spike_count:
            counts = count_word(config.count_bits, U)
            members.update(count_chunk=Out(chunk_bits), counts=In(counts),
                           count_word=Out(counts), count_en=Out(1))
        if config.trace:
            members["trace"] = Out(TraceSignature(config))
        if config.conv:
            members.update(conv=In(1), pending=Out(1), base=In(16), read_address=Out(16),
                           feed_valid=In(1),
                           feed_chunk=In(chunk_bits),
                           feed_first=In(17), feed_mask=In(U),
                           feed_current=In(data.ArrayLayout(signed(A), U)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        P, U, K = cfg.lanes, cfg.neuron_units, cfg.inputs_per_cycle
        M = cfg.membrane_bits
        CPL = cfg.chunks_per_layer
        chunks_per_block = P // U
        n_bits = 16

        # The layer's leak as one product for every unit (hw.neuron.leak_constants), a cycle
        # behind the mode and leak registers: the first update comes at least two cycles later.
        m.submodules.leak_scale = leak_scale = LeakScale(M)
        scale = Signal(M + 1)
        bias = Signal(M)
        m.d.comb += [leak_scale.lif.eq(self.mode.lif), leak_scale.factor.eq(self.mode.factor),
                     leak_scale.leak.eq(self.leak)]
        m.d.sync += [scale.eq(leak_scale.scale), bias.eq(leak_scale.bias)]

        chunk_base = Signal(range(CPL + 1))   # membrane word of the block's first chunk
        neuron_base = Signal(n_bits + 1)      # index of the block's first neuron
        n_left = Signal(n_bits + 1)           # neurons of the layer from neuron_base on
        chunk = Signal(range(chunks_per_block + 1))     # chunk at the membrane read port
        upd_left = Signal(range(chunks_per_block + 1))  # chunks of the block after `chunk`
        upd_have = Signal()
        more_blocks = Signal()
        v_next = Signal.like(chunk_base)      # the chunk read next (no adder before the port)
        chunk_first = Signal(n_bits + 1)
        m.d.comb += chunk_first.eq(neuron_base + chunk * U)
        # Neurons of the layer from the chunk's first on: lane k is real when it exceeds k.
        # A register counted down by U per chunk, so that the lanes' comparisons start from a
        # register instead of two subtractions.
        chunk_left = Signal(signed(n_bits + 2))
        acc_chunks = Array(Cat(self.acc[c * U + k] for k in range(U))
                           for c in range(chunks_per_block))
        acc_chunk = Signal(data.ArrayLayout(signed(cfg.acc_bits), U))
        m.d.comb += acc_chunk.eq(acc_chunks[chunk])
        m.d.comb += [self.running.eq(upd_have), self.more_blocks.eq(more_blocks),
                     self.near_end.eq(upd_left <= OVERLAP_CHUNKS)]

        def stage(n):
            return (Signal(name=f"s{n}_valid"), Signal.like(chunk_base, name=f"s{n}_chunk"),
                    Signal.like(chunk_first, name=f"s{n}_first"), Signal(U, name=f"s{n}_mask"))
        s2, s3, s4, s5 = stage(2), stage(3), stage(4), stage(5)
        m.d.sync += [a.eq(b) for a, b in zip(s3 + s4 + s5, s2 + s3 + s4)]
        s2_valid, s2_chunk, s2_first, s2_mask = s2
        s5_valid, s5_chunk, s5_first, s5_mask = s5
        m.d.sync += s2_valid.eq(0)
        with m.If(self.abort):
            m.d.sync += [s2_valid.eq(0), s3[0].eq(0), s4[0].eq(0), s5_valid.eq(0)]
        m.d.comb += self.drained.eq(~upd_have & ~s2_valid & ~s3[0] & ~s4[0]
                                    & (self.last | ~s5_valid))

        # The step and whether it is step 0, in registers beside the units: the step counter
        # (far away, with a large fan-out) then reaches no unit in the cycle it is read. A cycle
        # late is early enough: the step changes as a timestep starts, when no chunk is in the
        # stages, and the first chunk of the step is read several cycles later.
        t = Signal(8)
        first_step = Signal()
        m.d.sync += [t.eq(self.t), first_step.eq(self.t == 0)]
        spikes = Signal(U)
        mask = Signal(U)
        first_fire = Signal(U)
        current = acc_chunk
        lane_real = Cat(chunk_left > k for k in range(U))
        if cfg.conv:
            # A conv layer's chunk comes with its own currents and real lanes.
            current = Signal.like(acc_chunk)
            m.d.comb += [current.eq(Mux(self.conv, self.feed_current, acc_chunk)),
                         mask.eq(Mux(self.conv, self.feed_mask, lane_real))]
            with m.If(self.conv & self.feed_valid):
                m.d.sync += [s2_valid.eq(1), s2_chunk.eq(self.feed_chunk),
                             s2_first.eq(self.feed_first), s2_mask.eq(self.feed_mask)]
        else:
            m.d.comb += mask.eq(lane_real)
        self._units(m, current, mask, first_step, scale, bias, t, spikes, first_fire)

        commit = Signal()
        m.d.comb += [commit.eq(s5_valid & self.busy), self.write_chunk.eq(s5_chunk),
                     self.write_en.eq(commit)]
        with m.If(commit & self.last):
            m.d.comb += self.result_en.eq(Mux(first_step, Const(-1, U), first_fire))
        if cfg.spike_count:
            self._count(m, commit, spikes, first_step, s4[1])
        if cfg.conv:
            # A committed neuron that may fire in the next step without any current.
            m.d.comb += self.pending.eq(commit & Cat(
                s5_mask[k] & (self.write_word[k].v >= self.threshold)
                & ~(self.mode.fire_once & self.write_word[k].fired) for k in range(U)).any())
        m.d.sync += [self.spikes_valid.eq(commit & ~self.last & (spikes != 0)),
                     self.spikes_group.eq(s5_first >> _clog2(K)), self.spikes.eq(spikes),
                     self.spikes_one.eq(at_most_one(any_per_group(spikes, K)))]
        if cfg.trace:
            tr = self.trace
            m.d.comb += [
                tr.valid.eq(commit), tr.layer.eq(self.layer), tr.step.eq(t),
                tr.index.eq(s5_first), tr.mask.eq(s5_mask), tr.spikes.eq(spikes),
                tr.membrane.eq(Cat(self.write_word[k].v for k in range(U))),
            ]

        # One chunk per cycle from `start` on; the next block of the layer may start meanwhile.
        with m.If(upd_have):
            m.d.sync += [chunk.eq(chunk + 1), chunk_left.eq(chunk_left - U),
                         upd_left.eq(upd_left - 1),
                         s2_valid.eq(1), s2_chunk.eq(chunk_base + chunk),
                         s2_first.eq(chunk_first), s2_mask.eq(mask)]
            with m.If(upd_left != 0):
                m.d.comb += [self.read_chunk.eq(v_next), self.read_en.eq(1)]
                m.d.sync += v_next.eq(v_next + 1)
            with m.Else():
                m.d.sync += upd_have.eq(0)
                with m.If(more_blocks):
                    m.d.sync += [chunk_base.eq(chunk_base + chunks_per_block),
                                 neuron_base.eq(neuron_base + P), n_left.eq(n_left - P)]
        if cfg.conv:
            first_address, next_address = Signal(16), Signal(16)
            m.d.comb += [first_address.eq(self.base + chunk_base),
                         next_address.eq(self.base + v_next)]
            with m.If(upd_have & (upd_left != 0)):
                m.d.comb += self.read_address.eq(next_address)
            with m.If(self.start):
                m.d.comb += self.read_address.eq(first_address)
        with m.If(self.start):
            m.d.comb += [self.read_chunk.eq(chunk_base), self.read_en.eq(1)]
            # ceil(n / U) - 1 chunks after the first, for the block's n neurons
            m.d.sync += [
                chunk.eq(0), upd_have.eq(1), chunk_left.eq(n_left), more_blocks.eq(n_left > P),
                v_next.eq(chunk_base + 1),
                upd_left.eq(Mux(n_left >= P, chunks_per_block - 1,
                                (n_left - 1) >> _clog2(U))),
            ]
        with m.If(self.load):
            m.d.sync += [chunk_base.eq(0), neuron_base.eq(0), n_left.eq(self.n_out)]
        with m.If(self.abort):
            m.d.sync += [upd_have.eq(0), self.spikes_valid.eq(0)]
        return m

    def _units(self, m, current, mask, first_step, scale, bias, t, spikes, first_fire):
        """The ``neuron_units`` neuron units of a chunk: the membranes read (zero at step 0),
        the ``current`` and real lanes (``mask``) in; the words written back, the spikes, the
        first spikes (``first_fire``) and the result lanes out."""
        cfg = self.config
        M, U = cfg.membrane_bits, cfg.neuron_units
        for k in range(U):
            unit = NeuronUnit(M, cfg.acc_bits, latency=4, has_bias=cfg.bias)
            m.submodules[f"unit{k}"] = unit
            if cfg.bias:
                m.d.comb += unit.neuron_bias.eq(self.biases[k])
            old = self.membrane[k]
            m.d.comb += [
                unit.v.eq(Mux(first_step, 0, old.v)),
                unit.fired.eq(~first_step & old.fired),
                unit.current.eq(current[k]),
                unit.valid.eq(mask[k]),
                unit.scale.eq(scale), unit.bias.eq(bias),
                unit.reset.eq(self.mode.reset), unit.fire_once.eq(self.mode.fire_once),
                unit.threshold.eq(self.threshold),
                unit.vmin.eq(self.vmin), unit.vmax.eq(self.vmax),
                spikes[k].eq(unit.spike),
                self.write_word[k].v.eq(unit.v_next),
                self.write_word[k].fired.eq(unit.fired_next),
                first_fire[k].eq(unit.spike & ~unit.fired_used),
                # A lane that did not spike (written only at step 0) stores a clear flag.
                self.result[k].fired.eq(unit.spike),
                self.result[k].step.eq(t),
                self.result[k].potential.eq(unit.p),
            ]

    def _count(self, m, commit, spikes, first_step, s4_chunk):
        """The output layer's spike counts, read-modify-write: the count memory is read at the
        chunk of stage 4, so that its counts arrive as the chunk commits in stage 5 (no stage
        carries them). A chunk's count is read and written once per step, far apart, so the
        read never meets a write to its own address."""
        U = self.config.neuron_units
        m.d.comb += [self.count_chunk.eq(s4_chunk), self.count_en.eq(commit & self.last)]
        for k in range(U):
            m.d.comb += self.count_word[k].eq(Mux(first_step, 0, self.counts[k]) + spikes[k])
