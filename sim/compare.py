"""Compare the accelerator's trace with the golden model, every spike and membrane value.

The accelerator's ``trace`` port (``hw.accel.TraceSignature``) emits one record per neuron-update
cycle: ``layer``, ``step``, ``index`` (neuron of lane 0), ``mask`` (lanes that hold real
neurons), ``spikes`` and ``membrane`` (``U`` lanes of ``M`` bits, signed). :func:`assemble`
turns the records of one inference into per-layer ``(T, n_out)`` arrays, checking that every
neuron of every layer and step is reported exactly once; :func:`compare` checks them, the final
membranes and the class against one sample of a :class:`sw.golden.Trace` and returns the
differences in causal order (step, then layer, then neuron), so the first one is where the
hardware first went wrong.

Pure Python and numpy: the CLI, the benches and ``tests/`` use it without a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Mismatch", "TraceError", "assemble", "compare", "split_lanes"]


class TraceError(ValueError):
    """The trace records do not describe one whole inference of the network."""


@dataclass(frozen=True)
class Mismatch:
    """One difference between hardware and golden model.

    ``what`` is ``"spike"``, ``"membrane"``, ``"missing"`` (no record for the neuron),
    ``"duplicate"`` (two records), ``"class"`` or ``"result"``; ``layer``/``step``/``neuron`` are
    -1 where they do not apply.
    """
    what: str
    layer: int
    step: int
    neuron: int
    expected: object
    got: object

    def __str__(self):
        where = []
        if self.layer >= 0:
            where.append(f"layer {self.layer}")
        if self.step >= 0:
            where.append(f"timestep {self.step}")
        if self.neuron >= 0:
            where.append(f"neuron {self.neuron}")
        place = ", ".join(where) or "read-out"
        return f"{self.what} differs at {place}: golden {self.expected}, hardware {self.got}"


def split_lanes(value: int, lanes: int, bits: int) -> list[int]:
    """Split a packed vector of ``lanes`` signed ``bits``-bit lanes (lane 0 in the low bits)."""
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    out = []
    for k in range(lanes):
        v = (value >> (k * bits)) & mask
        out.append(v - (1 << bits) if v & sign else v)
    return out


def assemble(records, sizes, timesteps: int, lanes: int, membrane_bits: int):
    """Per-layer spike and membrane arrays from the trace records of one inference.

    Parameters
    ----------
    records : list of dict
        Decoded records with ``layer``, ``step``, ``index``, ``mask``, ``spikes``, ``membrane``
        (``membrane`` packed, or already a list of lane values).
    sizes : list of int
        ``n_out`` of every layer.
    lanes : int
        ``U``, lanes per record. ``membrane_bits`` is the hardware's lane width.

    Returns
    -------
    (spikes, membrane, seen, problems) : per-layer bool (T, n) and int64 (T, n) arrays, the count
    of records per neuron (int (T, n)), and :class:`Mismatch` entries for records outside the
    network (reported as ``"duplicate"`` with ``expected`` None).
    """
    spikes = [np.zeros((timesteps, n), bool) for n in sizes]
    membrane = [np.zeros((timesteps, n), np.int64) for n in sizes]
    seen = [np.zeros((timesteps, n), np.int32) for n in sizes]
    problems = []
    for r in records:
        layer, step, index = int(r["layer"]), int(r["step"]), int(r["index"])
        lane_v = r["membrane"]
        if not isinstance(lane_v, list):
            lane_v = split_lanes(int(lane_v), lanes, membrane_bits)
        for k in range(lanes):
            if not (int(r["mask"]) >> k) & 1:
                continue
            neuron = index + k
            if layer >= len(sizes) or step >= timesteps or neuron >= sizes[layer]:
                problems.append(Mismatch("duplicate", layer, step, neuron, None,
                                         "a record for a neuron the network does not have"))
                continue
            seen[layer][step, neuron] += 1
            spikes[layer][step, neuron] = bool((int(r["spikes"]) >> k) & 1)
            membrane[layer][step, neuron] = lane_v[k]
    return spikes, membrane, seen, problems


def compare(records, golden, network, *, lanes: int, membrane_bits: int, result=None,
            limit: int = 20) -> list[Mismatch]:
    """Differences between one inference's trace and the golden model.

    Parameters
    ----------
    records : list of dict
        The decoded trace records of the inference.
    golden : sw.golden.Trace
        The golden trace of this one sample (batch axis of length 1).
    network : sw.network.Network
    lanes, membrane_bits : int
        ``U`` and ``M`` of the hardware configuration (the trace's lane count and width).
    result : dict, optional
        What the host driver read back: ``class`` (int) and, when present, ``first_time``,
        ``first_potential`` and ``final_membrane`` (sequences over the output neurons).
    limit : int
        Stop after this many differences.
    """
    T = network.timesteps
    sizes = [layer.n_out for layer in network.layers]
    spikes, membrane, seen, problems = assemble(records, sizes, T, lanes, membrane_bits)
    out: list[Mismatch] = list(problems)
    for t in range(T):
        for l, n in enumerate(sizes):
            g_s = golden.spikes[l][0, t].numpy()
            g_v = golden.membrane[l][0, t].numpy()
            for j in range(n):
                count = seen[l][t, j]
                if count == 0:
                    out.append(Mismatch("missing", l, t, j, "a record", "none"))
                elif count > 1:
                    out.append(Mismatch("duplicate", l, t, j, 1, int(count)))
                elif bool(g_s[j]) != bool(spikes[l][t, j]):
                    out.append(Mismatch("spike", l, t, j, int(g_s[j]), int(spikes[l][t, j])))
                elif int(g_v[j]) != int(membrane[l][t, j]):
                    out.append(Mismatch("membrane", l, t, j, int(g_v[j]),
                                        int(membrane[l][t, j])))
                if len(out) >= limit:
                    return out
    if result is not None:
        expected = int(golden.prediction[0])
        if "class" in result and int(result["class"]) != expected:
            out.append(Mismatch("class", -1, -1, -1, expected, int(result["class"])))
        checks = (("first_time", golden.first_time[0]),
                  ("first_potential", golden.first_potential[0]),
                  ("final_membrane", golden.membrane[-1][0, T - 1]))
        for name, want in checks:
            if result.get(name) is None:
                continue
            got = [int(v) for v in result[name]]
            want = [int(v) for v in want.tolist()]
            for j, (w, g) in enumerate(zip(want, got)):
                if w != g:
                    out.append(Mismatch(f"result {name}", len(sizes) - 1, -1, j, w, g))
                    break
            if len(got) != len(want):
                out.append(Mismatch(f"result {name}", len(sizes) - 1, -1, -1,
                                    f"{len(want)} values", f"{len(got)} values"))
    return out[:limit]
