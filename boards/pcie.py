"""RHS Research Litefury (xc7a100t) and Nitefury II (xc7a200t): the accelerator on PCIe.

These M.2 boards have no UART: the host reaches the accelerator's registers through a PCIe
BAR. The PCIe endpoint is AMD's DMA/Bridge Subsystem for PCI Express (XDMA, PG195), generated
by Vivado from the ``create_ip`` commands this module puts in the build plan
(``script_after_read``) and instantiated in the design as ``xdma_0``. Its AXI4-Lite master
(``M_AXI_LITE``, a BAR of its own, which Linux' ``xdma`` driver exposes as
``/dev/xdma0_user``) drives ``hw.axil.AXILiteSlave``, which turns each AXI-Lite transfer into
one ``hw.bus`` transfer to the accelerator. The accelerator runs in XDMA's ``axi_aclk`` domain
(125 MHz for a Gen2 x4 link with a 128-bit datapath) and is reset by ``axi_aresetn``.

XDMA's DMA channels are configured as AXI-Stream. With an accelerator built with the input
queue (``Config.stream``), ``hw.axis.AXISBridge`` serves them: H2C frames are images (compact
words, the frame's end queues the image), C2H frames are result records
(``docs/memory-map.md``, "AXI-Stream frames"; ``sw.xdma`` on the host), and
``hw.busarbiter.BusArbiter`` shares the accelerator's bus between the bridge and the BAR.
Without the queue they are tied off (C2H never valid, H2C always ready and discarded) and only
the register BAR is used.

amaranth-boards 0.0.21's ``nitefury.py`` is usable with Amaranth 0.5 for a blinky, but its
``pcie`` resource declares PERST# as an output and puts an IOSTANDARD on the transceiver pins,
which are dedicated GTP pads. :class:`_PCIePlatformMixin` replaces it with ``pcie_x4``:
``perst`` an input with a pull-up, ``clkreq`` an output, and the reference clock and lanes
without I/O standard.
"""

from __future__ import annotations

import textwrap

from amaranth import ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.build import Attrs, DiffPairs, PinsN, Resource, Subsignal
from amaranth.lib import io, wiring
from amaranth_boards.nitefury import LitefuryPlatform, NitefuryIIPlatform

from core import memmap
from hw.axil import AXILiteSlave
from hw.axis import AXISBridge
from hw.busarbiter import BusArbiter
from hw.soc import BusChecksum, checksum_ranges

from .arty import VIVADO_HINT
from .base import Board

__all__ = ["Litefury", "NitefuryII", "PCIeBoardTop", "XDMA_PORTS", "xdma_tcl", "xdma_blackbox"]

#: Data width of XDMA's AXI side and the axi_aclk it implies for a Gen2 x4 link.
XDMA_DATA_BITS = 128
XDMA_ACLK_HZ = 125_000_000
LANES = 4

# (direction seen from xdma_0, port name, width). The tie-off value of every input that the
# design does not drive follows in XDMA_TIE_OFFS.
XDMA_PORTS = [
    ("i", "sys_clk", 1), ("i", "sys_rst_n", 1),
    ("i", "pci_exp_rxp", LANES), ("i", "pci_exp_rxn", LANES),
    ("o", "pci_exp_txp", LANES), ("o", "pci_exp_txn", LANES),
    ("o", "user_lnk_up", 1), ("o", "axi_aclk", 1), ("o", "axi_aresetn", 1),
    ("i", "usr_irq_req", 1), ("o", "usr_irq_ack", 1),
    ("o", "msi_enable", 1), ("o", "msi_vector_width", 3),
    ("o", "m_axil_awaddr", 32), ("o", "m_axil_awprot", 3), ("o", "m_axil_awvalid", 1),
    ("i", "m_axil_awready", 1),
    ("o", "m_axil_wdata", 32), ("o", "m_axil_wstrb", 4), ("o", "m_axil_wvalid", 1),
    ("i", "m_axil_wready", 1),
    ("i", "m_axil_bvalid", 1), ("i", "m_axil_bresp", 2), ("o", "m_axil_bready", 1),
    ("o", "m_axil_araddr", 32), ("o", "m_axil_arprot", 3), ("o", "m_axil_arvalid", 1),
    ("i", "m_axil_arready", 1),
    ("i", "m_axil_rdata", 32), ("i", "m_axil_rresp", 2), ("i", "m_axil_rvalid", 1),
    ("o", "m_axil_rready", 1),
    ("i", "s_axis_c2h_tdata_0", XDMA_DATA_BITS), ("i", "s_axis_c2h_tlast_0", 1),
    ("i", "s_axis_c2h_tvalid_0", 1), ("o", "s_axis_c2h_tready_0", 1),
    ("i", "s_axis_c2h_tkeep_0", XDMA_DATA_BITS // 8),
    ("o", "m_axis_h2c_tdata_0", XDMA_DATA_BITS), ("o", "m_axis_h2c_tlast_0", 1),
    ("o", "m_axis_h2c_tvalid_0", 1), ("i", "m_axis_h2c_tready_0", 1),
    ("o", "m_axis_h2c_tkeep_0", XDMA_DATA_BITS // 8),
]
# DMA streams without the input queue: nothing to send to the host, and whatever the host sends is dropped
# (ready held high) so that a stray DMA write cannot hang the engine.
XDMA_TIE_OFFS = {"s_axis_c2h_tdata_0": 0, "s_axis_c2h_tlast_0": 0, "s_axis_c2h_tvalid_0": 0,
                 "s_axis_c2h_tkeep_0": 0, "m_axis_h2c_tready_0": 1, "usr_irq_req": 0}

# AXI-Lite member names of hw.axil.AXILiteSlave and the XDMA ports that drive them.
_AXIL_TO_SLAVE = ["awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                  "araddr", "arprot", "arvalid", "rready"]
_AXIL_FROM_SLAVE = ["awready", "wready", "bvalid", "bresp", "arready", "rdata", "rresp",
                    "rvalid"]


def bar_megabytes(byte_addr_width: int) -> int:
    """Size of the AXI-Lite BAR in MB (a power of two, at least 1) that covers the map."""
    return max(1, 1 << max(0, byte_addr_width - 20))


def xdma_tcl(*, bar_mb: int = 1, device_id: str = "7024") -> str:
    """Vivado TCL that creates and generates the ``xdma_0`` IP (run after the sources are read).

    The IP is synthesized with the design (``generate_synth_checkpoint false``), so that the
    plan's single ``synth_design`` call covers it and no out-of-context run is needed.
    """
    return textwrap.dedent(f"""\
        # Xilinx DMA/Bridge Subsystem for PCI Express (PG195): Gen2 x4 endpoint, AXI-Lite
        # master on its own BAR ({bar_mb} MB) for the accelerator's registers; DMA as
        # AXI-Stream (hw.axis.AXISBridge with the input queue, else tied off in the design).
        create_ip -name xdma -vendor xilinx.com -library ip -module_name xdma_0
        set_property -dict [list \\
            CONFIG.mode_selection {{Advanced}} \\
            CONFIG.pcie_blk_locn {{X0Y0}} \\
            CONFIG.pl_link_cap_max_link_width {{X{LANES}}} \\
            CONFIG.pl_link_cap_max_link_speed {{5.0_GT/s}} \\
            CONFIG.ref_clk_freq {{100_MHz}} \\
            CONFIG.axi_data_width {{{XDMA_DATA_BITS}_bit}} \\
            CONFIG.axisten_freq {{{XDMA_ACLK_HZ // 1_000_000}}} \\
            CONFIG.xdma_axi_intf_mm {{AXI_Stream}} \\
            CONFIG.xdma_rnum_chnl {{1}} \\
            CONFIG.xdma_wnum_chnl {{1}} \\
            CONFIG.xdma_num_usr_irq {{1}} \\
            CONFIG.axilite_master_en {{true}} \\
            CONFIG.axilite_master_scale {{Megabytes}} \\
            CONFIG.axilite_master_size {{{bar_mb}}} \\
            CONFIG.pf0_device_id {{{device_id}}} \\
        ] [get_ips xdma_0]
        set_property generate_synth_checkpoint false [get_files xdma_0.xci]
        generate_target all [get_ips xdma_0]
        """)


def xdma_blackbox() -> str:
    """Verilog declaration of ``xdma_0``'s ports as a blackbox (for Yosys resource counts)."""
    ports = []
    for direction, name, width in XDMA_PORTS:
        kind = "input" if direction == "i" else "output"
        rng = f"[{width - 1}:0] " if width > 1 else ""
        ports.append(f"    {kind} {rng}{name}")
    return "(* blackbox *)\nmodule xdma_0 (\n" + ",\n".join(ports) + "\n);\nendmodule\n"


class _PCIePlatformMixin:
    """Fixes of amaranth-boards' Nitefury/Litefury platform (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_resources([
            Resource("pcie_x4", 0,
                     Subsignal("perst", PinsN("J1", dir="i"),
                               Attrs(IOSTANDARD="LVCMOS33", PULLUP="TRUE")),
                     Subsignal("clkreq", PinsN("G1", dir="o"), Attrs(IOSTANDARD="LVCMOS33")),
                     Subsignal("clk", DiffPairs(p="F6", n="E6", dir="i")),
                     Subsignal("rx", DiffPairs(p="B10 B8 D11 D9", n="A10 A8 C11 C9", dir="i")),
                     Subsignal("tx", DiffPairs(p="B6 B4 D5 D7", n="A6 A4 C5 C7", dir="o"))),
        ])


class LitefuryPCIePlatform(_PCIePlatformMixin, LitefuryPlatform):
    pass


class NitefuryIIPCIePlatform(_PCIePlatformMixin, NitefuryIIPlatform):
    pass


class PCIeBoardTop(Elaboratable):
    """Top level of a PCIe board: XDMA endpoint, AXI-Lite slave and the accelerator.

    Parameters
    ----------
    board : Board
    core : wiring.Component
        The accelerator: a ``bus: In(hw.bus.Signature(addr_width))`` target, optionally with an
        ``irq: Out(1)`` that becomes XDMA user interrupt 0. When it has a ``config``
        (:class:`hw.accel.Accelerator`), ``hw.soc.BusChecksum`` sits between the AXI-Lite slave
        and the accelerator and implements the ``CHECKSUM`` register of the memory map, as on
        the UART boards.

    LED 0 blinks at about 1 Hz while ``axi_aclk`` runs out of reset; LED 1 shows the PCIe link
    is up (``user_lnk_up``).
    """

    def __init__(self, board: Board, core):
        if not hasattr(core, "bus"):
            raise TypeError(f"the core on a PCIe board needs a 'bus' port (hw.bus target); "
                            f"{type(core).__name__} has none")
        self.board = board
        self.core = core

    def elaborate(self, platform):

        m = Module()
        m.domains.sync = ClockDomain("sync")

        pcie = platform.request("pcie_x4", 0, dir={"clk": "-", "rx": "-", "tx": "-",
                                                   "perst": "-", "clkreq": "-"})
        # The reference clock enters through the transceiver's own buffer, not the fabric.
        refclk = Signal()
        m.submodules.refclk_buffer = Instance("IBUFDS_GTE2", i_I=pcie.clk.p, i_IB=pcie.clk.n,
                                              i_CEB=0, o_O=refclk)
        m.submodules.perst_buffer = perst = io.Buffer("i", pcie.perst)
        m.submodules.clkreq_buffer = clkreq = io.Buffer("o", pcie.clkreq)
        m.d.comb += clkreq.o.eq(1)  # CLKREQ# asserted: keep the reference clock running

        core = self.core
        addr_width = len(core.bus.addr)
        m.submodules.axil = axil = AXILiteSlave(addr_width + 2)
        m.submodules.core = core
        config = getattr(core, "config", None)
        target = core.bus
        streams = {}
        if config is not None and config.stream:
            # The DMA streams feed the input queue; the bridge and the BAR share the bus.
            m.submodules.axis = bridge = AXISBridge(config, XDMA_DATA_BITS)
            m.submodules.arbiter = arbiter = BusArbiter(addr_width)
            wiring.connect(m, arbiter.target, core.bus)
            wiring.connect(m, bridge.bus, arbiter.b)
            target = arbiter.a
            streams = {
                "m_axis_h2c_tdata_0": bridge.h2c.p.data, "m_axis_h2c_tkeep_0": bridge.h2c.p.keep,
                "m_axis_h2c_tlast_0": bridge.h2c.p.last, "m_axis_h2c_tvalid_0": bridge.h2c.valid,
                "m_axis_h2c_tready_0": bridge.h2c.ready,
                "s_axis_c2h_tdata_0": bridge.c2h.p.data, "s_axis_c2h_tkeep_0": bridge.c2h.p.keep,
                "s_axis_c2h_tlast_0": bridge.c2h.p.last, "s_axis_c2h_tvalid_0": bridge.c2h.valid,
                "s_axis_c2h_tready_0": bridge.c2h.ready}
        if config is not None:
            m.submodules.checksum = checksum = BusChecksum(addr_width, memmap.REG_CHECKSUM,
                                                           checksum_ranges(config))
            wiring.connect(m, axil.bus, checksum.initiator)
            wiring.connect(m, checksum.target, target)
        else:
            wiring.connect(m, axil.bus, target)

        link_up, aresetn = Signal(), Signal()
        connections = {
            "sys_clk": refclk, "sys_rst_n": ~perst.i,
            "pci_exp_rxp": pcie.rx.p, "pci_exp_rxn": pcie.rx.n,
            "pci_exp_txp": pcie.tx.p, "pci_exp_txn": pcie.tx.n,
            "user_lnk_up": link_up, "axi_aclk": ClockSignal("sync"), "axi_aresetn": aresetn,
        }
        connections.update(streams)
        if hasattr(core, "irq"):
            connections["usr_irq_req"] = core.irq
        for name in _AXIL_TO_SLAVE:
            member = getattr(axil, name)
            # XDMA's addresses are 32 bits wide; the slave decodes the low bits of its BAR.
            connections[f"m_axil_{name}"] = member if name not in ("awaddr", "araddr") \
                else Signal(32, name=f"xdma_{name}")
            if name in ("awaddr", "araddr"):
                m.d.comb += member.eq(connections[f"m_axil_{name}"][:len(member)])
        for name in _AXIL_FROM_SLAVE:
            connections[f"m_axil_{name}"] = getattr(axil, name)

        ports = {}
        for direction, name, width in XDMA_PORTS:
            if name in connections:
                value = connections[name]
            elif direction == "i":
                value = XDMA_TIE_OFFS[name]
            else:
                value = Signal(width, name=f"xdma_{name}")  # unused output
            ports[f"{direction}_{name}"] = value
        m.submodules.xdma = Instance("xdma_0", **ports)
        m.d.comb += ResetSignal("sync").eq(~aresetn)

        leds = self.board.led_outputs(m, platform, 2)
        heartbeat = Signal(range(XDMA_ACLK_HZ // 2))
        blink = Signal()
        with m.If(heartbeat == 0):
            m.d.sync += [heartbeat.eq(XDMA_ACLK_HZ // 2 - 1), blink.eq(~blink)]
        with m.Else():
            m.d.sync += heartbeat.eq(heartbeat - 1)
        for led, value in zip(leds, [blink, link_up]):
            m.d.comb += led.eq(value)
        return m


class _FuryBoard(Board):
    link = "pcie"
    toolchain = "vivado"
    family = "xc7"
    clk_freq = XDMA_ACLK_HZ
    osc_freq = 100_000_000  # PCIe reference clock
    # These boards have no JTAG adapter of their own; a Digilent HS2 on the JTAG header is
    # the common choice (override with --cable).
    ofl_args = ["-c", "digilent_hs2"]
    platform_class = None

    def platform(self):
        platform = self.platform_class()
        platform.add_file("pcie.xdc", textwrap.dedent("""\
            # PCIe reference clock (100 MHz from the M.2 slot) and the asynchronous PERST#.
            create_clock -name pcie_refclk -period 10.000 [get_ports pcie_x4_0__clk__p]
            set_false_path -from [get_ports pcie_x4_0__perst__io]
            """))
        return platform

    def check_clock(self, clk_freq):
        if clk_freq != XDMA_ACLK_HZ:
            raise ValueError(f"the accelerator on {self.title} runs on XDMA's axi_aclk, "
                             f"{XDMA_ACLK_HZ / 1e6:g} MHz; leave --clock out")
        return clk_freq

    def required_tools(self):
        return {"VIVADO": ("vivado", VIVADO_HINT)}

    def build_options(self, core=None, seed: int | None = None):
        # The refclk constraint is in pcie.xdc (added by platform()); XDMA's own constraints
        # come with the IP.
        byte_addr_width = len(core.bus.addr) + 2 if core is not None else 20
        return {"script_after_read": xdma_tcl(bar_mb=bar_megabytes(byte_addr_width))}


class Litefury(_FuryBoard):
    name = "litefury"
    title = "RHS Research Litefury (xc7a100tfgg484-2), PCIe Gen2 x4"
    platform_class = LitefuryPCIePlatform


class NitefuryII(_FuryBoard):
    name = "nitefury"
    title = "RHS Research Nitefury II (xc7a200tfbg484-2), PCIe Gen2 x4"
    platform_class = NitefuryIIPCIePlatform
