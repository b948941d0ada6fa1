// Drives the generic and the ECP5 weight memory (hw.weights) with the same random writes and
// reads (never of the word being written in the same cycle), and compares the words read
// every cycle. Reads go to the 64 words the writes go to, so most return written data.
`timescale 1ns/1ps
module weights_tb;
    reg clk = 0, rst = 1, w_en = 0;
    reg [10:0] r_addr = 0, w_addr = 0;
    reg [19:0] w_data = 0;
    wire [19:0] data_generic, data_ecp5;
    integer cycle, errors = 0, nonzero = 0, seed = 1;
    weights_generic generic (.clk(clk), .rst(rst), .r_addr(r_addr), .r_data(data_generic),
                             .w_addr(w_addr), .w_data(w_data), .w_en(w_en));
    weights_ecp5 ecp5 (.clk(clk), .rst(rst), .r_addr(r_addr), .r_data(data_ecp5),
                       .w_addr(w_addr), .w_data(w_data), .w_en(w_en));
    always #5 clk = ~clk;
    initial begin
        @(posedge clk); @(posedge clk);
        rst <= 0;
        for (cycle = 0; cycle < 4000; cycle = cycle + 1) begin
            @(negedge clk);
            if (cycle > 2) begin
                if (data_generic !== data_ecp5) begin
                    errors = errors + 1;
                    if (errors < 5)
                        $display("cycle %0d: generic %h ecp5 %h", cycle, data_generic,
                                 data_ecp5);
                end
                if (data_generic != 0) nonzero = nonzero + 1;
            end
            w_en = $random(seed);
            w_addr = $random(seed) & 63;
            w_data = $random(seed);
            r_addr = $random(seed) & 63;
            if (w_en && r_addr == w_addr) r_addr = (r_addr + 1) & 63;
        end
        if (errors == 0 && nonzero > 2000) $display("PASS");
        else $display("FAIL %0d errors, %0d nonzero words", errors, nonzero);
        $finish;
    end
endmodule
