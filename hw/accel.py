"""The event-driven spiking accelerator (``docs/numerics.md``, ``docs/memory-map.md``).

Architecture
------------
Per timestep and layer, the neurons are processed in *blocks* of ``P`` (``Config.lanes``).
The inputs form groups of ``K`` consecutive indices (``Config.inputs_per_cycle``). For a
block, every group with an input *event* (a nonzero magnitude this step) reads one word of the
weight memory, which holds the ``K * P`` weights of the group's inputs for the block, and
``P`` accumulator lanes add ``sum_j magnitude_j * weight_j`` in one cycle. Inputs without an
event cost nothing, so a layer costs about ``events * ceil(n_out / P)`` cycles per step
instead of ``n_in * T``. When a block has integrated its events, ``U`` neuron units per cycle
update its neurons against the membrane memory; the next block of the layer starts while the
update still has ``OVERLAP_CHUNKS`` chunks to go. The spikes of a layer feed the next layer in
the same timestep. Membrane and fired state read as zero at step 0, so nothing carries over
from one inference to the next and an abort simply returns to idle. ``core.perf`` gives the
exact cycle count of an inference from the golden model.

This module wires the components:

* :class:`hw.sequencer.Sequencer`: the inference's steps, layers and blocks, the current
  layer's registers, the status flags, CYCLES and CLASS;
* :class:`hw.registers.RegisterFile`: the bus, the network and layer registers, the reads;
* :class:`hw.scan.EncoderScan`: layer 0's events from the pixel memory, one per cycle;
* :class:`hw.events.EventBuffer`: the events between layers and their replay;
* :class:`hw.integration.IntegrationPipeline`: weight reads and the accumulator lanes;
* :class:`hw.update.NeuronUpdate`: leak, integrate, fire and reset, ``U`` neurons per cycle;
* :class:`hw.readout.ReadoutScan`: the class, and the result lane the bus reads;
* the weight memory (:class:`hw.weights.WeightMemory`), the pixel memory, the membrane memory
  and the result memory, whose read ports the sequencer drives while busy and the bus while
  idle;
* with ``Config.bias``, the bias memory, beside the membrane memory at its addresses; with
  ``Config.spike_count``, the count memory of the output neurons' spikes; with
  ``Config.stream``, :class:`hw.inputs.InputQueue` (the pixel memory in two halves, the
  compact input, the result slots) in place of the pixel memory. None exists without its
  option, so the default gateware is what it was before them;
* with ``Config.conv``, convolution layers (``docs/architecture.md``, "Convolution"): the
  replayed events go through :class:`hw.convaddr.ConvAddress` (the kernel positions that
  land) into the same lanes, whose products :class:`hw.currents.CurrentMemory` adds at their
  output positions, and :class:`hw.convupdate.ConvWalk` feeds the neuron update from it, map
  position by position (state CONV_UPDATE); the layers' membranes lie from per-layer bases.

Weight-memory layout: layer ``l`` occupies the words from its ``WEIGHT_ROW`` register on,
block-major then group-major: field ``j * P + k`` (bits ``(j*P + k)*wb ..``, two's complement,
``wb = Config.weight_bits``) of word ``WEIGHT_ROW + b * ceil(n_in / K) + g`` holds
``W[b*P + k, g*K + j]``. With ``K = 1`` this is word ``WEIGHT_ROW + b * n_in + i``, lane ``k``.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2

from . import bus
from .convaddr import ConvAddress
from .convupdate import ConvWalk
from .currents import CurrentMemory
from .events import EventBuffer
from .inputs import InputQueue
from .integration import IntegrationPipeline
from .layouts import bias_word, count_word, membrane_word, result_word
from .readout import ReadoutScan
from .registers import RegisterFile
from .scan import EncoderScan
from .sequencer import Sequencer, join
from .touched import TouchedPositions
from .update import NeuronUpdate, TraceSignature
from .weights import WeightMemory

__all__ = ["TraceSignature", "Accelerator"]


class Accelerator(wiring.Component):
    """The accelerator, seen through its register bus.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    bus : hw.bus.Signature(config.addr_width), in (target)
        Memory map of ``docs/memory-map.md``. Writes complete in one cycle, reads in four.
    irq : 1, out
        High while the DONE status flag is set (cleared by START or CLEAR).
    busy : 1, out
        An inference is running.
    trace : TraceSignature(config), out
        Only when ``config.trace`` is true.

    Throughput: one group of ``K`` inputs with an event per cycle per block of ``P`` neurons,
    ``U`` neuron updates per cycle, ``S`` pixels examined per cycle by the encoder.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        members = {
            "bus": In(bus.Signature(config.addr_width)),
            "irq": Out(1),
            "busy": Out(1),
        }
        if config.trace:
            members["trace"] = Out(TraceSignature(config))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        U, S, M, R = cfg.neuron_units, cfg.pixels_per_cycle, cfg.membrane_bits, cfg.region_bits
        chunk_bits = _clog2(cfg.chunks_per_layer)

        # -- components and memories --------------------------------------------------------
        m.submodules.registers = regs = RegisterFile(cfg)
        m.submodules.sequencer = seq = Sequencer(cfg)
        m.submodules.scan = scan = EncoderScan(cfg)
        m.submodules.event_buffer = events = EventBuffer(cfg)
        m.submodules.integration = integ = IntegrationPipeline(cfg)
        m.submodules.update = upd = NeuronUpdate(cfg)
        m.submodules.readout = ro = ReadoutScan(cfg)
        # The weight word two cycles after its address (the read, then the output register).
        m.submodules.weight_memory = wmem = WeightMemory(depth=cfg.weight_words,
                                                         width=cfg.word_bits)
        if cfg.stream:
            m.submodules.inputs = inq = InputQueue(cfg)
            p_rd, p_wr = _ReadPort(inq), inq.pixel_write
        else:
            # Small and wide: distributed RAM, so that the block RAMs go to the weights.
            m.submodules.pixels = pmem = Memory(shape=data.ArrayLayout(8, S),
                                                depth=cfg.pixel_rows, init=[],
                                                attrs={"ram_style": "distributed"})
            p_rd = pmem.read_port()
            p_wr = pmem.write_port(granularity=4)
        m.submodules.membrane = vmem = Memory(shape=data.ArrayLayout(membrane_word(M), U),
                                              depth=cfg.membrane_depth, init=[])
        v_rd = vmem.read_port()
        v_wr = vmem.write_port()
        m.submodules.results = rmem = Memory(
            shape=data.ArrayLayout(result_word(cfg.max_timesteps, M), U),
            depth=cfg.result_chunks, init=[])
        r_rd = rmem.read_port()
        r_wr = rmem.write_port(granularity=1)

        wiring.connect(m, wiring.flipped(self.bus), regs.bus)
        wiring.connect(m, regs.pixel_write, p_wr)
        net = regs.network
        addr = self.bus.addr
        busy, abort = seq.busy, regs.abort
        # The membrane memory's word of chunk `c` of the current layer, and of the output
        # layer (for the bus while idle): a block of chunks_per_layer words per layer, or with
        # conv from each layer's base (NET_MEMBRANE_BASE), the maps being of any size; for a
        # conv layer from its band's first word (the walk's chunks count from there).
        if cfg.conv:
            def membrane_address(chunk):
                return seq.band_base + chunk

            def output_address(chunk):
                return regs.membrane_base[(net.layers - 1)[:len(net.layers)]] + chunk
        else:
            def membrane_address(chunk):
                return Cat(chunk, seq.layer)

            def output_address(chunk):
                return Cat(chunk, net.layers - 1)

        # -- the components' wiring ---------------------------------------------------------
        layer0 = regs.layers[0]
        m.d.comb += [
            self.irq.eq(inq.ready if cfg.stream else seq.done), self.busy.eq(busy),

            seq.start.eq(inq.go if cfg.stream else regs.start), seq.abort.eq(abort),
            seq.clear.eq(regs.clear), seq.reject.eq(regs.reject),
            seq.network.eq(net), seq.layers.eq(regs.layers),

            regs.busy.eq(busy), regs.weight_word.eq(wmem.r_data), regs.pixel_word.eq(p_rd.data),
            regs.result_time.eq(ro.time), regs.result_potential.eq(ro.potential),
            regs.result_membrane.eq(ro.final),
            regs.cycles.eq(seq.cycles), regs.cls.eq(seq.result_class),
            regs.status.eq(seq.status),
            wmem.w_addr.eq(regs.weight_addr), wmem.w_data.eq(regs.weight_data),
            wmem.w_en.eq(regs.weight_en),

            scan.encoder.eq(net.encoder), scan.n_in.eq(layer0.n_in), scan.seed.eq(net.seed),
            scan.timesteps.eq(net.timesteps),
            scan.row_nonzero.eq(inq.row_nonzero if cfg.stream else regs.row_nonzero),
            scan.t.eq(seq.t), scan.more_steps.eq(seq.more_steps), scan.abort.eq(abort),
            scan.pixels.eq(p_rd.data),

            events.busy.eq(busy), events.layer0.eq(seq.layer == 0),
            events.spikes_valid.eq(upd.spikes_valid), events.spikes_group.eq(upd.spikes_group),
            events.spikes.eq(upd.spikes), events.spikes_one.eq(upd.spikes_one),

            # The block integrates the scan's events or the replayed ones, never both.
            integ.event.valid.eq(scan.event.valid | events.event.valid),
            integ.event.p.eq(Mux(scan.active, scan.event.p, events.event.p)),
            integ.row_base.eq(seq.row_base), integ.weights.eq(wmem.r_data),

            upd.acc.eq(integ.acc), upd.membrane.eq(v_rd.data), upd.layer.eq(seq.layer),
            upd.t.eq(seq.t), upd.mode.eq(seq.mode), upd.leak.eq(seq.leak),
            upd.threshold.eq(seq.threshold), upd.last.eq(seq.last), upd.vmin.eq(seq.vmin),
            upd.vmax.eq(seq.vmax), upd.busy.eq(busy), upd.abort.eq(abort),
            v_wr.addr.eq(membrane_address(upd.write_chunk)), v_wr.data.eq(upd.write_word),
            v_wr.en.eq(upd.write_en),
            r_wr.addr.eq(upd.write_chunk), r_wr.data.eq(upd.result), r_wr.en.eq(upd.result_en),

            ro.busy.eq(busy), ro.bus_lane.eq(addr), ro.membrane.eq(v_rd.data),
            ro.results.eq(r_rd.data), ro.n_classes.eq(seq.n_out),
            ro.max_membrane.eq(net.readout[0]),
        ]
        m.d.comb += events.scan.valid.eq(scan.event.valid), events.scan.p.eq(scan.event.p)
        # The sequencer starts and waits for each component through a handshake.
        for handshake, component in [(seq.scan, scan), (seq.events, events),
                                     (seq.integration, integ), (seq.update, upd),
                                     (seq.readout, ro)]:
            join(m, handshake, component)
        if cfg.trace:
            wiring.connect(m, wiring.flipped(self.trace), upd.trace)
        if cfg.conv:
            walk = self._conv_wiring(m, regs, seq, events, integ, upd, abort)

        # -- read ports: the sequencer drives them while busy, the bus while idle -----------
        seq_v_addr, seq_v_en = self._membrane_read(m, upd, ro, walk if cfg.conv else None,
                                                   membrane_address)
        if cfg.bias:
            self._bias_memory(m, regs, upd, seq_v_addr, seq_v_en, busy)
        if cfg.spike_count:
            self._count_memory(m, regs, upd, ro, busy)
        res_index = addr[:R - 2]
        # The output layer's chunk a result-window read names, widened to a membrane chunk
        # index: the window (sized by max_classes) may be narrower than a layer's chunks.
        bus_chunk = Signal(chunk_bits)
        m.d.comb += bus_chunk.eq(res_index[_clog2(U):])
        with m.If(busy):
            m.d.comb += [
                wmem.r_addr.eq(integ.weight_addr),
                p_rd.addr.eq(scan.pixel_addr), p_rd.en.eq(scan.pixel_en),
                v_rd.addr.eq(seq_v_addr), v_rd.en.eq(seq_v_en),
                r_rd.addr.eq(ro.read_chunk),
            ]
        with m.Else():
            m.d.comb += [
                wmem.r_addr.eq(addr[:cfg.addr_width - 1][_clog2(cfg.weight_stride):]),
                p_rd.addr.eq(addr[_clog2(S // 4):R]),
                v_rd.addr.eq(output_address(bus_chunk)),
                r_rd.addr.eq(res_index[_clog2(U):]),
            ]
        if cfg.stream:
            self._input_queue(m, regs, inq, ro, seq)
        return m

    def _membrane_read(self, m, upd, ro, walk, membrane_address):
        """The membrane memory's read address and enable while busy: the update's, the
        read-out's or (with conv) the walk's, whichever reads."""
        cfg = self.config
        chunk_bits = _clog2(cfg.chunks_per_layer)
        # The membrane memory's word of chunk `c` of the current layer, or the conv walk's
        # (a register, the band's base added).
        if cfg.conv:
            # each user's address is 0 unless it reads; the update's and the walk's carry the
            # band's base already (the adder before their multiplexers)
            seq_v_addr = Signal(range(cfg.membrane_depth))
            seq_v_en = Signal()
            ro_addr = Signal.like(seq_v_addr)
            with m.If(ro.run):
                m.d.comb += ro_addr.eq(membrane_address(ro.read_chunk))
            m.d.comb += [seq_v_addr.eq(upd.read_address | ro_addr | walk.read_address),
                         seq_v_en.eq(upd.read_en | ro.run | walk.read_en)]
        else:
            seq_v_chunk = Signal(chunk_bits)
            seq_v_en = Signal()
            m.d.comb += [seq_v_chunk.eq(upd.read_chunk | ro.read_chunk),
                         seq_v_en.eq(upd.read_en | ro.run)]
            seq_v_addr = membrane_address(seq_v_chunk)
        return seq_v_addr, seq_v_en

    def _conv_wiring(self, m, regs, seq, events, integ, upd, abort):
        """The conv hardware (``Config.conv``): the replayed events through the address
        generator into the integration, whose slots the current memory sums (and mark their
        positions touched), and the walk that feeds the neuron update from it, over every
        position or the touched ones (``walk.skip``, the sequencer's); the sequencer's conv
        ports. Returns the walk."""
        cfg = self.config
        m.submodules.conv_address = cgen = ConvAddress(
            index_bits=cfg.event_bits, map_bits=cfg.conv_map_bits, kernel_bits=16,
            banks=cfg.conv_banks)
        m.submodules.currents = cur = CurrentMemory(cfg)
        m.submodules.conv_walk = walk = ConvWalk(cfg)
        m.submodules.touched = touched = TouchedPositions(cfg)
        g, geom = cgen.geometry, seq.geometry
        m.d.comb += [
            seq.layer_bases.eq(regs.membrane_base), seq.address_ready.eq(cgen.event.ready),
            seq.address_idle.eq(cgen.idle), seq.clearing.eq(cur.clearing),
            g.kernel.eq(geom.kernel), g.stride.eq(geom.stride),
            g.padding.eq(geom.padding), g.c_bits.eq(geom.c_bits),
            g.w_bits.eq(geom.w_bits), g.out_w_bits.eq(geom.out_w_bits),
            g.band_first.eq(seq.band_first), g.band_rows.eq(seq.band_rows),
            g.out_width.eq(seq.out_width),
            cgen.event.valid.eq(events.event.valid & seq.conv),
            cgen.event.p.eq(events.event.p),
            cgen.pair.ready.eq(1), cgen.flush.eq(abort), walk.abort.eq(abort),
            integ.conv.eq(seq.conv), integ.pair.valid.eq(cgen.pair.valid),
            integ.pair.p.eq(cgen.pair.p),
            cur.read_position.eq(integ.read_position), cur.slot_valid.eq(integ.slot_valid),
            cur.slot_position.eq(integ.slot_position), cur.slot_run.eq(integ.slot_run),
            cur.acc.eq(integ.acc),
            cur.update.eq(seq.updating), cur.update_read.eq(walk.position_read),
            cur.update_position.eq(walk.position), cur.clear.eq(abort),
            walk.band_rows.eq(seq.band_rows), walk.band.eq(seq.band),
            walk.out_width.eq(seq.out_width), walk.out_w_bits.eq(geom.out_w_bits),
            walk.out_c_bits.eq(geom.out_c_bits), walk.block.eq(seq.block),
            walk.n_out.eq(seq.n_out), walk.word.eq(cur.word), walk.base.eq(seq.band_base),
            upd.base.eq(seq.band_base),
            touched.mark.eq(integ.slot_valid), touched.mark_position.eq(integ.slot_position),
            touched.mark_run.eq(integ.slot_run),
            touched.clear.eq(seq.block_start | abort),
            touched.start.eq(walk.start & walk.skip),
            walk.pick_valid.eq(touched.valid), walk.pick_position.eq(touched.position),
            walk.pick_compact.eq(touched.compact), touched.out_width.eq(seq.out_width),
            touched.out_w_bits.eq(geom.out_w_bits),
            touched.take.eq(walk.pick_take), walk.pick_empty.eq(touched.empty),
            upd.conv.eq(seq.conv), upd.feed_valid.eq(walk.feed_valid),
            upd.feed_chunk.eq(walk.feed_chunk), upd.feed_first.eq(walk.feed_first),
            upd.feed_mask.eq(walk.feed_mask), upd.feed_current.eq(walk.feed_current),
        ]
        join(m, seq.walk, walk)
        return walk

    def _input_queue(self, m, regs, inq, ro, seq):
        """``Config.stream``: the input queue between the register file and the scan, and
        the result slots that the bus reads in place of the read-out's lanes."""
        cfg = self.config
        m.d.comb += [
            inq.stream_en.eq(regs.stream_en), inq.stream_data.eq(regs.stream_data),
            inq.queue.eq(regs.queue), inq.pop.eq(regs.pop), inq.clear.eq(regs.clear),
            inq.busy.eq(seq.busy),
            inq.done.eq(seq.done), inq.cls.eq(seq.result_class), inq.cycles.eq(seq.cycles),
            regs.input_hold.eq(inq.hold), regs.input_block.eq(inq.block),
            regs.input_reject.eq(inq.reject),
            inq.result_index.eq(self.bus.addr[:InputQueue.index_bits(cfg)]),
            # The result window, CLASS and CYCLES show the oldest unread slot.
            regs.result_time.eq(inq.time), regs.result_potential.eq(inq.potential),
            regs.result_membrane.eq(inq.final), regs.cls.eq(inq.slot_cls),
            regs.cycles.eq(inq.slot_cycles),
            regs.status[4:].eq(Cat(inq.queued, inq.ready, inq.full)),
        ]
        # REJECTED stays set until CLEAR: the starts that the queue makes by itself do not
        # clear it, so that the host sees a dropped input write or START in a later STATUS.
        rejected = Signal()
        with m.If(regs.reject):
            m.d.sync += rejected.eq(1)
        with m.Elif(regs.clear):
            m.d.sync += rejected.eq(0)
        m.d.comb += regs.status[3].eq(rejected)
        wiring.connect(m, ro.entry, inq.entry)
        if cfg.spike_count:
            m.d.comb += regs.result_count.eq(inq.count)

    def _bias_memory(self, m, regs, upd, seq_addr, seq_en, busy):
        """The bias memory (``Config.bias``): beside the membrane memory, at its addresses, so
        that a chunk's biases reach the neuron units with its membranes; written and read by
        the bus through the bias window while idle."""
        cfg = self.config
        m.submodules.biases = bmem = Memory(
            shape=bias_word(cfg.membrane_bits, cfg.neuron_units),
            depth=cfg.membrane_depth, init=[])
        b_rd = bmem.read_port()
        wiring.connect(m, regs.bias_write, bmem.write_port(granularity=1))
        lane_bits = _clog2(cfg.neuron_units)
        m.d.comb += [upd.biases.eq(b_rd.data), regs.bias_data.eq(b_rd.data),
                     b_rd.addr.eq(Mux(busy, seq_addr, self.bus.addr[lane_bits:])),
                     b_rd.en.eq(~busy | seq_en)]

    def _count_memory(self, m, regs, upd, ro, busy):
        """The output neurons' spike counts (``Config.spike_count``): read and written by the
        update (read-modify-write), read by the read-out and, while idle, by the bus."""
        cfg = self.config
        U, R = cfg.neuron_units, cfg.region_bits
        m.submodules.counts = cmem = Memory(shape=count_word(cfg.count_bits, U),
                                            depth=cfg.result_chunks, init=[])
        c_rd = cmem.read_port()
        c_wr = cmem.write_port()
        bus_chunk = self.bus.addr[:R - 2][_clog2(U):]
        m.d.comb += [c_rd.addr.eq(Mux(busy, Mux(ro.run, ro.read_chunk, upd.count_chunk),
                                      bus_chunk)),
                     c_wr.addr.eq(upd.write_chunk), c_wr.data.eq(upd.count_word),
                     c_wr.en.eq(upd.count_en),
                     upd.counts.eq(c_rd.data), ro.counts.eq(c_rd.data),
                     ro.spike_count.eq(regs.network.readout[1]),
                     regs.result_count.eq(ro.count)]


class _ReadPort:
    """The input queue's pixel read port under the names of a memory read port."""

    def __init__(self, inq):
        self.addr, self.en, self.data = inq.read_addr, inq.read_en, inq.read_data
