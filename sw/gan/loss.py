"""The adversarial losses on first-spike times: plain TTFS and Aggressive TTFS.

Spiking-GAN (Kotariya and Ganguly 2021) trains both networks with a temporal loss on the
first-spike times of a two-neuron output (``real``, ``fake``), after S4NN (Kheradpisheh and
Masquelier 2020): the neuron of the correct answer should fire first. With ``t_k`` the output
times of one sample, ``c`` the correct neuron, ``tau = min_k t_k`` and a margin ``gamma``, the
targets are (held constant in the gradient)

* **plain TTFS** ("relative target firing time"): ``T_c = tau``; every other neuron
  ``T_k = max(t_k, tau + gamma)``. The correct neuron is pulled to the earliest output time,
  the others pushed at least ``gamma`` after it. Once the correct neuron leads by ``gamma``
  the loss is 0: the network stops moving, however late everything fires.
* **Aggressive TTFS**: the same, except ``T_c = tau - gamma``: the correct neuron's target is
  always ``gamma`` *before* the earliest output, so it is pulled earlier on every sample, also
  when it already leads (the gradient never vanishes). The paper reports faster inference and
  fewer spikes with it.

``loss = mean over samples of 1/2 sum_k (t_k - T_k)^2``.

Here the discriminator is an ANN (:class:`sw.gan.model.Discriminator`), so its two outputs
``o_k`` stand for first-spike times through ``t_k = -o_k``: a ReLU unit converted to
time-to-first-spike coding fires the earlier the larger its activation, and only differences of
times enter the loss, so the offset is dropped. The generator is trained through the
discriminator with the correct neuron ``real``, the discriminator with ``real`` for real and
``fake`` for generated digits (see ``docs/gan.md``; this is our reading of the paper, whose
text we could not consult in full: its exact constants are not reproduced).
"""

from __future__ import annotations

import torch

__all__ = ["LOSSES", "REAL", "FAKE", "ttfs_targets", "ttfs_loss"]

LOSSES = ("ttfs", "aggressive")
REAL, FAKE = 0, 1   # output neurons of the discriminator


def ttfs_targets(times: torch.Tensor, correct: torch.Tensor, gamma: float = 1.0,
                 aggressive: bool = False) -> torch.Tensor:
    """Target times (B, K) of output times ``times`` (B, K), detached (see the module).

    ``correct``: int64 (B,), the neuron that should fire first.
    """
    t = times.detach()
    tau = t.min(dim=1, keepdim=True).values
    target = torch.maximum(t, tau + gamma)                     # the others: gamma after tau
    lead = tau - gamma if aggressive else tau                  # the correct one
    return target.scatter(1, correct.view(-1, 1), lead)


def ttfs_loss(times: torch.Tensor, correct, gamma: float = 1.0,
              aggressive: bool = False) -> torch.Tensor:
    """Scalar loss ``mean_b 1/2 sum_k (t_bk - T_bk)^2`` of output times (B, K).

    ``correct``: int64 (B,) or one int for the whole batch. ``aggressive`` chooses Aggressive
    TTFS, else plain TTFS.
    """
    if not isinstance(correct, torch.Tensor):
        correct = torch.full((times.shape[0],), int(correct), dtype=torch.int64)
    target = ttfs_targets(times, correct, gamma, aggressive)
    return 0.5 * ((times - target) ** 2).sum(dim=1).mean()
