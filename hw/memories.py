"""The accelerator's memories and an estimate of their Artix-7 block RAMs, without synthesis.

:func:`memories` lists every memory that ``hw.accel.Accelerator(config)`` builds, with its
depth and width taken from the same layouts the gateware uses (``hw.layouts``), and
:func:`bram36` estimates the 36 Kb block RAMs of one memory from its depth and width. Yosys
(``python -m hw.generate --resources``, ``python -m sw.bench``) remains the measurement; this is
what a configuration that takes tens of minutes to synthesize can be sized with, and says
which memory a larger network would overflow. On the default configuration the estimate is
Yosys's 31.5 BRAM36 exactly (tests/hw/test_memories.py).

The rule (7-series block RAM in simple dual-port mode, UG473): a RAMB18 is ``16K x 1``,
``8K x 2``, ``4K x 4``, ``2K x 9``, ``1K x 18`` or ``512 x 36``; a memory's words are split
into blocks of these depths and each block's bits into columns of these widths (or of a
RAMB36's, ``4K x 9`` .. ``512 x 72``, which counts as two RAMB18), in the split that takes
fewest, times ``ceil(depth / 16K)`` for deeper ones; two RAMB18 make a BRAM36. Memories marked
``ram_style = "distributed"`` and those of at most :data:`LUTRAM_DEPTH` words are LUT RAM.
"""

from __future__ import annotations

import functools
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
    return cascade * _halves(-(-depth // cascade), width) / 2


#: Block RAM aspects as (depth, width, RAMB18 halves): a RAMB18's, and a RAMB36's, which
#: counts as two (its 4K x 9 holds what two RAMB18 at 4K x 4 cannot).
_ASPECTS = tuple((d, w, 1) for d, w in RAMB18_ASPECTS) + tuple(
    (2 * d, w, 2) for d, w in RAMB18_ASPECTS) + ((512, 72, 2),)


@functools.lru_cache(maxsize=None)
def _halves(depth: int, width: int) -> int:
    """The fewest RAMB18 (halves of a BRAM36) of a ``depth`` x ``width`` memory: its words in
    blocks of an aspect's depth (the last block: an aspect deep enough for the rest), each
    block's bits in columns of aspects at least that deep (as Yosys does: 3,072 x 136 is
    2K x 9 and 1K x 18, 24 RAMB18; 4,096 x 22 two RAMB36 at 4K x 9 and a RAMB18 at 4K x 4)."""
    best = _columns(depth, width)
    for d, _, _ in _ASPECTS:
        if d < depth:
            best = min(best, _columns(d, width) + _halves(depth - d, width))
    return best


@functools.lru_cache(maxsize=None)
def _columns(depth: int, width: int) -> int:
    """The fewest RAMB18 halves of ``width`` bits at ``depth`` words, in columns."""
    aspects = [(w, h) for d, w, h in _ASPECTS if d >= depth]
    best = [0] + [width] * width          # best[b]: halves for b bits
    for b in range(1, width + 1):
        best[b] = min(h + best[max(0, b - w)] for w, h in aspects)
    return best[width]


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
        # with banks, conv_banks of them in distributed RAM (hw.currents)
        banks = config.conv_banks
        for b in range(banks):
            out.append(_memory("currents" if banks == 1 else f"currents bank {b}",
                               config.conv_positions // banks,
                               config.conv_lanes * config.conv_acc_bits,
                               distributed=banks > 1))
        # hw.touched: one bit per position, in groups of 8, in LUT RAM
        group = min(8, config.conv_positions)
        out.append(_memory("touched positions", config.conv_positions // group, group,
                           distributed=True))
    return out
