"""Random networks and inputs that exercise every option of ``docs/numerics.md``.

The golden-model property tests and the co-simulation draw their cases from here. Thresholds
are scaled to the currents a layer actually sees, so that neurons do spike (a random network
with a fixed threshold is silent or saturated and tests nothing), and a share of the cases use
narrow membranes so that saturation happens.
"""

from __future__ import annotations

import numpy as np

from .network import LEAK_MODES, NEURONS, RESETS, Layer, Network, weight_range

__all__ = ["random_weights", "random_network", "random_pixels"]


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
                   readouts=("first_spike", "max_membrane"), bias: bool = False) -> Network:
    """A valid random network within the given limits, over all neuron, reset, leak, encoder
    and read-out options (``readouts`` to choose from; ``spike_count`` needs a configuration
    with the spike counters). With ``bias``, each layer has biases with probability 3/4, of
    either sign and up to about one threshold, so that they make and prevent spikes.

    The extra options draw from ``rng`` only when they are used, so a seed gives the same
    network as before they existed."""
    n_layers = int(rng.integers(1, max_layers + 1))
    sizes = [int(rng.integers(1, max_inputs + 1))]
    sizes += [int(rng.integers(1, max_neurons + 1)) for _ in range(n_layers)]
    M = int(membrane_bits if membrane_bits is not None
            else rng.choice([8, 10, 12, 16, 20, 24, 32]))
    vmax = (1 << (M - 1)) - 1
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        bits = int(weight_bits if weight_bits is not None else rng.integers(1, 9))
        weights = random_weights(rng, n_out, n_in, bits, density=float(rng.uniform(0.3, 1.0)))
        # The typical positive current of one step: layer 0 sees magnitudes up to 255.
        scale = 128 if index == 0 else 1
        typical = max(1, int(np.abs(weights).sum(axis=1).mean() * scale / 2))
        threshold = int(np.clip(rng.integers(1, 2 * typical + 2), 1, vmax))
        leak_mode = str(rng.choice(LEAK_MODES))
        leak = int(rng.integers(1, min(M - 1, 8) + 1) if leak_mode == "shift"
                   else rng.integers(0, 256))
        layer = Layer(weights=weights, weight_bits=bits, threshold=threshold,
                      neuron=str(rng.choice(NEURONS)), leak_mode=leak_mode, leak=leak,
                      reset=str(rng.choice(RESETS)), fire_once=bool(rng.integers(0, 2)))
        if bias and rng.random() < 0.75:
            span = min(vmax, threshold + 1)
            layer.bias = rng.integers(-span, span + 1, size=n_out)
            if rng.random() < 0.2:  # the extremes of the range, for saturation
                layer.bias[rng.integers(0, n_out)] = int(rng.choice([-vmax - 1, vmax]))
        layers.append(layer)
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
