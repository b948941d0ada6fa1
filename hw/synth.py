"""The accelerator's Verilog.

:func:`verilog` converts :class:`hw.accel.Accelerator` with its bus, ``irq`` and ``busy`` as
ports. The command line is ``python -m hw.generate`` (:mod:`cli.generate`), which also counts
the Artix-7 resources of this Verilog (:func:`boards.reports.xc7_synthesize`, with the rule of
:mod:`core.resources`).
"""

from __future__ import annotations

from amaranth.back import verilog as back

from core.config import Config

from .accel import Accelerator

__all__ = ["verilog"]


def verilog(config: Config, name: str = "snn_accel") -> str:
    """Verilog of ``Accelerator(config)`` with the bus, ``irq`` and ``busy`` as ports."""
    top = Accelerator(config)
    ports = [top.bus.cyc, top.bus.we, top.bus.addr, top.bus.w_data, top.bus.r_data,
             top.bus.ack, top.irq, top.busy]
    return back.convert(top, name=name, ports=ports)
