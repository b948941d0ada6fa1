"""core.config: every parameter check, the derived widths, and the network fit check."""

import argparse
from pathlib import Path

import numpy as np
import pytest

from core import modelfile
from core.config import (Config, ConfigError, FitError, add_config_arguments, membrane_index,
                         shipped_for,
                         conv_current_bits, map_orders, resolve)
from core.network import Conv, Layer, Network, max_pool

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("changes, message", [
    (dict(lanes=0), "lanes is 0; it must be in 1 .. 1024"),
    (dict(lanes=12), "lanes is 12; it must be a power of two"),
    (dict(lanes=2.0), "lanes is 2.0; it must be an integer"),
    (dict(neuron_units=3), "neuron_units is 3; it must be a power of two"),
    (dict(lanes=4, neuron_units=8), "neuron_units is 8; it must not exceed lanes (4)"),
    (dict(pixels_per_cycle=2), "pixels_per_cycle is 2; it must be in 4 .. 64"),
    (dict(pixels_per_cycle=12), "pixels_per_cycle is 12; it must be a power of two"),
    (dict(inputs_per_cycle=3), "inputs_per_cycle is 3; it must be in 1 .. 2"),
    (dict(inputs_per_cycle=2, lanes=1, neuron_units=1),
     "neuron_units is 1; it must be a multiple of inputs_per_cycle (2)"),
    (dict(weight_bits=9), "weight_bits is 9; it must be in 1 .. 8"),
    (dict(membrane_bits=7), "membrane_bits is 7; it must be in 8 .. 32"),
    (dict(max_layers=0), "max_layers is 0; it must be in 1 .. 16"),
    (dict(max_neurons=5000), "max_neurons is 5000; it must be in 1 .. 4096"),
    (dict(max_inputs=0), "max_inputs is 0; it must be in 1 .. 16384"),
    (dict(max_timesteps=256), "max_timesteps is 256; it must be in 1 .. 255"),
    (dict(weight_words=0), "weight_words is 0; it must be in 1 .. 65536"),
    (dict(dsp_lanes=-1), "dsp_lanes is -1; it must be in 0 .. 1024"),
    (dict(lanes=8, dsp_lanes=9), "dsp_lanes is 9; it must not exceed lanes (8)"),
    (dict(encoders=()), "encoders is (); it must be a non-empty tuple of encoder names"),
    (dict(encoders=["rate"]), "encoders is ['rate']; it must be a non-empty tuple of "
                              "encoder names"),
    (dict(encoders=("poisson",)), "encoders holds 'poisson'; it must hold only 'direct', "
                                  "'hybrid', 'rate'"),
    (dict(encoders=("rate", "rate")), "encoders is ('rate', 'rate'); name each encoder once"),
    (dict(trace=1), "trace is 1; it must be True or False"),
    (dict(bias=1), "bias is 1; it must be True or False"),
    (dict(spike_count="yes"), "spike_count is 'yes'; it must be True or False"),
    (dict(conv="yes"), "conv is 'yes'; it must be True or False"),
    (dict(conv_lanes=12), "conv_lanes is 12; it must be a power of two"),
    (dict(conv_lanes=0), "conv_lanes is 0; it must be in 1 .. 1024"),
    (dict(conv_lanes=256), "conv_lanes is 256; it must be in neuron_units (8) .. lanes (128)"),
    (dict(conv_lanes=4), "conv_lanes is 4; it must be in neuron_units (8) .. lanes (128)"),
    (dict(conv_positions=1000), "conv_positions is 1000; it must be a power of two"),
    (dict(conv_banks=3), "conv_banks is 3; it must be a power of two"),
    (dict(conv_banks=16), "conv_banks is 16; it must be in 1 .. 8"),
    (dict(conv_banks=True), "conv_banks is True; it must be an integer"),
    (dict(conv_lanes=32, conv_banks=8),
     "conv_banks is 8; conv_banks * conv_lanes (256) must not exceed lanes (128)"),
    (dict(conv_banks=4, conv_positions=2), "conv_positions is 2; it must be at least "
                                           "conv_banks (4)"),
    (dict(conv_positions=1 << 17), "conv_positions is 131072; it must be in 1 .. 65536"),
    (dict(membrane_words=0), "membrane_words is 0; it must be in 1 .. 65536"),
    (dict(max_classes=0), "max_classes is 0; it must be in 1 .. 65535"),
    (dict(max_classes=257), "max_classes is 257; it must not exceed max_neurons (256)"),
    (dict(max_classes=True), "max_classes is True; it must be an integer"),
    (dict(conv_acc_bits=1), "conv_acc_bits is 1; it must be in 2 .. 64"),
    (dict(conv_acc_bits=23), "conv_acc_bits is 23; it must not exceed acc_bits (22)"),
    (dict(conv=True, inputs_per_cycle=2),
     "inputs_per_cycle is 2; conv needs 1 (a conv event is one input)"),
    (dict(stream=1), "stream is 1; it must be True or False"),
    (dict(conv=True, stream=True),
     "stream and conv are both on; the input queue does not yet write images in the hardware "
     "order of a conv layer: build one of them"),
])
def test_errors(changes, message):
    with pytest.raises(ConfigError) as info:
        Config(**changes)
    assert str(info.value) == message


def test_conv_lanes_default():
    assert Config().conv_lanes == 16
    assert Config.tiny().conv_lanes == 8
    assert Config(lanes=64, neuron_units=32).conv_lanes == 32
    assert not Config().conv and Config(conv=True).conv_positions == 1024


def test_dsp_lanes_default():
    assert Config().dsp_lanes == 78
    assert Config(lanes=8, neuron_units=4).dsp_lanes == 8


def test_named():
    assert Config.named("mnist") == Config()
    # the configuration that runs both shipped MNIST networks (README, docs/architecture.md)
    assert Config.named("mnist-cnn") == Config(
        conv=True, conv_lanes=16, conv_banks=8, conv_positions=256, max_layers=6,
        max_neurons=14336, max_inputs=896, membrane_words=2560, max_classes=10,
        conv_acc_bits=16, dsp_lanes=77)
    assert Config.named("cifar10-vgg").conv and Config.named("cifar10-vgg").lanes == 32
    assert Config().encoders == ("direct", "hybrid")  # rate is opt-in (--encoders)
    assert Config.named("tiny").trace
    assert Config.named("tiny").encoders == ("direct", "hybrid", "rate")
    with pytest.raises(ConfigError, match="configuration 'huge' is unknown; choose one of "
                                          "'mnist', 'mnist-cnn', 'cifar10-vgg', 'tiny', 'tiny-conv'"):
        Config.named("huge")


class TestResolve:
    """core.config.resolve: what every command line's --config and --set become."""

    def test_name_and_overrides(self):
        assert resolve() == Config()
        assert resolve("tiny") == Config.tiny()
        assert resolve(None, default="tiny") == Config.tiny()
        config = resolve("tiny", ["lanes=4", "max-inputs=0x20", "encoders=direct, rate",
                                  "trace=false"], weight_bits=4)
        assert config == Config.tiny(lanes=4, max_inputs=32, encoders=("direct", "rate"),
                                     trace=False, weight_bits=4)
        # a computed field follows the fields it is computed from
        assert resolve("mnist", ["lanes=16", "neuron_units=4"]).dsp_lanes == 16
        assert resolve("mnist", ["dsp_lanes=none"]).dsp_lanes == 78
        # the generator options, off by default
        assert not Config().bias and not Config().spike_count and not Config().stream
        assert resolve("tiny", ["bias=true", "spike-count=1", "stream=true"]) == Config.tiny(
            bias=True, spike_count=True, stream=True)

    FIELDS = ("lanes, neuron_units, pixels_per_cycle, inputs_per_cycle, weight_bits, "
              "membrane_bits, max_layers, max_neurons, max_inputs, max_timesteps, weight_words, "
              "dsp_lanes, encoders, trace, bias, spike_count, conv, conv_lanes, conv_banks, "
              "conv_positions, "
              "membrane_words, max_classes, conv_acc_bits, stream")

    @pytest.mark.parametrize("name, overrides, message", [
        ("huge", [], "configuration 'huge' is unknown; choose one of 'mnist', 'mnist-cnn', "
                     "'cifar10-vgg', 'tiny', 'tiny-conv'"),
        (None, ["speed=3"], "--set 'speed=3': write FIELD=VALUE with FIELD one of " + FIELDS),
        (None, ["lanes"], "--set 'lanes': write FIELD=VALUE with FIELD one of " + FIELDS),
        (None, ["lanes=many"], "--set 'lanes=many': lanes is an integer"),
        (None, ["lanes=none"], "--set 'lanes=none': lanes is an integer"),
        (None, ["dsp_lanes=all"], "--set 'dsp_lanes=all': dsp_lanes is an integer or none"),
        (None, ["trace=maybe"], "--set 'trace=maybe': trace is true or false"),
        (None, ["bias=on"], "--set 'bias=on': bias is true or false"),
        (None, ["lanes=12"], "lanes is 12; it must be a power of two"),
        ("tiny", ["encoders=poisson"], "encoders holds 'poisson'; it must hold only 'direct', "
                                       "'hybrid', 'rate'"),
    ])
    def test_messages(self, name, overrides, message):
        with pytest.raises(ConfigError) as info:
            resolve(name, overrides)
        assert str(info.value) == message

    def test_arguments(self):
        parser = argparse.ArgumentParser()
        add_config_arguments(parser, default="tiny")
        args = parser.parse_args(["--set", "lanes=4", "--set", "dsp_lanes=4"])
        assert (args.config, args.overrides) == ("tiny", ["lanes=4", "dsp_lanes=4"])
        assert resolve(args.config, args.overrides) == Config.tiny(lanes=4, dsp_lanes=4)
        assert parser.parse_args([]).overrides == []
        text = parser.format_help()
        # argparse may wrap a line at a name's hyphen: compare without the whitespace
        assert ("namedhardwareconfiguration:mnist,mnist-cnn,cifar10-vgg,tiny,"
                "tiny-conv(default:tiny)") in "".join(text.split())


def test_derived_widths():
    config = Config()
    # 784 inputs x 255 x 8 = 1,599,360 < 2**21: 22 signed bits
    assert config.acc_bits == 22
    assert config.word_bits == 128 * 4
    assert config.weight_stride == 16
    assert config.addr_width == 16
    assert config.weight_base == 0x8000
    # every current of the largest layer fits the accumulator
    bound = config.max_inputs * 255 * config.weight_max
    assert -(1 << (config.acc_bits - 1)) <= -bound and bound < 1 << (config.acc_bits - 1)
    assert Config(weight_bits=1).weight_max == 1
    # two inputs per cycle: a word holds both inputs' weights, a layer needs half the words
    pairs = Config(inputs_per_cycle=2)
    assert pairs.word_bits == 2 * 128 * 4 and pairs.weight_stride == 32
    assert pairs.weight_rows(_network([785, 256, 10])) == [393 * 2, 128]


def _network(sizes, bits=4, **fields):
    rng = np.random.default_rng(0)
    layers = [Layer(rng.integers(-2, 2, size=(n_out, n_in)), weight_bits=bits, threshold=5)
              for n_in, n_out in zip(sizes, sizes[1:])]
    return Network(layers, **fields)


def test_fits():
    config = Config()
    assert config.fits(_network([784, 256, 10]))
    assert config.fits(_network([784, 256, 128, 10]))
    cases = [
        (_network([1000, 10]), "layer 0's input count is 1000, this hardware allows 784: "
                               "regenerate the gateware with --max-inputs 1000 or shrink the "
                               "network"),
        (_network([10, 300]), "layer 0's neuron count is 300, this hardware allows 256: "
                              "regenerate the gateware with --max-neurons 300"),
        (_network([4, 4, 4, 4, 4]), "the number of layers is 4, this hardware allows 3"),
        (_network([4, 4], bits=8), "layer 0's weight_bits is 8, this hardware allows 4"),
        (_network([4, 4], membrane_bits=20), "membrane_bits is 20, this hardware allows 16"),
        (_network([4, 4], timesteps=40), "timesteps is 40, this hardware allows 16"),
        (_network([784, 256, 256, 256]), "the weight memory the network needs (words) is "
                                         "2592, this hardware allows 2048"),
    ]
    for network, message in cases:
        assert not config.fits(network)
        with pytest.raises(FitError) as info:
            config.check_fits(network)
        assert message in str(info.value)
    with pytest.raises(FitError, match="encoder 'rate' is not built into this hardware"):
        Config(encoders=("hybrid",)).check_fits(_network([4, 4], encoder="rate"))


def test_for_network():
    network = _network([20, 7, 3], bits=3, membrane_bits=12, timesteps=5, encoder="rate")
    config = Config.for_network(network, lanes=8, neuron_units=4, pixels_per_cycle=4)
    assert config.fits(network)
    assert (config.max_inputs, config.max_neurons, config.weight_bits) == (20, 7, 3)
    assert config.weight_words == 20 + 7


def test_options_fit():
    """A network with biases needs ``bias``, a spike_count read-out ``spike_count``; a bias of
    zeros needs nothing; Config.for_network turns the options on when the network needs them."""
    network = _network([6, 5, 3])
    network.layers[1].bias = np.array([0, 0, 0])
    assert Config().fits(network)
    assert not Config.for_network(network).bias
    network.layers[1].bias = np.array([3, -4, 0])
    with pytest.raises(FitError) as info:
        Config().check_fits(network)
    assert str(info.value) == "layers[1] has biases; generate the accelerator with --set " \
                              "bias=true"
    assert Config(bias=True).fits(network)
    assert Config.for_network(network).bias
    network.readout = "spike_count"
    with pytest.raises(FitError) as info:
        Config(bias=True).check_fits(network)
    assert str(info.value) == "the read-out is spike_count; generate the accelerator with " \
                              "--set spike_count=true"
    config = Config.for_network(network)
    assert config.spike_count and config.fits(network)
    assert not Config.for_network(_network([6, 5, 3])).spike_count


def test_bias_range():
    network = _network([6, 5], membrane_bits=8)
    network.layers[0].bias = np.array([0, 0, 200, 0, 0])
    with pytest.raises(FitError) as info:
        Config(bias=True)._check_options(network)
    assert str(info.value) == ("layers[0].bias holds 200, outside the 8-bit membrane range "
                               "-128 .. 127; requantize the biases or widen membrane_bits")


def test_bias_window_size():
    """The bias window (one word per neuron of every layer's membrane chunks) fits its
    region; the default configuration's regions stay as they were."""
    for config in (Config(bias=True), Config.tiny(bias=True),
                   Config.tiny(bias=True, max_layers=16, max_neurons=100)):
        assert config.max_layers * config.bias_stride <= 1 << config.region_bits
    assert Config(bias=True).region_bits == Config().region_bits == 10
    assert Config.tiny(bias=True, max_layers=16, max_neurons=100).region_bits == 11


class TestConv:
    """The hardware order of maps and what check_fits says about conv layers."""

    @staticmethod
    def cnn(channels=2, side=6, encoder="hybrid"):
        c = Conv(1, side, side, channels, kernel=3)
        pool = max_pool(channels, side - 2, side - 2, 2)
        return Network(layers=[Layer(weights=np.ones(c.weight_shape, int), conv=c), pool,
                               Layer(weights=np.ones((3, pool.n_out), int))],
                       encoder=encoder).validate()

    def test_orders(self):
        orders = map_orders(self.cnn(), 4)
        image, conv_out = orders[0]
        assert (image.shape, image.c_bits, image.w_bits, image.size) == ((1, 6, 6), 0, 3, 48)
        # 2 channels padded to U = 4, 4 columns: position-major
        assert (conv_out.c_bits, conv_out.w_bits, conv_out.size) == (2, 2, 64)
        assert orders[1][0] == conv_out and orders[2][0].size == 2 * 2 * 4
        assert orders[2][1].shape is None and orders[2][1].size == 3
        # neuron (c, y, x) = (1, 2, 3) of the 2 x 4 x 4 map: logical 1*16 + 2*4 + 3
        assert conv_out.hardware_index()[27] == ((2 << 2) | 3) << 2 | 1
        assert len(set(conv_out.hardware_index())) == conv_out.n

    def test_fits_and_rows(self):
        net = self.cnn()
        config = Config.tiny(conv=True, max_inputs=48, max_neurons=64, conv_positions=16)
        config.check_fits(net)
        # conv: 1 block x 1 channel x 9; pool: 2 x 2 kernel words per channel of its input
        # map, padded to U = 4 channels; dense: 16 inputs (2 x 2 x 2 padded to 4 channels) x
        # 1 block
        assert config.weight_rows(net) == [9, 16, 16]
        # two banks: a kernel row of 3 columns in two words, of 2 columns in one
        banked = config.replace(conv_lanes=4, conv_banks=2)
        banked.check_fits(net)
        assert banked.weight_rows(net) == [6, 8, 16]

    @pytest.mark.parametrize("changes, net, message", [
        (dict(conv_positions=2), None, r"^layers\[0\]'s output rows need 4 positions each of "
                                       r"the current memory, this hardware has 2: regenerate "
                                       r"the gateware with --set conv_positions=4 or narrow "
                                       r"the map$"),
        (dict(max_inputs=40), None, r"^layer 0's input count \(in the hardware's padded "
                                    r"order\) is 48, this hardware allows 40"),
        (dict(max_neurons=60), None, r"^layer 0's neuron count \(in the hardware's padded "
                                     r"order\) is 64, this hardware allows 60"),
        (dict(), "rate", r"^the rate encoder draws its LFSR values in pixel order"),
    ])
    def test_refusals(self, changes, net, message):
        config = Config.tiny(conv=True, max_inputs=48, max_neurons=64,
                             conv_positions=16).replace(**changes)
        with pytest.raises(FitError, match=message):
            config.check_fits(self.cnn(encoder=net or "hybrid"))

    def test_bands_of_rows(self):
        """A map larger than the current memory is integrated in bands of whole padded rows
        (conv_positions >> out_w_bits of them, the last band what is left)."""
        net = self.cnn()
        conv = net.layers[0]                                  # 4 x 4 positions
        config = Config.tiny(conv=True, max_inputs=48, max_neurons=64, conv_positions=16)
        assert config.conv_bands(conv) == [(0, 4)]
        assert config.replace(conv_positions=64).conv_bands(conv) == [(0, 4)]
        assert config.replace(conv_positions=8).conv_bands(conv) == [(0, 2), (2, 2)]
        assert config.replace(conv_positions=4).conv_bands(conv) == [(0, 1), (1, 1), (2, 1),
                                                                    (3, 1)]
        config.replace(conv_positions=4).check_fits(net)
        c = Conv(1, 7, 5, 2, kernel=3, padding=1)             # 7 rows of 8 padded columns
        layer = Layer(weights=np.ones(c.weight_shape, int), conv=c)
        assert config.conv_bands(layer) == [(0, 2), (2, 2), (4, 2), (6, 1)]
        with pytest.raises(FitError, match=r"^an output row of 8 positions does not fit the "
                                           r"current memory of 4$"):
            config.replace(conv_positions=4).conv_bands(layer)

    def test_membrane_bases(self):
        net = self.cnn()
        config = Config.tiny(conv=True, max_inputs=48, max_neurons=64, conv_positions=16)
        # 64 conv neurons, 16 pooled (2 x 2 x 4 padded channels), 3 classes, 4 per word
        assert config.membrane_bases(net) == [0, 16, 20]
        assert Config.tiny().membrane_bases(net) == [0, 4, 8]
        assert config.membrane_words == 3 * 16 and config.bias_words == 48 * 4
        with pytest.raises(FitError, match=r"^the membrane memory the network needs \(words\) "
                                           r"is 21, this hardware allows 20: regenerate the "
                                           r"gateware with --set membrane_words=21"):
            config.replace(membrane_words=20).check_fits(net)
        assert Config.for_network(net, neuron_units=4, lanes=8).membrane_words == 21

    def test_membrane_index_drops_padding_columns(self):
        # a 5 x 5 map (width padded to 8 in the hardware order), 2 channels padded to U = 4,
        # pooled to 2 x 2 (its own width a power of two), then a dense layer
        net, U = self.cnn(side=7), 4
        orders = map_orders(net, U)
        expected_words = []
        for layer, (_, outputs) in zip(net.layers, orders):
            index = membrane_index(layer, outputs)
            if layer.conv is None:
                assert (index == outputs.hardware_index()).all()
                expected_words.append(-(-outputs.size // U))
                continue
            C, H, W = outputs.shape
            CC = (1 << outputs.c_bits) // U
            logical = 0
            for c in range(C):          # numerics' order: (c * H + y) * W + x
                for y in range(H):
                    for x in range(W):
                        word = (y * W + x) * CC + c // U
                        assert index[logical] == word * U + c % U, (c, y, x)
                        logical += 1
            expected_words.append(H * W * CC)
        assert orders[0][1].size // U > expected_words[0]   # padding columns dropped
        config = Config.tiny(conv=True, max_inputs=64, max_neurons=160, conv_positions=64,
                             membrane_words=64)
        assert config.membrane_sizes(net) == expected_words
        assert config.membrane_bases(net) == [0, expected_words[0],
                                              expected_words[0] + expected_words[1]]
        need = sum(expected_words)
        with pytest.raises(FitError, match=rf"^the membrane memory the network needs \(words\) "
                                           rf"is {need}, this hardware allows {need - 1}:"):
            config.replace(membrane_words=need - 1).check_fits(net)
        config.replace(membrane_words=need).check_fits(net)

    def test_conv_output_layer_is_refused(self):
        c = Conv(1, 4, 4, 2, kernel=3)
        net = Network(layers=[Layer(weights=np.ones(c.weight_shape, int), conv=c)])
        with pytest.raises(FitError, match=r"^layers\[0\], the output layer, is a "
                                           r"convolution"):
            Config.tiny(conv=True).check_fits(net)

    def test_rate_with_an_unpadded_image(self):
        c = Conv(1, 3, 4, 2, kernel=3)
        net = Network(layers=[Layer(weights=np.ones(c.weight_shape, int), conv=c),
                              Layer(weights=np.ones((2, c.n_out), int))], encoder="rate")
        Config.tiny(conv=True).check_fits(net)


class TestSizes:
    """The memories sized by what a network can write: the event buffer's halves, the result
    memory (max_classes) and the current memory's sums (conv_acc_bits)."""

    def test_event_entries(self):
        # layer 0's inputs, or one spike entry per update cycle of U neurons
        assert Config().event_entries == 1024                        # 784 inputs
        assert Config(max_inputs=100, max_neurons=4096).event_entries == 512   # 4096 / 8
        assert Config.tiny().event_entries == 32
        assert Config.named("mnist-cnn").event_entries == 2048        # 14336 / 8 = 1792

    def test_result_chunks(self):
        assert Config().result_chunks == Config().chunks_per_layer == 32
        assert Config(max_classes=10).result_chunks == 2
        assert Config(max_classes=1).result_chunks == 1
        # the result window's arrays hold the output layer's neurons only
        assert Config(max_classes=10).region_bits == 8 and Config().region_bits == 10

    def test_replace_recomputes_defaults(self):
        config = Config.tiny(conv=True, max_neurons=64)
        assert config.replace(max_neurons=60).max_classes == 60
        assert config.replace(max_inputs=4).conv_acc_bits == config.replace(max_inputs=4).acc_bits
        fixed = config.replace(max_classes=3, conv_acc_bits=9)
        assert (fixed.replace(max_neurons=60).max_classes,
                fixed.replace(max_inputs=4).conv_acc_bits) == (3, 9)

    def test_classes_refused(self):
        network = _network([784, 256, 10])
        Config(max_classes=10).check_fits(network)
        with pytest.raises(FitError) as info:
            Config(max_classes=8).check_fits(network)
        assert str(info.value) == ("the output layer has 10 neurons, the result memory holds "
                                   "8: regenerate the gateware with --set max_classes=10 or "
                                   "use fewer classes")
        assert Config.for_network(network).max_classes == 10

    def test_current_bits(self):
        c = Conv(2, 4, 4, 3, kernel=3)
        weights = np.zeros(c.weight_shape, int)
        weights[0] = 7                                # 18 x 7 x 255 = 32,130 < 2**15
        weights[1, 0, 0, 0] = -8
        weights[2] = -8                               # 18 x -8 x 255 = -36,720 >= -2**16
        layer = Layer(weights=weights, conv=c)
        assert conv_current_bits(layer, first=True) == 17
        weights[2] = 0
        assert conv_current_bits(Layer(weights=weights, conv=c), first=True) == 16
        # later layers: spikes of magnitude 1
        assert conv_current_bits(Layer(weights=weights, conv=c), first=False) == 8
        # -16 fits 5 signed bits, +16 needs 6
        small = Conv(1, 4, 4, 1, kernel=2)
        assert conv_current_bits(Layer(weights=np.full(small.weight_shape, -4), conv=small),
                                 first=False) == 5
        assert conv_current_bits(Layer(weights=np.full(small.weight_shape, 4), conv=small),
                                 first=False) == 6

    def test_current_bits_refused(self):
        net = TestConv.cnn()                          # conv 3 x 3 of ones: 9 x 255 = 2,295
        config = Config.tiny(conv=True, max_inputs=48, max_neurons=64, conv_positions=16)
        config.replace(conv_acc_bits=13).check_fits(net)
        with pytest.raises(FitError) as info:
            config.replace(conv_acc_bits=12).check_fits(net)
        assert str(info.value) == ("layers[0]'s currents need 13 bits, the current memory "
                                   "holds 12: regenerate the gateware with --set "
                                   "conv_acc_bits=13 or use smaller weights")
        assert Config.for_network(net, lanes=8, neuron_units=4).conv_acc_bits == 13

    def test_mnist_cnn_holds_both_shipped_networks(self):
        config = Config.named("mnist-cnn")
        for path in ("models/mnist.snn", "models/mnist_cnn.snn", "models/mnist_cnn_t4.snn"):
            config.check_fits(modelfile.load(REPO / path))
        assert (config.max_classes, config.conv_acc_bits, config.dsp_lanes) == (10, 16, 77)


def test_shipped_for_picks_the_smallest_shipped_configuration_that_holds_a_model():
    assert shipped_for(modelfile.load("models/mnist.snn")) == "mnist"
    assert shipped_for(modelfile.load("models/mnist_cnn.snn")) == "mnist-cnn"
    big = Network([Layer(weights=np.zeros((10, 5000), int), weight_bits=4, threshold=1)],
                  timesteps=2)
    assert shipped_for(big) is None
