"""Integer golden model of the accelerator (``docs/numerics.md``).

Two implementations of the same semantics, both built on the rules of :mod:`core.numerics`:

* :func:`reference` runs one image with Python integers, line by line as the document reads.
  It is slow and meant to be obviously right; it sees a convolution as its dense matrix
  (:meth:`core.network.Layer.dense_weights`).
* :func:`run` runs a batch in numpy int64 arithmetic, one layer at a time over all timesteps
  (a layer only sees the spikes of the layer below, so its currents for every step are one
  matrix product; a convolution's, one product of its kernel with the windows of the map,
  im2col). The dot products go through float matrix products that are exact: float32 when no
  partial sum can reach 2**24, else float64 (every partial sum is below 2**31). It is the
  model that the evaluation, the co-simulation, the cycle model and the demo use, and it needs
  no torch.

Both return a :class:`Trace` holding, for every layer, timestep and neuron, the spike and the
membrane potential after the reset, plus the read-out of the output layer, so that a
co-simulation can compare every value and not only the class. The tests check that the two
agree on many random networks, inputs and options; since they share the neuron, leak, encoder
and LFSR rules, worked examples computed by hand pin those rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core import numerics
from core.numerics import INPUT_SPIKE, NEVER, hybrid_spike_time, layer_rule, lfsr_draws

from .network import Network

__all__ = ["NEVER", "Trace", "lfsr_draws", "hybrid_spike_time", "encode", "run", "reference",
           "predict"]


@dataclass
class Trace:
    """Everything observable about a batch of inferences (numpy arrays).

    Attributes
    ----------
    spikes : list of bool arrays, one per layer, shape (B, T, n_out)
    membrane : list of int64 arrays, one per layer, shape (B, T, n_out); ``v`` after the reset
    first_time : int64 array (B, n_classes); first spike step of each output neuron, or NEVER
    first_potential : int64 array (B, n_classes); ``p`` in that step, 0 if it never fired
    count : int64 array (B, n_classes); spikes of each output neuron over the ``T`` steps
    prediction : int64 array (B,); the class of numerics.md, section 6
    """
    spikes: list
    membrane: list
    first_time: np.ndarray
    first_potential: np.ndarray
    count: np.ndarray
    prediction: np.ndarray

    def __getitem__(self, index) -> "Trace":
        """The trace of one sample (an int index) or a slice of samples, keeping the batch axis."""
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1)
        return Trace([s[index] for s in self.spikes], [m[index] for m in self.membrane],
                     self.first_time[index], self.first_potential[index],
                     self.count[index], self.prediction[index])

    @property
    def spike_counts(self) -> np.ndarray:
        """Spikes per layer per sample, int64 (B, L)."""
        return np.stack([s.sum(axis=(1, 2), dtype=np.int64) for s in self.spikes], axis=1)


# -- fast batched model --------------------------------------------------------------------

def _pixels(network: Network, pixels) -> np.ndarray:
    """``pixels`` checked against the network, int64 (B, n_in)."""
    x = np.asarray(pixels).astype(np.int64)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(f"pixels have shape {tuple(x.shape)}; expected (batch, "
                         f"{network.n_inputs})")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError("pixels must be integers in 0 .. 255; scale float images with "
                         "sw.data.to_pixels")
    return x


def _encoder(network: Network, x: np.ndarray):
    """The event magnitudes of layer 0 at step ``t``, int64 (B, n_in), as a function of ``t``."""
    T = network.timesteps
    if network.encoder == "direct":
        return lambda t: x
    if network.encoder == "hybrid":
        when = np.where(x > 0, hybrid_spike_time(x, T), 0)  # 0: no spike after the analog step
        return lambda t: x if t == 0 else np.where(when == t, INPUT_SPIKE, 0)
    draws = lfsr_draws(network.lfsr_seed, T, network.n_inputs)
    return lambda t: np.where(x > draws[t], INPUT_SPIKE, 0)


def encode(network: Network, pixels) -> np.ndarray:
    """Event magnitudes of layer 0, int64 (B, T, n_in), for uint8-valued ``pixels`` (B, n_in)."""
    x = _pixels(network, pixels)
    step = _encoder(network, x)
    events = np.empty((len(x), network.timesteps, network.n_inputs), np.int64)
    for t in range(network.timesteps):
        events[:, t] = step(t)
    return events


def _matmul_weights(weights, magnitude: int) -> np.ndarray:
    """``weights.T`` (n_in, n_out) as floats in which a dot product with events of at most
    ``magnitude`` is exact: float32 when no partial sum can reach 2**24 (the largest sum of
    absolute weights of a neuron times ``magnitude`` is below it), else float64 (every partial
    sum is below 2**31, section 3)."""
    w = np.asarray(weights, np.int64)
    small = int(np.abs(w).sum(axis=1).max(initial=0)) * magnitude < 1 << 24
    return w.T.astype(np.float32 if small else np.float64)


def _dot(events: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``I``, int64 (..., n_out), of events (..., n_in) and :func:`_matmul_weights`."""
    return (events.astype(weights.dtype) @ weights).astype(np.int64)


def _conv_weights(layer, magnitude: int) -> np.ndarray:
    """A convolution's kernel as floats (groups, in_channels // groups * K * K, out_channels //
    groups), exact for events of at most ``magnitude`` as in :func:`_matmul_weights`."""
    c = layer.conv
    w = np.asarray(layer.weights, np.int64)
    small = int(np.abs(w).sum(axis=(1, 2, 3)).max(initial=0)) * magnitude < 1 << 24
    per_group = w.reshape(c.groups, c.out_channels // c.groups, -1).transpose(0, 2, 1)
    return per_group.astype(np.float32 if small else np.float64)


_CHUNK = 1 << 23  # numbers held in im2col rows at once (64 MiB as float64)


def _conv(events: np.ndarray, conv, weights: np.ndarray) -> np.ndarray:
    """``I``, int64 (N, n_out), of events (N, n_in) through a convolution with
    :func:`_conv_weights`: the windows of every output position gathered into rows (im2col,
    a strided view, copied a chunk of images at a time) and multiplied by the kernel."""
    N = len(events)
    C, H, W, K, S, P = (conv.in_channels, conv.height, conv.width, conv.kernel, conv.stride,
                        conv.padding)
    G, OH, OW = conv.groups, conv.out_height, conv.out_width
    Cg, Og = C // G, conv.out_channels // G
    out = np.empty((N, conv.out_channels, OH * OW), np.int64)
    step = max(1, _CHUNK // (C * OH * OW * K * K))
    for start in range(0, N, step):
        x = events[start:start + step].reshape(-1, C, H, W).astype(weights.dtype)
        if P:
            x = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
        # (n, C, OH, OW, K, K): the window of each output position, a view of x.
        windows = sliding_window_view(x, (K, K), axis=(2, 3))[:, :, ::S, ::S][:, :, :OH, :OW]
        n = len(x)
        cols = (windows.reshape(n, G, Cg, OH, OW, K, K).transpose(0, 1, 3, 4, 2, 5, 6)
                .reshape(n, G, OH * OW, Cg * K * K))
        if G == 1:  # one matrix product for the whole chunk
            y = (cols.reshape(n * OH * OW, -1) @ weights[0]).reshape(n, 1, OH * OW, Og)
        else:       # depthwise: one product per group
            y = np.einsum("ngpk,gko->ngpo", cols, weights)
        # (n, G, positions, Og) -> channel o = g * Og + og, then (y, x) row-major.
        out[start:start + n] = y.transpose(0, 1, 3, 2).reshape(n, conv.out_channels, OH * OW)
    return out.reshape(N, conv.n_out)


def _synapses(layer, magnitude: int):
    """The function from events (N, n_in) of at most ``magnitude`` to the synaptic currents
    ``I``, int64 (N, n_out), of ``layer`` (dense or convolution), its weights prepared once."""
    if layer.conv is None:
        weights = _matmul_weights(layer.weights, magnitude)
        return lambda events: _dot(events, weights)
    kernel = _conv_weights(layer, magnitude)
    return lambda events: _conv(events, layer.conv, kernel)


def _readout(network: Network, first_time, first_potential, final_v, count) -> np.ndarray:
    if network.readout == "spike_count":
        return count.argmax(axis=1)  # argmax returns the first maximum: lowest index
    by_membrane = final_v.argmax(axis=1)
    if network.readout == "max_membrane":
        return by_membrane
    # Order by (earliest time, largest potential, lowest index) with one composite key.
    # first_potential fits in 33 bits and the index in 16, so the key stays inside int64.
    n = first_time.shape[1]
    vmax = 1 << (network.membrane_bits - 1)
    key = (first_time * (1 << 34) + (vmax - first_potential)) * (1 << 16) + np.arange(n)
    by_time = key.argmin(axis=1)
    fired = (first_time < NEVER).any(axis=1)
    return np.where(fired, by_time, by_membrane)


def run(network: Network, pixels) -> Trace:
    """Run a batch of images; ``pixels`` is (B, n_in) with integer values in 0 .. 255."""
    return _run(network, _pixels(network, pixels), record=True)


_CACHE_WORDS = 1 << 19  # int64 values of one layer's state that a chunk of images keeps


def _run(network: Network, x: np.ndarray, record: bool) -> Trace:
    """:func:`run` on checked pixels; without ``record`` the trace keeps the output layer's
    read-out only (``spikes`` and ``membrane`` are empty lists).

    A network with convolutions takes the images in chunks whose neuron state stays in the
    processor's cache (the neuron step is a dozen passes over a map of thousands of neurons),
    each chunk through every layer and step; a dense network takes them all at once.
    """
    B, T = len(x), network.timesteps
    layers = network.layers
    synapses = [_synapses(layer, 255 if k == 0 else 1) for k, layer in enumerate(layers)]
    chunk = max(B, 1)
    if any(layer.conv is not None for layer in layers):
        widest = max(max(layer.n_in, layer.n_out) for layer in layers)
        chunk = max(1, _CACHE_WORDS // (widest * T))
    spikes = [[] for _ in layers]
    membrane = [[] for _ in layers]
    last = dict(first_time=[], first_potential=[], count=[], final_v=[])
    for start in range(0, max(B, 1), chunk):
        xs = x[start:start + chunk]
        step = _encoder(network, xs)
        b = len(xs)
        for k, layer in enumerate(layers):
            if k == 0:  # the encoder's events, step by step (direct: the same at every step)
                current = np.empty((b, T, layer.n_out), np.int64)
                for t in range(T):
                    direct_again = t > 0 and network.encoder == "direct"
                    current[:, t] = current[:, 0] if direct_again else synapses[0](step(t))
            else:  # the spikes of the layer below, in the same step
                below = s_all.reshape(b * T, layers[k - 1].n_out)
                current = synapses[k](below).reshape(b, T, layer.n_out)
            if layer.bias is not None:  # a constant current, summed with the synapses' (step 2)
                current += layer.bias.astype(np.int64)
            rule = layer_rule(layer)
            v = np.zeros((b, layer.n_out), np.int64)
            fired = np.zeros((b, layer.n_out), bool)
            s_all = np.empty((b, T, layer.n_out), bool)
            v_all = np.empty((b, T, layer.n_out), np.int64) if record else None
            p_all = np.empty((b, T, layer.n_out), np.int64)
            for t in range(T):
                p_all[:, t], s_all[:, t], v, fired = numerics.neuron_step(
                    v, fired, current[:, t], membrane_bits=network.membrane_bits, **rule)
                if record:
                    v_all[:, t] = v
            if record:
                spikes[k].append(s_all)
                membrane[k].append(v_all)
        # First spike of each output neuron and its p in that step (p_all is the output
        # layer's).
        fired = s_all.any(axis=1)
        first = s_all.argmax(axis=1)  # the first True along the steps
        last["first_time"].append(np.where(fired, first, NEVER).astype(np.int64))
        last["first_potential"].append(
            np.where(fired, np.take_along_axis(p_all, first[:, None], axis=1)[:, 0], 0))
        last["count"].append(s_all.sum(axis=1, dtype=np.int64))
        last["final_v"].append(v)

    def joined(parts):
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    spikes = [joined(parts) for parts in spikes] if record else []
    membrane = [joined(parts) for parts in membrane] if record else []
    first_time, first_potential, count, final_v = (joined(last[key]) for key in last)
    prediction = _readout(network, first_time, first_potential, final_v, count)
    return Trace(spikes, membrane, first_time, first_potential, count, prediction)


def predict(network: Network, pixels, batch_size: int = 1000) -> np.ndarray:
    """Classes of many images, computed in batches; returns an int64 numpy array."""
    pixels = np.asarray(pixels)
    out = [_run(network, _pixels(network, pixels[i:i + batch_size]), record=False).prediction
           for i in range(0, len(pixels), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# -- slow reference ------------------------------------------------------------------------

def reference(network: Network, pixels) -> Trace:
    """Run one image (a sequence of ``n_in`` ints) with plain Python integers.

    This is numerics.md, section 3, transcribed; keep it that way.
    """
    x = [int(p) for p in pixels]
    T, M = network.timesteps, network.membrane_bits

    draws, r = [], network.lfsr_seed
    if network.encoder == "rate":
        for t in range(T):
            row = []
            for _ in x:
                r, d = numerics.lfsr_draw(r)
                row.append(d)
            draws.append(row)

    def encode_step(t):
        if network.encoder == "direct" or (network.encoder == "hybrid" and t == 0):
            return list(x)
        if network.encoder == "hybrid":
            return [INPUT_SPIKE if xi > 0 and t == hybrid_spike_time(xi, T) else 0 for xi in x]
        return [INPUT_SPIKE if xi > d else 0 for xi, d in zip(x, draws[t])]

    # A convolution is its dense matrix here (Layer.dense_weights): the oracle of every
    # convolution path.
    weights = [[[int(w) for w in row] for row in layer.dense_weights()]
               for layer in network.layers]
    biases = [[int(b) for b in layer.bias_or_zero()] for layer in network.layers]
    v = [[0] * layer.n_out for layer in network.layers]
    fired = [[False] * layer.n_out for layer in network.layers]
    spikes = [[[False] * layer.n_out for _ in range(T)] for layer in network.layers]
    membrane = [[[0] * layer.n_out for _ in range(T)] for layer in network.layers]
    n_cls = network.n_classes
    first_time, first_potential, count = [NEVER] * n_cls, [0] * n_cls, [0] * n_cls
    for t in range(T):
        a = encode_step(t)
        for k, layer in enumerate(network.layers):
            s = [False] * layer.n_out
            for j in range(layer.n_out):
                current = sum(w * ai for w, ai in zip(weights[k][j], a) if ai) + biases[k][j]
                p, s[j], v[k][j], fired[k][j] = numerics.neuron_step(
                    v[k][j], fired[k][j], current, membrane_bits=M, **layer_rule(layer))
                spikes[k][t][j] = s[j]
                membrane[k][t][j] = v[k][j]
                if k == len(network.layers) - 1 and s[j]:
                    count[j] += 1
                    if first_time[j] == NEVER:
                        first_time[j], first_potential[j] = t, p
            a = [1 if sj else 0 for sj in s]
    cls = numerics.readout_class(first_time, first_potential, v[-1], readout=network.readout,
                                 count=count)
    return Trace(
        spikes=[np.array([layer_spikes], dtype=bool) for layer_spikes in spikes],
        membrane=[np.array([layer_membrane], dtype=np.int64) for layer_membrane in membrane],
        first_time=np.array([first_time], dtype=np.int64),
        first_potential=np.array([first_potential], dtype=np.int64),
        count=np.array([count], dtype=np.int64),
        prediction=np.array([cls], dtype=np.int64),
    )
