"""Timing constants of the sequencer that the gateware and the cycle model share."""

#: Cycles between START and the first step, for the registers derived from the network and the
#: pixels to settle after the host's last write.
SETUP_CYCLES = 4

#: Chunks (groups of ``U`` neurons) the update of a block may still have to go when the next
#: block of its layer starts: that block's clear reaches the accumulators five cycles after
#: its BLOCK cycle (stages E, A, W, G, B), so the update's last chunk may sample them until
#: then.
OVERLAP_CHUNKS = 6

#: Stages of the integration pipeline before the accumulation: the address register, the
#: weight read, the weight memory's output register, the lanes' registers, the product (the
#: update overlaps the accumulate).
PIPE_DRAIN = 5

#: HybridBound: from its start to the cycle it is no longer busy.
BOUND_CYCLES = 11
