"""What the UART link allows: bytes and images per second for the pixel window and the
compact input.

::

    python -m sw.linkbench --model models/mnist_t4.snn [--samples 1000] [--data mnist]
                           [--json results/link.json]

For the first ``--samples`` images of ``--data`` (as ``sw.run`` chooses them) it counts the
UARTBone bytes per image that ``sw.run`` sends and receives (:func:`sw.runner.link_bytes`,
the same batches as on a board) for the hardware without the input queue (every pixel through
the pixel window) and with it (``--set stream=true``: the compact input, the next image sent
while the current one computes), and prints images per second at 115,200 baud, 1, 3 and
12 Mbaud (:func:`sw.runner.link_rate`: 10 bits a byte, both directions at once) beside what
the accelerator computes at ``--clock`` from the cycle model (``core.perf``).

With ``--pcie-stream`` it runs the images instead through the simulated PCIe stream
(``sim.axisbench``: Verilator, the accelerator built with ``stream=true`` behind the AXI-Stream
bridge of the Litefury/Nitefury top, cocotbext-axi playing XDMA's H2C and C2H channels, every
result checked against the golden model) and prints images/s at 125 MHz from the first H2C
frame to the last C2H record, against the accelerator's bound (125 MHz over the median
inference cycles) and the busy fraction. ``--pause P`` makes the simulated link pause with
probability ``P`` per cycle.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from core import modelfile
from core.config import Config
from core.modelfile import ModelFileError
from core.perf import cycle_counts
from sw.data import DataError
from sw.options import (ArgumentParser, add_json, add_samples, atomic_write, cli_main, fail,
                        input_file, positive_float)
from sw.runner import link_bytes, link_rate, open_images
from sim.axisbench import stream_throughput

__all__ = ["main", "BAUDS"]

PROG = "python -m sw.linkbench"
#: Baud rates of the table: the default, two common fast ones, the Arty's FT2232H maximum.
BAUDS = (115_200, 1_000_000, 3_000_000, 12_000_000)


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=input_file, required=True, metavar="FILE",
                        help="model file (.snn)")
    parser.add_argument("--data", default=None,
                        help="mnist, digits, random, a folder or an .npy file (as sw.run)")
    add_samples(parser, default=1000)
    parser.add_argument("--clock", type=positive_float, default=100.0, metavar="MHZ",
                        help="accelerator clock for the compute bound (default 100)")
    parser.add_argument("--pcie-stream", action="store_true",
                        help="run the images through the simulated PCIe AXI-Stream path "
                             "(Verilator) instead of counting UART bytes")
    parser.add_argument("--pause", type=float, default=0.0, metavar="P",
                        help="with --pcie-stream: pause probability of the simulated H2C "
                             "and C2H per cycle (default 0: the link keeps up)")
    add_json(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.pause < 1:
        parser.error(f"--pause must be in [0, 1), not {args.pause}")
    try:
        network = modelfile.load(args.model)
        images = open_images(args.data, network.n_inputs, args.samples)
        if images.note:
            print(images.note, file=sys.stderr)
        pixels = np.concatenate([p for p, _ in images.chunks()])
    except (ModelFileError, DataError) as error:
        return fail(PROG, str(error))
    if args.pcie_stream:
        return _pcie_stream(args, network, images, pixels)
    base = Config.for_network(network)
    cycles = float(cycle_counts(network, base, pixels).mean())
    compute = args.clock * 1e6 / cycles
    report = {"model": str(args.model), "images": images.description, "samples": len(pixels),
              "nonzero_pixels": float((pixels > 0).sum(axis=1).mean()),
              "cycles_mean": cycles, "clock_mhz": args.clock,
              "compute_images_per_s": compute, "formats": {}}
    print(f"{images.description}, {len(pixels)} images, {report['nonzero_pixels']:.1f} "
          f"nonzero pixels of {network.n_inputs} on average; accelerator: {cycles:.0f} cycles "
          f"mean, {compute:,.0f} images/s at {args.clock:g} MHz")
    header = "".join(f"{b:>14,}" for b in BAUDS)
    print(f"{'format':<30}{'host->dev B':>12}{'dev->host B':>12}{header}  (images/s)")
    for name, stream in (("pixel window", False), ("compact input + queue", True)):
        counted = link_bytes(network, base.replace(stream=stream), pixels)
        rates = {b: min(link_rate(counted["request"], counted["answer"], b), compute)
                 for b in BAUDS}
        report["formats"][name] = {"stream": stream, **counted,
                                   "images_per_s": {str(b): r for b, r in rates.items()}}
        cells = "".join(f"{rates[b]:>14,.1f}" for b in BAUDS)
        print(f"{name:<30}{counted['request']:>12.1f}{counted['answer']:>12.1f}{cells}")
    if args.json:
        with atomic_write(args.json) as file:
            file.write(json.dumps(report, indent=1) + "\n")
    return 0


def _pcie_stream(args, network, images, pixels) -> int:
    report = stream_throughput(network, pixels, Config.mnist(), pause=args.pause)
    report.update(model=str(args.model), data=images.description)
    print(f"{images.description}, {report['images']} images through the simulated PCIe "
          f"stream (Verilator, pause {args.pause:g}): {report['total_cycles']:,} cycles "
          f"from the first H2C frame to the last C2H record")
    print(f"  {report['images_per_s']:,.0f} images/s at 125 MHz; accelerator bound "
          f"{report['bound_images_per_s']:,.0f} images/s (median "
          f"{report['median_inference_cycles']:.0f} cycles); accelerator busy "
          f"{100 * report['busy_fraction']:.1f} % of the time; "
          f"{report['mismatches']} results differ from the golden model")
    if args.json:
        with atomic_write(args.json) as file:
            file.write(json.dumps(report, indent=1) + "\n")
    return 0 if not report["mismatches"] else 1


if __name__ == "__main__":
    sys.exit(main())
