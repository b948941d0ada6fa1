"""Loss on the output layer's first spike time and membrane potential.

The read-out (numerics.md, section 6) picks the output neuron that spikes first, ties by the
potential, and, when none spikes, the one with the largest potential. The loss follows it:

* **membrane term**: at every step ``t`` a cross-entropy on ``tau_mem * p_t / theta`` (the
  potentials before reset, in units of the threshold). If the correct neuron has the largest
  ``p`` at every step, the read-out is correct: whenever another neuron reaches the threshold,
  the correct one reaches it too (or did earlier) with a larger potential, and if none
  reaches it, the correct one has the largest final potential.
* **time term**: the differentiable first-spike time ``t_first_j = sum_t prod_{k<=t}
  (1 - s_jk)`` (the number of steps before neuron ``j``'s first spike, ``T`` if it never fires;
  the spikes carry surrogate gradients), and a cross-entropy on ``-tau_time * t_first``:
  the earliest output spike should be the correct one.

``loss = mem_weight * membrane + time_weight * time``; either weight may be 0.

:func:`distillation_loss` adds knowledge distillation (Hinton et al. 2015) from a float
teacher network: the same membrane logits at every step against the teacher's softened class
probabilities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import Output

__all__ = ["first_spike_time", "spike_time_membrane_loss", "distillation_loss"]


def first_spike_time(out_spikes: torch.Tensor) -> torch.Tensor:
    """Differentiable first spike step (B, C) from spikes (B, T, C); ``T`` when none."""
    survive = torch.cumprod(1.0 - out_spikes, dim=1)
    return survive.sum(dim=1)


def spike_time_membrane_loss(out: Output, labels: torch.Tensor, mem_weight: float = 1.0,
                             time_weight: float = 1.0, tau_mem: float = 4.0,
                             tau_time: float = 2.0) -> torch.Tensor:
    """Scalar loss of a batch (see the module docstring)."""
    loss = out.potential.new_zeros(())
    if mem_weight:
        B, T, C = out.potential.shape
        logits = tau_mem * out.potential / out.threshold
        target = labels.repeat_interleave(T)
        loss = loss + mem_weight * F.cross_entropy(logits.reshape(B * T, C), target)
    if time_weight:
        t_first = first_spike_time(out.out_spikes)
        loss = loss + time_weight * F.cross_entropy(-tau_time * t_first, labels)
    return loss


def distillation_loss(out: Output, teacher_logits: torch.Tensor, tau_mem: float = 4.0,
                      temperature: float = 2.0) -> torch.Tensor:
    """Cross-entropy of the membrane logits ``tau_mem * p_t / theta`` at every step against
    ``softmax(teacher_logits / temperature)``, both softened by ``temperature`` and scaled by
    ``temperature**2`` so that its gradients keep their size as the temperature changes."""
    logits = tau_mem * out.potential / out.threshold                       # (B, T, C)
    soft = F.softmax(teacher_logits / temperature, dim=-1).unsqueeze(1)    # (B, 1, C)
    log_p = F.log_softmax(logits / temperature, dim=-1)
    return -(soft * log_p).sum(dim=-1).mean() * temperature ** 2
