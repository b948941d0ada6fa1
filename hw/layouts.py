"""Packed words of the accelerator as ``lib.data`` layouts.

Each function returns the layout for the configuration's widths, so that the components agree
on field order without slicing bits by hand. Field order is the bit order (first field in the
low bits), which ``docs/memory-map.md`` documents where the host sees a word.
"""

from amaranth.hdl import signed
from amaranth.lib import data

__all__ = ["LAYER_MODE", "layer_params", "network_params", "membrane_word", "result_word",
           "bias_word", "count_word", "input_event", "event_entry", "MAX_KERNEL",
           "CONV_MODE", "conv_geometry", "conv_pair"]

#: ``LAYER_MODE`` register (``docs/memory-map.md``): the neuron options of a layer.
LAYER_MODE = data.StructLayout({
    "lif": 1,           # 1: leaky (LIF); 0: integrate-and-fire
    "factor": 1,        # leak as a factor (1) or a shift (0)
    "reset": 2,         # core.config / numerics.md reset codes
    "fire_once": 1,
})


def layer_params(membrane_bits, conv=False):
    """A layer's registers, as the host writes them (``LAYER_*``); with ``conv`` the conv
    geometry (``LAYER_CONV``) and the output map's height and width (``LAYER_CONV_OUT``)."""
    fields = {
        "n_in": 16, "n_out": 16, "row": 16,
        "threshold": membrane_bits,     # unsigned here: it reads back as written
        "mode": LAYER_MODE, "leak": 8,
    }
    if conv:
        fields.update(conv=CONV_MODE, out_height=16, out_width=16)
    return data.StructLayout(fields)


def network_params(max_layers, spike_count=False):
    """The network's registers (``NET_*``); ``NET_READOUT`` has two bits with
    ``spike_count`` (code 2), one without."""
    return data.StructLayout({
        "layers": range(max_layers + 1), "timesteps": 8, "encoder": 2, "seed": 16,
        "readout": 2 if spike_count else 1, "membrane_bits": 6,
    })


def bias_word(membrane_bits, neuron_units):
    """A word of the bias memory: the biases of ``U`` neurons (a chunk of the membrane
    memory), signed ``M`` bits each."""
    return data.ArrayLayout(signed(membrane_bits), neuron_units)


def count_word(count_bits, neuron_units):
    """A word of the count memory: the spike counts of ``U`` output neurons."""
    return data.ArrayLayout(count_bits, neuron_units)


def membrane_word(membrane_bits):
    """One neuron's state in the membrane memory: ``v`` after the reset, and whether it fired
    in an earlier step."""
    return data.StructLayout({"v": signed(membrane_bits), "fired": 1})


def result_word(max_timesteps, membrane_bits):
    """One output neuron's result: whether it fired, its first spike step (below
    ``max_timesteps``) and ``p`` then. A neuron that never fired keeps ``fired`` clear (written
    at step 0) and reads as time 255, potential 0."""
    step_bits = max(1, (max_timesteps - 1).bit_length())
    return data.StructLayout({"fired": 1, "step": step_bits, "potential": signed(membrane_bits)})


def event_entry(index_bits, payload_bits, flag_in_index):
    """An event-buffer entry (``hw.events``): an input group's index and a payload (``K``
    magnitudes for layer 0, a ``U``-bit spike mask later). A spike entry that is a single event
    is flagged so that the replay knows it without counting the mask: in bit 0 of the index
    when that bit is always 0 there (``flag_in_index``), else in a field of its own."""
    fields = {"index": index_bits, "payload": payload_bits}
    if not flag_in_index:
        fields["one"] = 1
    return data.StructLayout(fields)


def input_event(index_bits, inputs_per_cycle):
    """An integration event: an input group (``index // K``) and its ``K`` inputs'
    magnitudes (0 for an input of the group without an event)."""
    return data.StructLayout({"group": index_bits,
                              "magnitudes": data.ArrayLayout(8, inputs_per_cycle)})


#: Largest kernel side of a convolution layer (``core.network.Conv``: 1 .. 7).
MAX_KERNEL = 7


#: ``LAYER_CONV`` register (``docs/memory-map.md``): a conv layer's geometry, as the address
#: generator and the conv update read it (``docs/architecture.md``, "Convolution").
CONV_MODE = data.StructLayout({
    "conv": 1,          # the layer is a convolution
    "kernel": 3,        # k, 1 .. 7
    "stride": 3,        # s, 1 .. 7
    "padding": 3,       # p, 0 .. 6
    "c_bits": 4,        # the input map's channel field (hardware order)
    "w_bits": 4,        # the input map's column field
    "out_w_bits": 4,    # the output map's column field
    "out_c_bits": 4,    # the output map's channel field (>= log2 U)
    "skip": 1,          # an `if` layer without biases: its update may skip untouched positions
})


def conv_geometry(map_bits):
    """What the address generator (``hw.convaddr``) reads of a conv layer: the
    :data:`CONV_MODE` fields it needs, the output map's width and the band of output rows
    being integrated (its first row and its rows; a map side is at most ``2**map_bits``)."""
    return data.StructLayout({
        "kernel": 3, "stride": 3, "padding": 3, "c_bits": 4, "w_bits": 4,
        "band_first": map_bits + 1, "band_rows": map_bits + 1, "out_width": map_bits + 1,
        "out_w_bits": 4,
    })


def conv_pair(map_bits, kernel_bits, banks=1):
    """One output of the address generator, a *slot*: the kernel word's offset within the
    layer's block (``(c * k + ky) * KW + j``, ``KW = ceil(k / banks)`` words a kernel row),
    the lowest output position address of the slot (``(oy << out_w_bits) | ox``), ``run``
    (bit ``i``: position ``position + i`` is written; the positions of a slot are
    consecutive), ``select`` (with ``banks > 1``: for bank ``b``, the kernel column ``g`` of
    the word, lanes ``g * conv_lanes ..``, whose position lies in bank ``b``) and the
    event's magnitude."""
    fields = {"kernel": kernel_bits, "position": 2 * map_bits, "run": banks}
    if banks > 1:
        fields["select"] = data.ArrayLayout(banks.bit_length() - 1, banks)
    fields["magnitude"] = 8
    return data.StructLayout(fields)