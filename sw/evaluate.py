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
* ``T``, the sizes, weight bits, encoder and read-out;
* with ``--sparsity``, what the zero weights of a pruned network are worth on the accelerator
  of ``--config``/``--set`` (:func:`core.perf.zero_word_savings`): the fraction of zero
  weights, the weight-memory words that are all zero, and the cycles per inference of the
  cycle model today and if the all-zero words were skipped.

The images are the test set of ``--data`` (``mnist``, the default, ``digits``, or a folder of
the four MNIST IDX files), the first ``--samples N`` of them if given.
"""

from __future__ import annotations

import json
import sys
import time
import numpy as np
import torch

from core import golden, perf
from core.config import ConfigError, add_config_arguments, resolve
from core.modelfile import ModelFileError, load
from core.network import Network

from .data import DataError, add_data_arguments, data_arguments, load_dataset
from .options import (ArgumentParser, add_json, add_samples, atomic_write, cli_main, fail,
                      input_file, progress)
from .snn import SNN, SNNConfig

__all__ = ["statistics", "load_checkpoint", "float_accuracy", "evaluate", "main"]


def statistics(network: Network, pixels, labels, batch_size: int = 1000,
               quiet: bool = False) -> dict:
    """Integer golden-model accuracy, spikes and synaptic operations per inference (with a
    progress bar on a terminal unless ``quiet``)."""
    pixels, labels = np.asarray(pixels), np.asarray(labels)
    n = len(labels)
    correct = 0
    spikes = np.zeros(len(network.layers))
    events = [np.zeros(layer.n_in) for layer in network.layers]  # events into each input
    with progress(total=n, desc="golden model", unit="image", quiet=quiet) as bar:
        for i in range(0, n, batch_size):
            x = pixels[i:i + batch_size]
            trace = golden.run(network, x)
            correct += int((trace.prediction == labels[i:i + batch_size]).sum())
            spikes += [float(s.sum()) for s in trace.spikes]
            events[0] += (golden.encode(network, x) != 0).sum(axis=(0, 1))
            for k in range(1, len(events)):
                events[k] += trace.spikes[k - 1].sum(axis=(0, 1))
            bar.update(len(x))
    # An event reaches fan_out neurons of its layer (a convolution's fewer, and fewer at the
    # borders of its map).
    fanout = [layer.fan_out() for layer in network.layers]
    synops = np.array([e @ f for e, f in zip(events, fanout)]) / max(n, 1)
    macs = sum(int(f.sum()) for f in fanout)
    events = np.array([e.sum() for e in events])
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


def load_checkpoint(checkpoint) -> SNN:
    """The training model of a checkpoint that ``sw.train`` wrote (``results/train/*.pt``).
    Raises ``ValueError`` (one line naming the file) for anything else."""
    fix = "use the .pt that sw.train wrote beside the model (results/train/<model>.pt)"
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as error:  # pickle, zip and torch errors alike: not a checkpoint
        raise ValueError(f"{checkpoint} is not a PyTorch checkpoint ({_first_line(error)}); "
                         f"{fix}") from None
    try:
        config, weights = state["config"], state["state_dict"]
    except (TypeError, KeyError, IndexError):
        raise ValueError(f"{checkpoint} is not a checkpoint written by sw.train (needs 'config' "
                         f"and 'state_dict'); {fix}") from None
    try:
        model = SNN(SNNConfig(**config))
        model.load_state_dict(weights)
    except Exception as error:  # a config or state that this SNN does not accept
        raise ValueError(f"{checkpoint} does not hold a network that sw.train can rebuild "
                         f"({_first_line(error)}); {fix}") from None
    return model


def float_accuracy(checkpoint, pixels, labels) -> dict:
    """Accuracy of a training checkpoint (a file, or the model of :func:`load_checkpoint`) as
    a float model and with its quantized forward pass."""
    model = checkpoint if isinstance(checkpoint, SNN) else load_checkpoint(checkpoint)
    if model.config.n_inputs != np.asarray(pixels).shape[1]:
        raise ValueError(f"the checkpoint is a network of {model.config.n_inputs} inputs, but "
                         f"the images have {np.asarray(pixels).shape[1]} pixels; give the "
                         f"checkpoint of this model")
    out = {}
    model.quantized = False
    out["float_accuracy"] = float((model.predict(pixels) == labels).mean())
    if model.config.weight_bits is not None:
        model.quantized = True
        out["quantized_training_model_accuracy"] = float((model.predict(pixels) == labels).mean())
    return out


def _print_sparsity(sp: dict) -> None:
    c = sp["config"]
    per = ", ".join(f"{100 * l['zero_fraction']:.2f} %" for l in sp["layers"])
    print(f"zero weights: {100 * sp['zero_fraction']:.2f} % (per layer {per}); distinct "
          f"nonzero values per layer {[l['distinct_nonzero'] for l in sp['layers']]}")
    per = ", ".join(f"{l['zero_words']} of {l['words']}" for l in sp["layers"])
    print(f"weight-memory words ({c['lanes']} lanes x {c['inputs_per_cycle']} input(s) x "
          f"{c['weight_bits']} bits, {c['word_bits']}-bit words): {sp['words']}, all zero: "
          f"{sp['zero_words']} ({100 * sp['zero_words'] / max(sp['words'], 1):.2f} %; per "
          f"layer {per})")
    print(f"cycles per inference (cycle model, {sp['images']} images): today "
          f"{sp['cycles']:.1f}, skipping all-zero words {sp['cycles_skipping']:.1f} "
          f"({100 * sp['cycles_saved']:.2f} % fewer)")


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def evaluate(model_path, checkpoint=None, dataset: str = "mnist", source=None,
             samples: int = 0, batch_size: int = 1000, quiet: bool = False,
             hardware=None) -> dict:
    """Everything :func:`main` reports, as a dict: on the first ``samples`` test images (0:
    all); with a :class:`~core.config.Config` as ``hardware`` also the zero weights' savings
    on it (``"sparsity"``, :func:`core.perf.zero_word_savings`)."""
    if samples < 0:
        raise ValueError(f"samples is {samples}; give a positive number of images (0: all)")
    network = load(model_path)
    if hardware is not None:
        hardware.check_fits(network)  # before the golden model's minutes
    # The checkpoint before the data: a wrong one fails in a second, not after a download.
    trained = load_checkpoint(checkpoint) if checkpoint else None
    if trained is not None and trained.config.n_inputs != network.n_inputs:
        raise ValueError(f"{checkpoint} is a network of {trained.config.n_inputs} inputs, but "
                         f"{model_path} has {network.n_inputs}; give the checkpoint of this "
                         f"model")
    test = load_dataset(dataset, source)["test"]
    pixels, labels = test.pixels, test.labels
    if samples:
        pixels, labels = pixels[:samples], labels[:samples]
    if pixels.shape[1] != network.n_inputs:
        raise ValueError(f"{model_path} has {network.n_inputs} inputs but the {dataset} images "
                         f"have {pixels.shape[1]} pixels; evaluate it on its own data set")
    floats = float_accuracy(trained, pixels, labels) if trained is not None else {}
    start = time.time()
    result = {"model": str(model_path), "dataset": dataset, "sizes": network.sizes,
              "timesteps": network.timesteps, "encoder": network.encoder,
              "readout": network.readout, "membrane_bits": network.membrane_bits,
              "weight_bits": [layer.weight_bits for layer in network.layers],
              "thresholds": [layer.threshold for layer in network.layers]}
    result.update(statistics(network, pixels, labels, batch_size, quiet))
    result["golden_seconds"] = time.time() - start
    result.update(floats)
    if hardware is not None:
        result["sparsity"] = perf.zero_word_savings(network, hardware, pixels)
        result["sparsity"]["config"] = {"lanes": hardware.lanes,
                                        "inputs_per_cycle": hardware.inputs_per_cycle,
                                        "weight_bits": hardware.weight_bits,
                                        "word_bits": hardware.word_bits}
    return result


PROG = "python -m sw.evaluate"


@cli_main(PROG)
def main(argv=None) -> int:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, type=input_file, metavar="FILE",
                        help=".snn model file")
    parser.add_argument("--float", dest="checkpoint", type=input_file, metavar="CKPT",
                        help="training checkpoint (.pt) for the float model's accuracy")
    add_data_arguments(parser)
    add_samples(parser, default=None, help="the first N test images only (default: all)",
                aliases=("--limit",))
    add_json(parser, default="results/evaluate.json")
    parser.add_argument("--sparsity", action="store_true",
                        help="also report zero weights, all-zero weight-memory words and the "
                             "cycles per inference today and with those words skipped, on "
                             "the hardware of --config/--set")
    add_config_arguments(parser, title="hardware configuration (with --sparsity)")
    args = parser.parse_args(argv)
    dataset, source = data_arguments(args, parser)
    hardware = None
    try:
        if args.sparsity:
            hardware = resolve(args.config, args.overrides)
        elif args.overrides or args.config != "mnist":
            parser.error("--config and --set describe the hardware of --sparsity; add "
                         "--sparsity or leave them out")
    except ConfigError as error:
        return fail(PROG, str(error))
    try:
        result = evaluate(args.model, args.checkpoint, dataset, source, args.samples or 0,
                          hardware=hardware)
    except (ModelFileError, DataError, ValueError, FileNotFoundError) as error:
        return fail(PROG, _first_line(error), 1)
    if args.samples and result["images"] < args.samples:
        print(f"note: the {dataset} test set has {result['images']} images; evaluated all of "
              f"them, not {args.samples}", file=sys.stderr)
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
    if hardware is not None:
        _print_sparsity(result["sparsity"])
    try:
        with atomic_write(args.json) as file:
            json.dump(result, file, indent=1)
    except OSError as error:
        return fail(PROG, f"cannot write {args.json}: {error.strerror or error}", 1)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
