"""Quantization-aware training helpers: straight-through rounding, b-bit weights, pruning.

A layer's float weights ``W`` become integers ``W_int = clamp(round(W / s), lo, hi)`` with the
per-layer scale ``s`` and the ``b``-bit range of numerics.md, section 2 (``lo, hi`` =
``-2**(b-1), 2**(b-1) - 1``; for ``b = 1`` the values are ``sign(W)``, +1 or -1). In training
the rounding is a straight-through estimator (STE): the forward pass uses the integer, the
backward pass treats rounding as the identity (and clamping as the identity inside the range).

The scale is chosen per layer by :func:`choose_scale`: among 15 clipping levels from 30 % to
100 % of ``max |W|`` the one with the least squared quantization error (on a fixed sample) (for ``b = 1``:
``mean |W|``, the least-squares binary scale). It is recomputed on every forward pass and not
trained (it is detached).

A layer pruned with ``[prune] levels`` (:mod:`sw.snn.prune`) is quantized to a few symmetric
levels instead (:func:`quantize_levels`), with the scale fixed at the last prune event.
"""

from __future__ import annotations

import torch

__all__ = ["ste_round", "ste_floor", "choose_scale", "quantize", "quantize_levels", "prune_mask",
           "qrange"]


def qrange(bits: int) -> tuple[int, int]:
    """Integer range of a ``bits``-bit weight (numerics.md, section 2)."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward (half to even, as torch rounds), identity backward."""
    return x + (torch.round(x) - x).detach()


def ste_floor(x: torch.Tensor) -> torch.Tensor:
    """``floor(x)`` forward, identity backward."""
    return x + (torch.floor(x) - x).detach()


@torch.no_grad()
def choose_scale(w: torch.Tensor, bits: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-layer scale ``s`` (a detached scalar tensor) for ``bits``-bit weights."""
    live = w if mask is None else w[mask]
    if live.numel() == 0:
        return torch.ones((), dtype=w.dtype)
    if bits == 1:
        return live.abs().mean().clamp_min(1e-12)
    lo, hi = qrange(bits)
    top = live.abs().max().clamp_min(1e-12)
    # The error is measured on a fixed strided sample of at most 16,384 weights: the same
    # sample every time (so the scale is reproducible at export) and ~10x cheaper on big layers.
    sample = live.reshape(-1)[::max(1, live.numel() // 16384)]
    scales = top * torch.linspace(0.3, 1.0, 15, dtype=w.dtype) / hi
    q = torch.clamp(torch.round(sample / scales[:, None]), lo, hi) * scales[:, None]
    err = ((q - sample) ** 2).sum(dim=1)
    return scales[int(torch.argmin(err))]


def quantize(w: torch.Tensor, bits: int, scale: torch.Tensor) -> torch.Tensor:
    """Integer-valued weights ``W / s`` rounded and clamped to ``bits`` bits, with STE."""
    x = w / scale
    if bits == 1:
        return x + (torch.where(x >= 0, 1.0, -1.0).to(x.dtype) - x).detach()
    lo, hi = qrange(bits)
    # Clamp without a straight-through path: weights past the range get no gradient, which
    # keeps them from drifting far outside it.
    return ste_round(torch.clamp(x, lo, hi))


def quantize_levels(x: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
    """``x`` (weights over the scale) rounded to the nearest of ``+-magnitudes`` (integers
    ``1 <= m_1 < ... < m_n``), with STE: the forward value is a level, the backward pass the
    identity inside ``[-m_n, m_n]`` and no gradient past it (as :func:`quantize`). A tie
    (``x`` halfway between two levels, 0 among them) takes the upper level."""
    values = torch.cat([-magnitudes.flip(0), magnitudes]).to(x.dtype)
    x = torch.clamp(x, float(values[0]), float(values[-1]))
    edges = (values[1:] + values[:-1]) / 2
    q = values[torch.bucketize(x.detach(), edges, right=True)]
    return x + (q - x).detach()


@torch.no_grad()
def prune_mask(w: torch.Tensor, fraction: float) -> torch.Tensor:
    """Boolean mask keeping the ``1 - fraction`` largest-magnitude weights of ``w``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"prune fraction is {fraction}; it must be in [0, 1)")
    if fraction == 0.0:
        return torch.ones_like(w, dtype=torch.bool)
    k = int(round(fraction * w.numel()))
    if k == 0:
        return torch.ones_like(w, dtype=torch.bool)
    cut = w.abs().reshape(-1).kthvalue(k).values
    return w.abs() > cut
