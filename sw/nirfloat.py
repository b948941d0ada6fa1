"""The quantizing NIR reader: a float graph from snnTorch, Norse or SpikingJelly in, an integer
network out (``python -m sw.nir import``; ``docs/nir.md``, "Quantizing").

``read_float`` reads the graph in the tool's discrete-time convention as a
:class:`FloatNetwork`, whose ``run`` is a float32 simulation of it; ``quantize`` turns it into
an integer :class:`core.network.Network`, choosing each layer's scale on calibration images;
``agreement`` compares the two. The exact reader and the writer are ``sw.nirio``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from core import golden
from core.network import Layer, Network, NetworkError

from .nirgraph import (NirError, check_finite, describe_values, input_chain, layer_pairs,
                       leak_factor, node_kind, node_metadata)

__all__ = ["RESETS", "CLIP_FRACTIONS", "FloatLayer", "FloatRun", "FloatNetwork", "read_float",
           "nearest_leak", "Quantized", "quantize", "agreement"]


# inputs. docs/nir.md describes the conventions with a worked example per tool.

#: What a spike does to a float neuron: ``zero`` (NIR's v_reset = 0: snnTorch
#: reset_mechanism="zero", Norse, SpikingJelly's hard reset), ``subtract`` (the threshold is
#: subtracted at the spike and the rest leaks: SpikingJelly's soft reset, v_reset=None, and the
#: accelerator's subtract) or ``snntorch-subtract`` (snnTorch's reset_mechanism="subtract": the
#: threshold is subtracted in the next step, after the leak; the accelerator approximates it
#: with its subtract).
RESETS = ("zero", "subtract", "snntorch-subtract")
#: Decays within this distance of 1 are read as integrate-and-fire neurons (no leak).
_NO_LEAK = 1e-7
#: Weight-scale candidates of the calibration: the largest weight magnitude of a layer is
#: mapped to the largest integer weight times 1 / this (values above clip).
CLIP_FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


@dataclasses.dataclass
class FloatLayer:
    """One layer of a float graph in the discrete-time form ``v' = decay v + W a + b``,
    spike when ``v' > 1``, then the network's reset (:attr:`FloatNetwork.reset`).

    Every input gain (``r dt / tau``, ``r dt``, a CubaLIF's ``w_in``), a nonzero ``v_leak``
    (a constant current) and the per-neuron thresholds are folded into ``weights`` and
    ``bias``, so that the threshold is 1 for every neuron; the firing times are unchanged,
    since the membrane (reset to 0 or by its threshold) is linear in its input and bias.

    Attributes
    ----------
    weights : float64 (n_out, n_in)
    bias : float64 (n_out,)
    decay : float
        ``1 - dt / tau`` (1 for an IF neuron).
    names : (str, str)
        The graph's weight node and neuron node.
    """
    weights: np.ndarray
    bias: np.ndarray
    decay: float
    names: tuple

    @property
    def neuron(self) -> str:
        return "if" if abs(self.decay - 1.0) <= _NO_LEAK else "lif"


@dataclasses.dataclass
class FloatRun:
    """What :meth:`FloatNetwork.run` returns, numpy arrays over a batch of B images.

    Attributes
    ----------
    counts : int64 (B, n_classes); spikes of each output neuron over the T steps
    prediction : int64 (B,); the class under the read-out
    peak : list of float, one per layer; the largest ``|v|`` before the reset (threshold 1)
    """
    counts: np.ndarray
    prediction: np.ndarray
    peak: list


@dataclasses.dataclass
class FloatNetwork:
    """A float NIR graph as the accelerator can run it (:func:`read_float`).

    The input is an image in ``[0, 1]`` (pixel / 255) applied at every step, as an snnTorch
    model sees ``fc1(x)`` applied every step; the accelerator's direct encoder feeds the pixel
    value, so layer 0's integer scale carries a factor 255.

    ``reset`` is what a spike does, which NIR cannot say (its neurons reset to ``v_reset``):
    one of :data:`RESETS`.
    """
    layers: list
    dt: float
    timesteps: int | None = None
    notes: list = dataclasses.field(default_factory=list)
    reset: str = "zero"

    @property
    def n_inputs(self) -> int:
        return int(self.layers[0].weights.shape[1])

    def run(self, pixels, timesteps: int, readout: str = "spike_count") -> FloatRun:
        """Simulate uint8 ``pixels`` (B, n_in) for ``timesteps`` steps in float32 (the
        arithmetic of snnTorch, Norse and SpikingJelly): ``v = decay v + W a + b``, a spike
        when ``v > 1`` (strict, as snnTorch and Norse test), then the reset of
        :attr:`reset`."""
        x = np.asarray(pixels, np.float32) / np.float32(255.0)
        B = len(x)
        a, peaks = x, []
        per_step = None
        for k, layer in enumerate(self.layers):
            w = layer.weights.astype(np.float32)
            b = layer.bias.astype(np.float32)
            decay = np.float32(layer.decay)
            n = w.shape[0]
            if k == 0:  # the same analog input at every step: one product
                current = np.broadcast_to((a @ w.T + b)[:, None, :], (B, timesteps, n))
            else:
                current = (per_step.reshape(B * timesteps, -1) @ w.T + b).reshape(
                    B, timesteps, n)
            v = np.zeros((B, n), np.float32)
            spikes = np.zeros((B, timesteps, n), np.float32)
            fired = np.zeros((B, n), bool)
            first_p = np.zeros((B, n), np.float32)  # v in the step of the first spike
            peak = 0.0
            for t in range(timesteps):
                v = decay * v + current[:, t]
                if self.reset == "snntorch-subtract" and t:  # the threshold, after the leak
                    v = v - spikes[:, t - 1]
                peak = max(peak, float(np.abs(v).max(initial=0.0)))
                s = v > 1.0
                spikes[:, t] = s
                first_p = np.where(s & ~fired, v, first_p)
                fired |= s
                if self.reset == "zero":
                    v = np.where(s, np.float32(0.0), v)
                elif self.reset == "subtract":  # at the spike, so that it leaks next step
                    v = v - s
            peaks.append(peak)
            per_step = spikes
        counts = per_step.sum(axis=1).astype(np.int64)
        if readout == "spike_count":
            prediction = counts.argmax(axis=1)
        elif readout == "max_membrane":
            prediction = v.argmax(axis=1)
        else:  # first_spike: earliest, then largest potential, then lowest index
            first = np.where(fired, per_step.argmax(axis=1), timesteps)
            earliest = first == first.min(axis=1, keepdims=True)
            by_time = np.where(earliest, first_p, -np.inf).argmax(axis=1)
            prediction = np.where(fired.any(axis=1), by_time, v.argmax(axis=1))
        return FloatRun(counts, prediction.astype(np.int64), peaks)


def _per_neuron(name, node, field, n) -> np.ndarray:
    values = np.asarray(getattr(node, field), dtype=np.float64).reshape(-1)
    if values.size not in (1, n):
        raise NirError(f"node {name!r} ({node_kind(node)}): {field} has {values.size} values for "
                       f"{n} neurons; give one value or one per neuron")
    return np.broadcast_to(values, (n,)).copy()


def _one_decay(name, node, field, decay) -> float:
    """The layer's decay from per-neuron ones: they must agree (one leak per layer)."""
    if np.ptp(decay) > 1e-6 * max(1.0, float(np.abs(decay).max())):
        raise NirError(f"node {name!r} ({node_kind(node)}): {field} differs between neurons (decay "
                       f"1 - dt/{field} from {decay.min():.6g} to {decay.max():.6g}); the "
                       f"accelerator has one leak per layer: train with one beta per layer "
                       f"(snn.Leaky(beta=0.875) with learn_beta=False)")
    return float(np.mean(decay))


def _float_layer(weight_name, weight_node, name, node, dt, nir) -> FloatLayer:
    """A Linear/Affine node and an IF/LIF/CubaLIF node as a :class:`FloatLayer`."""
    weights = np.asarray(weight_node.weight, dtype=np.float64)
    if weights.ndim != 2:
        raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): weight has shape "
                       f"{weights.shape}; a dense layer needs a 2-D (outputs, inputs) matrix")
    n = weights.shape[0]
    bias = (_per_neuron(weight_name, weight_node, "bias", n)
            if isinstance(weight_node, nir.Affine) else np.zeros(n))
    for field, values in (("weight", weights), ("bias", bias)):
        if not np.all(np.isfinite(values)):
            raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): {field} holds "
                           f"{values[~np.isfinite(values)].reshape(-1)[0]}; every parameter "
                           f"must be a finite number (the training diverged?)")
    kind = node_kind(node)
    fields = {"IF": ("r", "v_threshold", "v_reset"),
              "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
              "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset",
                          "w_in")}[kind]
    check_finite(name, node, fields)
    p = {field: _per_neuron(name, node, field, n) for field in fields}
    if np.any(p["v_reset"] != 0):
        raise NirError(f"node {name!r} ({kind}): v_reset is {describe_values(p['v_reset'])}; the "
                       f"accelerator resets to 0: export v_reset = 0 (snnTorch "
                       f"reset_mechanism='zero', SpikingJelly v_reset=0.0)")
    if kind == "IF":
        decay, gain, leak_current = np.ones(n), p["r"] * dt, np.zeros(n)
    else:
        tau = p["tau"] if kind == "LIF" else p["tau_mem"]
        if np.any(tau <= 0):
            raise NirError(f"node {name!r} ({kind}): tau is {tau[tau <= 0][0]:g}; a time "
                           f"constant must be positive")
        decay = 1.0 - dt / tau
        if np.any(decay < 0) or np.any(decay > 1):
            raise NirError(f"node {name!r} ({kind}): tau = {describe_values(tau)} at dt = {dt:g} is a "
                           f"decay 1 - dt/tau = {describe_values(decay)} per step, outside 0 .. 1: pass "
                           f"the dt the graph was made with (--dt; snnTorch and SpikingJelly "
                           f"write dt = 1e-4, Norse 1e-3)")
        gain = p["r"] * dt / tau
        leak_current = p["v_leak"] * dt / tau  # (v_leak - v) dt/tau: a constant current
        if kind == "CubaLIF":
            syn_decay = 1.0 - dt / p["tau_syn"]
            if np.any(np.abs(syn_decay) > 1e-6):
                raise NirError(
                    f"node {name!r} (CubaLIF): tau_syn = {describe_values(p['tau_syn'])} at dt = "
                    f"{dt:g} is a synaptic current that decays by {describe_values(syn_decay)} per "
                    f"step; the accelerator has no synaptic current state, so only tau_syn = "
                    f"dt (the current is the input of its step) maps exactly: export LIF "
                    f"neurons (snnTorch Leaky, Norse LIFBoxCell) or set tau_syn = dt (snnTorch "
                    f"Synaptic alpha = 0)")
            gain = gain * p["w_in"] * dt / p["tau_syn"]
    theta = p["v_threshold"]
    if np.any(theta <= 0):
        raise NirError(f"node {name!r} ({kind}): v_threshold is {theta[theta <= 0][0]:g} for "
                       f"some neurons; the accelerator's thresholds are positive")
    if np.any(gain == 0):
        raise NirError(f"node {name!r} ({kind}): the input gain is 0 for some neurons (r = 0 "
                       f"or w_in = 0): they never see their input")
    scale = gain / theta  # per-neuron: fold the gain and the threshold into the row
    return FloatLayer(weights=weights * scale[:, None],
                      bias=bias * scale + leak_current / theta,
                      decay=_one_decay(name, node, "tau" if kind != "CubaLIF" else "tau_mem",
                                       decay),
                      names=(weight_name, name))


def _infer_dt(graph, chain, nir) -> tuple[float | None, str]:
    """The time step the neurons' ``r`` implies (snnTorch writes ``r = tau / dt``,
    SpikingJelly ``r = 1 / dt`` for IF and ``r = tau / dt`` without input decay), or None."""
    seen = set()
    for name in chain:
        node = graph.nodes[name]
        r = np.asarray(getattr(node, "r", 1.0), dtype=np.float64).reshape(-1)
        if not r.size or not np.all(np.isfinite(r)) or np.allclose(r, 1.0, rtol=1e-6):
            continue
        if isinstance(node, (nir.LIF, nir.CubaLIF)):
            tau = np.asarray(node.tau if isinstance(node, nir.LIF) else node.tau_mem,
                             dtype=np.float64).reshape(-1)
            if not np.all(np.isfinite(tau)):
                continue  # refused, naming the node, when the layer is read
            seen.update(np.round(np.broadcast_to(tau, r.shape) / r, 12).tolist())
        elif isinstance(node, nir.IF):
            seen.update(np.round(1.0 / r, 12).tolist())
    values = np.array(sorted(seen))
    if values.size and values.min() > 0 and np.ptp(values) <= 1e-6 * values.max():
        dt = float(np.median(values))
        return dt, f"dt = {dt:g} (from the neurons' r = tau/dt, snnTorch's convention)"
    return None, ""


def read_float(graph, *, dt: float | None = None, reset: str = "zero") -> FloatNetwork:
    """The :class:`FloatNetwork` of a NIR graph with float parameters.

    ``dt`` is the time step of one accelerator step in the graph's time unit. Without it, the
    graph's own metadata (graphs from :func:`to_nir`) or the neurons' ``r`` (snnTorch writes
    ``r = tau / dt``) give it; a graph that says nothing (Norse writes ``r = 1``) raises
    :class:`NirError` asking for it. Nodes: ``Input``, ``Flatten``, ``Linear``/``Affine``,
    ``IF``/``LIF``/``CubaLIF`` (with ``tau_syn = dt``), ``Output``, in one chain. ``reset``
    (one of :data:`RESETS`) is what the tool's neurons did after a spike, which NIR does not
    record.
    """
    if reset not in RESETS:
        raise NirError(f"reset is {reset!r}; it must be one of {', '.join(map(repr, RESETS))}")
    import nir
    chain, first, _ = input_chain(graph, nir)
    meta = node_metadata(graph)
    notes = []
    if dt is None and "dt" in meta:
        dt = float(meta["dt"])
    if dt is None:
        dt, how = _infer_dt(graph, chain, nir)
        if dt is None:
            raise NirError("the graph does not say its time step and its neurons' r does not "
                           "imply one: give --dt (snnTorch and SpikingJelly export with dt = "
                           "1e-4, Norse with dt = 1e-3)")
        notes.append(how)
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.number)) \
            or not math.isfinite(dt) or dt <= 0:
        raise NirError(f"dt is {dt!r}; the time step must be a positive number of seconds")
    layers = [_float_layer(pending, graph.nodes[pending], name, graph.nodes[name], float(dt), nir)
              for pending, name in layer_pairs(graph, chain, nir, (nir.IF, nir.LIF, nir.CubaLIF),
                                          "an IF, LIF or CubaLIF neuron")]
    for k in range(1, len(layers)):
        if layers[k].weights.shape[1] != layers[k - 1].weights.shape[0]:
            raise NirError(f"node {layers[k].names[0]!r} takes {layers[k].weights.shape[1]} "
                           f"inputs but {layers[k - 1].names[1]!r} has "
                           f"{layers[k - 1].weights.shape[0]} neurons")
    shape = np.asarray(graph.nodes[first].input_type.get("input", [])).reshape(-1)
    if shape.size and int(np.prod(shape)) != layers[0].weights.shape[1]:
        raise NirError(f"Input {first!r} has shape {tuple(int(s) for s in shape)} but the first "
                       f"layer takes {layers[0].weights.shape[1]} inputs")
    if meta:  # a graph of to_nir: layer 0 takes pixel / input_scale (pixels by default)
        layers[0].weights = layers[0].weights * (255.0 / float(meta.get("input_scale", 1.0)))
    timesteps = meta.get("timesteps")
    if reset == "snntorch-subtract":
        notes.append("snnTorch's reset by subtraction (the threshold subtracted after the next "
                     "leak) is approximated by the accelerator's (subtracted at the spike, then "
                     "leaked): the membrane after a spike differs by (1 - decay) * threshold")
    return FloatNetwork(layers=layers, dt=float(dt),
                        timesteps=int(timesteps) if timesteps is not None else None,
                        notes=notes, reset=reset)


def nearest_leak(decay: float, membrane_bits: int) -> tuple[str, int, float]:
    """``(leak_mode, leak, decay it gives)``: the accelerator's leak nearest to ``decay``, a
    factor ``lambda / 256`` or a shift ``1 - 2**-k`` (the factor on a tie: it rounds half up,
    the shift always towards minus infinity)."""
    factor = min(255, max(0, round(decay * 256)))
    best = ("factor", factor, factor / 256)
    for k in range(1, membrane_bits):
        value = 1.0 - 2.0 ** -k
        if abs(value - decay) < abs(best[2] - decay):
            best = ("shift", k, value)
    return best


@dataclasses.dataclass
class Quantized:
    """What :func:`quantize` chose.

    Attributes
    ----------
    network : the integer :class:`Network`
    units : list of float; integer units per float unit of each layer's membrane (its
        threshold, 1 in float, is ``floor(units) + 1``)
    clip : list of float; the fraction of each layer's largest weight that maps to the largest
        integer weight (1: none clipped)
    agreement : float or None; the share of calibration images classified alike
    notes : list of str; what was approximated
    """
    network: Network
    units: list
    clip: list
    agreement: float | None
    notes: list


def _integer_layer(layer: FloatLayer, units: float, gain: float, weight_bits: int,
                   membrane_bits: int, reset: str) -> Layer:
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    weights = np.clip(np.round(layer.weights * gain), lo, hi).astype(np.int16)
    vmax = (1 << (membrane_bits - 1)) - 1
    bias = np.clip(np.round(layer.bias * units), -vmax - 1, vmax).astype(np.int64)
    # Float fires when v > 1; an integer p fires when p >= theta: p > units <=> p >=
    # floor(units) + 1.
    threshold = min(vmax, int(math.floor(units)) + 1)
    fields = dict(neuron=layer.neuron, reset="zero" if reset == "zero" else "subtract",
                  fire_once=False)
    if layer.neuron == "lif":
        mode, leak, _ = nearest_leak(layer.decay, membrane_bits)
        fields.update(leak_mode=mode, leak=leak)
    else:
        fields.update(leak_mode="shift", leak=1)
    return Layer(weights=weights, weight_bits=weight_bits, threshold=threshold,
                 bias=bias if np.any(bias) else None, **fields)


def _membrane_bits(fnet: FloatNetwork, units, run: FloatRun | None) -> tuple[int, str]:
    """The narrowest membrane that holds every layer's potential: from the calibration run's
    peaks with a margin of 2, or (no calibration) from the largest current a step can bring,
    ``|W| 1 + |b|`` summed, over ``1 - decay``."""
    need = 0.0
    for k, layer in enumerate(fnet.layers):
        if run is not None:
            peak = 2.0 * max(run.peak[k], 1.0)
        else:
            # Inputs are at most 1 (a full pixel or a spike).
            current = float((np.abs(layer.weights).sum(axis=1) + np.abs(layer.bias)).max())
            peak = current / max(1.0 - layer.decay, 1.0 / 256) + 1.0
        need = max(need, peak * units[k] + 1)
    bits = min(32, max(8, int(math.ceil(math.log2(need + 1))) + 1))
    how = "the calibration images' largest potential, times 2" if run is not None else \
        "the largest potential the weights allow (no calibration images)"
    return bits, f"membrane_bits={bits} ({how})"


def quantize(fnet: FloatNetwork, *, timesteps: int, weight_bits: int = 8,
             membrane_bits: int | None = None, readout: str = "spike_count",
             calibration=None, name: str = "") -> Quantized:
    """The integer :class:`Network` of a :class:`FloatNetwork`.

    Each layer ``l`` gets an integer scale: a weight ``w`` becomes ``round(w g_l)`` with
    ``g_l = (2**(weight_bits-1) - 1) / (c_l max|W_l|)``, and the membrane's float unit becomes
    ``u_l = g_l`` integer units (``255 g_0`` for layer 0, whose inputs are pixels, not
    ``pixel / 255``): the threshold 1 becomes ``floor(u_l) + 1`` and a bias ``b`` becomes
    ``round(b u_l)``. The decay maps to the nearest leak (:func:`nearest_leak`). With
    ``calibration`` images (uint8 (N, n_in)), the clip fraction ``c_l`` of each layer is
    chosen from :data:`CLIP_FRACTIONS`, layer after layer, as the one whose network classifies
    the most images like the float network (fewest output-count differences on a tie), and
    ``membrane_bits`` (unless given) from the largest potential they reach.
    """
    notes = []
    qmax = (1 << (weight_bits - 1)) - 1
    top = [float(np.abs(layer.weights).max(initial=0.0)) or 1.0 for layer in fnet.layers]

    def scales(clip):
        gains = [qmax / (c * w) for c, w in zip(clip, top)]
        return gains, [g * (255.0 if k == 0 else 1.0) for k, g in enumerate(gains)]

    clip = [1.0] * len(fnet.layers)
    float_run = None
    if calibration is not None:
        float_run = fnet.run(calibration, timesteps, readout)
    if membrane_bits is None:
        _, units = scales([min(CLIP_FRACTIONS)] * len(clip))  # the largest units tried
        membrane_bits, how = _membrane_bits(fnet, units, float_run)
        notes.append(how)

    def build(clip):
        gains, units = scales(clip)
        layers = [_integer_layer(layer, u, g, weight_bits, membrane_bits, fnet.reset)
                  for layer, u, g in zip(fnet.layers, units, gains)]
        return Network(layers=layers, membrane_bits=membrane_bits, timesteps=timesteps,
                       encoder="direct", readout=readout, name=name), units

    def score(network):
        trace = golden.run(network, calibration)
        counts = trace.spikes[-1].sum(axis=1)
        same = float(np.mean(trace.prediction == float_run.prediction))
        error = float(np.mean((counts - float_run.counts) ** 2))
        return same, -error

    agreement = None
    if calibration is not None:
        for k in range(len(clip)):
            best = None
            for c in CLIP_FRACTIONS:
                trial = clip[:k] + [c] + clip[k + 1:]
                network, _ = build(trial)
                result = score(network)
                if best is None or result > best[0]:
                    best = (result, c)
            clip[k] = best[1]
            agreement = best[0][0]
    network, units = build(clip)
    try:
        network.validate()
    except NetworkError as error:
        raise NirError(f"the quantized network is not valid: {error}") from None
    for layer, float_layer in zip(network.layers, fnet.layers):
        if layer.neuron == "lif":
            got = leak_factor(layer)
            if abs(got - float_layer.decay) > 1e-6:
                notes.append(f"node {float_layer.names[1]!r}: decay {float_layer.decay:.6g} "
                             f"approximated by leak_mode={layer.leak_mode!r}, "
                             f"leak={layer.leak} ({got:.6g})")
    return Quantized(network, units, clip, agreement, notes)


def agreement(fnet: FloatNetwork, network: Network, pixels, labels=None) -> dict:
    """The float graph and the integer network on the same images: ``samples``,
    ``float_accuracy`` and ``integer_accuracy`` (percent; None without ``labels``),
    ``agreement`` (percent of images classified alike), and both predictions."""
    float_prediction = fnet.run(pixels, network.timesteps, network.readout).prediction
    integer_prediction = golden.predict(network, pixels)

    def percent(hits):
        return 100.0 * float(np.mean(hits)) if len(pixels) else 0.0
    return {"samples": int(len(pixels)),
            "float_accuracy": None if labels is None else percent(float_prediction == labels),
            "integer_accuracy": None if labels is None else percent(integer_prediction == labels),
            "agreement": percent(float_prediction == integer_prediction),
            "float_prediction": float_prediction, "integer_prediction": integer_prediction}
