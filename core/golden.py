"""Integer golden model of the accelerator (``docs/numerics.md``).

Two implementations of the same semantics:

* :func:`reference` runs one image with Python integers, line by line as the document reads.
  It is slow and meant to be obviously right.
* :func:`run` runs a batch in PyTorch integer arithmetic (the dot products go through float64
  matrix products, which are exact: every partial sum is below 2**31). It is the model that the
  evaluation, the co-simulation and the demo use.

Both return a :class:`Trace` holding, for every layer, timestep and neuron, the spike and the
membrane potential after the reset, plus the read-out of the output layer, so that a
co-simulation can compare every value and not only the class. The tests check that the two
agree on many random networks, inputs and options.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .network import INPUT_SPIKE, Network

__all__ = ["NEVER", "Trace", "lfsr_draws", "hybrid_spike_time", "encode", "run", "reference",
           "predict"]

NEVER = 255  # first spike time of a neuron that did not fire (numerics.md, section 5)


@dataclass
class Trace:
    """Everything observable about a batch of inferences.

    Attributes
    ----------
    spikes : list of bool tensors, one per layer, shape (B, T, n_out)
    membrane : list of int64 tensors, one per layer, shape (B, T, n_out); ``v`` after the reset
    first_time : int64 tensor (B, n_classes); first spike step of each output neuron, or NEVER
    first_potential : int64 tensor (B, n_classes); ``p`` in that step, 0 if it never fired
    prediction : int64 tensor (B,); the class of numerics.md, section 6
    """
    spikes: list
    membrane: list
    first_time: torch.Tensor
    first_potential: torch.Tensor
    prediction: torch.Tensor

    def __getitem__(self, index) -> "Trace":
        """The trace of one sample (an int index) or a slice of samples, keeping the batch axis."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Trace([s[index] for s in self.spikes], [m[index] for m in self.membrane],
                     self.first_time[index], self.first_potential[index],
                     self.prediction[index])

    @property
    def spike_counts(self) -> torch.Tensor:
        """Spikes per layer per sample, int64 (B, L)."""
        return torch.stack([s.sum(dim=(1, 2)) for s in self.spikes], dim=1)


# -- encoders ------------------------------------------------------------------------------

def _lfsr_shift(r: int) -> int:
    lsb = r & 1
    r >>= 1
    return r ^ 0xB400 if lsb else r


@lru_cache(maxsize=16)
def _lfsr_table(seed: int, count: int) -> np.ndarray:
    draws = np.empty(count, np.int32)
    r = seed
    for k in range(count):
        for _ in range(8):
            r = _lfsr_shift(r)
        draws[k] = r & 0xFF
    draws.flags.writeable = False
    return draws


def lfsr_draws(seed: int, timesteps: int, n_inputs: int) -> np.ndarray:
    """The rate encoder's draws, shape (T, n_inputs) (numerics.md, section 4.3)."""
    return _lfsr_table(seed, timesteps * n_inputs).reshape(timesteps, n_inputs)


def hybrid_spike_time(x, timesteps: int):
    """Step at which a pixel of value ``x`` > 0 spikes under hybrid coding (section 4.2)."""
    return 1 + (((255 - x) * (timesteps - 1)) >> 8)


def encode(network: Network, pixels) -> torch.Tensor:
    """Event magnitudes of layer 0, int64 (B, T, n_in), for uint8-valued ``pixels`` (B, n_in)."""
    x = torch.as_tensor(np.asarray(pixels), dtype=torch.int64)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(f"pixels have shape {tuple(x.shape)}; expected (batch, "
                         f"{network.n_inputs})")
    if x.numel() and (x.min() < 0 or x.max() > 255):
        raise ValueError("pixels must be integers in 0 .. 255; scale float images with "
                         "sw.data.to_pixels")
    T = network.timesteps
    steps = torch.arange(T).view(1, T, 1)
    xs = x.unsqueeze(1)
    if network.encoder == "direct":
        return xs.expand(-1, T, -1).clone()
    if network.encoder == "hybrid":
        spike = (xs > 0) & (steps == hybrid_spike_time(xs, T))
        return torch.where(steps == 0, xs, spike * INPUT_SPIKE)
    draws = torch.from_numpy(lfsr_draws(network.lfsr_seed, T, network.n_inputs).astype(np.int64))
    return (xs > draws.unsqueeze(0)) * INPUT_SPIKE


# -- fast batched model --------------------------------------------------------------------

def _leak(v: torch.Tensor, layer) -> torch.Tensor:
    if layer.neuron == "if":
        return v
    if layer.leak_mode == "shift":
        return v - (v >> layer.leak)
    return (v * layer.leak + 128) >> 8


def _readout(network: Network, first_time, first_potential, final_v) -> torch.Tensor:
    by_membrane = final_v.argmax(dim=1)  # argmax returns the first maximum: lowest index
    if network.readout == "max_membrane":
        return by_membrane
    # Order by (earliest time, largest potential, lowest index) with one composite key.
    # first_potential fits in 33 bits and the index in 16, so the key stays inside int64.
    n = first_time.shape[1]
    vmax = 1 << (network.membrane_bits - 1)
    key = ((first_time * (1 << 34) + (vmax - first_potential)) * (1 << 16)
           + torch.arange(n))
    by_time = key.argmin(dim=1)
    fired = (first_time < NEVER).any(dim=1)
    return torch.where(fired, by_time, by_membrane)


@torch.no_grad()
def run(network: Network, pixels) -> Trace:
    """Run a batch of images; ``pixels`` is (B, n_in) with integer values in 0 .. 255."""
    events = encode(network, pixels)
    B, T = events.shape[0], network.timesteps
    M = network.membrane_bits
    lo, hi = -(1 << (M - 1)), (1 << (M - 1)) - 1
    weights = [torch.from_numpy(np.asarray(l.weights, np.float64)).T for l in network.layers]
    v = [torch.zeros(B, l.n_out, dtype=torch.int64) for l in network.layers]
    fired = [torch.zeros(B, l.n_out, dtype=torch.bool) for l in network.layers]
    spikes = [torch.zeros(B, T, l.n_out, dtype=torch.bool) for l in network.layers]
    membrane = [torch.zeros(B, T, l.n_out, dtype=torch.int64) for l in network.layers]
    n_cls = network.n_classes
    first_time = torch.full((B, n_cls), NEVER, dtype=torch.int64)
    first_potential = torch.zeros(B, n_cls, dtype=torch.int64)
    for t in range(T):
        a = events[:, t].to(torch.float64)
        for k, layer in enumerate(network.layers):
            u = _leak(v[k], layer)
            current = (a @ weights[k]).round().to(torch.int64)
            p = (u + current).clamp(lo, hi)
            s = p >= layer.threshold
            if layer.fire_once:
                s &= ~fired[k]
            if layer.reset == "subtract":
                v[k] = torch.where(s, p - layer.threshold, p)
            elif layer.reset == "zero":
                v[k] = torch.where(s, torch.zeros_like(p), p)
            else:
                v[k] = p
            fired[k] |= s
            spikes[k][:, t] = s
            membrane[k][:, t] = v[k]
            a = s.to(torch.float64)
        new = spikes[-1][:, t] & (first_time == NEVER)
        first_time[new] = t
        first_potential = torch.where(new, p, first_potential)
    prediction = _readout(network, first_time, first_potential, v[-1])
    return Trace(spikes, membrane, first_time, first_potential, prediction)


def predict(network: Network, pixels, batch_size: int = 1000) -> np.ndarray:
    """Classes of many images, computed in batches; returns an int64 numpy array."""
    pixels = np.asarray(pixels)
    out = [run(network, pixels[i:i + batch_size]).prediction.numpy()
           for i in range(0, len(pixels), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# -- slow reference ------------------------------------------------------------------------

def reference(network: Network, pixels) -> Trace:
    """Run one image (a sequence of ``n_in`` ints) with plain Python integers.

    This is numerics.md, section 3, transcribed; keep it that way.
    """
    x = [int(p) for p in pixels]
    T, M = network.timesteps, network.membrane_bits

    def sat(value):
        return max(-(1 << (M - 1)), min((1 << (M - 1)) - 1, value))

    def encode_step(t, draws):
        if network.encoder == "direct" or (network.encoder == "hybrid" and t == 0):
            return list(x)
        if network.encoder == "hybrid":
            return [255 if xi > 0 and t == 1 + (((255 - xi) * (T - 1)) >> 8) else 0
                    for xi in x]
        return [255 if xi > d else 0 for xi, d in zip(x, draws[t])]

    draws = None
    if network.encoder == "rate":
        r, draws = network.lfsr_seed, []
        for t in range(T):
            row = []
            for _ in x:
                for _ in range(8):
                    lsb = r & 1
                    r >>= 1
                    if lsb:
                        r ^= 0xB400
                row.append(r & 0xFF)
            draws.append(row)

    weights = [[[int(w) for w in row] for row in layer.weights] for layer in network.layers]
    v = [[0] * layer.n_out for layer in network.layers]
    fired = [[False] * layer.n_out for layer in network.layers]
    spikes = [[[False] * layer.n_out for _ in range(T)] for layer in network.layers]
    membrane = [[[0] * layer.n_out for _ in range(T)] for layer in network.layers]
    n_cls = network.n_classes
    first_time, first_potential = [NEVER] * n_cls, [0] * n_cls
    for t in range(T):
        a = encode_step(t, draws)
        for k, layer in enumerate(network.layers):
            s = [False] * layer.n_out
            for j in range(layer.n_out):
                vj = v[k][j]
                if layer.neuron == "lif" and layer.leak_mode == "shift":
                    u = vj - (vj >> layer.leak)
                elif layer.neuron == "lif":
                    u = (vj * layer.leak + 128) >> 8
                else:
                    u = vj
                current = sum(w * ai for w, ai in zip(weights[k][j], a) if ai)
                p = sat(u + current)
                s[j] = p >= layer.threshold and not (layer.fire_once and fired[k][j])
                if s[j] and layer.reset == "subtract":
                    v[k][j] = p - layer.threshold
                elif s[j] and layer.reset == "zero":
                    v[k][j] = 0
                else:
                    v[k][j] = p
                fired[k][j] = fired[k][j] or s[j]
                spikes[k][t][j] = s[j]
                membrane[k][t][j] = v[k][j]
                if k == len(network.layers) - 1 and s[j] and first_time[j] == NEVER:
                    first_time[j], first_potential[j] = t, p
            a = [1 if sj else 0 for sj in s]
    final = v[-1]
    best_v = max(range(n_cls), key=lambda j: (final[j], -j))
    if network.readout == "first_spike" and any(ft != NEVER for ft in first_time):
        cls = min(range(n_cls), key=lambda j: (first_time[j], -first_potential[j], j))
    else:
        cls = best_v
    return Trace(
        spikes=[torch.tensor([layer_spikes]) for layer_spikes in spikes],
        membrane=[torch.tensor([layer_membrane], dtype=torch.int64) for layer_membrane in membrane],
        first_time=torch.tensor([first_time], dtype=torch.int64),
        first_potential=torch.tensor([first_potential], dtype=torch.int64),
        prediction=torch.tensor([cls], dtype=torch.int64),
    )
