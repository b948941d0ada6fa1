"""Lattice ECP5 primitives the gateware uses when it is built for an ECP5 board.

Block RAM: an ECP5 ``DP16KD`` takes 5.8 ns from its clock to its data output, more than half a
100 MHz cycle, and Yosys never uses the output register that cuts this to about 1 ns.
:func:`registered_ram` instantiates the block RAM with that register; ``hw.weights`` uses it
for the weight memory, whose word goes to every lane across the chip.

DSP: Yosys maps a product to a ``MULT18X18D`` without its registers, so the fabric's routing
to the DSP slice, the multiplier and the routing from it share one cycle. Where a product goes
into a register anyway (a lane of ``hw.lanes``, the leak of ``hw.neuron``),
:func:`registered_product` instantiates the slice with its output register instead: the same
cycle, with the register inside the slice, so that no routing follows the multiplier. Its input
registers stay unused: fed from a block RAM across the chip, they made the longest paths of
the design. Elsewhere
(simulation, other vendors) the callers keep their plain Amaranth product;
``tests/test_hw_ecp5.py`` compares both in Icarus with behavioural models of the slice and of
the block RAM (``tests/verilog/mult18x18d_model.v``, ``tests/verilog/dp16kd_model.v``).
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Signal

__all__ = ["RAM_DEPTH", "RAM_WIDTH", "is_ecp5", "registered_product", "registered_ram"]

#: The shape of :func:`registered_ram`: a ``DP16KD`` with 9-bit ports.
RAM_DEPTH, RAM_WIDTH = 2048, 9


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


def registered_ram(m, *, r_addr, w_addr, w_data, w_en, name: str):
    """A ``DP16KD`` block RAM of :data:`RAM_DEPTH` words of at most :data:`RAM_WIDTH` bits
    (``len(w_data)``), written through port A and read through port B into its output register.

    Returns the word read: the word at ``r_addr`` two cycles after ``r_addr`` (the array's
    register, then the output register), as a memory read port followed by a register would
    give it. A word written in cycle ``c`` can be read from cycle ``c + 1``; a read of the word
    being written in the same cycle returns an undefined value (the block RAM's port collision),
    so callers never use one. The contents start at zero.
    """
    width = len(w_data)
    if width > RAM_WIDTH or len(r_addr) > 11 or len(w_addr) > 11:
        raise ValueError(f"a {width}-bit memory with {max(len(r_addr), len(w_addr))}-bit "
                         f"addresses does not fit a {RAM_DEPTH} x {RAM_WIDTH} DP16KD")
    data = Signal(width, name=f"{name}_data")
    zero, one = Const(0, 1), Const(1, 1)
    # In the 9-bit shape the word address is ADx13..ADx3; ADx2..ADx0 are unused.
    wa, ra = Cat(Const(0, 3), w_addr, Const(0, 11 - len(w_addr))), \
        Cat(Const(0, 3), r_addr, Const(0, 11 - len(r_addr)))
    wd = Cat(w_data, Const(0, 18 - width))
    ports = {f"i_ADA{i}": wa[i] for i in range(14)}
    ports.update({f"i_ADB{i}": ra[i] for i in range(14)})
    ports.update({f"i_DIA{i}": wd[i] for i in range(18)})
    ports.update({f"i_DIB{i}": zero for i in range(18)})
    ports.update({f"o_DOB{i}": data[i] for i in range(width)})
    for port, we in (("A", w_en), ("B", zero)):
        ports.update({f"i_CLK{port}": ClockSignal(), f"i_CE{port}": one, f"i_OCE{port}": one,
                      f"i_WE{port}": we, f"i_RST{port}": zero,
                      **{f"i_CS{port}{i}": zero for i in range(3)}})
    m.submodules[name] = Instance(
        "DP16KD",
        p_DATA_WIDTH_A=9, p_DATA_WIDTH_B=9, p_REGMODE_A="NOREG", p_REGMODE_B="OUTREG",
        p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_RESETMODE="SYNC",
        p_CSDECODE_A="0b000", p_CSDECODE_B="0b000", p_GSR="DISABLED",
        **ports)
    return data
