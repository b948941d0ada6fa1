"""The integer network that the accelerator runs, as ``docs/numerics.md`` defines it.

A :class:`Network` is plain data: a few network-wide fields and a list of :class:`Layer`. A
layer is dense, or a 2-D convolution when it carries a :class:`Conv` geometry; pooling on spikes
is a convolution with fixed weights (:func:`max_pool`, :func:`avg_pool`).
:meth:`Network.validate` checks every field against the ranges of the document and raises
:class:`NetworkError` naming the field and the fix; the model file loader, the compiler and the
golden model all call it, so that no code ever runs on an inconsistent network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ENCODERS", "READOUTS", "NEURONS", "LEAK_MODES", "RESETS",
    "MAX_UNITS", "MAX_MAP_UNITS", "CONV_LIMITS", "NetworkError", "Conv", "Layer", "Network",
    "weight_range", "check_conv", "max_pool", "avg_pool",
]

ENCODERS = ("direct", "hybrid", "rate")
READOUTS = ("first_spike", "max_membrane", "spike_count")
NEURONS = ("if", "lif")
LEAK_MODES = ("shift", "factor")
RESETS = ("subtract", "zero", "none")
MAX_UNITS = 65535       # neurons of a dense layer, inputs of any layer, classes
MAX_MAP_UNITS = 1 << 20  # neurons of a convolution's hidden map (numerics.md, section 8)
#: The range of each :class:`Conv` field; ``stride`` and ``padding`` depend on the kernel.
CONV_LIMITS = dict(in_channels=(1, 1024), height=(1, 1024), width=(1, 1024),
                   out_channels=(1, 1024), kernel=(1, 7), groups=(1, 1024))


class NetworkError(ValueError):
    """A network field is out of its range or inconsistent with another field."""


def _integer(name, value, lo, hi, fix=""):
    """Raise :class:`NetworkError` unless ``value`` is an integer in ``lo .. hi``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise NetworkError(f"{name} is {value!r}; it must be an integer")
    if not lo <= value <= hi:
        raise NetworkError(f"{name} is {value}; it must be in {lo} .. {hi}"
                           + (f" ({fix})" if fix else ""))


def check_conv(conv, where: str) -> None:
    """Raise :class:`NetworkError` naming the field of ``conv`` (a :class:`Conv`, called
    ``where``, as ``"layers[0].conv"``) that is out of its range or leaves the output map
    empty. The model file loader calls it before it sizes a layer's weights."""
    if not isinstance(conv, Conv):
        raise NetworkError(f"{where} is a {type(conv).__name__}, not a Conv; build the "
                           f"geometry with core.network.Conv")
    for name, (lo, hi) in CONV_LIMITS.items():
        if name != "groups":
            _integer(f"{where}.{name}", getattr(conv, name), lo, hi)
    _integer(f"{where}.stride", conv.stride, 1, conv.kernel,
             "a stride past the kernel skips inputs")
    _integer(f"{where}.padding", conv.padding, 0, conv.kernel - 1,
             "a padding of a whole kernel adds outputs that see only zeros")
    _integer(f"{where}.groups", conv.groups, 1, CONV_LIMITS["groups"][1])
    if conv.groups != 1 and not conv.groups == conv.in_channels == conv.out_channels:
        raise NetworkError(
            f"{where}.groups is {conv.groups}; it must be 1 (a full convolution) or "
            f"in_channels = out_channels = groups (depthwise, as pooling), but in_channels "
            f"is {conv.in_channels} and out_channels {conv.out_channels}")
    for axis, size, out in (("height", conv.height, conv.out_height),
                            ("width", conv.width, conv.out_width)):
        if out < 1:
            raise NetworkError(
                f"{where}.kernel is {conv.kernel}, larger than the padded {axis} "
                f"{size + 2 * conv.padding} ({axis} {size} + 2 x padding {conv.padding}), so "
                f"the output map is empty; shrink the kernel or raise the padding")


def weight_range(bits: int) -> tuple[int, int]:
    """Smallest and largest weight value of a ``bits``-bit weight (numerics.md, section 2)."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class Conv:
    """2-D convolution geometry of a layer (numerics.md, section 8, "Convolution").

    The input map is ``in_channels x height x width`` neurons (or pixels), the output map
    ``out_channels x out_height x out_width``; both are flattened channel-major, row-major:
    neuron ``(c, y, x)`` is index ``(c * H + y) * W + x``. Output neuron ``(o, y, x)`` sees the
    ``kernel x kernel`` window at rows ``y * stride - padding ..`` and columns
    ``x * stride - padding ..`` of the input channels of its group; positions outside the map
    are zeros. The fields are checked by :meth:`Network.validate`, not here, so that a bad
    model file gets the network's message naming the field.

    Parameters
    ----------
    in_channels : int, 1 .. 1024
    height, width : int, 1 .. 1024
        The input map's size.
    out_channels : int, 1 .. 1024
    kernel : int, 1 .. 7
        Square ``kernel x kernel`` windows.
    stride : int, 1 .. kernel
    padding : int, 0 .. kernel - 1
        Zeros on every side of the input map.
    groups : int
        1 (every output channel sees every input channel) or ``in_channels == out_channels``
        (depthwise: output channel ``c`` sees input channel ``c`` alone, as pooling does).
    """
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def n_in(self) -> int:
        return self.in_channels * self.height * self.width

    @property
    def n_out(self) -> int:
        return self.out_channels * self.out_height * self.out_width

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """``(out_channels, in_channels // groups, kernel, kernel)``: torch's Conv2d layout."""
        return (self.out_channels, self.in_channels // max(self.groups, 1), self.kernel,
                self.kernel)

    def fields(self) -> dict:
        """The eight geometry fields by name, as the model file stores them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(eq=False)
class Layer:
    """One layer: dense, or a 2-D convolution when ``conv`` is set.

    Parameters
    ----------
    weights : array of int, shape (n_out, n_in), or (out_channels, in_channels // groups, K, K)
        Dense: ``weights[j, i]`` connects input ``i`` to neuron ``j``. Convolution: the kernel,
        ``weights[o, c, ky, kx]`` in torch's Conv2d layout; :meth:`dense_weights` expands it.
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
        needed in hardware). Per neuron for a convolution too: a per-channel bias ``b`` is
        ``np.repeat(b, out_height * out_width)``.
    conv : None, or :class:`Conv`
        ``None``: a dense layer. Else the convolution's geometry, which gives ``n_in`` and
        ``n_out``.
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
    conv: Conv | None = None

    def __post_init__(self):
        self.weights = np.asarray(self.weights)
        if self.bias is not None:
            self.bias = np.asarray(self.bias)

    @property
    def n_in(self) -> int:
        if self.conv is not None:
            return self.conv.n_in
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        if self.conv is not None:
            return self.conv.n_out
        return int(self.weights.shape[0])

    def params(self) -> dict:
        """The scalar neuron fields, as stored in the model file header (not ``weights``,
        ``bias`` or ``conv``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("weights", "bias", "conv")}

    def fan_out(self) -> np.ndarray:
        """How many neurons of the layer each input reaches, int64 (n_in,): ``n_out`` for a
        dense layer; for a convolution, ``out_channels / groups`` times the kernel positions
        that cover the input (fewer at the borders of the map). Synaptic operations per event
        and the multiply-accumulates of a same-size ANN are counted with it."""
        if self.conv is None:
            return np.full(self.n_in, self.n_out, np.int64)
        c = self.conv

        def covering(size, out_size):  # windows covering each position along one axis
            offset = (np.arange(size)[:, None] - np.arange(out_size)[None, :] * c.stride
                      + c.padding)
            return ((offset >= 0) & (offset < c.kernel)).sum(axis=1)

        per_channel = np.outer(covering(c.height, c.out_height), covering(c.width, c.out_width))
        reach = (c.out_channels // c.groups) * per_channel.reshape(-1)
        return np.tile(reach, c.in_channels).astype(np.int64)

    def dense_weights(self) -> np.ndarray:
        """The layer as a dense ``(n_out, n_in)`` matrix, of the dtype of ``weights``.

        A dense layer returns ``weights`` itself. A convolution returns the matrix whose row
        ``(o * OH + y) * OW + x`` holds ``weights[o, c - g * Cg, ky, kx]`` in column
        ``(c * H + y * stride + ky - padding) * W + x * stride + kx - padding`` for every input
        channel ``c`` of ``o``'s group ``g`` and every kernel position inside the input map,
        and zeros elsewhere: numerics.md's definition, written out. The golden model's
        reference uses it, so it is the oracle of every convolution path. It holds
        ``n_out * n_in`` numbers: for small layers and tests.
        """
        if self.conv is None:
            return self.weights
        c = self.conv
        K, S, P, OH, OW = c.kernel, c.stride, c.padding, c.out_height, c.out_width
        Cg, Og = c.in_channels // c.groups, c.out_channels // c.groups
        # One axis per index of the sum: (o, c', ky, kx, y, x).
        o, ci, ky, kx, y, x = np.ix_(range(c.out_channels), range(Cg), range(K), range(K),
                                     range(OH), range(OW))
        channel = (o // Og) * Cg + ci          # the input channel c of o's group
        row_in, col_in = y * S + ky - P, x * S + kx - P
        inside = (row_in >= 0) & (row_in < c.height) & (col_in >= 0) & (col_in < c.width)
        neuron = (o * OH + y) * OW + x
        source = (channel * c.height + row_in) * c.width + col_in
        value = self.weights[:, :, :, :, None, None]
        neuron, source, inside, value = np.broadcast_arrays(neuron, source, inside, value)
        dense = np.zeros((self.n_out, self.n_in), self.weights.dtype)
        # A (neuron, input) pair comes from one kernel position at most, so plain assignment
        # (no accumulation) is exact.
        dense[neuron[inside], source[inside]] = value[inside]
        return dense

    def bias_or_zero(self) -> np.ndarray:
        """The bias as int64 (n_out,), zeros when there is none."""
        if self.bias is None:
            return np.zeros(self.n_out, np.int64)
        return self.bias.astype(np.int64)

    def __eq__(self, other):
        def same(a, b):
            return a.shape == b.shape and bool(np.array_equal(a, b))
        return (isinstance(other, Layer) and self.params() == other.params()
                and self.conv == other.conv and same(self.weights, other.weights)
                and (self.bias is None) == (other.bias is None)
                and (self.bias is None or same(self.bias, other.bias)))


@dataclass(eq=True)
class Network:
    """A chain of layers (dense or convolutions) with the network-wide fields of numerics.md,
    section 1."""
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

        integer = _integer
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
            last = index == len(self.layers) - 1
            if layer.conv is not None:
                self._validate_conv(index, last)
            elif w.ndim != 2 or 0 in w.shape:
                raise NetworkError(f"{where}.weights has shape {w.shape}; it must be a "
                                   f"non-empty (n_out, n_in) matrix")
            if not np.issubdtype(w.dtype, np.integer):
                raise NetworkError(f"{where}.weights has dtype {w.dtype}; quantize the weights "
                                   f"to integers first")
            if layer.conv is None:
                integer(f"{where}.n_in", layer.n_in, 1, MAX_UNITS)
                integer(f"{where}.n_out", layer.n_out, 1, MAX_UNITS)
            previous = self.layers[index - 1] if index else None
            if previous is not None and layer.conv is not None and previous.conv is not None:
                have = (layer.conv.in_channels, layer.conv.height, layer.conv.width)
                given = (previous.conv.out_channels, previous.conv.out_height,
                         previous.conv.out_width)
                if have != given:
                    raise NetworkError(
                        f"{where}.conv reads a {' x '.join(map(str, have))} map (in_channels x "
                        f"height x width) but layers[{index - 1}] outputs "
                        f"{' x '.join(map(str, given))}; set in_channels, height and width to "
                        f"the previous layer's output map")
            if previous is not None and layer.n_in != previous.n_out:
                raise NetworkError(
                    f"{where}.n_in is {layer.n_in} but layers[{index - 1}].n_out is "
                    f"{previous.n_out}; consecutive layers must chain")
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

    def _validate_conv(self, index: int, last: bool) -> None:
        """Check ``layers[index].conv``, its map sizes and the shape of its kernel."""
        where = f"layers[{index}]"
        layer = self.layers[index]
        c = layer.conv
        check_conv(c, f"{where}.conv")
        _integer(f"{where}.n_in", c.n_in, 1, MAX_UNITS if index == 0 else MAX_MAP_UNITS,
                "the pixels of an image" if index == 0 else "in_channels x height x width")
        _integer(f"{where}.n_out", c.n_out, 1, MAX_UNITS if last else MAX_MAP_UNITS,
                "the output layer's neurons are the classes" if last else
                "out_channels x out_height x out_width")
        shape = layer.weights.shape
        if shape != c.weight_shape:
            raise NetworkError(
                f"{where}.weights has shape {shape}; a convolution needs (out_channels, "
                f"in_channels // groups, kernel, kernel) = {c.weight_shape}")

    def require_dense(self, what: str, fix: str = "") -> "Network":
        """Raise :class:`NetworkError` if some layer is a convolution, which ``what`` (a
        phrase such as ``"the NIR export"``) does not handle, with ``fix`` (what to do
        instead) after the reason; return ``self`` otherwise. The accelerator itself runs conv
        layers (``Config.conv``)."""
        for index, layer in enumerate(self.layers):
            if layer.conv is not None:
                raise NetworkError(f"layers[{index}] is a convolution; {what} handles dense "
                                   f"layers only" + (f": {fix}" if fix else ""))
        return self


def max_pool(channels: int, height: int, width: int, window: int, stride: int | None = None,
             fire_once: bool = True) -> Layer:
    """Max pooling on spikes, as a depthwise convolution with fixed weights.

    Output neuron ``(c, y, x)`` is an integrate-and-fire neuron with threshold 1, reset to
    zero, that sums the ``window x window`` spikes of channel ``c`` with weight 1: it spikes
    in a step iff some input of its window spikes in that step (an OR). With ``fire_once``
    it spikes once, in the step of the earliest spike of its window: max pooling of spike
    times, which suits fire-once networks.

    Parameters
    ----------
    channels, height, width : int
        The input map (the output has the same channels).
    window : int, 1 .. 7
        The pooling window, square.
    stride : None or int
        ``None`` is ``window`` (windows that do not overlap).
    fire_once : bool
    """
    geometry = Conv(channels, height, width, channels, window, stride or window, 0,
                    groups=channels)
    return Layer(weights=np.ones(geometry.weight_shape, np.int8), weight_bits=2, threshold=1,
                 neuron="if", reset="zero", fire_once=fire_once, conv=geometry)


def avg_pool(channels: int, height: int, width: int, window: int, stride: int | None = None,
             threshold: int | None = None, fire_once: bool = False) -> Layer:
    """Average pooling on spikes, as a depthwise convolution with fixed weights.

    Output neuron ``(c, y, x)`` is an integrate-and-fire neuron that sums the
    ``window x window`` spikes of channel ``c`` with weight 1 against ``threshold``, and
    subtracts the threshold when it fires: it fires once per ``threshold`` input spikes of its
    window. The default threshold ``window * window`` is the average of the window as
    ANN-to-SNN conversion builds it (weights ``1 / window**2`` against a threshold of 1,
    scaled to integers).

    Parameters
    ----------
    channels, height, width : int
        The input map (the output has the same channels).
    window : int, 1 .. 7
    stride : None or int
        ``None`` is ``window``.
    threshold : None or int
        ``None`` is ``window * window``.
    fire_once : bool
    """
    geometry = Conv(channels, height, width, channels, window, stride or window, 0,
                    groups=channels)
    return Layer(weights=np.ones(geometry.weight_shape, np.int8), weight_bits=2,
                 threshold=window * window if threshold is None else threshold, neuron="if",
                 reset="subtract", fire_once=fire_once, conv=geometry)
