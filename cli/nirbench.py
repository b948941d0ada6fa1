"""The NIR benchmark: an snnTorch network through NIR onto the accelerator, checked.

::

    python -m sw.nirbench [--epochs 2] [--samples 1000] [--output results]

It trains the issue's network in snnTorch (784-128-10, ``snn.Leaky`` neurons with beta 0.875
and zero reset, the image as an analog input current at each of T = 8 steps, biases, class by
spike count) on MNIST (``sw.data``), exports it with ``snntorch.export_nir.export_to_nir``,
imports the graph with 8-bit weights (``sw.nirfloat.read_float`` and ``quantize``, calibrated on
validation images) and compares, on the first ``--samples`` MNIST test images, snnTorch's own
predictions with the integer golden model's. It prints both accuracies and the agreement and
writes ``nir.json``, ``nir_mnist.nir`` and ``nir_mnist.snn`` into the output folder.

The snnTorch helpers (:func:`build`, :func:`train`, :func:`predict`) are what the tests use to
train their small network on the digits.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from core import golden, modelfile
from sw import data
from sw.nirfloat import agreement, quantize, read_float
from sw.options import (ArgumentParser, atomic_write, cli_main, fail, output_dir, positive_int,
                        progress)

__all__ = ["build", "train", "predict", "export", "main"]

PROG = "python -m sw.nirbench"


def build(sizes, *, beta: float = 0.875, seed: int = 0):
    """An snnTorch ``nn.Sequential`` of ``Linear`` (with bias) and ``snn.Leaky`` (zero reset,
    threshold 1) layers for ``sizes`` ``[n_in, n_1, ..., n_classes]``. beta and the threshold
    are per-neuron vectors, which ``export_to_nir`` needs to type the graph."""
    import snntorch as snn
    import torch
    torch.manual_seed(seed)
    modules = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        modules += [torch.nn.Linear(n_in, n_out),
                    snn.Leaky(beta=torch.full((n_out,), beta), threshold=torch.ones(n_out),
                              reset_mechanism="zero", init_hidden=True)]
    return torch.nn.Sequential(*modules)


def _counts(model, x, timesteps: int):
    """Output spikes summed over the steps, for float images ``x`` (B, n_in) in [0, 1]."""
    import snntorch.utils
    snntorch.utils.reset(model)
    total = 0
    for _ in range(timesteps):
        total = total + model(x)
    return total


def train(model, pixels, labels, *, timesteps: int, epochs: int = 1, batch: int = 128,
          lr: float = 5e-3, seed: int = 0, quiet: bool = True):
    """Train ``model`` on uint8 ``pixels`` (seen as ``pixel / 255``) with cross-entropy on the
    output spike counts (Adam, surrogate gradients)."""
    import torch
    generator = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(data.from_pixels(pixels))
    y_all = torch.from_numpy(np.asarray(labels, np.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=generator)
        for start in progress(range(0, len(order), batch), desc="train", quiet=quiet):
            index = order[start:start + batch]
            loss = torch.nn.functional.cross_entropy(
                _counts(model, x_all[index], timesteps), y_all[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def predict(model, pixels, *, timesteps: int, batch: int = 1000) -> np.ndarray:
    """snnTorch's classes (most output spikes, lowest index on ties: ``argmax``)."""
    import torch
    out = []
    with torch.no_grad():
        for start in range(0, len(pixels), batch):
            x = torch.from_numpy(data.from_pixels(pixels[start:start + batch]))
            out.append(_counts(model, x, timesteps).argmax(dim=1).numpy())
    return np.concatenate(out).astype(np.int64)


def export(model, n_inputs: int):
    """The NIR graph snnTorch writes for ``model`` (``export_to_nir``)."""
    import torch
    from snntorch.export_nir import export_to_nir
    return export_to_nir(model, torch.zeros(n_inputs))


def _parser():
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=positive_int, default=2, help="training epochs (default 2)")
    p.add_argument("--samples", type=positive_int, default=1000, metavar="N",
                   help="MNIST test images compared (default 1000)")
    p.add_argument("--calibrate", type=positive_int, default=1000, metavar="N",
                   help="validation images the import calibrates on (default 1000)")
    p.add_argument("--output", type=output_dir, default="results", metavar="DIR",
                   help="folder for nir.json, nir_mnist.nir and nir_mnist.snn (default "
                        "results)")
    p.add_argument("--seed", type=int, default=0)
    return p


@cli_main(PROG)
def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    import nir
    import torch
    torch.set_num_threads(1)
    timesteps = 8
    try:
        mnist = data.load_mnist()
    except data.DataError as error:
        return fail(PROG, str(error), 1)
    started = time.monotonic()
    model = build([784, 128, 10], seed=args.seed)
    train(model, *mnist["train"], timesteps=timesteps, epochs=args.epochs, seed=args.seed,
          quiet=False)
    trained = time.monotonic() - started
    graph = export(model, 784)
    fnet = read_float(graph)
    result = quantize(fnet, timesteps=timesteps, weight_bits=8, readout="spike_count",
                      calibration=mnist["valid"].pixels[:args.calibrate], name="nir_mnist")
    pixels, labels = (a[:args.samples] for a in mnist["test"])
    reference = predict(model, pixels, timesteps=timesteps)
    report = agreement(fnet, result.network, pixels, labels)
    ours = report["integer_prediction"]
    summary = {
        "network": "784-128-10 snnTorch Leaky, beta 0.875, reset zero, T=8, biases, "
                   "spike count",
        "epochs": args.epochs, "train_seconds": round(trained, 1), "samples": len(labels),
        "snntorch_accuracy": 100.0 * float(np.mean(reference == labels)),
        "integer_accuracy": 100.0 * float(np.mean(ours == labels)),
        "agreement": 100.0 * float(np.mean(ours == reference)),
        "float_simulator_accuracy": report["float_accuracy"],
        "float_simulator_agreement_with_snntorch":
            100.0 * float(np.mean(report["float_prediction"] == reference)),
        "weight_bits": 8, "membrane_bits": result.network.membrane_bits,
        "clip": result.clip, "thresholds": [l.threshold for l in result.network.layers],
        "leaks": [[l.leak_mode, l.leak] for l in result.network.layers],
        "calibration_agreement": None if result.agreement is None else
        100.0 * result.agreement,
        "spikes_per_image": float(golden.run(result.network, pixels[:100]).spike_counts
                                  .sum(axis=1).mean()),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    nir.write(args.output / "nir_mnist.nir", graph)
    modelfile.save(result.network, args.output / "nir_mnist.snn")
    with atomic_write(args.output / "nir.json") as file:
        json.dump(summary, file, indent=1)
    print(f"snnTorch: {summary['snntorch_accuracy']:.2f} % on the first {len(labels)} MNIST "
          f"test images")
    print(f"integer (8-bit weights, M={result.network.membrane_bits}): "
          f"{summary['integer_accuracy']:.2f} %")
    print(f"agreement with snnTorch: {summary['agreement']:.2f} %")
    print(f"wrote {args.output / 'nir.json'}, nir_mnist.nir, nir_mnist.snn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
