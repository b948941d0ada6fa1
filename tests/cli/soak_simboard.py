"""The README's simulated-board recipe, run again and again on a busy machine (issue 19).

``python -m sw.simboard`` in one process, then ``python -m sw.run --model MODEL --port PTY
--samples N`` (every other setting at its default) ``--runs`` times in a row, while ``--load``
busy loops keep the cores occupied. Prints one line per run and ``N passed, M failed``; exits
1 if any run failed::

    python tests/cli/soak_simboard.py --runs 20 --samples 5 --load 2

The first start builds the simulated board (Verilator, minutes); that build is not under
load. Set ``SNN_DATA`` to where MNIST is cached to run on MNIST images.
"""

import argparse
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUSY = "while True: pass"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--load", type=int, default=2, help="busy loops beside the runs")
    parser.add_argument("--model", default=str(ROOT / "models" / "mnist.snn"))
    parser.add_argument("--config", default=None, help="sw.simboard --config (default its own)")
    parser.add_argument("--run-timeout", type=float, default=900,
                        help="seconds before one sw.run counts as hung")
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    board_cmd = [sys.executable, "-m", "sw.simboard"]
    if args.config:
        board_cmd += ["--config", args.config]
    board = subprocess.Popen(board_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    loops = []
    passed = failed = 0
    try:
        ready, _, _ = select.select([board.stdout], [], [], 1800)
        port = board.stdout.readline().strip() if ready else ""
        if not port.startswith("/dev/"):
            print(f"the simulated board did not start (got {port!r})", file=sys.stderr)
            return 2
        print(f"simulated board on {port}; {args.load} busy loops; {args.runs} runs of "
              f"{args.samples} images", flush=True)
        loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(args.load)]
        for k in range(1, args.runs + 1):
            start = time.monotonic()
            try:
                result = subprocess.run(
                    [sys.executable, "-m", "sw.run", "--model", args.model, "--port", port,
                     "--samples", str(args.samples)], cwd=ROOT, env=env, capture_output=True,
                    text=True, timeout=args.run_timeout)
                code, err = result.returncode, result.stderr.strip()
                agreement = next((line for line in result.stdout.splitlines()
                                  if line.startswith("agreement")), "")
            except subprocess.TimeoutExpired:
                code, err, agreement = "hung", "", ""
            seconds = time.monotonic() - start
            ok = code == 0
            passed += ok
            failed += not ok
            detail = agreement.split(" with ")[0] if ok else f"{err.splitlines()[-1:]}"
            print(f"run {k:2}: {'pass' if ok else 'FAIL'} (exit {code}, {seconds:.0f} s) "
                  f"{detail}", flush=True)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        if board.poll() is None:
            os.killpg(board.pid, signal.SIGINT)
            try:
                board.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(board.pid, signal.SIGKILL)
                board.wait()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
