"""Compile a :class:`~core.network.Network` into register and memory writes for the accelerator.

:func:`compile_network` checks that the network fits the hardware configuration *before*
producing anything, then returns the list of ``(byte_address, words)`` writes that load it
(``docs/memory-map.md``): network parameters, per-layer parameters, the weight memory and,
on hardware built with ``bias``, the bias window.
:func:`pixel_writes` packs one image for the pixel window. The host driver (``sw.device``)
sends these writes through any :class:`~core.transport.Transport`.

Weight memory layout: the inputs form groups of ``K = inputs_per_cycle`` consecutive indices;
word ``r`` has ``K * P`` fields (``P = lanes``) of ``wb = weight_bits`` bits, field ``j * P + k``
at bits ``(j*P + k)*wb ..`` (two's complement; for ``wb = 1`` the binary code of numerics.md,
section 2). Layer ``l`` starts at row ``base(l)`` (the sum of the rows of the layers before
it) and uses ``ceil(n_out / P) * ceil(n_in / K)`` rows, block-major: field ``j * P + k`` of row
``base(l) + b * ceil(n_in / K) + g`` holds ``W[b*P + k, g*K + j]`` (zero past ``n_out`` and
``n_in``). Row ``r``'s 32-bit slice ``s`` is at word address
``weight_base + r * weight_stride + s``. With ``K = 1`` a row is one input's ``P`` weights.
"""

from __future__ import annotations

import numpy as np

from core import memmap
from core.config import (ENCODER_CODES, READOUT_CODES, Config, FitError, map_orders,
                         membrane_index)
from core.network import Network
from core.schedule import conv_skips

__all__ = ["FitError", "compile_network", "weight_rows", "kernel_rows", "hardware_weights",
           "conv_register", "bias_writes", "pixel_writes", "compact_words", "compact_writes",
           "input_writes", "layer_mode", "merge_writes"]


def layer_mode(layer) -> int:
    """The ``LAYER_MODE`` register value of a layer."""
    mode = memmap.RESET_CODES[layer.reset] << memmap.MODE_RESET_SHIFT
    if layer.neuron == "lif":
        mode |= memmap.MODE_LIF
    if layer.leak_mode == "factor":
        mode |= memmap.MODE_FACTOR
    if layer.fire_once:
        mode |= memmap.MODE_FIRE_ONCE
    return mode


def weight_rows(layer, config: Config) -> np.ndarray:
    """The dense layer's weight-memory words as 32-bit slices, uint32 array (rows,
    word_bits // 32); ``layer`` may also be the (n_out, n_in) matrix itself."""
    weights = np.asarray(getattr(layer, "weights", layer), np.int64)
    P, K = config.lanes, config.inputs_per_cycle
    n_out, n_in = weights.shape
    blocks, groups = -(-n_out // P), -(-n_in // K)
    w = np.zeros((blocks * P, groups * K), np.int64)
    w[:n_out, :n_in] = weights
    # (blocks, P, groups, K) -> rows ordered (block, group), fields (input of the group, lane)
    return _pack(w.reshape(blocks, P, groups, K).transpose(0, 2, 3, 1).reshape(-1, K * P),
                 config)


def hardware_weights(layer, inputs, outputs) -> np.ndarray:
    """A dense layer's matrix in the gateware's order (``core.config.map_orders``): columns
    and rows moved to their hardware indices, zero for the padding ones."""
    w = np.zeros((outputs.size, inputs.size), np.int64)
    w[np.ix_(outputs.hardware_index(), inputs.hardware_index())] = layer.weights
    return w


def kernel_rows(layer, inputs, outputs, config: Config) -> np.ndarray:
    """A conv layer's kernel words (docs/architecture.md, "Convolution"), as
    :func:`weight_rows`: with ``B = conv_banks`` and ``KW = ceil(k / B)`` words per kernel
    row, word ``b * (k * KW << c_bits) + (c * k + ky) * KW + j`` holds ``w[o, c, ky, kx]`` of
    output channel ``o = b * conv_lanes + lane`` and kernel column ``kx = j * B + g`` in
    field ``g * conv_lanes + lane``, the kernel expanded over the groups (zero where input
    channel ``c`` is not in ``o``'s group), zero for padding channels, columns and lanes."""
    conv = layer.conv
    k, PC, B = conv.kernel, config.conv_lanes, config.conv_banks
    KW = config.kernel_row_words(k)
    channels_in = 1 << inputs.c_bits
    blocks = config.conv_blocks(layer)
    full = np.zeros((blocks * PC, channels_in, k, KW * B), np.int64)
    per_group_in = conv.in_channels // conv.groups
    per_group_out = conv.out_channels // conv.groups
    w = np.asarray(layer.weights, np.int64)
    for o in range(conv.out_channels):
        first = o // per_group_out * per_group_in
        full[o, first:first + per_group_in, :, :k] = w[o]
    # (blocks, PC, c, ky, j, g) -> words (block, c, ky, j), fields (g, lane), padded to P
    words = full.reshape(blocks, PC, channels_in, k, KW, B).transpose(0, 2, 3, 4, 5, 1)
    words = words.reshape(-1, B * PC)
    lanes = np.zeros((len(words), config.lanes), np.int64)
    lanes[:, :B * PC] = words
    return _pack(lanes, config)


def conv_register(layer, inputs, outputs) -> int:
    """The ``LAYER_CONV`` word of a layer (0 for a dense one)."""
    conv = getattr(layer, "conv", None)
    if conv is None:
        return 0
    return (memmap.CONV_ENABLE | conv.kernel << memmap.CONV_KERNEL_SHIFT
            | conv.stride << memmap.CONV_STRIDE_SHIFT | conv.padding << memmap.CONV_PADDING_SHIFT
            | inputs.c_bits << memmap.CONV_C_BITS_SHIFT | inputs.w_bits << memmap.CONV_W_BITS_SHIFT
            | outputs.w_bits << memmap.CONV_OUT_W_BITS_SHIFT
            | outputs.c_bits << memmap.CONV_OUT_C_BITS_SHIFT
            | (memmap.CONV_SKIP if conv_skips(layer) else 0))


def _pack(lanes, config: Config) -> np.ndarray:
    """Words of ``K * P`` weight fields (rows, K * P) as 32-bit slices."""
    wb, K, P = config.weight_bits, config.inputs_per_cycle, config.lanes
    if wb == 1:
        codes = (lanes > 0).astype(np.uint64)
    else:
        codes = (lanes & ((1 << wb) - 1)).astype(np.uint64)
    bits = ((codes[:, :, None] >> np.arange(wb, dtype=np.uint64)) & 1).astype(np.uint8)
    bits = bits.reshape(len(lanes), K * P * wb)
    pad = config.word_bits - K * P * wb
    if pad:
        bits = np.concatenate([bits, np.zeros((len(lanes), pad), np.uint8)], axis=1)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return packed.view("<u4").reshape(len(lanes), config.word_bits // 32)


def merge_writes(writes):
    """Join writes to consecutive addresses into bursts (fewer transport requests)."""
    merged = []
    for address, words in writes:
        if merged and merged[-1][0] + 4 * len(merged[-1][1]) == address:
            merged[-1][1].extend(words)
        else:
            merged.append((address, list(words)))
    return merged


def compile_network(network: Network, config: Config) -> list[tuple[int, list[int]]]:
    """The ``(byte_address, words)`` writes that load ``network`` into hardware ``config``.

    Raises :class:`~core.config.FitError` (naming what is too big and the generator option to
    raise) before producing any write when the network does not fit.
    """
    config.check_fits(network)
    reg = lambda word: 4 * word  # noqa: E731 - byte address of a register
    writes = [
        (reg(memmap.REG_NET_LAYERS), [len(network.layers)]),
        (reg(memmap.REG_NET_TIMESTEPS), [network.timesteps]),
        (reg(memmap.REG_NET_ENCODER), [ENCODER_CODES[network.encoder]]),
        (reg(memmap.REG_NET_SEED), [network.lfsr_seed]),
        (reg(memmap.REG_NET_READOUT), [READOUT_CODES[network.readout]]),
        (reg(memmap.REG_NET_MEMBRANE_BITS), [network.membrane_bits]),
    ]
    if config.conv:  # each layer's first membrane word (the layers one after the other)
        writes.append((reg(memmap.REG_MEMBRANE_BASE), config.membrane_bases(network)))
    row = 0
    orders = map_orders(network, config.neuron_units)
    for index, (layer, (inputs, outputs)) in enumerate(zip(network.layers, orders)):
        fields = [
            (memmap.LAYER_N_IN, inputs.size), (memmap.LAYER_N_OUT, outputs.size),
            (memmap.LAYER_WEIGHT_ROW, row), (memmap.LAYER_THRESHOLD, int(layer.threshold)),
            (memmap.LAYER_MODE, layer_mode(layer)), (memmap.LAYER_LEAK, int(layer.leak)),
        ]
        conv = getattr(layer, "conv", None)
        if config.conv:  # every layer's, so that no conv flag of an earlier network is left
            fields.append((memmap.LAYER_CONV, conv_register(layer, inputs, outputs)))
            if conv is not None:
                fields.append((memmap.LAYER_CONV_OUT,
                               conv.out_height | conv.out_width << 16))
        writes += [(reg(memmap.layer_reg(index, offset)), [value]) for offset, value in fields]
        words = (kernel_rows(layer, inputs, outputs, config) if conv is not None else
                 weight_rows(hardware_weights(layer, inputs, outputs), config))
        stride = config.weight_stride
        base = config.weight_base + row * stride
        if words.shape[1] == stride:
            writes.append((reg(base), words.reshape(-1).tolist()))
        else:
            writes += [(reg(base + r * stride), words[r].tolist()) for r in range(len(words))]
        row += len(words)
    if config.bias:
        writes += bias_writes(network, config)
    return merge_writes(writes)


def bias_writes(network: Network, config: Config) -> list[tuple[int, list[int]]]:
    """The bias window's writes (``config.bias``): each layer's ``n_out`` biases as 32-bit two's
    complement words, zeros for a layer without biases, so that no bias of a network loaded
    before is left behind."""
    writes = []
    orders = map_orders(network, config.neuron_units)
    bases = config.membrane_bases(network)
    for index, (layer, (_, outputs)) in enumerate(zip(network.layers, orders)):
        # at the membrane memory's neurons (a conv map without its padding columns with
        # conv, else the hardware indices), 0 for padding
        if config.conv:
            where = membrane_index(layer, outputs)
            bias = np.zeros(config.membrane_sizes(network)[index] * config.neuron_units,
                            np.int64)
        else:
            where = outputs.hardware_index()
            bias = np.zeros(outputs.size, np.int64)
        if layer.bias is not None:
            bias[where] = np.asarray(layer.bias, np.int64)
        writes.append((4 * memmap.bias_address(config, index, membrane_base=bases[index]),
                       (bias & 0xFFFFFFFF).tolist()))
    return writes


def pixel_writes(pixels, config: Config, n_inputs: int | None = None, *,
                 network: Network | None = None):
    """The write that puts one image (``n_in`` ints in 0 .. 255) into the pixel window, padded
    with zeros to a whole number of encoder rows (``pixels_per_cycle`` pixels). With the
    ``network`` whose layer 0 is a convolution, the image goes in the hardware order of its
    map (``docs/architecture.md``)."""
    x = _image(pixels, config, n_inputs, network)
    # Whole rows of the encoder (S pixels), zero-padded: no stale pixel is left in the last row.
    S = config.pixels_per_cycle
    padded = np.zeros(-(-len(x) // S) * S, np.uint8)
    padded[:len(x)] = x
    words = padded.view("<u4").tolist()
    return [(4 * memmap.pixel_base(config.region_bits), words)]


def compact_words(pixels, config: Config, n_inputs: int | None = None) -> list:
    """One image in the compact input format of ``Config.stream`` (``docs/memory-map.md``):
    its nonzero pixels as 16-bit entries ``(skip << 8) | value``, ascending, two per 32-bit
    word (the first in bits 15:0). A gap of more than 255 zeros takes an entry ``0xFF00`` (a
    zero 255 pixels on) per 256 pixels; an odd count ends with ``0x0000`` (a zero)."""
    x = _image(pixels, config, n_inputs)
    entries, pointer = [], 0
    for index in np.flatnonzero(x).tolist():
        gap = index - pointer
        while gap > 255:
            entries.append(0xFF00)
            gap -= 256
        entries.append(gap << 8 | int(x[index]))
        pointer = index + 1
    if len(entries) % 2:
        entries.append(0)
    return [entries[k] | entries[k + 1] << 16 for k in range(0, len(entries), 2)]


def compact_writes(pixels, config: Config, n_inputs: int | None = None):
    """The writes of :func:`compact_words` to the ``PIXEL_STREAM`` window, a burst of at most
    ``PIXEL_STREAM_WORDS`` words at a time from its first address."""
    words = compact_words(pixels, config, n_inputs)
    step = memmap.PIXEL_STREAM_WORDS
    return [(4 * memmap.REG_PIXEL_STREAM, words[k:k + step]) for k in range(0, len(words), step)]


def input_writes(pixels, config: Config, network: Network):
    """The writes of one image for ``network`` on ``config``'s hardware: compact entries with
    ``Config.stream`` (but for the rate encoder, which examines every pixel: its image is
    written whole), else the pixel window."""
    if config.stream and network.encoder != "rate":
        return compact_writes(pixels, config, network.n_inputs)
    return pixel_writes(pixels, config, network.n_inputs, network=network)


def _image(pixels, config: Config, n_inputs: int | None,
           network: Network | None = None) -> np.ndarray:
    """One image checked: 1-D, ``n_inputs`` long, fits the hardware, integers 0 .. 255; with
    a ``network`` whose layer 0 is a convolution, in the hardware order of its map."""
    x = np.asarray(pixels)
    if network is not None and x.ndim == 1 and len(x) == network.n_inputs:
        order = map_orders(network, config.neuron_units)[0][0]
        if not order.identity:
            image = np.zeros(order.size, x.dtype)
            image[order.hardware_index()] = x
            x = image
            n_inputs = order.size
    if x.ndim != 1:
        raise ValueError(f"pixels have shape {x.shape}; pass one image as a 1-D sequence")
    if n_inputs is not None and len(x) != n_inputs:
        raise ValueError(f"the image has {len(x)} pixels but the network has {n_inputs} "
                         f"inputs")
    if len(x) > config.max_inputs:
        raise FitError(f"the image has {len(x)} pixels, this hardware allows "
                       f"{config.max_inputs}: regenerate the gateware with --max-inputs "
                       f"{len(x)}")
    if len(x) and (not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() > 255):
        raise ValueError("pixels must be integers in 0 .. 255; scale float images with "
                         "sw.data.to_pixels")
    return x
