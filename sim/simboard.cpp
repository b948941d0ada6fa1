// Simulated board: a Verilator model of hw.soc.SoC whose UART pins are bridged to a
// pseudo-terminal, so that host software (sw.uart.UARTTransport, LiteX's litex_server) talks
// to it exactly as to a board's USB-serial port.
//
// The host's bytes are bit-banged onto the model's rx pin at `divisor` clock cycles per bit;
// the model's tx pin is decoded at the middle of each bit and the bytes are written back to
// the pty. This is many times faster than a cocotb bench, as nothing leaves C++ per cycle.
//
// Usage: simboard --divisor D [--reset CYCLES] [--idle-cycles N] [--stats]
// Prints the pty path as the first line of stdout, then runs until killed or until its
// parent process goes away. With --stats it prints "cycles N" to stdout on SIGUSR1.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <termios.h>
#include <unistd.h>
#include <vector>

#include "Vsoc.h"
#include "verilated.h"

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t stats_requested = 0;
static void on_stop(int) { stop_requested = 1; }
static void on_stats(int) { stats_requested = 1; }

static void die(const char *what) {
    std::fprintf(stderr, "simboard: %s: %s\n", what, std::strerror(errno));
    std::exit(2);
}

int main(int argc, char **argv) {
    long divisor = 8, reset_cycles = 16, idle_limit = 2000000;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg == "--divisor" && i + 1 < argc) divisor = std::atol(argv[++i]);
        else if (arg == "--reset" && i + 1 < argc) reset_cycles = std::atol(argv[++i]);
        else if (arg == "--idle-cycles" && i + 1 < argc) idle_limit = std::atol(argv[++i]);
        else if (arg.rfind("+verilator", 0) == 0) continue;
        else {
            std::fprintf(stderr, "simboard: unknown argument %s\n", arg.c_str());
            return 2;
        }
    }
    if (divisor < 4) {
        std::fprintf(stderr, "simboard: divisor must be at least 4\n");
        return 2;
    }

    // The pty. The simulator keeps the slave side open itself, in raw mode, so that the
    // master never reads EIO between two host programs, and bytes are never mangled.
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) die("cannot create a pty");
    const char *slave_name = ptsname(master);
    if (!slave_name) die("ptsname");
    int slave = open(slave_name, O_RDWR | O_NOCTTY);
    if (slave < 0) die("cannot open the pty slave");
    struct termios tio;
    if (tcgetattr(slave, &tio) < 0) die("tcgetattr");
    cfmakeraw(&tio);
    if (tcsetattr(slave, TCSANOW, &tio) < 0) die("tcsetattr");
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

    std::signal(SIGTERM, on_stop);
    std::signal(SIGINT, on_stop);
    std::signal(SIGHUP, on_stop);
    std::signal(SIGUSR1, on_stats);
    std::printf("%s\n", slave_name);
    std::fflush(stdout);
    pid_t parent = getppid();

    Verilated::commandArgs(argc, argv);
    Vsoc *top = new Vsoc;
    top->rx = 1;
    top->rst = 1;
    top->clk = 0;
    top->eval();

    std::deque<unsigned char> to_device;     // host bytes waiting for the rx pin
    std::vector<unsigned char> to_host;      // decoded tx bytes waiting for the pty
    unsigned char buf[4096];

    // rx pin bit-banger
    bool sending = false;
    int send_bits = 0, send_bit = 0;
    long send_count = 0;
    // tx pin decoder
    bool receiving = false;
    long recv_count = 0;
    int recv_byte = 0;

    unsigned long long cycle = 0;
    long idle = 0;

    while (!stop_requested) {
        // Host -> device: fetch bytes from the pty. Poll often enough that the rx line never
        // runs dry while the host has more to send (a byte lasts 10 * divisor cycles).
        if ((cycle & 63) == 0 && to_device.size() < 64) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n > 0) to_device.insert(to_device.end(), buf, buf + n);
        }
        if (!sending && !to_device.empty() && cycle >= (unsigned long long)reset_cycles) {
            // start bit, 8 data bits LSB first, stop bit
            send_bits = (1 << 9) | (to_device.front() << 1);
            to_device.pop_front();
            sending = true;
            send_bit = 0;
            send_count = 0;
        }
        if (sending) {
            top->rx = (send_bits >> send_bit) & 1;
            if (++send_count == divisor) {
                send_count = 0;
                if (++send_bit == 10) sending = false;
            }
        } else {
            top->rx = 1;
        }

        top->rst = cycle < (unsigned long long)reset_cycles;
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        cycle++;

        // Device -> host: decode the tx pin in the middle of each bit.
        int tx = top->tx & 1;
        if (!receiving) {
            if (!tx && cycle > (unsigned long long)reset_cycles) {
                receiving = true;
                recv_count = 0;
                recv_byte = 0;
            }
        } else {
            recv_count++;
            if (recv_count % divisor == divisor / 2) {
                long bit = recv_count / divisor;
                if (bit >= 1 && bit <= 8) recv_byte |= tx << (bit - 1);
                if (bit == 9) {
                    receiving = false;
                    if (tx) to_host.push_back((unsigned char)recv_byte);
                    else std::fprintf(stderr, "simboard: framing error on tx\n");
                }
            }
        }
        if (!to_host.empty()) {
            ssize_t n = write(master, to_host.data(), to_host.size());
            if (n > 0) to_host.erase(to_host.begin(), to_host.begin() + n);
        }

        // Sleep when the host has been silent for a long time: the model has long finished
        // whatever the host asked, and a busy loop would take a CPU core from everyone else.
        if (sending || receiving || !to_device.empty() || !to_host.empty()) idle = 0;
        else if (++idle > idle_limit && (cycle & 1023) == 0) {
            struct pollfd pfd = {master, POLLIN, 0};
            poll(&pfd, 1, 10);
        }
        if ((cycle & 0xFFFFF) == 0 && getppid() != parent) break;
        if (stats_requested) {
            stats_requested = 0;
            std::fprintf(stderr, "simboard: cycles %llu\n", cycle);
        }
    }
    top->final();
    delete top;
    close(slave);
    close(master);
    return 0;
}
