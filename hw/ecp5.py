"""Lattice ECP5 primitives the gateware uses when it is built for an ECP5 board.

Yosys maps a product to a ``MULT18X18D`` without its registers, so the fabric's routing to the
DSP slice, the multiplier and the routing from it share one cycle. Where a product goes into a
register anyway (a lane of ``hw.lanes``, the leak of ``hw.neuron``), :func:`registered_product`
instantiates the slice with its output register instead: the same cycle, with the register
inside the slice, so that no routing follows the multiplier. Its input registers stay unused:
fed from a block RAM across the chip, they made the longest paths of the design. Elsewhere
(simulation, other vendors) the callers keep their plain Amaranth product;
``tests/test_hw_lanes.py`` compares both in Icarus with a behavioural model of the slice
(``tests/verilog/mult18x18d_model.v``).
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Signal

__all__ = ["is_ecp5", "registered_product"]


def is_ecp5(platform) -> bool:
    """The design is being built for a Lattice ECP5 (``platform.family``)."""
    return getattr(platform, "family", None) == "ecp5"


def _extend(value, signed):
    fill = value[-1] if signed else Const(0, 1)
    return Cat(value, fill.replicate(18 - len(value)))


def registered_product(m, a, b, *, a_signed: bool, b_signed: bool, name: str):
    """``a * b`` (each at most 18 bits) from a ``MULT18X18D`` whose output register holds the
    36-bit product: valid one cycle after ``a`` and ``b``, as a product in a register would
    be."""
    if len(a) > 18 or len(b) > 18:
        raise ValueError(f"operands of {len(a)} and {len(b)} bits do not fit an 18 x 18 "
                         f"multiplier")
    a18, b18 = _extend(a, a_signed), _extend(b, b_signed)
    p = Signal(36, name=f"{name}_p")
    zero, one = Const(0, 1), Const(1, 1)
    ports = {f"i_A{i}": a18[i] for i in range(18)}
    ports.update({f"i_B{i}": b18[i] for i in range(18)})
    ports.update({f"i_C{i}": zero for i in range(18)})
    ports.update({f"o_P{i}": p[i] for i in range(36)})
    ports.update({"i_SIGNEDA": Const(int(a_signed), 1), "i_SIGNEDB": Const(int(b_signed), 1),
                  "i_SOURCEA": zero, "i_SOURCEB": zero,
                  "i_CLK0": ClockSignal(), "i_CE0": one, "i_RST0": zero})
    for i in (1, 2, 3):
        ports.update({f"i_CLK{i}": zero, f"i_CE{i}": zero, f"i_RST{i}": zero})
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="NONE", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="NONE", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
        p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        p_GSR="DISABLED", p_RESETMODE="SYNC", p_MULT_BYPASS="DISABLED",
        p_CAS_MATCH_REG="FALSE", p_SOURCEB_MODE="B_SHIFT", p_HIGHSPEED_CLK="NONE",
        **ports)
    return p
