"""sw.compiler: weight layout, parameter writes, fit check before any write, pixel packing."""

import numpy as np
import pytest

from core import memmap
from core.config import Config, FitError, map_orders
from core.network import Conv, Layer, Network, max_pool
from core.randnet import random_network
from sw.compiler import (compile_network, conv_register, hardware_weights, kernel_rows,
                         layer_mode, merge_writes, pixel_writes, weight_rows)


def decode_rows(words, config, n_out, n_in):
    """Inverse of the documented layout (docs/memory-map.md), written independently."""
    P, wb, K = config.lanes, config.weight_bits, config.inputs_per_cycle
    blocks, groups = -(-n_out // P), -(-n_in // K)
    w = np.zeros((blocks * P, groups * K), np.int64)
    for r, row in enumerate(words):
        value = sum(int(word) << (32 * s) for s, word in enumerate(row))
        b, g = divmod(r, groups)
        for j in range(K):
            for k in range(P):
                code = (value >> ((j * P + k) * wb)) & ((1 << wb) - 1)
                if wb == 1:
                    w[b * P + k, g * K + j] = 1 if code else -1
                else:
                    w[b * P + k, g * K + j] = code - (1 << wb) if code >> (wb - 1) else code
    return w


@pytest.mark.parametrize("lanes, weight_bits, inputs", [
    (8, 8, 1), (8, 4, 1), (16, 1, 1), (4, 2, 1), (128, 4, 1), (8, 4, 2), (16, 1, 2), (4, 3, 2)])
def test_weight_layout_round_trip(lanes, weight_bits, inputs):
    config = Config(lanes=lanes, neuron_units=4, weight_bits=weight_bits,
                    inputs_per_cycle=inputs)
    rng = np.random.default_rng(lanes + weight_bits)
    for bits in range(1, weight_bits + 1):
        n_out, n_in = int(rng.integers(1, 3 * lanes)), int(rng.integers(1, 20))
        lo, hi = (-1, 1) if bits == 1 else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        w = rng.integers(lo, hi + 1, size=(n_out, n_in))
        if bits == 1:
            w = np.where(w == 0, 1, w)
        if weight_bits == 1 and bits == 1:
            pass
        elif weight_bits == 1:
            continue
        rows = weight_rows(Layer(w, bits, 1), config)
        assert rows.shape == (-(-n_in // inputs) * -(-n_out // lanes), config.word_bits // 32)
        back = decode_rows(rows, config, n_out, n_in)
        assert np.array_equal(back[:n_out, :n_in], w)
        if weight_bits > 1:  # padding neurons and inputs have zero weights
            assert not back[n_out:].any() and not back[:, n_in:].any()


def test_compile_writes():
    config = Config.tiny()
    rng = np.random.default_rng(1)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=3)
    writes = compile_network(net, config)
    memory = {}
    for address, words in writes:
        assert address % 4 == 0
        for i, word in enumerate(words):
            assert 0 <= word < 1 << 32
            memory[address // 4 + i] = word
    assert memory[memmap.REG_NET_LAYERS] == len(net.layers)
    assert memory[memmap.REG_NET_TIMESTEPS] == net.timesteps
    assert memory[memmap.REG_NET_MEMBRANE_BITS] == net.membrane_bits
    row = 0
    for index, layer in enumerate(net.layers):
        reg = lambda offset: memory[memmap.layer_reg(index, offset)]  # noqa: E731
        assert (reg(memmap.LAYER_N_IN), reg(memmap.LAYER_N_OUT)) == (layer.n_in, layer.n_out)
        assert reg(memmap.LAYER_WEIGHT_ROW) == row
        assert reg(memmap.LAYER_THRESHOLD) == layer.threshold
        assert reg(memmap.LAYER_MODE) == layer_mode(layer)
        rows = layer.n_in * -(-layer.n_out // config.lanes)
        words = [[memory[config.weight_base + (row + r) * config.weight_stride + s]
                  for s in range(config.word_bits // 32)] for r in range(rows)]
        assert np.array_equal(decode_rows(words, config, layer.n_out, layer.n_in)
                              [:layer.n_out], layer.weights)
        row += rows


def test_bias_writes():
    """With the bias memory, every layer's biases at its bias-window words as 32-bit two's
    complement (zeros for a layer without); without it, no write there. The spike_count
    read-out is NET_READOUT code 2."""
    rng = np.random.default_rng(3)
    net = random_network(rng, max_inputs=32, max_neurons=16, max_layers=3, bias=True,
                         readouts=("spike_count",))
    net.layers[0].bias = None
    config = Config.tiny(bias=True, spike_count=True)
    memory = {}
    for address, words in compile_network(net, config):
        memory.update({address // 4 + i: word for i, word in enumerate(words)})
    assert memory[memmap.REG_NET_READOUT] == 2
    base = 3 << config.region_bits
    for index, layer in enumerate(net.layers):
        got = [memory[base + index * config.bias_stride + j] for j in range(layer.n_out)]
        got = [w - (1 << 32) if w >> 31 else w for w in got]
        assert got == layer.bias_or_zero().tolist()
    plain = random_network(rng, max_inputs=32, max_neurons=16, max_layers=3)
    addresses = [a // 4 for a, _ in compile_network(plain, Config.tiny())]
    assert not any(a >> Config.tiny().region_bits == 3 for a in addresses)


def test_layer_mode_bits():
    layer = Layer(np.ones((1, 1), int), 2, 1, neuron="lif", leak_mode="factor", leak=3,
                  reset="none", fire_once=True)
    assert layer_mode(layer) == (memmap.MODE_LIF | memmap.MODE_FACTOR | memmap.MODE_FIRE_ONCE
                                 | 2 << memmap.MODE_RESET_SHIFT)
    layer = Layer(np.ones((1, 1), int), 2, 1, reset="zero", fire_once=False)
    assert layer_mode(layer) == 1 << memmap.MODE_RESET_SHIFT


def test_fit_error_before_any_write():
    net = Network([Layer(np.ones((10, 1000), int), 2, 5)])
    with pytest.raises(FitError, match="layer 0's input count is 1000, this hardware allows "
                                       "784: regenerate the gateware with --max-inputs 1000"):
        compile_network(net, Config())


def test_merge_writes():
    assert merge_writes([(0, [1]), (4, [2, 3]), (16, [4]), (20, [5])]) == \
        [(0, [1, 2, 3]), (16, [4, 5])]


def test_pixel_writes():
    config = Config.tiny()
    ((address, words),) = pixel_writes([1, 2, 3, 4, 5], config)
    assert address == 4 * (1 << config.region_bits)
    assert words == [0x04030201, 0x00000005]
    with pytest.raises(ValueError, match="pixels must be integers in 0 .. 255"):
        pixel_writes([256], config)
    with pytest.raises(ValueError, match="the image has 2 pixels but the network has 3"):
        pixel_writes([1, 2], config, n_inputs=3)
    with pytest.raises(FitError, match="the image has 33 pixels, this hardware allows 32"):
        pixel_writes(np.zeros(33, int), config)


def _field(row, lane, wb):
    value = sum(int(word) << (32 * s) for s, word in enumerate(row))
    code = (value >> (lane * wb)) & ((1 << wb) - 1)
    return code - (1 << wb) if code >> (wb - 1) else code


def test_conv_kernel_words_and_orders():
    """Kernel words (docs/memory-map.md, "Kernel words"): w[o, c, ky, kx] at word
    b * (k*k << c_bits) + (c*k + ky)*k + kx, lane o - b * PC, depthwise kernels expanded with
    zeros; the dense layer after the maps reads them in the hardware order; the image of a
    conv layer 0 is written in its hardware order."""
    rng = np.random.default_rng(3)
    config = Config.tiny_conv(conv_lanes=4, weight_bits=4)
    c = Conv(3, 4, 5, 6, kernel=3, padding=1)         # 6 channels: 2 blocks of 4 lanes
    conv = Layer(weights=rng.integers(-8, 8, size=c.weight_shape), weight_bits=4, conv=c)
    pool = max_pool(6, 4, 5, 2)
    dense = Layer(weights=rng.integers(-8, 8, size=(3, pool.n_out)), weight_bits=4)
    net = Network([conv, pool, dense], encoder="direct").validate()
    orders = map_orders(net, config.neuron_units)
    rows = kernel_rows(conv, *orders[0], config)
    # input c_bits = 2 (3 channels), kernel 3: 36 words per block; output 6 -> 8 channels
    assert len(rows) == 2 * 36 == config.weight_rows(net)[0]
    for o, ci, ky, kx in [(0, 0, 0, 0), (5, 2, 2, 1), (3, 1, 1, 2), (4, 0, 2, 2)]:
        b, lane = divmod(o, 4)
        word = rows[b * 36 + (ci * 3 + ky) * 3 + kx]
        assert _field(word, lane, 4) == conv.weights[o, ci, ky, kx]
    assert _field(rows[3 * 9], 0, 4) == 0              # padding input channel 3
    pool_rows = kernel_rows(pool, *orders[1], config)  # depthwise: zeros off the diagonal
    assert _field(pool_rows[(1 * 2 + 0) * 2 + 1], 1, 4) == 1
    assert _field(pool_rows[(1 * 2 + 0) * 2 + 1], 2, 4) == 0
    # two banks: a kernel row of 3 columns in 2 words, column kx = 2j + g in fields g * 4 + lane
    banked = config.replace(conv_banks=2)
    rows = kernel_rows(conv, *orders[0], banked)
    assert len(rows) == 2 * 24 == banked.weight_rows(net)[0]
    for o, ci, ky, kx in [(0, 0, 0, 0), (5, 2, 2, 1), (3, 1, 1, 2), (4, 0, 2, 2), (7, 1, 0, 1)]:
        b, lane = divmod(o, 4)
        j, g = divmod(kx, 2)
        want = conv.weights[o, ci, ky, kx] if o < 6 else 0
        assert _field(rows[b * 24 + (ci * 3 + ky) * 2 + j], g * 4 + lane, 4) == want
    assert _field(rows[(0 * 3 + 1) * 2 + 1], 4 + 2, 4) == 0      # column 3: padding
    # the dense layer's column of logical input (c, y, x) = (5, 1, 0) is its hardware index
    w = hardware_weights(dense, *orders[2])
    assert w.shape == (3, orders[2][0].size) == (3, 2 * 2 * 8)   # 2 x 2 map, 8 channels
    assert (w[:, ((1 << 1 | 0) << 3) | 5] == dense.weights[:, (5 * 2 + 1) * 2 + 0]).all()
    # pixels: (c, y, x) = (2, 3, 4) of the 3 x 4 x 5 image at ((3 << 3 | 4) << 2) | 2
    image = np.arange(net.n_inputs) % 251 + 1
    (address, words), = pixel_writes(image, config, net.n_inputs, network=net)
    hw = np.frombuffer(np.asarray(words, "<u4").tobytes(), np.uint8)
    assert hw[((3 << 3 | 4) << 2) | 2] == image[(2 * 4 + 3) * 5 + 4]
    assert hw[((0 << 3 | 5) << 2) | 0] == 0            # a padding column
    words = {address + 4 * i: word for address, burst in compile_network(net, config)
             for i, word in enumerate(burst)}
    assert words[4 * memmap.layer_reg(0, memmap.LAYER_CONV)] == conv_register(
        conv, *orders[0]) != 0
    assert words[4 * memmap.layer_reg(2, memmap.LAYER_CONV)] == 0   # dense
    # the membranes without the maps' padding columns: 4 x 5 positions of 8 channels (U = 4),
    # then 2 x 2 of 8 (64 and 72 with the conv map's columns padded to 8)
    assert config.neuron_units == 4
    assert [words[4 * (memmap.REG_MEMBRANE_BASE + i)] for i in range(3)] == [0, 40, 48]


def test_conv_biases_at_the_membrane_memory_places():
    """A conv layer's biases follow its membranes, the map without its padding columns: the
    bias of neuron (c, y, x) at word (y * W + x) * CC + c // U of the layer, lane c % U (a
    direct enumeration); zeros for the padding channels."""
    config = Config.tiny_conv(bias=True)
    U = config.neuron_units
    c = Conv(1, 4, 5, 3, kernel=3, padding=1)     # 3 x 4 x 5 map: columns padded to 8
    rng = np.random.default_rng(5)
    conv = Layer(weights=rng.integers(-2, 3, c.weight_shape), conv=c,
                 bias=rng.integers(-9, 10, c.n_out))
    dense = Layer(weights=rng.integers(-2, 3, (3, c.n_out)))
    net = Network(layers=[conv, dense]).validate()
    memory = {}
    for address, words in compile_network(net, config):
        memory.update({address // 4 + i: word for i, word in enumerate(words)})
    CC = max(4, U) // U                            # 3 channels padded to 4
    base = 3 << config.region_bits
    want = {}
    for ch in range(3):
        for y in range(4):
            for x in range(5):
                word = (y * 5 + x) * CC + ch // U
                want[base + word * U + ch % U] = int(conv.bias[(ch * 4 + y) * 5 + x])
    words = 4 * 5 * CC
    assert config.membrane_bases(net) == [0, words]
    for a in range(base, base + words * U):
        got = memory[a] - (1 << 32) if memory[a] >> 31 else memory[a]
        assert got == want.get(a, 0), a


def _decode_compact(words, n):
    """Reference decoder of the compact input format (docs/memory-map.md, "Input queue")."""
    image, pointer = np.zeros(n, np.int64), 0
    for word in words:
        for entry in (word & 0xFFFF, word >> 16):
            pointer += entry >> 8
            if pointer < n:
                image[pointer] = entry & 0xFF
            pointer += 1
    return image


def test_compact_input_round_trip():
    """The compact format names every nonzero pixel once, ascending: decoded, it is the image,
    for gaps longer than 255 pixels, an odd count, a full and an empty image."""
    from sw.compiler import compact_words, compact_writes
    config = Config.mnist(stream=True)
    rng = np.random.default_rng(5)
    sparse = np.zeros(784, np.uint8)
    sparse[[0, 300, 301, 783]] = [7, 255, 1, 9]          # gaps of 299 and 481
    cases = [sparse, np.zeros(784, np.uint8), np.full(784, 3, np.uint8),
             (rng.random(784) < 0.2) * rng.integers(1, 256, 784)]
    for image in cases:
        words = compact_words(image, config, 784)
        assert np.array_equal(_decode_compact(words, 784), image)
        assert all(0 <= w < 1 << 32 for w in words)
    assert len(compact_words(sparse, config)) == 3      # 4 entries and a filler per gap
    assert compact_words(np.zeros(784, np.uint8), config) == []
    full = compact_writes(np.full(784, 3, np.uint8), config)
    assert [len(w) for _, w in full] == [32] * 12 + [8]
    assert {a for a, _ in full} == {4 * memmap.REG_PIXEL_STREAM}
