"""Exchange networks with other SNN tools through NIR (the Neuromorphic Intermediate
Representation, https://neuroir.org): ``to_nir``, ``from_nir``, ``save_nir``, ``load_nir``.

NIR describes continuous-time neurons; the accelerator's are discrete-time integers
(``docs/numerics.md``). The mapping, per dense layer ``l``:

* ``linear{l}``: ``nir.Linear`` with the integer weights ``W[j, i]`` as floats (no bias);
* ``neuron{l}``: ``nir.IF(r=1, v_threshold=theta)`` for ``if`` neurons, or
  ``nir.LIF(tau, r=1, v_leak=0, v_threshold=theta)`` for ``lif`` neurons with the time constant
  whose one-step (``dt = 1``) Euler decay equals the leak: ``tau = 1 / (1 - f)`` with
  ``f = 1 - 2**-k`` (shift) or ``f = lambda / 256`` (factor). ``v_reset`` is 0;
* graph edges ``input -> linear0 -> neuron0 -> linear1 -> ... -> output``.

Everything NIR cannot say (weight bits, membrane bits, reset kind, fire-once, the exact leak
code, T, encoder, seed, read-out) goes into the nodes' and the graph's ``metadata`` under the
key ``"snn_accel"``, so that ``from_nir(to_nir(net)) == net`` exactly. A graph from another
tool without that metadata is read with the defaults of :class:`core.network.Layer` and
:class:`core.network.Network`; its weights and thresholds must already be integers, and the
leak is rounded to the nearest factor (:class:`NirError` otherwise).
"""

from __future__ import annotations

import numpy as np

from core.network import Layer, Network, NetworkError

__all__ = ["NirError", "to_nir", "from_nir", "save_nir", "load_nir"]

KEY = "snn_accel"


class NirError(ValueError):
    """A NIR graph that has no exact integer network."""


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
            f = _leak_factor(layer)
            tau = np.full(layer.n_out, np.inf if f >= 1.0 else 1.0 / (1.0 - f))
            neuron = nir.LIF(tau=tau, r=ones, v_leak=zeros, v_threshold=theta, v_reset=zeros,
                             metadata=dict(meta))
        nodes[f"neuron{k}"] = neuron
        edges += [(prev, f"linear{k}"), (f"linear{k}", f"neuron{k}")]
        prev = f"neuron{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_classes])})
    edges.append((prev, "output"))
    meta = {KEY: {"membrane_bits": network.membrane_bits, "timesteps": network.timesteps,
                  "encoder": network.encoder, "lfsr_seed": network.lfsr_seed,
                  "readout": network.readout, "name": network.name}}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _integers(name, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise NirError(f"{name} are not integers; quantize the network before exporting it to "
                       f"NIR (sw.train does), the accelerator has integer weights and thresholds")
    return np.round(values).astype(np.int64)


def from_nir(graph) -> Network:
    """The integer :class:`Network` of a NIR graph (a chain of Linear and IF/LIF nodes)."""
    import nir
    successor = {}
    for a, b in graph.edges:
        if a in successor:
            raise NirError(f"node {a!r} feeds {successor[a]!r} and {b!r}; only a chain of dense "
                           f"layers maps onto the accelerator")
        successor[a] = b
    starts = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(starts) != 1:
        raise NirError(f"the graph has {len(starts)} Input nodes; it needs exactly one")
    chain, name = [], successor.get(starts[0])
    while name is not None and not isinstance(graph.nodes[name], nir.Output):
        chain.append(graph.nodes[name])
        name = successor.get(name)
    layers = []
    for k in range(0, len(chain), 2):
        pair = chain[k:k + 2]
        if (len(pair) != 2 or not isinstance(pair[0], (nir.Linear, nir.Affine))
                or not isinstance(pair[1], (nir.IF, nir.LIF))):
            raise NirError(f"node {k} of the chain is {type(chain[k]).__name__}; the accelerator "
                           f"runs Linear -> IF/LIF pairs only")
        linear, neuron = pair
        if isinstance(linear, nir.Affine) and np.any(np.asarray(linear.bias) != 0):
            raise NirError("an Affine node has a nonzero bias; the accelerator has no biases")
        meta = dict(neuron.metadata.get(KEY, {}))
        theta = _integers("thresholds", neuron.v_threshold)
        if np.unique(theta).size != 1:
            raise NirError("thresholds differ between neurons of one layer; the accelerator has "
                           "one threshold per layer")
        meta.setdefault("threshold", int(theta.reshape(-1)[0]))
        if isinstance(neuron, nir.LIF) and "neuron" not in meta:
            tau = float(np.asarray(neuron.tau).reshape(-1)[0])
            meta.update(neuron="lif", leak_mode="factor",
                        leak=int(np.clip(round(256 * (1 - 1 / tau)), 0, 255)))
        weights = _integers("weights", linear.weight)
        bits = meta.get("weight_bits", max(2, int(np.abs(weights).max()).bit_length() + 1))
        meta["weight_bits"] = bits
        layers.append(Layer(weights=weights.astype(np.int16), **meta))
    fields = dict(graph.metadata.get(KEY, {})) if graph.metadata else {}
    try:
        return Network(layers=layers, **fields).validate()
    except (NetworkError, TypeError) as error:
        raise NirError(f"the NIR graph is not a valid accelerator network: {error}") from None


def save_nir(network: Network, path):
    """Write ``network`` as a NIR (HDF5) file."""
    import nir
    nir.write(path, to_nir(network))


def load_nir(path) -> Network:
    """Read a NIR file written by :func:`save_nir` (or another tool) as a :class:`Network`."""
    import nir
    return from_nir(nir.read(path))
