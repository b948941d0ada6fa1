// Drives the generic and the ECP5 neuron unit (hw.neuron.NeuronUnit, latency 4, 16-bit
// membrane, 22-bit current) with the same random inputs and compares their outputs every cycle.
`timescale 1ns/1ps
module neuron_tb;
    reg clk = 0, rst = 1;
    reg [15:0] v = 0, bias = 0, threshold = 1, vmin = 16'h8000, vmax = 16'h7fff;
    reg [21:0] current = 0;
    reg [16:0] scale = 0;
    reg fired = 0, valid = 0, fire_once = 0;
    reg [1:0] reset = 0;
    wire [15:0] p_g, p_e, vn_g, vn_e;
    wire s_g, s_e, fn_g, fn_e, fu_g, fu_e;
    integer cycle, errors = 0, seed = 3;
    neuron_generic generic (.clk(clk), .rst(rst), .v(v), .fired(fired), .current(current),
        .valid(valid), .scale(scale), .bias(bias), .fire_once(fire_once), .reset(reset),
        .threshold(threshold), .vmin(vmin), .vmax(vmax), .p(p_g), .spike(s_g),
        .v_next(vn_g), .fired_next(fn_g), .fired_used(fu_g));
    neuron_ecp5 ecp5 (.clk(clk), .rst(rst), .v(v), .fired(fired), .current(current),
        .valid(valid), .scale(scale), .bias(bias), .fire_once(fire_once), .reset(reset),
        .threshold(threshold), .vmin(vmin), .vmax(vmax), .p(p_e), .spike(s_e),
        .v_next(vn_e), .fired_next(fn_e), .fired_used(fu_e));
    always #5 clk = ~clk;
    initial begin
        @(posedge clk); @(posedge clk);
        rst <= 0;
        for (cycle = 0; cycle < 6000; cycle = cycle + 1) begin
            @(negedge clk);
            // The layer constants are held (NeuronUnit's contract): skip the cycles after a change.
            if (cycle > 6 && cycle % 500 > 6
                    && {p_g, s_g, vn_g, fn_g, fu_g} !== {p_e, s_e, vn_e, fn_e, fu_e}) begin
                errors = errors + 1;
                if (errors < 5)
                    $display("cycle %0d: generic %h %b %h ecp5 %h %b %h", cycle, p_g, s_g, vn_g,
                             p_e, s_e, vn_e);
            end
            v = $random(seed);
            current = $random(seed) % 4096;
            fired = $random(seed);
            valid = $random(seed);
            if (cycle % 500 == 0) begin  // a new layer: its constants, held for a while
                scale = $random(seed) & 17'h1ffff;
                bias = $random(seed);
                threshold = $random(seed) & 16'h0fff;
                fire_once = $random(seed);
                reset = $random(seed) % 3;
            end
        end
        if (errors == 0) $display("PASS");
        else $display("FAIL %0d", errors);
        $finish;
    end
endmodule
