"""A differentiable spiking network that computes exactly what ``docs/numerics.md`` defines.

The network state is kept in *integer units*: layer ``l``'s membrane is measured in units of
``q_l = s_l * c_l``, where ``s_l`` is the layer's weight scale (:mod:`sw.snn.quant`) and
``c_l`` the size of one input event in float units (``1/255`` for layer 0, whose events are
pixels 0 .. 255 that the float model reads as ``x / 255``; ``1`` for later layers, whose
events are spikes). In these units the weights are ``W / s_l``, the threshold is
``theta_l / q_l`` and the leak is unchanged, so the float model and the integer model are the
same computation up to rounding.

With ``weight_bits`` set and ``quantized=True`` the forward pass applies every rounding of the
integer model (weights, thresholds and leak factors rounded with straight-through estimators,
the leak's ``>>`` as a floor, saturation at ``M`` bits). All values are then integers below
2**24 in float32, so every sum is exact and the forward pass gives *bit for bit* the spikes,
membranes and classes of :func:`core.golden.run` on the exported network (the tests check it);
training therefore sees the deployed model (quantization-aware training). With
``quantized=False`` nothing is rounded and there is no saturation: the float model.

Order of operations per step and layer, as numerics.md, section 3: leak, integrate (exact),
saturate, fire (``p >= theta``, gated by fire-once), reset; layer ``l + 1`` sees layer ``l``'s
spikes of the same step. The spike's gradient comes from :func:`sw.snn.surrogate.spike`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.network import ENCODERS
from core.numerics import NEVER, hybrid_spike_time, lfsr_draws

from . import quant
from .config import KINDS, MAX_KERNEL, LayerSpec, SNNConfig
from .surrogate import spike

__all__ = ["LayerSpec", "SNNConfig", "SNN", "Output", "encode", "readout",
           "MAX_LEVEL_MAGNITUDES", "KINDS", "MAX_KERNEL"]

#: Most level magnitudes of a layer (``levels = 16`` of ``[prune]``: 8 symmetric pairs).
MAX_LEVEL_MAGNITUDES = 8


class Output(NamedTuple):
    """What one forward pass returns (integer units; see the module docstring).

    potential : (B, T, C) output layer's ``p`` (before reset) at each step
    final : (B, C) output layer's ``v`` after the last step
    out_spikes : (B, T, C) output spikes (carry surrogate gradients)
    threshold : output layer's threshold (scalar tensor)
    spikes : list of (B, T, n) spikes of every layer (for statistics and rasters)
    """
    potential: torch.Tensor
    final: torch.Tensor
    out_spikes: torch.Tensor
    threshold: torch.Tensor
    spikes: list


def encode(pixels: torch.Tensor, timesteps: int, encoder: str, lfsr_seed: int = 0xACE1):
    """Layer-0 events in pixel units, float32 (B, T, n_in): numerics.md, section 4."""
    x = torch.as_tensor(pixels).to(torch.int32)
    T = timesteps
    xs = x.unsqueeze(1)
    if encoder == "direct":
        return xs.expand(-1, T, -1).to(torch.float32)
    if encoder == "hybrid":
        analog = xs.to(torch.float32)
        if T == 1:
            return analog
        # spike step of every pixel; a zero pixel gets step 0, which never matches t >= 1
        when = torch.where(x > 0, hybrid_spike_time(x, T), 0).unsqueeze(1)
        steps = torch.arange(1, T, dtype=torch.int32).view(1, T - 1, 1)
        return torch.cat([analog, (when == steps).to(torch.float32) * 255.0], dim=1)
    if encoder == "rate":
        draws = torch.from_numpy(lfsr_draws(lfsr_seed, T, x.shape[1]).astype(np.int32))
        return (xs > draws.unsqueeze(0)).to(torch.float32) * 255.0
    raise ValueError(f"encoder is {encoder!r}; it must be one of {ENCODERS}")


def readout(out: Output, readout_kind: str = "first_spike") -> torch.Tensor:
    """Classes (B,) by numerics.md, section 6, from a forward pass (exact in quantized mode)."""
    with torch.no_grad():
        if readout_kind == "spike_count":  # argmax returns the first maximum: lowest index
            return (out.out_spikes > 0).sum(dim=1).argmax(dim=1)
        final = out.final
        by_membrane = final.argmax(dim=1)
        if readout_kind == "max_membrane":
            return by_membrane
        s = out.out_spikes > 0
        B, T, C = s.shape
        steps = torch.arange(T).view(1, T, 1).expand(B, T, C)
        first_time = torch.where(s, steps, torch.full_like(steps, NEVER)).min(dim=1).values
        index = first_time.clamp(max=T - 1).unsqueeze(1)
        first_potential = out.potential.gather(1, index).squeeze(1)
        first_potential = torch.where(first_time < NEVER, first_potential,
                                      torch.zeros_like(first_potential))
        # Lexicographic (earliest time, largest potential, lowest index): mask step by step.
        tmin = first_time.min(dim=1, keepdim=True).values
        cand = first_time == tmin
        pot = torch.where(cand, first_potential.double(), torch.full_like(final, -1e300,
                                                                          dtype=torch.float64))
        by_time = pot.argmax(dim=1)  # argmax returns the first maximum: lowest index
        fired = (first_time < NEVER).any(dim=1)
        return torch.where(fired, by_time, by_membrane)


class SNN(nn.Module):
    """The training model. ``forward(pixels)`` takes uint8-valued pixels (B, n_in)."""

    def __init__(self, config: SNNConfig, seed: int | None = None):
        super().__init__()
        self.config = config
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.shapes = config.shapes()
        self.sizes = [math.prod(s) for s in self.shapes]
        self.weight = nn.ParameterList()
        self.log_theta = nn.ParameterList()  # thresholds learn in log space: always > 0,
        # and Adam's steps change them by a factor, whatever their size
        self.rho = nn.ParameterList()
        for k, spec in enumerate(config.layers):
            fixed = spec.kind == "pool"  # pooling has fixed weights, threshold and neuron
            if spec.kind == "conv":
                shape = (spec.n_out, self.shapes[k][0], spec.kernel, spec.kernel)
            elif spec.kind == "dense":
                shape = (self.sizes[k + 1], self.sizes[k])
            else:
                shape = (0,)
            bound = 1.0 / math.sqrt(max(1, math.prod(shape[1:])))
            w = (torch.rand(shape, generator=gen) * 2 - 1) * bound
            self.weight.append(nn.Parameter(w, requires_grad=not fixed))
            theta = 1.0 if fixed else float(spec.threshold)
            self.log_theta.append(nn.Parameter(torch.tensor(math.log(theta)),
                                               requires_grad=spec.train_threshold and not fixed))
            lam = spec.leak if spec.leak_mode == "factor" and spec.neuron == "lif" else 0.9
            self.rho.append(nn.Parameter(torch.tensor(math.log(lam / (1 - lam))),
                                         requires_grad=spec.train_leak and not fixed
                                         and spec.neuron == "lif" and spec.leak_mode == "factor"))
            self.register_buffer(f"mask{k}", torch.ones(shape, dtype=torch.bool))
            # Few-level quantization (sw.snn.prune): the level magnitudes (zeros: unused) and
            # the scale they were fitted with (0: the layer uses the b-bit grid).
            self.register_buffer(f"levels{k}", torch.zeros(MAX_LEVEL_MAGNITUDES))
            self.register_buffer(f"level_scale{k}", torch.zeros(()))
        self.quantized = config.weight_bits is not None

    def fixed(self, k: int) -> bool:
        """Layer ``k`` has no trainable weights, threshold or leak (a pooling layer)."""
        return self.config.layers[k].kind == "pool"

    # -- parameters in integer units ---------------------------------------------------------

    def threshold(self, k: int) -> torch.Tensor:
        """Layer ``k``'s threshold in float units."""
        return torch.exp(self.log_theta[k])

    @torch.no_grad()
    def set_threshold(self, k: int, value: float):
        self.log_theta[k].fill_(math.log(value))

    def mask(self, k: int) -> torch.Tensor:
        return getattr(self, f"mask{k}")

    def set_mask(self, k: int, mask: torch.Tensor):
        getattr(self, f"mask{k}").copy_(mask)

    def pruned(self, k: int) -> bool:
        return not bool(self.mask(k).all())

    def levels(self, k: int) -> torch.Tensor | None:
        """Layer ``k``'s level magnitudes (:mod:`sw.snn.prune`), or None (the b-bit grid)."""
        if not float(getattr(self, f"level_scale{k}")):
            return None
        mags = getattr(self, f"levels{k}")
        return mags[mags > 0]

    @torch.no_grad()
    def set_levels(self, k: int, magnitudes: torch.Tensor | None, scale=None):
        """Quantize layer ``k`` to ``+-magnitudes`` (at most 8 integers) at weight scale
        ``scale``; None: back to the b-bit grid."""
        buf, sbuf = getattr(self, f"levels{k}"), getattr(self, f"level_scale{k}")
        buf.zero_()
        sbuf.zero_()
        if magnitudes is not None:
            if len(magnitudes) > MAX_LEVEL_MAGNITUDES:
                raise ValueError(f"{len(magnitudes)} level magnitudes; at most "
                                 f"{MAX_LEVEL_MAGNITUDES}")
            buf[:len(magnitudes)] = torch.as_tensor(magnitudes, dtype=buf.dtype)
            sbuf.fill_(float(scale))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before few-level quantization have no level buffers: unused.
        for k in range(len(self.config.layers)):
            for name in (f"levels{k}", f"level_scale{k}"):
                state_dict.setdefault(prefix + name, getattr(self, name).clone().zero_())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def scale(self, k: int) -> torch.Tensor:
        """Weight scale ``s_k`` (detached): chosen for b bits, or 1 for float weights; the
        fitted one of a layer with levels."""
        if not self.quantized:
            return torch.ones(())
        if self.levels(k) is not None:
            return getattr(self, f"level_scale{k}").clone()
        mask = self.mask(k) if self.pruned(k) else None
        return quant.choose_scale(self.weight[k].detach(), self.config.weight_bits, mask)

    def unit(self, k: int) -> torch.Tensor:
        """Size of one integer membrane unit of layer ``k`` in float units, ``s_k * c_k``."""
        return self.scale(k) * (1.0 / 255.0 if k == 0 else 1.0)

    def int_weight(self, k: int, scale=None) -> torch.Tensor:
        s = self.scale(k) if scale is None else scale
        w = self.weight[k] * self.mask(k)
        if not self.quantized:
            return w / s
        levels = self.levels(k)
        if levels is not None:
            return quant.quantize_levels(w / s, levels) * self.mask(k)
        wq = quant.quantize(w, self.config.weight_bits, s)
        return wq * self.mask(k) if self.config.weight_bits > 1 else wq

    def int_threshold(self, k: int, unit=None) -> torch.Tensor:
        if self.fixed(k):
            return torch.ones(())
        q = self.unit(k) if unit is None else unit
        th = self.threshold(k) / q
        if not self.quantized:
            return th.clamp_min(1e-6)
        vmax = (1 << (self.config.membrane_bits - 1)) - 1
        return quant.ste_round(th.clamp(1.0, float(vmax)))

    def synaptic(self, k: int, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Layer ``k``'s synaptic currents (N, n_out) for input events ``a`` (N, n_in) and
        weights ``w`` in integer units (a dense layer: ``a @ w.T``; a conv layer: the
        convolution of ``a`` read as (N, C, H, W) maps, flattened again; exact in float32
        with integer operands)."""
        spec = self.config.layers[k]
        if spec.kind == "dense":
            return a @ w.t()
        x = a.reshape(len(a), *self.shapes[k])
        if spec.kind == "conv":
            y = F.conv2d(x, w, stride=spec.step, padding=spec.padding)
        else:
            y = F.max_pool2d(x, spec.kernel, spec.step)
        return y.reshape(len(a), -1)

    def leak_factor(self, k: int) -> torch.Tensor:
        """Factor leak as ``lambda`` in 0 .. 255 (the exported integer when quantized)."""
        lam = 256.0 * torch.sigmoid(self.rho[k])
        lam = lam.clamp(0.0, 255.0)
        return quant.ste_round(lam) if self.quantized else lam

    def _leak(self, v: torch.Tensor, k: int, lam) -> torch.Tensor:
        spec = self.config.layers[k]
        if spec.neuron == "if":
            return v
        if spec.leak_mode == "shift":
            div = float(1 << int(spec.leak))
            return v - (quant.ste_floor(v / div) if self.quantized else v / div)
        if self.quantized:
            return quant.ste_floor((v * lam + 128.0) / 256.0)
        return v * lam / 256.0

    # -- forward -----------------------------------------------------------------------------

    def forward(self, pixels: torch.Tensor, timesteps: int | None = None,
                events: torch.Tensor | None = None) -> Output:
        """One inference of a batch of ``pixels`` (B, n_in) (an image of ``input_shape``
        flattened channel-major, row-major for conv networks); ``events`` (B, T, n_in), layer
        0's events in pixel units, replace the encoding of ``pixels`` when given (an encoding
        that passes gradients to the pixels: :func:`sw.robust.encode_events`)."""
        cfg = self.config
        T = cfg.timesteps if timesteps is None else timesteps
        if events is None:
            events = encode(pixels, T, cfg.encoder, cfg.lfsr_seed)
        B = events.shape[0]
        L = len(cfg.layers)
        scales = [self.scale(k) for k in range(L)]
        w = [self.int_weight(k, scales[k]) for k in range(L)]
        th = [self.int_threshold(k, scales[k] * (1.0 / 255.0 if k == 0 else 1.0))
              for k in range(L)]
        lam = [self.leak_factor(k) for k in range(L)]
        # Layer by layer, all steps of one before the next (the network has no feedback): each
        # layer's synaptic operation is one call over the B * T inputs of its steps (layer 0's
        # are the encoded events), its currents then unbound into steps (indexing them at
        # every step would cost a full-size zero gradient each in the backward pass).
        a = events
        spikes = []
        for k, spec in enumerate(cfg.layers):
            currents = self.synaptic(k, a.reshape(B * T, -1), w[k]).reshape(B, T, -1).unbind(1)
            if spec.kind == "pool":
                # Max pooling of 0/1 spikes is their OR in the window: the golden model's
                # pooling layer (weights 1, threshold 1, zero reset) spikes exactly then.
                # The gradient goes to the window's spiking input.
                out = self._pool(currents, spec.fire_once)
            else:
                out, potentials, v = self._neurons(k, currents, th[k], lam[k])
            a = torch.stack(out, dim=1)
            spikes.append(a)
        return Output(torch.stack(potentials, dim=1), v, spikes[-1], th[-1], spikes)

    @staticmethod
    def _pool(currents, fire_once: bool) -> list:
        """A pooling layer's spikes at each step from its window maxima ``currents``."""
        out, fired = [], None
        for s in currents:
            if fire_once and fired is not None:
                s = s * (1.0 - fired)
            fired = s.detach() if fired is None else torch.maximum(fired, s.detach())
            out.append(s)
        return out

    def _neurons(self, k: int, currents, th, lam):
        """Layer ``k``'s neurons over the steps of ``currents`` (one (B, n) tensor a step):
        their spikes and potentials before reset at each step, and the final membranes."""
        cfg, spec = self.config, self.config.layers[k]
        lo = -float(1 << (cfg.membrane_bits - 1))
        hi = float((1 << (cfg.membrane_bits - 1)) - 1)
        stdb = cfg.surrogate == "stdb"
        v = torch.zeros_like(currents[0])
        fired = torch.zeros_like(v)
        last = torch.full_like(v, -1.0) if stdb else None
        out, potentials = [], []
        for t, current in enumerate(currents):
            p = self._leak(v, k, lam) + current
            if self.quantized:
                p = p.clamp(lo, hi)
            x = (p - th) / th
            s = spike(x, cfg.surrogate, dt=(t - last) if stdb else None, gamma=cfg.gamma,
                      width=cfg.width, alpha=cfg.alpha, beta=cfg.beta)
            if spec.fire_once:
                s = s * (1.0 - fired)
            if spec.reset == "subtract":
                v = p - s * th
            elif spec.reset == "zero":
                v = p * (1.0 - s)
            else:
                v = p
            sd = s.detach()
            fired = torch.maximum(fired, sd)
            if stdb:  # time of the last spike, for the STDB surrogate only
                last = torch.where(sd > 0, torch.full_like(last, float(t)), last)
            out.append(s)
            potentials.append(p)
        return out, potentials, v

    @torch.no_grad()
    def predict(self, pixels, batch_size: int = 1000, timesteps: int | None = None) -> np.ndarray:
        """Classes of many images (numpy int64), batch by batch, without gradients."""
        pixels = torch.as_tensor(np.asarray(pixels))
        out = [readout(self(pixels[i:i + batch_size], timesteps), self.config.readout)
               for i in range(0, len(pixels), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.int64)
