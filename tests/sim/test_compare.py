"""Pure-Python tests of the trace decoding and the golden comparison (no simulator)."""

import numpy as np
import pytest

from core import golden
from core.config import Config
from core.randnet import random_network, random_pixels
from hw.accel import Accelerator
from sim.compare import Mismatch, RawTrace, assemble, compare, split_lanes
from sim.standin import RegisterFile
from sim.wrapper import decode_record, trace_fields

U, M = 4, 16


def _unused(component):
    """Only the signature is inspected: tell Amaranth not to warn that it was never elaborated."""
    component._MustUse__silence = True
    return component


def _records_from_golden(network, trace, lanes=U, bits=M):
    """What a correct accelerator's trace port would emit for sample 0 of ``trace``."""
    out = []
    for t in range(network.timesteps):
        for l, layer in enumerate(network.layers):
            for index in range(0, layer.n_out, lanes):
                mask = spikes = membrane = 0
                for k in range(lanes):
                    j = index + k
                    if j >= layer.n_out:
                        continue
                    mask |= 1 << k
                    spikes |= int(trace.spikes[l][0, t, j]) << k
                    membrane |= (int(trace.membrane[l][0, t, j]) & ((1 << bits) - 1)) << (k * bits)
                out.append({"layer": l, "step": t, "index": index, "mask": mask,
                            "spikes": spikes, "membrane": membrane})
    return out


@pytest.fixture
def case():
    rng = np.random.default_rng(4)
    network = random_network(rng, max_inputs=10, max_neurons=9, max_layers=3,
                             membrane_bits=M)
    pixels = random_pixels(rng, 1, network.n_inputs)
    trace = golden.run(network, pixels)
    return network, trace


def _words(records, fields):
    """Pack dict records into captured words with the accelerator's field layout."""
    offsets = {f["path"]: f["offset"] for f in fields}
    return [sum(int(r[name]) << offsets[name] for name in offsets) for r in records]


def _accel_fields(lanes=U, bits=M):
    config = Config.tiny(neuron_units=lanes, membrane_bits=bits)
    return trace_fields(_unused(Accelerator(config)))[0]


def test_raw_words_decode_like_dicts(case):
    network, trace = case
    records = _records_from_golden(network, trace)
    fields = _accel_fields()
    raw = RawTrace(_words(records, fields), fields)
    assert compare(raw, trace, network, lanes=U, membrane_bits=M) == []
    records[3]["membrane"] ^= 1 << (M - 1)  # flip a sign bit
    raw = RawTrace(_words(records, fields), fields)
    found = compare(raw, trace, network, lanes=U, membrane_bits=M)
    assert found and found[0].what == "membrane"
    assert abs(found[0].got - found[0].expected) == 1 << (M - 1)


def test_split_lanes():
    assert split_lanes(0x8001_7FFF, 2, 16) == [32767, -32767]
    assert split_lanes(0b10_01, 2, 2) == [1, -2]


def test_correct_trace_has_no_mismatch(case):
    network, trace = case
    records = _records_from_golden(network, trace)
    result = {"class": int(trace.prediction[0]), "first_time": trace.first_time[0].tolist(),
              "final_membrane": trace.membrane[-1][0, -1].tolist()}
    assert compare(records, trace, network, lanes=U, membrane_bits=M, result=result) == []


def test_reports_the_first_difference_in_causal_order(case):
    network, trace = case
    records = _records_from_golden(network, trace)
    last = len(network.layers) - 1
    # Corrupt a late record and an early one: the early one is reported first.
    records[-1]["membrane"] ^= 1
    t1 = [r for r in records if r["step"] == 0 and r["layer"] == last][0]
    t1["spikes"] ^= 1
    found = compare(records, trace, network, lanes=U, membrane_bits=M)
    assert found[0] == Mismatch("spike", last, 0, t1["index"],
                                int(trace.spikes[last][0, 0, t1["index"]]),
                                1 - int(trace.spikes[last][0, 0, t1["index"]]))
    assert found[-1].what == "membrane" and found[-1].step == network.timesteps - 1
    assert "spike differs at layer" in str(found[0])


def test_missing_and_duplicate_records(case):
    network, trace = case
    records = _records_from_golden(network, trace)
    dropped = records.pop(0)
    records.append(dict(records[0]))
    found = compare(records, trace, network, lanes=U, membrane_bits=M)
    kinds = {m.what for m in found}
    assert "missing" in kinds and "duplicate" in kinds
    assert any(m.what == "missing" and m.neuron == dropped["index"] for m in found)


def test_wrong_class_and_result(case):
    network, trace = case
    records = _records_from_golden(network, trace)
    wrong = (int(trace.prediction[0]) + 1) % network.n_classes
    final = trace.membrane[-1][0, -1].tolist()
    final[0] += 1
    found = compare(records, trace, network, lanes=U, membrane_bits=M,
                    result={"class": wrong, "final_membrane": final})
    assert [m.what for m in found] == ["class", "result final_membrane"]


def test_wrong_spike_count(case):
    """The spike counts read back (hardware with spike_count) are compared too."""
    network, trace = case
    records = _records_from_golden(network, trace)
    count = trace.count[0].tolist()
    assert not compare(records, trace, network, lanes=U, membrane_bits=M,
                       result={"count": count})
    count[-1] += 1
    found = compare(records, trace, network, lanes=U, membrane_bits=M, result={"count": count})
    assert [(m.what, m.neuron) for m in found] == [("result count", network.n_classes - 1)]


def test_assemble_ignores_masked_lanes():
    records = [{"layer": 0, "step": 0, "index": 0, "mask": 0b01, "spikes": 0b11,
                "membrane": (5 << 16) | 7}]
    spikes, membrane, seen, problems = assemble(records, [1], 1, 2, 16)
    assert spikes[0].tolist() == [[True]] and membrane[0].tolist() == [[7]]
    assert seen[0].tolist() == [[1]] and problems == []


def test_trace_fields_of_the_accelerator_signature():
    config = Config.tiny()
    fields, ports = trace_fields(_unused(Accelerator(config)))
    names = [f["path"] for f in fields]
    assert names == ["layer", "step", "index", "mask", "spikes", "membrane"]
    assert [p for p, _ in ports] == [f"trace__{n}" for n in names]
    width = sum(w for _, w in ports)
    U_, M_ = config.neuron_units, config.membrane_bits
    assert width == 4 + 8 + 16 + 2 * U_ + U_ * M_
    word = (3 << fields[1]["offset"]) | (1 << fields[0]["offset"])
    assert decode_record(word, fields)["step"] == 3
    assert decode_record(word, fields)["layer"] == 1


def test_trace_fields_of_a_stream_payload():
    fields, ports = trace_fields(_unused(RegisterFile()))
    assert [p for p, _ in ports] == ["trace__payload"]
    word = (5 << 0) | (2 << 8) | ((-3 & 0xFFF) << 10) | (9 << 22)
    record = decode_record(word, fields)
    assert record == {"payload": {"step": 5, "spikes": 2, "membrane": [-3, 9]}}
