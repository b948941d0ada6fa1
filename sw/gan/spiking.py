"""The spiking discriminator: fire-once IF neurons in time-to-first-spike coding.

Spiking-GAN's discriminator is spiking, like its generator: ``784 - hidden - 2`` integrate-and-
fire neurons that fire at most once, whose inputs are the 784 pixels as first-spike times and
whose two output neurons (``real``, ``fake``, :data:`sw.gan.loss.REAL` and ``FAKE``) answer by
which fires first. It is a :class:`sw.snn.SNN` (the training model of the generator and the
classifiers: surrogate gradients through every spike), float (not quantized: it is used in
training only), reset ``none`` on every layer: a neuron's membrane at step ``t`` is the sum of
the weights of the input spikes it has received up to ``t`` (S4NN's non-leaky IF neuron with
step inputs), and it fires in the first step in which that sum reaches its threshold.

Input: spike trains (B, T_d, 784), 0/1, one spike per pixel at most. The generator's output
spikes (:attr:`sw.snn.Output.out_spikes`, (B, T, 784), with their surrogate gradients) go in
as they are, padded with silent steps to the discriminator's window ``T_d >= T``: no decoding
to intensities in between, so the discriminator's gradient reaches the generator's spike
times directly. Real digits come in as :func:`sw.gan.images.spike_times` of their intensities
on the generator's ``T + 1`` grey levels (the inverse of the generator's decoding: white
fires in step 0, the darkest grey in step ``T - 1``, black never), made spike trains by
:func:`spike_trains`.

Output: the two first-spike times ``t_k`` (B, 2), differentiable
(:func:`sw.snn.loss.first_spike_time`; ``T_d`` when a neuron does not fire), the times that
the losses of :mod:`sw.gan.loss` take.
"""

from __future__ import annotations

import torch
from torch import nn

from ..snn import SNN, LayerSpec, SNNConfig
from ..snn.loss import first_spike_time
from .model import PIXELS

__all__ = ["SpikingDiscriminator", "spike_trains", "discriminator_stats"]


def spike_trains(times, window: int) -> torch.Tensor:
    """One-hot spike trains float32 (B, window, N) of first-spike steps ``times`` (B, N)
    (numpy or torch, integers; any value ``>= window`` is no spike)."""
    t = torch.as_tensor(times).to(torch.int64)
    steps = torch.arange(window).view(1, window, 1)
    return (t.unsqueeze(1) == steps).to(torch.float32)


class SpikingDiscriminator(nn.Module):
    """``784 - hidden - 2`` fire-once IF neurons, TTFS in and out (see the module docstring).

    Parameters
    ----------
    hidden : int
        Hidden neurons.
    timesteps : int
        The window ``T_d`` (steps); at least the generator's ``T``, so that every input spike
        falls inside it.
    hidden_threshold, output_threshold : float
        Initial thresholds in float units (trained, in log space, as the generator's).
    seed : int
        Initial weights.

    ``forward(spikes)`` takes spike trains (B, T_in, 784) with ``T_in <= timesteps`` (later
    steps are silent) and returns the output first-spike times (B, 2); the forward pass's
    :class:`sw.snn.Output` is kept in :attr:`last` for spike statistics.
    """

    def __init__(self, hidden: int = 256, timesteps: int = 12, hidden_threshold: float = 0.15,
                 output_threshold: float = 0.2, seed: int = 0):
        super().__init__()
        layers = [LayerSpec(hidden, neuron="if", threshold=hidden_threshold, reset="none",
                            fire_once=True),
                  LayerSpec(2, neuron="if", threshold=output_threshold, reset="none",
                            fire_once=True)]
        config = SNNConfig(n_inputs=PIXELS, layers=layers, timesteps=timesteps,
                           encoder="direct", readout="first_spike", weight_bits=None,
                           surrogate="linear")
        self.snn = SNN(config, seed=seed)
        self.timesteps = timesteps
        self.last = None

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        B, steps, n = spikes.shape
        if steps > self.timesteps or n != PIXELS:
            raise ValueError(f"spike trains of shape {tuple(spikes.shape)}; the discriminator "
                             f"takes (B, T <= {self.timesteps}, {PIXELS})")
        if steps < self.timesteps:
            spikes = torch.cat([spikes, spikes.new_zeros(B, self.timesteps - steps, n)], dim=1)
        # Layer 0's events are in pixel units (a spike is 255: the model reads x / 255), so
        # that a spike adds one weight to the membrane, in float units.
        self.last = self.snn(None, events=255.0 * spikes)
        return first_spike_time(self.last.out_spikes)


@torch.no_grad()
def discriminator_stats(disc: SpikingDiscriminator, spikes: torch.Tensor,
                        batch_size: int = 500) -> dict:
    """The discriminator's activity on spike trains (B, T, 784), averaged over samples: its
    decision time (the step of its first output spike, ``T_d`` if neither fires), the fraction
    of samples it decides (some output fires) and calls ``real``, its spikes per sample
    (hidden and output) over the whole window, and those up to and including its decision
    step (all of them when it does not decide): what a time-to-first-spike network that stops
    at its first output spike computes."""
    decision, spikes_total, to_decision, outputs, real = [], 0.0, 0.0, 0.0, 0
    steps = torch.arange(disc.timesteps).view(1, -1)
    for i in range(0, len(spikes), batch_size):
        times = disc(spikes[i:i + batch_size])
        first = times.min(dim=1).values
        decision.append(first)
        real += int((times[:, 0] < times[:, 1]).sum())
        out = disc.last
        # steps 0 .. decision of each sample (the window when it does not decide)
        until = (steps <= first.round().to(torch.int64).view(-1, 1)).to(torch.float32)
        for s in out.spikes:
            spikes_total += float(s.sum())
            to_decision += float((s.sum(dim=2) * until).sum())
        outputs += float(out.out_spikes.sum())
    decision = torch.cat(decision)
    n = len(spikes)
    return {"decision_time": float(decision.mean()),
            "decided": float((decision < disc.timesteps).to(torch.float64).mean()),
            "called_real": real / n,
            "spikes_per_sample": spikes_total / n,
            "spikes_to_decision_per_sample": to_decision / n,
            "output_spikes_per_sample": outputs / n}
