"""Spike functions with surrogate gradients.

Forward, every spike function is the Heaviside step of ``x = (p - theta) / theta``, the
membrane's distance to the threshold in units of the threshold: a spike when ``p >= theta``,
the same comparison as numerics.md, section 3, step 3. Backward, the step (whose derivative is
zero almost everywhere) is replaced by a surrogate:

* ``linear``: ``gamma * max(0, 1 - |x| / width)``, a triangle around the threshold
  (Esser et al. 2016, Bellec et al. 2018). Membrane-dependent: neurons near the threshold learn.
* ``stdb``: spike-timing-dependent backpropagation (Rathi et al., ICLR 2020),
  ``alpha * exp(-beta * dt)`` where ``dt`` is the number of steps since the neuron's last
  spike. The gradient is independent of the membrane and decays with the time since the
  neuron last fired. Adaptation for fire-once neurons (which stop passing gradient after their
  only spike): a neuron that has not fired yet counts ``dt`` from a virtual spike just before
  the inference, ``dt = t + 1``; the original code starts from -1000 (no gradient at all
  before the first spike), which would leave a fire-once network without any gradient.
"""

from __future__ import annotations

import torch

__all__ = ["SURROGATES", "LinearSpike", "STDBSpike", "spike"]

SURROGATES = ("linear", "stdb")


class LinearSpike(torch.autograd.Function):
    """Heaviside forward; triangle ``gamma * max(0, 1 - |x|/width)`` backward."""

    @staticmethod
    def forward(ctx, x, gamma: float, width: float):
        ctx.save_for_backward(x)
        ctx.gamma, ctx.width = gamma, width
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        surrogate = ctx.gamma * torch.clamp(1.0 - x.abs() / ctx.width, min=0.0)
        return grad * surrogate, None, None


class STDBSpike(torch.autograd.Function):
    """Heaviside forward; ``alpha * exp(-beta * dt)`` backward (``dt``: steps since last spike)."""

    @staticmethod
    def forward(ctx, x, dt, alpha: float, beta: float):
        ctx.save_for_backward(dt)
        ctx.alpha, ctx.beta = alpha, beta
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (dt,) = ctx.saved_tensors
        return grad * ctx.alpha * torch.exp(-ctx.beta * dt), None, None, None


def spike(x: torch.Tensor, kind: str = "linear", dt: torch.Tensor | None = None,
          gamma: float = 1.0, width: float = 1.0, alpha: float = 0.3, beta: float = 0.01):
    """Spikes (0/1, same dtype as ``x``) of ``x = (p - theta) / theta`` with surrogate ``kind``.

    ``dt`` (steps since the last spike, same shape as ``x``) is needed by ``stdb`` only.
    """
    if kind == "linear":
        return LinearSpike.apply(x, gamma, width)
    if kind == "stdb":
        if dt is None:
            raise ValueError("the stdb surrogate needs dt, the steps since each neuron's last "
                             "spike")
        return STDBSpike.apply(x, dt.to(x.dtype), alpha, beta)
    raise ValueError(f"surrogate is {kind!r}; it must be one of "
                     f"{', '.join(map(repr, SURROGATES))}")
