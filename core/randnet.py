"""Random networks and inputs that exercise every option of ``docs/numerics.md``.

The golden-model property tests and the co-simulation draw their cases from here. Thresholds
are scaled to the currents a layer actually sees, so that neurons do spike (a random network
with a fixed threshold is silent or saturated and tests nothing), and a share of the cases use
narrow membranes so that saturation happens.
"""

from __future__ import annotations

import numpy as np

from .network import (LEAK_MODES, NEURONS, RESETS, Conv, Layer, Network, avg_pool, max_pool,
                      weight_range)

__all__ = ["random_weights", "random_network", "random_conv_network", "random_pixels"]


def random_weights(rng: np.random.Generator, n_out: int, n_in: int, bits: int,
                   density: float = 1.0) -> np.ndarray:
    """Uniform ``bits``-bit weights; with ``density`` < 1 some are zero (not for 1-bit)."""
    lo, hi = weight_range(bits)
    w = rng.integers(lo, hi + 1, size=(n_out, n_in))
    if bits == 1:
        return np.where(w == 0, 1, w)
    return np.where(rng.random((n_out, n_in)) < density, w, 0)


def random_network(rng: np.random.Generator, *, max_inputs: int = 24, max_neurons: int = 12,
                   max_layers: int = 3, max_timesteps: int = 6, weight_bits=None,
                   membrane_bits=None, encoders=("direct", "hybrid", "rate"),
                   readouts=("first_spike", "max_membrane"), bias: bool = False,
                   conv: bool = False) -> Network:
    """A valid random network within the given limits, over all neuron, reset, leak, encoder
    and read-out options (``readouts`` to choose from; ``spike_count`` needs a configuration
    with the spike counters). With ``bias``, each layer has biases with probability 3/4, of
    either sign and up to about one threshold, so that they make and prevent spikes.

    With ``conv``, the network is a small convolutional one instead
    (:func:`random_conv_network`).

    The extra options draw from ``rng`` only when they are used, so a seed gives the same
    network as before they existed."""
    if conv:
        return random_conv_network(rng, max_neurons=max_neurons, max_timesteps=max_timesteps,
                                   weight_bits=weight_bits, membrane_bits=membrane_bits,
                                   encoders=encoders, readouts=readouts, bias=bias)
    n_layers = int(rng.integers(1, max_layers + 1))
    sizes = [int(rng.integers(1, max_inputs + 1))]
    sizes += [int(rng.integers(1, max_neurons + 1)) for _ in range(n_layers)]
    M = int(membrane_bits if membrane_bits is not None
            else rng.choice([8, 10, 12, 16, 20, 24, 32]))
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        bits = int(weight_bits if weight_bits is not None else rng.integers(1, 9))
        weights = random_weights(rng, n_out, n_in, bits, density=float(rng.uniform(0.3, 1.0)))
        layers.append(_random_neurons(rng, weights, bits, index, M, bias))
    return Network(layers=layers, membrane_bits=M,
                   timesteps=int(rng.integers(1, max_timesteps + 1)),
                   encoder=str(rng.choice(list(encoders))),
                   lfsr_seed=int(rng.integers(1, 1 << 16)),
                   readout=str(rng.choice(list(readouts)))).validate()


def _random_neurons(rng, weights, bits: int, index: int, M: int, bias: bool,
                    conv: Conv | None = None) -> Layer:
    """A layer of ``weights`` (dense, or a kernel with ``conv``) with random neuron options and
    a threshold scaled to its currents."""
    vmax = (1 << (M - 1)) - 1
    fan_in = np.abs(weights).reshape(len(weights), -1).sum(axis=1)
    # The typical positive current of one step: layer 0 sees magnitudes up to 255.
    scale = 128 if index == 0 else 1
    typical = max(1, int(fan_in.mean() * scale / 2))
    threshold = int(np.clip(rng.integers(1, 2 * typical + 2), 1, vmax))
    leak_mode = str(rng.choice(LEAK_MODES))
    leak = int(rng.integers(1, min(M - 1, 8) + 1) if leak_mode == "shift"
               else rng.integers(0, 256))
    layer = Layer(weights=weights, weight_bits=bits, threshold=threshold,
                  neuron=str(rng.choice(NEURONS)), leak_mode=leak_mode, leak=leak,
                  reset=str(rng.choice(RESETS)), fire_once=bool(rng.integers(0, 2)), conv=conv)
    if bias and rng.random() < 0.75:
        n_out = layer.n_out
        span = min(vmax, threshold + 1)
        layer.bias = rng.integers(-span, span + 1, size=n_out)
        if rng.random() < 0.2:  # the extremes of the range, for saturation
            layer.bias[rng.integers(0, n_out)] = int(rng.choice([-vmax - 1, vmax]))
    return layer


def random_conv_network(rng: np.random.Generator, *, max_neurons: int = 12,
                        max_timesteps: int = 6, weight_bits=None, membrane_bits=None,
                        encoders=("direct", "hybrid", "rate"),
                        readouts=("first_spike", "max_membrane"), bias: bool = False,
                        max_size: int = 8, max_channels: int = 4, max_kernel: int = 5,
                        max_conv_layers: int = 3, max_dense_layers: int = 2) -> Network:
    """A valid random convolutional network: an input map of at most ``max_channels`` x
    ``max_size`` x ``max_size`` pixels, 1 .. ``max_conv_layers`` convolutions (kernels
    1 .. ``max_kernel``, stride 1 or 2, zero padding, every neuron option) and pooling layers
    (max and average, with and without fire-once), then 1 .. ``max_dense_layers`` dense layers,
    the last with 1 .. ``max_neurons`` classes. The other options are those of
    :func:`random_network`; ``weight_bits``, when given, is every layer's width, the pooling
    layers' too."""
    M = int(membrane_bits if membrane_bits is not None
            else rng.choice([8, 10, 12, 16, 20, 24, 32]))
    C, H, W = (int(rng.integers(1, max_channels + 1)), int(rng.integers(1, max_size + 1)),
               int(rng.integers(1, max_size + 1)))
    layers = []
    for index in range(int(rng.integers(1, max_conv_layers + 1))):
        kind = rng.choice(["conv", "conv", "max_pool", "avg_pool"])
        pooling = kind != "conv" and min(H, W) >= 2
        if pooling:
            window = int(rng.integers(2, min(H, W, 3) + 1))
            stride = int(rng.integers(1, window + 1))
            if kind == "max_pool":
                layer = max_pool(C, H, W, window, stride, fire_once=bool(rng.integers(0, 2)))
            else:
                layer = avg_pool(C, H, W, window, stride,
                                 threshold=int(rng.integers(1, window * window + 1)))
            if weight_bits is not None:
                layer.weight_bits = int(weight_bits)
        else:
            while True:  # until the output map is neither empty nor over max_size
                kernel = int(rng.integers(1, max_kernel + 1))
                padding = int(rng.integers(0, min(kernel - 1, 2) + 1))
                stride = int(rng.integers(1, min(kernel, 2) + 1))
                geometry = Conv(C, H, W, int(rng.integers(1, max_channels + 1)), kernel,
                                stride, padding)
                if 1 <= min(geometry.out_height, geometry.out_width) and \
                        max(geometry.out_height, geometry.out_width) <= max_size:
                    break
            bits = int(weight_bits if weight_bits is not None else rng.integers(1, 9))
            kernel_weights = random_weights(rng, geometry.out_channels,
                                            int(np.prod(geometry.weight_shape[1:])), bits,
                                            density=float(rng.uniform(0.3, 1.0)))
            layer = _random_neurons(rng, kernel_weights.reshape(geometry.weight_shape), bits,
                                    index, M, bias, conv=geometry)
        if pooling and bias and rng.random() < 0.3:
            layer.bias = rng.integers(-1, 2, size=layer.n_out)  # a pooling layer's bias
        layers.append(layer)
        C, H, W = layer.conv.out_channels, layer.conv.out_height, layer.conv.out_width
    n_in = C * H * W
    for _ in range(int(rng.integers(1, max_dense_layers + 1))):
        n_out = int(rng.integers(1, max_neurons + 1))
        bits = int(weight_bits if weight_bits is not None else rng.integers(1, 9))
        weights = random_weights(rng, n_out, n_in, bits, density=float(rng.uniform(0.3, 1.0)))
        layers.append(_random_neurons(rng, weights, bits, len(layers), M, bias))
        n_in = n_out
    return Network(layers=layers, membrane_bits=M,
                   timesteps=int(rng.integers(1, max_timesteps + 1)),
                   encoder=str(rng.choice(list(encoders))),
                   lfsr_seed=int(rng.integers(1, 1 << 16)),
                   readout=str(rng.choice(list(readouts)))).validate()


def random_pixels(rng: np.random.Generator, batch: int, n_inputs: int) -> np.ndarray:
    """uint8 images mixing zeros, full-scale pixels and uniform values, like sparse digits."""
    kind = rng.random((batch, n_inputs))
    values = rng.integers(1, 256, size=(batch, n_inputs))
    return np.where(kind < 0.4, 0, np.where(kind < 0.55, 255, values)).astype(np.uint8)
