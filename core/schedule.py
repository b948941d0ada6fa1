"""Timing of the accelerator's sequencer and integration pipeline, in clock cycles.

The gateware (``hw.accel``) is built to these figures and the cycle model (``core.perf``)
counts with them, so that both read them from one place.
"""

__all__ = ["SETUP_CYCLES", "OVERLAP_CHUNKS", "PIPE_DRAIN", "BOUND_CYCLES", "CONV_SLOT_STAGES",
           "CONV_ADDRESS_STAGES", "CONV_PAIR_REGISTERS", "CONV_UPDATE_DRAIN", "CONV_SKIP_START",
           "CONV_SKIP_NONE", "conv_skips"]

#: Cycles between START and the first step, for the registers derived from the network and the
#: pixels to settle after the host's last write (``core.perf`` counts them).
SETUP_CYCLES = 4

#: Chunks (groups of ``U`` neurons) the update of a block may still have to go when the next
#: block of its layer starts: that block's clear reaches the accumulators five cycles after
#: its BLOCK cycle (stages E, A, W, G, B), so the update's last chunk may sample them until
#: then (``core.perf`` counts the overlap).
OVERLAP_CHUNKS = 6

#: Cycles of the integration pipeline after its last event: address register, weight read, the
#: weight memory's output register, the lanes' registers, product; the update overlaps the
#: accumulate.
PIPE_DRAIN = 5

#: HybridBound (``hw.encoder``): cycles from its start to the cycle it is no longer busy.
BOUND_CYCLES = 11

#: Stages of a conv slot from the address generator's pair to its sum in the current memory
#: (E, A, W, G, B, C: ``hw.integration``); a conv block's ACCUM ends when none is occupied.
CONV_SLOT_STAGES = 6

#: Stages of the conv address generator that hold an event, S0 (fields), S1a (products), S1b
#: (quotients), S2 (landing masks) and S3 (the slots, one per cycle: ``hw.convaddr``), with a
#: ready chain; an event that reaches nothing is dropped as it enters S2.
CONV_ADDRESS_STAGES = 5

#: Registers of a conv slot between the address generator's choice (S3) and its ``pair``
#: (S4: ``hw.convaddr``).
CONV_PAIR_REGISTERS = 1

#: Cycles of a conv block's CONV_UPDATE after the walk chooses its last chunk: the reads'
#: register, the feed register and the neuron update's stages 2 to 5 (its spikes' entry
#: committed), then the state's exit.
CONV_UPDATE_DRAIN = 7

#: Cycles of a conv block's CONV_UPDATE that walks only the touched positions
#: (``hw.touched``), before the walk chooses its first chunk: the picker's group register,
#: the register of the group's word and base, its positions register and its offered
#: position's register.
CONV_SKIP_START = 4

#: Cycles of a conv block's CONV_UPDATE that walks only the touched positions when no
#: position was touched: the picker's group register finds none, then the state's exit.
CONV_SKIP_NONE = 2


def conv_skips(layer) -> bool:
    """Whether the update of conv layer ``layer`` may skip the positions that no event touched
    (``docs/architecture.md``, "Skipping neurons that cannot change"): an ``if`` layer
    without biases, whose neuron without current keeps ``v`` and spikes only if
    ``v >= theta`` already (after such a step the update visits every position of the
    layer). The compiler sets ``LAYER_CONV.SKIP`` from it and ``core.perf`` counts with it."""
    return (layer.conv is not None and layer.neuron == "if"
            and not layer.bias_or_zero().any())
