// Drives the generic and the ECP5 lane group (hw.lanes) with the same random events, clears
// and weights, and compares their accumulators every cycle.
`timescale 1ns/1ps
module lanes_tb;
    reg clk = 0, rst = 1, valid = 0, clear = 0;
    reg [7:0] mag = 0;
    reg [31:0] weights = 0;
    wire [175:0] acc_generic, acc_ecp5;
    integer cycle, errors = 0, seed = 1;
    lanes_generic generic (.clk(clk), .rst(rst), .valid(valid), .clear(clear), .mag(mag),
                           .weights(weights), .acc(acc_generic));
    lanes_ecp5 ecp5 (.clk(clk), .rst(rst), .valid(valid), .clear(clear), .mag(mag),
                     .weights(weights), .acc(acc_ecp5));
    always #5 clk = ~clk;
    initial begin
        @(posedge clk); @(posedge clk);
        rst <= 0;
        for (cycle = 0; cycle < 4000; cycle = cycle + 1) begin
            @(negedge clk);
            if (cycle > 4 && acc_generic !== acc_ecp5) begin
                errors = errors + 1;
                if (errors < 5)
                    $display("cycle %0d: generic %h ecp5 %h", cycle, acc_generic, acc_ecp5);
            end
            valid = $random(seed);
            clear = ($random(seed) & 31) == 0;
            mag = $random(seed);
            weights = $random(seed);
        end
        if (errors == 0) $display("PASS");
        else $display("FAIL %0d", errors);
        $finish;
    end
endmodule
