"""Issue 19, the build and simulation command lines (``sw.cosim``, ``sw.bench``, ``sw.flash``,
``hw.generate``, ``sw.demo``): every bad argument or bad file fails before any work, with one
line on standard error that names the problem, no traceback and no output left behind.

Each row of :data:`TABLE` is (module, arguments, words of the error line, words it must not
have, paths that must not exist afterwards). In the arguments and paths ``{tmp}`` is the test's
folder (also the working folder), holding ``m.snn`` (a 5-input model), ``float.npy`` (float
images in [0, 1]), ``big.npy`` (integers up to 300), ``wide.npy`` (6 pixels per image),
``text.npy`` (a text file) and ``plain`` (a regular file).
"""

import os

import numpy as np
import pytest

from core import modelfile
from core.network import Layer, Network

BOARD = ("--board", "ulx3s", "--dry-run", "--no-estimate")
FLASH_LEFT = ("{tmp}/build", "{tmp}/results")

TABLE = [
    # sw.cosim: the model
    ("sw.cosim", ("--model", "{tmp}"), ("{tmp}", "is a folder"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/none.snn"), ("none.snn", "does not exist"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/text.npy"), ("text.npy", "model file"), (), ()),
    # sw.cosim: the images
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--data", "{tmp}/float.npy"),
     ("float.npy", "float64", "uint8 pixels 0 .. 255", "to_pixels"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--images", "{tmp}/float.npy"),
     ("float.npy", "uint8 pixels 0 .. 255"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--images", "{tmp}/text.npy"),
     ("text.npy", "is not an .npy file"), ("pickled",), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--data", "{tmp}/big.npy"),
     ("big.npy", "0 .. 300", "uint8 pixels 0 .. 255"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--data", "{tmp}/wide.npy"),
     ("wide.npy", "(4, 6)", "(N, 5)"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--data", "nonsense"),
     ("--data", "nonsense", "mnist, digits, random"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--data", "mnist"), ("784", "5 inputs"), (), ()),
    ("sw.cosim", ("--random", "1", "--data", "{tmp}/big.npy"), ("--data goes with --model",),
     (), ()),
    # sw.cosim: numbers
    ("sw.cosim", ("--random", "0"), ("--random", "0", "1 .. 10000"), (), ()),
    ("sw.cosim", ("--random", "1", "--samples", "0"), ("--samples", "positive"), (), ()),
    ("sw.cosim", ("--random", "1", "--samples", "1000000000"), ("1000000000", "100,000"), (),
     ()),
    ("sw.cosim", ("--random", "1", "--seed", "-1"), ("--seed", "negative"), (), ()),
    ("sw.cosim", ("--random", "1", "--lanes", "0"), ("--lanes", "positive"), (), ()),
    ("sw.cosim", ("--random", "1", "--lanes", "12"), ("power of two",), (), ()),
    # sw.cosim: the configuration
    ("sw.cosim", ("--random", "1", "--config", "bogus"), ("'bogus' is unknown", "mnist"), (),
     ()),
    ("sw.cosim", ("--random", "1", "--set", "bogus=1"), ("bogus=1", "FIELD=VALUE"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--config", "tiny", "--set", "max_inputs=4"),
     ("--set max_inputs=5", "leave --config out"), ("--max-inputs",), ()),
    # sw.cosim: the waveform, checked before the simulation (it was written after 165 s)
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--waves", "/proc/w.vcd"), ("/proc/w.vcd",), (),
     ("/proc/w.vcd",)),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--waves", "{tmp}/plain/w.vcd"),
     ("plain/w.vcd", "Not a directory"), (), ()),
    ("sw.cosim", ("--model", "{tmp}/m.snn", "--waves", "{tmp}"), ("{tmp}", "folder"), (), ()),

    # sw.bench (--samples 0 failed after 135 s)
    ("sw.bench", ("--samples", "0"), ("--samples", "positive"), (), ("{tmp}/results",)),
    ("sw.bench", ("--samples", "x"), ("--samples", "'x' is not an integer"), (), ()),
    ("sw.bench", ("--driver-samples", "-1"), ("--driver-samples", "negative"), (), ()),
    ("sw.bench", ("--config", "bogus"), ("'bogus' is unknown", "mnist"), (), ()),
    ("sw.bench", ("--set", "lanes=3"), ("lanes", "power of two"), (), ()),
    ("sw.bench", ("--lanes", "12k"), ("12k", "PxK"), (), ()),
    ("sw.bench", ("--model", "{tmp}"), ("{tmp}", "is a folder"), (), ()),
    ("sw.bench", ("--model", "{tmp}/none.snn"), ("none.snn", "does not exist"), (), ()),
    ("sw.bench", ("--model", "{tmp}/text.npy"), ("text.npy", "model file"), (), ()),
    ("sw.bench", ("--model", "{tmp}/m.snn"), ("m.snn", "5 inputs", "784"), (), ()),
    ("sw.bench", ("--json", "/proc/b.json"), ("/proc/b.json",), (), ("/proc/b.json",)),
    ("sw.bench", ("--output", "{tmp}/plain/b.json"), ("plain/b.json", "Not a directory"), (),
     ()),
    ("sw.bench", ("--json", "{tmp}"), ("{tmp}", "folder"), (), ()),

    # hw.generate
    ("hw.generate", ("-o", "/proc/a.v"), ("/proc/a.v",), (), ("/proc/a.v",)),
    ("hw.generate", ("--output", "{tmp}/plain/a.v"), ("plain/a.v", "Not a directory"), (), ()),
    ("hw.generate", ("-o", "{tmp}"), ("{tmp}", "folder"), (), ()),
    ("hw.generate", ("--config", "bogus", "-o", "{tmp}/a.v"), ("'bogus' is unknown", "mnist"),
     (), ("{tmp}/a.v",)),
    ("hw.generate", ("--lanes", "12", "-o", "{tmp}/a.v"), ("lanes is 12", "power of two"), (),
     ("{tmp}/a.v",)),
    ("hw.generate", ("--set", "bogus=1"), ("bogus=1", "FIELD=VALUE"), (), ()),

    # sw.flash: the model
    ("sw.flash", (*BOARD, "--model", "{tmp}"), ("{tmp}", "is a folder"), (), FLASH_LEFT),
    ("sw.flash", (*BOARD, "--model", "{tmp}/none.snn"), ("none.snn", "does not exist"), (),
     FLASH_LEFT),
    ("sw.flash", (*BOARD, "--model", "{tmp}/text.npy"), ("text.npy", "model file"), (),
     FLASH_LEFT),
    ("sw.flash", (*BOARD, "--model", "{tmp}/m.snn", "--config", "tiny", "--set",
                  "max_inputs=4"), ("--set max_inputs=5", "leave --config out"),
     ("--max-inputs",), FLASH_LEFT),
    # sw.flash: where the results go, checked before the work
    ("sw.flash", (*BOARD, "--output", "/proc/f"), ("--output /proc/f",), (),
     ("/proc/f", *FLASH_LEFT)),
    ("sw.flash", (*BOARD, "--output", "{tmp}/plain/f"), ("plain/f", "not a folder"), (),
     FLASH_LEFT),
    ("sw.flash", (*BOARD, "--output", "{tmp}/plain"), ("plain", "not the output"), (),
     FLASH_LEFT),
    ("sw.flash", (*BOARD, "--output", "{tmp}/out", "--results", "/proc/r"),
     ("--results /proc/r",), (), ("{tmp}/out", "/proc/r", *FLASH_LEFT)),
    ("sw.flash", (*BOARD, "--output", "{tmp}/out", "--results", "{tmp}/plain"),
     ("--results", "plain", "not a folder"), (), ("{tmp}/out", *FLASH_LEFT)),
    # sw.flash: values
    ("sw.flash", (*BOARD, "--config", "bogus"), ("'bogus' is unknown", "mnist"), (),
     FLASH_LEFT),
    ("sw.flash", (*BOARD, "--set", "lanes=x"), ("lanes=x", "integer"), (), FLASH_LEFT),
    ("sw.flash", (*BOARD, "--baud", "0"), ("--baud", "positive"), (), FLASH_LEFT),
    ("sw.flash", (*BOARD, "--clock", "-1"), ("--clock", "positive"), (), FLASH_LEFT),
    ("sw.flash", (*BOARD, "--clock", "fast"), ("--clock", "'fast' is not a number"), (),
     FLASH_LEFT),
    ("sw.flash", (*BOARD, "--nice", "40"), ("--nice", "0 .. 19"), (), FLASH_LEFT),
    ("sw.flash", ("--board", "nope", "--dry-run"), ("unknown board 'nope'", "ulx3s"), (),
     FLASH_LEFT),
    ("sw.flash", ("--board", "ulx3s", "--flash"), ("--flash", "--program"), (), FLASH_LEFT),

    # sw.demo
    ("sw.demo", ("--samples", "0"), ("--samples", "positive"), (), ()),
    ("sw.demo", ("--model", "{tmp}"), ("{tmp}", "is a folder"), (), ()),
    ("sw.demo", ("--model", "{tmp}/none.snn"), ("none.snn", "does not exist"), (), ()),
]


@pytest.fixture
def folder(tmp_path):
    """The test's folder with the files the table names."""
    network = Network([Layer(np.ones((3, 5), np.int64), 2, 10)], timesteps=2)
    modelfile.save(network, tmp_path / "m.snn")
    np.save(tmp_path / "float.npy", np.random.default_rng(0).random((4, 5)))
    np.save(tmp_path / "big.npy", np.full((4, 5), 300))
    np.save(tmp_path / "wide.npy", np.zeros((4, 6), np.uint8))
    (tmp_path / "text.npy").write_text("0 1 2 3 4\n")
    (tmp_path / "plain").write_text("a regular file\n")
    return tmp_path


@pytest.mark.parametrize("module, args, words, unwanted, absent", TABLE,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(TABLE)])
def test_bad_input_fails_cleanly(module, args, words, unwanted, absent, folder, run_cli,
                                 fails_cleanly):
    def fill(text):
        return text.replace("{tmp}", str(folder))
    result = run_cli(module, *map(fill, args), cwd=folder, timeout=120,
                     env={"SNN_BOARD": ""})
    line = fails_cleanly(result, *map(fill, words), absent=[fill(p) for p in absent])
    for word in unwanted:
        assert word not in line, f"{word!r} in {line!r}"
    # Nothing new in the folder (a probe or a half-written file would show here).
    assert sorted(p.name for p in folder.iterdir()) == \
        ["big.npy", "float.npy", "m.snn", "plain", "text.npy", "wide.npy"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("module, args", [
    ("sw.flash", (*BOARD, "--output", "{ro}/f")),
    ("sw.flash", (*BOARD, "--output", "{tmp}/f", "--results", "{ro}")),
    ("hw.generate", ("-o", "{ro}/a.v")),
    ("sw.cosim", ("--random", "1", "--waves", "{ro}/w.vcd")),
    ("sw.bench", ("--json", "{ro}/b.json")),
])
def test_read_only_folder(module, args, tmp_path, run_cli, fails_cleanly):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        filled = [a.replace("{ro}", str(ro)).replace("{tmp}", str(tmp_path)) for a in args]
        fails_cleanly(run_cli(module, *filled, cwd=tmp_path, timeout=120), str(ro),
                      "ermission denied")
        assert list(ro.iterdir()) == [] and not (tmp_path / "f").exists()
    finally:
        ro.chmod(0o755)
