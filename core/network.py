"""The integer network that the accelerator runs, as ``docs/numerics.md`` defines it.

A :class:`Network` is plain data: a few network-wide fields and a list of :class:`Layer`.
:meth:`Network.validate` checks every field against the ranges of the document and raises
:class:`NetworkError` naming the field and the fix; the model file loader, the compiler and the
golden model all call it, so that no code ever runs on an inconsistent network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ENCODERS", "READOUTS", "NEURONS", "LEAK_MODES", "RESETS",
    "MAX_UNITS", "NetworkError", "Layer", "Network", "weight_range",
]

ENCODERS = ("direct", "hybrid", "rate")
READOUTS = ("first_spike", "max_membrane", "spike_count")
NEURONS = ("if", "lif")
LEAK_MODES = ("shift", "factor")
RESETS = ("subtract", "zero", "none")
MAX_UNITS = 65535


class NetworkError(ValueError):
    """A network field is out of its range or inconsistent with another field."""


def weight_range(bits: int) -> tuple[int, int]:
    """Smallest and largest weight value of a ``bits``-bit weight (numerics.md, section 2)."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(eq=False)
class Layer:
    """One dense layer.

    Parameters
    ----------
    weights : array of int, shape (n_out, n_in)
        ``weights[j, i]`` connects input ``i`` to neuron ``j``.
    weight_bits : int, 1 .. 8
    threshold : int, 1 .. 2**(M-1) - 1
    neuron : ``"if"`` or ``"lif"``
    leak_mode : ``"shift"`` or ``"factor"``; used by ``"lif"`` only
    leak : int; shift amount 1 .. M-1 or factor 0 .. 255; used by ``"lif"`` only
    reset : ``"subtract"``, ``"zero"`` or ``"none"``
    fire_once : bool
    bias : None, or array of int, shape (n_out,)
        A constant current added to neuron ``j`` every step (numerics.md, section 3, step 2),
        in the signed ``M``-bit range. ``None`` is no bias (all zero, and no bias memory is
        needed in hardware).
    """
    weights: np.ndarray
    weight_bits: int = 4
    threshold: int = 1
    neuron: str = "if"
    leak_mode: str = "shift"
    leak: int = 1
    reset: str = "subtract"
    fire_once: bool = True
    bias: np.ndarray | None = None

    def __post_init__(self):
        self.weights = np.asarray(self.weights)
        if self.bias is not None:
            self.bias = np.asarray(self.bias)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    def params(self) -> dict:
        """The scalar fields, as stored in the model file header."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("weights", "bias")}

    def bias_or_zero(self) -> np.ndarray:
        """The bias as int64 (n_out,), zeros when there is none."""
        if self.bias is None:
            return np.zeros(self.n_out, np.int64)
        return self.bias.astype(np.int64)

    def __eq__(self, other):
        def same(a, b):
            return a.shape == b.shape and bool(np.array_equal(a, b))
        return (isinstance(other, Layer) and self.params() == other.params()
                and same(self.weights, other.weights)
                and (self.bias is None) == (other.bias is None)
                and (self.bias is None or same(self.bias, other.bias)))


@dataclass(eq=True)
class Network:
    """A chain of dense layers with the network-wide fields of numerics.md, section 1."""
    layers: list[Layer]
    membrane_bits: int = 16
    timesteps: int = 4
    encoder: str = "hybrid"
    lfsr_seed: int = 0xACE1
    readout: str = "first_spike"
    name: str = ""

    @property
    def sizes(self) -> list[int]:
        """Layer sizes, inputs first: ``[n_in(0), n_out(0), ..., n_out(L-1)]``."""
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_classes(self) -> int:
        return self.layers[-1].n_out

    @property
    def has_bias(self) -> bool:
        """Some layer has a bias (the accelerator needs its bias memory)."""
        return any(layer.bias is not None for layer in self.layers)

    def validate(self) -> "Network":
        """Check every field; return ``self`` or raise :class:`NetworkError`."""
        def choice(name, value, choices):
            if value not in choices:
                raise NetworkError(f"{name} is {value!r}; it must be one of "
                                   f"{', '.join(map(repr, choices))}")

        def integer(name, value, lo, hi, fix=""):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise NetworkError(f"{name} is {value!r}; it must be an integer")
            if not lo <= value <= hi:
                raise NetworkError(f"{name} is {value}; it must be in {lo} .. {hi}"
                                   + (f" ({fix})" if fix else ""))

        integer("membrane_bits", self.membrane_bits, 8, 32)
        integer("timesteps", self.timesteps, 1, 255)
        choice("encoder", self.encoder, ENCODERS)
        integer("lfsr_seed", self.lfsr_seed, 1, 0xFFFF, "an LFSR seeded with 0 never moves")
        choice("readout", self.readout, READOUTS)
        if not isinstance(self.layers, list) or not self.layers:
            raise NetworkError("layers is empty; a network needs at least one layer")
        vmax = (1 << (self.membrane_bits - 1)) - 1
        for index, layer in enumerate(self.layers):
            where = f"layers[{index}]"
            if not isinstance(layer, Layer):
                raise NetworkError(f"{where} is a {type(layer).__name__}, not a Layer")
            w = layer.weights
            if w.ndim != 2 or 0 in w.shape:
                raise NetworkError(f"{where}.weights has shape {w.shape}; it must be a "
                                   f"non-empty (n_out, n_in) matrix")
            if not np.issubdtype(w.dtype, np.integer):
                raise NetworkError(f"{where}.weights has dtype {w.dtype}; quantize the weights "
                                   f"to integers first")
            integer(f"{where}.n_in", layer.n_in, 1, MAX_UNITS)
            integer(f"{where}.n_out", layer.n_out, 1, MAX_UNITS)
            if index and layer.n_in != self.layers[index - 1].n_out:
                raise NetworkError(
                    f"{where}.n_in is {layer.n_in} but layers[{index - 1}].n_out is "
                    f"{self.layers[index - 1].n_out}; consecutive layers must chain")
            integer(f"{where}.weight_bits", layer.weight_bits, 1, 8)
            lo, hi = weight_range(layer.weight_bits)
            if w.min() < lo or w.max() > hi:
                bad = int(w.min()) if w.min() < lo else int(w.max())
                raise NetworkError(
                    f"{where}.weights holds {bad}, outside the {layer.weight_bits}-bit range "
                    f"{lo} .. {hi}; requantize or raise weight_bits")
            if layer.weight_bits == 1 and np.any(w == 0):
                raise NetworkError(f"{where}.weights holds 0, but 1-bit weights are -1 or +1; "
                                   f"use weight_bits >= 2 for sparse weights")
            if layer.bias is not None:
                b = layer.bias
                if b.shape != (layer.n_out,):
                    raise NetworkError(f"{where}.bias has shape {b.shape}; it must hold one "
                                       f"value per neuron, shape ({layer.n_out},)")
                if not np.issubdtype(b.dtype, np.integer):
                    raise NetworkError(f"{where}.bias has dtype {b.dtype}; quantize the biases "
                                       f"to integers first")
                if b.min() < -vmax - 1 or b.max() > vmax:
                    bad = int(b.min()) if b.min() < -vmax - 1 else int(b.max())
                    raise NetworkError(
                        f"{where}.bias holds {bad}, outside the {self.membrane_bits}-bit "
                        f"membrane range {-vmax - 1} .. {vmax}; rescale the layer or raise "
                        f"membrane_bits")
            integer(f"{where}.threshold", layer.threshold, 1, vmax,
                    f"the largest value of a {self.membrane_bits}-bit membrane")
            choice(f"{where}.neuron", layer.neuron, NEURONS)
            choice(f"{where}.leak_mode", layer.leak_mode, LEAK_MODES)
            if layer.leak_mode == "shift":
                integer(f"{where}.leak", layer.leak, 1, self.membrane_bits - 1,
                        "a shift leak subtracts v >> leak")
            else:
                integer(f"{where}.leak", layer.leak, 0, 255,
                        "a factor leak multiplies by leak / 256")
            choice(f"{where}.reset", layer.reset, RESETS)
            if not isinstance(layer.fire_once, (bool, np.bool_)):
                raise NetworkError(f"{where}.fire_once is {layer.fire_once!r}; it must be "
                                   f"true or false")
        return self
