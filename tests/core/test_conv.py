"""Convolution layers (docs/numerics.md, "Convolution"): geometry, validation, pooling on spikes,
and the golden model's fast convolution against its reference (the dense matrix).

The worked examples are numbers computed by hand from the document's definition, so a change
to the convolution rule itself fails them; the random comparison makes a change to either of
the golden model's two convolution paths (im2col in ``run``, ``Layer.dense_weights`` in
``reference``) fail.
"""

import numpy as np
import pytest

from core import golden, perf
from core.config import Config, FitError
from core.golden import reference, run
from core.network import (MAX_MAP_UNITS, Conv, Layer, Network, NetworkError, avg_pool,
                          max_pool)
from core.randnet import random_network, random_pixels

ALL_READOUTS = ("first_spike", "max_membrane", "spike_count")


def assert_same(a, b, where=""):
    """Two traces equal in every spike, membrane and read-out value (and dtype)."""
    pairs = [(f"spikes of layer {k}", x, y) for k, (x, y) in enumerate(zip(a.spikes, b.spikes))]
    pairs += [(f"membrane of layer {k}", x, y)
              for k, (x, y) in enumerate(zip(a.membrane, b.membrane))]
    pairs += [(name, getattr(a, name), getattr(b, name))
              for name in ("first_time", "first_potential", "count", "prediction")]
    for name, x, y in pairs:
        assert x.dtype == y.dtype and np.array_equal(x, y), f"{where}{name} differs"


def conv_layer(geometry, weights, **fields):
    fields.setdefault("weight_bits", 8)
    return Layer(weights=np.array(weights).reshape(geometry.weight_shape), conv=geometry,
                 **fields)


def net(*layers, **fields):
    fields.setdefault("encoder", "direct")
    return Network(layers=list(layers), **fields).validate()


def both(network, pixels):
    """The fast and the reference model on one image, checked equal; the fast trace."""
    fast = run(network, np.array([pixels]))
    assert_same(fast, reference(network, pixels))
    return fast


def integrator(geometry, weights):
    """A convolution whose membranes after one step are its currents."""
    return conv_layer(geometry, weights, threshold=30000, reset="none", fire_once=False)


class TestGeometry:
    def test_output_size_rounds_down(self):
        c = Conv(3, 5, 7, 8, kernel=3, stride=2, padding=1)
        assert (c.out_height, c.out_width) == (3, 4)   # (5 + 2 - 3) // 2 + 1, (7 + 2 - 3) // 2 + 1
        assert (c.n_in, c.n_out) == (3 * 5 * 7, 8 * 3 * 4)
        assert c.weight_shape == (8, 3, 3, 3)

    def test_depthwise_weight_shape(self):
        assert Conv(4, 6, 6, 4, kernel=2, stride=2, groups=4).weight_shape == (4, 1, 2, 2)

    def test_layer_sizes_come_from_the_geometry(self):
        c = Conv(2, 4, 4, 3, kernel=3)
        layer = Layer(weights=np.ones(c.weight_shape, int), conv=c)
        assert (layer.n_in, layer.n_out) == (32, 12)

    def test_dense_weights_by_hand(self):
        # 1 x 2 x 3 input, 2 x 2 kernel, stride 1, no padding: a 1 x 1 x 2 output map.
        c = Conv(1, 2, 3, 1, kernel=2)
        layer = Layer(weights=np.array([[[[1, 2], [3, 4]]]]), conv=c)
        assert layer.dense_weights().tolist() == [[1, 2, 0, 3, 4, 0],
                                                  [0, 1, 2, 0, 3, 4]]

    def test_fan_out_counts_the_windows_that_cover_an_input(self):
        # 1 x 3 x 3 input, 2 x 2 kernel, stride 1: the corners are in 1 window, the edges'
        # middles in 2, the centre in 4; times 2 output channels.
        c = Conv(1, 3, 3, 2, kernel=2)
        layer = Layer(weights=np.ones(c.weight_shape, int), conv=c)
        assert layer.fan_out().tolist() == [2, 4, 2, 4, 8, 4, 2, 4, 2]
        assert Layer(weights=np.ones((5, 3), int)).fan_out().tolist() == [5, 5, 5]

    @pytest.mark.parametrize("seed", range(3))
    def test_fan_out_is_the_dense_matrix_column_count(self, seed):
        rng = np.random.default_rng(seed)
        for _ in range(30):
            n = random_network(rng, conv=True)
            for layer in n.layers:
                if layer.conv is not None:
                    ones = Layer(weights=np.ones_like(layer.weights), conv=layer.conv)
                    assert np.array_equal(ones.fan_out(),
                                          (ones.dense_weights() != 0).sum(axis=0))

    def test_dense_weights_of_a_dense_layer_is_the_matrix(self):
        w = np.array([[1, 2], [3, 4]])
        layer = Layer(weights=w)
        assert layer.dense_weights() is layer.weights

    def test_equality_compares_the_geometry(self):
        a = max_pool(2, 4, 4, 2)
        b = max_pool(2, 4, 4, 2, stride=1)
        assert a == max_pool(2, 4, 4, 2) and a != b


class TestWorkedExamples:
    def test_zero_padding(self):
        # 1 x 2 x 2 pixels [[1, 2], [3, 4]], kernel [[1 2 3], [4 5 6], [7 8 9]], padding 1:
        # output (0, 0) sees the kernel's lower right 2 x 2: 5*1 + 6*2 + 8*3 + 9*4 = 77,
        # (0, 1): 4*1 + 5*2 + 7*3 + 8*4 = 67, (1, 0): 2*1 + 3*2 + 5*3 + 6*4 = 47,
        # (1, 1): 1*1 + 2*2 + 4*3 + 5*4 = 37.
        c = Conv(1, 2, 2, 1, kernel=3, padding=1)
        t = both(net(integrator(c, range(1, 10)), timesteps=1), [1, 2, 3, 4])
        assert t.membrane[0][0, 0].tolist() == [77, 67, 47, 37]

    def test_stride_two(self):
        # 1 x 4 x 4 pixels x[r, c] = 4r + c, kernel [[1, 2], [3, 4]], stride 2:
        # out(y, x) = x[2y, 2x] + 2 x[2y, 2x+1] + 3 x[2y+1, 2x] + 4 x[2y+1, 2x+1].
        c = Conv(1, 4, 4, 1, kernel=2, stride=2)
        t = both(net(integrator(c, [1, 2, 3, 4]), timesteps=1), list(range(16)))
        assert t.membrane[0][0, 0].tolist() == [34, 54, 114, 134]

    def test_channels_and_flatten_order(self):
        # 2 x 1 x 2 pixels: channel 0 is [1, 2], channel 1 is [3, 4]. A 1 x 1 kernel
        # W = [[1, 10], [100, 0]] gives channel 0 = [1 + 30, 2 + 40], channel 1 = [100, 200],
        # flattened channel-major; a dense layer picking input 2 reads (channel 1, x 0).
        c = Conv(2, 1, 2, 2, kernel=1)
        pick = Layer(weights=np.array([[0, 0, 1, 0]]), weight_bits=2, threshold=30000,
                     reset="none", fire_once=False)
        t = both(net(integrator(c, [1, 10, 100, 0]), pick, timesteps=1), [1, 2, 3, 4])
        assert t.membrane[0][0, 0].tolist() == [31, 42, 100, 200]
        assert t.membrane[1][0, 0].tolist() == [0]   # the conv's spikes: none reach 30000
        c_spiking = conv_layer(c, [1, 10, 100, 0], threshold=100)
        t = both(net(c_spiking, pick, timesteps=1), [1, 2, 3, 4])
        assert t.spikes[0][0, 0].tolist() == [False, False, True, True]
        assert t.membrane[1][0, 0].tolist() == [1]

    def test_depthwise_groups(self):
        # groups = 2: output channel 0 sees input channel 0 only (x 2), channel 1 input 1 (x 3).
        c = Conv(2, 1, 2, 2, kernel=1, groups=2)
        t = both(net(integrator(c, [2, 3]), timesteps=1), [1, 2, 3, 4])
        assert t.membrane[0][0, 0].tolist() == [2, 4, 9, 12]

    # Pooling: layer 0 is an identity 1 x 1 convolution of a 1 x 2 x 4 image (IF, threshold
    # 100, direct input, no fire-once), so pixel 50 fires at steps 1, 3, 5; 25 at 3; 34 at 2
    # and 5 (34, 68, 102 -> 2, 36, 70, 104); 20 at 4. Window A (columns 0-1) holds 50, 25, 0, 34;
    # window B (columns 2-3) holds 0, 0, 20, 0.
    PIXELS = [50, 25, 0, 0, 0, 34, 20, 0]

    def pooled(self, pool):
        identity = conv_layer(Conv(1, 2, 4, 1, kernel=1), [1], threshold=100, fire_once=False)
        t = both(net(identity, pool, timesteps=6), self.PIXELS)
        times = [np.flatnonzero(t.spikes[0][0, :, j]).tolist() for j in range(8)]
        assert times == [[1, 3, 5], [3], [], [], [], [2, 5], [4], []]
        return [np.flatnonzero(t.spikes[1][0, :, j]).tolist() for j in range(2)]

    def test_max_pool_fire_once_is_the_earliest_spike(self):
        assert self.pooled(max_pool(1, 2, 4, 2)) == [[1], [4]]

    def test_max_pool_without_fire_once_is_an_or(self):
        assert self.pooled(max_pool(1, 2, 4, 2, fire_once=False)) == [[1, 2, 3, 5], [4]]

    def test_avg_pool_counts_spikes_against_its_threshold(self):
        # Window A's spike counts per step: 0 1 1 2 0 2; IF with threshold 2, subtract reset:
        # v = 0, 1, 2 (spike, 0), 2 (spike, 0), 0, 2 (spike). Window B: one spike, never 2.
        assert self.pooled(avg_pool(1, 2, 4, 2, threshold=2)) == [[2, 3, 5], []]

    def test_pooling_layers_fields(self):
        m = max_pool(3, 6, 5, 2)
        assert m.conv == Conv(3, 6, 5, 3, 2, 2, 0, groups=3)
        assert (m.weight_bits, m.threshold, m.neuron, m.reset, m.fire_once) == \
            (2, 1, "if", "zero", True)
        assert m.weights.shape == (3, 1, 2, 2) and (m.weights == 1).all()
        a = avg_pool(2, 4, 4, 3, stride=1)
        assert a.conv == Conv(2, 4, 4, 2, 3, 1, 0, groups=2)
        assert (a.threshold, a.reset, a.fire_once) == (9, "subtract", False)

    def test_pooling_on_encoder_events(self):
        # As layer 0 the pool sees magnitudes: any pixel > 0 in the window makes a spike.
        t = both(net(max_pool(1, 2, 4, 2), timesteps=2, encoder="hybrid"), self.PIXELS)
        assert t.spikes[0][0, :, :].tolist() == [[True, True], [False, False]]


def random_cases(seed, count):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        network = random_network(rng, conv=True, bias=True, readouts=ALL_READOUTS)
        yield network, random_pixels(rng, 3, network.n_inputs)


@pytest.mark.parametrize("seed", range(3))
def test_reference_and_fast_agree_on_convolutions(seed):
    # 3 seeds x 120 networks x 3 images.
    seen = dict(conv_spike=0, pool=0, stride=0, padding=0, depthwise=0, saturated=0)
    for network, pixels in random_cases(seed, 120):
        fast = run(network, pixels)
        for b in range(len(pixels)):
            ref = reference(network, pixels[b].tolist())
            assert_same(fast[b], ref, f"seed {seed}, {network}: ")
            vmax = (1 << (network.membrane_bits - 1)) - 1
            seen["saturated"] += any(((m == vmax) | (m == -vmax - 1)).any().item()
                                     for m in ref.membrane)
            seen["conv_spike"] += any(s.any().item() for l, s in zip(network.layers, ref.spikes)
                                      if l.conv is not None)
        geometry = [l.conv for l in network.layers if l.conv is not None]
        seen["pool"] += any(c.groups > 1 for c in geometry)
        seen["stride"] += any(c.stride > 1 for c in geometry)
        seen["padding"] += any(c.padding > 0 for c in geometry)
        seen["depthwise"] += any(c.groups > 1 and c.groups == c.in_channels for c in geometry)
    for what, count in seen.items():
        assert count > 10, f"seed {seed}: random cases covered {what!r} only {count} times"


def test_fast_convolution_is_exact_in_float64_too():
    # 800 weights near -128 on pixels near 255 sum to about -2**24.6: past float32's 24 bits,
    # so run must switch to float64.
    c = Conv(32, 5, 5, 2, kernel=5, padding=2)
    layer = conv_layer(c, -128 + np.arange(1600) % 3, threshold=1000,
                       reset="none", fire_once=False)
    network = net(layer, membrane_bits=32, timesteps=1)
    pixels = np.full((1, c.n_in), 255) - np.arange(c.n_in) % 2
    assert golden._conv_weights(layer, 255).dtype == np.float64
    assert_same(run(network, pixels), reference(network, pixels[0].tolist()))


def test_chunks_of_images_give_the_trace_of_the_whole_batch(monkeypatch):
    # A conv network runs its images in chunks; the smallest chunks must change nothing.
    for network, pixels in random_cases(3, 10):
        pixels = np.concatenate([pixels, pixels[::-1], pixels])
        whole = run(network, pixels)
        monkeypatch.setattr(golden, "_CACHE_WORDS", 1)
        assert_same(run(network, pixels), whole)
        assert np.array_equal(golden.predict(network, pixels, batch_size=4), whole.prediction)
        monkeypatch.undo()


def test_comparison_catches_a_changed_convolution(monkeypatch):
    # The fast path with the kernel flipped (cross-correlation vs convolution) must be seen.
    orig = golden._conv_weights

    def flipped(layer, magnitude):
        flip = Layer(weights=layer.weights[:, :, ::-1, ::-1], conv=layer.conv)
        return orig(flip, magnitude)

    monkeypatch.setattr(golden, "_conv_weights", flipped)
    mismatches = 0
    for network, pixels in random_cases(7, 40):
        fast = run(network, pixels)
        for b in range(len(pixels)):
            try:
                assert_same(fast[b], reference(network, pixels[b].tolist()))
            except AssertionError:
                mismatches += 1
    assert mismatches > 0


def test_random_conv_networks_cover_every_option():
    rng = np.random.default_rng(5)
    options = set()
    for _ in range(150):
        n = random_network(rng, conv=True, bias=True, readouts=ALL_READOUTS)
        assert n.layers[-1].conv is None and n.layers[0].conv is not None
        options |= {("encoder", n.encoder), ("readout", n.readout), ("bias", n.has_bias)}
        for l in n.layers:
            if l.conv is None:
                continue
            c = l.conv
            assert max(c.height, c.width) <= 8 and max(c.in_channels, c.out_channels) <= 4
            options |= {("kernel", c.kernel), ("stride", c.stride), ("padding", c.padding),
                        ("pool", c.groups > 1), ("neuron", l.neuron, l.leak_mode),
                        ("reset", l.reset), ("fire_once", l.fire_once)}
    expected = ({("encoder", e) for e in ("direct", "hybrid", "rate")}
                | {("readout", r) for r in ALL_READOUTS}
                | {("bias", b) for b in (True, False)}
                | {("kernel", k) for k in range(1, 6)} | {("stride", s) for s in (1, 2)}
                | {("padding", p) for p in (0, 1, 2)} | {("pool", p) for p in (True, False)}
                | {("neuron", n, m) for n in ("if", "lif") for m in ("shift", "factor")}
                | {("reset", r) for r in ("subtract", "zero", "none")}
                | {("fire_once", f) for f in (True, False)})
    assert expected <= options


def test_random_conv_networks_keep_the_given_limits():
    rng = np.random.default_rng(8)
    for _ in range(40):
        n = random_network(rng, conv=True, weight_bits=3, membrane_bits=12, max_neurons=5,
                           max_timesteps=2, encoders=("rate",), readouts=("spike_count",))
        assert {l.weight_bits for l in n.layers} == {3} and n.membrane_bits == 12
        assert n.n_classes <= 5 and n.timesteps <= 2
        assert (n.encoder, n.readout) == ("rate", "spike_count")


def test_conv_false_draws_the_networks_of_before():
    # The first networks of a fixed seed, as drawn before convolutions existed (by the code of
    # commit 93165a8): same sizes, fields, thresholds, weight and bias sums.
    rng = np.random.default_rng(2024)
    got = []
    for _ in range(4):
        n = random_network(rng, bias=True, readouts=ALL_READOUTS)
        got.append((n.sizes, n.membrane_bits, n.timesteps, n.encoder, n.readout, n.lfsr_seed,
                    [(l.threshold, int(l.weights.sum()),
                      None if l.bias is None else int(l.bias.sum())) for l in n.layers]))
    assert got == [
        ([17, 2], 10, 4, "hybrid", "max_membrane", 27545, [(511, -33, 432)]),
        ([24, 12, 7], 8, 1, "rate", "spike_count", 47222, [(127, -99, 567), (43, -136, 46)]),
        ([15, 1, 10, 8], 24, 6, "direct", "first_spike", 57377,
         [(33, 1, 19), (5, -36, 20), (166, 92, None)]),
        ([13, 11, 12], 20, 4, "hybrid", "first_spike", 60204, [(710, 45, 462), (66, 181, 342)]),
    ]


# -- validation ------------------------------------------------------------------------------

def small():
    """A conv, a max pool and a dense layer: 1 x 6 x 6 -> 2 x 4 x 4 -> 2 x 2 x 2 -> 3."""
    c = Conv(1, 6, 6, 2, kernel=3)
    return Network(layers=[Layer(weights=np.ones(c.weight_shape, int), conv=c),
                           max_pool(2, 4, 4, 2),
                           Layer(weights=np.ones((3, 8), int))]).validate()


def fails(network, message):
    with pytest.raises(NetworkError, match=message):
        network.validate()


class TestValidation:
    @pytest.mark.parametrize("field, value, message", [
        ("in_channels", 0, r"layers\[0\]\.conv\.in_channels is 0; it must be in 1 .. 1024"),
        ("height", 1025, r"layers\[0\]\.conv\.height is 1025; it must be in 1 .. 1024"),
        ("width", 2.0, r"layers\[0\]\.conv\.width is 2\.0; it must be an integer"),
        ("out_channels", 0, r"layers\[0\]\.conv\.out_channels is 0; it must be in 1 .. 1024"),
        ("kernel", 8, r"layers\[0\]\.conv\.kernel is 8; it must be in 1 .. 7"),
        ("stride", 0, r"layers\[0\]\.conv\.stride is 0; it must be in 1 .. 3 \(a stride past "
                      r"the kernel skips inputs\)"),
        ("stride", 4, r"layers\[0\]\.conv\.stride is 4; it must be in 1 .. 3"),
        ("padding", 3, r"layers\[0\]\.conv\.padding is 3; it must be in 0 .. 2 \(a padding "
                       r"of a whole kernel"),
        ("padding", -1, r"layers\[0\]\.conv\.padding is -1; it must be in 0 .. 2"),
        ("groups", 0, r"layers\[0\]\.conv\.groups is 0; it must be in 1 .. 1024"),
    ])
    def test_geometry_fields(self, field, value, message):
        n = small()
        n.layers[0].conv = Conv(**{**n.layers[0].conv.fields(), field: value})
        fails(n, message)

    def test_groups_must_be_full_or_depthwise(self):
        c = Conv(4, 4, 4, 4, kernel=1, groups=2)
        fails(net_of(Layer(weights=np.ones(c.weight_shape, int), conv=c)),
              r"layers\[0\]\.conv\.groups is 2; it must be 1 \(a full convolution\) or "
              r"in_channels = out_channels = groups \(depthwise, as pooling\), but in_channels "
              r"is 4 and out_channels 4")
        c = Conv(2, 4, 4, 4, kernel=1, groups=2)
        fails(net_of(Layer(weights=np.ones(c.weight_shape, int), conv=c)),
              r"groups is 2; .* in_channels is 2 and out_channels 4")

    def test_kernel_larger_than_the_padded_map(self):
        c = Conv(1, 2, 6, 1, kernel=5, padding=1)
        fails(net_of(Layer(weights=np.ones(c.weight_shape, int), conv=c)),
              r"layers\[0\]\.conv\.kernel is 5, larger than the padded height 4 \(height 2 \+ "
              r"2 x padding 1\), so the output map is empty; shrink the kernel or raise the "
              r"padding")

    def test_not_a_conv(self):
        n = small()
        n.layers[0].conv = dict(n.layers[0].conv.fields())
        fails(n, r"layers\[0\]\.conv is a dict, not a Conv; build the geometry with "
                 r"core\.network\.Conv")

    def test_weights_shape(self):
        n = small()
        n.layers[0].weights = np.ones((2, 1, 3, 2), int)
        fails(n, r"layers\[0\]\.weights has shape \(2, 1, 3, 2\); a convolution needs "
                 r"\(out_channels, in_channels // groups, kernel, kernel\) = \(2, 1, 3, 3\)")
        n.layers[0].weights = np.ones((2, 9), int)
        fails(n, r"layers\[0\]\.weights has shape \(2, 9\); a convolution needs")

    def test_weights_range_and_dtype(self):
        n = small()
        n.layers[1].weights = n.layers[1].weights * 2
        fails(n, r"layers\[1\]\.weights holds 2, outside the 2-bit range -2 .. 1")
        n = small()
        n.layers[0].weights = n.layers[0].weights.astype(float)
        fails(n, r"layers\[0\]\.weights has dtype float64; quantize")

    def test_conv_after_conv_must_read_the_previous_map(self):
        n = small()
        n.layers[1] = max_pool(2, 4, 2, 2)  # 2 x 4 x 2: 16 inputs, but the wrong shape
        n.layers[2] = Layer(weights=np.ones((3, 4), int))
        fails(n, r"layers\[1\]\.conv reads a 2 x 4 x 2 map \(in_channels x height x width\) but "
                 r"layers\[0\] outputs 2 x 4 x 4; set in_channels, height and width to the "
                 r"previous layer's output map")

    def test_dense_after_conv_chains_on_the_flattened_map(self):
        n = small()
        n.layers[2] = Layer(weights=np.ones((3, 9), int))
        fails(n, r"layers\[2\]\.n_in is 9 but layers\[1\]\.n_out is 8; consecutive layers "
                 r"must chain")

    def test_conv_after_dense_chains_on_its_input_map(self):
        c = Conv(1, 3, 3, 1, kernel=1)
        n = Network(layers=[Layer(weights=np.ones((8, 2), int)),
                            Layer(weights=np.ones(c.weight_shape, int), conv=c)])
        fails(n, r"layers\[1\]\.n_in is 9 but layers\[0\]\.n_out is 8; consecutive layers "
                 r"must chain")

    def test_bias_is_per_neuron(self):
        n = small()
        n.layers[0].bias = np.zeros(2, int)  # one per channel: not the layout
        fails(n, r"layers\[0\]\.bias has shape \(2,\); it must hold one value per neuron, "
                 r"shape \(32,\)")

    def test_map_sizes(self):
        c = Conv(1, 256, 512, 1, kernel=1)  # 131,072 pixels
        fails(net_of(Layer(weights=np.ones(c.weight_shape, int), conv=c)),
              r"layers\[0\]\.n_in is 131072; it must be in 1 .. 65535 \(the pixels of an image\)")
        c = Conv(1, 128, 128, 8, kernel=1)  # 131,072 neurons as the output layer
        fails(net_of(Layer(weights=np.ones(c.weight_shape, int), conv=c)),
              r"layers\[0\]\.n_out is 131072; it must be in 1 .. 65535 \(the output layer's "
              r"neurons are the classes\)")
        c = Conv(1, 128, 128, 1024, kernel=1)
        fails(net_of(Layer(weights=np.ones(c.weight_shape, int), conv=c),
                     Layer(weights=np.ones((1, 1), int))),
              rf"layers\[0\]\.n_out is {1024 * 128 * 128}; it must be in 1 .. {MAX_MAP_UNITS}")

    def test_a_large_hidden_map_is_allowed(self):
        # 64 x 32 x 32 (a VGG's first CIFAR-10 layer) is over 65,535 neurons.
        c = Conv(3, 32, 32, 64, kernel=3, padding=1)
        pool = max_pool(64, 32, 32, 2)
        net_of(Layer(weights=np.ones(c.weight_shape, np.int8), conv=c), pool,
               Layer(weights=np.ones((10, pool.n_out), np.int8))).validate()

    def test_require_dense(self):
        assert net_of(Layer(weights=np.ones((2, 3), int))).require_dense("the compiler")
        with pytest.raises(NetworkError, match=r"^layers\[0\] is a convolution; the compiler "
                           r"handles dense layers only$"):
            small().require_dense("the compiler")
        with pytest.raises(NetworkError, match=r"^layers\[0\] is a convolution; X handles dense "
                           r"layers only: do Y$"):
            small().require_dense("X", "do Y")


def net_of(*layers):
    return Network(layers=list(layers))



class TestNotYetSupported:
    """What cannot run a convolution refuses it with one message instead of crashing."""

    MESSAGE = r"^layers\[0\] is a convolution; {} handles dense layers only: {}$"

    def test_check_fits(self):
        # the conv hardware is a generator option (cnn14hw: core.config)
        with pytest.raises(FitError, match=r"^layers\[0\] is a convolution; generate the "
                                           r"accelerator with --set conv=true$"):
            Config().check_fits(small())

    def test_for_network(self):
        config = Config.for_network(small())
        assert config.conv and config.fits(small())

    def test_cycle_model(self):
        # the cycles of conv layers are counted (cnn14hw: core.perf, checked against the
        # gateware in tests/hw/test_accel_conv.py); the zero-word study is dense only
        assert perf.cycle_counts(small(), Config.tiny_conv(), np.zeros((1, 36), np.uint8))[0] > 0
        with pytest.raises(NetworkError, match=self.MESSAGE.format(
                "the zero-word study", "cycle_counts counts a conv network's cycles without "
                "skipping")):
            perf.sparsity(small(), Config())
        with pytest.raises(NetworkError, match=self.MESSAGE.format(
                "skipping zero words", "count the conv network's cycles without "
                "skip_zero_words")):
            perf.cycle_counts(small(), Config.tiny_conv(), np.zeros((1, 36), np.uint8),
                              skip_zero_words=True)
