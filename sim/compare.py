"""Compare the accelerator's trace with the golden model, every spike and membrane value.

The accelerator's ``trace`` port (``hw.accel.TraceSignature``) emits one record per neuron-update
cycle: ``layer``, ``step``, ``index`` (neuron of lane 0), ``mask`` (lanes that hold real
neurons), ``spikes`` and ``membrane`` (``U`` lanes of ``M`` bits, signed). :func:`assemble`
turns the records of one inference into per-layer ``(T, n_out)`` arrays, checking that every
neuron of every layer and step is reported exactly once; :func:`compare` (where a conv layer's
update skipped a neuron, after step 0 or at the only step, it has no record: it takes its value
of the step before, 0 before step 0, without a spike, which the golden model must agree with)
checks them, the final membranes and the class against one sample of a
:class:`core.golden.Trace` and returns the
differences in causal order (step, then layer, then neuron), so the first one is where the
hardware first went wrong.

Pure Python and numpy: the CLI, the benches and ``tests/`` use it without a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import map_orders

__all__ = ["Mismatch", "RawTrace", "TraceError", "assemble", "compare", "split_lanes"]


class TraceError(ValueError):
    """The trace records do not describe one whole inference of the network."""


@dataclass(frozen=True)
class Mismatch:
    """One difference between hardware and golden model.

    ``what`` is ``"spike"``, ``"membrane"``, ``"missing"`` (no record for the neuron),
    ``"padding spike"`` (a padding neuron of a map's hardware order spiked; ``neuron`` is its
    hardware index),
    ``"duplicate"`` (two records), ``"class"`` or ``"result NAME"`` (a read-out result:
    ``first_time``, ``first_potential``, ``final_membrane``, ``count``); ``layer``/``step``/``neuron`` are
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


class RawTrace:
    """Undecoded trace records (ints, as the wrapper captured them) with their field layout
    (``sim.wrapper.trace_fields``); :func:`assemble` decodes them with numpy, all at once."""

    def __init__(self, words, fields):
        self.words = list(words)
        self.fields = {f["path"]: f for f in fields}

    def __len__(self):
        return len(self.words)

    def columns(self, lanes: int, membrane_bits: int) -> dict:
        """``layer``, ``step``, ``index``, ``mask``, ``spikes`` as int64 (R,) arrays and
        ``membrane`` as int64 (R, lanes)."""
        if not self.words:
            return None
        width = max(f["offset"] + f["width"] for f in self.fields.values())
        nbytes = (width + 7) // 8
        buf = b"".join(w.to_bytes(nbytes, "little") for w in self.words)
        bits = np.unpackbits(np.frombuffer(buf, np.uint8).reshape(len(self.words), nbytes),
                             axis=1, bitorder="little").astype(np.int64)

        def field(name):
            f = self.fields[name]
            chunk = bits[:, f["offset"]:f["offset"] + f["width"]]
            return chunk @ (np.int64(1) << np.arange(f["width"], dtype=np.int64))

        out = {name: field(name) for name in ("layer", "step", "index", "mask", "spikes")}
        f = self.fields["membrane"]
        lanes_bits = bits[:, f["offset"]:f["offset"] + lanes * membrane_bits]
        lanes_bits = lanes_bits.reshape(len(self.words), lanes, membrane_bits)
        values = lanes_bits @ (np.int64(1) << np.arange(membrane_bits, dtype=np.int64))
        out["membrane"] = values - ((values >> (membrane_bits - 1)) << membrane_bits)
        return out


def _columns_from_dicts(records, lanes, membrane_bits):
    if not records:
        return None
    out = {name: np.array([int(r[name]) for r in records], np.int64)
           for name in ("layer", "step", "index", "mask", "spikes")}
    rows = []
    for r in records:
        v = r["membrane"]
        rows.append(v if isinstance(v, list) else split_lanes(int(v), lanes, membrane_bits))
    out["membrane"] = np.array(rows, np.int64).reshape(len(records), lanes)
    return out


def assemble(records, sizes, timesteps: int, lanes: int, membrane_bits: int):
    """Per-layer spike and membrane arrays from the trace records of one inference.

    Parameters
    ----------
    records : RawTrace, or list of dict
        The records; a dict has ``layer``, ``step``, ``index``, ``mask``, ``spikes`` and
        ``membrane`` (packed, or already a list of lane values).
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
    cols = (records.columns(lanes, membrane_bits) if isinstance(records, RawTrace)
            else _columns_from_dicts(records, lanes, membrane_bits))
    if cols is None:
        return spikes, membrane, seen, problems
    k = np.arange(lanes, dtype=np.int64)
    active = ((cols["mask"][:, None] >> k) & 1).astype(bool)            # (R, U)
    spike = ((cols["spikes"][:, None] >> k) & 1).astype(bool)
    neuron = cols["index"][:, None] + k
    layer = np.broadcast_to(cols["layer"][:, None], neuron.shape)
    step = np.broadcast_to(cols["step"][:, None], neuron.shape)
    for l, n in enumerate(sizes):
        sel = active & (layer == l) & (step < timesteps) & (neuron < n)
        t, j = step[sel], neuron[sel]
        np.add.at(seen[l], (t, j), 1)
        spikes[l][t, j] = spike[sel]
        membrane[l][t, j] = cols["membrane"][sel]
    outside = active & ((layer >= len(sizes)) | (step >= timesteps)
                        | (neuron >= np.array(sizes + [0])[np.minimum(layer, len(sizes))]))
    for r, kk in zip(*np.nonzero(outside)):
        problems.append(Mismatch("duplicate", int(layer[r, kk]), int(step[r, kk]),
                                 int(neuron[r, kk]), None,
                                 "a record for a neuron the network does not have"))
    return spikes, membrane, seen, problems


def compare(records, golden, network, *, lanes: int, membrane_bits: int, result=None,
            limit: int = 20) -> list[Mismatch]:
    """Differences between one inference's trace and the golden model.

    Parameters
    ----------
    records : RawTrace or list of dict
        The trace records of the inference.
    golden : core.golden.Trace
        The golden trace of this one sample (batch axis of length 1).
    network : core.network.Network
    lanes, membrane_bits : int
        ``U`` and ``M`` of the hardware configuration (the trace's lane count and width).
    result : dict, optional
        What the host driver read back: ``class`` (int) and, when present, ``first_time``,
        ``first_potential``, ``final_membrane`` and ``count`` (the spike counts, from hardware
        built with ``spike_count``) (sequences over the output neurons).
    limit : int
        Stop after this many differences.
    """
    T = network.timesteps
    sizes = [layer.n_out for layer in network.layers]
    # The records carry hardware indices: a map that a conv layer reads or writes is in the
    # hardware order (docs/architecture.md), whose padding neurons must never spike.
    orders = [outputs for _, outputs in map_orders(network, lanes)]
    spikes, membrane, seen, problems = assemble(records, [o.size for o in orders], T, lanes,
                                                membrane_bits)
    out: list[Mismatch] = list(problems)
    for l, order in enumerate(orders):
        if order.identity:
            continue
        index = order.hardware_index()
        padding = np.ones(order.size, bool)
        padding[index] = False
        for t, j in zip(*np.nonzero(spikes[l] & padding)):
            # neuron: the hardware index of a neuron the network does not have
            out.append(Mismatch("padding spike", l, int(t), int(j), 0, 1))
        spikes[l], membrane[l], seen[l] = (a[:, index] for a in (spikes[l], membrane[l],
                                                                  seen[l]))
    for l, layer in enumerate(network.layers):
        if layer.conv is None:
            continue
        # The update of a conv layer skips, after step 0 (and at step 0 when it is the only
        # step), the positions whose neurons cannot change (docs/architecture.md): a neuron
        # without a record kept its value (0 before step 0) and did not spike, which the
        # golden model must agree with below.
        for t in range(0 if T == 1 else 1, T):
            skipped = seen[l][t] == 0
            membrane[l][t, skipped] = membrane[l][t - 1, skipped] if t else 0
            seen[l][t, skipped] = seen[l][t - 1, skipped] > 0 if t else 1
    for t in range(T):
        for l, n in enumerate(sizes):
            g_s = golden.spikes[l][0, t]
            g_v = golden.membrane[l][0, t]
            bad = ((seen[l][t] != 1) | (spikes[l][t] != g_s) | (membrane[l][t] != g_v))
            for j in map(int, np.flatnonzero(bad)):
                count = seen[l][t, j]
                if count == 0:
                    out.append(Mismatch("missing", l, t, j, "a record", "none"))
                elif count > 1:
                    out.append(Mismatch("duplicate", l, t, j, 1, int(count)))
                elif bool(g_s[j]) != bool(spikes[l][t, j]):
                    out.append(Mismatch("spike", l, t, j, int(g_s[j]), int(spikes[l][t, j])))
                else:
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
                  ("final_membrane", golden.membrane[-1][0, T - 1]),
                  ("count", golden.count[0]))
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
