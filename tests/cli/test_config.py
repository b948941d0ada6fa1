"""Every command line that builds or simulates the accelerator takes its hardware configuration
the same way (core.config.add_config_arguments): --help lists the names and the fields."""

import subprocess
import sys

import pytest

from core.config import NAMED


@pytest.mark.parametrize("module", ["hw.generate", "sw.cosim", "sw.run", "sw.simboard",
                                    "sw.flash", "sw.bench"])
def test_help_lists_the_configurations(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    # argparse may wrap a line at a name's hyphen: compare without the whitespace
    assert f"namedhardwareconfiguration:{','.join(NAMED)}(default:" in "".join(text.split())
    assert "--set FIELD=VALUE" in text and "FIELD is one of lanes, neuron_units," in text


@pytest.mark.parametrize("argv", [
    ["sw.cosim", "--random", "1"],
    ["sw.run", "--model", "models/mnist.snn", "--sim", "verilator"],
    ["sw.simboard"],
    ["sw.flash", "--board", "arty", "--dry-run"],
    ["sw.bench", "--no-cosim", "--no-synth"],
    ["hw.generate"],
])
def test_unknown_name_is_one_clear_error(argv):
    done = subprocess.run([sys.executable, "-m", *argv, "--config", "huge"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert ("configuration 'huge' is unknown; choose one of 'mnist', 'mnist-cnn', 'cifar10-vgg', 'tiny', 'tiny-conv'"
            in done.stderr)
