"""ANN-to-SNN conversion as initialization (Diehl et al. 2015; Rathi et al. 2020).

A bias-free ReLU network with the SNN's layer sizes is trained on ``x / 255``; its weights are
copied into the SNN and every threshold is set from the activations ("threshold balancing"):
with ``lambda_l`` the ``percentile``-th percentile of layer ``l``'s positive pre-activations
(``lambda_{-1} = 1`` for the input), the spikes of layer ``l`` stand for activations in units of
``lambda_l``, so layer ``l``'s threshold in float units is ``theta_l = lambda_l /
lambda_{l-1}`` and the weights stay as they are. Percentiles below 100 ignore rare outliers
(Rueckauer et al. 2017).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .model import SNN

__all__ = ["ANN", "activation_percentiles", "convert"]


class ANN(nn.Module):
    """Bias-free ReLU multilayer perceptron with ``sizes = [n_in, n_1, ..., n_classes]``."""

    def __init__(self, sizes, seed: int | None = None):
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False)
                                    for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor, return_all: bool = False):
        acts = []
        for k, layer in enumerate(self.layers):
            x = layer(x)
            acts.append(x)
            if k < len(self.layers) - 1:
                x = torch.relu(x)
        return acts if return_all else x


@torch.no_grad()
def activation_percentiles(ann: ANN, x: torch.Tensor, percentile: float = 99.7) -> list:
    """``lambda_l``: the percentile of each layer's positive pre-activations on inputs ``x``."""
    lambdas = []
    for a in ann(x, return_all=True):
        pos = a[a > 0]
        lambdas.append(float(np.percentile(pos.numpy(), percentile)) if pos.numel() else 1.0)
    return lambdas


@torch.no_grad()
def convert(ann: ANN, snn: SNN, x: torch.Tensor, percentile: float = 99.7) -> list:
    """Copy ``ann``'s weights into ``snn`` and set balanced thresholds; return the lambdas."""
    lambdas = activation_percentiles(ann, x, percentile)
    prev = 1.0
    for k, layer in enumerate(ann.layers):
        if snn.weight[k].shape != layer.weight.shape:
            raise ValueError(f"layer {k}: the ANN has shape {tuple(layer.weight.shape)}, the "
                             f"SNN {tuple(snn.weight[k].shape)}; build both from one size list")
        snn.weight[k].copy_(layer.weight)
        snn.set_threshold(k, lambdas[k] / prev)
        prev = lambdas[k]
    return lambdas
