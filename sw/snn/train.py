"""Train a spiking network for the accelerator and export it bit-exactly: the library of
``python -m sw.train`` (:mod:`cli.train`).

Pipeline (each step an option of the TOML recipe, ``--recipe configs/mnist.toml``; flags and
``--set SECTION.KEY=VALUE`` override it; :mod:`sw.snnrecipe` holds its defaults and checks):

1. **ANN-to-SNN conversion** (``[ann] epochs > 0``): train a bias-free ReLU network of the same
   sizes, copy its weights, set thresholds from activation percentiles (:mod:`sw.snn.ann`).
   With ``epochs = 0`` the SNN starts from random weights.
2. **Surrogate-gradient BPTT** of the SNN (:mod:`sw.snn.model`) at ``network.timesteps``
   steps with the loss on first spike time plus membrane (:mod:`sw.snn.loss`), the ``linear``
   or ``stdb`` surrogate, trainable per-layer thresholds and leaks (DIET-SNN), hybrid, direct or
   rate input encoding, fire-once hidden neurons.
3. **Quantization-aware training** to ``weight_bits`` (straight-through estimator) from epoch
   ``train.qat_start`` on, with optional pruning: ``[prune]`` prunes each layer by STDP
   correlation or magnitude and quantizes the survivors to ``prune.levels`` values, at events
   every ``prune.interval`` epochs, the sparsity rising to ``prune.sparsity``
   (:mod:`sw.snn.prune`; each event rescales the thresholds to keep the spike counts); the
   older ``train.prune`` sets a fraction of each layer's weights to 0 once, at
   ``train.prune_epoch``.
4. **Iterative timestep reduction** (IIR-SNN, ``[iir] timesteps = [3, 2, 1]``): retrain at
   each smaller ``T``, each stage starting from the previous one; with ``iir.epochs = 0``
   each stage is the previous one's weights run at the smaller ``T``, not retrained.
   With ``[distill] weight > 0`` every stage also learns from a float teacher network
   (knowledge distillation, :func:`train_teacher`).
5. **Export** of the integer weights, thresholds and leaks (:mod:`sw.snn.export`) to
   ``--output`` (the stage with ``export.timesteps`` steps) and to ``<output>_t<T>.snn`` for
   every ``T`` in ``export.also``. Every exported file is loaded back and evaluated with the
   integer golden model (:func:`core.golden.predict`), which must agree with the training model's
   quantized forward pass on every image.

Writes a log, a JSON summary, the float checkpoint (``.pt``) and PNG plots (accuracy per
epoch, spikes per layer, a spike raster of one input) to the folder ``results`` of :func:`run`
(``--results`` of ``python -m sw.train``, default ``results/train``).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from core import golden
from core.modelfile import load as load_model

from ..data import from_pixels, load_dataset
from ..evaluate import load_checkpoint
from ..options import atomic_write
from ..options import progress as progress_bar
from ..snnrecipe import build_model, check_config, export_paths, teacher_network
from .ann import ANN, convert
from .export import export
from .loss import distillation_loss, spike_time_membrane_loss
from .model import SNN, readout
from .prune import Pruner
from .quant import prune_mask

__all__ = ["augment", "shift_table", "train_ann", "train_teacher", "evaluate_model", "train_snn",
           "rebalance", "match_spikes", "run", "export_checkpoint"]

log = logging.getLogger(__name__)  # cli.train gives it its handlers


def _batches(n, batch_size, gen):
    order = torch.randperm(n, generator=gen)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def shift_table(side: int, k: int) -> torch.Tensor:
    """Gather indices (n_shifts, side*side) into a zero-padded image for every shift of up to
    ``k`` pixels in x and y (data augmentation; index ``(side+2k)**2`` is the zero pixel)."""
    padded = side + 2 * k
    rows = []
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            yy, xx = np.meshgrid(np.arange(side) + k - dy, np.arange(side) + k - dx,
                                 indexing="ij")
            rows.append((yy * padded + xx).reshape(-1))
    return torch.from_numpy(np.stack(rows))


def augment(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """Shift every square image of the batch by a random (dx, dy) in -k .. k (zero fill)."""
    if not k:
        return x
    side = int(round(math.sqrt(x.shape[1])))
    if side * side != x.shape[1]:
        raise ValueError(f"train.shift needs square images; {x.shape[1]} pixels are not")
    table = shift_table(side, k)
    pad = torch.nn.functional.pad(x.reshape(-1, side, side), (k, k, k, k)).reshape(len(x), -1)
    choice = torch.randint(len(table), (len(x),), generator=gen)
    return pad.gather(1, table[choice])


def train_ann(config: dict, x: np.ndarray, y: np.ndarray, progress: bool = True) -> ANN:
    """Train the bias-free ReLU network used for conversion (the layers of ``[network]``)."""
    a = config["ann"]
    layers = build_model(config, x.shape[1], int(y.max()) + 1).config
    ann = ANN(layers, seed=config["train"]["seed"])
    opt = torch.optim.Adam(ann.parameters(), lr=a["lr"])
    xf, yt = torch.from_numpy(from_pixels(x)), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(config["train"]["seed"])
    for epoch in range(a["epochs"]):
        total = 0.0
        batches = _batches(len(yt), a["batch_size"], gen)
        for idx in progress_bar(batches, desc=f"ANN epoch {epoch + 1}/{a['epochs']}",
                                unit="batch", quiet=not progress):
            xb = augment(xf[idx], config["train"]["shift"], gen)
            loss = F.cross_entropy(ann(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        with torch.no_grad():
            acc = float((ann(xf).argmax(1) == yt).float().mean())
        log.info("ANN epoch %d: loss %.4f, train accuracy %.4f", epoch + 1, total / len(yt), acc)
    return ann


def train_teacher(config: dict, x: np.ndarray, y: np.ndarray, progress: bool = True):
    """The float network to distil from (``[distill]``, :func:`teacher_network`), trained on
    the same augmented images (cosine learning rate); returned in eval mode."""
    d = config["distill"]
    torch.manual_seed(config["train"]["seed"] + 1)
    teacher = teacher_network(config, x.shape[1], int(y.max()) + 1)
    opt = torch.optim.Adam(teacher.parameters(), lr=d["lr"])
    xt, yt = torch.from_numpy(np.asarray(x)), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(config["train"]["seed"] + 1)
    steps_total = max(1, d["epochs"] * math.ceil(len(yt) / d["batch_size"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps_total) / steps_total)))
    for epoch in range(d["epochs"]):
        teacher.train()
        total = 0.0
        for idx in progress_bar(_batches(len(yt), d["batch_size"], gen), unit="batch",
                                quiet=not progress,
                                desc=f"teacher epoch {epoch + 1}/{d['epochs']}"):
            xb = augment(xt[idx], config["train"]["shift"], gen).float() / 255.0
            loss = F.cross_entropy(teacher(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log.info("teacher epoch %d: loss %.4f", epoch + 1, total / len(yt))
    return teacher.eval()


def evaluate_model(model: SNN, x, y, batch_size: int = 1000, timesteps=None) -> dict:
    """Accuracy and mean spikes per layer and image of the training model on (x, y)."""
    xt = torch.from_numpy(np.asarray(x))
    correct, counts = 0, None
    with torch.no_grad():
        for i in range(0, len(xt), batch_size):
            out = model(xt[i:i + batch_size], timesteps)
            pred = readout(out, model.config.readout).numpy()
            correct += int((pred == y[i:i + batch_size]).sum())
            c = np.array([float(s.sum()) for s in out.spikes])
            counts = c if counts is None else counts + c
    return {"accuracy": correct / len(y), "spikes_per_layer": (counts / len(y)).tolist()}


def train_snn(model: SNN, config: dict, x, y, epochs: int, lr: float, stage: str,
              history: list, valid=None, progress: bool = True, first_epoch: int = 0,
              teacher=None, pruner: Pruner | None = None, checkpoint=None):
    """Surrogate-gradient BPTT of ``model`` for ``epochs`` epochs (cosine learning rate),
    distilling from ``teacher`` when one is given (``[distill]``), pruning and quantizing to
    levels with ``pruner`` after the epochs its schedule names (``[prune]``). With
    ``checkpoint`` (a path) the model is saved there after every epoch, in the format of
    :func:`sw.evaluate.load_checkpoint` (a long run that is stopped keeps its last epoch)."""
    d = config["distill"]
    t = config["train"]
    params_w = list(model.weight.parameters())
    params_th = [p for p in list(model.log_theta) + list(model.rho) if p.requires_grad]
    opt = torch.optim.Adam([{"params": params_w, "lr": lr, "weight_decay": t["weight_decay"]},
                            {"params": params_th, "lr": t["threshold_lr"] * lr / t["lr"]}])
    xt, yt = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y))
    gen = torch.Generator().manual_seed(t["seed"] + len(history))
    steps_total = max(1, epochs * math.ceil(len(yt) / t["batch_size"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps_total) / steps_total)))
    quant_bits = model.config.weight_bits
    # Exponential moving average of the trained parameters (Polyak averaging): the stage ends
    # with the average, which is less tied to the last batches than the last step's values.
    averaged = params_w + params_th
    ema = [p.detach().clone() for p in averaged] if t["ema"] else None
    for epoch in range(epochs):
        global_epoch = first_epoch + epoch
        model.quantized = quant_bits is not None and global_epoch >= t["qat_start"]
        if t["prune"] and global_epoch == t["prune_epoch"]:
            for k in range(len(model.weight)):
                model.set_mask(k, prune_mask(model.weight[k].detach(), t["prune"]))
            log.info("pruned %.0f %% of each layer's weights", 100 * t["prune"])
        total, correct, start = 0.0, 0, time.time()
        counts = np.zeros(len(model.weight))
        bar = progress_bar(_batches(len(yt), t["batch_size"], gen), unit="batch",
                           quiet=not progress, desc=f"{stage} epoch {epoch + 1}/{epochs}")
        for idx in bar:
            xb = augment(xt[idx], t["shift"], gen)
            out = model(xb)
            loss = spike_time_membrane_loss(out, yt[idx], t["mem_weight"], t["time_weight"],
                                            t["tau_mem"], t["tau_time"])
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = teacher(xb.float() / 255.0)
                loss = loss + d["weight"] * distillation_loss(out, teacher_logits, t["tau_mem"],
                                                              d["temperature"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if pruner is not None:
                pruner.observe(model, xb, out)
            if ema is not None:
                with torch.no_grad():
                    for avg, p in zip(ema, averaged):
                        avg.lerp_(p, 1.0 - t["ema"])
            total += loss.item() * len(idx)
            correct += int((readout(out, model.config.readout) == yt[idx]).sum())  # augmented
            counts += [float(sp.detach().sum()) for sp in out.spikes]
            bar.set_postfix(loss=f"{loss.item():.3f}")
        record = {"stage": stage, "epoch": global_epoch + 1, "timesteps": model.config.timesteps,
                  "quantized": model.quantized, "loss": total / len(yt),
                  "train_accuracy": correct / len(yt), "seconds": time.time() - start,
                  "train_spikes_per_layer": (counts / len(yt)).tolist()}
        event = None
        if pruner is not None and pruner.due(pruner.epochs + 1):
            # Pruning takes input away from every neuron: the thresholds follow, so that each
            # layer fires as often as before the event (as in timestep reduction).
            sample = xt[:2000]
            with torch.no_grad():
                target = [float(s.sum()) for s in model(sample).spikes]
            event = pruner.epoch_end(model)
            event["threshold_factors"] = match_spikes(model, sample, model.config.timesteps,
                                                      target)
        elif pruner is not None:
            pruner.epoch_end(model)
        if event is not None:
            record["prune"] = event
            log.info("pruned to %.1f %% zero weights per layer%s", 100 * event["sparsity"],
                     "; levels " + str([l.get("levels") for l in event["layers"]])
                     if pruner.levels else "")
        if valid is not None:
            ev = evaluate_model(model, valid[0], valid[1])
            record["valid_accuracy"] = ev["accuracy"]
            record["spikes_per_layer"] = ev["spikes_per_layer"]
        history.append(record)
        if checkpoint is not None:
            with atomic_write(checkpoint, "wb") as file:
                torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict(),
                            "epoch": global_epoch + 1, "stage": stage}, file)
        log.info("%s epoch %d/%d: loss %.4f, train %.4f, valid %s, spikes %s, %.0f s", stage,
                 epoch + 1, epochs, record["loss"], record["train_accuracy"],
                 f"{record.get('valid_accuracy', float('nan')):.4f}",
                 [round(s, 1) for s in record.get("spikes_per_layer", [])], record["seconds"])
    if ema is not None:
        with torch.no_grad():
            for avg, p in zip(ema, averaged):
                p.copy_(avg)
    return model


@torch.no_grad()
def rebalance(model: SNN, x, old_T: int, new_T: int, iterations: int = 14) -> list:
    """Lower each hidden layer's threshold so that it fires as often at ``new_T`` steps as it
    did at ``old_T`` (spikes per image on ``x``), layer by layer, by bisection on a factor.

    Fewer steps mean less input for every neuron, so without this a stage of timestep
    reduction starts with layers that hardly fire. Returns the factors applied."""
    xt = torch.from_numpy(np.asarray(x))
    target = [float(s.sum()) for s in model(xt, old_T).spikes]
    # Fewer steps only ever lower a threshold; more steps (a stage that goes back up, as in
    # ``iir.timesteps = [3, 2, 1, 4]``) may raise it.
    return match_spikes(model, xt, new_T, target[:-1], 1e-3, 1.0 if new_T <= old_T else 1e3,
                        iterations)


@torch.no_grad()
def match_spikes(model: SNN, xt: torch.Tensor, T: int, target: list, low: float = 1e-3,
                 high: float = 1e3, iterations: int = 14) -> list:
    """Scale the thresholds of layers ``0 .. len(target) - 1``, one after the other, by a
    factor in ``low .. high`` (bisection in log space) so that each fires ``target[k]``
    spikes on ``xt`` at ``T`` steps. Returns the factors applied."""
    factors = []
    for k in range(len(target)):
        if model.fixed(k):  # a pooling layer: threshold 1, fires whenever its window does
            factors.append(1.0)
            continue
        base = model.threshold(k).item()
        lo, hi = math.log(low), math.log(high)
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            model.set_threshold(k, base * math.exp(mid))
            count = float(model(xt, T).spikes[k].sum())
            if count > target[k]:
                lo = mid
            else:
                hi = mid
        model.set_threshold(k, base * math.exp(hi))
        factors.append(math.exp(hi))
    return factors


def _plots(history: list, network, pixels, folder: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder.mkdir(parents=True, exist_ok=True)
    xs = list(range(1, len(history) + 1))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, [h["train_accuracy"] for h in history], label="train (training model)")
    if any("valid_accuracy" in h for h in history):
        ax.plot(xs, [h.get("valid_accuracy", np.nan) for h in history], label="validation")
    for i, h in enumerate(history):
        if i == 0 or h["stage"] != history[i - 1]["stage"]:
            ax.axvline(xs[i] - 0.5, color="grey", lw=0.5)
            ax.text(xs[i] - 0.4, 0.0, h["stage"], transform=ax.get_xaxis_transform(),
                    fontsize=7, va="bottom")
    ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy per epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "accuracy.png", dpi=100)
    plt.close(fig)
    if history:
        key = "spikes_per_layer" if "spikes_per_layer" in history[0] else "train_spikes_per_layer"
        fig, ax = plt.subplots(figsize=(7, 4))
        spikes = np.array([h[key] for h in history])
        for k in range(spikes.shape[1]):
            ax.plot(xs, spikes[:, k], label=f"layer {k}")
        where = "validation" if key == "spikes_per_layer" else "training"
        ax.set(xlabel="epoch", ylabel="spikes per image", title=f"Spikes per layer ({where})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "spikes.png", dpi=100)
        plt.close(fig)
    trace = golden.run(network, pixels[:1])
    fig, axes = plt.subplots(1, len(trace.spikes), figsize=(4 * len(trace.spikes), 4))
    axes = np.atleast_1d(axes)
    for k, (ax, s) in enumerate(zip(axes, trace.spikes)):
        t, j = np.nonzero(s[0])
        ax.scatter(t, j, s=30, marker="|")
        ax.set(xlabel="timestep", ylabel="neuron", title=f"layer {k}: {len(t)} spikes",
               xlim=(-0.5, network.timesteps - 0.5), ylim=(-0.5, s.shape[-1] - 0.5))
    fig.suptitle(f"Spike raster of one input (class {int(trace.prediction[0])})")
    fig.tight_layout()
    fig.savefig(folder / "raster.png", dpi=100)
    plt.close(fig)


def _verify(path, model: SNN, x, y) -> dict:
    """Load an exported file, run the integer golden model, compare with the training model."""
    net = load_model(path)
    pred = golden.predict(net, x)
    was = model.quantized
    model.quantized = True
    mine = model.predict(x, timesteps=net.timesteps)
    model.quantized = was
    agree = float((pred == mine).mean())
    if agree != 1.0:
        log.warning("%s: golden model and training model disagree on %.2f %% of images", path,
                    100 * (1 - agree))
    return {"path": str(path), "timesteps": net.timesteps,
            "integer_accuracy": float((pred == y).mean()), "agreement": agree}


def run(config: dict, output, results="results/train", progress: bool = True) -> dict:
    """The whole pipeline; returns the summary that is also written as ``summary.json``.
    The recipe and the outputs are checked first (:func:`sw.snnrecipe.check_config`)."""
    started = time.time()
    check_config(config, output)
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config["train"]["threads"])
    torch.manual_seed(config["train"]["seed"])
    d = config["data"]
    data = load_dataset(d["dataset"], d["source"] or None)
    x, y = data["train"]
    valid = data.get("valid")
    if d["train_on_valid"] and valid is not None:
        x, y = np.concatenate([x, valid.pixels]), np.concatenate([y, valid.labels])
        valid = None
    if d["subset"]:
        if d["subset"] > len(y):
            log.warning("data.subset (--samples) is %d, but the set has %d training images; "
                        "training on all of them", d["subset"], len(y))
        x, y = x[:d["subset"]], y[:d["subset"]]
    test = data["test"]
    log.info("data: %s, %d training images, %s validation, %d test", d["dataset"], len(y),
             len(valid.labels) if valid is not None else "no", len(test.labels))
    model = build_model(config, x.shape[1], int(y.max()) + 1)
    log.info("network: %s, T=%d, %s encoder, %s-bit weights, M=%d",
             [tuple(sh) if len(sh) == 3 else sh[0] for sh in model.shapes],
             model.config.timesteps,
             model.config.encoder, model.config.weight_bits, model.config.membrane_bits)
    if config["train"]["init"]:
        # Start from a checkpoint (``--resume``): its weights, thresholds and leaks; the
        # recipe's network must be the checkpoint's.
        start = load_checkpoint(config["train"]["init"])
        if start.config.to_dict()["layers"] != model.config.to_dict()["layers"]:
            raise ValueError(f"train.init {config['train']['init']} holds another network "
                             f"({start.shapes}) than the recipe's ({model.shapes}); give the "
                             f"recipe it was trained with")
        model.load_state_dict(start.state_dict())
        log.info("started from %s", config["train"]["init"])
    elif config["ann"]["epochs"]:
        ann = train_ann(config, x, y, progress)
        sample = torch.from_numpy(from_pixels(x[:5000]))
        lambdas = convert(ann, model, sample, config["ann"]["percentile"])
        log.info("converted ANN: activation percentiles %s, thresholds %s",
                 [round(l, 3) for l in lambdas],
                 [round(model.threshold(k).item(), 3) for k in range(len(model.weight))])
    teacher = None
    if config["distill"]["weight"]:
        teacher = train_teacher(config, x, y, progress)
        with torch.no_grad():
            acc = float((teacher(torch.from_numpy(from_pixels(test.pixels))).argmax(1).numpy()
                         == test.labels).mean())
        log.info("teacher %s: test accuracy %.4f", config["distill"]["hidden"], acc)
    history = []
    vset = (valid.pixels, valid.labels) if valid is not None else None
    t = config["train"]
    pruner = Pruner.from_config(config["prune"]) if config["prune"]["sparsity"] else None
    last = results / "last.pt"
    train_snn(model, config, x, y, t["epochs"], t["lr"], f"T={model.config.timesteps}",
              history, vset, progress, teacher=teacher, pruner=pruner, checkpoint=last)
    stages = {model.config.timesteps: copy.deepcopy(model.state_dict())}
    for T in config["iir"]["timesteps"]:
        if config["iir"]["rebalance"]:
            factors = rebalance(model, x[:2000], model.config.timesteps, T)
            log.info("T=%d: hidden thresholds scaled by %s to keep the spike counts", T,
                     [round(f, 3) for f in factors])
        model.config.timesteps = T
        if config["iir"]["epochs"]:
            train_snn(model, config, x, y, config["iir"]["epochs"], config["iir"]["lr"],
                      f"T={T}", history, vset, progress, first_epoch=t["epochs"],
                      teacher=teacher, pruner=pruner, checkpoint=last)
        stages[T] = copy.deepcopy(model.state_dict())
    output = Path(output)
    exports = export_paths(config, output)
    main_T = exports[0][0]
    summary = {"config": config, "history": history, "exports": [],
               "train_seconds": time.time() - started}
    for T, path in exports:
        model.load_state_dict(stages[T])
        model.config.timesteps = T
        # The checkpoint first: a failed export or check leaves the trained model behind.
        checkpoint = results / f"{path.stem}.pt"
        with atomic_write(checkpoint, "wb") as file:
            torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()},
                       file)
        export(model, path, name=f"{config['export']['name']}-T{T}")
        info = _verify(path, model, test.pixels, test.labels)
        model.quantized = False
        info["float_accuracy"] = float((model.predict(test.pixels) == test.labels).mean())
        model.quantized = model.config.weight_bits is not None
        info["checkpoint"] = str(checkpoint)
        summary["exports"].append(info)
        log.info("exported %s (T=%d): integer golden-model test accuracy %.4f, float %.4f, "
                 "golden/training agreement %.4f", path, T, info["integer_accuracy"],
                 info["float_accuracy"], info["agreement"])
    summary["total_seconds"] = time.time() - started
    model.load_state_dict(stages[main_T])
    model.config.timesteps = main_T
    _plots(history, load_model(output), test.pixels, results)
    with atomic_write(results / "summary.json") as file:
        json.dump(summary, file, indent=1, default=str)
    log.info("done in %.0f s; plots and summary in %s", summary["total_seconds"], results)
    return summary


def export_checkpoint(checkpoint, output, config: dict) -> dict:
    """Export a checkpoint of :func:`run` or :func:`train_snn` (``.pt``) to ``output`` at its
    ``T`` and check it as :func:`run` checks its exports (golden model against the quantized
    training model on the test set of ``config["data"]``). Returns the export's summary."""
    model = load_checkpoint(checkpoint)
    d = config["data"]
    test = load_dataset(d["dataset"], d["source"] or None)["test"]
    if model.config.n_inputs != test.pixels.shape[1]:
        raise ValueError(f"{checkpoint} is a network of {model.config.n_inputs} inputs, but "
                         f"the {d['dataset']} images have {test.pixels.shape[1]} pixels")
    T = model.config.timesteps
    export(model, output, name=f"{config['export']['name']}-T{T}")
    info = _verify(output, model, test.pixels, test.labels)
    model.quantized = False
    info["float_accuracy"] = float((model.predict(test.pixels) == test.labels).mean())
    info["checkpoint"] = str(checkpoint)
    return info
