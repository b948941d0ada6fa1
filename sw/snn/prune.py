"""Pruning by STDP correlation or magnitude, and quantization to a few weight levels.

After Rathi, Panda and Roy, "STDP based pruning of connections and weight quantization in
spiking neural networks for energy-efficient recognition" (IEEE TCAD 2018): synapses whose pre-
and post-synaptic neurons fire together are kept, the others removed, and the survivors are
quantized to the few conductance levels of a crossbar; both are repeated at intervals during
training. Here the network is trained by surrogate gradients (``sw.train``) and the STDP rule
is a *monitor*: it reads the network's own spike trains in every training forward pass and
turns them into a per-synapse score, without changing the weights itself. The rule, exactly
(docs/training.md, section "Pruning to a few levels"):

* **Traces.** For layer ``l`` the presynaptic events ``a_i(t)`` are its input events scaled to
  0 .. 1 (pixel events ``x / 255`` for layer 0, spikes 0/1 after it) and the postsynaptic ones
  its spikes ``s_j(t)``. With ``d = exp(-1 / tau)`` (``tau`` in steps) the traces are
  ``x_i(t) = sum_{t' <= t} d**(t - t') a_i(t')`` (presynaptic, the step's own event included:
  a layer sees its input in the same step) and ``y_j(t) = sum_{t' < t} d**(t - t') s_j(t')``
  (postsynaptic, strictly earlier spikes).
* **Pairings**, summed over the steps and the images of the training batches since the last
  prune event and divided by the number of images: causal ``P_ij = sum_t s_j(t) x_i(t)`` (a
  postsynaptic spike after or with presynaptic input: potentiation, LTP) and anti-causal
  ``D_ij = sum_t a_i(t) y_j(t)`` (presynaptic input after a postsynaptic spike: depression,
  LTD). Both are divided by the largest ``P_ij`` or ``D_ij`` of the layer, so that ``eta``
  does not depend on the layer's size or activity.
* **Power-law weight dependence.** With ``w_ij = |W_ij| / max |W|`` (0 .. 1, over the layer's
  surviving synapses) the score is the weight after one STDP update of size ``eta``,
  ``score_ij = w_ij + eta * ((1 - w_ij)**mu * P_ij - w_ij**mu * D_ij)``: potentiation shrinks
  as the weight nears its bound 1, depression as it nears 0 (the power-law weight-dependent
  STDP of Gutig et al. 2003 and Querlioz et al. 2013 that the paper uses).

The ``sparsity`` fraction of each layer's weights with the lowest score is pruned (exactly
``round(sparsity * n_in * n_out)``; a pruned synapse never comes back). ``magnitude`` pruning
uses ``|W|`` as the score instead.

**Levels.** A layer with ``levels = L`` has its surviving weights quantized to at most ``L``
distinct nonzero integers, a symmetric set ``{+-m_1, ..., +-m_n}`` with ``n = min(L // 2,
2**(b-1) - 1)`` magnitudes ``1 <= m_1 < ... < m_n <= 2**(b-1) - 1`` in the ``b``-bit range
(an odd ``L`` uses ``L - 1`` values; 0 is the pruned synapse, not a level). The magnitudes come
from a 1-D k-means (Lloyd) of the surviving ``|W|`` with ``n`` centres ``c_1 < ... < c_n``; the
layer's scale becomes ``s = c_n / (2**(b-1) - 1)`` (the largest level uses the whole range)
and ``m_i = round(c_i / s)``. Every weight then takes the nearest level
(:func:`sw.snn.quant.quantize_levels`, straight-through in training), so the forward pass,
the exported file and the golden model all see the levels.
"""

from __future__ import annotations

import math

import torch

from .model import SNN, encode

__all__ = ["METHODS", "stdp_pairings", "stdp_score", "keep_mask", "fit_levels", "schedule",
           "Pruner"]

#: Pruning scores: ``"stdp"`` (spike correlation) and ``"magnitude"`` (``|W|``).
METHODS = ("stdp", "magnitude")


def _trace(a: torch.Tensor, decay: float, include_now: bool) -> torch.Tensor:
    """Exponential trace over the step axis of ``a`` (B, T, n): ``sum_{t' <= t}`` (or ``t' <
    t``) ``decay**(t - t') a(t')``."""
    out = torch.zeros_like(a)
    acc = torch.zeros_like(a[:, 0])
    for t in range(a.shape[1]):
        if include_now:
            acc = acc * decay + a[:, t]
            out[:, t] = acc
        else:
            acc = acc * decay
            out[:, t] = acc
            acc = acc + a[:, t]
    return out


@torch.no_grad()
def stdp_pairings(pre: torch.Tensor, post: torch.Tensor, tau: float = 1.0):
    """Causal and anti-causal pairing sums of one batch (see the module docstring).

    Parameters
    ----------
    pre : (B, T, n_in) presynaptic events, 0 .. 1
    post : (B, T, n_out) postsynaptic spikes, 0/1
    tau : trace time constant in steps, > 0

    Returns ``(P, D)``, each (n_out, n_in), summed over the batch (not yet divided by ``B``).
    """
    if pre.shape[:2] != post.shape[:2]:
        raise ValueError(f"pre has shape {tuple(pre.shape)} and post {tuple(post.shape)}; "
                         f"they need the same batch and step axes")
    decay = math.exp(-1.0 / tau)
    pre, post = pre.float(), post.float()
    x = _trace(pre, decay, include_now=True)
    y = _trace(post, decay, include_now=False)
    B, T = pre.shape[:2]
    ltp = post.reshape(B * T, -1).t() @ x.reshape(B * T, -1)
    ltd = y.reshape(B * T, -1).t() @ pre.reshape(B * T, -1)
    return ltp, ltd


@torch.no_grad()
def stdp_score(weight: torch.Tensor, ltp: torch.Tensor, ltd: torch.Tensor, eta: float = 1.0,
               mu: float = 0.5, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``w + eta * ((1 - w)**mu * P - w**mu * D)`` with ``w = |W| / max |W|`` and ``P``, ``D``
    divided by the largest of them (the module docstring). ``mask`` marks the surviving synapses
    (the normalizations are over them); pruned ones score ``-inf``."""
    live = torch.ones_like(weight, dtype=torch.bool) if mask is None else mask
    mag = weight.abs() * live
    top = mag.max().clamp_min(1e-12)
    w = (mag / top).clamp(0.0, 1.0)
    norm = torch.maximum((ltp * live).max(), (ltd * live).max()).clamp_min(1e-12)
    score = w + eta * ((1 - w) ** mu * ltp / norm - w ** mu * ltd / norm)
    return torch.where(live, score, torch.full_like(score, -math.inf))


@torch.no_grad()
def keep_mask(score: torch.Tensor, sparsity: float, mask: torch.Tensor | None = None):
    """Boolean mask keeping exactly ``numel - round(sparsity * numel)`` synapses, those with
    the highest ``score`` (ties: the lower flat index), never one that ``mask`` has pruned.
    Raises ``ValueError`` when ``mask`` already prunes more than ``sparsity``."""
    n = score.numel()
    keep = n - int(round(sparsity * n))
    if mask is not None and int(mask.sum()) < keep:
        raise ValueError(f"{n - int(mask.sum())} of {n} weights are pruned already, more than "
                         f"sparsity {sparsity} allows")
    s = score.reshape(-1).double()
    if mask is not None:
        s = torch.where(mask.reshape(-1), s, torch.full_like(s, -math.inf))
    # A stable sort on the negated score: equal scores keep their index order.
    order = torch.sort(-s, stable=True).indices[:keep]
    out = torch.zeros(n, dtype=torch.bool)
    out[order] = True
    return out.reshape(score.shape)


@torch.no_grad()
def fit_levels(weight: torch.Tensor, mask: torch.Tensor, levels: int, bits: int,
               iterations: int = 30):
    """Integer level magnitudes and scale of a layer (the module docstring, "Levels").

    Returns ``(magnitudes, scale)``: a float tensor of the distinct integers ``m_1 < ... <
    m_n`` and the scale ``s`` (a scalar tensor). ``levels`` is 2 .. 16, ``bits`` 2 .. 8."""
    hi = (1 << (bits - 1)) - 1
    n = min(levels // 2, hi)
    live = weight[mask].abs().double()
    if live.numel() == 0 or float(live.max()) == 0.0:
        return torch.arange(1, n + 1, dtype=torch.float32), torch.ones(())
    # Lloyd's algorithm in one dimension, started from the quantiles of the magnitudes.
    centres = torch.quantile(live[::max(1, live.numel() // 100000)],
                             (torch.arange(n, dtype=torch.float64) + 0.5) / n)
    for _ in range(iterations):
        edges = (centres[1:] + centres[:-1]) / 2
        which = torch.bucketize(live, edges)
        sums = torch.zeros(n, dtype=torch.float64).index_add_(0, which, live)
        counts = torch.zeros(n, dtype=torch.float64).index_add_(0, which, torch.ones_like(live))
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        centres = torch.sort(centres).values
    scale = centres[-1].clamp_min(1e-12) / hi
    mags = torch.unique(torch.clamp(torch.round(centres / scale), 1, hi))
    return mags.float(), scale.float()


def schedule(event: int, target: float, ramp: int) -> float:
    """Sparsity of prune event ``event`` (1, 2, ...): ``target * (1 - (1 - e / ramp)**3)``
    for the first ``ramp`` events (Zhu and Gupta's cubic schedule: large steps first, while the
    network has the most to spare), ``target`` after them."""
    if event >= ramp:
        return target
    return target * (1.0 - (1.0 - event / ramp) ** 3)


class Pruner:
    """The ``[prune]`` recipe section applied during training.

    Parameters
    ----------
    method : ``"stdp"`` or ``"magnitude"``
    sparsity : target fraction of zero weights in each layer, 0 .. 1 (exclusive)
    levels : distinct nonzero weight values per layer, 2 .. 16, or 0 (the b-bit grid only)
    interval : epochs between prune-and-quantize events (1 or more)
    start : the epoch (1-based, counted over all stages) after which the first event happens
    ramp : events over which the sparsity rises to ``sparsity`` (:func:`schedule`)
    levels_from : the first event (1-based) that also quantizes to ``levels``; the events
        before it prune only
    eta, mu, tau : the STDP rule's step size, power and trace time constant (steps)

    :meth:`observe` takes every training batch's forward pass (the STDP pairings), and
    :meth:`epoch_end` runs an event when the schedule says so; :attr:`events` lists what each
    did.
    """

    def __init__(self, method: str, sparsity: float, levels: int = 0, interval: int = 1,
                 start: int = 1, ramp: int = 1, eta: float = 1.0, mu: float = 0.5,
                 tau: float = 1.0, levels_from: int = 1):
        if method not in METHODS:
            raise ValueError(f"prune.method is {method!r}; it must be one of "
                             f"{', '.join(map(repr, METHODS))}")
        self.method, self.sparsity, self.levels = method, sparsity, levels
        self.interval, self.start, self.ramp = interval, start, ramp
        self.eta, self.mu, self.tau = eta, mu, tau
        self.levels_from = levels_from
        self.events: list[dict] = []
        self.epochs = 0
        self._ltp: list | None = None
        self._ltd: list | None = None
        self._images = 0

    @classmethod
    def from_config(cls, section: dict) -> "Pruner":
        keys = ("method", "sparsity", "levels", "interval", "start", "ramp", "eta", "mu", "tau",
                "levels_from")
        return cls(**{key: section[key] for key in keys})

    def due(self, epoch: int) -> bool:
        """Whether an event follows epoch ``epoch`` (1-based)."""
        return epoch >= self.start and (epoch - self.start) % self.interval == 0

    @torch.no_grad()
    def observe(self, model: SNN, pixels: torch.Tensor, out) -> None:
        """Add one training batch's STDP pairings (``out``: its forward pass on ``pixels``)."""
        if self.method != "stdp":
            return
        cfg = model.config
        pre = [encode(pixels, out.potential.shape[1], cfg.encoder, cfg.lfsr_seed) / 255.0]
        pre += [s.detach() for s in out.spikes[:-1]]
        pairs = [stdp_pairings(a, s.detach(), self.tau) for a, s in zip(pre, out.spikes)]
        if self._ltp is None:
            self._ltp = [p for p, _ in pairs]
            self._ltd = [d for _, d in pairs]
        else:
            for k, (p, d) in enumerate(pairs):
                self._ltp[k] += p
                self._ltd[k] += d
        self._images += len(pixels)

    def scores(self, model: SNN) -> list:
        """Each layer's score (STDP or ``|W|``) from the pairings observed since the last event."""
        out = []
        for k in range(len(model.weight)):
            w, mask = model.weight[k].detach(), model.mask(k)
            if self.method == "magnitude":
                out.append(torch.where(mask, w.abs(), torch.full_like(w, -math.inf)))
                continue
            if self._ltp is None:
                raise ValueError("STDP pruning needs the spike trains of at least one "
                                 "training batch before its first event")
            ltp, ltd = self._ltp[k] / self._images, self._ltd[k] / self._images
            out.append(stdp_score(w, ltp, ltd, self.eta, self.mu, mask))
        return out

    @torch.no_grad()
    def apply(self, model: SNN, sparsity: float, quantize: bool = True) -> dict:
        """Prune every layer to ``sparsity`` and, with ``quantize``, fit its levels; returns
        what was done."""
        bits = model.config.weight_bits
        info = {"sparsity": sparsity, "layers": []}
        for k, score in enumerate(self.scores(model)):
            mask = keep_mask(score, sparsity, model.mask(k))
            model.set_mask(k, mask)
            layer = {"zero_fraction": 1.0 - float(mask.float().mean())}
            if quantize and self.levels and bits is not None and bits > 1:
                mags, scale = fit_levels(model.weight[k].detach(), mask, self.levels, bits)
                model.set_levels(k, mags, scale)
                # The float weights are kept (not snapped onto the levels, which lost the small
                # differences training needs to move a weight across a level: on digits 0.41
                # against 0.78); the forward pass rounds them to the levels until the next event.
                layer["levels"] = mags.int().tolist()
                layer["scale"] = float(scale)
            info["layers"].append(layer)
        self._ltp = self._ltd = None
        self._images = 0
        return info

    def epoch_end(self, model: SNN) -> dict | None:
        """Count one more training epoch (over all stages) and run the event that follows it,
        if one is due."""
        self.epochs += 1
        epoch = self.epochs
        if not self.due(epoch):
            return None
        event = len(self.events) + 1
        sparsity = schedule(event, self.sparsity, self.ramp)
        info = self.apply(model, sparsity, quantize=event >= self.levels_from)
        info["epoch"] = epoch
        self.events.append(info)
        return info
