"""``python -m sw.perf`` (cli.perf) and the untrained stand-in of a recipe (sw.recipenet), on
small networks: what fits, the cycles of the cycle model, the memories, the messages."""

import json

import numpy as np
import pytest

from cli import perf as perf_cli
from core import golden, modelfile, perf
from core.config import Config
from hw.memories import memories
from sw.recipenet import calibrate, recipe_network
from sw.snnrecipe import load_config

RECIPE = """
[network]
hidden = ["conv 4 3x3 pad 1", "pool 2", "conv 8 3x3", 16]
input_shape = [1, 8, 8]
timesteps = 3
encoder = "hybrid"
[export]
name = "small"
"""


def small_recipe(tmp_path, text=RECIPE):
    path = tmp_path / "small.toml"
    path.write_text(text)
    return path


def pixels(n=12, size=64):
    return np.random.default_rng(0).integers(0, 256, (n, size)).astype(np.uint8)


def test_recipe_network_has_the_recipes_shapes_and_spiking_fractions(tmp_path):
    recipe = load_config(small_recipe(tmp_path))
    network = recipe_network(recipe, pixels(), hidden_fraction=0.25, output_fraction=0.2)
    assert network.sizes == [64, 4 * 8 * 8, 4 * 4 * 4, 8 * 2 * 2, 16, 10]
    assert [l.conv is not None for l in network.layers] == [True, True, True, False, False]
    assert network.timesteps == 3 and network.encoder == "hybrid"
    assert network.name == "untrained stand-in of small"
    fired = [s.any(axis=1).mean() for s in golden.run(network, pixels()).spikes]
    for index in (0, 2, 3):                          # the layers with weights of their own
        assert fired[index] == pytest.approx(0.25, abs=0.08)
    assert fired[4] == pytest.approx(0.2, abs=0.08)


def test_calibrate_moves_each_threshold_to_the_quantile(tmp_path):
    network = recipe_network(load_config(small_recipe(tmp_path)), pixels())
    before = [l.threshold for l in network.layers]
    calibrate(network, pixels(), 0.5, 0.5)
    after = [l.threshold for l in network.layers]
    assert after[1] == before[1] == 1                # the pooling keeps its threshold
    assert after[0] < before[0]                      # more neurons spike: a lower threshold


def test_recipe_shape_errors_name_the_key(tmp_path):
    recipe = load_config(small_recipe(tmp_path))
    with pytest.raises(ValueError, match=r"network.input_shape is \[1, 8, 8\], 64 pixels, but "
                                         r"the images have 784"):
        recipe_network(recipe, pixels(size=784))
    recipe["network"]["hidden"] = [16, "conv 4 3x3"]
    with pytest.raises(ValueError, match=r"network.hidden entry 'conv 4 3x3' needs a map"):
        recipe_network(recipe, pixels())


def test_perf_reports_cycles_and_memories(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code = perf_cli.main(["--recipe", str(small_recipe(tmp_path)), "--config", "tiny-conv",
                          "--samples", "6", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out_json.read_text())
    assert "perf: an untrained stand-in of" in out and "no accuracy" in out
    assert "perf: configuration tiny-conv: the network fits" in out
    assert report["fits"] and report["cycles"]["images"] == 6
    assert report["bram36"] == sum(m.bram36 for m in memories(Config.tiny_conv()))
    assert [m["name"] for m in report["memories"]] == [m.name for m in
                                                       memories(Config.tiny_conv())]
    assert report["cycles"]["bound_ratio_median"] >= 1
    assert f"{report['cycles']['median']:,.0f}" in out


def test_perf_of_a_model_file_counts_what_core_perf_counts(tmp_path, capsys):
    network = recipe_network(load_config(small_recipe(tmp_path)), pixels())
    modelfile.save(network, tmp_path / "m.snn")
    out_json = tmp_path / "r.json"
    assert perf_cli.main(["--model", str(tmp_path / "m.snn"), "--config", "tiny-conv",
                          "--samples", "5", "--json", str(out_json)]) == 0
    report = json.loads(out_json.read_text())
    images = np.random.default_rng(0).integers(0, 256, (5, 64)).astype(np.uint8)
    cycles = perf.cycle_counts(network, Config.tiny_conv(), images)
    assert report["cycles"]["median"] == np.median(cycles)
    assert report["cycles"]["max"] == cycles.max()


def test_perf_names_the_memory_that_overflows(tmp_path, capsys):
    # conv 4 3x3 pad 1 on 8 x 8: rows of 8 positions of the current memory; give it 4 (a map
    # larger than the memory runs in bands of rows, but a band holds at least one row)
    code = perf_cli.main(["--recipe", str(small_recipe(tmp_path)), "--config", "tiny-conv",
                          "--set", "conv_positions=4", "--samples", "4"])
    out = capsys.readouterr().out
    assert code == 1
    assert ("perf: configuration tiny-conv: the network does not fit: layers[0]'s output rows "
            "need 8 positions each of the current memory, this hardware has 4: regenerate the "
            "gateware with --set conv_positions=8 or narrow the map") in out
    assert "cycles per image" not in out and "BRAM36 of the xc7a100t's 135" in out


def test_perf_bad_input(tmp_path, capsys):
    assert perf_cli.main(["--recipe", str(small_recipe(tmp_path)), "--data", "digits",
                          "--config", "tiny-conv"]) == 0     # the digits are 64 pixels
    capsys.readouterr()
    bad = small_recipe(tmp_path, RECIPE.replace("[1, 8, 8]", "[1, 8, 9]"))
    assert perf_cli.main(["--recipe", str(bad), "--data", "digits"]) == 2
    assert capsys.readouterr().err.strip() == (
        "python -m sw.perf: error: --data digits has 64 pixels per image; the network takes 72")
    with pytest.raises(SystemExit) as exit_info:
        perf_cli.main(["--samples", "3"])
    assert exit_info.value.code == 2
    assert "one of the arguments --recipe --model is required" in capsys.readouterr().err
