"""The Verilog wrapper that lets a simulator run a bus target at full speed.

Python drives a cocotb bench slowly: every ``await`` costs tens of microseconds, so a bench that
toggles the clock or steps a bus transfer from Python spends its time in Python. The wrapper
(``sim_top``) moves the per-cycle work into the simulator:

* a free-running clock (``always #5``, Verilator needs ``--timing``) and a power-on reset;
* a *bus sequencer*: Python writes a list of commands into ``cmd_mem`` (one 72-bit word each:
  ``op`` in bits 71..64, word address in 63..32, data in 31..0), sets ``cmd_count`` and bumps
  ``go_seq``; the sequencer replays the list back to back (one transfer per two cycles with a
  target that acknowledges in one), stores read data in ``rd_mem`` and copies ``go_seq`` to
  ``done_seq`` when done: Python awaits that one change;
* a *trace capture*: every cycle in which the component's ``trace.valid`` is high, the
  concatenation of the other ``trace`` outputs is stored in ``trace_mem`` (``trace_count``
  entries, ``trace_overflow`` set when it is full);
* counters: ``cycle`` (free running), ``irq_cycles`` (cycles from the last acknowledged write to
  the last rising edge of ``irq``: the latency of a start command).

Sequencer operations (:data:`OPS`): ``write``, ``read``, ``wait_irq`` (until ``irq`` is high or
``data`` cycles passed), ``reset`` (hold the component's reset ``data`` cycles), ``clear_trace``,
``idle`` (``data`` cycles).
"""

from __future__ import annotations

from amaranth.hdl import Shape, Value
from amaranth.lib import data, wiring

__all__ = ["OPS", "trace_fields", "decode_record", "generate"]

OPS = {"end": 0, "write": 1, "read": 2, "wait_irq": 3, "reset": 4, "clear_trace": 5,
       "idle": 6}
#: Files, in the simulator's working folder, that carry commands, read data and trace records.
CMD_FILE = "sim_cmd.hex"
TRACE_FILE = "sim_trace.hex"


def _leaves(shape, path: str, offset: int, out: list) -> None:
    if isinstance(shape, data.Layout):
        for name, fld in shape:
            _leaves(fld.shape, f"{path}.{name}" if path else str(name), offset + fld.offset, out)
        return
    cast = Shape.cast(shape)
    out.append({"path": path, "offset": offset, "width": cast.width, "signed": cast.signed})


def trace_fields(component) -> tuple[list[dict], list[tuple[str, int]]]:
    """The leaves of the ``trace`` record and the component ports that form it.

    Returns ``(fields, ports)``: each field is ``{"path", "offset", "width", "signed"}`` with a
    dotted path below ``trace`` (e.g. ``"payload.membrane.3"``) and its bit offset in the
    captured record; ``ports`` lists ``(verilog port name, width)`` from bit 0 upwards.
    """
    fields, ports, offset = [], [], 0
    if "trace" not in component.signature.members:
        return fields, ports
    for path, member, value in component.signature.flatten(component):
        if path[0] != "trace" or member.flow != wiring.Out or path[-1] == "valid":
            continue
        name = "__".join(map(str, path))
        width = Value.cast(value).shape().width
        shape = member.shape
        sub = ".".join(map(str, path[1:]))
        if isinstance(shape, data.Layout):
            _leaves(shape, sub, offset, fields)
        else:
            cast = Shape.cast(shape)
            fields.append({"path": sub, "offset": offset, "width": cast.width,
                           "signed": cast.signed})
        ports.append((name, width))
        offset += width
    return fields, ports


def decode_record(word: int, fields: list[dict]):
    """Decode a captured trace record into nested dicts and lists of ints.

    ``{"payload": {"layer": 1, "membrane": [-3, 7, ...]}}`` for a payload with a ``layer``
    field and a ``membrane`` array; dict levels whose keys are 0 .. n-1 become lists.
    """
    root: dict = {}
    for f in fields:
        value = (word >> f["offset"]) & ((1 << f["width"]) - 1)
        if f["signed"] and value >> (f["width"] - 1):
            value -= 1 << f["width"]
        node = root
        parts = f["path"].split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node):
        if not isinstance(node, dict):
            return node
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node) and \
                sorted(map(int, node)) == list(range(len(node))):
            return [node[str(i)] for i in range(len(node))]
        return node
    return listify(root)


def _ports(component):
    for path, member, value in component.signature.flatten(component):
        yield "__".join(map(str, path)), path, member.flow, Value.cast(value).shape().width


def generate(component, *, cmd_depth: int, pins: bool = False) -> tuple[str, str, dict]:
    """Verilog of ``component`` (module ``sim_core``), of the wrapper ``sim_top`` and the meta
    data the Python side needs.

    With ``pins``, the component's ports other than ``bus``, ``irq`` and ``trace`` become
    signals of ``sim_top`` that a bench drives and reads by name (inputs start at 0), and the
    clock ``clk`` is driven by the bench (``cocotb.clock.Clock``) instead of the wrapper: a
    bench that drives pins with cocotb drivers (e.g. cocotbext-axi) samples them at the clock
    edges it makes itself."""
    from amaranth.back import verilog

    members = component.signature.members
    if "bus" not in members:
        raise ValueError("the component has no 'bus' port; the wrapper drives a hw.bus target")
    core = verilog.convert(component, name="sim_core", emit_src=False)
    fields, trace_ports = trace_fields(component)
    trace_width = max(1, sum(w for _, w in trace_ports))
    addr_width = next(w for n, p, f, w in _ports(component) if p == ("bus", "addr"))
    has_irq = "irq" in members
    decl, conn = _connections(component, pins)
    valid, record = _trace_record(component, trace_ports, trace_width)
    top = (_declarations(addr_width=addr_width, cmd_depth=cmd_depth, trace_width=trace_width,
                         pins=pins, has_irq=has_irq, decl=decl, conn=conn)
           + _sequencer(cmd_depth=cmd_depth, valid=valid, record=record))
    meta = {"addr_width": addr_width, "cmd_depth": cmd_depth, "trace_width": trace_width,
            "trace_fields": fields, "has_irq": has_irq, "ops": OPS,
            "files": {"cmd": CMD_FILE, "read": CMD_FILE.replace("cmd", "rd"),
                      "trace": TRACE_FILE}}
    return core, top, meta


def _connections(component, pins: bool) -> tuple[list[str], list[str]]:
    """The wires ``sim_top`` declares for the component's ports and the port connections of
    its instance ``core``: ``(declarations, connections)``, one Verilog line or
    ``.port(signal)`` each. The bus goes to the sequencer's registers, ``irq`` to its wire;
    with ``pins`` the other ports (not ``trace``) become public signals (inputs start at 0);
    otherwise inputs are tied and outputs get a wire of their own."""
    decl, conn = [], [".clk(clk)", ".rst(rst)"]
    bus_map = {"cyc": "cyc", "we": "we", "addr": "addr[ADDR_W-1:0]", "w_data": "w_data",
               "r_data": "r_data", "ack": "ack"}
    for name, path, flow, width in _ports(component):
        if path[0] == "bus":
            conn.append(f".{name}({bus_map[path[1]]})")
        elif path == ("irq",):
            conn.append(".irq(irq)")
        elif pins and path[0] != "trace":
            kind = "reg" if flow == wiring.In else "wire"
            init = " = 0" if flow == wiring.In else ""
            decl.append(f"  {kind} [{width - 1}:0] {name} /*verilator public_flat_rw*/{init};")
            conn.append(f".{name}({name})")
        elif flow == wiring.In:
            # Inputs the wrapper does not drive: tie to 1 for a trace's ready (never stall),
            # 0 otherwise.
            value = f"{width}'d1" if path[0] == "trace" and path[-1] == "ready" else f"{width}'d0"
            conn.append(f".{name}({value})")
        else:
            decl.append(f"  wire [{width - 1}:0] {name};")
            conn.append(f".{name}({name})")
    return decl, conn


def _trace_record(component, trace_ports, trace_width: int) -> tuple[str, str]:
    """The Verilog expressions of the trace capture: ``(valid, record)``, the strobe (``1'b0``
    without ``trace.valid``) and the concatenation of the ``trace`` outputs, bit 0 last."""
    record = "{" + ", ".join(name for name, _ in reversed(trace_ports)) + "}" \
        if trace_ports else f"{trace_width}'d0"
    has_valid = any(p == ("trace", "valid") for _, p, _, _ in _ports(component))
    return ("trace__valid" if has_valid else "1'b0"), record


def _declarations(*, addr_width: int, cmd_depth: int, trace_width: int, pins: bool,
                  has_irq: bool, decl: list[str], conn: list[str]) -> str:
    """The first half of ``sim_top``: parameters, the clock (the wrapper's, or the bench's with
    ``pins``), the files, the sequencer's and counters' registers, the reset, the bus and
    ``irq`` wires, the component's wires (``decl``) and its instance ``core``."""
    irq_decl = ("  wire irq /*verilator public_flat_rw*/;" if has_irq
                else "  wire irq /*verilator public_flat_rw*/ = 1'b0;")
    clock = ("  reg clk /*verilator public_flat_rw*/ = 1'b0;  // driven by the bench\n" if pins
             else "  reg clk = 1'b0;\n  always #5 clk = ~clk;\n")
    nl = "\n"
    return f"""// Generated by sim/wrapper.py: clock, reset, bus sequencer and trace capture around sim_core.
module sim_top;
  localparam ADDR_W = {addr_width};
  localparam CMD_DEPTH = {cmd_depth};
  localparam TRACE_W = {trace_width};

{clock}
  // Files in the working folder: commands in, read data and trace records out. Moving bulk
  // data through files instead of one VPI call per word is what keeps Python cheap.
  integer rd_fd = 0, trace_fd = 0;
  initial begin
    rd_fd = $fopen("{CMD_FILE.replace("cmd", "rd")}", "w");
    trace_fd = $fopen("{TRACE_FILE}", "w");
  end

  reg [71:0] cmd_mem [0:CMD_DEPTH-1];
  // Written by Python only.
  reg [31:0] go_seq /*verilator public_flat_rw*/ = 32'd0;
  // Written by the wrapper only.
  reg [31:0] done_seq /*verilator public_flat_rw*/ = 32'd0;
  reg [31:0] trace_count /*verilator public_flat_rw*/ = 32'd0;
  reg [63:0] cycle /*verilator public_flat_rw*/ = 64'd0;
  reg [63:0] wr_cycle = 64'd0;
  reg [63:0] irq_cycles /*verilator public_flat_rw*/ = 64'd0;

  reg [3:0] por = 4'hf;
  reg rst_cmd = 1'b0;
  wire rst = (por != 4'd0) | rst_cmd;

  reg cyc = 1'b0, we = 1'b0;
  reg [31:0] addr = 32'd0, w_data = 32'd0;
  wire [31:0] r_data;
  wire ack;
{irq_decl}
  reg irq_q = 1'b0;
{nl.join(decl)}

  sim_core core({", ".join(conn)});

"""


def _sequencer(*, cmd_depth: int, valid: str, record: str) -> str:
    """The second half of ``sim_top``: the clocked process that counts cycles, measures
    ``irq_cycles``, writes trace records (``record`` while ``valid``) and runs the bus
    sequencer over ``cmd_mem`` (:data:`OPS`), up to ``endmodule``."""
    cmd_bits = max(1, (cmd_depth - 1).bit_length())
    return f"""  reg running = 1'b0;
  reg [2:0] phase = 3'd0;  // 0: decode, 1: bus transfer, 2: wait irq, 3: reset, 4: idle
  reg [{cmd_bits}:0] pc = 0;
  reg [31:0] count = 32'd0;
  wire [71:0] cur = cmd_mem[pc[{cmd_bits - 1}:0]];
  wire [71:0] nxt = cmd_mem[pc[{cmd_bits - 1}:0] + 1'b1];
  wire nxt_bus = (nxt[71:64] == 8'd{OPS["write"]} || nxt[71:64] == 8'd{OPS["read"]});

  always @(posedge clk) begin
    cycle <= cycle + 64'd1;
    if (por != 4'd0) por <= por - 4'd1;
    irq_q <= irq;
    if (irq && !irq_q) irq_cycles <= cycle - wr_cycle;
    if ({valid}) begin
      $fwrite(trace_fd, "%h\\n", {record});
      trace_count <= trace_count + 32'd1;
    end
    if (!running) begin
      if (go_seq != done_seq && por == 4'd0) begin
        $readmemh("{CMD_FILE}", cmd_mem);
        $fclose(rd_fd);
        rd_fd = $fopen("{CMD_FILE.replace("cmd", "rd")}", "w");
        running <= 1'b1;
        pc <= 0;
        phase <= 3'd0;
      end
    end else case (phase)
      3'd0: case (cur[71:64])
          8'd{OPS["end"]}: begin
            $fflush(rd_fd);
            $fflush(trace_fd);
            running <= 1'b0;
            done_seq <= go_seq;
          end
          8'd{OPS["write"]}, 8'd{OPS["read"]}: begin
            cyc <= 1'b1;
            we <= cur[71:64] == 8'd{OPS["write"]};
            addr <= cur[63:32];
            w_data <= cur[31:0];
            phase <= 3'd1;
          end
          8'd{OPS["wait_irq"]}: begin count <= cur[31:0]; phase <= 3'd2; end
          8'd{OPS["reset"]}: begin count <= cur[31:0]; rst_cmd <= 1'b1; phase <= 3'd3; end
          8'd{OPS["clear_trace"]}: begin
            $fclose(trace_fd);
            trace_fd = $fopen("{TRACE_FILE}", "w");
            trace_count <= 32'd0;
            pc <= pc + 1;
          end
          8'd{OPS["idle"]}: begin count <= cur[31:0]; phase <= 3'd4; end
          default: pc <= pc + 1;
        endcase
      3'd1: if (ack) begin
        if (we) wr_cycle <= cycle;
        else $fwrite(rd_fd, "%h\\n", r_data);
        pc <= pc + 1;
        // Present the next transfer at once (the bus allows it) to halve the load time.
        if (nxt_bus) begin
          we <= nxt[71:64] == 8'd{OPS["write"]};
          addr <= nxt[63:32];
          w_data <= nxt[31:0];
        end else begin
          cyc <= 1'b0;
          phase <= 3'd0;
        end
      end
      3'd2: if (irq || count == 32'd0) begin pc <= pc + 1; phase <= 3'd0; end
            else count <= count - 32'd1;
      3'd3: if (count <= 32'd1) begin rst_cmd <= 1'b0; pc <= pc + 1; phase <= 3'd0; end
            else count <= count - 32'd1;
      3'd4: if (count <= 32'd1) begin pc <= pc + 1; phase <= 3'd0; end
            else count <= count - 32'd1;
      default: phase <= 3'd0;
    endcase
  end
endmodule
"""
