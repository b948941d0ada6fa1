"""The accelerator's memory map: register addresses and bit fields (``docs/memory-map.md``).

Plain Python constants shared by the gateware (``hw.accel``), the compiler (``sw.compiler``) and
the host driver (``sw.device``). Addresses here are *word* addresses on ``hw.bus``; a host
transport uses byte addresses, four times larger.

Regions (``R = Config.region_bits``; every base is readable from an ID register):

* ``0 .. 2**R - 1``: registers (this module's ``REG_*`` and the per-layer blocks).
* ``1 << R``: pixel window, four 8-bit pixels per word, pixel ``4w + q`` in bits ``8q+7:8q``.
* ``2 << R``: result window, four arrays of ``Q = 2**(R-2)`` words (``Q >=
  Config.max_classes``): first spike times, first potentials, final membranes and spike
  counts (``Config.spike_count``) of the output neurons.
* ``3 << R``: bias window (``Config.bias``): neuron ``j`` of layer ``l`` at
  ``(3 << R) + l * Config.bias_stride + j`` (with ``Config.conv``: at the layer's membrane
  base times ``U``, ``bias_address``).
* ``Config.weight_base`` (upper half of the address space): weight window.
"""

from .config import ENCODER_CODES

MAGIC = 0x534E4E41        # "SNNA"
VERSION = 0x00010001      # major 1, minor 1 (CFG_CONV_BANKS)

# -- identification (read only) -----------------------------------------------------------
REG_MAGIC = 0x00
REG_VERSION = 0x01
REG_CFG_LANES = 0x02            # P
REG_CFG_UNITS = 0x03            # U
REG_CFG_PIXELS_PER_CYCLE = 0x04  # S
REG_CFG_WEIGHT_BITS = 0x05
REG_CFG_MEMBRANE_BITS = 0x06
REG_CFG_MAX_LAYERS = 0x07
REG_CFG_MAX_NEURONS = 0x08
REG_CFG_MAX_INPUTS = 0x09
REG_CFG_MAX_TIMESTEPS = 0x0A
REG_CFG_WEIGHT_WORDS = 0x0B
REG_CFG_ENCODERS = 0x0C          # bit 0 direct, bit 1 hybrid, bit 2 rate
REG_CFG_ACC_BITS = 0x0D
REG_CFG_REGION_BITS = 0x0E       # R
REG_CFG_WEIGHT_BASE = 0x0F       # word address of the weight window
REG_CFG_WEIGHT_STRIDE = 0x10     # bus words per weight-memory word
REG_CFG_INPUTS_PER_CYCLE = 0x11  # K
REG_CFG_TRACE = 0x12             # 1 if the trace port is built
REG_CFG_DSP_LANES = 0x13         # lanes built for DSP slices (the rest in LUTs)
REG_CFG_OPTIONS = 0x14           # OPTION_* bits: the generator options built in

REG_CFG_CONV_LANES = 0x15        # PC, output channels of a conv layer at once (with conv)
REG_CFG_CONV_POSITIONS = 0x16    # depth of the current memory (with conv)
REG_CFG_MAX_CLASSES = 0x17       # most output-layer neurons (the result memory)
REG_CFG_CONV_ACC_BITS = 0x18     # width of a sum of the current memory (with conv)
REG_CFG_CONV_BANKS = 0x19        # banks of the current memory (with conv)

OPTION_BIAS = 1 << 0         # the bias memory and window (Config.bias)
OPTION_SPIKE_COUNT = 1 << 1  # spike counts and the spike_count read-out (Config.spike_count)
OPTION_STREAM = 1 << 2       # input queue, compact input, result queue (Config.stream)
OPTION_CONV = 1 << 3         # convolution layers (Config.conv)

# -- status and control --------------------------------------------------------------------
REG_STATUS = 0x20    # read only
REG_CONTROL = 0x21   # write only (reads 0)
REG_CYCLES = 0x22    # cycles of the last (or the running) inference
REG_CLASS = 0x23     # class chosen by the read-out of the last inference
REG_CHECKSUM = 0x24  # upload checksum (R/W), kept by hw.soc.BusChecksum, not the accelerator
#: Compact input (OPTION_STREAM): every word address of [PIXEL_STREAM, PIXEL_STREAM +
#: PIXEL_STREAM_WORDS) is the one write-only register, so that a burst of any transport writes
#: it word after word. A word holds two entries, bits 15:0 first: (skip << 8) | value.
REG_PIXEL_STREAM = 0xE0  # 0xC0 .. 0xDF: MEMBRANE_BASE
PIXEL_STREAM_WORDS = 32

STATUS_BUSY = 1 << 0      # an inference is running
STATUS_DONE = 1 << 1      # the last inference finished; results valid (also drives irq)
STATUS_ABORTED = 1 << 2   # the last inference was aborted
STATUS_REJECTED = 1 << 3  # a write to a parameter, weight or pixel was dropped while busy
STATUS_QUEUED = 1 << 4    # (OPTION_STREAM) an image waits in the input half for its start
STATUS_READY = 1 << 5     # (OPTION_STREAM) a result is unread: the result window shows it
STATUS_FULL = 1 << 6      # (OPTION_STREAM) both result slots are unread

CONTROL_START = 1 << 0    # start an inference (ignored while busy)
CONTROL_ABORT = 1 << 1    # stop the running inference, back to idle next cycle
CONTROL_CLEAR = 1 << 2    # clear DONE, ABORTED, REJECTED (and irq)
CONTROL_POP = 1 << 3      # (OPTION_STREAM) the oldest unread result is read: free its slot

# -- network parameters (read/write while idle) ----------------------------------------------
REG_NET_LAYERS = 0x30
REG_NET_TIMESTEPS = 0x31
REG_NET_ENCODER = 0x32       # 0 direct, 1 hybrid, 2 rate (core.config.ENCODER_CODES)
REG_NET_SEED = 0x33          # 16-bit LFSR seed
REG_NET_READOUT = 0x34       # 0 first_spike, 1 max_membrane, 2 spike_count
REG_NET_MEMBRANE_BITS = 0x35  # M of the network (8 .. CFG_MEMBRANE_BITS)

# With OPTION_CONV: the first membrane-memory word of layer l (Config.membrane_bases)
REG_MEMBRANE_BASE = 0xC0   # + l, up to 16 layers

# Per-layer block: REG_LAYER_BASE + LAYER_STRIDE * l + offset
REG_LAYER_BASE = 0x40
LAYER_STRIDE = 8
LAYER_N_IN = 0
LAYER_N_OUT = 1
LAYER_WEIGHT_ROW = 2   # first weight-memory word of the layer
LAYER_THRESHOLD = 3
LAYER_MODE = 4
LAYER_LEAK = 5
LAYER_CONV = 6         # with OPTION_CONV: CONV_* fields below (0: a dense layer)
LAYER_CONV_OUT = 7     # with OPTION_CONV: output map height (bits 15:0) and width (31:16)

# LAYER_CONV fields (hw.layouts.CONV_MODE): bit 0 conv, then the widths below, low to high
CONV_ENABLE = 1 << 0
CONV_KERNEL_SHIFT = 1       # 3 bits: k
CONV_STRIDE_SHIFT = 4       # 3 bits: s
CONV_PADDING_SHIFT = 7      # 3 bits: p
CONV_C_BITS_SHIFT = 10      # 4 bits: the input map's channel field width (hardware order)
CONV_W_BITS_SHIFT = 14      # 4 bits: the input map's column field width
CONV_OUT_W_BITS_SHIFT = 18  # 4 bits: the output map's column field width
CONV_OUT_C_BITS_SHIFT = 22  # 4 bits: the output map's channel field width
CONV_SKIP = 1 << 26         # the update may skip untouched positions (core.schedule.conv_skips)

MODE_LIF = 1 << 0        # 0: if, 1: lif
MODE_FACTOR = 1 << 1     # 0: shift leak, 1: factor leak
MODE_RESET_SHIFT = 2     # bits 3:2: 0 subtract, 1 zero, 2 none
MODE_FIRE_ONCE = 1 << 4
RESET_CODES = {"subtract": 0, "zero": 1, "none": 2}

# Result window arrays (offset within the result region, in units of Q = 2**(R-2) words)
RESULT_FIRST_TIME = 0
RESULT_FIRST_POTENTIAL = 1
RESULT_FINAL_MEMBRANE = 2
RESULT_SPIKE_COUNT = 3   # with OPTION_SPIKE_COUNT (reads 0 without)


def layer_reg(layer: int, offset: int) -> int:
    """Word address of field ``offset`` of layer ``layer``'s parameter block."""
    return REG_LAYER_BASE + LAYER_STRIDE * layer + offset


def pixel_base(region_bits: int) -> int:
    return 1 << region_bits


def result_base(region_bits: int) -> int:
    return 2 << region_bits


def result_array(region_bits: int, which: int) -> int:
    """Word address of result array ``which`` (``RESULT_*``)."""
    return result_base(region_bits) + which * (1 << (region_bits - 2))


def bias_base(region_bits: int) -> int:
    return 3 << region_bits


def bias_address(config, layer: int, neuron: int = 0, membrane_base: int | None = None) -> int:
    """Word address of the bias of neuron ``neuron`` of layer ``layer`` (``Config.bias``): at
    ``layer * bias_stride``, or with ``Config.conv`` at the layer's membrane base times ``U``
    (``membrane_base``, from ``Config.membrane_bases``)."""
    if config.conv:
        return bias_base(config.region_bits) + membrane_base * config.neuron_units + neuron
    return bias_base(config.region_bits) + layer * config.bias_stride + neuron


def options(config) -> int:
    """The ``CFG_OPTIONS`` value of a ``Config``."""
    return ((OPTION_BIAS if config.bias else 0) | (OPTION_SPIKE_COUNT if config.spike_count else 0)
            | (OPTION_STREAM if config.stream else 0)
            | (OPTION_CONV if config.conv else 0))


def identification(config) -> dict:
    """The identification registers' values for a ``Config``: ``{address: value}``, the words
    the gateware returns and ``sw.device`` reads back into a ``Config``."""
    from_codes = sum(1 << ENCODER_CODES[e] for e in config.encoders)
    return {
        REG_MAGIC: MAGIC, REG_VERSION: VERSION,
        REG_CFG_LANES: config.lanes, REG_CFG_UNITS: config.neuron_units,
        REG_CFG_PIXELS_PER_CYCLE: config.pixels_per_cycle,
        REG_CFG_WEIGHT_BITS: config.weight_bits, REG_CFG_MEMBRANE_BITS: config.membrane_bits,
        REG_CFG_MAX_LAYERS: config.max_layers, REG_CFG_MAX_NEURONS: config.max_neurons,
        REG_CFG_MAX_INPUTS: config.max_inputs, REG_CFG_MAX_TIMESTEPS: config.max_timesteps,
        REG_CFG_WEIGHT_WORDS: config.weight_words, REG_CFG_ENCODERS: from_codes,
        REG_CFG_ACC_BITS: config.acc_bits, REG_CFG_REGION_BITS: config.region_bits,
        REG_CFG_WEIGHT_BASE: config.weight_base, REG_CFG_WEIGHT_STRIDE: config.weight_stride,
        REG_CFG_INPUTS_PER_CYCLE: config.inputs_per_cycle, REG_CFG_TRACE: int(config.trace),
        REG_CFG_DSP_LANES: config.dsp_lanes, REG_CFG_OPTIONS: options(config),
        REG_CFG_MAX_CLASSES: config.max_classes,
        **({REG_CFG_CONV_LANES: config.conv_lanes,
            REG_CFG_CONV_POSITIONS: config.conv_positions,
            REG_CFG_CONV_ACC_BITS: config.conv_acc_bits,
            REG_CFG_CONV_BANKS: config.conv_banks} if config.conv else {}),
    }
