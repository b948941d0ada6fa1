"""Exact cycle count of one inference on ``hw.accel.Accelerator``, without simulating it.

:func:`cycle_count` replays the sequencer's schedule from the golden model's events and spikes
(``core.golden``): the encoder's rows, the events each block integrates, the spikes each
neuron-update cycle drains. It returns the value the ``CYCLES`` register shows after the
inference; the tests check it against the simulated gateware, so that the benchmark can
report cycles for whole test sets at the speed of the golden model.

:func:`zero_words` and :func:`sparsity` say how much of a (pruned) network's weight memory is
zero, and ``cycle_counts(..., skip_zero_words=True)`` what an accelerator that skipped the
events whose weight word is all zero would take (a design study: the gateware does not skip;
docs/training.md, "Pruning to a few levels").
"""

from __future__ import annotations

import numpy as np

from . import golden
from .config import Config, map_orders
from .schedule import (BOUND_CYCLES, CONV_ADDRESS_STAGES, CONV_PAIR_REGISTERS,
                       CONV_SKIP_NONE, CONV_SKIP_START, CONV_SLOT_STAGES, CONV_UPDATE_DRAIN,
                       OVERLAP_CHUNKS, PIPE_DRAIN, SETUP_CYCLES, conv_skips)

__all__ = ["cycle_count", "cycle_counts", "event_bounds", "zero_words", "sparsity",
           "zero_word_savings"]


def _accum_scan(row_events):
    """Cycles of the encoder-fed ACCUM state for rows with the given event counts: two to move
    the first row from the pixel read port through the filter's register to the event stage,
    then one per event (one for a row without events), and at least the pipeline drain of
    BLOCK's clear."""
    cycle, last_event = (2 if len(row_events) else 0), None
    for count in row_events:
        if count:
            last_event = cycle + count - 1
        cycle += max(1, count)
    exit = cycle if last_event is None else max(cycle, last_event + PIPE_DRAIN)
    return max(exit, PIPE_DRAIN - 1) + 1


def _accum_replay(count):
    """Cycles of the replay-fed ACCUM state for ``count`` events: one to take the first entry
    over from the event buffer's read port, one per event, then the pipeline drain (of BLOCK's
    clear when there is no event)."""
    return PIPE_DRAIN if count == 0 else count + 1 + PIPE_DRAIN


def _update(chunks, last, output_layer):
    """Cycles of the UPDATE state for one block of ``chunks`` groups of U neurons, and the
    cycles its update goes on after the next block's BLOCK state: for the ``last`` block of a
    layer, one per group and four more for the later pipeline stages of its last group (the
    last also moves on), five but for the ``output_layer`` (its spikes' entry is registered
    before it is written), nothing after; otherwise the next block starts while the update has
    up to ``OVERLAP_CHUNKS`` groups to go."""
    if last:
        return chunks + (4 if output_layer else 5), 0
    return max(1, chunks - OVERLAP_CHUNKS), min(OVERLAP_CHUNKS, chunks - 1)


def _block_update(first, size, P, U, output_layer):
    """:func:`_update` of the block of ``P`` neurons from ``first`` of a layer of ``size``
    (in ``U``-neuron groups; the last block may be short)."""
    return _update(-(-(min(first + P, size) - first) // U), last=first + P >= size,
                   output_layer=output_layer)


def _any_per_group(flags, size):
    """``flags`` (..., n) grouped along the last axis in ``size`` consecutive entries (the last
    group padded with False): whether any of each group's is set, (..., ceil(n / size))."""
    n = flags.shape[-1]
    padded = np.zeros(flags.shape[:-1] + (-(-n // size) * size,), bool)
    padded[..., :n] = flags
    return padded.reshape(flags.shape[:-1] + (-1, size)).any(axis=-1)


def zero_words(network, config: Config) -> list:
    """Which weight-memory words of each layer hold only zeros: a bool array (blocks, groups)
    per layer, word (b, g) holding the weights of input group ``g`` (``K`` inputs) for the
    block of neurons ``b * P .. b * P + P - 1``, the layout of ``sw.compiler.weight_rows``
    (fields past ``n_out`` or ``n_in`` are zero padding)."""
    P, K = config.lanes, config.inputs_per_cycle
    network.require_dense("the zero-word study", "cycle_counts counts a conv network's "
                          "cycles without skipping")
    out = []
    for layer in network.layers:
        blocks, groups = -(-layer.n_out // P), -(-layer.n_in // K)
        nonzero = np.zeros((blocks * P, groups * K), bool)
        nonzero[:layer.n_out, :layer.n_in] = np.asarray(layer.weights) != 0
        out.append(~nonzero.reshape(blocks, P, groups, K).any(axis=(1, 3)))
    return out


def sparsity(network, config: Config) -> dict:
    """Zero weights and all-zero weight-memory words of ``network`` in ``config``'s layout:
    ``zero_fraction`` (of all weights) and ``zero_words`` / ``words`` in total and per layer
    (``layers``: a dict per layer with the same keys and ``distinct_nonzero``, the number of
    distinct nonzero weight values)."""
    layers = []
    for layer, zero in zip(network.layers, zero_words(network, config)):
        w = np.asarray(layer.weights)
        layers.append({"weights": int(w.size), "zero_weights": int((w == 0).sum()),
                       "zero_fraction": float((w == 0).mean()),
                       "distinct_nonzero": int(len(np.unique(w[w != 0]))),
                       "words": int(zero.size), "zero_words": int(zero.sum())})
    weights = sum(l["weights"] for l in layers)
    return {"zero_fraction": sum(l["zero_weights"] for l in layers) / max(weights, 1),
            "words": sum(l["words"] for l in layers),
            "zero_words": sum(l["zero_words"] for l in layers), "layers": layers}


def cycle_counts(network, config: Config, pixels, skip_zero_words: bool = False) -> np.ndarray:
    """Cycles of each image of ``pixels`` (B, n_in); int64 (B,).

    With ``skip_zero_words`` the count is that of a hypothetical accelerator whose blocks drop,
    at no cost, every event whose weight word for the block is all zero (:func:`zero_words`):
    the encoder scan still visits each row, but such an event costs no integration cycle. It
    is the most that skipping zero words can save; the gateware does not do it."""
    if any(layer.conv is not None for layer in network.layers):
        if skip_zero_words:
            network.require_dense("skipping zero words", "count the conv network's cycles "
                                  "without skip_zero_words")
        return _conv_cycle_counts(network, config, np.asarray(pixels))
    pixels = np.asarray(pixels)
    trace = golden.run(network, pixels)
    events = golden.encode(network, pixels) != 0  # (B, T, n_in)
    P, U, S = config.lanes, config.neuron_units, config.pixels_per_cycle
    K = config.inputs_per_cycle
    T, L = network.timesteps, len(network.layers)
    n_in = network.n_inputs
    rows = -(-n_in // S)
    # An integration cycle takes a group of K consecutive inputs with at least one event.
    group_events = _any_per_group(events, K)
    padded = np.zeros(events.shape[:2] + (rows * S // K,), bool)
    padded[:, :, :group_events.shape[-1]] = group_events
    # Rows the encoder visits: all for rate, else those with a nonzero pixel (the host pads
    # the last row with zeros, sw.compiler.pixel_writes).
    image = np.zeros((len(pixels), rows * S), np.int64)
    image[:, :n_in] = pixels
    nonzero = (image.reshape(len(pixels), rows, S) > 0).any(axis=2)
    if network.encoder == "rate":
        nonzero[:] = True
    spike_groups = [_any_per_group(s, K) for s in trace.spikes]
    # live[l][b, g]: block b of layer l integrates input group g's events (all, today)
    live = ([~z for z in zero_words(network, config)] if skip_zero_words else
            [np.ones((-(-l.n_out // P), -(-l.n_in // K)), bool) for l in network.layers])
    scan_live = np.zeros(rows * S // K, bool)
    scan_live[:live[0].shape[1]] = live[0][0]
    scan_events = (padded & scan_live).reshape(events.shape[0], T, rows, S // K).sum(axis=3)
    out = np.zeros(len(pixels), np.int64)
    for b in range(len(pixels)):
        total, bound_ready = SETUP_CYCLES, 0
        for t in range(T):
            # STEP waits for the hybrid bound search started in the previous STEP
            step = max(1, bound_ready - total + 1) if network.encoder == "hybrid" and t else 1
            total += step
            bound_ready = total - 1 + BOUND_CYCLES
            for index, layer in enumerate(network.layers):
                active = group_events[b, t] if index == 0 else spike_groups[index - 1][b, t]
                update_left = 0  # cycles the previous block's update goes on after BLOCK
                for first in range(0, layer.n_out, P):
                    total += 1  # BLOCK
                    if index == 0 and first == 0:
                        visited = nonzero[b]
                        accum = _accum_scan(scan_events[b, t][visited])
                    else:
                        accum = _accum_replay(int((active & live[index][first // P]).sum()))
                    # ACCUM ends once that update is done too
                    total += max(accum, update_left)
                    cycles, update_left = _block_update(first, layer.n_out, P, U,
                                                        output_layer=index == L - 1)
                    total += cycles
        # READOUT (read, words, lane, the read-out's register, compare), FINISH
        total += network.n_classes + 5 + 1
        out[b] = total
    return out


def _landing(conv, size, out, first=0, banks=1):
    """For each input row (or column) of a conv layer's map, ``size`` of them: how many kernel
    rows (columns) land it on an output row (column) ``first .. out - 1``, int64 (size,); with
    ``banks``, how many groups of ``banks`` consecutive kernel columns (``kx // banks``, a
    kernel word's, ``Config.conv_banks``) hold one that lands."""
    kernel = np.arange(conv.kernel)
    n = np.arange(size)[:, None] + conv.padding - kernel[None, :]
    ok = (n >= 0) & (n % conv.stride == 0) & (n // conv.stride < out) & (
        n // conv.stride >= first)
    if banks == 1:
        return ok.sum(axis=1)
    groups = np.zeros((size, -(-conv.kernel // banks)), bool)
    np.logical_or.at(groups, (slice(None), kernel // banks), ok)
    return groups.sum(axis=1)


def _conv_pairs(conv, inputs, band=None, banks=1):
    """For each hardware index of a conv layer's input map: the address generator's slots
    (``hw.convaddr``), the kernel rows that land times the groups of ``banks`` kernel
    columns with one that lands (the output positions reached when ``banks`` is 1), int64;
    in the band ``(first row, rows)`` of output rows only, when given."""
    first, count = (0, conv.out_height) if band is None else band
    rows = _landing(conv, conv.height, first + count, first)
    cols = np.zeros(1 << inputs.w_bits, np.int64)
    cols[:conv.width] = _landing(conv, conv.width, conv.out_width, banks=banks)
    h = np.arange(inputs.size)
    return rows[h >> (inputs.c_bits + inputs.w_bits)] * cols[(h >> inputs.c_bits)
                                                               & ((1 << inputs.w_bits) - 1)]


def _touched(conv, events):
    """Which output positions a conv layer's events reach, per step: ``events`` (B, T, n_in)
    in the logical order, the result bool (B, T, out_height, out_width). A position is
    touched by an event on any channel (the current memory's word holds all of a block's
    channels, and a depthwise layer's zero weights still take their slot)."""
    k, s, p = conv.kernel, conv.stride, conv.padding
    shape = events.shape[:2]
    image = events.reshape(shape + (conv.in_channels, conv.height, conv.width)).any(axis=2)
    padded = np.zeros(shape + (conv.height + 2 * p, conv.width + 2 * p), bool)
    padded[..., p:p + conv.height, p:p + conv.width] = image
    out = np.zeros(shape + (conv.out_height, conv.out_width), bool)
    for ky in range(k):
        for kx in range(k):
            out |= padded[..., ky:ky + s * (conv.out_height - 1) + 1:s,
                          kx:kx + s * (conv.out_width - 1) + 1:s]
    return out


def _band_sums(touched, bands):
    """Of :func:`_touched`'s (B, T, out_height, out_width) positions, how many lie in each
    band ``(first row, rows)``: a list of (B, T) int64."""
    rows = touched.sum(axis=3, dtype=np.int64)
    return [rows[:, :, first:first + count].sum(axis=2) for first, count in bands]


def _pending(layer, spikes, membrane):
    """After each step, whether some neuron of ``layer`` may fire in the next step without
    current (``v >= theta`` and not silenced by fire-once): bool (B, T) from the golden
    trace's (B, T, n) spikes and membranes."""
    fired = np.logical_or.accumulate(spikes, axis=1)
    live = membrane >= layer.threshold
    if layer.fire_once:
        live &= ~fired
    return live.any(axis=2)


def _log2(value):
    return max(0, (value - 1).bit_length())


def _accum_conv(pairs):
    """Cycles of a conv block's ACCUM state for events of ``pairs`` slots each (the output
    positions they reach with one bank, :func:`_conv_pairs`), in replay order: the replay
    offers an event per cycle from the second on, the address generator's stages S0 .. S3
    (``CONV_ADDRESS_STAGES``) take it through their ready chain (an event that reaches
    nothing is dropped as it enters S2) and S3 chooses a slot per cycle, and the state ends
    once the replay, the generator (its output register too) and the integration's six slot
    stages are empty."""
    n, i, last_stage = len(pairs), 0, CONV_ADDRESS_STAGES - 1
    valid, count, left = [False] * CONV_ADDRESS_STAGES, [0] * CONV_ADDRESS_STAGES, 0
    drain = CONV_PAIR_REGISTERS + CONV_SLOT_STAGES    # cycles of a slot after S3
    cycle, last_pair = 1, -drain - 1
    while True:
        if i == n and not any(valid) and cycle - last_pair > drain:
            return cycle
        ready = [False] * CONV_ADDRESS_STAGES
        ready[last_stage] = not valid[last_stage] or left == 1
        for k in reversed(range(last_stage)):
            ready[k] = not valid[k] or ready[k + 1]
        if valid[last_stage]:
            last_pair, left = cycle, left - 1
        if ready[last_stage]:
            valid[last_stage], left = valid[last_stage - 1], count[last_stage - 1]
        for k in reversed(range(1, last_stage)):
            if ready[k]:
                reaches = count[k - 1] > 0 or k != last_stage - 1    # S2 drops
                valid[k], count[k] = valid[k - 1] and reaches, count[k - 1]
        if ready[0]:
            offer = i < n and cycle >= 2
            valid[0], count[0] = offer, (pairs[i] if offer else 0)
            i += offer
        cycle += 1


def _conv_cycle_counts(network, config: Config, pixels) -> np.ndarray:
    """:func:`cycle_counts` of a network with conv layers (``docs/architecture.md``,
    "Convolution"): every map in the gateware's order (``core.config.map_orders``); a conv
    layer 0's scan only fills the event buffer (BLOCK and the scan's ACCUM); each conv block
    is, for each band of output rows (``Config.conv_bands``), BLOCK, the replay of the step's
    events through the address generator (:func:`_accum_conv`, the pairs in the band) and the
    walk over the band's positions, a chunk per cycle, with the update's five stages after
    it; a slot is a kernel row and a word of ``conv_banks`` of its columns. Dense layers count
    as in :func:`cycle_counts`; ``inputs_per_cycle`` is 1."""
    trace = golden.run(network, pixels)
    orders = map_orders(network, config.neuron_units)
    P, U, S, PC = config.lanes, config.neuron_units, config.pixels_per_cycle, config.conv_lanes
    T, L, B = network.timesteps, len(network.layers), len(pixels)

    def hardware(flags, order):
        out = np.zeros(flags.shape[:-1] + (order.size,), bool)
        out[..., order.hardware_index()] = flags
        return out

    first = orders[0][0]
    image = np.zeros((B, -(-first.size // S) * S), np.int64)
    image[:, first.hardware_index()] = pixels
    inputs = [hardware(golden.encode(network, pixels) != 0, first)]
    inputs += [hardware(s, order) for s, (order, _) in zip(trace.spikes, orders[1:])]
    rows = image.shape[1] // S
    visited = (image.reshape(B, rows, S) > 0).any(axis=2)
    if network.encoder == "rate":
        visited[:] = True
    padded = np.zeros((B, T, rows * S), bool)
    padded[..., :first.size] = inputs[0]
    scan_events = padded.reshape(B, T, rows, S).sum(axis=3)
    bands = [config.conv_bands(layer) if layer.conv is not None else None
             for layer in network.layers]
    pairs = [[_conv_pairs(layer.conv, order, band, config.conv_banks) for band in bands[index]]
             if layer.conv is not None else None
             for index, (layer, (order, _)) in enumerate(zip(network.layers, orders))]
    # The skipping walks (docs/architecture.md, "Skipping neurons that cannot change"): the
    # positions each step's events touch, and whether the step before left a neuron pending.
    logical = [golden.encode(network, pixels) != 0] + list(trace.spikes[:-1])
    # per band: (B, T) positions touched in its rows
    touched = [_band_sums(_touched(layer.conv, events), bands[index])
               if conv_skips(layer) else None
               for index, (layer, events) in enumerate(zip(network.layers, logical))]
    pending = [_pending(layer, spikes, membrane) if conv_skips(layer) else None
               for layer, spikes, membrane in zip(network.layers, trace.spikes,
                                                  trace.membrane)]
    out = np.zeros(B, np.int64)
    for b in range(B):
        total, bound_ready = SETUP_CYCLES, 0
        for t in range(T):
            step = max(1, bound_ready - total + 1) if network.encoder == "hybrid" and t else 1
            total += step
            bound_ready = total - 1 + BOUND_CYCLES
            for index, (layer, (_, outputs)) in enumerate(zip(network.layers, orders)):
                active = inputs[index][b, t]
                scan = scan_events[b, t][visited[b]]
                conv = layer.conv
                if conv is not None:
                    if index == 0:   # BLOCK and the scan filling the event buffer
                        total += 1 + (2 + int(np.maximum(scan, 1).sum()) if len(scan) else 0) + 1
                    events = np.flatnonzero(active)
                    if index and network.layers[index - 1].conv is not None:
                        # a conv layer's spikes reach the event buffer block by block
                        inputs_order = orders[index][0]
                        block = (events & ((1 << inputs_order.c_bits) - 1)) >> _log2(PC)
                        events = events[np.argsort(block, kind="stable")]
                    chunks = min(PC, 1 << max(outputs.c_bits, 0)) // U
                    # after step 0, or at step 0 when it is the only one
                    skip = touched[index] is not None and (
                        (t and not pending[index][b, t - 1]) or T == 1)
                    cost = 0   # of one block: for each band, BLOCK, ACCUM and the walk
                    for n, (_, rows) in enumerate(bands[index]):
                        walk = rows * conv.out_width * chunks + CONV_UPDATE_DRAIN
                        if skip:
                            # only the touched positions: none at all costs the picker's start
                            reached = int(touched[index][n][b, t])
                            walk = (CONV_SKIP_START + reached * chunks + CONV_UPDATE_DRAIN
                                    if reached else CONV_SKIP_NONE)
                        cost += 1 + _accum_conv(pairs[index][n][events].tolist()) + walk
                    total += config.conv_blocks(layer) * cost
                    continue
                update_left = 0
                for start in range(0, outputs.size, P):
                    total += 1
                    if index == 0 and start == 0:
                        accum = _accum_scan(scan)
                    else:
                        accum = _accum_replay(int(active.sum()))
                    total += max(accum, update_left)
                    cycles, update_left = _block_update(start, outputs.size, P, U,
                                                        output_layer=index == L - 1)
                    total += cycles
        total += network.n_classes + 5 + 1
        out[b] = total
    return out


def event_bounds(network, pixels, lanes: int, conv_lanes: int | None = None,
                 trace=None) -> np.ndarray:
    """The *event bound* of each image of ``pixels`` (B, n_in), int64 (B,): the cycles an
    ideal event-driven machine with ``lanes`` neuron lanes (``conv_lanes`` output channels at
    once in a conv layer, ``lanes`` unless given) needs for the synaptic work alone, one
    event-to-lanes step per cycle and nothing else (no scan, no neuron update, no pipeline
    fill). Summed over the steps and layers:

    * a dense layer: each input event times ``ceil(n_out / lanes)``, its blocks of neurons;
    * a conv layer: each input event times the output positions it reaches (the rows times the
      columns of the kernel positions that land, the address generator's pairs,
      ``docs/architecture.md``, "Convolution") times ``ceil(out_channels / conv_lanes)``.

    Layer 0's events are its inputs with a nonzero magnitude (the encoder's output), layer
    ``l``'s the spikes of layer ``l - 1`` (``trace``: the golden trace of ``pixels``, computed
    when None). ``cycle_counts / event_bounds`` says how far the accelerator is from this
    machine; with two inputs per cycle the dense ratio may fall below 1, and with banks of
    the current memory (``Config.conv_banks``, several positions a cycle) the conv ratio.
    """
    pixels = np.asarray(pixels)
    if trace is None:
        trace = golden.run(network, pixels)
    conv_lanes = lanes if conv_lanes is None else conv_lanes
    events = [golden.encode(network, pixels) != 0] + list(trace.spikes[:-1])  # (B, T, n_in)
    out = np.zeros(len(pixels), np.int64)
    for layer, fired in zip(network.layers, events):
        conv = layer.conv
        if conv is None:
            out += fired.sum(axis=(1, 2), dtype=np.int64) * -(-layer.n_out // lanes)
            continue
        positions = np.outer(_landing(conv, conv.height, conv.out_height),
                             _landing(conv, conv.width, conv.out_width)).ravel()
        pairs = np.tile(positions, conv.in_channels)       # channel-major, row-major
        out += (fired.sum(axis=1, dtype=np.int64) @ pairs) * -(-conv.out_channels // conv_lanes)
    return out


def cycle_count(network, config: Config, pixels) -> int:
    """Cycles of one image (``n_in`` ints)."""
    return int(cycle_counts(network, config, np.asarray(pixels)[None])[0])


def zero_word_savings(network, config: Config, pixels) -> dict:
    """:func:`sparsity` of ``network`` with the mean cycles per inference over ``pixels``
    (B, n_in) today (``cycles``) and with all-zero words skipped (``cycles_skipping``), and the
    fraction of cycles that skipping saves (``cycles_saved``)."""
    config.check_fits(network)
    out = sparsity(network, config)
    today = cycle_counts(network, config, pixels).mean() if len(pixels) else 0.0
    skipping = (cycle_counts(network, config, pixels, skip_zero_words=True).mean()
                if len(pixels) else 0.0)
    out.update({"images": len(pixels), "cycles": float(today),
                "cycles_skipping": float(skipping),
                "cycles_saved": float(1 - skipping / today) if today else 0.0})
    return out
