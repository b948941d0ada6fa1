"""Generator parameters of the spiking accelerator (``hw.accel.Accelerator``).

A :class:`Config` fixes everything that is decided when the gateware is generated: how many
neuron columns work in parallel, how wide weights and membranes may be, and how large a
network the on-chip memories can hold. Every field is checked when the object is built, with a
message that names the field and the allowed range. :meth:`Config.check_fits` says whether a
:class:`~core.network.Network` fits, and if not, what is too big and which generator option to
raise.

Named configurations (:data:`NAMED`): ``"mnist"`` (the default; 784-256-10 or
784-256-128-10 with 4-bit weights on an Arty A7-35), ``"mnist-cnn"`` (``"mnist"`` with
convolution layers: runs the MLP and the MNIST CNN), ``"cifar10-vgg"`` (the VGG-style CIFAR-10
network of ``configs/cifar10_vgg.toml`` on an Artix-7 100T), ``"tiny"`` (small memories, trace
port on, for fast simulation tests) and ``"tiny-conv"`` (``"tiny"`` with convolution layers).

Every command line takes a configuration the same way, ``--config NAME`` and any number of
``--set FIELD=VALUE``: :func:`add_config_arguments` declares them and :func:`resolve` turns them
into a :class:`Config`, with one :class:`ConfigError` message that lists the valid names,
fields or values.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["ConfigError", "FitError", "Config", "MapOrder", "map_orders", "membrane_index",
           "conv_current_bits", "kernel_row_words", "ENCODER_CODES",
           "READOUT_CODES", "NAMED", "parse_overrides", "resolve", "add_config_arguments"]

#: Encoder names and the codes of the ``NET_ENCODER`` register.
ENCODER_CODES = {"direct": 0, "hybrid": 1, "rate": 2}
#: Read-out names and the codes of the ``NET_READOUT`` register.
READOUT_CODES = {"first_spike": 0, "max_membrane": 1, "spike_count": 2}


class ConfigError(ValueError):
    """A generator parameter is out of its range."""


class FitError(ValueError):
    """A network does not fit a hardware configuration."""


def _pow2(value: int) -> bool:
    return value >= 1 and value & (value - 1) == 0


def kernel_row_words(kernel, banks: int):
    """``ceil(kernel / banks)``, the weight-memory words of a kernel row of ``kernel`` columns
    with ``banks`` (a power of two) columns a word (``Config.conv_banks``). A shift and an
    add, so that ``kernel`` may also be a gateware value (the address generator's and the
    sequencer's register)."""
    return (kernel + (banks - 1)) >> _clog2(banks)


def _clog2(value: int) -> int:
    return max(0, (value - 1).bit_length())


def _has_bias(layer) -> bool:
    """Whether ``layer`` (a ``core.network.Layer``) adds a bias: a bias of zeros needs no
    bias memory, the hardware without one computes the same."""
    return layer.bias is not None and bool(np.any(layer.bias != 0))


def _conv(layer):
    """The ``core.network.Conv`` geometry of a layer, None for a dense layer."""
    return getattr(layer, "conv", None)


def conv_current_bits(layer, first: bool) -> int:
    """Width of a signed sum that holds any current of conv ``layer`` (a
    ``core.network.Layer``) exactly: an output position's current is the sum over the kernel
    of ``magnitude * w``, the magnitudes 0 .. 255 in layer 0 (``first``) and 0 or 1 after it,
    so that it lies between the most negative and the most positive sum of one output
    channel's weights, times 255 in layer 0."""
    weights = np.asarray(layer.weights, dtype=np.int64).reshape(len(layer.weights), -1)
    magnitude = 255 if first else 1
    high = int(np.clip(weights, 0, None).sum(axis=1).max()) * magnitude
    low = int(np.clip(weights, None, 0).sum(axis=1).min()) * magnitude
    return max(high.bit_length(), (-low - 1).bit_length() if low < 0 else 0) + 1


@dataclass(frozen=True)
class MapOrder:
    """How a layer's inputs or outputs are numbered in the gateware.

    A flat vector (``shape`` None) keeps the logical order. A map that a conv layer reads or
    writes is in the *hardware order* of ``docs/architecture.md`` ("Convolution"):
    ``h(c, y, x) = ((y << w_bits) | x) << c_bits | c``, the logical index being numerics'
    ``(c * H + y) * W + x``; the padding indices (``x >= W`` or ``c >= C``) belong to no
    logical neuron.

    Attributes
    ----------
    n : int
        Logical count.
    shape : (C, H, W) or None
    c_bits, w_bits : int
        Field widths of the channel and the column (``2**c_bits >= C``, ``2**w_bits >= W``).
    """
    n: int
    shape: tuple | None = None
    c_bits: int = 0
    w_bits: int = 0

    @property
    def size(self) -> int:
        """Indices in hardware order, padding included (the ``N_IN``/``N_OUT`` register)."""
        return self.n if self.shape is None else self.shape[1] << (self.w_bits + self.c_bits)

    @property
    def identity(self) -> bool:
        """The hardware order is the logical order (no padding, no permutation)."""
        return self.shape is None or (self.c_bits == 0 and self.shape[2] == 1 << self.w_bits)

    def hardware_index(self) -> np.ndarray:
        """The hardware index of each logical index, int64 (n,)."""
        if self.shape is None:
            return np.arange(self.n, dtype=np.int64)
        channels, height, width = self.shape
        c, y, x = np.meshgrid(np.arange(channels), np.arange(height), np.arange(width),
                              indexing="ij")
        return (((y << self.w_bits) | x) << self.c_bits | c).reshape(-1).astype(np.int64)


def membrane_index(layer, outputs: MapOrder) -> np.ndarray:
    """Where each of ``layer``'s neurons (logical order) lies in the membrane memory (and the
    bias memory) with ``Config.conv``, counted in neurons from the layer's first word times
    ``U`` (``docs/architecture.md``, "Convolution"), int64 (n,).

    A conv or pool layer's output map (``outputs``, from :func:`map_orders`) is stored without
    its padding columns: neuron ``(c, y, x)`` at ``((y * W + x) << c_bits) | c``, so that chunk
    ``cc`` of position ``(y, x)`` is word ``(y * W + x) * 2**c_bits / U + cc``. A dense layer's
    neurons lie at their hardware index. A conv layer's words are ``H * W * 2**c_bits / U``,
    every position's chunks (:meth:`Config.membrane_sizes`)."""
    if _conv(layer) is None:
        return outputs.hardware_index()
    channels, height, width = outputs.shape
    c, y, x = np.meshgrid(np.arange(channels), np.arange(height), np.arange(width),
                          indexing="ij")
    return ((y * width + x) << outputs.c_bits | c).reshape(-1).astype(np.int64)


def _membrane_neurons(layer, outputs: MapOrder) -> int:
    """Neurons of the membrane memory's words of ``layer`` (:func:`membrane_index`), padding
    included."""
    if _conv(layer) is None:
        return outputs.size
    return outputs.shape[1] * outputs.shape[2] << outputs.c_bits


def map_orders(network, units: int) -> list[tuple[MapOrder, MapOrder]]:
    """``(inputs, outputs)`` of each layer of ``network`` in the gateware's order, for ``units``
    neuron units: a conv layer's output map pads its channels to at least ``units`` (a chunk
    of ``U`` neurons is ``U`` channels of one position); the input of a conv layer is in the
    hardware order of its map, whatever produced it (the image, a dense layer, a conv layer);
    every other vector is flat."""
    layers = network.layers
    outs = []
    for index, layer in enumerate(layers):
        conv = _conv(layer)
        after = _conv(layers[index + 1]) if index + 1 < len(layers) else None
        if conv is not None:
            outs.append(MapOrder(layer.n_out, (conv.out_channels, conv.out_height,
                                               conv.out_width),
                                 max(_clog2(conv.out_channels), _clog2(units)),
                                 _clog2(conv.out_width)))
        elif after is not None:
            outs.append(MapOrder(layer.n_out, (after.in_channels, after.height, after.width),
                                 _clog2(after.in_channels), _clog2(after.width)))
        else:
            outs.append(MapOrder(layer.n_out))
    first = _conv(layers[0])
    inputs = (MapOrder(layers[0].n_in, (first.in_channels, first.height, first.width),
                       _clog2(first.in_channels), _clog2(first.width))
              if first is not None else MapOrder(layers[0].n_in))
    return list(zip([inputs] + outs[:-1], outs))


@dataclass(frozen=True)
class Config:
    """Generator parameters.

    Parameters
    ----------
    lanes : int, power of two, 1 .. 1024
        ``P``: neuron columns that integrate ``K`` inputs per cycle. One weight-memory word
        holds the ``K * P`` weights of ``K`` consecutive inputs for a block of ``P`` neurons.
    neuron_units : int, power of two, 1 .. lanes
        ``U``: neurons updated (leak, saturate, fire, reset) per cycle after a block has
        integrated its events. Also the width of one trace record.
    pixels_per_cycle : int, power of two, 4 .. 64
        ``S``: pixels the layer-0 encoder examines per cycle (width of the pixel memory).
    inputs_per_cycle : int, 1 or 2
        ``K``: inputs applied per cycle. The inputs form groups of ``K`` consecutive indices;
        a group with at least one event costs one integration cycle, and each lane multiplies
        and adds ``K`` products per cycle (``K`` DSP48s for a DSP lane). ``K = 2`` roughly
        halves layer 0's integration cycles for images, whose neighbouring pixels light up
        together, at twice the multipliers. ``neuron_units`` and ``pixels_per_cycle`` must be
        multiples of ``K``.
    weight_bits : int, 1 .. 8
        Width of a weight in the weight memory. A layer with narrower weights is stored at this
        width as its decoded values (1-bit weights become -1/+1).
    membrane_bits : int, 8 .. 32
        Widest membrane a network may use (``M``); a network with a narrower ``M`` saturates at
        its own width.
    max_layers : int, 1 .. 16
    max_neurons : int, 1 .. 4096 (65535 with ``conv``)
        Most neurons in one layer (counted in the hardware order of a map, padding included).
    max_inputs : int, 1 .. 16384
        Most inputs (pixels) of layer 0.
    max_timesteps : int, 1 .. 255
    weight_words : int, 1 .. 65536
        Depth of the weight memory in words of ``inputs_per_cycle * lanes * weight_bits``
        bits. A layer needs ``ceil(n_in / inputs_per_cycle) * ceil(n_out / lanes)`` words.
    dsp_lanes : int, 0 .. lanes, or None (``min(lanes, 78)``)
        Lanes whose multiply-accumulate is written for DSP slices (a plain product that
        synthesis packs with the accumulator into one DSP48); the others use LUT arithmetic
        (radix-4 Booth). The default fits the whole board top in the xc7a35t's 90 DSP48E1
        with one to spare: 78 lanes, the neuron units' leak multipliers, the hybrid bound
        search and the bridge's upload checksum (80 lanes made the Arty A7-35 top need 91).
    encoders : tuple of str
        Encoders the gateware implements (subset of ``direct``, ``hybrid``, ``rate``). The
        default leaves out ``rate``, which the training methods use only for comparison: its
        LFSR draws for a row of pixels cost about 250 LUTs on the Artix-7.
    trace : bool
        Add the ``trace`` output port (co-simulation only; costs no logic when off).
    bias : bool
        Build the bias memory: a per-neuron constant current added every step
        (``docs/numerics.md``), loaded through the bias window. Costs no logic when off; a
        network with a nonzero bias needs it.
    spike_count : bool
        Count the output neurons' spikes and build the ``spike_count`` read-out (the class is
        the neuron with the most spikes, lowest index on ties); the counts are readable in the
        result window. Costs no logic when off; a ``spike_count`` network needs it.
    conv : bool
        Build convolution layers (``docs/architecture.md``, "Convolution"): the address
        generator, the current memory and the conv update, beside the dense datapath, so that
        one bitstream runs dense and convolutional networks. Costs no logic when off; a
        network with a conv layer needs it. Needs ``inputs_per_cycle`` 1.
    conv_lanes : int, power of two, neuron_units .. lanes, or None (``min(lanes,
        max(16, neuron_units))``)
        ``PC``: output channels of a conv layer integrated at once (the first ``PC`` lanes);
        the width of the current memory's words (``PC * acc_bits`` bits).
    conv_banks : int, power of two, 1 .. 8
        ``B``: banks of the current memory, by position modulo ``B``, so that one cycle adds
        up to ``B`` kernel positions of an event's kernel row (consecutive output columns,
        one in each bank), each on its own ``conv_lanes`` lanes of the word; a kernel word
        holds ``B`` kernel columns (``docs/architecture.md``, "Banks of the current
        memory"). ``B * conv_lanes`` must not exceed ``lanes``; ``B > 1`` puts the banks in
        distributed RAM.
    conv_positions : int, power of two, 1 .. 65536
        Depth of the current memory: the output positions of a conv layer integrated at once,
        counted in the hardware order (``out_height * 2**ceil(log2(out_width))`` for a whole
        map). A larger map is integrated in bands of ``conv_positions >> out_w_bits`` rows
        (:meth:`conv_bands`), each replaying the step's events; one padded row must fit.
    membrane_words : int, 1 .. 65536, or None (``max_layers * chunks_per_layer``)
        With ``conv``: depth of the membrane memory in words of ``neuron_units`` neurons,
        shared by the layers from the bases the compiler gives them (``NET_MEMBRANE_BASE``),
        since a network's maps differ in size by orders of magnitude. Without ``conv`` each
        layer has ``chunks_per_layer`` words of its own and this field is not used.
    max_classes : int, 1 .. max_neurons, or None (``max_neurons``)
        Most neurons of the output layer: the depth of the result memory (and of the count
        memory of ``spike_count``), ``ceil(max_classes / U)`` words rounded up to a power of
        two, and the length of the result window's arrays. Only the output layer's neurons
        are ever written there, so a network whose hidden layers are large (a conv map) does
        not need a result memory of ``max_neurons``.
    conv_acc_bits : int, 2 .. acc_bits, or None (``acc_bits``)
        With ``conv``: width of a sum in the current memory (``conv_lanes * conv_acc_bits``
        bits per word). A conv layer's current at a position is bounded by its kernel's
        weights: ``check_fits`` refuses a network whose bound (``Config.conv_current_bits``)
        needs more bits. Sums wrap modulo ``2**conv_acc_bits`` while partial, so only the
        final sum must fit.
    stream : bool
        Overlap the host link with the computation (``docs/memory-map.md``, "Input queue"):
        a pixel memory of two halves (the host writes one while an inference reads the
        other; ``CONTROL.START`` queues the image), the compact input register
        ``PIXEL_STREAM`` (nonzero pixels as (skip, value) entries) and a queue of two result
        slots that the host reads and pops later. Costs no logic when off.
    """
    lanes: int = 128
    neuron_units: int = 8
    pixels_per_cycle: int = 8
    inputs_per_cycle: int = 1
    weight_bits: int = 4
    membrane_bits: int = 16
    max_layers: int = 3
    max_neurons: int = 256
    max_inputs: int = 784
    max_timesteps: int = 16
    weight_words: int = 2048
    dsp_lanes: int | None = None
    encoders: tuple = ("direct", "hybrid")
    trace: bool = False
    bias: bool = False
    spike_count: bool = False
    conv: bool = False
    conv_lanes: int | None = None
    conv_banks: int = 1
    conv_positions: int = 1024
    membrane_words: int | None = None
    max_classes: int | None = None
    conv_acc_bits: int | None = None
    stream: bool = False

    def __post_init__(self):
        def integer(name, lo, hi, pow2=False):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} is {value!r}; it must be an integer")
            if not lo <= value <= hi:
                raise ConfigError(f"{name} is {value}; it must be in {lo} .. {hi}")
            if pow2 and not _pow2(value):
                raise ConfigError(f"{name} is {value}; it must be a power of two")

        integer("lanes", 1, 1024, pow2=True)
        integer("neuron_units", 1, 1024, pow2=True)
        if self.neuron_units > self.lanes:
            raise ConfigError(f"neuron_units is {self.neuron_units}; it must not exceed lanes "
                              f"({self.lanes})")
        integer("pixels_per_cycle", 4, 64, pow2=True)
        integer("inputs_per_cycle", 1, 2)
        if self.neuron_units % self.inputs_per_cycle:
            raise ConfigError(f"neuron_units is {self.neuron_units}; it must be a multiple of "
                              f"inputs_per_cycle ({self.inputs_per_cycle})")
        integer("weight_bits", 1, 8)
        integer("membrane_bits", 8, 32)
        integer("max_layers", 1, 16)
        # A conv layer's map is large (MNIST's first: 28 x 32 x 8 in the hardware order); the
        # N_IN and N_OUT registers are 16 bits.
        integer("max_neurons", 1, 65535 if self.conv is True else 4096)
        integer("max_inputs", 1, 16384)
        integer("max_timesteps", 1, 255)
        integer("weight_words", 1, 65536)
        if self.dsp_lanes is None:
            object.__setattr__(self, "dsp_lanes", min(self.lanes, 78))
        integer("dsp_lanes", 0, 1024)
        if self.dsp_lanes > self.lanes:
            raise ConfigError(f"dsp_lanes is {self.dsp_lanes}; it must not exceed lanes "
                              f"({self.lanes})")
        if not isinstance(self.encoders, tuple) or not self.encoders:
            raise ConfigError(f"encoders is {self.encoders!r}; it must be a non-empty tuple of "
                              f"encoder names")
        for name in self.encoders:
            if name not in ENCODER_CODES:
                raise ConfigError(f"encoders holds {name!r}; it must hold only "
                                  f"{', '.join(map(repr, ENCODER_CODES))}")
        if len(set(self.encoders)) != len(self.encoders):
            raise ConfigError(f"encoders is {self.encoders!r}; name each encoder once")
        for name in ("trace", "bias", "spike_count", "stream", "conv"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} is {getattr(self, name)!r}; it must be True or False")
        if self.conv_lanes is None:
            object.__setattr__(self, "conv_lanes",
                               min(self.lanes, max(16, self.neuron_units)))
        integer("conv_lanes", 1, 1024, pow2=True)
        if not self.neuron_units <= self.conv_lanes <= self.lanes:
            raise ConfigError(f"conv_lanes is {self.conv_lanes}; it must be in neuron_units "
                              f"({self.neuron_units}) .. lanes ({self.lanes})")
        integer("conv_banks", 1, 8, pow2=True)
        if self.conv_banks * self.conv_lanes > self.lanes:
            raise ConfigError(f"conv_banks is {self.conv_banks}; conv_banks * conv_lanes "
                              f"({self.conv_banks * self.conv_lanes}) must not exceed lanes "
                              f"({self.lanes})")
        integer("conv_positions", 1, 65536, pow2=True)
        if self.conv_positions < self.conv_banks:
            raise ConfigError(f"conv_positions is {self.conv_positions}; it must be at least "
                              f"conv_banks ({self.conv_banks})")
        if self.membrane_words is None:
            object.__setattr__(self, "membrane_words", self.max_layers * self.chunks_per_layer)
        integer("membrane_words", 1, 65536)
        if self.max_classes is None:
            object.__setattr__(self, "max_classes", self.max_neurons)
        integer("max_classes", 1, 65535)
        if self.max_classes > self.max_neurons:
            raise ConfigError(f"max_classes is {self.max_classes}; it must not exceed "
                              f"max_neurons ({self.max_neurons})")
        if self.conv_acc_bits is None:
            object.__setattr__(self, "conv_acc_bits", self.acc_bits)
        integer("conv_acc_bits", 2, 64)
        if self.conv_acc_bits > self.acc_bits:
            raise ConfigError(f"conv_acc_bits is {self.conv_acc_bits}; it must not exceed "
                              f"acc_bits ({self.acc_bits})")
        if self.conv and self.inputs_per_cycle != 1:
            raise ConfigError(f"inputs_per_cycle is {self.inputs_per_cycle}; conv needs 1 (a "
                              f"conv event is one input)")
        if self.conv and self.stream:
            raise ConfigError("stream and conv are both on; the input queue does not yet write "
                              "images in the hardware order of a conv layer: build one of them")

    # -- named configurations -------------------------------------------------------------

    @classmethod
    def mnist(cls, **changes) -> "Config":
        """Default: MNIST 784-256-10 (or 784-256-128-10), 4-bit weights, on an Arty A7-35."""
        return cls(**changes)

    @classmethod
    def tiny(cls, **changes) -> "Config":
        """Small memories and the trace port, for fast simulation tests."""
        base = dict(lanes=8, neuron_units=4, pixels_per_cycle=4, weight_bits=8,
                    membrane_bits=32, max_layers=3, max_neurons=16, max_inputs=32,
                    max_timesteps=8, weight_words=256, dsp_lanes=4,
                    encoders=("direct", "hybrid", "rate"), trace=True)
        base.update(changes)
        return cls(**base)

    @classmethod
    def tiny_conv(cls, **changes) -> "Config":
        """:meth:`tiny` with convolution layers and room for the random conv networks of
        ``core.randnet`` (maps up to 4 x 8 x 8, five layers), for fast simulation tests."""
        base = dict(conv=True, max_layers=5, max_inputs=256, max_neurons=256,
                    conv_positions=64, weight_words=1024)
        base.update(changes)
        return cls.tiny(**base)

    @classmethod
    def mnist_cnn(cls, **changes) -> "Config":
        """:meth:`mnist` with convolution layers: one configuration that runs both the MLP
        (``models/mnist.snn``) and the MNIST CNN (``models/mnist_cnn.snn``,
        ``docs/architecture.md``, "Resources") on an Arty A7-35. The CNN's first map (28 x 32
        x 16 in the hardware order) sets ``max_neurons``, its layers ``max_layers`` and
        ``membrane_words``; eight banks of the current memory on 16 conv lanes (8 x 16 of
        the 128 lanes, "Banks of the current memory") take a kernel row of an event a cycle;
        the banks hold 256 positions in distributed RAM, so that conv1 runs in four bands of
        8, 8, 8 and 4 rows (:meth:`conv_bands`), and 16-bit sums (the CNN's conv layers need
        16 and 11 bits, :func:`conv_current_bits`); the result memory holds the 10 classes;
        77 DSP lanes leave the Arty's UART bridge its DSP48 within the xc7a35t's 90."""
        base = dict(conv=True, conv_lanes=16, conv_banks=8, conv_positions=256, max_layers=6,
                    max_neurons=14336, max_inputs=896, membrane_words=2560, max_classes=10,
                    conv_acc_bits=16, dsp_lanes=77)
        base.update(changes)
        return cls(**base)

    @classmethod
    def cifar10_vgg(cls, **changes) -> "Config":
        """The VGG-style CIFAR-10 network of ``configs/cifar10_vgg.toml`` (3 x 32 x 32, three
        stages of two 3x3 convolutions and a pooling, 16-32-64 channels, dense 10) on an
        Artix-7 100T: 32 lanes, all of them conv lanes (a conv layer's kernel words use
        ``conv_lanes`` of a word's ``lanes`` weights, so wider words would be mostly empty),
        the first map's 16,384 neurons, 4,096 weight words (4,068 needed) and 8,192 membrane
        words (8,066 needed), results for 10 classes; about 82.5 BRAM36 of the 135 by
        ``hw.memories``'s estimate
        (``python -m sw.perf --recipe configs/cifar10_vgg.toml --config cifar10-vgg``)."""
        base = dict(lanes=32, conv=True, conv_lanes=32, conv_positions=1024, max_layers=10,
                    max_neurons=16384, max_inputs=4096, weight_words=4096,
                    membrane_words=8192, max_classes=10)
        base.update(changes)
        return cls(**base)

    @classmethod
    def named(cls, name: str, **changes) -> "Config":
        """The configuration called ``name`` (a key of :data:`NAMED`)."""
        if name not in NAMED:
            raise ConfigError(f"configuration {name!r} is unknown; choose one of "
                              f"{', '.join(map(repr, NAMED))}")
        return getattr(cls, NAMED[name])(**changes)

    @classmethod
    def for_network(cls, network, **changes) -> "Config":
        """The smallest limits (around the default datapath) that hold ``network``."""
        network.validate()
        convs = [_conv(layer) for layer in network.layers if _conv(layer) is not None]
        probe = cls(**{**changes, "conv": bool(convs)})
        orders = map_orders(network, probe.neuron_units)
        base = dict(
            weight_bits=max(layer.weight_bits for layer in network.layers),
            membrane_bits=network.membrane_bits,
            max_layers=len(network.layers),
            max_neurons=max(outputs.size for _, outputs in orders),
            max_classes=orders[-1][1].size,
            max_inputs=orders[0][0].size,
            max_timesteps=max(network.timesteps, 1),
            weight_words=max(sum(probe.weight_rows(network)), 1),
            encoders=(network.encoder,),
            bias=any(_has_bias(layer) for layer in network.layers),
            spike_count=network.readout == "spike_count")
        if convs:
            base.update(conv=True, conv_positions=1 << _clog2(max(
                c.out_height << _clog2(c.out_width) for c in convs)),
                membrane_words=sum(probe.membrane_sizes(network)),
                conv_acc_bits=max(conv_current_bits(layer, index == 0)
                                  for index, layer in enumerate(network.layers)
                                  if _conv(layer) is not None))
        base.update(changes)
        return cls(**base)

    def replace(self, **changes) -> "Config":
        """A copy with ``changes``. ``max_classes`` and ``conv_acc_bits``, when they still
        have the value computed by default (``max_neurons``, ``acc_bits``) and are not
        changed, are computed again from the new fields."""
        for name, computed in (("max_classes", self.max_neurons),
                               ("conv_acc_bits", self.acc_bits)):
            if name not in changes and getattr(self, name) == computed:
                changes[name] = None
        return dataclasses.replace(self, **changes)

    # -- derived quantities -----------------------------------------------------------------

    @property
    def weight_max(self) -> int:
        """Largest weight magnitude (``2**(b-1)``; 1 for 1-bit weights)."""
        return 1 << (self.weight_bits - 1) if self.weight_bits > 1 else 1

    @property
    def acc_bits(self) -> int:
        """Width of a signed accumulator that holds any current ``I`` exactly.

        Layer 0 sees at most ``max_inputs`` events of magnitude 255, a later layer at most
        ``max_neurons`` events of magnitude 1; a weight is at most ``weight_max`` in magnitude.
        """
        bound = max(self.max_inputs * 255, self.max_neurons) * self.weight_max
        return bound.bit_length() + 1

    @property
    def event_bits(self) -> int:
        """Width of an input or neuron index."""
        return max(1, _clog2(max(self.max_inputs, self.max_neurons)))

    @property
    def event_entries(self) -> int:
        """Entries of one half of the event buffer (a power of two): the most a layer writes,
        ``max_inputs`` events of layer 0 or one spike entry per update cycle of ``U`` neurons
        (``ceil(max_neurons / U)``)."""
        return 1 << _clog2(max(self.max_inputs, -(-self.max_neurons // self.neuron_units)))

    @property
    def result_chunks(self) -> int:
        """Words of ``U`` output neurons in the result memory (and the count memory): the
        output layer's ``max_classes`` neurons, a power of two."""
        return 1 << _clog2(-(-self.max_classes // self.neuron_units))

    @property
    def conv_map_bits(self) -> int:
        """Width of a map coordinate in the conv address generator (a side is at most 1024,
        ``core.network.Conv``, and an index has ``event_bits``)."""
        return max(1, min(10, self.event_bits))

    @property
    def conv_position_bits(self) -> int:
        """Width of an address of the current memory (``conv_positions`` words)."""
        return max(1, _clog2(self.conv_positions))

    @property
    def word_bits(self) -> int:
        """Width of one weight-memory word, padded to whole 32-bit bus words."""
        return -(-self.inputs_per_cycle * self.lanes * self.weight_bits // 32) * 32

    @property
    def weight_stride(self) -> int:
        """32-bit bus words reserved per weight-memory word (a power of two)."""
        return 1 << _clog2(self.word_bits // 32)

    @property
    def pixel_rows(self) -> int:
        return -(-self.max_inputs // self.pixels_per_cycle)

    @property
    def chunks_per_layer(self) -> int:
        """Membrane-memory words reserved per layer (a power of two)."""
        return 1 << _clog2(-(-self.max_neurons // self.neuron_units))

    @property
    def count_bits(self) -> int:
        """Width of an output neuron's spike count (``spike_count``): at most ``max_timesteps``."""
        return self.max_timesteps.bit_length()

    @property
    def bias_stride(self) -> int:
        """Bias-window words per layer (``bias``): one per neuron of the membrane memory's
        chunks, a power of two."""
        return self.chunks_per_layer * self.neuron_units

    @property
    def bias_words(self) -> int:
        """Words of the bias window (``bias``): a neuron per word of each layer's membrane
        chunks (``max_layers * bias_stride``; with ``conv``, ``membrane_words * U``)."""
        if self.conv:
            return self.membrane_words * self.neuron_units
        return self.max_layers * self.bias_stride

    @property
    def membrane_depth(self) -> int:
        """Words of the membrane memory (and of the bias memory)."""
        return self.membrane_words if self.conv else self.max_layers * self.chunks_per_layer

    def membrane_bases(self, network) -> list[int]:
        """The first membrane-memory word of each layer: ``l * chunks_per_layer``, or with
        ``conv`` the layers one after the other (``ceil(n_out / U)`` words each, in the
        layout of :func:`membrane_index`)."""
        if not self.conv:
            return [index * self.chunks_per_layer for index in range(len(network.layers))]
        bases, word = [], 0
        for words in self.membrane_sizes(network):
            bases.append(word)
            word += words
        return bases

    def membrane_sizes(self, network) -> list[int]:
        """With ``conv``: the membrane-memory words of each layer, ``ceil(neurons / U)`` of
        :func:`membrane_index`'s layout (a conv layer's map without its padding columns)."""
        return [-(-_membrane_neurons(layer, outputs) // self.neuron_units)
                for layer, (_, outputs) in zip(network.layers,
                                               map_orders(network, self.neuron_units))]

    @property
    def region_bits(self) -> int:
        """log2 of the size, in words, of the register, pixel, result and bias regions."""
        need = max(256, -(-self.max_inputs // 4), 4 * self.max_classes)
        if self.bias:
            need = max(need, self.bias_words)
        return max(8, _clog2(need))

    @property
    def weight_base(self) -> int:
        """Word address of the weight window: the upper half of the address space."""
        return 1 << max(self.region_bits + 2, _clog2(self.weight_words * self.weight_stride))

    @property
    def addr_width(self) -> int:
        """Width of the bus's word address."""
        return _clog2(self.weight_base) + 1

    # -- fitting a network ---------------------------------------------------------------------

    def weight_rows(self, network) -> list[int]:
        """Weight-memory words each layer of ``network`` needs: a dense layer's inputs (in
        groups of ``K``) times its blocks of ``P`` neurons, in the gateware's order
        (:func:`map_orders`); a conv layer's kernel words, ``kernel**2`` per input channel of
        its padded input map (``2**c_bits``) per block of ``conv_lanes`` output channels,
        :meth:`kernel_row_words` of them per kernel row."""
        K = self.inputs_per_cycle
        rows = []
        for layer, (inputs, outputs) in zip(network.layers,
                                            map_orders(network, self.neuron_units)):
            conv = _conv(layer)
            if conv is not None:
                rows.append(self.conv_blocks(layer) * (
                    conv.kernel * self.kernel_row_words(conv.kernel) << inputs.c_bits))
            else:
                rows.append(-(-inputs.size // K) * -(-outputs.size // self.lanes))
        return rows

    def kernel_row_words(self, kernel: int) -> int:
        """Weight-memory words of one kernel row of ``kernel`` columns: ``conv_banks`` columns
        in each (:func:`kernel_row_words`)."""
        return kernel_row_words(kernel, self.conv_banks)

    def conv_blocks(self, layer) -> int:
        """Blocks of ``conv_lanes`` output channels of a conv layer: of its channels padded
        in the hardware order (at least ``neuron_units``, a power of two), at least one."""
        channels = 1 << max(_clog2(_conv(layer).out_channels), _clog2(self.neuron_units))
        return max(1, channels // self.conv_lanes)

    def conv_bands(self, layer) -> list[tuple[int, int]]:
        """The bands of output rows a conv layer is integrated in (``docs/architecture.md``,
        "Bands of output rows"): ``(first row, rows)`` of each, top to bottom. A band is
        ``R = conv_positions >> out_w_bits`` rows (what the current memory holds of the
        map's padded rows, ``out_w_bits = ceil(log2(out_width))``), the last one what is
        left; a map that fits the current memory is one band. ``check_fits`` refuses a map
        whose padded row alone exceeds the memory (``R == 0``)."""
        conv = _conv(layer)
        rows = self.conv_positions >> _clog2(conv.out_width)
        if rows < 1:
            raise FitError(f"an output row of {1 << _clog2(conv.out_width)} positions does "
                           f"not fit the current memory of {self.conv_positions}")
        return [(first, min(rows, conv.out_height - first))
                for first in range(0, conv.out_height, rows)]

    def check_fits(self, network) -> None:
        """Raise :class:`FitError` naming the first thing of ``network`` that is too big."""
        network.validate()

        def too_big(what, value, limit, option):
            raise FitError(f"{what} is {value}, this hardware allows {limit}: regenerate "
                           f"the gateware with {option} {value} or shrink the network")

        if len(network.layers) > self.max_layers:
            too_big("the number of layers", len(network.layers), self.max_layers,
                    "--max-layers")
        self._check_conv(network)
        orders = map_orders(network, self.neuron_units)
        padded = " (in the hardware's padded order)"
        inputs = orders[0][0]
        if inputs.size > self.max_inputs:
            too_big("layer 0's input count" + ("" if inputs.identity else padded),
                    inputs.size, self.max_inputs, "--max-inputs")
        for index, (layer, (_, outputs)) in enumerate(zip(network.layers, orders)):
            if outputs.size > self.max_neurons:
                too_big(f"layer {index}'s neuron count" + ("" if outputs.identity else padded),
                        outputs.size, self.max_neurons, "--max-neurons")
            if layer.weight_bits > self.weight_bits:
                too_big(f"layer {index}'s weight_bits", layer.weight_bits, self.weight_bits,
                        "--weight-bits")
        if network.membrane_bits > self.membrane_bits:
            too_big("membrane_bits", network.membrane_bits, self.membrane_bits,
                    "--membrane-bits")
        if network.timesteps > self.max_timesteps:
            too_big("timesteps", network.timesteps, self.max_timesteps, "--max-timesteps")
        if network.encoder not in self.encoders:
            raise FitError(f"encoder {network.encoder!r} is not built into this hardware "
                           f"(it has {', '.join(self.encoders)}): regenerate the gateware "
                           f"with --encoders {network.encoder}")
        rows = sum(self.weight_rows(network))
        if rows > self.weight_words:
            too_big("the weight memory the network needs (words)", rows, self.weight_words,
                    "--weight-words")
        if orders[-1][1].size > self.max_classes:
            raise FitError(f"the output layer has {orders[-1][1].size} neurons, the result "
                           f"memory holds {self.max_classes}: regenerate the gateware with "
                           f"--set max_classes={orders[-1][1].size} or use fewer classes")
        if self.conv:
            words = sum(self.membrane_sizes(network))
            if words > self.membrane_words:
                raise FitError(f"the membrane memory the network needs (words) is {words}, "
                               f"this hardware allows {self.membrane_words}: regenerate the "
                               f"gateware with --set membrane_words={words} or shrink the "
                               f"network")
        self._check_options(network)

    def _check_conv(self, network) -> None:
        """What conv layers need: the conv hardware, a dense output layer, room in the
        current memory for each output map, and the rate encoder only on an image whose
        hardware order is its own order."""
        layers = network.layers
        for index, layer in enumerate(layers):
            conv = _conv(layer)
            if conv is None:
                continue
            if not self.conv:
                raise FitError(f"layers[{index}] is a convolution; generate the accelerator "
                               f"with --set conv=true")
            if index == len(layers) - 1:
                raise FitError(f"layers[{index}], the output layer, is a convolution; the "
                               f"read-out needs a dense output layer: add one to the classes")
            if self.weight_bits == 1 and conv.groups > 1:
                raise FitError(f"layers[{index}] is a grouped convolution, whose kernel words "
                               f"hold zeros, which 1-bit weight memories cannot: regenerate "
                               f"the gateware with --weight-bits 2")
            need = conv_current_bits(layer, index == 0)
            if need > self.conv_acc_bits:
                raise FitError(f"layers[{index}]'s currents need {need} bits, the current "
                               f"memory holds {self.conv_acc_bits}: regenerate the gateware "
                               f"with --set conv_acc_bits={need} or use smaller weights")
            row = 1 << _clog2(conv.out_width)
            if row > self.conv_positions:
                # a map larger than the memory is integrated in bands of rows (conv_bands),
                # but a band holds at least one whole padded row
                raise FitError(f"layers[{index}]'s output rows need {row} positions each of "
                               f"the current memory, this hardware has {self.conv_positions}: "
                               f"regenerate the gateware with --set conv_positions={row} or "
                               f"narrow the map")
        first = map_orders(network, self.neuron_units)[0][0]
        if network.encoder == "rate" and not first.identity:
            raise FitError("the rate encoder draws its LFSR values in pixel order, which a "
                           "conv layer 0 of this shape pads in the hardware (docs/"
                           "architecture.md); use the direct or hybrid encoder, or one input "
                           "channel of a power-of-two width")

    def _check_options(self, network) -> None:
        """The generator options the network's biases and read-out need."""
        vmax = (1 << (network.membrane_bits - 1)) - 1
        for index, layer in enumerate(network.layers):
            if not _has_bias(layer):
                continue
            if not self.bias:
                raise FitError(f"layers[{index}] has biases; generate the accelerator with "
                               f"--set bias=true")
            bias = np.asarray(layer.bias)
            if bias.min() < -vmax - 1 or bias.max() > vmax:
                bad = int(bias.min()) if bias.min() < -vmax - 1 else int(bias.max())
                raise FitError(f"layers[{index}].bias holds {bad}, outside the "
                               f"{network.membrane_bits}-bit membrane range {-vmax - 1} .. "
                               f"{vmax}; requantize the biases or widen membrane_bits")
        if network.readout == "spike_count" and not self.spike_count:
            raise FitError("the read-out is spike_count; generate the accelerator with "
                           "--set spike_count=true")

    def fits(self, network) -> bool:
        """Whether ``network`` fits (see :meth:`check_fits` for the reason when not)."""
        try:
            self.check_fits(network)
        except FitError:
            return False
        return True


#: The configuration names of ``--config`` and the :class:`Config` class methods they call.
NAMED = {"mnist": "mnist", "mnist-cnn": "mnist_cnn", "cifar10-vgg": "cifar10_vgg",
         "tiny": "tiny", "tiny-conv": "tiny_conv"}


#: The configurations of the shipped models, smallest first: a model that does not fit the
#: default runs on the first of these that holds it (``sw.demo``, ``sw.cosim --model``).
SHIPPED = ("mnist", "mnist-cnn")


def shipped_for(network, **changes) -> str | None:
    """The first name of :data:`SHIPPED` whose configuration (with ``changes``) holds
    ``network``, or None."""
    for name in SHIPPED:
        if Config.named(name, **changes).fits(network):
            return name
    return None


def parse_overrides(items: Iterable[str]) -> dict:
    """Keyword arguments of :class:`Config` from ``--set`` items.

    ``["lanes=8", "encoders=direct,rate", "trace=false", "dsp_lanes=none"]`` gives
    ``{"lanes": 8, "encoders": ("direct", "rate"), "trace": False, "dsp_lanes": None}``. A field
    may be written with dashes (``max-inputs``); integers in any Python base (``0x100``);
    ``none`` only for a field computed by default (``dsp_lanes``). Raises :class:`ConfigError`
    naming the item and, for an unknown field, listing the fields. The values' ranges are
    checked by :class:`Config` itself.
    """
    fields = {f.name: f for f in dataclasses.fields(Config)}
    changes = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            raise ConfigError(f"--set {item!r}: write FIELD=VALUE with FIELD one of "
                              f"{', '.join(fields)}")
        default = fields[name].default
        text = text.strip()
        if default is None and text.lower() == "none":
            changes[name] = None
        elif isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ConfigError(f"--set {item!r}: {name} is true or false")
            changes[name] = text.lower() in ("true", "1")
        elif isinstance(default, tuple):
            changes[name] = tuple(t.strip() for t in text.split(",") if t.strip())
        else:  # integers, also those whose default is None ("computed")
            try:
                changes[name] = int(text, 0)
            except ValueError:
                hint = " or none" if default is None else ""
                raise ConfigError(f"--set {item!r}: {name} is an integer{hint}") from None
    return changes


def resolve(name: str | None = None, overrides: Iterable[str] = (), *,
            default: str = "mnist", **changes) -> Config:
    """The configuration a command line asks for.

    Parameters
    ----------
    name : str or None
        A name of :data:`NAMED` (``--config``); ``default`` when None.
    overrides : list of str
        ``FIELD=VALUE`` items (``--set``, see :func:`parse_overrides`), applied after
        ``changes``.
    **changes
        Fields set by the caller (typed values), e.g. ``trace=True``.

    Raises :class:`ConfigError` with one message: an unknown name (listing the names), a
    malformed item or unknown field (listing the fields), a value that is not of the field's
    kind, or a value out of its range (:class:`Config`'s own checks). Fields left out keep the
    named configuration's values; computed ones (``dsp_lanes``) follow the new fields.
    """
    changes.update(parse_overrides(overrides))
    return Config.named(default if name is None else name, **changes)


def add_config_arguments(parser: argparse.ArgumentParser, *, default: str | None = "mnist",
                         default_help: str | None = None, title: str | None = None):
    """Add ``--config NAME`` and ``--set FIELD=VALUE`` (repeatable, into ``overrides``) to
    ``parser``, in a group whose help lists the names and the fields; pass the parsed
    ``args.config`` and ``args.overrides`` to :func:`resolve`. Returns the group."""
    group = parser.add_argument_group(title or "hardware configuration")
    group.add_argument("--config", metavar="NAME", default=default,
                       help=f"named hardware configuration: {', '.join(NAMED)} (default: "
                            f"{default_help or default})")
    group.add_argument("--set", action="append", default=[], dest="overrides",
                       metavar="FIELD=VALUE",
                       help=f"change one field of the configuration (repeatable), e.g. --set "
                            f"lanes=16; FIELD is one of "
                            f"{', '.join(f.name for f in dataclasses.fields(Config))}")
    return group
