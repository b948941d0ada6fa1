"""core.resources: the one definition of an Artix-7 LUT, FF, BRAM36 and DSP (the three report
paths that use it are compared in tests/cli/test_resources.py)."""

import pytest

from core.resources import (FF_CELLS, LUT_CELLS, LUTRAM_CELLS, XC7_SYNTH, Resources,
                            cells_from_stat, xc7)


class TestCounter:
    def test_every_cell_kind_that_counts(self):
        cells = {"LUT1": 1, "LUT2": 2, "LUT3": 3, "LUT4": 4, "LUT5": 5, "LUT6": 6,
                 "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 1, "RAM256X1S": 1,
                 "RAM32X1D": 1, "RAM64X1D": 1, "RAM128X1D": 1, "RAM32M": 1, "RAM64M": 1,
                 "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
                 "FDRE": 10, "FDSE": 20, "FDCE": 30, "FDPE": 40, "LDCE": 1, "LDPE": 2,
                 "RAMB36E1": 3, "RAMB18E1": 5, "DSP48E1": 7}
        lut_memory = 1 + 1 + 2 + 4 + 2 + 2 + 4 + 4 + 4 + 1 + 1 + 1
        assert xc7(cells) == Resources(lut=21 + lut_memory, ff=103, bram36=5.5, dsp=7,
                                       lut_memory=lut_memory)
        assert set(LUT_CELLS) | set(LUTRAM_CELLS) | set(FF_CELLS) | {"RAMB36E1", "RAMB18E1",
                                                                     "DSP48E1"} == set(cells)

    @pytest.mark.parametrize("cell", ["CARRY4", "MUXF7", "MUXF8", "BUFG", "IBUF", "OBUF",
                                      "VCC", "GND"])
    def test_a_cell_that_counts_nothing(self, cell):
        assert xc7({cell: 100, "LUT6": 1}) == Resources(lut=1, ff=0, bram36=0, dsp=0)

    def test_keeps_the_cells_and_reports_a_dict(self):
        counts = xc7({"LUT2": 3, "RAM64M": 1, "CARRY4": 9})
        assert counts.cells == {"LUT2": 3, "RAM64M": 1, "CARRY4": 9}
        assert counts.as_dict() == {"lut": 7, "ff": 0, "bram36": 0, "dsp": 0,
                                    "lut_memory": 4}

    def test_stat_json_totals(self):
        stat = {"modules": {"\\top": {"num_cells_by_type": {"LUT2": 1}}},
                "design": {"num_cells_by_type": {"LUT2": 5, "FDRE": 2}}}
        assert cells_from_stat(stat) == {"LUT2": 5, "FDRE": 2}
        del stat["design"]
        stat["modules"]["\\sub"] = {"num_cells_by_type": {"LUT2": 2, "DSP48E1": 1}}
        assert cells_from_stat(stat) == {"LUT2": 3, "DSP48E1": 1}

    def test_the_synthesis_command(self):
        assert XC7_SYNTH == "synth_xilinx -family xc7 -widemux 5"

