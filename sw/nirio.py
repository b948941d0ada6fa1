"""Exchange networks with other SNN tools through NIR (the Neuromorphic Intermediate
Representation, https://neuroir.org): ``to_nir``, ``from_nir``, ``save_nir``, ``load_nir``.

NIR describes continuous-time neurons; the accelerator's are discrete-time integers
(``docs/numerics.md``). The two meet through one forward-Euler step of length ``dt``: NIR's
``tau dv/dt = (v_leak - v) + r I`` becomes ``v' = (1 - dt/tau) v + (r dt/tau) I``, and its IF
``dv/dt = r I`` becomes ``v' = v + r dt I``. The accelerator's step is ``v' = leak(v) + I``, so a
node maps exactly when ``v_leak = 0``, ``v_reset = 0``, the decay ``1 - dt/tau`` is one of the
accelerator's leaks and the input gain (``r dt / tau``, or ``r dt``) is 1 or can be folded into
the integer weights. The mapping, per dense layer ``l``, with ``dt = 1``:

* ``linear{l}``: ``nir.Linear`` with the integer weights ``W[j, i]`` as floats (no bias);
* ``neuron{l}``: ``nir.IF(r=1, v_threshold=theta)`` for ``if`` neurons, or
  ``nir.LIF(tau, r=tau, v_leak=0, v_threshold=theta)`` for ``lif`` neurons with the time constant
  whose one-step decay equals the leak, ``tau = 1 / (1 - f)`` with ``f = 1 - 2**-k`` (shift) or
  ``f = lambda / 256`` (factor), and ``r = tau`` so that the input gain is 1 (the convention
  snnTorch uses, with its own ``dt``). ``v_reset`` is 0;
* graph edges ``input -> linear0 -> neuron0 -> linear1 -> ... -> output``.

Everything NIR cannot say (weight bits, membrane bits, reset kind, fire-once, the exact leak
code, T, encoder, seed, read-out) goes into the nodes' and the graph's ``metadata`` under the
key ``"snn_accel"``, so that ``from_nir(to_nir(net)) == net`` exactly, without a warning.

A graph from another tool without that metadata is read as follows, and every value that the
graph does not state is reported as a :class:`NirWarning` (a command line can record them with
``warnings.catch_warnings(record=True)`` and print each ``str(w.message)``):

* ``dt`` is 1 unless given (``from_nir(graph, dt=1e-4)`` reads an snnTorch export);
* the weights (times a gain other than 1) and the thresholds must be integers;
  ``weight_bits`` is the fewest bits that hold the weights;
* an LIF decay ``1 - dt/tau`` is read as a factor leak ``lambda / 256`` when it is one (within
  float rounding), else as a shift leak ``1 - 2**-k``; any other decay is refused;
* ``reset`` is ``"zero"`` (NIR resets to ``v_reset = 0``); ``fire_once`` and the network-wide
  fields take the defaults of :class:`core.network.Layer` and :class:`core.network.Network`.

Anything else (a current-based synapse, a nonzero ``v_leak``, ``v_reset`` or bias, a parameter
that is not finite, a branch, a cycle, a node kind other than Linear/Affine, IF/LIF and
Flatten) raises :class:`NirError` naming the node, the field and what to export instead.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np

from core.modelfile import MAGIC
from core.network import Layer, Network, NetworkError

__all__ = ["NirError", "NirWarning", "to_nir", "from_nir", "save_nir", "load_nir"]

KEY = "snn_accel"

#: Relative tolerance for float parameters that must be integers or exact leaks: the graphs of
#: other tools hold float32 values computed from the intended ones.
_TOLERANCE = 1e-6

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
    "Conv1d": "the accelerator runs dense layers only; export Linear layers",
    "Conv2d": "the accelerator runs dense layers only; export Linear layers",
    "SumPool2d": "the accelerator runs dense layers only, without pooling",
    "AvgPool2d": "the accelerator runs dense layers only, without pooling",
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


def to_nir(network: Network):
    """The :class:`nir.NIRGraph` of a validated network."""
    import nir
    network.validate()
    nodes = {"input": nir.Input(input_type={"input": np.array([network.n_inputs])})}
    edges, prev = [], "input"
    for k, layer in enumerate(network.layers):
        meta = {KEY: {f: (bool(v) if isinstance(v, (bool, np.bool_)) else v)
                      for f, v in layer.params().items()}}
        w = np.asarray(layer.weights, dtype=np.float64)
        nodes[f"linear{k}"] = nir.Linear(weight=w, metadata=dict(meta))
        theta = np.full(layer.n_out, float(layer.threshold))
        ones, zeros = np.ones(layer.n_out), np.zeros(layer.n_out)
        if layer.neuron == "if":
            neuron = nir.IF(r=ones, v_threshold=theta, v_reset=zeros, metadata=dict(meta))
        else:
            tau = np.full(layer.n_out, 1.0 / (1.0 - _leak_factor(layer)))
            neuron = nir.LIF(tau=tau, r=tau.copy(), v_leak=zeros, v_threshold=theta,
                             v_reset=zeros, metadata=dict(meta))
        nodes[f"neuron{k}"] = neuron
        edges += [(prev, f"linear{k}"), (f"linear{k}", f"neuron{k}")]
        prev = f"neuron{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_classes])})
    edges.append((prev, "output"))
    meta = {KEY: {"membrane_bits": network.membrane_bits, "timesteps": network.timesteps,
                  "encoder": network.encoder, "lfsr_seed": network.lfsr_seed,
                  "readout": network.readout, "name": network.name}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _metadata(node) -> dict:
    # nir.NIRGraph's default metadata is the class ``dict`` itself, not an instance.
    metadata = getattr(node, "metadata", None)
    return dict(metadata.get(KEY, {})) if isinstance(metadata, dict) else {}


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


def _layer(k, weight_name, weight_node, name, node, dt, nir) -> tuple[Layer, str | None]:
    """One layer from a Linear/Affine node and an IF/LIF node, and its note (or None)."""
    weights = np.asarray(weight_node.weight, dtype=np.float64)
    if weights.ndim != 2:
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): weight has shape "
                       f"{weights.shape}; a dense layer needs a 2-D (outputs, inputs) matrix")
    if not np.all(np.isfinite(weights)):
        raise NirError(f"node {weight_name!r} ({_kind(weight_node)}): weight holds "
                       f"{weights[~np.isfinite(weights)][0]}; every weight must be finite")
    if isinstance(weight_node, nir.Affine) and np.any(np.asarray(weight_node.bias) != 0):
        raise NirError(f"node {weight_name!r} (Affine) has a nonzero bias; the accelerator has "
                       f"no biases: export the layer without one (nn.Linear(..., bias=False))")
    lif = isinstance(node, nir.LIF)
    fields = ("r", "v_threshold", "v_reset") + (("tau", "v_leak") if lif else ())
    _finite(name, node, fields)
    for field in fields:
        if np.asarray(getattr(node, field)).size not in (1, weights.shape[0]):
            raise NirError(f"node {name!r} ({_kind(node)}): {field} has "
                           f"{np.asarray(getattr(node, field)).size} values for the "
                           f"{weights.shape[0]} outputs of {weight_name!r}")
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
    if folded:
        scaled = weights * np.broadcast_to(gain, weights.shape[:1])[:, None]
        if not _near_integers(scaled):
            j, i = np.argwhere(~np.isclose(scaled, np.round(scaled), rtol=_TOLERANCE,
                                           atol=1e-9))[0]
            raise NirError(f"node {name!r} ({_kind(node)}): r = {_value(r)} is an input gain "
                           f"{what} = {_value(gain)} at dt = {dt:g}, which the accelerator can "
                           f"only fold into integer weights, but weight [{j}, {i}] of "
                           f"{weight_name!r} becomes {scaled[j, i]:g}; export r = "
                           f"{'tau/dt' if lif else '1/dt'} (gain 1)")
        weights = scaled
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
    return Layer(weights=weights.astype(np.int16), **meta), note


def _from_nir(graph, dt) -> tuple[Network, list[str]]:
    import nir
    notes = []
    step = 1.0 if dt is None else dt
    if isinstance(step, bool) or not isinstance(step, (int, float, np.number)) \
            or not math.isfinite(step) or step <= 0:
        raise NirError(f"dt is {dt!r}; the time step must be a positive number of seconds")
    step = float(step)
    chain, first, _ = _chain(graph, nir)
    layers, pending = [], None
    for name in chain:
        node = graph.nodes[name]
        kind = _kind(node)
        if kind in _UNSUPPORTED:
            raise NirError(f"node {name!r} is a {kind}: {_UNSUPPORTED[kind]}")
        if isinstance(node, nir.Flatten):
            continue
        if pending is None and isinstance(node, (nir.Linear, nir.Affine)):
            pending = name
        elif pending is not None and isinstance(node, (nir.IF, nir.LIF)):
            layer, note = _layer(len(layers), pending, graph.nodes[pending], name, node, step,
                                 nir)
            layers.append(layer)
            if note:
                notes.append(note)
            pending = None
        else:
            need = "a Linear (or Affine) node" if pending is None else \
                f"an IF or LIF neuron after {pending!r}"
            raise NirError(f"node {name!r} is a {kind} where the chain needs {need}; the "
                           f"accelerator runs Linear -> IF/LIF pairs between one Input and "
                           f"one Output")
    if pending is not None:
        raise NirError(f"node {pending!r} ({_kind(graph.nodes[pending])}) is the last layer "
                       f"but no IF or LIF neuron follows it; the accelerator's layers end in "
                       f"spiking neurons")
    if not layers:
        raise NirError("the graph has no Linear -> IF/LIF layer between its Input and Output")
    shape = np.asarray(graph.nodes[first].input_type.get("input", [])).reshape(-1)
    if shape.size and int(np.prod(shape)) != layers[0].n_in:
        raise NirError(f"Input {first!r} has shape {tuple(int(s) for s in shape)} but the first "
                       f"layer takes {layers[0].n_in} inputs")
    if dt is None and any("leak" not in _metadata(graph.nodes[n]) for n in chain
                          if isinstance(graph.nodes[n], (nir.IF, nir.LIF))):
        notes.insert(0, "dt = 1 (NIR graphs carry no time step; from_nir(graph, dt=...) "
                        "sets it)")
    fields = _metadata(graph)
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


def save_nir(network: Network, path):
    """Write ``network`` as a NIR (HDF5) file."""
    import nir
    nir.write(path, to_nir(network))


def load_nir(path, *, dt: float | None = None) -> Network:
    """Read a NIR file written by :func:`save_nir` (or another tool) as a :class:`Network`.

    A missing, unreadable or non-NIR file, and a graph :func:`from_nir` refuses, raise
    :class:`NirError` naming the file.
    """
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
        graph = nir.read(path)
    except Exception as error:  # nir.read raises whatever h5py or a node constructor raises.
        raise NirError(f"{path} is an HDF5 file but not a NIR graph that nir {nir.__version__} "
                       f"can read ({type(error).__name__}: {error})") from None
    try:
        network, notes = _from_nir(graph, dt)
    except NirError as error:
        raise NirError(f"{path}: {error}") from None
    _warn(notes)
    return network
