"""The numeric rules of ``docs/numerics.md``, each written once.

The golden model's reference (Python integers, one neuron at a time), its fast path (numpy
int64 arrays, a batch at a time), the Python references of the gateware tests and the cycle
model all call these functions, so that a rule changes in one place. Every function takes
either Python integers or numpy integer arrays (broadcast against each other) and returns the
same kind: a Python ``int`` or ``bool`` for scalars, an array for arrays.

Sharing the rules means that a comparison of the golden model's two paths no longer checks the
rules themselves; the worked examples of ``tests/test_golden.py`` (numbers computed by hand from
the document) and the gateware tests (the RTL against these functions) do.

Layer parameters are keyword arguments named as the fields of ``docs/numerics.md``, section 1
(``neuron``, ``leak_mode``, ``leak``, ``threshold``, ``reset``, ``fire_once``), so a
:class:`core.network.Layer` passes them with :func:`layer_rule`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "INPUT_SPIKE", "NEVER", "LFSR_TAPS", "DRAW_SHIFTS",
    "saturation_bounds", "saturate", "apply_leak", "neuron_step", "layer_rule",
    "lfsr_shift", "lfsr_draw", "lfsr_draws", "hybrid_spike_time", "readout_class",
]

INPUT_SPIKE = 255  # magnitude of an encoder spike, a full-scale pixel (section 4)
NEVER = 255        # first spike time of a neuron that did not fire (sections 5 and 6)
LFSR_TAPS = 0xB400  # Galois taps 16, 14, 13, 11: maximal length 65535 (section 4.3)
DRAW_SHIFTS = 8    # LFSR shifts per rate-encoder draw (section 4.3)


def _is_array(*values) -> bool:
    return any(isinstance(v, np.ndarray) for v in values)


def _select(condition, if_true, if_false):
    """``if_true`` where ``condition`` holds, else ``if_false`` (elementwise for arrays)."""
    if _is_array(condition, if_true, if_false):
        return np.where(condition, if_true, if_false)
    return if_true if condition else if_false


# -- the neuron (section 3) -----------------------------------------------------------------

def saturation_bounds(membrane_bits: int) -> tuple[int, int]:
    """``(lo, hi)``: the signed ``M``-bit range ``[-2^(M-1), 2^(M-1) - 1]`` of ``sat_M``."""
    return -(1 << (membrane_bits - 1)), (1 << (membrane_bits - 1)) - 1


def saturate(x, membrane_bits: int):
    """``sat_M(x)``: ``x`` clamped to the signed ``membrane_bits``-bit range."""
    lo, hi = saturation_bounds(membrane_bits)
    if _is_array(x):
        return np.clip(x, lo, hi)
    return max(lo, min(hi, x))


def apply_leak(v, *, neuron: str, leak_mode: str, leak: int):
    """Step 1, ``u = leak(v)``: ``v`` for ``if``; for ``lif``, ``v - (v >> k)`` (shift ``k``,
    the subtracted part rounded towards minus infinity) or ``(v * lambda + 128) >> 8`` (factor
    ``lambda``, rounded half up). Neither leaves the ``M``-bit range."""
    if neuron == "if":
        return v
    if leak_mode == "shift":
        return v - (v >> leak)
    return (v * leak + 128) >> 8


def neuron_step(v, fired, current, *, membrane_bits: int, threshold: int, neuron: str = "if",
                leak_mode: str = "shift", leak: int = 1, reset: str = "subtract",
                fire_once: bool = False):
    """One timestep of a neuron (section 3, steps 1-4).

    Parameters
    ----------
    v : int or int64 array
        Membrane potential left by the previous step (``M`` bits).
    fired : bool or bool array
        The neuron fired earlier in this inference.
    current : int or int64 array
        ``I + b``: the exact sum of weight times event magnitude over the inputs, plus the
        neuron's bias (0 without one). Nothing is clamped before it is added to the leaked
        potential.

    Returns
    -------
    ``(p, spike, v_next, fired_next)``: the saturated potential before the reset (the read-out's
    ``first_potential``), the spike, the potential after the reset, and the new ``fired``.
    """
    u = apply_leak(v, neuron=neuron, leak_mode=leak_mode, leak=leak)
    p = saturate(u + current, membrane_bits)  # clamped once per step, after the whole sum
    spike = p >= threshold
    if fire_once:
        spike = _select(fired, False, spike)  # a neuron that fired stays silent ...
    if reset == "subtract":                   # ... but still leaks and integrates
        v_next = _select(spike, p - threshold, p)
    elif reset == "zero":
        v_next = _select(spike, 0, p)
    else:
        v_next = p
    return p, spike, v_next, fired | spike


def layer_rule(layer) -> dict:
    """The keyword arguments of :func:`neuron_step` for a layer (any object with the fields of
    section 1: ``threshold``, ``neuron``, ``leak_mode``, ``leak``, ``reset``, ``fire_once``)."""
    return dict(threshold=layer.threshold, neuron=layer.neuron, leak_mode=layer.leak_mode,
                leak=layer.leak, reset=layer.reset, fire_once=layer.fire_once)


# -- the encoders (section 4) ---------------------------------------------------------------

def lfsr_shift(r: int) -> int:
    """One shift of the 16-bit Galois LFSR: ``r >> 1``, XOR the taps if the bit shifted out
    was set."""
    return (r >> 1) ^ LFSR_TAPS if r & 1 else r >> 1


def lfsr_draw(r: int) -> tuple[int, int]:
    """One draw of the rate encoder: ``(state after eight shifts, its low byte)``."""
    for _ in range(DRAW_SHIFTS):
        r = lfsr_shift(r)
    return r, r & 0xFF


@lru_cache(maxsize=16)
def _draw_table(seed: int, count: int) -> np.ndarray:
    draws = np.empty(count, np.int64)
    r = seed
    for k in range(count):
        r, draws[k] = lfsr_draw(r)
    draws.flags.writeable = False
    return draws


def lfsr_draws(seed: int, timesteps: int, n_inputs: int) -> np.ndarray:
    """The rate encoder's draws for one inference, int64 ``(timesteps, n_inputs)``: the LFSR
    starts at ``seed`` and draws for every input in ascending order, step after step. Input
    ``i`` spikes at step ``t`` when ``x[i] > draws[t, i]``. Read-only (cached)."""
    return _draw_table(seed, timesteps * n_inputs).reshape(timesteps, n_inputs)


def hybrid_spike_time(x, timesteps: int):
    """``t_spike(x) = 1 + (((255 - x) * (T - 1)) >> 8)``: the step in ``1 .. T-1`` at which a
    pixel ``x > 0`` spikes under hybrid coding (section 4.2); earlier for brighter pixels."""
    return 1 + (((255 - x) * (timesteps - 1)) >> 8)


# -- the read-out (section 6) ---------------------------------------------------------------

def readout_class(first_time, first_potential, final_v, *, readout: str, count=None) -> int:
    """The class of one inference from its output neurons (sequences of ints): for
    ``first_spike`` the earliest first spike, then the largest potential in that step, then the
    lowest index, or the largest final membrane (lowest index on ties) if none fired; for
    ``max_membrane`` the largest final membrane, lowest index on ties; for ``spike_count`` the
    most spikes (``count``, spikes per output neuron), lowest index on ties."""
    n = len(final_v)
    if readout == "spike_count":
        return max(range(n), key=lambda j: (int(count[j]), -j))
    if readout == "first_spike" and any(int(t) != NEVER for t in first_time):
        return min(range(n), key=lambda j: (int(first_time[j]), -int(first_potential[j]), j))
    return max(range(n), key=lambda j: (int(final_v[j]), -j))
