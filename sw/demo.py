"""``make demo``: the shipped MNIST model on the golden model (accelerator path pending).

Usage: ``python -m sw.demo [--model FILE] [--samples N]``
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import golden, modelfile


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/mnist.snn", help="model file (.snn)")
    parser.add_argument("--samples", type=int, default=100, help="MNIST test images to run")
    args = parser.parse_args(argv)
    try:
        network = modelfile.load(args.model)
    except (FileNotFoundError, modelfile.ModelFileError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    from . import data
    images, labels = data.load_mnist("test")
    pixels, labels = data.to_pixels(images[:args.samples]), labels[:args.samples]
    print(f"demo: {args.model}: {'-'.join(map(str, network.sizes))}, T={network.timesteps}, "
          f"{network.encoder} encoder")
    print("demo: NOTE: running the integer golden model only; the simulated accelerator is not "
          "wired into the demo yet")
    start = time.perf_counter()
    predicted = golden.predict(network, pixels)
    elapsed = time.perf_counter() - start
    print(f"demo: golden model: {np.mean(predicted == labels) * 100:.2f} % on {len(labels)} "
          f"MNIST test images, {len(labels) / elapsed:.0f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
