"""The event-driven spiking accelerator (``docs/numerics.md``, ``docs/memory-map.md``).

Architecture
------------
Per timestep and layer, the neurons are processed in *blocks* of ``P`` (``Config.lanes``).
The inputs form groups of ``K`` consecutive indices (``Config.inputs_per_cycle``, 1 or 2).
For a block, every group with an input *event* (an input with a nonzero magnitude this step)
reads one word of the weight memory, which holds the ``K * P`` weights of the group's inputs
for the block, and ``P`` accumulator lanes add ``sum_j magnitude_j * weight_j`` in one cycle
(pipeline: weight address, weight read, the weight memory's output register, the lanes'
registers, product, accumulate); an input of
the group without an event has magnitude 0. Inputs without an event cost nothing, so a layer
costs about ``events * ceil(n_out / P)`` cycles per step (``K = 1``; with ``K = 2``, the
groups with an event) instead of ``n_in * T``. The first
``Config.dsp_lanes`` lanes are written as a plain multiply-accumulate that synthesis packs
into DSP slices; the others use radix-4 Booth partial products in LUTs.

When a block has integrated all its events, ``U`` neuron units (``neuron_units``) per cycle
update its neurons against the membrane memory, in five pipeline stages (register the
membrane word and the currents; the leak's product; round the leak and add the current;
saturate and test the threshold; fire, reset and write back). The update runs beside the
sequencer: the next block of the same layer starts while it still has ``OVERLAP_CHUNKS``
groups to go, since the accumulators are cleared by a slot that travels down the integration
pipeline ahead of the next block's first event and keep their sums until it arrives. The
spikes of one update cycle become one entry (index of lane 0, ``U``-bit mask) of the event
buffer that feeds the next layer in the same timestep, so the update never stalls on its
spikes; the next layer's replay expands an entry into one event per spike (per group of ``K``
neurons with a spike).

Events of layer 0 come from the encoder (``hw.encoder``), which examines ``S`` pixels per
cycle and emits one event per cycle straight into the first block's integration, and also
writes them to the event buffer so that the other blocks of layer 0 replay them without a
second scan. A row of ``S`` pixels without an event costs one cycle, and the direct and hybrid
encoders skip rows whose pixel words are all zero (one flag per word, kept as the host writes
the pixels), at every step. The scan is a four-stage pipeline (fetch a row, read it, filter it,
emit its events) that costs two cycles per step to fill and keeps pixel values off the memory
address. The hybrid encoder's per-step interval is searched during the previous step.

Membrane and fired state are treated as zero at step 0, so nothing carries over from one
inference to the next and no clearing pass is needed; an abort simply returns to idle.
``hw.perf.cycle_count`` gives the exact cycle count of an inference from the golden model.

Weight-memory layout: layer ``l`` occupies the words from its ``WEIGHT_ROW`` register on,
block-major then group-major: field ``j * P + k`` (bits ``(j*P + k)*wb ..``, two's complement,
``wb = Config.weight_bits``) of word ``WEIGHT_ROW + b * ceil(n_in / K) + g`` holds
``W[b*P + k, g*K + j]``. With ``K = 1`` this is word ``WEIGHT_ROW + b * n_in + i``, lane ``k``.
Event-buffer entries and the integration pipeline carry group indices and ``K`` magnitudes.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from core import memmap
from core.config import ENCODER_CODES, Config, _clog2
from core.schedule import OVERLAP_CHUNKS, SETUP_CYCLES

from . import bus
from .encoder import HybridBound, PixelFilter
from .lanes import GROUP_LANES, LaneGroup
from .neuron import LeakScale, NeuronUnit, Readout
from .weights import WeightMemory

__all__ = ["TraceSignature", "Accelerator", "SETUP_CYCLES", "OVERLAP_CHUNKS"]


def _count_to_three(bits):
    """How many bits of ``bits`` are set, saturated at 3 (2 bits), as a tree over halves:
    about log2(n) LUT levels, not a carry chain as ``bits & (bits - 1)`` would be."""
    if len(bits) == 1:
        return bits[0].as_unsigned()
    half = len(bits) // 2
    lo, hi = _count_to_three(bits[:half]), _count_to_three(bits[half:])
    return Mux(lo + hi > 3, 3, lo + hi)[:2]


def at_most_one(bits):
    """True when at most one bit of ``bits`` is set."""
    return _count_to_three(bits) <= 1


def at_most_two(bits):
    """True when at most two bits of ``bits`` are set: whether at most one is left once the
    lowest is taken, without finding the lowest first."""
    return _count_to_three(bits) <= 2


def any_per_group(bits, size):
    """One bit per group of ``size`` consecutive bits of ``bits``: any of the group's set."""
    if size == 1:
        return bits
    return Cat(bits[g * size:(g + 1) * size].any() for g in range(len(bits) // size))


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


class Accelerator(wiring.Component):
    """The accelerator, seen through its register bus.

    Parameters
    ----------
    config : hw.config.Config

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
            raise TypeError(f"config must be a hw.config.Config, not {type(config).__name__}")
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
        P, U, S = cfg.lanes, cfg.neuron_units, cfg.pixels_per_cycle
        K = cfg.inputs_per_cycle
        k_bits = _clog2(K)
        G = S // K                    # input groups per pixel row
        UG = U // K                   # input groups per neuron-update cycle
        WB, M, A = cfg.weight_bits, cfg.membrane_bits, cfg.acc_bits
        R = cfg.region_bits
        L = cfg.max_layers
        EB = cfg.event_bits
        CPL = cfg.chunks_per_layer
        chunk_bits = _clog2(CPL)
        layer_bits = max(1, _clog2(L))
        chunks_per_block = P // U
        n_bits = 16

        # -- memories -----------------------------------------------------------------------
        # The weight word two cycles after its address (hw.weights: the read, then the
        # memory's output register); `weights` below.
        m.submodules.weight_memory = wmem = WeightMemory(depth=cfg.weight_words,
                                                         width=cfg.word_bits)

        # Small and wide: distributed RAM, so that the block RAMs go to the weights.
        m.submodules.pixels = pmem = Memory(shape=unsigned(8 * S), depth=cfg.pixel_rows,
                                            init=[], attrs={"ram_style": "distributed"})
        p_rd = pmem.read_port()
        p_wr = pmem.write_port(granularity=32)

        ev_depth = 1 << (EB + 1)
        # An entry is (index, payload): for layer 0 one event (input group, K magnitudes);
        # for a later layer the spikes of one update cycle (group of lane 0, U-bit spike mask),
        # so that the neuron update never waits for its spikes to be written one by one.
        # A flag says a spike entry is one event (one group of K inputs with a spike), so that
        # the replay knows it without counting the mask it reads from the block RAM. It is
        # bit 0 of the index, always 0 otherwise (lane 0's group is a multiple of U / K),
        # or an extra bit when U / K is 1. Encoder entries (layer 0) are one event each and
        # carry no flag.
        PW = max(8 * K, U)
        flag_in_index = U // K >= 2
        EW = EB + PW + (0 if flag_in_index else 1)
        m.submodules.events = emem = Memory(shape=unsigned(EW), depth=ev_depth, init=[])
        e_wr = emem.write_port()
        e_rd = emem.read_port(transparent_for=(e_wr,))

        NW = M + 1  # membrane word lane: v and fired
        m.submodules.membrane = vmem = Memory(shape=unsigned(U * NW), depth=L * CPL, init=[])
        v_rd = vmem.read_port()
        v_wr = vmem.write_port()

        # Result lane: fired flag, first spike step (below max_timesteps) and the potential then.
        TB = max(1, (cfg.max_timesteps - 1).bit_length())
        RW = 1 + TB + M
        m.submodules.results = rmem = Memory(shape=unsigned(U * RW), depth=CPL, init=[])
        r_rd = rmem.read_port()
        r_wr = rmem.write_port(granularity=RW)

        # -- registers -------------------------------------------------------------------
        net_layers = Signal(range(L + 1), init=1)
        net_T = Signal(8, init=1)
        net_enc = Signal(2, init=ENCODER_CODES[cfg.encoders[0]])
        net_seed = Signal(16, init=1)
        net_readout = Signal(1)
        net_M = Signal(6, init=M)
        l_n_in = Array(Signal(n_bits, name=f"l{i}_n_in", init=1) for i in range(L))
        l_n_out = Array(Signal(n_bits, name=f"l{i}_n_out", init=1) for i in range(L))
        l_row = Array(Signal(16, name=f"l{i}_row") for i in range(L))
        l_theta = Array(Signal(M, name=f"l{i}_theta", init=1) for i in range(L))
        l_mode = Array(Signal(5, name=f"l{i}_mode") for i in range(L))
        l_leak = Array(Signal(8, name=f"l{i}_leak", init=1) for i in range(L))

        busy = Signal()
        done = Signal()
        aborted = Signal()
        rejected = Signal()
        cycles = Signal(32)
        result_class = Signal(16)
        m.d.comb += [self.irq.eq(done), self.busy.eq(busy)]

        # -- bus ---------------------------------------------------------------------------
        b = self.bus
        # A read takes four cycles: the memories' read ports take the address (read_first),
        # their data is registered (read_wait; the weight word in `weights`), each region's
        # word is selected and registered (read_sel), and the region's word is returned with
        # the acknowledge (read_done), so that no path runs from a memory or a register
        # through the whole read multiplexer into the bridge.
        read_wait = Signal()
        read_sel = Signal()
        read_done = Signal()
        write = b.cyc & b.we & ~read_wait
        wr = Signal()                 # a write is pending (see below)
        read_first = b.cyc & ~b.we & ~read_wait & ~read_sel & ~read_done & ~wr
        m.d.sync += [read_wait.eq(read_first), read_sel.eq(read_wait), read_done.eq(read_sel)]
        m.d.comb += b.ack.eq(write | read_done)
        start = Signal()
        abort = Signal()
        addr = b.addr

        def window(a, region):
            """Address ``a`` is in the register (0), pixel (1) or result (2) region."""
            return ~a[cfg.addr_width - 1] & (a[R:R + 2] == region)

        # A write is registered (strobe, address and data) and takes effect one cycle after
        # its acknowledge, so that the bus's decoding and the write enables of the registers,
        # the memories and the pixel flags sit in different cycles. Every write, CONTROL
        # included, is delayed alike, so their order is kept; a read waits for a pending
        # write (read_first), so it sees it.
        waddr = Signal.like(addr, reset_less=True)
        wdata = Signal(32, reset_less=True)
        # The CONTROL register's decoding is registered too: START and ABORT reach the
        # sequencer's state from registers.
        # So is the pixel and weight windows' decoding, with the pixel word index as two
        # one-hot halves and the weight word's slice as one-hot, so that the write enables of
        # the many pixel flags and staging bits are one gate each.
        wr_control = Signal()
        wr_pixels = Signal()
        wr_weights = Signal()
        wr_nonzero = Signal()
        lo_bits = min(4, R)
        wr_lo = Signal(1 << lo_bits)
        wr_hi = Signal(1 << (R - lo_bits))
        m.d.sync += [wr.eq(write), waddr.eq(addr), wdata.eq(b.w_data),
                     wr_control.eq(write & window(addr, 0) & (addr[:R] == memmap.REG_CONTROL)),
                     wr_pixels.eq(write & window(addr, 1)),
                     wr_nonzero.eq(b.w_data != 0),
                     wr_lo.eq(1 << addr[:lo_bits]), wr_hi.eq(1 << addr[lo_bits:R])]
        in_regs = window(waddr, 0)
        in_results = window(waddr, 2)
        reg = waddr[:R]

        with m.If(wr_control):
            m.d.comb += [start.eq(wdata[0] & ~busy), abort.eq(wdata[1] & busy)]
            with m.If(wdata[2]):
                m.d.sync += [done.eq(0), aborted.eq(0), rejected.eq(0)]
        param_write = Signal()
        m.d.comb += param_write.eq(wr & ~(in_regs & (reg < memmap.REG_NET_LAYERS))
                                   & ~in_results)
        with m.If(param_write & busy):
            m.d.sync += rejected.eq(1)
        # The network and layer registers, by address (written here, read back below). Their
        # write enables are decoded with the write's other strobes, one bit per register, so
        # that each register's enable is one gate.
        param_fields = {
            memmap.REG_NET_LAYERS: net_layers, memmap.REG_NET_TIMESTEPS: net_T,
            memmap.REG_NET_ENCODER: net_enc, memmap.REG_NET_SEED: net_seed,
            memmap.REG_NET_READOUT: net_readout, memmap.REG_NET_MEMBRANE_BITS: net_M,
        }
        for i in range(L):
            for offset, sig in [(memmap.LAYER_N_IN, l_n_in[i]), (memmap.LAYER_N_OUT, l_n_out[i]),
                                (memmap.LAYER_WEIGHT_ROW, l_row[i]),
                                (memmap.LAYER_THRESHOLD, l_theta[i]),
                                (memmap.LAYER_MODE, l_mode[i]), (memmap.LAYER_LEAK, l_leak[i])]:
                param_fields[memmap.layer_reg(i, offset)] = sig
        wr_param = Signal(len(param_fields))
        m.d.sync += wr_param.eq(Cat(write & window(addr, 0) & (addr[:R] == address)
                                    for address in param_fields))
        for i, sig in enumerate(param_fields.values()):
            with m.If(wr_param[i] & ~busy):
                m.d.sync += sig.eq(wdata)
        # Pixel and weight writes go straight to the memories' write ports.
        pix_sub = S // 4
        pix_sub_bits = _clog2(pix_sub)
        m.d.comb += [
            p_wr.addr.eq(waddr[pix_sub_bits:R]),
            p_wr.data.eq(wdata.replicate(pix_sub)),
        ]
        with m.If(wr_pixels & ~busy):
            m.d.comb += p_wr.en.eq(1 << waddr[:pix_sub_bits] if pix_sub > 1 else 1)
        w_subs = cfg.word_bits // 32
        w_sub_bits = _clog2(cfg.weight_stride)
        w_off = waddr[:cfg.addr_width - 1]
        # A weight word is written whole when its last 32-bit slice arrives; the earlier slices
        # wait in a staging register. Whole-word writes let synthesis pick the narrowest block
        # RAM shape (2K x 18 for the default) instead of one that matches 32-bit write enables.
        staging = Signal(max(1, cfg.word_bits - 32))
        m.d.comb += [
            wmem.w_addr.eq(w_off[w_sub_bits:]),
            wmem.w_data.eq(Cat(staging, wdata) if w_subs > 1 else wdata),
        ]
        wr_sub = Signal(max(1, w_subs))
        m.d.sync += [wr_weights.eq(write & addr[cfg.addr_width - 1]
                                   & (addr[w_sub_bits:cfg.addr_width - 1] < cfg.weight_words)),
                     wr_sub.eq(1 << addr[:w_sub_bits] if w_sub_bits else 1)]
        with m.If(wr_weights & ~busy):
            for sub in range(w_subs - 1):
                with m.If(wr_sub[sub]):
                    m.d.sync += staging[32 * sub:32 * (sub + 1)].eq(wdata)
            m.d.comb += wmem.w_en.eq(wr_sub[w_subs - 1] if w_subs > 1 else 1)

        # -- sequencer state ------------------------------------------------------------------
        t = Signal(8)
        # A step follows step t (t + 1 < T): a register, set where t is, so that the sequencer's
        # decision to read out does not wait for a comparison.
        more_steps = Signal()
        layer = Signal(layer_bits)
        cur_sel = Signal()
        ev_count = Array(Signal(EB + 1, name=f"ev_count{i}") for i in range(2))
        lfsr = Signal(16)
        hyb_lo = Signal(9)
        hyb_hi = Signal(9)
        vmax = Signal(signed(M))
        vmin = Signal(signed(M))

        c_groups = Signal(n_bits)     # ceil(n_in / K): weight words per block
        c_n_out = Signal(n_bits)
        c_theta = Signal(signed(M))
        c_mode = Signal(5)
        c_leak = Signal(8)
        c_last = Signal()             # current layer is the output layer
        # The layer's leak as one product for every unit (hw.neuron.leak_constants), a cycle
        # behind c_mode and c_leak: the first neuron update comes at least two cycles later.
        m.submodules.leak_scale = leak_scale = LeakScale(M)
        c_scale = Signal(M + 1)
        c_bias = Signal(M)
        m.d.comb += [leak_scale.lif.eq(c_mode[0]), leak_scale.factor.eq(c_mode[1]),
                     leak_scale.leak.eq(c_leak)]
        m.d.sync += [c_scale.eq(leak_scale.scale), c_bias.eq(leak_scale.bias)]
        row_base = Signal(16)         # weight row of the current block
        chunk_base = Signal(range(CPL + 1))  # membrane word of the block's first chunk
        neuron_base = Signal(n_bits + 1)     # index of the block's first neuron
        n_left = Signal(n_bits + 1)          # neurons of the layer from neuron_base on

        m.submodules.bound = bound = HybridBound()
        m.d.comb += [bound.t.eq(t + 1), bound.tm1.eq(net_T - 1)]

        # -- event sources ---------------------------------------------------------------------
        ev_valid = Signal()
        ev_idx = Signal(EB)           # input group (index // K)
        ev_mag = Signal(8 * K)        # magnitudes of the group's K inputs (0: no event)
        source_done = Signal()

        seq_p_addr = Signal.like(p_rd.addr)
        seq_p_en = Signal()
        # Encoder scan, four stages so that no pixel value reaches a memory address in the
        # same cycle and the filter and the event selection sit in different cycles: F holds
        # the next row to fetch, D the row at the pixel read port, E the filter's results for
        # a row, X the row whose events are emitted. The rows to visit do not depend on the
        # pixels' values this step, so F, D and E run ahead of X and X takes a new row in the
        # cycle it emits its last event: a row costs one cycle per event (one if it has none),
        # plus two cycles per scan to fill the stages.
        m.submodules.filter = filt = PixelFilter(S, cfg.encoders)
        scan_rows = Signal(range(cfg.pixel_rows + 1))
        # Rows holding a nonzero pixel: one flag per pixel word, set or cleared as the host
        # writes the word, so that the direct and hybrid encoders skip the other rows at every
        # step, step 0 included (no event can come from them). The rate encoder visits every
        # row, because its LFSR advances for every pixel.
        rows = cfg.pixel_rows
        word_nz = Signal(rows * pix_sub)
        with m.If(wr_pixels & ~busy):
            for f in range(rows * pix_sub):
                with m.If(wr_hi[f >> lo_bits] & wr_lo[f & ((1 << lo_bits) - 1)]):
                    m.d.sync += word_nz[f].eq(wr_nonzero)
        row_nz = Cat(word_nz[r * pix_sub:(r + 1) * pix_sub].any() for r in range(rows))
        # Rows within N_IN, as a thermometer code in a register of its own (one of the stages
        # SETUP waits for), so that the row comparisons and the mask's logic sit apart.
        rows_valid = Signal(rows)
        m.d.sync += rows_valid.eq(Cat(scan_rows > r for r in range(rows)))
        scan_mask = Signal(rows)
        mask_d = Signal(rows)
        m.d.comb += mask_d.eq(Mux(net_enc == ENCODER_CODES["rate"], rows_valid,
                                  rows_valid & row_nz))
        # The rows are visited in groups of 8 (row = 8 * group + bit): F's next row comes from
        # the rest of its group, or else from the next group with a row to visit, which is
        # prefetched (`nxt`), so that no priority encoder spans all the rows.
        GS = 8
        NG = -(-rows // GS)
        grp_any = Signal(NG)          # groups with a row to visit
        m.d.sync += [scan_mask.eq(mask_d),
                     grp_any.eq(Cat(mask_d[g * GS:(g + 1) * GS].any() for g in range(NG)))]
        words = [Signal(GS, name=f"scan_word{g}") for g in range(NG)]
        m.d.comb += [words[g].eq(scan_mask[g * GS:(g + 1) * GS]) for g in range(NG)]

        def lowest(bits):
            """The lowest set bit of ``bits`` alone (one-hot, or zero)."""
            return (bits & -bits)[:len(bits)]

        def encode(onehot):
            """Index of the set bit of a one-hot (or zero) vector."""
            return Cat(Cat(onehot[i] for i in range(len(onehot)) if i >> j & 1).any()
                       for j in range(max(1, _clog2(len(onehot)))))

        def select(onehot):
            """The word of the group whose bit is set in ``onehot`` (an AND-OR multiplexer)."""
            return Cat(Cat(onehot[g] & words[g][b] for g in range(NG)).any() for b in range(GS))

        # The mask only changes while idle (pixel and register writes), so the scan's first
        # state is computed in register stages (rows within N_IN; mask and groups; first two
        # groups; first row) that SETUP waits for, and none of that logic sits on a timing
        # path of the inference.
        b_g0 = Signal(NG)
        b_g1 = Signal(NG)
        b_left = Signal(NG)
        rest0 = grp_any & ~lowest(grp_any)
        m.d.sync += [b_g0.eq(lowest(grp_any)), b_g1.eq(lowest(rest0)),
                     b_left.eq(rest0 & ~lowest(rest0))]
        b_bits0 = select(b_g0)
        first_low = lowest(b_bits0)
        scan_first = Signal(range(max(2, rows)))
        scan_any = Signal()
        init_cur = Signal(GS)
        init_grp = Signal(range(max(2, NG)))
        init_nxt = Signal(GS)
        init_nxt_grp = Signal.like(init_grp)
        init_nxt_have = Signal()
        init_left = Signal(NG)
        m.d.sync += [scan_first.eq(Cat(encode(first_low), encode(b_g0))),
                     scan_any.eq(b_g0.any()), init_cur.eq(b_bits0 & ~first_low),
                     init_grp.eq(encode(b_g0)), init_nxt.eq(select(b_g1)),
                     init_nxt_grp.eq(encode(b_g1)), init_nxt_have.eq(b_g1.any()),
                     init_left.eq(b_left)]
        f_row = Signal.like(scan_first)   # F: next row to fetch
        f_have = Signal()
        f_cur = Signal(GS)                # rows of F's group after f_row still to fetch
        f_grp = Signal.like(init_grp)
        f_nxt = Signal(GS)                # rows of the next group with any (prefetched)
        f_nxt_grp = Signal.like(init_grp)
        f_nxt_have = Signal()
        f_left = Signal(NG)               # groups after that one with rows to fetch
        d_row = Signal.like(scan_first)   # D: p_rd.data holds row d_row
        d_have = Signal()
        e_row = Signal.like(scan_first)   # E: the filter's results for row e_row
        e_have = Signal()
        e_match = Signal(G)
        e_mag = Signal(8 * S)
        x_row = Signal.like(scan_first)   # X: row whose events are emitted
        x_have = Signal()
        x_match = Signal(G)               # groups of the row with an event
        x_mag = Signal(8 * S)
        x_taken = Signal(G)               # groups of the row already emitted
        fetch = Signal()                  # D takes the row in F, F the next one
        # The encoder feeds the block in ACCUM (set in BLOCK, cleared when ACCUM ends), so
        # that the decision to fetch comes from registers and not from the sequencer's state:
        # F's first row in BLOCK, then whenever X takes D's row.
        scan_active = Signal()
        # BLOCK of the step's first block (layer 0, block 0: the encoder feeds it), a register
        # so that BLOCK's decision to fetch the first row does not compare the layer and block
        # numbers.
        first_block = Signal()
        # At most one event of X's row is left: kept in a register (updated when X takes a
        # row and after each event), so that the decision to fetch the next row, which drives
        # the pixel memory's read enable, starts from a register.
        row_last_event = Signal()
        # X's row has an event left (x_have and a group not yet emitted), a register for the
        # same reason: the event-buffer write and its count start from it.
        x_left = Signal()
        m.d.comb += fetch.eq(first_block | (scan_active & (~x_have | row_last_event)))
        # The pixel memory's address is F's row whether or not it is fetched (only the read
        # enable depends on the decision to fetch), so that the address starts from a register.
        m.d.comb += [seq_p_addr.eq(f_row), seq_p_en.eq(fetch)]
        with m.If(fetch):
            m.d.sync += [d_have.eq(f_have), d_row.eq(f_row),
                         f_have.eq(f_cur.any() | f_nxt_have)]
            with m.If(f_cur.any()):
                m.d.sync += [f_row.eq(Cat(encode(lowest(f_cur)), f_grp)),
                             f_cur.eq(f_cur & ~lowest(f_cur))]
            with m.Elif(f_nxt_have):
                m.d.sync += [f_row.eq(Cat(encode(lowest(f_nxt)), f_nxt_grp)),
                             f_cur.eq(f_nxt & ~lowest(f_nxt)), f_grp.eq(f_nxt_grp),
                             f_nxt.eq(select(lowest(f_left))),
                             f_nxt_grp.eq(encode(lowest(f_left))),
                             f_nxt_have.eq(f_left.any()), f_left.eq(f_left & ~lowest(f_left))]
        # Only the last row can be partial: compare row numbers, not pixel indices.
        last_pixel = Signal(n_bits)
        m.d.sync += last_pixel.eq(l_n_in[0] - 1)  # static while busy, see SETUP
        on_last_row = d_row == last_pixel[_clog2(S):]
        tail = Signal(range(S + 1))   # pixels in the last row
        m.d.comb += tail.eq(last_pixel[:_clog2(S)] + 1)
        lane_valid = Cat(~on_last_row | (k < tail) for k in range(S))
        m.d.comb += [
            filt.pixels.eq(p_rd.data), filt.lane_valid.eq(lane_valid),
            filt.encoder.eq(net_enc), filt.first_step.eq(t == 0),
            filt.lo.eq(hyb_lo), filt.hi.eq(hyb_hi), filt.lfsr.eq(lfsr),
        ]
        valid_count = Signal(range(S + 1))
        m.d.comb += valid_count.eq(Mux(on_last_row, tail, S))
        lfsr_next = Signal(16)        # the LFSR state for the row after D's
        lfsr_table = Array(filt.lfsr_after[16 * k:16 * (k + 1)] for k in range(S))
        m.d.comb += lfsr_next.eq(lfsr_table[valid_count - 1])
        remaining = Signal(G)
        lowest = Signal(G)
        lowest_index = Signal(range(max(2, G)))
        m.d.comb += [remaining.eq(x_match & ~x_taken),
                     lowest.eq(remaining & -remaining)]
        for k in reversed(range(G)):
            with m.If(remaining[k]):
                m.d.comb += lowest_index.eq(k)
        scan_event_idx = Cat(lowest_index[:_clog2(G)], x_row) if G > 1 else x_row
        scan_mag = x_mag.word_select(lowest_index, 8 * K)
        # A group is an event when any of its K pixels is; the others' magnitudes become 0.
        group_match = any_per_group(filt.match, K)
        if K == 1:
            group_mag = filt.magnitude
        else:
            group_mag = Cat(Mux(filt.match[k], filt.magnitude[8 * k:8 * (k + 1)], 0)
                            for k in range(S))

        # Replay from the event buffer
        # The entry being expanded is held in a register and the read port already holds the
        # next one, so that the block RAM's clock-to-output never reaches the decision to
        # read (the next entry is read in the cycle the current one is taken over).
        rep_ptr = Signal(EB + 1)      # next entry to read
        rep_next = Signal()           # e_rd.data holds the next entry
        rep_have = Signal()           # rep_entry holds an entry being expanded
        rep_entry = Signal(EB + PW)
        rep_taken = Signal(UG)        # groups of the entry already emitted
        rep_count = Signal(EB + 1)
        m.d.comb += rep_count.eq(ev_count[cur_sel])
        rep_spikes = rep_entry[EB:EB + U]
        rep_mask = Signal(UG)
        m.d.comb += rep_mask.eq(Mux(layer == 0, 1, any_per_group(rep_spikes, K)) & ~rep_taken)
        rep_lowest = Signal(UG)
        rep_index = Signal(range(max(2, UG)))
        m.d.comb += rep_lowest.eq(rep_mask & -rep_mask)
        for k in reversed(range(UG)):
            with m.If(rep_mask[k]):
                m.d.comb += rep_index.eq(k)
        # At most one group of the entry is left: a register, updated when an entry is taken
        # over and after each event (as the scan's row_last_event), so that the decision to
        # read the next entry starts from registers.
        rep_last = Signal()
        # Entries still to read after rep_ptr's: counted down, so that the decision to read
        # does not compare rep_ptr with the count.
        rep_todo = Signal(EB + 1)

        # Event buffer writes (encoder during the scan, spikes during the update)
        ev_write = Signal()
        ev_write_idx = Signal(EB)
        ev_write_mag = Signal(PW)
        ev_write_one = Signal()       # the entry is one event
        ev_write_sel = Signal()
        # The write itself is registered (address, entry and enable, one cycle later), so that
        # the decision to write and the counter's increment do not reach the block RAM's
        # inputs in the same cycle. The counters advance at once: the count the replay reads
        # in BLOCK is final. The one entry written in the cycle a replay reads (entry 0 of the
        # next layer, read in BLOCK) comes through the read port's transparency.
        m.d.sync += [
            e_wr.addr.eq(Cat(ev_count[ev_write_sel][:EB], ev_write_sel)),
            e_wr.data.eq(Cat(ev_write_idx | (ev_write_one if flag_in_index else 0),
                             ev_write_mag, [] if flag_in_index else ev_write_one)),
            e_wr.en.eq(ev_write),
        ]
        for i in range(2):
            with m.If(ev_write & (ev_write_sel == i)):
                m.d.sync += ev_count[i].eq(ev_count[i] + 1)

        # -- integration pipeline: E (weight address) -> A (weight read) -> W (the weight
        # memory's output register) -> G (the lane groups' registers) -> B (products) -> C
        # (accumulate) ------------------------------------------------------------------------
        # The event's weight address is registered before it reaches the weight memory, so
        # that the encoder's filter and priority encoder and the weight read sit in different
        # cycles. The weight memory registers the word in the block RAMs' output registers
        # (hw.weights), and the lane groups register it again next to their multipliers, so
        # that neither the block RAMs' clock-to-output nor the routing from the block RAM rows
        # to the DSP rows shares a cycle with the products. `weights` is also the word for the
        # bus (a read of the weight window).
        valid_e, valid_a, valid_w, valid_g = (Signal(name=f"valid_{s}") for s in "eawg")
        mag_e, mag_a, mag_w = (Signal(8 * K, name=f"mag_{s}", reset_less=True) for s in "eaw")
        w_addr_e = Signal.like(wmem.r_addr, reset_less=True)
        weights = wmem.r_data
        # High in BLOCK: a slot without an event that clears the accumulators when it reaches
        # them, ahead of the block's first event (hw.lanes). Until then they hold the last
        # block's sums, for the update that finishes meanwhile (UPDATE).
        acc_clear = Signal()
        clear_e, clear_a, clear_w = (Signal(name=f"clear_{s}") for s in "eaw")
        m.d.sync += [valid_e.eq(ev_valid), w_addr_e.eq(row_base + ev_idx), mag_e.eq(ev_mag),
                     clear_e.eq(acc_clear),
                     valid_a.eq(valid_e), mag_a.eq(mag_e), clear_a.eq(clear_e),
                     valid_w.eq(valid_a), mag_w.eq(mag_a), clear_w.eq(clear_a),
                     valid_g.eq(valid_w | clear_w)]
        # The lanes, in groups with their own copies of the magnitudes (hw.lanes). Neuron unit
        # k updates lanes k, k + U, k + 2U, ... (one per chunk), so a group holds lanes of one
        # unit (lanes in order of l % U, then l), and a unit's multiplexer over its lanes
        # gathers from one or two groups instead of from every group across the chip.
        order = sorted(range(P), key=lambda lane: (lane % U, lane))
        acc = [None] * P
        for g, first in enumerate(range(0, P, GROUP_LANES)):
            lanes = order[first:first + GROUP_LANES]   # increasing: the DSP lanes come first
            group = LaneGroup(lanes=len(lanes), inputs_per_cycle=K, weight_bits=WB,
                              acc_bits=A,
                              dsp_lanes=sum(lane < cfg.dsp_lanes for lane in lanes))
            m.submodules[f"lane_group{g}"] = group
            m.d.comb += [
                group.mag.eq(mag_w), group.valid.eq(valid_w), group.clear.eq(clear_w),
                # Input j of the event: lane l's weight is field j * P + l of the word, with
                # the event's magnitudes (the group registers both).
                group.weights.eq(Cat(weights[(j * P + lane) * WB:(j * P + lane + 1) * WB]
                                     for j in range(K) for lane in lanes)),
            ]
            for k, lane in enumerate(lanes):
                acc[lane] = group.acc[k * A:(k + 1) * A].as_signed()
        # The update may start while the last product is being accumulated: its first stage
        # samples the accumulators one cycle later.
        pipe_empty = ~(valid_e | clear_e) & ~(valid_a | clear_a) & ~(valid_w | clear_w) & ~valid_g

        # -- neuron update ----------------------------------------------------------------------
        chunk = Signal(range(chunks_per_block + 1))     # chunk at the membrane read port
        upd_left = Signal(range(chunks_per_block + 1))  # chunks of the block after `chunk`
        upd_have = Signal()
        more_blocks = Signal()        # the layer has another block after this one
        chunk_first = Signal(n_bits + 1)
        m.d.comb += chunk_first.eq(neuron_base + chunk * U)
        # Neurons of the layer from the chunk's first on: lane k is real when it exceeds k.
        # A register counted down by U per chunk (set when UPDATE starts), so that the lanes'
        # comparisons start from a register instead of two subtractions.
        chunk_left = Signal(signed(n_bits + 2))
        acc_chunks = Array(Cat(*acc[c * U:(c + 1) * U]) for c in range(chunks_per_block))
        acc_chunk = Signal(U * A)
        m.d.comb += acc_chunk.eq(acc_chunks[chunk])

        # Five stages: the membrane word of chunk `chunk` is at the read port and is registered
        # with the chunk's currents (stage 1), so that the block RAM's clock-to-output and the
        # leak multiplier sit in different cycles; stage 2 multiplies for the leak; stage 3
        # rounds the leak and adds the current; stage 4 saturates and tests the threshold;
        # stage 5 fires, resets and writes back. sN_* describe the chunk in stage N (its
        # membrane word, its first neuron and its real lanes), so that the next block of the
        # layer may start while the last chunks of this one are still in the pipeline.
        def stage(n):
            return (Signal(name=f"s{n}_valid"), Signal.like(chunk_base, name=f"s{n}_chunk"),
                    Signal.like(chunk_first, name=f"s{n}_first"), Signal(U, name=f"s{n}_mask"))
        s2, s3, s4, s5 = stage(2), stage(3), stage(4), stage(5)
        m.d.sync += [a.eq(b) for a, b in zip(s3 + s4 + s5, s2 + s3 + s4)]
        s2_valid, s2_chunk, s2_first, s2_mask = s2
        s3_valid, s4_valid = s3[0], s4[0]
        s5_valid, s5_chunk, s5_first, s5_mask = s5
        m.d.sync += s2_valid.eq(0)
        with m.If(abort):
            m.d.sync += [s2_valid.eq(0), s3_valid.eq(0), s4_valid.eq(0), s5_valid.eq(0)]
        first_step = t == 0
        spikes = Signal(U)
        new_word = Signal(U * NW)
        mask = Signal(U)
        first_fire = Signal(U)
        for k in range(U):
            unit = NeuronUnit(M, A, latency=4)
            m.submodules[f"unit{k}"] = unit
            old = v_rd.data[k * NW:(k + 1) * NW]
            m.d.comb += [
                unit.v.eq(Mux(first_step, 0, old[:M].as_signed())),
                unit.fired.eq(~first_step & old[M]),
                unit.current.eq(acc_chunk[k * A:(k + 1) * A].as_signed()),
                unit.valid.eq(chunk_left > k),
                unit.scale.eq(c_scale), unit.bias.eq(c_bias),
                unit.reset.eq(c_mode[2:4]), unit.fire_once.eq(c_mode[4]),
                unit.threshold.eq(c_theta),
                unit.vmin.eq(vmin), unit.vmax.eq(vmax),
                mask[k].eq(chunk_left > k),  # stage 1
                spikes[k].eq(unit.spike),
                new_word[k * NW:(k + 1) * NW].eq(Cat(unit.v_next, unit.fired_next)),
                first_fire[k].eq(unit.spike & ~unit.fired_used),
            ]
            # A lane that did not spike (written only at step 0) stores a clear flag: its time
            # reads as 255 and its potential as 0, on the bus and in the read-out.
            m.d.comb += r_wr.data[k * RW:(k + 1) * RW].eq(Cat(unit.spike, t[:TB], unit.p))
        def vaddr(word):
            return Cat(word[:chunk_bits], layer) if chunk_bits else layer

        # Stage 5 commits whatever the sequencer's state (the next block of the layer may
        # have started): the membrane word, the results of the output layer, and the spikes
        # as one event-buffer entry of the next layer.
        commit = Signal()
        m.d.comb += [
            commit.eq(s5_valid & busy),
            v_wr.addr.eq(vaddr(s5_chunk)),
            v_wr.data.eq(new_word),
            v_wr.en.eq(commit),
            r_wr.addr.eq(s5_chunk),
        ]
        # The spikes' entry is registered before it is written, so that the spike decision
        # and the event buffer's count and write multiplexers sit in different cycles (the
        # next layer's BLOCK waits one cycle more for it, UPDATE).
        sp_write = Signal()
        sp_idx = Signal(EB, reset_less=True)
        sp_mag = Signal(U, reset_less=True)
        sp_one = Signal(reset_less=True)
        m.d.sync += [sp_write.eq(commit & ~c_last & (spikes != 0)),
                     sp_idx.eq(s5_first >> k_bits), sp_mag.eq(spikes),
                     sp_one.eq(at_most_one(any_per_group(spikes, K)))]
        with m.If(sp_write):
            m.d.comb += [ev_write.eq(1), ev_write_sel.eq(~cur_sel), ev_write_idx.eq(sp_idx),
                         ev_write_mag.eq(sp_mag), ev_write_one.eq(sp_one)]
        # The scan's events are written as they are emitted (scan_active is only set in
        # ACCUM: the write decision comes from registers, not from the sequencer's state).
        with m.If(scan_active & x_left):
            m.d.comb += [ev_write.eq(1), ev_write_sel.eq(cur_sel),
                         ev_write_idx.eq(scan_event_idx), ev_write_mag.eq(scan_mag)]
        with m.If(commit & c_last):
            m.d.comb += r_wr.en.eq(Mux(first_step, Const(-1, U), first_fire))
        if cfg.trace:
            tr = self.trace
            m.d.comb += [
                tr.valid.eq(commit), tr.layer.eq(layer), tr.step.eq(t),
                tr.index.eq(s5_first), tr.mask.eq(s5_mask), tr.spikes.eq(spikes),
            ]
            for k in range(U):
                m.d.comb += tr.membrane[k * M:(k + 1) * M].eq(new_word[k * NW:k * NW + M])

        # -- read-out --------------------------------------------------------------------------
        m.submodules.readout = ro = Readout(M, n_bits)
        ro_index = Signal(n_bits + 1)
        ro_have = Signal()
        m.d.comb += ro.max_membrane.eq(net_readout)
        # The read-out's clear, a register: set as READOUT starts, a cycle before the first
        # read, three before the read-out sees the first neuron.
        ro_clear = Signal()
        m.d.sync += ro_clear.eq(0)
        m.d.comb += ro.clear.eq(ro_clear)
        # One lane of the result and membrane words, for the read-out while busy and for the
        # bus while idle (the result window is read when DONE), so both share one multiplexer.
        # A register: the read-out's lane while busy (set in READOUT), the bus address's lane
        # while idle (taken with read_addr), so that no multiplexer precedes the lane select.
        sel_lane = Signal(range(max(2, U)))
        if U > 1:
            with m.If(~busy):
                m.d.sync += sel_lane.eq(addr[:_clog2(U)])
        # The words read are registered whole before a lane is selected, and the selected
        # lane again before the read-out, which compares it as it registers it, so that the
        # memories' clock-to-output, the lane multiplexer and the comparisons sit in different
        # cycles.
        v_word = Signal.like(v_rd.data, reset_less=True)
        r_word = Signal.like(r_rd.data, reset_less=True)
        word_lane = Signal.like(sel_lane)
        m.d.sync += [v_word.eq(v_rd.data), r_word.eq(r_rd.data), word_lane.eq(sel_lane)]
        r_sel = Signal(RW)
        v_sel = Signal(signed(M))
        first_time = Signal(8)
        first_potential = Signal(signed(M))
        read_addr = Signal.like(addr)
        m.d.comb += [
            r_sel.eq(r_word.word_select(word_lane, RW) if U > 1 else r_word),
            v_sel.eq((v_word.word_select(word_lane, NW) if U > 1 else v_word)[:M]),
            first_time.eq(Mux(r_sel[0], r_sel[1:1 + TB], 255)),
            first_potential.eq(Mux(r_sel[0], r_sel[1 + TB:].as_signed(), 0)),
        ]
        ro_have_word = Signal()       # a read-out neuron's words are in v_word and r_word
        ro_word_index = Signal(n_bits)
        ro_valid = Signal()
        ro_held = Signal()            # the read-out holds a neuron it has not yet compared
        m.d.sync += [ro_have_word.eq(ro_have), ro_word_index.eq(ro_index - 1),
                     ro_valid.eq(ro_have_word), ro.index.eq(ro_word_index),
                     ro.first_time.eq(first_time), ro.first_potential.eq(first_potential),
                     ro.final_v.eq(v_sel), ro_held.eq(ro_valid)]
        m.d.comb += ro.valid.eq(ro_valid)

        # -- read ports: the sequencer drives them while busy, the bus while idle ---------------
        seq_w_addr = Signal.like(wmem.r_addr)
        seq_v_addr = Signal.like(v_rd.addr)
        seq_v_en = Signal()
        seq_r_addr = Signal.like(r_rd.addr)
        seq_e_addr = Signal.like(e_rd.addr)
        seq_e_en = Signal()
        res_index = addr[:R - 2]
        with m.If(busy):
            m.d.comb += [
                wmem.r_addr.eq(seq_w_addr), p_rd.addr.eq(seq_p_addr), p_rd.en.eq(seq_p_en),
                v_rd.addr.eq(seq_v_addr), v_rd.en.eq(seq_v_en), r_rd.addr.eq(seq_r_addr),
                e_rd.addr.eq(seq_e_addr), e_rd.en.eq(seq_e_en),
            ]
        with m.Else():
            m.d.comb += [
                wmem.r_addr.eq(addr[:cfg.addr_width - 1][w_sub_bits:]),
                p_rd.addr.eq(addr[pix_sub_bits:R]),
                v_rd.addr.eq(Cat(res_index[_clog2(U):][:chunk_bits], net_layers - 1)
                             if chunk_bits else net_layers - 1),
                r_rd.addr.eq(res_index[_clog2(U):]),
            ]
        m.d.comb += seq_w_addr.eq(w_addr_e)

        # -- sequencer ----------------------------------------------------------------------------
        last_layer_index = net_layers - 1
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)

        def load_layer(index):
            return [
                c_groups.eq((l_n_in[index] + K - 1) >> k_bits), c_n_out.eq(l_n_out[index]),
                c_theta.eq(l_theta[index]), c_mode.eq(l_mode[index]),
                c_leak.eq(l_leak[index]), c_last.eq(index == last_layer_index),
                row_base.eq(l_row[index]), chunk_base.eq(0), neuron_base.eq(0),
                n_left.eq(l_n_out[index]),
            ]

        def abortable():
            # CONTROL.ABORT: back to idle from any state; the next start reinitializes all.
            # Called last in every state, so that it overrides the state's own transition.
            with m.If(abort):
                m.next = "IDLE"

        # The membrane word the update reads next (a register, so that no adder precedes the
        # block RAM's address).
        v_next = Signal.like(chunk_base)
        # The update, one group of U neurons per cycle from ACCUM's end on, outside the
        # sequencer's states, so that the next block of the layer can start meanwhile
        # (UPDATE); its spikes become one event-buffer entry of the next layer (stage 5).
        with m.If(upd_have):
            m.d.sync += [chunk.eq(chunk + 1), chunk_left.eq(chunk_left - U),
                         upd_left.eq(upd_left - 1),
                         s2_valid.eq(1), s2_chunk.eq(chunk_base + chunk),
                         s2_first.eq(chunk_first), s2_mask.eq(mask)]
            with m.If(upd_left != 0):
                m.d.comb += [seq_v_addr.eq(vaddr(v_next)), seq_v_en.eq(1)]
                m.d.sync += v_next.eq(v_next + 1)
            with m.Else():
                m.d.sync += upd_have.eq(0)
                with m.If(more_blocks):
                    m.d.sync += [chunk_base.eq(chunk_base + chunks_per_block),
                                 neuron_base.eq(neuron_base + P), n_left.eq(n_left - P)]

        setup_wait = Signal(range(SETUP_CYCLES))
        with m.FSM(name="seq"):
            with m.State("IDLE"):
                with m.If(start):
                    m.d.sync += [
                        busy.eq(1), done.eq(0), aborted.eq(0), rejected.eq(0), cycles.eq(0),
                        t.eq(0), more_steps.eq(net_T > 1),
                        lfsr.eq(net_seed), hyb_lo.eq(0), hyb_hi.eq(0),
                        # 2**(M-1) - 1 and its complement, as a thermometer code
                        vmax.eq(Cat(Const(i) < net_M - 1 for i in range(M))),
                        vmin.eq(~Cat(Const(i) < net_M - 1 for i in range(M))),
                        setup_wait.eq(SETUP_CYCLES - 1),
                        # an inference aborted in READOUT may have left them set
                        ro_have.eq(0), ro_have_word.eq(0),
                    ]
                    m.next = "SETUP"
            with m.State("SETUP"):
                # Let the registers derived from the network and the pixels (scan mask, first
                # row) settle after the host's last write.
                m.d.sync += setup_wait.eq(setup_wait - 1)
                with m.If(setup_wait == 0):
                    m.next = "STEP"
                abortable()
            with m.State("STEP"):
                # A new timestep: layer 0, event buffers empty. The hybrid interval of this
                # step was searched during the previous step (wait if that step was short).
                hybrid = net_enc == ENCODER_CODES["hybrid"]
                with m.If(~(hybrid & bound.busy)):
                    m.d.sync += [layer.eq(0), cur_sel.eq(0), ev_count[0].eq(0),
                                 ev_count[1].eq(0)]
                    m.d.sync += load_layer(0)
                    with m.If(hybrid & (t != 0)):
                        m.d.sync += [hyb_lo.eq(hyb_hi), hyb_hi.eq(bound.bound)]
                    with m.If(hybrid & more_steps):
                        m.d.comb += bound.start.eq(1)
                    # F takes the step's first row; BLOCK fetches it.
                    m.d.sync += first_block.eq(1)
                    m.d.sync += [f_row.eq(scan_first), f_have.eq(scan_any),
                                 f_cur.eq(init_cur), f_grp.eq(init_grp), f_nxt.eq(init_nxt),
                                 f_nxt_grp.eq(init_nxt_grp), f_nxt_have.eq(init_nxt_have),
                                 f_left.eq(init_left)]
                    m.next = "BLOCK"
                abortable()
            with m.State("BLOCK"):
                # Start integrating one block: clear the lanes, pick the event source.
                m.d.comb += acc_clear.eq(1)
                is_scan = first_block
                m.d.sync += first_block.eq(0)
                m.d.sync += [scan_active.eq(is_scan), x_have.eq(0), x_left.eq(0), e_have.eq(0),
                             rep_ptr.eq(1), rep_next.eq(~is_scan & (rep_count != 0)),
                             rep_todo.eq(rep_count - 1), rep_have.eq(0), rep_taken.eq(0)]
                m.d.comb += [seq_e_addr.eq(Cat(Const(0, EB), cur_sel)), seq_e_en.eq(1)]
                m.next = "ACCUM"
                abortable()
            with m.State("ACCUM"):
                with m.If(scan_active):
                    with m.If(x_left):
                        m.d.comb += [ev_valid.eq(1), ev_idx.eq(scan_event_idx),
                                     ev_mag.eq(scan_mag)]
                    with m.If(~x_have | row_last_event):
                        # X takes E's row, E the filter's results for D's row, D the row in F.
                        m.d.sync += [x_have.eq(e_have), x_row.eq(e_row), x_match.eq(e_match),
                                     x_mag.eq(e_mag), x_taken.eq(0),
                                     x_left.eq(e_have & (e_match != 0)),
                                     row_last_event.eq(at_most_one(e_match)),
                                     e_have.eq(d_have), e_row.eq(d_row),
                                     e_match.eq(group_match), e_mag.eq(group_mag)]
                        with m.If(d_have):
                            m.d.sync += lfsr.eq(lfsr_next)
                    with m.Else():
                        # Two or more events were left: one is still left after this one.
                        m.d.sync += [x_taken.eq(x_taken | lowest), x_left.eq(1),
                                     row_last_event.eq(at_most_two(remaining))]
                    m.d.comb += source_done.eq(~x_have & ~e_have & ~d_have & ~f_have)
                with m.Else():
                    with m.If(rep_have):
                        # A spike group's magnitudes are its spike bits (1 or 0 each).
                        spike_mag = (Const(1, 8) if K == 1 else
                                     Cat(Cat(rep_spikes.word_select(rep_index, K)[j],
                                             Const(0, 7)) for j in range(K)))
                        # The entry's group is a multiple of U / K and rep_index is below it:
                        # OR, not an adder.
                        m.d.comb += [ev_valid.eq(1), ev_idx.eq(rep_entry[:EB] | rep_index),
                                     ev_mag.eq(Mux(layer == 0, rep_entry[EB:EB + 8 * K],
                                                   spike_mag))]
                        with m.If(~rep_last):
                            m.d.sync += [rep_taken.eq(rep_taken | rep_lowest),
                                         rep_last.eq(at_most_two(rep_mask))]
                    # Take the next entry over when the current one is done (or none is held),
                    # and read the one after it.
                    with m.If(~rep_have | rep_last):
                        flag = e_rd.data[0] if flag_in_index else e_rd.data[EB + PW]
                        m.d.sync += [rep_taken.eq(0), rep_have.eq(rep_next),
                                     rep_entry.eq(e_rd.data[:EB + PW]),
                                     rep_last.eq((layer == 0) | flag)]
                        if flag_in_index:
                            with m.If(layer != 0):  # the index without the flag
                                m.d.sync += rep_entry[0].eq(0)
                        with m.If(rep_next & (rep_todo != 0)):
                            m.d.comb += [seq_e_addr.eq(Cat(rep_ptr[:EB], cur_sel)),
                                         seq_e_en.eq(1)]
                            m.d.sync += [rep_ptr.eq(rep_ptr + 1), rep_todo.eq(rep_todo - 1)]
                        with m.Else():
                            m.d.sync += rep_next.eq(0)
                    m.d.comb += source_done.eq(~rep_have & ~rep_next)
                with m.If(source_done & pipe_empty & ~upd_have):
                    m.d.sync += [chunk.eq(0), scan_active.eq(0)]
                    m.d.comb += [seq_v_addr.eq(vaddr(chunk_base)), seq_v_en.eq(1)]
                    # ceil(n / U) - 1 chunks after the first, for the block's n neurons
                    m.d.sync += [
                        upd_have.eq(1), chunk_left.eq(n_left), more_blocks.eq(n_left > P),
                        v_next.eq(chunk_base + 1),
                        upd_left.eq(Mux(n_left >= P, chunks_per_block - 1,
                                        (n_left - 1) >> _clog2(U))),
                    ]
                    m.next = "UPDATE"
                abortable()
            with m.State("UPDATE"):
                with m.If(more_blocks):
                    # The next block of the layer starts while the update finishes this one's
                    # last OVERLAP_CHUNKS chunks (the accumulators keep its sums until the next
                    # block's clear reaches them; the chunks carry their own addresses).
                    with m.If(upd_left <= OVERLAP_CHUNKS):
                        m.d.sync += row_base.eq(row_base + c_groups)
                        m.next = "BLOCK"
                with m.Elif(~upd_have & ~s2_valid & ~s3_valid & ~s4_valid &
                            (c_last | ~s5_valid)):
                    # The layer's last block done (the output layer's last group commits in
                    # this cycle, another layer's spikes of its last group are written): next
                    # layer, next step or the read-out, whose parameters and events must wait
                    # for the whole pipeline.
                    with m.If(~c_last):
                        m.d.sync += [layer.eq(layer + 1), cur_sel.eq(~cur_sel),
                                     ev_count[cur_sel].eq(0)]
                        m.d.sync += load_layer(layer + 1)
                        m.next = "BLOCK"
                    with m.Elif(more_steps):
                        m.d.sync += [t.eq(t + 1), more_steps.eq(t + 2 < net_T)]
                        m.next = "STEP"
                    with m.Else():
                        m.d.sync += ro_clear.eq(1)
                        m.d.sync += [ro_index.eq(0), ro_have.eq(0)]
                        m.next = "READOUT"
                abortable()
            with m.State("READOUT"):
                n_cls = c_n_out
                m.d.comb += [seq_v_addr.eq(vaddr(ro_index[_clog2(U):])),
                             seq_v_en.eq(1), seq_r_addr.eq(ro_index[_clog2(U):])]
                if U > 1:
                    m.d.sync += sel_lane.eq(ro_index[:_clog2(U)])
                with m.If(ro_index < n_cls):
                    m.d.sync += [ro_index.eq(ro_index + 1), ro_have.eq(1)]
                with m.Else():
                    m.d.sync += ro_have.eq(0)
                    with m.If(~ro_have & ~ro_have_word & ~ro_valid & ~ro_held):
                        m.next = "FINISH"
                abortable()
            with m.State("FINISH"):
                m.d.sync += [result_class.eq(ro.cls), busy.eq(0), done.eq(1)]
                m.next = "IDLE"
                abortable()

        with m.If(abort):
            m.d.sync += [busy.eq(0), aborted.eq(1), done.eq(0), scan_active.eq(0),
                         first_block.eq(0), upd_have.eq(0), sp_write.eq(0)]

        # Rows the encoder scans: ceil(n_in(0) / S).
        m.d.sync += scan_rows.eq((l_n_in[0] + S - 1) >> _clog2(S))

        # -- bus read data ---------------------------------------------------------------------
        m.d.sync += read_addr.eq(addr)
        ra = read_addr
        r_in_weights = ra[cfg.addr_width - 1]
        r_reg = ra[:R]
        # One word per region, registered in read_sel; read_done picks the region's.
        rd_w, rd_reg, rd_pix, rd_res = (Signal(32, name=f"rd_{n}")
                                        for n in ("w", "reg", "pix", "res"))
        ident = {
            memmap.REG_MAGIC: memmap.MAGIC, memmap.REG_VERSION: memmap.VERSION,
            memmap.REG_CFG_LANES: P, memmap.REG_CFG_UNITS: U,
            memmap.REG_CFG_PIXELS_PER_CYCLE: S, memmap.REG_CFG_WEIGHT_BITS: WB,
            memmap.REG_CFG_MEMBRANE_BITS: M, memmap.REG_CFG_MAX_LAYERS: L,
            memmap.REG_CFG_MAX_NEURONS: cfg.max_neurons,
            memmap.REG_CFG_MAX_INPUTS: cfg.max_inputs,
            memmap.REG_CFG_MAX_TIMESTEPS: cfg.max_timesteps,
            memmap.REG_CFG_WEIGHT_WORDS: cfg.weight_words,
            memmap.REG_CFG_ENCODERS: sum(1 << ENCODER_CODES[e] for e in cfg.encoders),
            memmap.REG_CFG_ACC_BITS: A, memmap.REG_CFG_REGION_BITS: R,
            memmap.REG_CFG_WEIGHT_BASE: cfg.weight_base,
            memmap.REG_CFG_WEIGHT_STRIDE: cfg.weight_stride,
            memmap.REG_CFG_INPUTS_PER_CYCLE: cfg.inputs_per_cycle,
            memmap.REG_CFG_TRACE: int(cfg.trace),
            memmap.REG_CFG_DSP_LANES: cfg.dsp_lanes,
        }
        sub = ra[:w_sub_bits] if w_sub_bits else Const(0, 1)
        # `weights` holds the word read (it takes the read port's data every cycle).
        m.d.sync += rd_w.eq(weights.word_select(sub, 32) if w_subs > 1 else weights[:32])
        if w_subs > 1 and w_subs != cfg.weight_stride:
            with m.If(sub >= w_subs):
                m.d.sync += rd_w.eq(0)
        # The registers' word in two steps: the constants and the variables are selected
        # apart (read_wait), then combined (read_sel). Unassigned addresses read as 0.
        rd_ident = Signal(32)
        rd_var = Signal(32)
        m.d.sync += [rd_ident.eq(0), rd_var.eq(0), rd_res.eq(0), rd_reg.eq(rd_ident | rd_var)]
        with m.Switch(r_reg):
            for address, value in ident.items():
                with m.Case(address):
                    m.d.sync += rd_ident.eq(value)
            with m.Case(memmap.REG_STATUS):
                m.d.sync += rd_var.eq(Cat(busy, done, aborted, rejected))
            with m.Case(memmap.REG_CYCLES):
                m.d.sync += rd_var.eq(cycles)
            with m.Case(memmap.REG_CLASS):
                m.d.sync += rd_var.eq(result_class)
            for address, sig in param_fields.items():
                with m.Case(address):
                    m.d.sync += rd_var.eq(sig)
        m.d.sync += rd_pix.eq(p_rd.data.word_select(ra[:pix_sub_bits], 32) if pix_sub > 1
                              else p_rd.data[:32])
        # The selected lane's values come from the registered words (v_word, r_word).
        which = ra[R - 2:R]
        with m.Switch(which):
            with m.Case(memmap.RESULT_FIRST_TIME):
                m.d.sync += rd_res.eq(first_time)
            with m.Case(memmap.RESULT_FIRST_POTENTIAL):
                m.d.sync += rd_res.eq(first_potential)
            with m.Case(memmap.RESULT_FINAL_MEMBRANE):
                m.d.sync += rd_res.eq(v_sel)
        # The region of the word read: weights, registers, pixels or results (or none).
        r_sel_region = Signal(4)
        m.d.sync += r_sel_region.eq(Cat(r_in_weights, *(window(ra, n) for n in range(3))))
        rdata = Signal(32)
        m.d.comb += rdata.eq(Mux(r_sel_region[0], rd_w, 0) | Mux(r_sel_region[1], rd_reg, 0)
                             | Mux(r_sel_region[2], rd_pix, 0) | Mux(r_sel_region[3], rd_res, 0))
        m.d.comb += b.r_data.eq(Mux(read_done, rdata, 0))
        return m
