"""The adversarial losses on first-spike times: plain TTFS and Aggressive TTFS (and both with
S4NN's targets).

Spiking-GAN (Kotariya and Ganguly 2021) trains with a temporal loss on the first-spike times of
a two-neuron output (``real``, ``fake``): the neuron of the correct answer should fire first.
With ``t_k`` the output times of one sample and ``c`` the correct neuron:

* **plain TTFS**: the cross-entropy of ``softmax(-t)`` at ``c`` (Mostafa 2018; the time term
  of this project's classifier loss, :mod:`sw.snn.loss`, is the same): the earlier ``c``
  fires relative to the other neuron, the smaller the loss.
* **Aggressive TTFS**: plain TTFS plus ``1/2 (t_c - T_c)^2`` with the target
  ``T_c = tau - gamma``, ``tau = min_k t_k``, ``gamma`` a margin (:func:`ttfs_targets`, held
  constant in the gradient): the correct neuron is asked to fire ``gamma`` *before* the
  earliest output, on every sample, also when it already leads, so it is pulled earlier with
  a force that does not fade as the cross-entropy does. S4NN's relative targets
  (Kheradpisheh and Masquelier 2020) ask only ``T_c = tau``; moving the target before ``tau``
  is what the paper calls aggressive, and it reports faster inference and fewer spikes.

**S4NN targets** (``s4nn``, ``s4nn_aggressive``; the paper's formulation taken more
literally, for the spiking discriminator, whose times lie in a window ``[0, T_max]``):
``1/2 sum_k (t_k - T_k)^2`` with absolute targets for the wrong neurons, ``T_k = T_max``
(never), and for the correct one ``tau`` (S4NN) or ``tau - gamma`` (aggressive: the target
never rests at the earliest output, :func:`s4nn_targets`), no cross-entropy.

With the ANN discriminator (:class:`sw.gan.model.Discriminator`) the two outputs ``o_k``
stand for first-spike times through ``t_k = -o_k``: a ReLU unit converted to
time-to-first-spike coding fires the earlier the larger its activation. With the spiking
discriminator (:class:`sw.gan.spiking.SpikingDiscriminator`) the ``t_k`` are its output
neurons' differentiable first-spike times. The discriminator
learns with ``train.discriminator_loss`` (plain TTFS by default) (``real`` first for real digits, ``fake`` first for generated ones); the
generator, through the discriminator, with the loss chosen (``real`` first). This is our
reading of the paper, whose full text was not at hand: the form of the targets follows its
description, the constants and the cross-entropy base are ours (``docs/gan.md``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "WINDOW_LOSSES", "REAL", "FAKE", "ttfs_targets", "ttfs_loss",
           "s4nn_targets", "s4nn_loss", "gan_loss"]

LOSSES = ("ttfs", "aggressive", "s4nn", "s4nn_aggressive")
#: The losses whose targets need the window ``T_max`` (a spiking discriminator).
WINDOW_LOSSES = ("s4nn", "s4nn_aggressive")
REAL, FAKE = 0, 1   # output neurons of the discriminator


def ttfs_targets(times: torch.Tensor, correct: torch.Tensor, gamma: float = 1.0,
                 aggressive: bool = False) -> torch.Tensor:
    """Relative target times (B, K) of output times ``times`` (B, K), detached: the correct
    neuron ``tau`` (S4NN) or, ``aggressive``, ``tau - gamma``; the others
    ``max(t_k, tau + gamma)``.

    ``correct``: int64 (B,), the neuron that should fire first.
    """
    t = times.detach()
    tau = t.min(dim=1, keepdim=True).values
    target = torch.maximum(t, tau + gamma)                     # the others: gamma after tau
    lead = tau - gamma if aggressive else tau                  # the correct one
    return target.scatter(1, correct.view(-1, 1), lead)


def ttfs_loss(times: torch.Tensor, correct, gamma: float = 1.0,
              aggressive: bool = False) -> torch.Tensor:
    """Scalar loss of output times (B, K) (see the module docstring).

    ``correct``: int64 (B,) or one int for the whole batch. Plain TTFS is the cross-entropy
    of ``softmax(-t)``; ``aggressive`` adds ``mean_b 1/2 (t_c - T_c)^2`` with the Aggressive
    target ``T_c = tau - gamma`` of :func:`ttfs_targets`.
    """
    correct = _per_sample(times, correct)
    loss = F.cross_entropy(-times, correct)
    if aggressive:
        target = ttfs_targets(times, correct, gamma, aggressive=True)
        t_c = times.gather(1, correct.view(-1, 1))
        loss = loss + 0.5 * ((t_c - target.gather(1, correct.view(-1, 1))) ** 2).mean()
    return loss


def s4nn_targets(times: torch.Tensor, correct: torch.Tensor, t_max: float, gamma: float = 1.0,
                 aggressive: bool = False) -> torch.Tensor:
    """S4NN-style target times (B, K), detached: ``t_max`` for every wrong neuron; for the
    correct one ``tau = min_k t_k`` or, ``aggressive``, ``tau - gamma``."""
    t = times.detach()
    tau = t.min(dim=1, keepdim=True).values
    target = torch.full_like(t, float(t_max))
    return target.scatter(1, correct.view(-1, 1), tau - gamma if aggressive else tau)


def s4nn_loss(times: torch.Tensor, correct, t_max: float, gamma: float = 1.0,
              aggressive: bool = False) -> torch.Tensor:
    """``mean_b 1/2 sum_k (t_k - T_k)^2`` with the targets of :func:`s4nn_targets`."""
    target = s4nn_targets(times, _per_sample(times, correct), t_max, gamma, aggressive)
    return 0.5 * ((times - target) ** 2).sum(dim=1).mean()


def _per_sample(times: torch.Tensor, correct) -> torch.Tensor:
    """``correct`` as int64 (B,): one neuron for every sample of ``times`` when an int."""
    if isinstance(correct, torch.Tensor):
        return correct
    return torch.full((times.shape[0],), int(correct), dtype=torch.int64)


def gan_loss(times: torch.Tensor, correct, kind: str, gamma: float = 1.0,
             t_max: float | None = None) -> torch.Tensor:
    """The loss ``kind`` (one of :data:`LOSSES`) of output times (B, K); ``t_max`` (the
    discriminator's window) is needed by the S4NN losses."""
    if kind in ("ttfs", "aggressive"):
        return ttfs_loss(times, correct, gamma, aggressive=kind == "aggressive")
    if kind in WINDOW_LOSSES:
        if t_max is None:
            raise ValueError(f"the {kind!r} loss needs the discriminator's window t_max")
        return s4nn_loss(times, correct, t_max, gamma, aggressive=kind == "s4nn_aggressive")
    raise ValueError(f"loss is {kind!r}; it must be one of {', '.join(map(repr, LOSSES))}")
