"""What both NIR readers share (``sw.nirio``, exact, and ``sw.nirfloat``, quantizing): the
errors they raise, the walk from a graph's Input to its Output through Linear/Affine (or
Conv2d/SumPool2d) and IF/LIF pairs, with a message naming the node for anything else, and
reading a NIR file with the file named in every error (``docs/nir.md``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.modelfile import MAGIC
from core.network import Layer

__all__ = ["KEY", "TOLERANCE", "UNSUPPORTED", "NirError", "NirWarning", "leak_factor",
           "node_metadata", "node_kind", "describe_values", "find_cycle", "input_chain",
           "layer_pairs", "check_finite", "read_nir"]


KEY = "snn_accel"

#: Relative tolerance for float parameters that must be integers or exact leaks: the graphs of
#: other tools hold float32 values computed from the intended ones.
TOLERANCE = 1e-6

#: Convolution and pooling: the accelerator runs them (``Config.conv``) and ``from_nir`` reads
#: integer Conv2d/SumPool2d graphs, but the quantizing reader does not.
CONV_IMPORT = ("the quantizing reader (python -m sw.nir import) takes chains of Linear/Affine "
                "and IF/LIF nodes only, though the accelerator runs convolutions (generated "
                "with --set conv=true): export a graph with integer weights for the exact "
                "reader, train the network with python -m sw.train (network.hidden = "
                "[\"conv C KxK\", \"pool K\", ...]), or export Linear layers")

#: Node kinds the accelerator cannot run, with the reason and what to export instead.
UNSUPPORTED = {
    "CubaLIF": "a current-based synapse (tau_syn) has no exact integer form on the accelerator; "
               "export LIF (snnTorch Leaky) or IF neurons instead",
    "CubaLI": "a current-based synapse (tau_syn) has no exact integer form on the accelerator "
              "and its neurons never fire; export LIF (snnTorch Leaky) or IF neurons instead",
    "LI": "a leaky integrator never fires; export LIF or IF neurons (for a membrane read-out "
          "set readout='max_membrane' on the imported network)",
    "I": "an integrator never fires; export IF neurons (for a membrane read-out set "
         "readout='max_membrane' on the imported network)",
    "Conv1d": "the accelerator has no 1-D convolution; export Linear layers",
    "Conv2d": CONV_IMPORT,
    "SumPool2d": CONV_IMPORT,
    "AvgPool2d": CONV_IMPORT,
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


def leak_factor(layer: Layer) -> float:
    """The one-step decay of a layer's leak (``docs/numerics.md``): ``1 - 2**-k`` or
    ``lambda / 256``."""
    if layer.leak_mode == "shift":
        return 1.0 - 2.0 ** -layer.leak
    return layer.leak / 256.0


def node_metadata(node) -> dict:
    """The ``snn_accel`` fields of a node's (or a graph's) metadata, as plain Python values."""
    # nir.NIRGraph's default metadata is the class ``dict`` itself, not an instance.
    # Values read back from HDF5 are numpy scalars: give plain Python values.
    metadata = getattr(node, "metadata", None)
    fields = dict(metadata.get(KEY, {})) if isinstance(metadata, dict) else {}
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in fields.items()}


def node_kind(node) -> str:
    """The NIR class name of a node, for messages."""
    return type(node).__name__


def describe_values(values) -> str:
    """A parameter array in a message: its value if uniform, else the array, shortened."""
    values = np.asarray(values).reshape(-1)
    return f"{values[0]:g}" if np.unique(values).size == 1 else np.array2string(values, 60)


def find_cycle(nodes, edges):
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


def input_chain(graph, nir) -> tuple[list[str], str, str]:
    """The names of the nodes between the Input and the Output, and those two names."""
    nodes, edges = graph.nodes, [tuple(edge) for edge in graph.edges]
    for a, b in edges:
        for name in (a, b):
            if name not in nodes:
                raise NirError(f"the edge {a!r} -> {b!r} names node {name!r}, which the graph "
                               f"does not have")
    cycle = find_cycle(nodes, edges)
    if cycle is not None:
        raise NirError(f"nodes {' -> '.join(map(repr, cycle))} form a cycle (recurrence); the "
                       f"accelerator runs a feed-forward chain of dense layers")
    successor, predecessor = {}, {}
    for a, b in edges:
        if a in successor and successor[a] != b:
            raise NirError(f"node {a!r} ({node_kind(nodes[a])}) feeds both {successor[a]!r} and "
                           f"{b!r}; the accelerator runs a single chain of dense layers, "
                           f"without branches")
        if b in predecessor and predecessor[b] != a:
            raise NirError(f"node {b!r} ({node_kind(nodes[b])}) has two inputs, {predecessor[b]!r} "
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
            raise NirError(f"the chain ends at node {name!r} ({node_kind(nodes[name])}), which "
                           f"feeds nothing; connect it to an Output node")
        chain.append(name)
        name = successor[name]
    output, chain = name, chain[1:]
    stray = [n for n in nodes if n not in chain and n not in (inputs[0], output)]
    if stray:
        raise NirError(f"node {stray[0]!r} ({node_kind(nodes[stray[0]])}) is not on the path from "
                       f"Input {inputs[0]!r} to Output {output!r}; the accelerator runs a "
                       f"single chain of dense layers")
    return chain, inputs[0], output


def layer_pairs(graph, chain, nir, neurons: tuple, needed: str,
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
        kind = node_kind(node)
        if isinstance(node, nir.Flatten):
            continue
        if pending is None and isinstance(node, synapses):
            pending = name
        elif pending is not None and isinstance(node, neurons):
            pairs.append((pending, name))
            pending = None
        elif kind in UNSUPPORTED and not isinstance(node, synapses):
            raise NirError(f"node {name!r} is a {kind}: {UNSUPPORTED[kind]}")
        else:
            need = "a Linear (or Affine) node" if pending is None else \
                f"{needed} after {pending!r}"
            raise NirError(f"node {name!r} is a {kind} where the chain needs {need}; the "
                           f"accelerator runs Linear/Affine -> IF/LIF pairs between one Input "
                           f"and one Output (Flatten nodes are skipped)")
    if pending is not None:
        raise NirError(f"node {pending!r} ({node_kind(graph.nodes[pending])}) is the last layer "
                       f"but no IF or LIF neuron follows it; the accelerator's layers end in "
                       f"spiking neurons")
    if not pairs:
        raise NirError("the graph has no Linear -> IF/LIF layer between its Input and Output")
    return pairs


def check_finite(name, node, fields):
    """:class:`NirError` naming the first of ``fields`` of ``node`` that is not finite."""
    for field in fields:
        values = np.asarray(getattr(node, field), dtype=np.float64)
        if not np.all(np.isfinite(values)):
            bad = values.reshape(-1)[~np.isfinite(values.reshape(-1))][0]
            raise NirError(f"node {name!r} ({node_kind(node)}): {field} is {bad} for some neurons; "
                           f"every parameter must be a finite number")


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
