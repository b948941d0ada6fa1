"""ANN-to-SNN conversion as initialization (Diehl et al. 2015; Rathi et al. 2020).

A bias-free ReLU network with the SNN's layer sizes is trained on ``x / 255``; its weights are
copied into the SNN and every threshold is set from the activations ("threshold balancing"):
with ``lambda_l`` the ``percentile``-th percentile of layer ``l``'s positive pre-activations
(``lambda_{-1} = 1`` for the input), the spikes of layer ``l`` stand for activations in units of
``lambda_l``, so layer ``l``'s threshold in float units is ``theta_l = lambda_l /
lambda_{l-1}`` and the weights stay as they are. Percentiles below 100 ignore rare outliers
(Rueckauer et al. 2017).

A convolutional SNN (:class:`~sw.snn.config.SNNConfig` with ``"conv"`` and ``"pool"`` layers)
converts from the ReLU CNN of the same layers: bias-free convolutions, max pooling, dense
layers on the flattened map. Max pooling passes activations on unchanged, so a pooling layer
keeps the scale ``lambda`` of its input; the SNN's pooling of spikes (the earliest spike of
the window) is the spike-time counterpart of the largest activation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .model import SNN, SNNConfig

__all__ = ["ANN", "activation_percentiles", "convert"]


class ANN(nn.Module):
    """Bias-free ReLU network: a multilayer perceptron with ``sizes = [n_in, n_1, ...,
    n_classes]``, or, given an :class:`SNNConfig`, the network of its layers (dense,
    ``Conv2d``, ``MaxPool2d``; input ``(B, n_inputs)`` read as ``input_shape`` maps)."""

    def __init__(self, sizes, seed: int | None = None):
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.input_shape = None
        if isinstance(sizes, SNNConfig):
            shapes = sizes.shapes()
            self.input_shape = shapes[0] if len(shapes[0]) == 3 else None
            layers = []
            for k, spec in enumerate(sizes.layers):
                if spec.kind == "conv":
                    layers.append(nn.Conv2d(shapes[k][0], spec.n_out, spec.kernel, spec.step,
                                            spec.padding, bias=False))
                elif spec.kind == "pool":
                    layers.append(nn.MaxPool2d(spec.kernel, spec.step))
                else:
                    layers.append(nn.Linear(math.prod(shapes[k]), spec.n_out, bias=False))
            self.layers = nn.ModuleList(layers)
        else:
            self.layers = nn.ModuleList(nn.Linear(a, b, bias=False)
                                        for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, return_all: bool = False):
        """Logits (B, classes), or with ``return_all`` every layer's pre-activation."""
        acts = []
        if self.input_shape is not None:
            x = x.reshape(len(x), *self.input_shape)
        for k, layer in enumerate(self.layers):
            if isinstance(layer, nn.Linear):
                x = x.flatten(1)
            x = layer(x)
            acts.append(x)
            if k < len(self.layers) - 1 and not isinstance(layer, nn.MaxPool2d):
                x = F.relu(x)
        return acts if return_all else x


@torch.no_grad()
def activation_percentiles(ann: ANN, x: torch.Tensor, percentile: float = 99.7) -> list:
    """``lambda_l``: the percentile of each layer's positive pre-activations on inputs ``x``."""
    lambdas = []
    for a in ann(x, return_all=True):
        pos = a[a > 0]
        # A large conv layer has millions of activations: a fixed strided sample of them.
        pos = pos[::max(1, pos.numel() // 2_000_000)]
        lambdas.append(float(np.percentile(pos.numpy(), percentile)) if pos.numel() else 1.0)
    return lambdas


@torch.no_grad()
def convert(ann: ANN, snn: SNN, x: torch.Tensor, percentile: float = 99.7) -> list:
    """Copy ``ann``'s weights into ``snn`` and set balanced thresholds; return the lambdas
    (a pooling layer's is its input's)."""
    lambdas = activation_percentiles(ann, x, percentile)
    prev = 1.0
    for k, layer in enumerate(ann.layers):
        if isinstance(layer, nn.MaxPool2d):
            lambdas[k] = prev
            continue
        if snn.weight[k].shape != layer.weight.shape:
            raise ValueError(f"layer {k}: the ANN has shape {tuple(layer.weight.shape)}, the "
                             f"SNN {tuple(snn.weight[k].shape)}; build both from one size list")
        snn.weight[k].copy_(layer.weight)
        snn.set_threshold(k, lambdas[k] / prev)
        prev = lambdas[k]
    return lambdas
