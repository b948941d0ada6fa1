"""Export a trained :class:`~sw.snn.model.SNN` as the integer :class:`~core.network.Network`.

The integers are the ones the quantized forward pass uses (same scale, same rounding), so the
exported file reproduces the training model's quantized inference bit for bit:

* weights ``W_int = clamp(round(W / s), -2**(b-1), 2**(b-1) - 1)`` (``sign(W)`` for ``b = 1``),
  pruned weights 0;
* thresholds ``theta_int = round(theta / (s * c))`` with ``c = 1/255`` for layer 0 (pixel
  events) and ``1`` after it (spikes), clamped to ``1 .. 2**(M-1) - 1``;
* factor leaks ``lambda = round(256 * sigmoid(rho))`` clamped to 0 .. 255; shift leaks as given.

A ``"conv"`` layer becomes ``Layer(conv=Conv(...))`` with its weights in torch's
``(out_channels, in_channels, k, k)`` layout, a ``"pool"`` layer
``core.network.max_pool(channels, height, width, window, stride, fire_once)`` (docs/numerics.md,
section "Convolution"); a dense layer after a map reads it flattened, as the training model
does.
"""

from __future__ import annotations

import numpy as np
import torch

from core.modelfile import save
from core.network import Conv, Layer, Network, max_pool

from .model import SNN

__all__ = ["to_network", "export"]


@torch.no_grad()
def to_network(model: SNN, timesteps: int | None = None, name: str = "") -> Network:
    """The integer network of a model trained with ``weight_bits`` set."""
    cfg = model.config
    if cfg.weight_bits is None:
        raise ValueError("the model has float weights (weight_bits is None); train it with "
                         "weight_bits = 1 .. 8 (quantization-aware) before exporting")
    was = model.quantized
    model.quantized = True
    try:
        layers = []
        for k, spec in enumerate(cfg.layers):
            # The layer's input map (channels, height, width); a dense layer has none.
            c, h, w = model.shapes[k] if len(model.shapes[k]) == 3 else (0, 0, 0)
            if spec.kind == "pool":
                layers.append(max_pool(c, h, w, spec.kernel, spec.step,
                                       fire_once=bool(spec.fire_once)))
                continue
            conv = None
            if spec.kind == "conv":
                conv = Conv(in_channels=c, height=h, width=w, out_channels=spec.n_out,
                            kernel=spec.kernel, stride=spec.step, padding=spec.padding)
            s = model.scale(k)
            weights = model.int_weight(k, s).round().to(torch.int64).numpy().astype(np.int16)
            th = int(model.int_threshold(k, s * (1.0 / 255.0 if k == 0 else 1.0)).item())
            if spec.neuron == "lif" and spec.leak_mode == "factor":
                leak = int(model.leak_factor(k).item())
            elif spec.neuron == "lif":
                leak = int(spec.leak)
            else:
                leak = 1  # unused by an "if" neuron; 1 is valid in both leak modes
            layers.append(Layer(weights=weights, weight_bits=cfg.weight_bits, threshold=th,
                                neuron=spec.neuron, leak_mode=spec.leak_mode, leak=leak,
                                reset=spec.reset, fire_once=bool(spec.fire_once), conv=conv))
    finally:
        model.quantized = was
    net = Network(layers=layers, membrane_bits=cfg.membrane_bits,
                  timesteps=cfg.timesteps if timesteps is None else timesteps,
                  encoder=cfg.encoder, lfsr_seed=cfg.lfsr_seed, readout=cfg.readout, name=name)
    return net.validate()


def export(model: SNN, path, timesteps: int | None = None, name: str = ""):
    """Write the integer network to an ``.snn`` file (core.modelfile.save); return the Network."""
    net = to_network(model, timesteps, name)
    save(net, path)
    return net
