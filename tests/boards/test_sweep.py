"""``boards.sweep``: the points of a sweep, the model narrowed to a point, the Pareto front,
and a failing tool recorded for its point."""

import numpy as np
import pytest

from boards import sweep
from boards.reports import ReportError
from core import golden
from core.network import Layer, Network


def _network(rng=None):
    rng = rng or np.random.default_rng(1)
    return Network([Layer(rng.integers(-128, 128, (12, 64)), 8, threshold=300,
                          bias=rng.integers(-20, 20, 12)),
                    Layer(rng.integers(-128, 128, (10, 12)), 8, threshold=40)],
                   membrane_bits=16, timesteps=3)


def test_points_are_every_combination_in_order():
    got = sweep.points({"lanes": [64, 128], "weight_bits": [4, 8]})
    assert [(p["lanes"], p["weight_bits"]) for p in got] == [(64, 4), (64, 8), (128, 4),
                                                             (128, 8)]
    assert all(p["board"] == "arty" and p["inputs_per_cycle"] == 1 and p["timesteps"] is None
               for p in got)
    with pytest.raises(sweep.SweepError, match="unknown sweep axis frequency"):
        sweep.points({"frequency": [1]})


class TestFitNetwork:
    def test_wider_hardware_changes_nothing(self):
        net = _network()
        assert sweep.fit_network(net, weight_bits=8, membrane_bits=32) == net

    def test_narrower_weights_scale_weights_threshold_and_bias(self):
        net = _network()
        fitted = sweep.fit_network(net, weight_bits=4, membrane_bits=12, timesteps=5)
        layer, old = fitted.layers[0], net.layers[0]
        assert layer.weight_bits == 4 and fitted.membrane_bits == 12 and fitted.timesteps == 5
        assert layer.weights.min() >= -8 and layer.weights.max() <= 7
        assert np.array_equal(layer.weights, np.clip(np.round(old.weights / 16), -8, 7))
        assert layer.threshold == round(300 / 16)
        assert np.array_equal(layer.bias, np.round(old.bias / 16))

    def test_one_bit_weights_have_no_zero(self):
        fitted = sweep.fit_network(_network(), weight_bits=1)
        assert set(np.unique(fitted.layers[0].weights)) <= {-1, 1}


def test_pareto_front():
    entries = [{"cycles": {"median": 100}, "accuracy": 0.9},
               {"cycles": {"median": 200}, "accuracy": 0.95},
               {"cycles": {"median": 300}, "accuracy": 0.94},   # beaten by the second
               {"error": "impossible"},
               {"cycles": {"median": 100}, "accuracy": 0.8}]    # beaten by the first
    assert sweep.pareto(entries) == ([0, 1], ("cycles", "accuracy"))
    for entry, lut in zip(entries, (500, 300, 200, None, 600)):
        if lut:
            entry["resources"] = {"lut": lut}
    assert sweep.pareto(entries) == ([0, 1, 2], ("cycles", "lut"))


def test_a_failing_tool_is_recorded_and_the_rest_measured(monkeypatch):
    def broken(config, **_):
        raise ReportError("yosys crashed")

    monkeypatch.setattr(sweep, "accelerator_resources", broken)
    net = _network()
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (20, 64), dtype=np.uint8)
    labels = golden.predict(net, pixels)
    entries = sweep.sweep(sweep.points({"lanes": [8, 6]}), net, pixels, labels,
                          metrics=("cycles", "accuracy", "resources"))
    good, impossible = entries
    assert good["errors"] == {"resources": "yosys crashed"} and good["error"] is None
    assert good["accuracy"] == 1.0 and good["cycles"]["median"] > 0
    assert "lanes is 6; it must be a power of two" in impossible["error"]
    assert "cycles" not in impossible
