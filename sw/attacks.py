"""The ``L_inf`` attacks of :mod:`sw.robust` on images in ``[0, 1]`` (``eps`` in the same units).

Each attack takes ``loss_fn(x, labels)``, the per-image loss (B,) of a classifier on images
``x`` (B, n), and returns adversarial images of the same shape, within ``eps`` of ``x`` and in
``[0, 1]``:

* :func:`fgsm`: one step of ``eps * sign(grad)`` (Goodfellow et al. 2015);
* :func:`pgd`: projected gradient descent with a random start (Madry et al. 2018);
* :func:`spsa`: gradient-free (Uesato et al. 2018), forward passes only.

:func:`within` rounds adversarial images to uint8 pixels without leaving the ball;
:func:`parse_eps` reads budgets from the command line.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["fgsm", "pgd", "spsa", "within", "parse_eps"]


def _grad(loss_fn, x, labels):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(x, labels).sum(), x)
    return grad


def _project(adv, x, eps):
    return torch.minimum(torch.maximum(adv, x - eps), x + eps).clamp(0.0, 1.0)


def fgsm(loss_fn, x: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """``clip(x + eps * sign(grad_x loss), 0, 1)``: one step up the loss.

    ``loss_fn(x, labels)`` returns the per-image loss (B,); ``x`` (B, n) in ``[0, 1]``."""
    return (x + eps * _grad(loss_fn, x, labels).sign()).clamp(0.0, 1.0).detach()


def pgd(loss_fn, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 7,
        step_size: float | None = None, random_start: bool = True,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient ascent of the loss in the ``eps`` ball around ``x`` (``L_inf``).

    ``steps`` signed-gradient steps of ``step_size`` (default ``eps / 4``: 2/255 at 8/255),
    each followed by the projection to the ball and to ``[0, 1]``; with ``random_start`` the
    first point is drawn uniformly from the ball."""
    step_size = eps / 4 if step_size is None else step_size
    adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
        adv = _project(x + eps * noise, x, eps)
    for _ in range(steps):
        adv = _project(adv + step_size * _grad(loss_fn, adv, labels).sign(), x, eps)
    return adv.detach()


@torch.no_grad()
def spsa(loss_fn, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 10,
         directions: int = 32, delta: float = 0.01, step_size: float | None = None,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Gradient-free ascent: PGD on an SPSA estimate of the gradient.

    At each of ``steps`` steps the gradient is estimated from ``directions`` random sign
    vectors ``v``: the mean of ``(loss(a + delta v) - loss(a - delta v)) / (2 delta) * v``
    (Spall 1992; Uesato et al. 2018), all evaluated in one batch; the step is ``step_size``
    (default ``eps / 4``) times its sign, projected to the ball. Only forward passes: no
    surrogate gradient is involved."""
    step_size = eps / 4 if step_size is None else step_size
    B, n = x.shape
    adv = x.clone()
    rows = labels.repeat(2 * directions)
    for _ in range(steps):
        v = torch.randint(0, 2, (directions, B, n), generator=generator).to(x.dtype) * 2 - 1
        probes = torch.cat([adv + delta * v, adv - delta * v]).reshape(-1, n).clamp(0.0, 1.0)
        losses = loss_fn(probes, rows).reshape(2, directions, B)
        estimate = ((losses[0] - losses[1]).unsqueeze(-1) * v).mean(dim=0)
        adv = _project(adv + step_size * estimate.sign(), x, eps)
    return adv


def within(pixels: np.ndarray, adv: torch.Tensor, eps: float) -> np.ndarray:
    """Adversarial images ``adv`` (B, n) in ``[0, 1]`` as uint8 pixels, each within
    ``floor(255 * eps)`` levels of the original ``pixels`` (uint8 (B, n)), so that rounding
    never carries an image out of the ``eps`` ball."""
    r = int(math.floor(255.0 * eps + 1e-6))
    base = np.asarray(pixels, np.int64)
    p = np.rint(adv.detach().numpy().astype(np.float64) * 255.0)
    return np.clip(np.clip(p, base - r, base + r), 0, 255).astype(np.uint8)


def parse_eps(text: str) -> list:
    """``"0.05,0.1,8/255"``: sorted distinct budgets in (0, 1]; ``ValueError`` naming the bad
    item otherwise."""
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            if "/" in item:
                a, b = item.split("/", 1)
                value = float(a) / float(b)
            else:
                value = float(item)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"eps {item!r} is not a number; write budgets in [0, 1] pixel "
                             f"units, e.g. 0.05,0.1,8/255") from None
        if not 0.0 < value <= 1.0:
            raise ValueError(f"eps {item} is outside (0, 1]; budgets are in [0, 1] pixel "
                             f"units (0.1 = 25 of 255 levels)")
        values.append(value)
    return sorted(set(values))
