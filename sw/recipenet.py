"""An untrained stand-in network with a training recipe's shapes, for sizing hardware.

:func:`recipe_network` builds the integer network that ``python -m sw.train --recipe FILE``
would export, layer for layer (``network.hidden``, ``input_shape``, the neuron options, T,
the encoder), but with random weights instead of trained ones, and thresholds set by
:func:`calibrate` so that a chosen fraction of each layer's neurons spike on the images given.
The accelerator's cycles depend on the spikes, not on the weights' values, so the stand-in
gives the cycles per image and the memories of a network of that size before anyone trains
it (``python -m sw.perf --recipe configs/cifar10_vgg.toml``). Its classes mean nothing.

The default fractions are those of the shipped MNIST CNN at T = 4 (``models/mnist_cnn_t4.snn``,
50 test images): 16 % of each convolution's neurons spike in an inference (fire-once), and about one
output neuron in ten.
"""

from __future__ import annotations

import numpy as np

from core import golden
from core.network import Conv, Layer, Network, max_pool

from .snnrecipe import parse_layer

__all__ = ["HIDDEN_FRACTION", "OUTPUT_FRACTION", "recipe_network", "calibrate"]

#: Fraction of a hidden layer's neurons that spike in an inference, as in models/mnist_cnn_t4.snn.
HIDDEN_FRACTION = 0.16
#: Fraction of the output neurons that spike (one class in ten).
OUTPUT_FRACTION = 0.1


def _weights(rng, n_out: int, n_in: int, bits: int) -> np.ndarray:
    """Uniform ``bits``-bit weights symmetric about zero (-7 .. 7 for 4 bits; -1 and 1 for one
    bit), as trained weights roughly are: the full range's extra negative value would make
    every wide layer's current negative on average."""
    if bits == 1:
        return rng.choice(np.array([-1, 1]), size=(n_out, n_in))
    top = (1 << (bits - 1)) - 1
    return rng.integers(-top, top + 1, size=(n_out, n_in))


def recipe_network(recipe: dict, pixels, n_classes: int = 10, *,
                   hidden_fraction: float = HIDDEN_FRACTION,
                   output_fraction: float = OUTPUT_FRACTION, seed: int = 0) -> Network:
    """The stand-in of ``recipe`` (a dict of :func:`sw.snnrecipe.load_config`): its layers with
    uniform random ``weight_bits``-bit weights (:func:`_weights`), thresholds
    :func:`calibrate`-d on ``pixels`` (B, n_in) uint8. Raises ``ValueError`` naming the recipe key when the shapes do not add
    up (``input_shape`` against the images, a layer whose map is empty)."""
    n = recipe["network"]
    pixels = np.asarray(pixels)
    rng = np.random.default_rng(seed)
    bits, vmax = n["weight_bits"], (1 << (n["membrane_bits"] - 1)) - 1
    shape = tuple(n["input_shape"])
    if shape and int(np.prod(shape)) != pixels.shape[1]:
        raise ValueError(f"network.input_shape is {list(shape)}, {int(np.prod(shape))} pixels, "
                         f"but the images have {pixels.shape[1]}")
    neurons = dict(neuron=n["neuron"], leak_mode=n["leak_mode"],
                   leak=(min(255, round(256 * n["leak"])) if n["leak_mode"] == "factor"
                         else n["leak"]))
    layers, flat = [], None
    for item in n["hidden"]:
        fields = parse_layer(item)
        if fields["kind"] == "dense":
            flat = flat or (int(np.prod(shape)) if shape else pixels.shape[1])
            layers.append(Layer(_weights(rng, fields["n_out"], flat, bits), bits, vmax,
                                reset=n["hidden_reset"], fire_once=n["fire_once"], **neurons))
            flat = fields["n_out"]
            continue
        if not shape or flat is not None:
            raise ValueError(f"network.hidden entry {item!r} needs a map: give "
                             f"network.input_shape and put conv and pool layers first")
        c, h, w = shape
        if fields["kind"] == "pool":
            layer = max_pool(c, h, w, fields["kernel"], fields.get("stride"),
                             fire_once=n["fire_once"])
        else:
            conv = Conv(c, h, w, fields["n_out"], fields["kernel"], fields.get("stride", 1),
                        fields.get("padding", 0))
            if min(conv.out_height, conv.out_width) < 1:
                raise ValueError(f"network.hidden entry {item!r} leaves an empty map after "
                                 f"{c} x {h} x {w}")
            kernel = _weights(rng, conv.out_channels, c * conv.kernel ** 2, bits)
            layer = Layer(kernel.reshape(conv.weight_shape), bits, vmax,
                          reset=n["hidden_reset"], fire_once=n["fire_once"], conv=conv,
                          **neurons)
        layers.append(layer)
        shape = (layer.conv.out_channels, layer.conv.out_height, layer.conv.out_width)
    flat = flat or (int(np.prod(shape)) if shape else pixels.shape[1])
    layers.append(Layer(_weights(rng, n_classes, flat, bits), bits, vmax,
                        reset=n["output_reset"], fire_once=n["output_fire_once"],
                        **{**neurons, "neuron": n["output_neuron"]}))
    network = Network(layers, membrane_bits=n["membrane_bits"], timesteps=n["timesteps"],
                      encoder=n["encoder"], lfsr_seed=n["lfsr_seed"], readout=n["readout"],
                      name=f"untrained stand-in of {recipe['export']['name']}").validate()
    return calibrate(network, pixels, hidden_fraction, output_fraction)


def calibrate(network: Network, pixels, hidden_fraction: float = HIDDEN_FRACTION,
              output_fraction: float = OUTPUT_FRACTION) -> Network:
    """Set the threshold of each layer with weights of its own (not pooling), first to last,
    so that about ``hidden_fraction`` of its neurons (``output_fraction`` for the output
    layer) spike in an inference on ``pixels``: the quantile of the neurons' highest membrane
    over the steps with the layer unable to fire (the threshold at its largest), which is the
    membrane that decides a fire-once neuron's first spike exactly. Returns ``network``."""
    vmax = (1 << (network.membrane_bits - 1)) - 1
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        if layer.conv is not None and layer.conv.groups > 1:
            continue                       # pooling: fixed threshold
        layer.threshold = vmax
        peak = golden.run(network, pixels).membrane[index].max(axis=1)
        fraction = output_fraction if index == last else hidden_fraction
        layer.threshold = int(np.clip(np.quantile(peak, 1 - fraction), 1, vmax))
    return network.validate()
