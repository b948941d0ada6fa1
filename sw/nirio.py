"""Exchange networks with other SNN tools through NIR (the Neuromorphic Intermediate
Representation, https://neuroir.org).

Two ways in, one way out (``docs/nir.md`` describes them, with each tool's conventions):

* **exact**: ``from_nir`` and ``load_nir`` read a graph whose weights, biases and thresholds
  are already integers, unchanged, or refuse it;
* **quantizing** (``sw.nirfloat``): ``read_float`` reads a float graph (snnTorch, Norse, SpikingJelly) in the
  tool's discrete-time convention as a :class:`FloatNetwork`, whose ``run`` is a float32
  simulation of it; ``quantize`` turns it into an integer :class:`Network`, choosing each
  layer's scale on calibration images; ``agreement`` compares the two (``python -m sw.nir
  import``);
* **out**: ``to_nir`` and ``save_nir`` write a network so that it reads back unchanged and
  snnTorch's ``import_from_nir`` runs it (``python -m sw.nir export``).

NIR describes continuous-time neurons; the accelerator's are discrete-time integers
(``docs/numerics.md``). The two meet through one forward-Euler step of length ``dt``: NIR's
``tau dv/dt = (v_leak - v) + r I`` becomes ``v' = (1 - dt/tau) v + (r dt/tau) I``, and its IF
``dv/dt = r I`` becomes ``v' = v + r dt I``. The accelerator's step is ``v' = leak(v) + I + b``,
so a node maps exactly when ``v_leak = 0``, ``v_reset = 0``, the decay ``1 - dt/tau`` is one of
the accelerator's leaks and the input gain (``r dt / tau``, or ``r dt``) is 1 or can be folded
into the integer weights and biases. ``to_nir``'s mapping, per dense layer ``l``:

* ``linear{l}``: ``nir.Linear`` with the integer weights ``W[j, i]`` as floats, or
  ``nir.Affine`` with the layer's bias too; layer 0's weights are multiplied by
  ``input_scale`` (255 for a graph that takes images in ``[0, 1]``);
* ``neuron{l}``: ``nir.IF(r=1/dt, v_threshold=theta)`` for ``if`` neurons, or
  ``nir.LIF(tau, r=tau/dt, v_leak=0, v_threshold=theta)`` for ``lif`` neurons with the time
  constant whose one-step decay equals the leak, ``tau = dt / (1 - f)`` with ``f = 1 - 2**-k``
  (shift) or ``f = lambda / 256`` (factor), and ``r = tau / dt`` so that the input gain is 1
  (snnTorch's convention). ``v_reset`` is 0;
* graph edges ``input -> linear0 -> neuron0 -> linear1 -> ... -> output``.

A convolution layer ``l`` (``Layer.conv``) is written as ``conv{l}``, a ``nir.Conv2d`` with
the kernel ``(out, in / groups, K, K)``, its stride and padding and a bias per channel (a conv
layer's bias must be the same at every position of a channel), followed by its neurons with
parameter arrays of the map's shape ``(C, H, W)``; a pooling layer (a grouped convolution of
ones: ``core.network.max_pool``, ``avg_pool``) as ``pool{l}``, a ``nir.SumPool2d``, since NIR
infers a grouped Conv2d's input channels from its kernel; a dense layer after a map reads it
through ``flatten{l}``, a ``nir.Flatten`` from dimension 0. The Input node then has the
image's shape ``(C, H, W)``. ``from_nir`` reads these nodes back exactly (``sw.nirfloat.read_float``,
the quantizing reader, takes dense layers only).

Everything NIR cannot say (weight bits, membrane bits, reset kind, fire-once, the exact leak
code, T, encoder, seed, read-out, ``dt``, ``input_scale``) goes into the nodes' and the graph's
``metadata`` under the key ``"snn_accel"``, so that ``from_nir(to_nir(net)) == net`` exactly,
without a warning.

A graph from another tool without that metadata is read by ``from_nir`` as follows, and every
value that the graph does not state is reported as a :class:`NirWarning` (a command line can
record them with ``warnings.catch_warnings(record=True)`` and print each ``str(w.message)``):

* ``dt`` is 1 unless given (``from_nir(graph, dt=1e-4)`` reads an snnTorch export);
* the weights and biases (times a gain other than 1) and the thresholds must be integers;
  ``weight_bits`` is the fewest bits that hold the weights;
* an LIF decay ``1 - dt/tau`` is read as a factor leak ``lambda / 256`` when it is one (within
  float rounding), else as a shift leak ``1 - 2**-k``; any other decay is refused;
* ``reset`` is ``"zero"`` (NIR resets to ``v_reset = 0``); ``fire_once`` and the network-wide
  fields take the defaults of :class:`core.network.Layer` and :class:`core.network.Network`.

Anything else (a current-based synapse, a nonzero ``v_leak`` or ``v_reset``, a parameter that
is not finite, a branch, a cycle, a node kind other than Linear/Affine, Conv2d/SumPool2d,
IF/LIF and Flatten) raises :class:`NirError` naming the node, the field and what to export
instead; ``read_float`` folds ``v_leak``, per-neuron thresholds and instant synapses in exactly
and refuses the rest the same way (convolutions too).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np

from core.network import Conv, Layer, Network, NetworkError, check_conv

from .nirgraph import (KEY, TOLERANCE, NirError, NirWarning, check_finite, describe_values,
                       input_chain, layer_pairs, leak_factor, node_kind, node_metadata,
                       read_nir)

__all__ = ["NirError", "NirWarning", "to_nir", "from_nir", "save_nir", "load_nir", "read_nir",
           "export_notes", "is_exported", "IF_TAU_STEPS"]


#: The time constant, in steps, of an IF layer written as an LIF (``if_as_lif``): its decay
#: ``1 - 2**-30`` is 1 in float32, the precision of the tools.
IF_TAU_STEPS = 2.0 ** 30


def to_nir(network: Network, *, dt: float = 1.0, input_scale: float = 1.0,
           r_one: bool = False, if_as_lif: bool = False):
    """The :class:`nir.NIRGraph` of a validated network.

    Parameters
    ----------
    dt : float
        The time step the graph is written for: ``tau = dt / (1 - f)`` and ``r = tau / dt``
        (gain 1). 1 by default; snnTorch's importer reads graphs with ``dt = 1e-4`` (what
        ``python -m sw.nir export`` writes by default).
    input_scale : float
        Layer 0's weights are written times this factor, so that the graph takes inputs
        ``pixel / input_scale``: 1 (pixels, the default) or 255 (images in ``[0, 1]``, what a
        float model trained on ``x / 255`` sees; the CLI's default).
    r_one : bool
        Write LIF nodes with ``r = 1`` and divide the layer's weights and bias by the input
        gain ``dt / tau`` that this leaves (Norse's convention: its ``LIFBoxCell`` ignores
        ``r`` and scales its input by ``dt / tau``). Every forward-Euler reader sees the same
        network either way; snnTorch's importer wants ``r = tau / dt`` (the default).
    if_as_lif : bool
        Write IF layers as LIF nodes with ``tau = 2**30 dt`` (a decay that is 1 in float32),
        for snnTorch 1.0.0, whose ``import_from_nir`` turns ``nir.IF`` into a ``Leaky`` with
        beta 0.9. Readers of this module still see IF layers.

    ``dt`` and ``input_scale`` are recorded in the graph's metadata (``r`` needs no record: the
    reader folds whatever gain it implies), so that :func:`from_nir` reads the network back
    unchanged. A layer with a bias becomes a ``nir.Affine`` (the bias in integer units, which
    ``input_scale`` leaves unchanged), one without a ``nir.Linear``.
    """
    import nir
    network.validate()
    first = network.layers[0].conv
    shape = [first.in_channels, first.height, first.width] if first else [network.n_inputs]
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges, prev = [], "input"
    for k, layer in enumerate(network.layers):
        meta = {KEY: {f: (bool(v) if isinstance(v, (bool, np.bool_)) else v)
                      for f, v in layer.params().items()}}
        decay = leak_factor(layer) if layer.neuron == "lif" else 1.0
        as_lif = layer.neuron == "lif" or if_as_lif
        gain = 1.0 - decay if r_one and layer.neuron == "lif" else 1.0  # dt/tau at r = 1
        w = np.asarray(layer.weights, dtype=np.float64) * (input_scale if k == 0 else 1.0) / gain
        conv = layer.conv
        if conv is None and len(shape) == 3:   # a dense layer reads the map flattened
            nodes[f"flatten{k}"] = nir.Flatten(input_type={"input": np.array(shape)},
                                               start_dim=0)
            edges.append((prev, f"flatten{k}"))
            prev = f"flatten{k}"
        if conv is not None and conv.groups > 1:
            # pooling (core.network.max_pool, avg_pool): NIR infers a Conv2d's input channels
            # as the kernel's, so a grouped convolution of ones is written as a SumPool2d
            if not np.all(layer.weights == 1) or layer.bias is not None:
                raise NirError(f"layers[{k}] is a grouped convolution other than pooling (its "
                               f"weights are not all 1, or it has a bias), which NIR's Conv2d "
                               f"cannot describe")
            pool = [conv.kernel] * 2
            nodes[f"pool{k}"] = nir.SumPool2d(kernel_size=np.array(pool),
                                              stride=np.array([conv.stride] * 2),
                                              padding=np.array([conv.padding] * 2),
                                              metadata=dict(meta))
            shape = [conv.out_channels, conv.out_height, conv.out_width]
            synapse = f"pool{k}"
        elif conv is not None:
            nodes[f"conv{k}"] = nir.Conv2d(
                input_shape=(conv.height, conv.width), weight=w, stride=conv.stride,
                padding=conv.padding, dilation=1, groups=conv.groups,
                bias=_channel_bias(k, layer) / gain, metadata=dict(meta))
            shape = [conv.out_channels, conv.out_height, conv.out_width]
            synapse = f"conv{k}"
        else:
            shape = [layer.n_out]
            synapse = f"linear{k}"
            if layer.bias is None:
                nodes[synapse] = nir.Linear(weight=w, metadata=dict(meta))
            else:
                nodes[synapse] = nir.Affine(weight=w, bias=layer.bias.astype(np.float64) / gain,
                                            metadata=dict(meta))
        theta = np.full(shape, float(layer.threshold))
        ones, zeros = np.ones(shape), np.zeros(shape)
        if not as_lif:
            neuron = nir.IF(r=ones / dt, v_threshold=theta, v_reset=zeros, metadata=dict(meta))
        else:
            tau = np.full(shape, dt / (1.0 - decay) if decay < 1 else dt * IF_TAU_STEPS)
            neuron = nir.LIF(tau=tau, r=ones if r_one else tau / dt, v_leak=zeros,
                             v_threshold=theta,
                             v_reset=zeros, metadata=dict(meta))
        nodes[f"neuron{k}"] = neuron
        edges += [(prev, synapse), (synapse, f"neuron{k}")]
        prev = f"neuron{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_classes])})
    edges.append((prev, "output"))
    meta = {KEY: {"membrane_bits": network.membrane_bits, "timesteps": network.timesteps,
                  "encoder": network.encoder, "lfsr_seed": network.lfsr_seed,
                  "readout": network.readout, "name": network.name}}
    if dt != 1.0:
        meta[KEY]["dt"] = float(dt)
    if input_scale != 1.0:
        meta[KEY]["input_scale"] = float(input_scale)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _channel_bias(k: int, layer: Layer) -> np.ndarray:
    """A conv layer's bias per output channel (NIR's ``Conv2d`` has one per channel), zeros
    without a bias; :class:`NirError` when it differs between the positions of a channel."""
    conv = layer.conv
    if layer.bias is None:
        return np.zeros(conv.out_channels)
    bias = np.asarray(layer.bias, np.float64).reshape(conv.out_channels, -1)
    if not np.all(bias == bias[:, :1]):
        raise NirError(f"layers[{k}] is a convolution whose bias differs between the "
                       f"positions of a channel; NIR's Conv2d has one bias per channel")
    return bias[:, 0].copy()


def export_notes(network: Network, *, if_as_lif: bool = False) -> list[str]:
    """What another tool loading :func:`to_nir`'s graph will not run as the accelerator does
    (NIR has no field for it; the graph's metadata keeps it for :func:`from_nir`)."""
    notes = []
    if network.encoder != "direct":
        notes.append(f"encoder {network.encoder!r}: the graph takes the image as an input "
                     f"current at every step (the direct encoder); another tool must encode "
                     f"it as the {network.encoder} encoder does")
    for k, layer in enumerate(network.layers):
        if layer.reset != "zero":
            notes.append(f"layer {k}: reset {layer.reset!r}, but NIR neurons reset to v_reset "
                         f"= 0: other tools will reset to zero")
        if layer.fire_once:
            notes.append(f"layer {k}: fire_once, which NIR has no field for: other tools let "
                         f"the neurons fire again")
        if layer.neuron == "if" and not if_as_lif:
            notes.append(f"layer {k}: nir.IF, which snnTorch 1.0.0's import_from_nir turns "
                         f"into a Leaky with beta 0.9 (Norse and SpikingJelly read it as IF)")
    if any(layer.conv is not None for layer in network.layers):
        notes.append("convolutions: snnTorch 1.0.0's import_from_nir runs the graph one image "
                     "at a time (it applies the Flatten node, from dimension 0 of the image, "
                     "to the batch dimension too)")
    notes.append("the membrane's saturation at membrane_bits and the leak's integer rounding "
                 "are not in the graph: a float tool runs the same network without them")
    return notes


def is_exported(graph) -> bool:
    """Whether :func:`to_nir` wrote ``graph`` (its metadata says so): it then reads back
    exactly with :func:`from_nir`."""
    metadata = getattr(graph, "metadata", None)
    return isinstance(metadata, dict) and KEY in metadata


def _near_integers(values) -> bool:
    return bool(np.all(np.isclose(values, np.round(values), rtol=TOLERANCE, atol=1e-9)))


def _uniform(name, node, field, values) -> float:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.allclose(values, values[0], rtol=TOLERANCE, atol=0):
        raise NirError(f"node {name!r} ({node_kind(node)}): {field} differs between neurons "
                       f"({describe_values(values)}); the accelerator has one {field} per layer")
    return float(values[0])


def _leak(name, node, tau, dt) -> tuple[dict, str]:
    """The leak fields of an LIF node's decay ``1 - dt/tau``, and how they were read."""
    decay = 1.0 - dt / tau
    code = 256.0 * decay
    if 0 <= round(code) <= 255 and math.isclose(code, round(code), rel_tol=TOLERANCE,
                                                 abs_tol=1e-9):
        leak = int(round(code))
        return (dict(leak_mode="factor", leak=leak),
                f"leak_mode='factor', leak={leak} (decay {decay:g} = {leak}/256)")
    shift = -math.log2(dt / tau) if dt < tau else 0.0
    if shift >= 1 and math.isclose(shift, round(shift), rel_tol=TOLERANCE):
        k = int(round(shift))
        return (dict(leak_mode="shift", leak=k),
                f"leak_mode='shift', leak={k} (decay {decay:g} = 1 - 2**-{k})")
    if decay < 0:
        fix = ("tau is shorter than the time step: pass the dt the graph was made with "
               "(from_nir(graph, dt=...); snnTorch exports use dt = 1e-4)")
    else:
        near = min(255, round(code))
        fix = (f"the nearest is the factor {near}/256, tau = {dt / (1 - near / 256):.6g}: "
               f"export that tau, or check dt")
    raise NirError(f"node {name!r} (LIF): tau = {tau:g} at dt = {dt:g} is a decay "
                   f"1 - dt/tau = {decay:g} per step, which no leak of the accelerator has "
                   f"(lambda/256 for lambda 0 .. 255, or 1 - 2**-k); {fix}")


def _square(name, node, field, value) -> int:
    """One integer for both axes of a Conv2d/SumPool2d field (stride, padding, ...)."""
    values = np.asarray(value).reshape(-1)
    if values.dtype.kind not in "iuf" or values.size not in (1, 2) \
            or not np.all(values == values[0]) or values[0] != int(values[0]):
        raise NirError(f"node {name!r} ({node_kind(node)}): {field} is {value!r}; the accelerator's "
                       f"convolutions take one integer for both axes")
    return int(values[0])


def _geometry(name, node, shape: tuple, nir) -> Conv | None:
    """The :class:`Conv` of a Conv2d or SumPool2d node reading a map of ``shape`` (C, H, W);
    None for a Linear/Affine node."""
    if not isinstance(node, (nir.Conv2d, nir.SumPool2d)):
        return None
    if len(shape) != 3:
        raise NirError(f"node {name!r} ({node_kind(node)}) reads {shape}, not a (channels, height, "
                       f"width) map; give the Input node the image's 3-D shape")
    C, H, W = shape
    if isinstance(node, nir.SumPool2d):
        k = _square(name, node, "kernel_size", node.kernel_size)
        return Conv(C, H, W, C, k, _square(name, node, "stride", node.stride),
                    _square(name, node, "padding", node.padding), groups=C)
    weight = np.asarray(node.weight)
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise NirError(f"node {name!r} (Conv2d): weight has shape {weight.shape}; the "
                       f"accelerator's convolutions have square (out, in, K, K) kernels")
    if _square(name, node, "dilation", node.dilation) != 1:
        raise NirError(f"node {name!r} (Conv2d): dilation is {node.dilation!r}; the "
                       f"accelerator's convolutions are not dilated")
    groups = int(node.groups)
    if weight.shape[1] * groups != C:
        raise NirError(f"node {name!r} (Conv2d): {weight.shape[1]} input channels per group "
                       f"times {groups} groups, but it reads {C} channels")
    conv = Conv(C, H, W, int(weight.shape[0]), int(weight.shape[2]),
                _square(name, node, "stride", node.stride),
                _square(name, node, "padding", node.padding), groups)
    try:
        check_conv(conv, f"node {name!r} (Conv2d)")
    except NetworkError as error:
        raise NirError(str(error)) from None
    return conv


def _layer(k, weight_name, weight_node, name, node, dt, nir,
           conv: Conv | None = None) -> tuple[Layer, str | None]:
    """One layer from a Linear/Affine (or, with ``conv``, Conv2d/SumPool2d) node and an IF/LIF
    node, and its note (or None)."""
    if isinstance(weight_node, nir.SumPool2d):
        weights = np.ones(conv.weight_shape)
    else:
        weights = np.asarray(weight_node.weight, dtype=np.float64)
    n_out = conv.n_out if conv is not None else weights.shape[0]
    if conv is None and weights.ndim != 2:
        raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): weight has shape "
                       f"{weights.shape}; a dense layer needs a 2-D (outputs, inputs) matrix")
    if not np.all(np.isfinite(weights)):
        raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): weight holds "
                       f"{weights[~np.isfinite(weights)][0]}; every weight must be finite")
    bias = None
    if isinstance(weight_node, (nir.Affine, nir.Conv2d)) \
            and np.any(np.asarray(weight_node.bias) != 0):
        bias = np.broadcast_to(np.asarray(weight_node.bias, dtype=np.float64),
                               weights.shape[:1]).copy()
        if not np.all(np.isfinite(bias)):
            raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): bias holds "
                           f"{bias[~np.isfinite(bias)][0]}; every bias must be finite")
        if conv is not None:  # one per channel: every position of the channel
            bias = np.repeat(bias, conv.out_height * conv.out_width)
    lif = isinstance(node, nir.LIF)
    fields = ("r", "v_threshold", "v_reset") + (("tau", "v_leak") if lif else ())
    check_finite(name, node, fields)
    for field in fields:
        if np.asarray(getattr(node, field)).size not in (1, n_out):
            raise NirError(f"node {name!r} ({node_kind(node)}): {field} has "
                           f"{np.asarray(getattr(node, field)).size} values for the "
                           f"{n_out} outputs of {weight_name!r}")
    if lif and np.any(np.asarray(node.v_leak) != 0):
        raise NirError(f"node {name!r} (LIF): v_leak is {describe_values(node.v_leak)}; the "
                       f"accelerator's membranes leak towards 0: export v_leak = 0")
    if np.any(np.asarray(node.v_reset) != 0):
        raise NirError(f"node {name!r} ({node_kind(node)}): v_reset is {describe_values(node.v_reset)}; the "
                       f"accelerator resets to 0 or subtracts the threshold: export v_reset = 0")
    tau = _uniform(name, node, "tau", node.tau) if lif else None
    if lif and tau <= 0:
        raise NirError(f"node {name!r} (LIF): tau is {tau:g}; a time constant must be positive")
    r = np.asarray(node.r, dtype=np.float64).reshape(-1)
    gain = r * dt / tau if lif else r * dt
    what = "r*dt/tau" if lif else "r*dt"
    folded = not np.allclose(gain, 1.0, rtol=TOLERANCE, atol=0)
    if folded and conv is not None:   # a kernel is shared by its positions: one gain
        gain = np.full(1, _uniform(name, node, what, gain))
    if folded:
        scaled = weights * (gain[0] if conv is not None else
                            np.broadcast_to(gain, weights.shape[:1])[:, None])
        if not _near_integers(scaled):
            where = tuple(np.argwhere(~np.isclose(scaled, np.round(scaled), rtol=TOLERANCE,
                                                  atol=1e-9))[0])
            raise NirError(f"node {name!r} ({node_kind(node)}): r = {describe_values(r)} is an input gain "
                           f"{what} = {describe_values(gain)} at dt = {dt:g}, which the accelerator can "
                           f"only fold into integer weights, but weight "
                           f"[{', '.join(map(str, where))}] of {weight_name!r} becomes "
                           f"{scaled[where]:g}; export r = {'tau/dt' if lif else '1/dt'} "
                           f"(gain 1)")
        weights = scaled
        if bias is not None:
            bias = bias * (gain[0] if conv is not None else np.broadcast_to(gain, bias.shape))
    if bias is not None and not _near_integers(bias):
        raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): biases are not integers "
                       f"(e.g. {bias[~np.isclose(bias, np.round(bias))][0]:g}); quantize the "
                       f"network (python -m sw.nir import does) before an exact import")
    if not _near_integers(weights):
        raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): weights are not integers "
                       f"(e.g. {weights[~np.isclose(weights, np.round(weights))][0]:g}); quantize "
                       f"the network before exporting it to NIR (sw.train does): the accelerator "
                       f"has integer weights")
    weights = np.round(weights).astype(np.int64)
    theta = _uniform(name, node, "v_threshold", node.v_threshold)
    if not math.isclose(theta, round(theta), rel_tol=TOLERANCE, abs_tol=1e-9):
        raise NirError(f"node {name!r} ({node_kind(node)}): thresholds are not integers "
                       f"(v_threshold = {theta:g}); quantize the network before exporting it "
                       f"to NIR: the accelerator has integer thresholds")

    meta = node_metadata(node)
    read = {"threshold": (int(round(theta)), None),
            "neuron": ("lif" if lif else "if", None),
            "reset": ("zero", "reset='zero' (NIR resets to v_reset = 0)"),
            "fire_once": (Layer.fire_once, f"fire_once={Layer.fire_once} (the default; NIR "
                                            f"has no such field)")}
    if lif and "leak" not in meta:
        fields, how = _leak(name, node, tau, dt)
        read["leak_mode"], read["leak"] = (fields["leak_mode"], how), (fields["leak"], None)
    largest = int(np.abs(weights).max(initial=0))
    bits = max(2, largest.bit_length() + 1)
    if bits > 8 and "weight_bits" not in meta:
        raise NirError(f"node {weight_name!r} ({node_kind(weight_node)}): the weights reach "
                       f"{largest}{' after the gain is folded in' if folded else ''}, which "
                       f"needs {bits} bits; the accelerator has weights of at most 8 bits "
                       f"(-128 .. 127): requantize the network")
    read["weight_bits"] = (bits, f"weight_bits={bits} (the fewest that hold the weights)")
    said = []
    if folded:
        said.append(f"the input gain {what} = {describe_values(gain)} folded into the weights")
    for field, (value, how) in read.items():
        if field not in meta:
            meta[field] = value
            if how:
                said.append(how)
    note = (f"layer {k} ({weight_name!r} -> {name!r}): " + ", ".join(said)) if said else None
    if bias is not None:
        meta["bias"] = np.round(bias).astype(np.int64)
    return Layer(weights=weights.astype(np.int16), conv=conv, **meta), note


def _from_nir(graph, dt) -> tuple[Network, list[str]]:
    import nir
    notes = []
    fields = node_metadata(graph)
    said_dt = fields.pop("dt", None)
    input_scale = float(fields.pop("input_scale", 1.0))
    if dt is None and said_dt is not None:
        dt = said_dt
    step = 1.0 if dt is None else dt
    if isinstance(step, bool) or not isinstance(step, (int, float, np.number)) \
            or not math.isfinite(step) or step <= 0:
        raise NirError(f"dt is {dt!r}; the time step must be a positive number of seconds")
    step = float(step)
    chain, first, _ = input_chain(graph, nir)
    layers = []
    shape = np.asarray(graph.nodes[first].input_type.get("input", [])).reshape(-1)
    current = tuple(int(v) for v in shape)        # the map (C, H, W) a layer reads, if any
    for pending, name in layer_pairs(graph, chain, nir, (nir.IF, nir.LIF), "an IF or LIF neuron",
                                maps=True):
        conv = _geometry(pending, graph.nodes[pending], current, nir)
        layer, note = _layer(len(layers), pending, graph.nodes[pending], name,
                             graph.nodes[name], step, nir, conv)
        layers.append(layer)
        current = ((conv.out_channels, conv.out_height, conv.out_width) if conv is not None
                   else (layer.n_out,))
        if note:
            notes.append(note)
    if shape.size and int(np.prod(shape)) != layers[0].n_in:
        raise NirError(f"Input {first!r} has shape {tuple(int(s) for s in shape)} but the first "
                       f"layer takes {layers[0].n_in} inputs")
    if dt is None and any("leak" not in node_metadata(graph.nodes[n]) for n in chain
                          if isinstance(graph.nodes[n], (nir.IF, nir.LIF))):
        notes.insert(0, "dt = 1 (NIR graphs carry no time step; from_nir(graph, dt=...) "
                        "sets it)")
    if input_scale != 1.0:
        layer = layers[0]
        scaled = layer.weights / input_scale
        if not _near_integers(scaled):
            raise NirError(f"the graph's metadata says layer 0's weights are scaled by "
                           f"{input_scale:g}, but they are not integers once divided by it")
        layer.weights = np.round(scaled).astype(np.int16)
    defaults = [f"{f.name}={f.default!r}" for f in dataclasses.fields(Network)
                if f.name not in fields and f.name not in ("layers", "name")]
    if defaults:
        notes.append(f"network: {', '.join(defaults)} (the defaults: the graph does not say; "
                     f"set them on the returned Network to match the model's training)")
    try:
        return Network(layers=layers, **fields).validate(), notes
    except (NetworkError, TypeError) as error:
        raise NirError(f"the NIR graph is not a valid accelerator network: {error}") from None


def _warn(notes):
    for note in notes:
        warnings.warn(note, NirWarning, stacklevel=3)


def from_nir(graph, *, dt: float | None = None) -> Network:
    """The integer :class:`Network` of a NIR graph (a chain of Linear and IF/LIF nodes).

    ``dt`` is the time step of one accelerator step in the graph's time unit (1 unless given).
    Every value the graph does not state is reported as a :class:`NirWarning`; a graph that
    has no exact integer network raises :class:`NirError`.
    """
    network, notes = _from_nir(graph, dt)
    _warn(notes)
    return network


def save_nir(network: Network, path, **options):
    """Write ``network`` as a NIR (HDF5) file (``options``: :func:`to_nir`'s), through a
    temporary file renamed over ``path``, so that a failure leaves nothing behind."""
    import nir
    path = Path(path)
    graph = to_nir(network, **options)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        nir.write(tmp, graph)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_nir(path, *, dt: float | None = None) -> Network:
    """Read a NIR file written by :func:`save_nir` (or another tool) as a :class:`Network`.

    A missing, unreadable or non-NIR file, and a graph :func:`from_nir` refuses, raise
    :class:`NirError` naming the file.
    """
    path = Path(path)
    graph = read_nir(path)
    try:
        network, notes = _from_nir(graph, dt)
    except NirError as error:
        raise NirError(f"{path}: {error}") from None
    _warn(notes)
    return network
