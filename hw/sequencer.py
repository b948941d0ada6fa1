"""The accelerator's sequencer: the inference's timesteps, layers and blocks (``hw.accel``)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from core.config import Config, _clog2, kernel_row_words
from core.schedule import SETUP_CYCLES

from .layouts import CONV_MODE, LAYER_MODE, layer_params, network_params

__all__ = ["Sequencer", "join"]


def _handshake(strobes, inputs):
    """The sequencer's side of its control of one component: ``strobes`` (name: shape) out,
    ``inputs`` (name: shape) in, each named as the component's port."""
    return wiring.Signature({**{name: Out(shape) for name, shape in strobes.items()},
                             **{name: In(shape) for name, shape in inputs.items()}})


def join(m, handshake, component):
    """Wire one of the sequencer's handshakes to ``component``'s like-named ports: the
    handshake's outputs drive them, its inputs read them (combinationally)."""
    for name, member in handshake.signature.members.items():
        port, peer = getattr(handshake, name), getattr(component, name)
        m.d.comb += peer.eq(port) if member.flow == Out else port.eq(peer)


class Sequencer(wiring.Component):
    """The sequencer of an inference: its timesteps, its layers and their blocks, the read-out.

    It holds the inference's state (BUSY and the status flags, CYCLES, CLASS, the step ``t``
    and the layer) and the current layer's registers, loaded from the register file's layer
    registers when the layer starts, and starts and waits for the components through one
    handshake each (:func:`join` wires one to the component's like-named ports).

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    start : 1, in
        CONTROL.START (with ``config.stream`` the input queue's start).
    abort : 1, in
        CONTROL.ABORT: back to IDLE from any state; the next start reinitializes all.
    clear, reject : 1, in
        CONTROL.CLEAR (clears DONE, ABORTED, REJECTED) and a write refused while busy (sets
        REJECTED).
    network : network_params(L, spike_count), in
        The register file's network registers.
    layers : ArrayLayout(layer_params(M, conv), L), in
        The register file's layer registers.
    layer_bases : ArrayLayout(16, L), in (only with ``config.conv``)
        Each layer's first membrane-memory word (``NET_MEMBRANE_BASE``).
    busy, done : 1, out
        An inference runs; it has finished (the DONE flag).
    status : 4, out
        STATUS's BUSY, DONE, ABORTED, REJECTED; BUSY also while a START waits for the current
        memory's clear (conv).
    cycles : 32, out
        Cycles since START (the CYCLES register); counts while busy.
    result_class : 16, out
        The class of the last inference (the CLASS register).
    t : 8, out
        The timestep.
    more_steps : 1, out
        A step follows step ``t`` (``t + 1 < T``): a register, set where ``t`` is, so that the
        decision to read out does not wait for a comparison.
    layer : max(1, ceil(log2(L))), out
        The current layer.
    vmin, vmax : signed(M), out
        The membrane's bounds at the network's ``NET_MEMBRANE_BITS``.
    n_out, threshold, mode, leak : 16, signed(M), LAYER_MODE, 8, out
        The current layer's registers: its neurons, threshold, mode and leak.
    last : 1, out
        The current layer is the output layer.
    row_base : 16, out
        The weight row of the current block.
    conv, geometry, out_width, block : 1, CONV_MODE, 16, 16, out (only with ``config.conv``)
        The current layer is a convolution, its geometry, its output map's width and its
        block of output channels.
    band, band_first, band_rows : 16, out (only with ``config.conv``)
        The band of output rows being integrated: its index, first row and rows (the rows a
        cycle after the first row: a band's walk starts in the cycle after its BLOCK at the
        earliest and registers its last row a cycle later).
    band_base : 16, out (only with ``config.conv``)
        The membrane memory's word of the band's first chunk.
    updating : 1, out (only with ``config.conv``)
        In CONV_UPDATE (the current memory reads for the walk).
    block_start : 1, out (only with ``config.conv``)
        A conv block's BLOCK cycle (the touched positions are forgotten).
    address_ready, address_idle : 1, in (only with ``config.conv``)
        The conv address generator takes an event; it has no event left.
    clearing : 1, in (only with ``config.conv``)
        The current memory is clearing (after a reset or an abort).
    scan : out; init, step, block, finish out, ready, first_block, active, done in
        :class:`hw.scan.EncoderScan`'s control.
    events : out; step, next_layer, block, replay, run out, done in
        :class:`hw.events.EventBuffer`'s control.
    integration : out; clear out, empty (and conv_empty with conv) in
        :class:`hw.integration.IntegrationPipeline`'s control.
    update : out; load, start, n_out (16) out, running, more_blocks, near_end, drained (and
        pending with conv) in
        :class:`hw.update.NeuronUpdate`'s control: ``n_out`` with ``load``.
    readout : out; init, start, run out, done, cls (16) in
        :class:`hw.readout.ReadoutScan`'s control.
    walk : out; start, skip out, running, feed_valid in (only with ``config.conv``)
        :class:`hw.convupdate.ConvWalk`'s control; ``skip``: only the touched positions.

    States (every state but IDLE returns to IDLE on ``abort``, which sets ABORTED):

    * IDLE: on ``start`` (with conv, once the current memory is cleared) initializes the
      inference, the scan and the read-out; BUSY one cycle after ``start``.
    * SETUP: ``SETUP_CYCLES`` cycles, for the registers derived from the network and the
      pixels to settle.
    * STEP: a timestep, once the scan is ready: layer 0's registers, the event buffer's step.
    * BLOCK: one cycle; starts a block's integration (the scan or the replay).
    * ACCUM: until the block's events are integrated, then starts the update (dense) or the
      walk (conv); a conv layer 0's scan only fills the event buffer.
    * CONV_UPDATE: until the walk and the update are drained, then the next band, the next
      block of output channels, or the layer's end.
    * UPDATE: the next block starts while the update still has ``OVERLAP_CHUNKS`` chunks to
      go; after the last block, the layer's end.
    * A layer's end: the next layer (BLOCK), the next step (STEP) or READOUT.
    * READOUT: until the read-out is done; FINISH: CLASS, BUSY cleared, DONE set (one cycle).

    Latency: BUSY one cycle after ``start``, STEP ``SETUP_CYCLES`` cycles later; each state
    moves on one cycle after its condition, and DONE and CLASS follow READOUT's end by two
    (FINISH). The handshakes' strobes and ``status`` are combinational (from the state and the
    inputs); every other output is a register. ``core.perf`` counts each state's cycles.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        L, M, conv = config.max_layers, config.membrane_bits, config.conv
        members = {
            "start": In(1), "abort": In(1), "clear": In(1), "reject": In(1),
            "network": In(network_params(L, config.spike_count)),
            "layers": In(data.ArrayLayout(layer_params(M, conv), L)),
            "busy": Out(1), "done": Out(1), "status": Out(4),
            "cycles": Out(32), "result_class": Out(16),
            "t": Out(8), "more_steps": Out(1), "layer": Out(max(1, _clog2(L))),
            "vmin": Out(signed(M)), "vmax": Out(signed(M)),
            "n_out": Out(16), "threshold": Out(signed(M)), "mode": Out(LAYER_MODE),
            "leak": Out(8), "last": Out(1), "row_base": Out(16),
            "scan": Out(_handshake(dict(init=1, step=1, block=1, finish=1),
                                   dict(ready=1, first_block=1, active=1, done=1))),
            "events": Out(_handshake(dict(step=1, next_layer=1, block=1, replay=1, run=1),
                                     dict(done=1))),
            "integration": Out(_handshake(dict(clear=1),
                                          dict(empty=1, **(dict(conv_empty=1) if conv
                                                           else {})))),
            "update": Out(_handshake(dict(load=1, start=1, n_out=16),
                                     dict(running=1, more_blocks=1, near_end=1, drained=1,
                                          **(dict(pending=1) if conv else {})))),
            "readout": Out(_handshake(dict(init=1, start=1, run=1), dict(done=1, cls=16))),
        }
        if conv:
            members.update(
                layer_bases=In(data.ArrayLayout(16, L)),
                conv=Out(1), geometry=Out(CONV_MODE), out_width=Out(16), block=Out(16),
                band=Out(16), band_first=Out(16), band_rows=Out(16), band_base=Out(16),
                updating=Out(1), block_start=Out(1),
                address_ready=In(1), address_idle=In(1), clearing=In(1),
                walk=Out(_handshake(dict(start=1, skip=1), dict(running=1, feed_valid=1))))
        super().__init__(members)

    def _band_registers(self, m, out_height):
        """The band's rows and what the next band needs, in registers derived every cycle
        from the band's first row and the layer's registers: ``band_rows`` a cycle after
        ``band_first`` changes (the walk's last row, a register of it, is read two cycles
        after a band's BLOCK at the earliest, when its ACCUM has no event), the others a cycle
        later, read once the band's walk has drained, so that no adder or comparison of them
        sits in a state's transition.
        Returns ``(next_first, more_rows, stride, more_blocks, groups)``, ``groups`` the
        weight words of a block (a cycle after the layer's geometry)."""
        cfg, U = self.config, self.config.neuron_units
        geometry = self.geometry
        # a band's rows: the current memory's (conv_positions >> out_w_bits) or what is left
        full = Const(cfg.conv_positions, 17) >> geometry.out_w_bits
        left = Signal(16)
        next_first, stride, groups = Signal(16), Signal(16), Signal(16)
        more_rows, more_blocks = Signal(), Signal()
        m.d.comb += left.eq(out_height - self.band_first)
        m.d.sync += [
            self.band_rows.eq(Mux(left > full, full, left)),
            next_first.eq(self.band_first + self.band_rows),
            more_rows.eq(left > self.band_rows),
            # the next band's words follow the band's (conv_positions >> out_w_bits rows of
            # out_width positions of 2**out_c_bits / U words)
            stride.eq(((self.out_width << _clog2(cfg.conv_positions)) >> geometry.out_w_bits)
                      << (geometry.out_c_bits - _clog2(U)).as_unsigned()),
            more_blocks.eq(((self.block + 1) << _clog2(cfg.conv_lanes))
                           < (1 << geometry.out_c_bits)),
            # a conv block's kernel words: k * KW per input channel of the padded map, KW =
            # ceil(k / conv_banks) words a kernel row (Config.kernel_row_words)
            groups.eq((geometry.kernel * kernel_row_words(geometry.kernel, cfg.conv_banks))
                      << geometry.c_bits),
        ]
        return next_first, more_rows, stride, more_blocks, groups

    def _enter_band(self, band, first):
        """Band ``band``, from output row ``first`` (its rows follow, ``_band_registers``)."""
        return [self.band.eq(band), self.band_first.eq(first)]

    def _load_layer(self, m, index, groups, out_height, pend_acc):
        """Layer ``index``'s registers into the current layer's; ``groups``: the weight words
        of a dense layer's block; ``out_height``: the output map's height (conv)."""
        cfg, K = self.config, self.config.inputs_per_cycle
        params = self.layers[index]
        m.d.comb += [self.update.load.eq(1), self.update.n_out.eq(params.n_out)]
        m.d.sync += [
            groups.eq((params.n_in + K - 1) >> _clog2(K)), self.n_out.eq(params.n_out),
            self.threshold.eq(params.threshold), self.mode.eq(params.mode),
            self.leak.eq(params.leak), self.last.eq(index == self.network.layers - 1),
            self.row_base.eq(params.row),
        ]
        if cfg.conv:
            geometry = params.conv
            m.d.sync += [self.conv.eq(geometry.conv), self.geometry.eq(geometry),
                         pend_acc.eq(0), self.band_base.eq(self.layer_bases[index]),
                         out_height.eq(params.out_height), self.out_width.eq(params.out_width),
                         self.block.eq(0),
                         *self._enter_band(0, 0)]

    def _conv_update(self, m, band_next, pending, pend_acc, layer_done):
        """CONV_UPDATE: once the walk and the update are drained, the block's next band of
        rows, else the layer's next block of output channels, else the layer's end
        (``layer_done``), recording whether the layer left a neuron pending. ``band_next``:
        ``_band_registers``'s."""
        next_first, more_rows, stride, more_blocks, groups = band_next
        layer = self.layer
        m.d.comb += self.updating.eq(1)
        with m.If(~self.walk.running & ~self.walk.feed_valid & self.update.drained):
            with m.If(more_rows):
                # the block's next band of rows: the step's events again
                m.d.sync += [self.band_base.eq(self.band_base + stride),
                             *self._enter_band(self.band + 1, next_first)]
                m.next = "BLOCK"
            with m.Elif(more_blocks):
                m.d.sync += [self.block.eq(self.block + 1),
                             self.row_base.eq(self.row_base + groups),
                             self.band_base.eq(self.layer_bases[layer]),
                             *self._enter_band(0, 0)]
                m.next = "BLOCK"
            with m.Else():
                m.d.sync += pending.bit_select(layer, 1).eq(pend_acc)
                layer_done()

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        M, L = cfg.membrane_bits, cfg.max_layers
        net, layer, t, abort = self.network, self.layer, self.t, self.abort
        scan, events, integ, upd, ro = (self.scan, self.events, self.integration, self.update,
                                        self.readout)
        busy, done = self.busy, self.done
        aborted = Signal()
        rejected = Signal()
        groups = Signal(16)           # ceil(n_in / K): weight words per block
        setup_wait = Signal(range(SETUP_CYCLES))
        out_height = Signal(16)       # the current conv layer's output map's
        start_pending = Signal()
        # Skipping (docs/architecture.md, "Skipping neurons that cannot change"): per layer,
        # whether its last update left a neuron that may fire without current (then the next
        # step visits every position), accumulated over the layer's commits.
        pending = Signal(L)
        pend_acc = Signal()

        m.d.comb += self.status.eq(Cat(busy | start_pending, done, aborted, rejected))
        with m.If(self.clear):
            m.d.sync += [done.eq(0), aborted.eq(0), rejected.eq(0)]
        with m.If(self.reject):
            m.d.sync += rejected.eq(1)
        with m.If(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        if cfg.conv:
            # Not at step 0, whose update reads v as 0 and writes every position for step 1
            # to read, unless it is the only step (then nothing reads what it leaves).
            m.d.comb += self.walk.skip.eq(self.geometry.skip & ((t != 0) | ~self.more_steps)
                                          & ~pending.bit_select(layer, 1))
            m.d.sync += pend_acc.eq(pend_acc | upd.pending)
            band_next = self._band_registers(m, out_height)

        def layer_done():
            """The layer's last block is done: next layer, next step or the read-out, whose
            parameters and events wait for the whole pipeline."""
            with m.If(~self.last):
                m.d.comb += events.next_layer.eq(1)
                m.d.sync += layer.eq(layer + 1)
                self._load_layer(m, layer + 1, groups, out_height, pend_acc)
                m.next = "BLOCK"
            with m.Elif(self.more_steps):
                m.d.sync += [t.eq(t + 1), self.more_steps.eq(t + 2 < net.timesteps)]
                m.next = "STEP"
            with m.Else():
                m.d.comb += ro.start.eq(1)
                m.next = "READOUT"

        def abortable():
            # Called last in every state, so that the abort overrides the state's own
            # transition.
            with m.If(abort):
                m.next = "IDLE"

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                go = self.start
                if cfg.conv:
                    # After a reset or an abort the current memory is cleared first; a START
                    # meanwhile waits (and reads as BUSY).
                    go = self.start | start_pending
                    m.d.sync += start_pending.eq(go & self.clearing)
                with m.If(go & (~self.clearing if cfg.conv else 1)):
                    # 2**(M-1) - 1 and its complement, as a thermometer code
                    upper = Cat(Const(i) < net.membrane_bits - 1 for i in range(M))
                    m.d.comb += [scan.init.eq(1), ro.init.eq(1)]
                    m.d.sync += [busy.eq(1), done.eq(0), aborted.eq(0), rejected.eq(0),
                                 self.cycles.eq(0), t.eq(0), pending.eq(0),
                                 self.more_steps.eq(net.timesteps > 1),
                                 self.vmax.eq(upper), self.vmin.eq(~upper),
                                 setup_wait.eq(SETUP_CYCLES - 1)]
                    m.next = "SETUP"
            with m.State("SETUP"):
                # Let the registers derived from the network and the pixels (the scan's mask
                # and first row) settle after the host's last write.
                m.d.sync += setup_wait.eq(setup_wait - 1)
                with m.If(setup_wait == 0):
                    m.next = "STEP"
                abortable()
            with m.State("STEP"):
                # A new timestep: layer 0, event buffers empty, once the hybrid interval of
                # this step is known (it was searched during the previous step).
                with m.If(scan.ready):
                    m.d.comb += [scan.step.eq(1), events.step.eq(1)]
                    m.d.sync += layer.eq(0)
                    self._load_layer(m, 0, groups, out_height, pend_acc)
                    m.next = "BLOCK"
                abortable()
            with m.State("BLOCK"):
                # Start integrating one block: its clear enters the pipeline, the scan feeds
                # the step's first block and the event buffer replays for the others.
                m.d.comb += [integ.clear.eq(1), scan.block.eq(1), events.block.eq(1),
                             events.replay.eq(~scan.first_block)]
                if cfg.conv:
                    m.d.comb += self.block_start.eq(1)
                m.next = "ACCUM"
                abortable()
            with m.State("ACCUM"):
                m.d.comb += events.run.eq(~scan.active)
                source_done = Mux(scan.active, scan.done, events.done)
                dense = ~self.conv if cfg.conv else 1
                with m.If(dense & source_done & integ.empty & ~upd.running):
                    m.d.comb += [scan.finish.eq(1), upd.start.eq(1)]
                    m.next = "UPDATE"
                if cfg.conv:
                    with m.If(self.conv):
                        # The replay waits for the address generator; a conv layer 0's scan
                        # only fills the event buffer (its blocks all replay).
                        m.d.comb += events.run.eq(~scan.active & self.address_ready)
                        with m.If(scan.active):
                            with m.If(scan.done):
                                m.d.comb += scan.finish.eq(1)
                                m.next = "BLOCK"
                        with m.Elif(events.done & self.address_idle & integ.conv_empty):
                            m.d.comb += self.walk.start.eq(1)
                            m.next = "CONV_UPDATE"
                abortable()
            if cfg.conv:
                with m.State("CONV_UPDATE"):
                    self._conv_update(m, band_next, pending, pend_acc, layer_done)
                    abortable()
            with m.State("UPDATE"):
                with m.If(upd.more_blocks):
                    # The next block of the layer starts while the update finishes this one's
                    # last chunks (the accumulators keep its sums until the next block's clear
                    # reaches them; the chunks carry their own addresses).
                    with m.If(upd.near_end):
                        m.d.sync += self.row_base.eq(self.row_base + groups)
                        m.next = "BLOCK"
                with m.Elif(upd.drained):
                    # The layer's last block done (the output layer's last chunk commits in
                    # this cycle, another layer's spikes are written).
                    layer_done()
                abortable()
            with m.State("READOUT"):
                m.d.comb += ro.run.eq(1)
                with m.If(ro.done):
                    m.next = "FINISH"
                abortable()
            with m.State("FINISH"):
                m.d.sync += [self.result_class.eq(ro.cls), busy.eq(0), done.eq(1)]
                m.next = "IDLE"
                abortable()

        with m.If(abort):
            m.d.sync += [busy.eq(0), aborted.eq(1), done.eq(0)]
        return m
