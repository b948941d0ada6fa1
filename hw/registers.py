"""The accelerator's register file: the host bus's decode, the network and layer registers,
and the read multiplexer over every region (``docs/memory-map.md``)."""

import operator
from functools import reduce
from typing import NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out

from core import memmap
from core.config import ENCODER_CODES, Config, _clog2

from . import bus
from .layouts import bias_word, layer_params, network_params

# PIXEL_STREAM is an aligned block of PIXEL_STREAM_WORDS registers: decoded by the bits above.
_STREAM_SHIFT = (memmap.PIXEL_STREAM_WORDS - 1).bit_length()
assert memmap.REG_PIXEL_STREAM % memmap.PIXEL_STREAM_WORDS == 0

__all__ = ["RegisterFile"]


class _Write(NamedTuple):
    """A write taken by :class:`RegisterFile`, registered (one cycle after its acknowledge)
    with its decode."""
    pending: Value      # a write is pending (wr)
    addr: Value         # its address (waddr) and data (wdata)
    data: Value
    control: Value      # it is a CONTROL write
    pixels: Value       # it is in the pixel window
    nonzero: Value      # its data is not 0
    lo: Value           # the pixel word index, as two one-hot halves of lo_bits and the rest
    hi: Value
    lo_bits: int
    drop: Value | None  # an input write to drop (config.stream only)


class RegisterFile(wiring.Component):
    """Bus target of the accelerator: decodes writes, holds the parameters, multiplexes reads.

    A write is registered (strobe, address, data, and the decoded window, register and pixel
    word) and takes effect one cycle after its acknowledge, so that the bus's decode and the
    many write enables sit in different cycles. Every write, CONTROL included, is delayed
    alike, so their order is kept; a read waits for a pending write, so it sees it. A read
    takes four cycles: the memories take the address, their data is registered, each region's
    word is selected and registered, and the region's word is returned with the acknowledge,
    so that no path runs from a memory through the whole read multiplexer into the bridge.

    Parameters
    ----------
    config : core.config.Config

    Ports
    -----
    bus : hw.bus.Signature(config.addr_width), in (target)
    busy : 1, in
        An inference runs: parameter, pixel and weight writes are ignored (and flagged); with
        ``config.stream`` pixel writes are taken (the input queue's half).
    start, abort : 1, out
        CONTROL.START while idle, CONTROL.ABORT while busy (one cycle, after the write).
    clear : 1, out
        CONTROL.CLEAR: clear DONE, ABORTED and REJECTED.
    reject : 1, out
        A parameter, pixel or weight write arrived while busy (sets REJECTED).
    network : network_params(L), out
    layers : ArrayLayout(layer_params(M), L), out
    row_nonzero : pixel_rows, out
        Pixel rows holding a nonzero pixel: one flag per 32-bit pixel word, set or cleared as
        the host writes it, so that the encoder skips the other rows without reading them.
    pixel_write : the pixel memory's write port, out (drives it)
    weight_addr, weight_data, weight_en : out
        A whole weight-memory word: the earlier 32-bit slices wait in a staging register, so
        that synthesis picks the narrowest block RAM shape.
    weight_word : config.word_bits, in
        The weight memory's read data (its address is the bus's while idle).
    pixel_word : 8 * S, in
    result_time, result_potential, result_membrane : in
        The result lane selected by the bus address (``hw.readout``).
    result_count : count_bits, in
        Its spike count (only with ``config.spike_count``).
    bias_write : the bias memory's write port, out (drives it; only with ``config.bias``)
        One lane (neuron) per bus word of the bias window.
    membrane_base : ArrayLayout(16, max_layers), out
        Only with ``config.conv``: each layer's first membrane-memory word
        (``NET_MEMBRANE_BASE``).
    bias_data : bias_word(M, U), in
        The bias memory's read data (its address is the bus's while idle; only with
        ``config.bias``).
    status : 4 (7 with ``config.stream``), in
        BUSY, DONE, ABORTED, REJECTED (and QUEUED, READY, FULL).
    stream_en, stream_data : 1, 32, out (only with ``config.stream``)
        A ``PIXEL_STREAM`` write, registered. Every write waits one cycle after it (and after
        a CONTROL write), so that :class:`hw.inputs.InputQueue` decodes the word's second
        entry, or has queued the image, before the next write.
    queue, pop : 1, out (only with ``config.stream``)
        CONTROL.START (busy or not) and CONTROL.POP.
    input_hold, input_block, input_reject : 1, in (only with ``config.stream``)
        Pixel and ``PIXEL_STREAM`` writes wait on the bus (hold) or are dropped and flagged
        (block); a START was refused (reject). With ``config.stream`` such writes are taken
        while busy: they go to the pixel memory's input half.
    cycles : 32, in
    cls : 16, in

    Latency: writes one cycle after their acknowledge; reads acknowledged four cycles after
    the request. Throughput: one write per cycle.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a core.config.Config, not {type(config).__name__}")
        self.config = config
        L, M, S = config.max_layers, config.membrane_bits, config.pixels_per_cycle
        layer_init = {"n_in": 1, "n_out": 1, "threshold": 1, "leak": 1}
        net_init = {"layers": 1, "timesteps": 1, "encoder": ENCODER_CODES[config.encoders[0]],
                    "seed": 1, "membrane_bits": M}
        members = {
            "bus": In(bus.Signature(config.addr_width)),
            "busy": In(1),
            "start": Out(1), "abort": Out(1), "clear": Out(1), "reject": Out(1),
            "network": Out(network_params(L, config.spike_count), init=net_init),
            "layers": Out(data.ArrayLayout(layer_params(M, config.conv), L),
                          init=[layer_init] * L),
            "row_nonzero": Out(config.pixel_rows),
            "pixel_write": In(WritePort.Signature(addr_width=_clog2(config.pixel_rows),
                                                  shape=data.ArrayLayout(8, S),
                                                  granularity=4)),
            "weight_addr": Out(range(config.weight_words)),
            "weight_data": Out(config.word_bits), "weight_en": Out(1),
            "weight_word": In(config.word_bits), "pixel_word": In(data.ArrayLayout(8, S)),
            "result_time": In(8), "result_potential": In(signed(M)),
            "result_membrane": In(signed(M)),
            "status": In(7 if config.stream else 4), "cycles": In(32), "cls": In(16),
        }
        if config.stream:
            # The row flags live in the input queue, one set per half.
            del members["row_nonzero"]
            members.update(stream_en=Out(1), stream_data=Out(32), queue=Out(1), pop=Out(1),
                           input_hold=In(1), input_block=In(1), input_reject=In(1))
        if config.spike_count:
            members["result_count"] = In(config.count_bits)
        if config.conv:
            members["membrane_base"] = Out(data.ArrayLayout(16, L),
                                           init=[i * config.chunks_per_layer for i in range(L)])
        if config.bias:
            shape = bias_word(M, config.neuron_units)
            members.update(
                bias_write=In(WritePort.Signature(addr_width=self.bias_addr_bits(config),
                                                  shape=shape, granularity=1)),
                bias_data=In(shape))
        super().__init__(members)

    @staticmethod
    def bias_addr_bits(config):
        """Address width of the bias memory (``max_layers * chunks_per_layer`` words, addressed
        ``Cat(chunk, layer)`` as the membrane memory)."""
        return _clog2(config.membrane_depth)

    def _window(self, a, region):
        """Address ``a`` is in the register (0), pixel (1), result (2) or bias (3) region."""
        R = self.config.region_bits
        return ~a[self.config.addr_width - 1] & (a[R:R + 2] == region)

    def _fields(self):
        """The writable registers by address: the network's, then each layer's."""
        net = self.network
        fields = {
            memmap.REG_NET_LAYERS: net.layers, memmap.REG_NET_TIMESTEPS: net.timesteps,
            memmap.REG_NET_ENCODER: net.encoder, memmap.REG_NET_SEED: net.seed,
            memmap.REG_NET_READOUT: net.readout, memmap.REG_NET_MEMBRANE_BITS: net.membrane_bits,
        }
        for i in range(self.config.max_layers):
            layer = self.layers[i]
            for offset, field in [(memmap.LAYER_N_IN, layer.n_in),
                                  (memmap.LAYER_N_OUT, layer.n_out),
                                  (memmap.LAYER_WEIGHT_ROW, layer.row),
                                  (memmap.LAYER_THRESHOLD, layer.threshold),
                                  (memmap.LAYER_MODE, layer.mode.as_value()),
                                  (memmap.LAYER_LEAK, layer.leak)]:
                fields[memmap.layer_reg(i, offset)] = field
            if self.config.conv:
                fields[memmap.REG_MEMBRANE_BASE + i] = self.membrane_base[i]
                fields[memmap.layer_reg(i, memmap.LAYER_CONV)] = layer.conv.as_value()
                fields[memmap.layer_reg(i, memmap.LAYER_CONV_OUT)] = Cat(layer.out_height,
                                                                         layer.out_width)
        return fields

    def elaborate(self, platform):
        m = Module()
        write, wr, read_wait, read_done = self._handshake(m)
        w = self._registered_write(m, write, wr, read_wait)
        self._control(m, w)
        fields = self._param_writes(m, write, w)
        self._pixel_writes(m, w)
        self._weight_writes(m, write, w)
        if self.config.bias:
            self._bias_writes(m, write, w.addr, w.data)
        self._reads(m, fields, read_done)
        return m

    def _handshake(self, m):
        """The bus's acknowledge: a write's at once (without ``config.stream``; with it
        :meth:`_stream_writes` drives ``write``, since a write may wait), a read's in its
        fourth cycle, and a read waits while a write is pending. Returns the strobes ``write``
        (a write is taken), ``wr`` (it is pending: registered), ``read_wait`` and
        ``read_done`` (a read's first and last cycles)."""
        b = self.bus
        read_wait = Signal()
        read_sel = Signal()
        read_done = Signal()
        write = Signal()
        if not self.config.stream:
            m.d.comb += write.eq(b.cyc & b.we & ~read_wait)
        wr = Signal()                 # a write is pending
        read_first = b.cyc & ~b.we & ~read_wait & ~read_sel & ~read_done & ~wr
        m.d.sync += [read_wait.eq(read_first), read_sel.eq(read_wait), read_done.eq(read_sel)]
        m.d.comb += b.ack.eq(write | read_done)
        return write, wr, read_wait, read_done

    def _registered_write(self, m, write, wr, read_wait):
        """The write taken, registered with its decode: its address and data, CONTROL and the
        pixel window's strobes, and the pixel word index (:class:`_Write`)."""
        cfg = self.config
        R = cfg.region_bits
        b = self.bus
        addr = b.addr
        window = self._window
        waddr = Signal.like(addr, reset_less=True)
        wdata = Signal(32, reset_less=True)
        # CONTROL's decode is registered too (START and ABORT reach the sequencer's state from
        # registers), and so is the pixel word index, as two one-hot halves, so that each of
        # the many pixel flags' write enables is one gate.
        wr_control = Signal()
        wr_pixels = Signal()
        wr_nonzero = Signal()
        lo_bits = min(4, R)
        wr_lo = Signal(1 << lo_bits)
        wr_hi = Signal(1 << (R - lo_bits))
        input_drop = None
        if cfg.stream:
            input_drop = self._stream_writes(m, write, read_wait, addr, wdata)
        m.d.sync += [wr.eq(write), waddr.eq(addr), wdata.eq(b.w_data),
                     wr_control.eq(write & window(addr, 0) & (addr[:R] == memmap.REG_CONTROL)),
                     wr_pixels.eq(write & window(addr, 1)),
                     wr_nonzero.eq(b.w_data != 0),
                     wr_lo.eq(1 << addr[:lo_bits]), wr_hi.eq(1 << addr[lo_bits:R])]
        return _Write(wr, waddr, wdata, wr_control, wr_pixels, wr_nonzero, wr_lo, wr_hi,
                      lo_bits, input_drop)

    def _control(self, m, w):
        """CONTROL's START, ABORT and CLEAR, and the ``reject`` flag of a write while busy."""
        busy = self.busy
        in_regs = self._window(w.addr, 0)
        in_results = self._window(w.addr, 2)
        reg = w.addr[:self.config.region_bits]
        with m.If(w.control):
            m.d.comb += [self.start.eq(w.data[0] & ~busy), self.abort.eq(w.data[1] & busy),
                         self.clear.eq(w.data[2])]
        param_write = w.pending & ~(in_regs & (reg < memmap.REG_NET_LAYERS)) & ~in_results
        if self.config.stream:
            # Input writes are taken while busy (they go to the input half); one dropped
            # because an image waits for a result slot, or a refused START, is flagged.
            in_stream = reg[_STREAM_SHIFT:] == memmap.REG_PIXEL_STREAM >> _STREAM_SHIFT
            param_write &= ~w.pixels & ~(in_regs & in_stream)
            m.d.comb += self.reject.eq(param_write & busy | w.drop & w.pending
                                       | self.input_reject)
        else:
            m.d.comb += self.reject.eq(param_write & busy)

    def _param_writes(self, m, write, w):
        """The network and layer registers: write enables decoded with the write's other
        strobes, one bit per register, so that each register's enable is one gate. Returns the
        registers by address (:meth:`_fields`)."""
        addr = self.bus.addr
        R = self.config.region_bits
        fields = self._fields()
        wr_param = Signal(len(fields))
        m.d.sync += wr_param.eq(Cat(write & self._window(addr, 0) & (addr[:R] == address)
                                    for address in fields))
        for i, field in enumerate(fields.values()):
            with m.If(wr_param[i] & ~self.busy):
                m.d.sync += field.eq(w.data)
        return fields

    def _pixel_writes(self, m, w):
        """Pixel writes go straight to the memory's write port, 4 pixels per bus word."""
        cfg = self.config
        pix_sub = cfg.pixels_per_cycle // 4
        pix_sub_bits = _clog2(pix_sub)
        pw = self.pixel_write
        m.d.comb += [pw.addr.eq(w.addr[pix_sub_bits:cfg.region_bits]),
                     pw.data.eq(w.data.replicate(pix_sub))]
        with m.If(w.pixels & (~w.drop if cfg.stream else ~self.busy)):
            m.d.comb += pw.en.eq(1 << w.addr[:pix_sub_bits] if pix_sub > 1 else 1)
        if not cfg.stream:
            self._pixel_flags(m, w.pixels, w.nonzero, w.lo, w.hi, w.lo_bits)

    def _weight_writes(self, m, write, w):
        """A weight word is written whole when its last 32-bit slice arrives (the earlier
        slices wait in ``staging``)."""
        cfg = self.config
        addr = self.bus.addr
        w_subs = cfg.word_bits // 32
        w_sub_bits = _clog2(cfg.weight_stride)
        w_off = w.addr[:cfg.addr_width - 1]
        staging = Signal(max(1, cfg.word_bits - 32))
        m.d.comb += [self.weight_addr.eq(w_off[w_sub_bits:]),
                     self.weight_data.eq(Cat(staging, w.data) if w_subs > 1 else w.data)]
        wr_weights = Signal()
        wr_sub = Signal(max(1, w_subs))
        m.d.sync += [wr_weights.eq(write & addr[cfg.addr_width - 1]
                                   & (addr[w_sub_bits:cfg.addr_width - 1] < cfg.weight_words)),
                     wr_sub.eq(1 << addr[:w_sub_bits] if w_sub_bits else 1)]
        with m.If(wr_weights & ~self.busy):
            for sub in range(w_subs - 1):
                with m.If(wr_sub[sub]):
                    m.d.sync += staging[32 * sub:32 * (sub + 1)].eq(w.data)
            m.d.comb += self.weight_en.eq(wr_sub[w_subs - 1] if w_subs > 1 else 1)

    def _reads(self, m, fields, read_done):
        """The read multiplexer: one word per region, registered (a read's third cycle), and
        the region's word returned with the acknowledge (``read_done``)."""
        cfg = self.config
        read_addr = Signal.like(self.bus.addr)
        m.d.sync += read_addr.eq(self.bus.addr)
        ra = read_addr
        # One word per region, registered in read_sel; read_done picks the region's.
        rd_w, rd_reg, rd_pix, rd_res = (Signal(32, name=f"rd_{n}")
                                        for n in ("w", "reg", "pix", "res"))
        self._weight_read(m, ra, rd_w)
        self._register_read(m, ra, fields, rd_reg, rd_res)
        pix_sub = cfg.pixels_per_cycle // 4
        pixels = self.pixel_word.as_value()
        m.d.sync += rd_pix.eq(pixels.word_select(ra[:_clog2(pix_sub)], 32) if pix_sub > 1
                              else pixels[:32])
        self._result_read(m, ra, rd_res)
        # The region of the word read: weights, registers, pixels, results or biases (or none).
        words = [rd_w, rd_reg, rd_pix, rd_res]
        if cfg.bias:
            words.append(self._bias_read(m, ra))
        region = Signal(len(words))
        m.d.sync += region.eq(Cat(ra[cfg.addr_width - 1],
                                  *(self._window(ra, n) for n in range(len(words) - 1))))
        rdata = Signal(32)
        m.d.comb += rdata.eq(reduce(operator.or_, (Mux(region[i], word, 0)
                                                   for i, word in enumerate(words))))
        m.d.comb += self.bus.r_data.eq(Mux(read_done, rdata, 0))

    def _weight_read(self, m, ra, rd_w):
        """The 32-bit slice of the weight word read into ``rd_w`` (0 past the word's slices)."""
        cfg = self.config
        w_subs = cfg.word_bits // 32
        w_sub_bits = _clog2(cfg.weight_stride)
        sub = ra[:w_sub_bits] if w_sub_bits else Const(0, 1)
        weights = self.weight_word
        m.d.sync += rd_w.eq(weights.word_select(sub, 32) if w_subs > 1 else weights[:32])
        if w_subs > 1 and w_subs != cfg.weight_stride:
            with m.If(sub >= w_subs):
                m.d.sync += rd_w.eq(0)

    def _register_read(self, m, ra, fields, rd_reg, rd_res):
        """The registers' word into ``rd_reg``, in two steps: the constants and the variables
        are selected apart (``read_wait``), then combined (``read_sel``). Unassigned addresses
        read as 0. The variables' address is decoded as it is registered (one bit per
        register), so that their word is an AND-OR of the registers, not a decoder and a
        multiplexer in one cycle. Also sets ``rd_res``'s default (0)."""
        R = self.config.region_bits
        addr = self.bus.addr
        rd_ident = Signal(32)
        rd_var = Signal(32)
        m.d.sync += [rd_ident.eq(0), rd_res.eq(0), rd_reg.eq(rd_ident | rd_var)]
        with m.Switch(ra[:R]):
            for address, value in memmap.identification(self.config).items():
                if value:   # a zero needs no case: unassigned addresses read 0
                    with m.Case(address):
                        m.d.sync += rd_ident.eq(value)
        variables = {memmap.REG_STATUS: self.status, memmap.REG_CYCLES: self.cycles,
                     memmap.REG_CLASS: self.cls, **fields}
        var_sel = Signal(len(variables))
        m.d.sync += [var_sel.eq(Cat(addr[:R] == address for address in variables)),
                     rd_var.eq(reduce(operator.or_, (Mux(var_sel[i], value, 0) for i, value
                                                     in enumerate(variables.values()))))]

    def _result_read(self, m, ra, rd_res):
        """The result word read (by the address's two top region bits) into ``rd_res``."""
        R = self.config.region_bits
        with m.Switch(ra[R - 2:R]):
            with m.Case(memmap.RESULT_FIRST_TIME):
                m.d.sync += rd_res.eq(self.result_time)
            with m.Case(memmap.RESULT_FIRST_POTENTIAL):
                m.d.sync += rd_res.eq(self.result_potential)
            with m.Case(memmap.RESULT_FINAL_MEMBRANE):
                m.d.sync += rd_res.eq(self.result_membrane)
            if self.config.spike_count:
                with m.Case(memmap.RESULT_SPIKE_COUNT):
                    m.d.sync += rd_res.eq(self.result_count)

    def _pixel_flags(self, m, wr_pixels, wr_nonzero, wr_lo, wr_hi, lo_bits):
        """One flag per pixel word, set when the host writes it nonzero (``row_nonzero``)."""
        cfg = self.config
        rows, pix_sub = cfg.pixel_rows, cfg.pixels_per_cycle // 4
        word_nz = Signal(rows * pix_sub)
        with m.If(wr_pixels & ~self.busy):
            for f in range(rows * pix_sub):
                with m.If(wr_hi[f >> lo_bits] & wr_lo[f & ((1 << lo_bits) - 1)]):
                    m.d.sync += word_nz[f].eq(wr_nonzero)
        m.d.comb += self.row_nonzero.eq(
            Cat(word_nz[r * pix_sub:(r + 1) * pix_sub].any() for r in range(rows)))

    def _stream_writes(self, m, write, read_wait, addr, wdata):
        """``Config.stream``: the ``PIXEL_STREAM`` window, START and POP for the input queue,
        and the bus's waits. Returns the registered flag that the write in flight is an input
        write to drop (an image waits for a result slot)."""
        R = self.config.region_bits
        b = self.bus
        regs_region = self._window(addr, 0)
        is_stream = regs_region & (addr[_STREAM_SHIFT:R] == memmap.REG_PIXEL_STREAM >> _STREAM_SHIFT)
        is_input = is_stream | self._window(addr, 1)
        # A write waits a cycle after a PIXEL_STREAM or CONTROL write (its second entry, or the
        # queued image, is being taken), and an input write waits while an image is queued.
        after = Signal()
        stall = after | (is_input & self.input_hold)
        m.d.comb += write.eq(b.cyc & b.we & ~read_wait & ~stall)
        wr_stream = Signal()
        wr_ctrl = Signal()
        drop = Signal()
        m.d.sync += [wr_stream.eq(write & is_stream),
                     wr_ctrl.eq(write & regs_region & (addr[:R] == memmap.REG_CONTROL)),
                     drop.eq(is_input & self.input_block)]
        m.d.comb += after.eq(wr_stream | wr_ctrl)
        m.d.comb += [self.stream_en.eq(wr_stream & ~drop), self.stream_data.eq(wdata),
                     self.queue.eq(wr_ctrl & wdata[0]),
                     self.pop.eq(wr_ctrl & wdata[3])]
        return drop

    def _bias_writes(self, m, write, waddr, wdata):
        """Bias window writes: bus word ``l * bias_stride + j`` is lane ``j mod U`` of word
        ``Cat(j // U, l)`` of the bias memory (the membrane memory's addressing). Decoded as
        the write is registered; a layer past ``max_layers`` is ignored."""
        cfg = self.config
        lane_bits = _clog2(cfg.neuron_units)
        layer_at = _clog2(cfg.bias_stride)
        addr = self.bus.addr
        wr_bias = Signal()
        inside = (addr[:cfg.region_bits] < cfg.bias_words if cfg.conv else
                  addr[layer_at:cfg.region_bits] < cfg.max_layers)
        m.d.sync += wr_bias.eq(write & self._window(addr, 3) & inside)
        bw = self.bias_write
        m.d.comb += [bw.addr.eq(waddr[lane_bits:]),
                     bw.data.eq(wdata[:cfg.membrane_bits].replicate(cfg.neuron_units))]
        with m.If(wr_bias & ~self.busy):
            m.d.comb += bw.en.eq(1 << waddr[:lane_bits] if lane_bits else 1)

    def _bias_read(self, m, ra):
        """The bias of the lane read (sign-extended), registered as the other regions' words."""
        lane_bits = _clog2(self.config.neuron_units)
        rd_bias = Signal(32, name="rd_bias")
        lane = self.bias_data[ra[:lane_bits]] if lane_bits else self.bias_data[0]
        m.d.sync += rd_bias.eq(lane)
        return rd_bias
