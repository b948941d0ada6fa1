"""``python -m sw.generate`` (cli.gan) and ``python -m sw.gantrain``: golden and Verilator runs,
bad input."""

import numpy as np
import pytest

from core import golden
from core.modelfile import save
from sw.gan.images import latent, to_pixels
from sw.gan.model import generator
from sw.snn.export import to_network


@pytest.fixture(scope="module")
def gan_model(tmp_path_factory):
    """A small untrained generator 8 - 16 - 784, T = 4 (firing enough to draw something)."""
    model = generator(latent_dim=8, hidden=(16,), timesteps=4, output_threshold=0.2, seed=1)
    net = to_network(model, name="tiny_gan")
    return save(net, tmp_path_factory.mktemp("gan") / "g.snn"), net


def _png_pixels(path):
    import matplotlib.pyplot as plt
    return plt.imread(path)


def test_golden_run_writes_the_grid(gan_model, tmp_path, run_cli):
    path, net = gan_model
    out = tmp_path / "grid.png"
    result = run_cli("sw.generate", "--model", path, "--samples", 5, "--seed", 3,
                     "--output", out)
    assert result.returncode == 0, result.stderr
    assert "generate: 5 samples on the golden model, 0 mismatches" in result.stdout
    picture = _png_pixels(out)
    assert picture.shape[:2] == (3 * 30 + 2 - 30, 3 * 30 + 2)   # 5 images: 3 columns, 2 rows
    # The first cell is the golden model's first sample, decoded.
    expect = to_pixels(golden.run(net, latent(5, 8, seed=3)).first_time, 4)[0].reshape(28, 28)
    assert np.array_equal(np.round(picture[2:30, 2:30, 0] * 255).astype(np.uint8), expect)


@pytest.mark.parametrize("args, words", [
    (["--model", "missing.snn"], ["--model", "does not exist"]),
    (["--samples", "0"], ["--samples", "1 .. 1000000"]),
    (["--samples", "many"], ["--samples", "not an integer"]),
    (["--seed", "-1"], ["--seed", "negative"]),
])
def test_bad_arguments_fail_cleanly(gan_model, tmp_path, args, words, run_cli, fails_cleanly):
    path, _ = gan_model
    out = tmp_path / "g.png"
    base = {"--model": str(path), "--output": str(out)}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    fails_cleanly(run_cli("sw.generate", *argv), *words, absent=[out])


def test_unwritable_output_fails_cleanly(gan_model, tmp_path, run_cli, fails_cleanly):
    path, _ = gan_model
    folder = tmp_path / "folder"
    folder.mkdir()
    fails_cleanly(run_cli("sw.generate", "--model", path, "--output", folder),
                  "--output", "is a folder")


def test_a_classifier_is_not_a_generator(tmp_path, run_cli, fails_cleanly):
    from pathlib import Path
    model = Path(__file__).resolve().parents[2] / "models" / "mnist.snn"
    out = tmp_path / "g.png"
    fails_cleanly(run_cli("sw.generate", "--model", model, "--output", out),
                  "not an image generator", "784", absent=[out])


def test_gantrain_bad_recipe_value_fails_cleanly(tmp_path, run_cli, fails_cleanly):
    out = tmp_path / "g.snn"
    fails_cleanly(run_cli("sw.gantrain", "--set", "train.loss=fast", "--output", out),
                  "train.loss", absent=[out])


@pytest.mark.slow
@pytest.mark.tools
def test_verilator_run_agrees_with_the_golden_model(gan_model, tmp_path, run_cli):
    path, _ = gan_model
    out = tmp_path / "grid.png"
    result = run_cli("sw.generate", "--model", path, "--samples", 3, "--sim", "verilator",
                     "--output", out, timeout=1800)
    assert result.returncode == 0, result.stderr
    assert "3 samples on the accelerator in Verilator" in result.stdout
    assert "0 mismatches in output spike times, 0 in potentials or membranes" in result.stdout
    assert "cycles/sample" in result.stdout and out.exists()
