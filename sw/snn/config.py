"""The training model's configuration: its layers (dense, convolution, max pooling on
spikes) and the network options, checked against ``docs/numerics.md``'s choices
(:class:`LayerSpec`, :class:`SNNConfig`; :class:`sw.snn.SNN` is built from one)."""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict

from core.network import ENCODERS, READOUTS, NEURONS, LEAK_MODES, RESETS

from .surrogate import SURROGATES

__all__ = ["LayerSpec", "SNNConfig", "KINDS", "MAX_KERNEL"]

#: Layer kinds of the training model: fully connected, 2-D convolution, max pooling on spikes.
KINDS = ("dense", "conv", "pool")
#: Largest convolution kernel and pooling window (docs/numerics.md, section "Convolution").
MAX_KERNEL = 7


@dataclass
class LayerSpec:
    """One layer of the training model: dense, convolution or max pooling on spikes.

    Parameters
    ----------
    n_out : neurons of a ``"dense"`` layer; output channels of a ``"conv"`` layer; unused by
        a ``"pool"`` layer (its channels are its input's; give 0)
    neuron : ``"if"`` or ``"lif"``
    leak_mode : ``"factor"`` (trainable, exported as ``leak = round(256 * sigmoid(rho))``) or
        ``"shift"`` (fixed shift amount ``leak``)
    leak : initial leak factor in (0, 1) for ``factor``; shift amount (int) for ``shift``
    train_leak : learn the leak factor (DIET-SNN); ``factor`` mode only
    threshold : initial threshold in float units (ANN conversion overwrites it)
    train_threshold : learn the threshold (DIET-SNN)
    reset : ``"subtract"``, ``"zero"`` or ``"none"``
    fire_once : at most one spike per neuron and inference
    kind : ``"dense"``, ``"conv"`` (a ``kernel`` x ``kernel`` convolution of the input map,
        ``stride``, zero ``padding``; exported as ``Layer(conv=Conv(...))``) or ``"pool"``
        (max pooling of the input spikes over ``kernel`` x ``kernel`` windows at ``stride``:
        a neuron spikes in a step iff some input of its window does, and with ``fire_once``
        only the first time, at the earliest spike of the window; exported as
        ``core.network.max_pool``; its threshold, leak and neuron fields are unused)
    kernel : kernel or window side, 1 .. 7 (``"conv"`` and ``"pool"``)
    stride : 1 .. kernel; 0 means 1 for ``"conv"`` and ``kernel`` for ``"pool"``
    padding : zeros on every side of a ``"conv"`` input map, 0 .. kernel - 1
    """
    n_out: int
    neuron: str = "if"
    leak_mode: str = "factor"
    leak: float = 0.9
    train_leak: bool = True
    threshold: float = 1.0
    train_threshold: bool = True
    reset: str = "subtract"
    fire_once: bool = True
    kind: str = "dense"
    kernel: int = 0
    stride: int = 0
    padding: int = 0

    @property
    def step(self) -> int:
        """The stride, its default resolved."""
        return self.stride or (self.kernel if self.kind == "pool" else 1)


@dataclass
class SNNConfig:
    """Network-wide options of the training model (see :class:`LayerSpec` for layers).

    ``weight_bits`` None trains float weights only; 1 .. 8 enables quantization to that width.
    ``surrogate`` is ``"linear"`` (``gamma``, ``width``) or ``"stdb"`` (``alpha``, ``beta``).
    ``input_shape`` is the ``(channels, height, width)`` of the input image that ``"conv"``
    and ``"pool"`` layers see (the ``n_inputs`` pixels channel-major, row-major); empty: one
    channel of a square image (``(1, 28, 28)`` for 784 inputs). A dense layer after a map
    reads it flattened in the same order.
    """
    n_inputs: int
    layers: list
    timesteps: int = 4
    encoder: str = "hybrid"
    lfsr_seed: int = 0xACE1
    readout: str = "first_spike"
    membrane_bits: int = 16
    weight_bits: int | None = 4
    surrogate: str = "linear"
    gamma: float = 1.0
    width: float = 1.0
    alpha: float = 0.3
    beta: float = 0.01
    input_shape: tuple = ()

    def __post_init__(self):
        self.layers = [l if isinstance(l, LayerSpec) else LayerSpec(**l) for l in self.layers]
        self.input_shape = tuple(int(d) for d in self.input_shape)
        self.check()

    def map_shape(self) -> tuple:
        """``(C, H, W)`` of the input image: ``input_shape``, or one square channel."""
        if self.input_shape:
            return self.input_shape
        side = math.isqrt(self.n_inputs)
        if side * side != self.n_inputs:
            raise ValueError(f"{self.n_inputs} inputs are not a square image; give "
                             f"input_shape = (channels, height, width) for conv layers")
        return (1, side, side)

    def shapes(self) -> list:
        """Each layer's output shape: ``(C, H, W)`` after a conv or pool layer, ``(n,)``
        after a dense one (inputs first: ``shapes()[k]`` is layer ``k``'s input). Raises
        ``ValueError`` for a geometry that does not chain."""
        maps = any(l.kind != "dense" for l in self.layers)
        shapes = [self.map_shape() if maps else (self.n_inputs,)]
        if maps and math.prod(shapes[0]) != self.n_inputs:
            raise ValueError(f"input_shape {shapes[0]} holds {math.prod(shapes[0])} pixels, "
                             f"but n_inputs is {self.n_inputs}")
        for k, l in enumerate(self.layers):
            where, shape = f"layers[{k}]", shapes[-1]
            if l.kind == "dense":
                if l.n_out < 1:
                    raise ValueError(f"{where}.n_out is {l.n_out}; a dense layer needs neurons")
                shapes.append((l.n_out,))
                continue
            if len(shape) != 3:
                raise ValueError(f"{where} is a {l.kind} layer after a dense layer; conv and "
                                 f"pool layers come before the dense layers")
            if not 1 <= l.kernel <= MAX_KERNEL:
                raise ValueError(f"{where}.kernel is {l.kernel}; it must be in 1 .. "
                                 f"{MAX_KERNEL}")
            if not 1 <= l.step <= l.kernel:
                raise ValueError(f"{where}.stride is {l.stride}; it must be in 1 .. kernel "
                                 f"({l.kernel})")
            if not 0 <= l.padding < l.kernel or (l.kind == "pool" and l.padding):
                raise ValueError(f"{where}.padding is {l.padding}; it must be in 0 .. kernel "
                                 f"- 1 for a conv layer and 0 for a pool layer")
            c, h, w = shape
            oh = (h + 2 * l.padding - l.kernel) // l.step + 1
            ow = (w + 2 * l.padding - l.kernel) // l.step + 1
            if oh < 1 or ow < 1:
                raise ValueError(f"{where}: a {l.kernel}x{l.kernel} {l.kind} does not fit the "
                                 f"{h}x{w} map (padding {l.padding})")
            if l.kind == "conv" and l.n_out < 1:
                raise ValueError(f"{where}.n_out (output channels) is {l.n_out}; it must be 1 "
                                 f"or more")
            shapes.append((l.n_out if l.kind == "conv" else c, oh, ow))
        return shapes

    def sizes(self) -> list:
        """Neurons per layer, inputs first: ``[n_inputs, n(0), ..., n(L-1)]``."""
        return [math.prod(s) for s in self.shapes()]

    def check(self):
        def choice(name, value, choices):
            if value not in choices:
                raise ValueError(f"{name} is {value!r}; it must be one of "
                                 f"{', '.join(map(repr, choices))}")
        if not self.layers:
            raise ValueError("layers is empty; give at least the output layer")
        if not 1 <= self.timesteps <= 255:
            raise ValueError(f"timesteps is {self.timesteps}; it must be in 1 .. 255")
        if not 8 <= self.membrane_bits <= 24:
            raise ValueError(f"membrane_bits is {self.membrane_bits}; the training model "
                             f"supports 8 .. 24 (float32 stays exact up to 24 bits)")
        if self.weight_bits is not None and not 1 <= self.weight_bits <= 8:
            raise ValueError(f"weight_bits is {self.weight_bits}; it must be in 1 .. 8 "
                             f"(or None for float weights)")
        choice("encoder", self.encoder, ENCODERS)
        choice("readout", self.readout, READOUTS)
        choice("surrogate", self.surrogate, SURROGATES)
        for k, l in enumerate(self.layers):
            choice(f"layers[{k}].kind", l.kind, KINDS)
            choice(f"layers[{k}].neuron", l.neuron, NEURONS)
            choice(f"layers[{k}].leak_mode", l.leak_mode, LEAK_MODES)
            choice(f"layers[{k}].reset", l.reset, RESETS)
            if l.neuron == "lif" and l.leak_mode == "factor" and not 0.0 < l.leak < 1.0:
                raise ValueError(f"layers[{k}].leak is {l.leak}; a factor leak starts in (0, 1)")
            if l.neuron == "lif" and l.leak_mode == "shift" and (
                    int(l.leak) != l.leak or not 1 <= l.leak < self.membrane_bits):
                raise ValueError(f"layers[{k}].leak is {l.leak}; a shift leak is an integer in "
                                 f"1 .. {self.membrane_bits - 1}")
        if self.layers[0].kind == "pool":
            raise ValueError("layers[0] is a pool layer; pooling acts on spikes, so a conv or "
                             "dense layer comes first")
        if self.layers[-1].kind != "dense":
            raise ValueError(f"the last layer is a {self.layers[-1].kind} layer; the output "
                             f"layer (the classes) must be dense")
        self.shapes()

    def to_dict(self) -> dict:
        return asdict(self)
