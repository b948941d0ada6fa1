"""sw.recipe: the one rule for TOML training recipes and their --set overrides."""

import pytest

from sw import recipe

DEFAULTS = {"net": {"hidden": [256], "fire_once": True, "name": "x", "T": None},
            "train": {"epochs": 10, "lr": 0.01}}


def test_merge_takes_known_keys_and_keeps_the_defaults():
    out = recipe.merge(DEFAULTS, {"train": {"epochs": 3}, "net": {"T": 4}})
    assert out["train"] == {"epochs": 3, "lr": 0.01}
    assert out["net"]["T"] == 4 and out["net"]["hidden"] == [256]
    assert DEFAULTS["train"]["epochs"] == 10          # the defaults are not changed


def test_an_integer_for_a_float_becomes_a_float():
    value = recipe.merge(DEFAULTS, {"train": {"lr": 1}})["train"]["lr"]
    assert value == 1.0 and isinstance(value, float)


@pytest.mark.parametrize("over, message", [
    ({"train": {"speed": 1}}, "unknown recipe key 'train.speed'; known keys: epochs, lr"),
    ({"nets": {}}, "unknown recipe key 'nets'"),
    ({"train": 3}, "recipe key train must be a table"),
    ({"train": {"epochs": "ten"}}, "recipe key train.epochs is 'ten'; it must be an integer"),
    ({"train": {"epochs": True}}, "recipe key train.epochs is True; it must be an integer"),
    ({"train": {"lr": "fast"}}, "recipe key train.lr is 'fast'; it must be a number"),
    ({"net": {"fire_once": 1}}, "recipe key net.fire_once is 1; it must be true or false"),
    ({"net": {"hidden": 128}}, r"recipe key net.hidden is 128; it must be a list, e\.g\. \[256\]"),
    ({"net": {"name": 5}}, "recipe key net.name is 5; it must be a string"),
])
def test_merge_refusals_name_the_key(over, message):
    with pytest.raises(ValueError, match=message):
        recipe.merge(DEFAULTS, over)


def test_load_reads_a_file_then_the_overrides(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[train]\nepochs = 5\nlr = 0.5\n")
    out = recipe.load(DEFAULTS, path, {"train": {"epochs": 7}})
    assert out["train"] == {"epochs": 7, "lr": 0.5}


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ValueError, match="bad.toml is not valid TOML"):
        recipe.load(DEFAULTS, bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[train]\nepoch = 5\n")
    with pytest.raises(ValueError, match="wrong.toml: unknown recipe key 'train.epoch'"):
        recipe.load(DEFAULTS, wrong)


@pytest.mark.parametrize("text, value", [
    ("net.hidden=[128, 64]", [128, 64]), ("train.lr = 0.5", 0.5), ("net.fire_once=false", False),
    ("net.name=rate", "rate"), ('net.name="rate"', "rate"),
])
def test_parse_override(text, value):
    (section, values), = recipe.parse_override(text).items()
    assert section == text.split(".")[0] and list(values.values()) == [value]


@pytest.mark.parametrize("text", ["epochs=3", "train.epochs", ".x=1", "train.=1"])
def test_parse_override_refuses_other_forms(text):
    with pytest.raises(ValueError, match=r"write SECTION.KEY=VALUE, e.g. net.T=4"):
        recipe.parse_override(text, "net.T=4")
