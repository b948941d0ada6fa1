"""Exchange networks with other SNN tools through NIR (the Neuromorphic Intermediate
Representation, https://neuroir.org).

Two ways in, one way out (``docs/nir.md`` describes them, with each tool's conventions):

* **exact**: ``from_nir`` and ``load_nir`` read a graph whose weights, biases and thresholds
  are already integers, unchanged, or refuse it;
* **quantizing**: ``read_float`` reads a float graph (snnTorch, Norse, SpikingJelly) in the
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
image's shape ``(C, H, W)``. ``from_nir`` reads these nodes back exactly (``read_float``, the
quantizing reader, takes dense layers only).

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

from core import golden
from core.modelfile import MAGIC
from core.network import Conv, Layer, Network, NetworkError, check_conv

__all__ = ["NirError", "NirWarning", "to_nir", "from_nir", "save_nir", "load_nir", "read_nir",
           "FloatLayer", "FloatNetwork", "FloatRun", "read_float", "nearest_leak", "Quantized",
           "quantize", "agreement", "RESETS", "export_notes", "is_exported",
           "IF_TAU_STEPS"]

KEY = "snn_accel"

#: Relative tolerance for float parameters that must be integers or exact leaks: the graphs of
#: other tools hold float32 values computed from the intended ones.
_TOLERANCE = 1e-6

#: Convolution and pooling: the accelerator runs them (``Config.conv``) and ``from_nir`` reads
#: integer Conv2d/SumPool2d graphs, but the quantizing reader does not.
_CONV_IMPORT = ("the quantizing reader (python -m sw.nir import) takes chains of Linear/Affine "
                "and IF/LIF nodes only, though the accelerator runs convolutions (generated "
                "with --set conv=true): export a graph with integer weights for the exact "
                "reader, train the network with python -m sw.train (network.hidden = "
                "[\"conv C KxK\", \"pool K\", ...]), or export Linear layers")

#: Node kinds the accelerator cannot run, with the reason and what to export instead.
_UNSUPPORTED = {
    "CubaLIF": "a current-based synapse (tau_syn) has no exact integer form on the accelerator; "
               "export LIF (snnTorch Leaky) or IF neurons instead",
    "CubaLI": "a current-based synapse (tau_syn) has no exact integer form on the accelerator "
              "and its neurons never fire; export LIF (snnTorch Leaky) or IF neurons instead",
    "LI": "a leaky integrator never fires; export LIF or IF neurons (for a membrane read-out "
          "set readout='max_membrane' on the imported network)",
    "I": "an integrator never fires; export IF neurons (for a membrane read-out set "
         "readout='max_membrane' on the imported network)",
    "Conv1d": "the accelerator has no 1-D convolution; export Linear layers",
    "Conv2d": _CONV_IMPORT,
    "SumPool2d": _CONV_IMPORT,
    "AvgPool2d": _CONV_IMPORT,
    "Delay": "the accelerator has no synaptic delays",
    "Scale": "the accelerator has no scaling node; fold the scale into the weights",
    "Threshold": "the accelerator has no stateless threshold; export IF neurons",
    "NIRGraph": "a nested graph (a recurrent layer such as snnTorch's RLeaky) has no form on "
                "the accelerator, which runs feed-forward dense layers",
}


class NirError(ValueError):
    """A NIR file or graph that has no exact integer network."""


class NirWarning(UserWarning):
    """A value that :func:`from_nir` chose because the NIR graph does not state it."""


def _leak_factor(layer: Layer) -> float:
    if layer.leak_mode == "shift":
        return 1.0 - 2.0 ** -layer.leak
    return layer.leak / 256.0


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
        decay = _leak_factor(layer) if layer.neuron == "lif" else 1.0
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


def _metadata(node) -> dict:
    # nir.NIRGraph's default metadata is the class ``dict`` itself, not an instance.
    # Values read back from HDF5 are numpy scalars: give plain Python values.
    metadata = getattr(node, "metadata", None)
    fields = dict(metadata.get(KEY, {})) if isinstance(metadata, dict) else {}
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in fields.items()}


def _kind(node) -> str:
    return type(node).__name__


def _value(values) -> str:
    values = np.asarray(values).reshape(-1)
    return f"{values[0]:g}" if np.unique(values).size == 1 else np.array2string(values, 60)


def _cycle(nodes, edges):
    """The node names of one cycle of the graph (first node repeated at the end), or None."""
    successors = {name: [] for name in nodes}
    for a, b in edges:
        successors[a].append(b)
    state = {}
    for root in nodes:
        if root in state:
            continue
        path, stack = [root], [iter(successors[root])]
        state[root] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(successors[nxt]))
    return None


def _chain(graph, nir) -> tuple[list[str], str, str]:
    """The names of the nodes between the Input and the Output, and those two names."""
    nodes, edges = graph.nodes, [tuple(edge) for edge in graph.edges]
    for a, b in edges:
        for name in (a, b):
            if name not in nodes:
                raise NirError(f"the edge {a!r} -> {b!r} names node {name!r}, which the graph "
                               f"does not have")
    cycle = _cycle(nodes, edges)
    if cycle is not None:
        raise NirError(f"nodes {' -> '.join(map(repr, cycle))} form a cycle (recurrence); the "
                       f"accelerator runs a feed-forward chain of dense layers")
    successor, predecessor = {}, {}
    for a, b in edges:
        if a in successor and successor[a] != b:
            raise NirError(f"node {a!r} ({_kind(nodes[a])}) feeds both {successor[a]!r} and "
                           f"{b!r}; the accelerator runs a single chain of dense layers, "
                           f"without branches")
        if b in predecessor and predecessor[b] != a:
            raise NirError(f"node {b!r} ({_kind(nodes[b])}) has two inputs, {predecessor[b]!r} "
                           f"and {a!r}; the accelerator runs a single chain of dense layers, "
                           f"without merges")
        successor[a], predecessor[b] = b, a
    inputs = [name for name, node in nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NirError(f"the graph has {len(inputs)} Input nodes"
                       + (f" ({', '.join(map(repr, inputs))})" if inputs else "")
                       + "; the accelerator needs exactly one")
    chain, name = [], inputs[0]
    while not isinstance(nodes[name], nir.Output):
        if name not in successor:
            raise NirError(f"the chain ends at node {name!r} ({_kind(nodes[name])}), which "
                           f"feeds nothing; connect it to an Output node")
        chain.append(name)
        name = successor[name]
    output, chain = name, chain[1:]
    stray = [n for n in nodes if n not in chain and n not in (inputs[0], output)]
    if stray:
        raise NirError(f"node {stray[0]!r} ({_kind(nodes[stray[0]])}) is not on the path from "
                       f"Input {inputs[0]!r} to Output {output!r}; the accelerator runs a "
                       f"single chain of dense layers")
    return chain, inputs[0], output


def _pairs(graph, chain, nir, neurons: tuple, needed: str,
           maps: bool = False) -> list[tuple[str, str]]:
    """The layers of ``chain`` as ``(Linear or Affine node, neuron node)`` name pairs, in order.

    ``neurons`` are the NIR neuron classes this reader takes, ``needed`` says them in words;
    with ``maps`` a ``Conv2d`` or ``SumPool2d`` node may stand for the Linear one.
    ``Flatten`` nodes are skipped; anything else out of place raises :class:`NirError`
    naming the node and what the chain needs there.
    """
    synapses = (nir.Linear, nir.Affine) + ((nir.Conv2d, nir.SumPool2d) if maps else ())
    pairs, pending = [], None
    for name in chain:
        node = graph.nodes[name]
        kind = _kind(node)
        if isinstance(node, nir.Flatten):
            continue
        if pending is None and isinstance(node, synapses):
            pending = name
        elif pending is not None and isinstance(node, neurons):
            pairs.append((pending, name))
            pending = None
        elif kind in _UNSUPPORTED and not isinstance(node, synapses):
            raise NirError(f"node {name!r} is a {kind}: {_UNSUPPORTED[kind]}")
        else:
            need = "a Linear (or Affine) node" if pending is None else \
                f"{needed} after {pending!r}"
            raise NirError(f"node {name!r} is a {kind} where the chain needs {need}; the "
                           f"accelerator runs Linear/Affine -> IF/LIF pairs between one Input "
                           f"and one Output (Flatten nodes are skipped)")
    if pending is not None:
        raise NirError(f"node {pending!r} ({_kind(graph.nodes[pending])}) is the last layer "
                       f"but no IF or LIF neuron follows it; the accelerator's layers end in "
                       f"spiking neurons")
    if not pairs:
        raise NirError("the graph has no Linear -> IF/LIF layer between its Input and Output")
    return pairs


def _finite(name, node, fields):
    for field in fields:
        values = np.asarray(getattr(node, field), dtype=np.float64)
        if not np.all(np.isfinite(values)):
            bad = values.reshape(-1)[~np.isfinite(values.reshape(-1))][0]
            raise NirError(f"node {name!r} ({_kind(node)}): {field} is {bad} for some neurons; "
                           f"every parameter must be a finite number")


def _near_integers(values) -> bool:
    return bool(np.all(np.isclose(values, np.round(values), rtol=_TOLERANCE, atol=1e-9)))


def _uniform(name, node, field, values) -> float:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.allclose(values, values[0], rtol=_TOLERANCE, atol=0):
        raise NirError(f"node {name!r} ({_kind(node)}): {field} differs between neurons "
                       f"({_value(values)}); the accelerator has one {field} per layer")
    return float(values[0])


def _leak(name, node, tau, dt) -> tuple[dict, str]:
    """The leak fields of an LIF node's decay ``1 - dt/tau``, and how they were read."""
    decay = 1.0 - dt / tau
    code = 256.0 * decay
    if 0 <= round(code) <= 255 and math.isclose(code, round(code), rel_tol=_TOLERANCE,
                                                 abs_tol=1e-9):
        leak = int(round(code))
        return (dict(leak_mode="factor", leak=leak),
                f"leak_mode='factor', leak={leak} (decay {decay:g} = {leak}/256)")
    shift = -math.log2(dt / tau) if dt < tau else 0.0
    if shift >= 1 and math.isclose(shift, round(shift), rel_tol=_TOLERANCE):
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
        raise NirError(f"node {name!r} ({_kind(node)}): {field} is {value!r}; the accelerator's "
                       f"convolutions take one integer for both axes")
    return int(values[0])


def _geometry(name, node, shape: tuple, nir) -> Conv | None:
    """The :class:`Conv` of a Conv2d or SumPool2d node reading a map of ``shape`` (C, H, W);
    None for a Linear/Affine node."""
    if not isinstance(node, (nir.Conv2d, nir.SumPool2d)):
        return None
    if len(shape) != 3:
        raise NirError(f"node {name!r} ({_kind(node)}) reads {shape}, not a (channels, height, "
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
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): weight has shape "
                       f"{weights.shape}; a dense layer needs a 2-D (outputs, inputs) matrix")
    if not np.all(np.isfinite(weights)):
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): weight holds "
                       f"{weights[~np.isfinite(weights)][0]}; every weight must be finite")
    bias = None
    if isinstance(weight_node, (nir.Affine, nir.Conv2d)) \
            and np.any(np.asarray(weight_node.bias) != 0):
        bias = np.broadcast_to(np.asarray(weight_node.bias, dtype=np.float64),
                               weights.shape[:1]).copy()
        if not np.all(np.isfinite(bias)):
            raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): bias holds "
                           f"{bias[~np.isfinite(bias)][0]}; every bias must be finite")
        if conv is not None:  # one per channel: every position of the channel
            bias = np.repeat(bias, conv.out_height * conv.out_width)
    lif = isinstance(node, nir.LIF)
    fields = ("r", "v_threshold", "v_reset") + (("tau", "v_leak") if lif else ())
    _finite(name, node, fields)
    for field in fields:
        if np.asarray(getattr(node, field)).size not in (1, n_out):
            raise NirError(f"node {name!r} ({_kind(node)}): {field} has "
                           f"{np.asarray(getattr(node, field)).size} values for the "
                           f"{n_out} outputs of {weight_name!r}")
    if lif and np.any(np.asarray(node.v_leak) != 0):
        raise NirError(f"node {name!r} (LIF): v_leak is {_value(node.v_leak)}; the "
                       f"accelerator's membranes leak towards 0: export v_leak = 0")
    if np.any(np.asarray(node.v_reset) != 0):
        raise NirError(f"node {name!r} ({_kind(node)}): v_reset is {_value(node.v_reset)}; the "
                       f"accelerator resets to 0 or subtracts the threshold: export v_reset = 0")
    tau = _uniform(name, node, "tau", node.tau) if lif else None
    if lif and tau <= 0:
        raise NirError(f"node {name!r} (LIF): tau is {tau:g}; a time constant must be positive")
    r = np.asarray(node.r, dtype=np.float64).reshape(-1)
    gain = r * dt / tau if lif else r * dt
    what = "r*dt/tau" if lif else "r*dt"
    folded = not np.allclose(gain, 1.0, rtol=_TOLERANCE, atol=0)
    if folded and conv is not None:   # a kernel is shared by its positions: one gain
        gain = np.full(1, _uniform(name, node, what, gain))
    if folded:
        scaled = weights * (gain[0] if conv is not None else
                            np.broadcast_to(gain, weights.shape[:1])[:, None])
        if not _near_integers(scaled):
            where = tuple(np.argwhere(~np.isclose(scaled, np.round(scaled), rtol=_TOLERANCE,
                                                  atol=1e-9))[0])
            raise NirError(f"node {name!r} ({_kind(node)}): r = {_value(r)} is an input gain "
                           f"{what} = {_value(gain)} at dt = {dt:g}, which the accelerator can "
                           f"only fold into integer weights, but weight "
                           f"[{', '.join(map(str, where))}] of {weight_name!r} becomes "
                           f"{scaled[where]:g}; export r = {'tau/dt' if lif else '1/dt'} "
                           f"(gain 1)")
        weights = scaled
        if bias is not None:
            bias = bias * (gain[0] if conv is not None else np.broadcast_to(gain, bias.shape))
    if bias is not None and not _near_integers(bias):
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): biases are not integers "
                       f"(e.g. {bias[~np.isclose(bias, np.round(bias))][0]:g}); quantize the "
                       f"network (python -m sw.nir import does) before an exact import")
    if not _near_integers(weights):
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): weights are not integers "
                       f"(e.g. {weights[~np.isclose(weights, np.round(weights))][0]:g}); quantize "
                       f"the network before exporting it to NIR (sw.train does): the accelerator "
                       f"has integer weights")
    weights = np.round(weights).astype(np.int64)
    theta = _uniform(name, node, "v_threshold", node.v_threshold)
    if not math.isclose(theta, round(theta), rel_tol=_TOLERANCE, abs_tol=1e-9):
        raise NirError(f"node {name!r} ({_kind(node)}): thresholds are not integers "
                       f"(v_threshold = {theta:g}); quantize the network before exporting it "
                       f"to NIR: the accelerator has integer thresholds")

    meta = _metadata(node)
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
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): the weights reach "
                       f"{largest}{' after the gain is folded in' if folded else ''}, which "
                       f"needs {bits} bits; the accelerator has weights of at most 8 bits "
                       f"(-128 .. 127): requantize the network")
    read["weight_bits"] = (bits, f"weight_bits={bits} (the fewest that hold the weights)")
    said = []
    if folded:
        said.append(f"the input gain {what} = {_value(gain)} folded into the weights")
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
    fields = _metadata(graph)
    said_dt = fields.pop("dt", None)
    input_scale = float(fields.pop("input_scale", 1.0))
    if dt is None and said_dt is not None:
        dt = said_dt
    step = 1.0 if dt is None else dt
    if isinstance(step, bool) or not isinstance(step, (int, float, np.number)) \
            or not math.isfinite(step) or step <= 0:
        raise NirError(f"dt is {dt!r}; the time step must be a positive number of seconds")
    step = float(step)
    chain, first, _ = _chain(graph, nir)
    layers = []
    shape = np.asarray(graph.nodes[first].input_type.get("input", [])).reshape(-1)
    current = tuple(int(v) for v in shape)        # the map (C, H, W) a layer reads, if any
    for pending, name in _pairs(graph, chain, nir, (nir.IF, nir.LIF), "an IF or LIF neuron",
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
    if dt is None and any("leak" not in _metadata(graph.nodes[n]) for n in chain
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


# -- float graphs: read, simulate, quantize --------------------------------------------------
#
# A graph from snnTorch, Norse or SpikingJelly holds float weights, biases and thresholds. It is
# read into a FloatNetwork (the discrete-time model the tool itself runs, every parameter folded
# into a per-layer form the accelerator has), simulated in numpy to get the float tool's
# predictions, and quantized into an integer Network, choosing each layer's scale on sample
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
        raise NirError(f"node {name!r} ({_kind(node)}): {field} has {values.size} values for "
                       f"{n} neurons; give one value or one per neuron")
    return np.broadcast_to(values, (n,)).copy()


def _one_decay(name, node, field, decay) -> float:
    """The layer's decay from per-neuron ones: they must agree (one leak per layer)."""
    if np.ptp(decay) > 1e-6 * max(1.0, float(np.abs(decay).max())):
        raise NirError(f"node {name!r} ({_kind(node)}): {field} differs between neurons (decay "
                       f"1 - dt/{field} from {decay.min():.6g} to {decay.max():.6g}); the "
                       f"accelerator has one leak per layer: train with one beta per layer "
                       f"(snn.Leaky(beta=0.875) with learn_beta=False)")
    return float(np.mean(decay))


def _float_layer(weight_name, weight_node, name, node, dt, nir) -> FloatLayer:
    """A Linear/Affine node and an IF/LIF/CubaLIF node as a :class:`FloatLayer`."""
    weights = np.asarray(weight_node.weight, dtype=np.float64)
    if weights.ndim != 2:
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): weight has shape "
                       f"{weights.shape}; a dense layer needs a 2-D (outputs, inputs) matrix")
    n = weights.shape[0]
    bias = (_per_neuron(weight_name, weight_node, "bias", n)
            if isinstance(weight_node, nir.Affine) else np.zeros(n))
    for field, values in (("weight", weights), ("bias", bias)):
        if not np.all(np.isfinite(values)):
            raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): {field} holds "
                           f"{values[~np.isfinite(values)].reshape(-1)[0]}; every parameter "
                           f"must be a finite number (the training diverged?)")
    kind = _kind(node)
    fields = {"IF": ("r", "v_threshold", "v_reset"),
              "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
              "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset",
                          "w_in")}[kind]
    _finite(name, node, fields)
    p = {field: _per_neuron(name, node, field, n) for field in fields}
    if np.any(p["v_reset"] != 0):
        raise NirError(f"node {name!r} ({kind}): v_reset is {_value(p['v_reset'])}; the "
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
            raise NirError(f"node {name!r} ({kind}): tau = {_value(tau)} at dt = {dt:g} is a "
                           f"decay 1 - dt/tau = {_value(decay)} per step, outside 0 .. 1: pass "
                           f"the dt the graph was made with (--dt; snnTorch and SpikingJelly "
                           f"write dt = 1e-4, Norse 1e-3)")
        gain = p["r"] * dt / tau
        leak_current = p["v_leak"] * dt / tau  # (v_leak - v) dt/tau: a constant current
        if kind == "CubaLIF":
            syn_decay = 1.0 - dt / p["tau_syn"]
            if np.any(np.abs(syn_decay) > 1e-6):
                raise NirError(
                    f"node {name!r} (CubaLIF): tau_syn = {_value(p['tau_syn'])} at dt = "
                    f"{dt:g} is a synaptic current that decays by {_value(syn_decay)} per "
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
    chain, first, _ = _chain(graph, nir)
    meta = _metadata(graph)
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
              for pending, name in _pairs(graph, chain, nir, (nir.IF, nir.LIF, nir.CubaLIF),
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
            got = _leak_factor(layer)
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


def read_nir(path):
    """The :class:`nir.NIRGraph` of a NIR file, or :class:`NirError` naming the file and why
    it cannot be read (missing, a folder, empty, an .snn model file, not HDF5, not NIR)."""
    import h5py
    import nir
    path = Path(path)
    if not path.exists():
        raise NirError(f"{path} does not exist")
    if path.is_dir():
        raise NirError(f"{path} is a directory; give a .nir file")
    try:
        with open(path, "rb") as file:
            head = file.read(len(MAGIC))
    except OSError as error:
        raise NirError(f"{path} cannot be read: {error.strerror or error}") from None
    if not head:
        raise NirError(f"{path} is empty; a NIR file is an HDF5 file that nir.write (or "
                       f"sw.nirio.save_nir) writes")
    if head == MAGIC:
        raise NirError(f"{path} is an .snn model file, not a NIR file; load it with "
                       f"core.modelfile.load")
    if not h5py.is_hdf5(path):
        raise NirError(f"{path} is not a NIR file (NIR files are HDF5; this one starts with "
                       f"{head!r}); write it with nir.write or sw.nirio.save_nir")
    try:
        # Without nir's type check: a graph with a cycle or a branch fails it with a message
        # about shapes; the checks here name the node instead.
        return nir.read(path, type_check=False)
    except Exception as error:  # nir.read raises whatever h5py or a node constructor raises.
        raise NirError(f"{path} is an HDF5 file but not a NIR graph that nir {nir.__version__} "
                       f"can read ({type(error).__name__}: {error})") from None
