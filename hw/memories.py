"""The accelerator's memories and an estimate of their Artix-7 block RAMs, without synthesis.

:func:`memories` lists every memory that ``hw.accel.Accelerator(config)`` builds, with its
depth and width taken from the same layouts the gateware uses (``hw.layouts``), and
:func:`bram36` estimates the 36 Kb block RAMs of one memory from its depth and width. Yosys
(``python -m hw.generate --resources``, ``python -m sw.bench``) remains the measurement; this is
what a configuration that takes tens of minutes to synthesize can be sized with, and says
which memory a larger network would overflow. On the default configuration the estimate is
Yosys's 31.5 BRAM36 exactly (tests/hw/test_memories.py).

The rule (7-series block RAM in simple dual-port mode, UG473): a RAMB18 is ``16K x 1``,
``8K x 2``, ``4K x 4``, ``2K x 9``, ``1K x 18`` or ``512 x 36``; a memory takes
``ceil(width / w)`` of them at the narrowest aspect ``w`` that is deep enough, times
``ceil(depth / 16K)`` for deeper ones, and two RAMB18 make a BRAM36. Memories marked
``ram_style = "distributed"`` and those of at most :data:`LUTRAM_DEPTH` words are LUT RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Shape

from core.config import Config

from .inputs import InputQueue
from .layouts import bias_word, count_word, event_entry, membrane_word, result_word
from .weights import COLUMN_BITS

__all__ = ["Memory", "memories", "bram36", "LUTRAM_DEPTH", "RAMB18_ASPECTS"]

#: Depth at or below which a memory is estimated as LUT RAM (Yosys maps such shallow memories
#: to RAM64M / RAM32M, as it does the default configuration's result memory).
LUTRAM_DEPTH = 64

#: RAMB18 aspects in simple dual-port mode: (depth, width), narrowest first.
RAMB18_ASPECTS = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def bram36(depth: int, width: int) -> float:
    """Estimated BRAM36 of a ``depth`` x ``width``-bit memory in block RAM (see the module)."""
    cascade = -(-depth // RAMB18_ASPECTS[0][0])
    rows = -(-depth // cascade)
    aspect = max(w for d, w in RAMB18_ASPECTS if d >= rows)
    return cascade * -(-width // aspect) / 2


@dataclass(frozen=True)
class Memory:
    """One memory of the accelerator.

    Attributes
    ----------
    name : str
    depth, width : int
        Words and bits per word.
    columns : int
        Memories of ``width / columns`` bits it is built from (the weight memory's columns).
    lutram : bool
        Estimated as LUT RAM (distributed, or shallow), not block RAM.
    bram36 : float
        Estimated BRAM36 (0 for LUT RAM).
    """
    name: str
    depth: int
    width: int
    columns: int = 1
    lutram: bool = False
    bram36: float = 0.0

    @property
    def bits(self) -> int:
        return self.depth * self.width

    def as_dict(self) -> dict:
        return {"name": self.name, "depth": self.depth, "width": self.width,
                "columns": self.columns, "bits": self.bits, "lutram": self.lutram,
                "bram36": self.bram36}


def _memory(name, depth, width, distributed=False) -> Memory:
    lutram = distributed or depth <= LUTRAM_DEPTH
    return Memory(name, depth, width, lutram=lutram,
                  bram36=0.0 if lutram else bram36(depth, width))


def _weights(config: Config) -> Memory:
    """The weight memory: columns of :data:`hw.weights.COLUMN_BITS` (twice that for at most
    1K words), as ``hw.weights.WeightMemory`` builds them outside the ECP5."""
    depth, width = config.weight_words, config.word_bits
    column = COLUMN_BITS if depth > 1024 else 2 * COLUMN_BITS
    widths = [min(column, width - lo) for lo in range(0, width, column)]
    lutram = depth <= LUTRAM_DEPTH
    return Memory("weights", depth, width, columns=len(widths), lutram=lutram,
                  bram36=0.0 if lutram else sum(bram36(depth, w) for w in widths))


def memories(config: Config) -> list[Memory]:
    """The memories of ``hw.accel.Accelerator(config)``, in the order it builds them."""
    U, S, K, M = (config.neuron_units, config.pixels_per_cycle, config.inputs_per_cycle,
                  config.membrane_bits)
    EB = config.event_bits
    out = [_weights(config)]
    if config.stream:
        rows = config.pixel_rows
        index_bits = InputQueue.index_bits(config)
        # hw.inputs's result slot: time (8 bits), potential and final membrane, the count
        result = 8 + 2 * M + (config.count_bits if config.spike_count else 0)
        out += [_memory("input queue pixels", 2 << max(0, (rows - 1).bit_length()), 8 * S,
                        distributed=True),
                _memory("input queue results", 2 << index_bits, result)]
    else:
        out.append(_memory("pixels", config.pixel_rows, 8 * S, distributed=True))
    out.append(_memory("membrane", config.membrane_depth, U * Shape.cast(membrane_word(M)).width))
    out.append(_memory("results", config.result_chunks,
                       U * Shape.cast(result_word(config.max_timesteps, M)).width))
    entry = event_entry(EB, max(8 * K, U), U // K >= 2)
    out.append(_memory("event buffer", 2 * config.event_entries, Shape.cast(entry).width))
    if config.bias:
        out.append(_memory("biases", config.membrane_depth,
                           Shape.cast(bias_word(M, U)).width))
    if config.spike_count:
        out.append(_memory("counts", config.result_chunks,
                           Shape.cast(count_word(config.count_bits, U)).width))
    if config.conv:
        out.append(_memory("currents", config.conv_positions,
                           config.conv_lanes * config.conv_acc_bits))
        # hw.touched: one bit per position, in groups of 8, in LUT RAM
        group = min(8, config.conv_positions)
        out.append(_memory("touched positions", config.conv_positions // group, group,
                           distributed=True))
    return out
