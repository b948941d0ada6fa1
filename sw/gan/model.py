"""The networks of the GAN: the spiking generator, the ANN discriminator, the ANN baseline.

The spiking generator is a :class:`sw.snn.SNN` (so it trains quantization-aware and exports
bit-exactly with :func:`sw.snn.export.to_network`): ``latent_dim`` inputs presented by the
``direct`` encoder (the latent bytes as analog currents at every step), hidden layers of
fire-once integrate-and-fire neurons and 784 fire-once IF output neurons (reset ``none``),
whose first-spike times are the image (:func:`sw.gan.images.intensity`). A hidden neuron of
layer 0 integrates the same current every step and so fires at a time that falls with its
input (time-to-first-spike coding of an analog value); a later neuron sums the weights of the
spikes it has received and fires when the sum reaches its threshold.
"""

from __future__ import annotations

import torch
from torch import nn

from ..snn import SNN, LayerSpec, SNNConfig
from ..snn.loss import first_spike_time
from .images import intensity

__all__ = ["PIXELS", "generator", "generate", "Discriminator", "ANNGenerator"]

PIXELS = 784  # 28 x 28 output neurons


def generator(latent_dim: int = 32, hidden=(256,), timesteps: int = 8, weight_bits: int = 4,
              membrane_bits: int = 16, hidden_threshold: float = 1.0,
              output_threshold: float = 0.5, gamma: float = 1.0, width: float = 1.0,
              seed: int = 0) -> SNN:
    """The spiking generator ``latent_dim - hidden... - 784`` (see the module docstring).

    Parameters
    ----------
    latent_dim : int
        Inputs: the latent vector's bytes.
    hidden : sequence of int
        Fire-once IF layers (reset ``subtract``).
    timesteps : int
        ``T``; an image has ``T + 1`` grey levels.
    weight_bits, membrane_bits : int
        Integer widths of the exported network (quantization-aware from the first step).
    hidden_threshold, output_threshold : float
        Initial thresholds in float units (trained, DIET-SNN style).
    gamma, width : float
        The linear surrogate's height and width.
    seed : int
        Initial weights.
    """
    layers = [LayerSpec(h, neuron="if", threshold=hidden_threshold, reset="subtract",
                        fire_once=True) for h in hidden]
    layers.append(LayerSpec(PIXELS, neuron="if", threshold=output_threshold, reset="none",
                            fire_once=True))
    config = SNNConfig(n_inputs=latent_dim, layers=layers, timesteps=timesteps,
                       encoder="direct", readout="first_spike", membrane_bits=membrane_bits,
                       weight_bits=weight_bits, surrogate="linear", gamma=gamma, width=width)
    return SNN(config, seed=seed)


def generate(model: SNN, z: torch.Tensor):
    """Images (B, 784) in [0, 1] of latent bytes ``z`` (B, latent_dim), differentiable, and
    the forward pass's :class:`sw.snn.Output` (for spike statistics)."""
    out = model(z)
    t_first = first_spike_time(out.out_spikes)          # T for a neuron that never fires
    return intensity(t_first, model.config.timesteps), out


class Discriminator(nn.Module):
    """ANN ``784 - hidden - 2`` (LeakyReLU 0.2) whose two outputs (``real`` first, then
    ``fake``) are read as first-spike *times* ``t_k = -o_k``: earlier for a larger activation
    ``o_k`` (see :mod:`sw.gan.loss`). (Times squashed into a window, ``W sigmoid(-o_k)``, made
    the generator's loss saturate when the discriminator was sure, and every generator,
    spiking or not, collapsed onto one digit.)

    With ``minibatch_std`` the output layer also sees the batch's spread: the mean over hidden
    units of their standard deviation across the batch (Karras et al. 2018), so that a batch
    of near-identical digits is told apart from real ones (a remedy for mode collapse). Real
    and generated digits are therefore always scored in separate batches."""

    def __init__(self, hidden: int = 256, minibatch_std: bool = True, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.minibatch_std = minibatch_std
        self.hidden = nn.Sequential(nn.Linear(PIXELS, hidden), nn.LeakyReLU(0.2))
        self.out = nn.Linear(hidden + int(minibatch_std), 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.hidden(images)
        if self.minibatch_std:
            spread = h.std(dim=0).mean() if len(h) > 1 else h.new_zeros(())
            h = torch.cat([h, spread.expand(len(h), 1)], dim=1)
        return -self.out(h)


class ANNGenerator(nn.Module):
    """The float baseline of the same size: ``latent_dim - hidden... - 784``, ReLU, sigmoid
    output, on the same latent bytes, centred: ``z / 127.5 - 1`` (bits as -1 / +1)."""

    def __init__(self, latent_dim: int = 32, hidden=(256,), seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        sizes = [latent_dim, *hidden]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers += [nn.Linear(sizes[-1], PIXELS), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.to(torch.float32) / 127.5 - 1.0)
