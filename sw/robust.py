"""Adversarial robustness of a spiking network, its integer model and a same-size ANN.

The library under ``python -m sw.attack`` (:mod:`cli.attack`); ``docs/robustness.md`` says
what is measured and how to read it.

Three classifiers are compared on the same adversarial images:

* ``snn_int``, the **integer golden model** (:func:`core.golden.predict`) of a ``.snn`` file:
  what the accelerator computes bit for bit;
* ``snn_float``, the **float SNN**: a training checkpoint of ``sw.train`` with unrounded
  weights, thresholds and leaks (``quantized=False``), or, without one, the model file's integer
  weights in float arithmetic (no saturation, no rounding of the leak);
* ``ann``, the **same-size ANN** (:class:`sw.snn.ann.ANN`, the bias-free ReLU network that
  ``sw.train`` converts from).

White-box attacks need a gradient. The integer model has none, so it is attacked through its
*twin* (:func:`twin`): a :class:`~sw.snn.model.SNN` holding the file's integers with weight
scale 1, whose quantized forward pass gives the golden model's classes bit for bit, and whose
backward pass goes through a surrogate gradient of the spike (``linear`` or ``stdb``,
:mod:`sw.snn.surrogate`, chosen per attack) and straight-through estimators for every rounding.
The float SNN is attacked through the same surrogates. The encoder is made differentiable by
:func:`encode_events`.

Attacks (``L_inf``, images in ``[0, 1]``, ``eps`` in the same units; every adversarial image is
finally rounded to uint8 pixels within ``floor(255 * eps)`` levels of the original, so that all
three classifiers, and the accelerator, see the same images):

* :func:`sw.attacks.fgsm`: one step of ``eps * sign(grad)`` (Goodfellow et al. 2015);
* :func:`sw.attacks.pgd`: projected gradient descent with a random start (Madry et al. 2018), ``steps``
  steps of ``step_size`` (Sharmin et al. 2020: 7 steps of 2/255 at 8/255);
* :func:`sw.attacks.spsa`: a gradient-free attack (Uesato et al. 2018): the gradient estimated from the
  loss at ``x +- delta * v`` over random sign vectors ``v``, then PGD steps on the estimate. It
  only runs the forward pass (the Heaviside spikes themselves), so it sees no surrogate: if it
  beats the gradient attacks, their gradients were weak (gradient masking).

Every set of adversarial images is run through all three classifiers: an attack crafted on one
and evaluated on another is a black-box *transfer* attack (ANN to SNN and back).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core import golden
from core.network import Network, max_pool

from .attacks import fgsm, pgd, spsa, within
from .data import from_pixels
from .options import atomic_write
from .snn import ANN, SNN, SURROGATES, LayerSpec, SNNConfig
from .snn.loss import first_spike_time
from .snn.model import encode
from .snn.quant import ste_round

__all__ = ["ATTACKS", "MODELS", "MODEL_NAMES", "twin", "encode_events", "snn_loss",
           "Classifier", "SNNClassifier", "IntegerClassifier", "ANNClassifier", "Setting",
           "run_attacks", "row_label", "least",
           "strongest", "save_ann", "load_ann"]

#: The attacks of :func:`run_attacks`.
ATTACKS = ("fgsm", "pgd", "spsa")
#: The classifiers compared, in table order, with their names in tables and plots.
MODEL_NAMES = {"ann": "ANN", "snn_float": "SNN (float)", "snn_int": "SNN (integer)"}
MODELS = tuple(MODEL_NAMES)


# -- the differentiable twin of an integer network -------------------------------------------

class _IntegerSNN(SNN):
    """A :class:`SNN` whose weights are integers already: every layer's weight scale is 1."""

    def scale(self, k: int) -> torch.Tensor:
        return torch.ones(())


def _twin_spec(k: int, layer) -> LayerSpec:
    """The training model's layer for ``layer`` (the ``k``-th): dense, a full convolution or
    a max pooling (``core.network.max_pool``, which it runs exactly); else ``ValueError``."""
    options = dict(neuron=layer.neuron, leak_mode=layer.leak_mode,
                   leak=(0.5 if layer.leak_mode == "factor" else layer.leak), train_leak=False,
                   train_threshold=False, reset=layer.reset, fire_once=layer.fire_once)
    conv = layer.conv
    if conv is None:
        return LayerSpec(layer.n_out, **options)
    if conv.groups == 1:
        return LayerSpec(conv.out_channels, kind="conv", kernel=conv.kernel, stride=conv.stride,
                         padding=conv.padding, **options)
    if layer == max_pool(conv.in_channels, conv.height, conv.width, conv.kernel, conv.stride,
                         fire_once=layer.fire_once):
        return LayerSpec(0, kind="pool", kernel=conv.kernel, stride=conv.stride,
                         fire_once=layer.fire_once)
    raise ValueError(f"layer {k} of the network is a grouped convolution other than max "
                     f"pooling (an average pooling?); the training model (sw.snn) has dense, "
                     f"convolution and max-pooling layers only, so it cannot be attacked "
                     f"through gradients")


def twin(network: Network) -> SNN:
    """The training model of an integer ``network``, for gradients through it.

    Its weights are the network's integers (scale 1), its thresholds and leak factors the
    network's, so that with ``quantized = True`` (the default) its forward pass rounds exactly
    as :func:`core.golden.run` does and gives the same classes, and with ``quantized = False``
    it is the same network in float arithmetic. Dense, convolution and max-pooling layers
    (``core.network.max_pool``) have a form; raises ``ValueError`` for a network the training
    model cannot express (per-neuron biases, other grouped convolutions such as average
    pooling).
    """
    for k, layer in enumerate(network.layers):
        if layer.bias is not None and np.any(layer.bias):
            raise ValueError(f"layer {k} of the network has a bias; the training model "
                             f"(sw.snn) has none, so it cannot be attacked through gradients")
    layers = [_twin_spec(k, layer) for k, layer in enumerate(network.layers)]
    first = network.layers[0].conv
    shape = (first.in_channels, first.height, first.width) if first is not None else ()
    # One width for all layers: the widest holds every layer's integers unchanged (a 1-bit
    # network keeps 1, whose rounding is sign()).
    bits = max(layer.weight_bits for layer in network.layers)
    config = SNNConfig(n_inputs=network.n_inputs, layers=layers, timesteps=network.timesteps,
                       encoder=network.encoder, lfsr_seed=network.lfsr_seed,
                       readout=network.readout, membrane_bits=network.membrane_bits,
                       weight_bits=bits, input_shape=shape)
    model = _IntegerSNN(config)
    with torch.no_grad():
        for k, layer in enumerate(network.layers):
            if layers[k].kind == "pool":  # fixed weights and threshold
                continue
            model.weight[k].copy_(torch.from_numpy(np.asarray(layer.weights, np.float32)))
            model.set_threshold(k, layer.threshold * (1.0 / 255.0 if k == 0 else 1.0))
            if layer.neuron == "lif" and layer.leak_mode == "factor":
                # 256 * sigmoid(rho) = leak; the rounding in leak_factor() gives it back exactly
                lam = min(max(layer.leak / 256.0, 1e-12), 1 - 1e-12)
                model.rho[k].fill_(math.log(lam / (1 - lam)))
    model.requires_grad_(False)
    return model


def encode_events(x: torch.Tensor, timesteps: int, encoder: str,
                  lfsr_seed: int = 0xACE1) -> torch.Tensor:
    """Layer 0's events (B, T, n_in) in pixel units of images ``x`` (B, n_in) in ``[0, 1]``,
    with a gradient to ``x``.

    Forward, the values are exactly those of :func:`sw.snn.model.encode` on the pixels
    ``round(255 * x)`` (the integer model's input). Backward, the rounding is the identity
    (straight-through) and the events pass the gradient as follows:

    * ``direct``: every step is the pixel, so each step passes it;
    * ``hybrid``: step 0 (the analog pixel) passes it; the later spike steps do not (a spike's
      time is a step function of the brightness);
    * ``rate``: each step's spike ``255 * [pixel > draw_t]`` passes the gradient of its
      expectation over the draw, the pixel itself (straight-through over the comparison).
    """
    pixels = ste_round(255.0 * x.clamp(0.0, 1.0))
    exact = encode(pixels.detach().to(torch.int32), timesteps, encoder, lfsr_seed)
    path = (pixels - pixels.detach()).unsqueeze(1)       # zero, carries d pixels / d x
    if encoder == "hybrid":
        passes = torch.zeros(timesteps, 1)
        passes[0] = 1.0
        path = path * passes
    return exact + path


def snn_loss(out, labels: torch.Tensor, tau_mem: float = 4.0,
             tau_time: float = 2.0) -> torch.Tensor:
    """The training loss of :func:`sw.snn.loss.spike_time_membrane_loss` (membrane plus first
    spike time, weights 1) per image, (B,): the attacks raise it. Its mean over the batch is
    the training loss."""
    B, T, C = out.potential.shape
    logits = tau_mem * out.potential / out.threshold
    membrane = F.cross_entropy(logits.reshape(B * T, C), labels.repeat_interleave(T),
                               reduction="none").view(B, T).mean(dim=1)
    time = F.cross_entropy(-tau_time * first_spike_time(out.out_spikes), labels,
                           reduction="none")
    return membrane + time


# -- classifiers under attack ----------------------------------------------------------------

class Classifier:
    """What an attack needs of a classifier.

    ``loss(x, labels, surrogate)`` : per-image loss (B,) of images ``x`` (B, n_in) in
    ``[0, 1]``, differentiable in ``x`` (``surrogate`` names the spike's surrogate gradient;
    None: the model's own); ``predict(pixels)`` : classes (B,) of uint8 pixels;
    ``surrogates`` : the surrogates a white-box attack may use (``(None,)`` for an exact
    gradient).
    """
    surrogates: tuple = (None,)

    def loss(self, x, labels, surrogate=None):
        raise NotImplementedError

    def predict(self, pixels) -> np.ndarray:
        raise NotImplementedError


class SNNClassifier(Classifier):
    """A :class:`SNN`, in its float (``quantized=False``) or quantized forward pass."""

    def __init__(self, model: SNN, quantized: bool = False, surrogates=SURROGATES):
        self.model, self.quantized, self.surrogates = model, quantized, tuple(surrogates)

    @contextmanager
    def _mode(self, surrogate=None):
        config = self.model.config
        saved = (self.model.quantized, config.surrogate, self.model.training)
        self.model.quantized = self.quantized
        config.surrogate = surrogate or config.surrogate
        self.model.eval()
        try:
            yield self.model
        finally:
            self.model.quantized, config.surrogate = saved[0], saved[1]
            self.model.train(saved[2])

    def loss(self, x, labels, surrogate=None):
        with self._mode(surrogate) as model:
            c = model.config
            out = model(None, events=encode_events(x, c.timesteps, c.encoder, c.lfsr_seed))
            return snn_loss(out, labels)

    def predict(self, pixels) -> np.ndarray:
        with self._mode() as model:
            return model.predict(np.asarray(pixels))


class IntegerClassifier(SNNClassifier):
    """The golden model of ``network`` (:func:`core.golden.predict`); its gradients are those
    of the quantized :func:`twin`, whose classes are the same."""

    def __init__(self, network: Network, surrogates=SURROGATES):
        super().__init__(twin(network), quantized=True, surrogates=surrogates)
        self.network = network

    def predict(self, pixels) -> np.ndarray:
        return golden.predict(self.network, np.asarray(pixels))


class ANNClassifier(Classifier):
    """A ReLU network on ``pixels / 255``: cross-entropy of its outputs, an exact gradient."""

    def __init__(self, ann: ANN):
        self.ann = ann.eval().requires_grad_(False)

    def loss(self, x, labels, surrogate=None):
        return F.cross_entropy(self.ann(x), labels, reduction="none")

    @torch.no_grad()
    def predict(self, pixels) -> np.ndarray:
        return self.ann(torch.from_numpy(from_pixels(pixels))).argmax(dim=1).numpy()


def save_ann(ann: ANN, path) -> None:
    """Write an ANN as ``{"sizes", "state_dict"}`` (what :func:`load_ann` reads)."""
    sizes = [ann.layers[0].in_features] + [layer.out_features for layer in ann.layers]
    with atomic_write(path, "wb") as file:
        torch.save({"sizes": sizes, "state_dict": ann.state_dict()}, file)


def load_ann(path) -> ANN:
    """The ANN of a file :func:`save_ann` wrote; ``ValueError`` naming the file otherwise."""
    fix = "give a file written by python -m sw.attack --save-ann"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        ann = ANN(state["sizes"])
        ann.load_state_dict(state["state_dict"])
    except Exception as error:  # pickle, zip, key and shape errors alike
        text = str(error).strip().splitlines()
        raise ValueError(f"{path} is not an ANN file ({text[0] if text else type(error).__name__}"
                         f"); {fix}") from None
    return ann


# -- the experiment --------------------------------------------------------------------------

@dataclass
class Setting:
    """How :func:`run_attacks` attacks.

    eps : budgets in ``[0, 1]``; attacks : names of :data:`ATTACKS`; sources : the classifiers
    attacks are crafted on (names of :data:`MODELS`); steps, step_size : PGD (step_size None:
    ``eps / 4``); spsa_steps, spsa_directions, spsa_delta, spsa_samples : SPSA, on the first
    ``spsa_samples`` images only (0: all); batch_size : images per batch; seed : random start
    and SPSA directions.
    """
    eps: list
    attacks: tuple = ("fgsm", "pgd")
    sources: tuple = MODELS
    steps: int = 7
    step_size: float | None = None
    spsa_steps: int = 10
    spsa_directions: int = 32
    spsa_delta: float = 0.01
    spsa_samples: int = 200
    batch_size: int = 500
    seed: int = 0


def _craft(attack, classifier, surrogate, x, y, eps, setting, generator):
    def loss_fn(images, labels):
        return classifier.loss(images, labels, surrogate)
    if attack == "fgsm":
        return fgsm(loss_fn, x, y, eps)
    if attack == "pgd":
        return pgd(loss_fn, x, y, eps, setting.steps, setting.step_size, True, generator)
    if attack == "spsa":
        return spsa(loss_fn, x, y, eps, setting.spsa_steps, setting.spsa_directions,
                    setting.spsa_delta, setting.step_size, generator)
    raise ValueError(f"attack {attack!r} is not one of {', '.join(ATTACKS)}")


def run_attacks(classifiers: dict, pixels, labels, setting: Setting, progress=None,
                keep_images: bool = False) -> dict:
    """Attack every classifier of ``setting.sources`` and run every adversarial set through
    every classifier of ``classifiers`` (``{name: Classifier}``, names of :data:`MODELS`).

    Returns ``{"clean": {model: accuracy}, "rows": [...], "correct": {...}}``: one row per
    adversarial set (``attack``, ``surrogate``, ``source``, ``eps``, ``images``,
    ``accuracy`` {model: fraction}, ``seconds``); ``correct`` maps ``(row index, model)`` to
    the per-image correctness (bool array) for :func:`strongest`; with ``keep_images`` the
    rows also hold their uint8 images (``"pixels"``) and ``"labels"``. ``progress``, when
    given, is called with a short description before each set.
    """
    pixels, labels = np.asarray(pixels, np.uint8), np.asarray(labels, np.int64)
    names = [m for m in MODELS if m in classifiers]
    clean = {m: classifiers[m].predict(pixels) == labels for m in names}
    result = {"clean": {m: float(c.mean()) for m, c in clean.items()}, "images": len(labels),
              "rows": [], "correct": {}, "clean_correct": clean}
    for source in setting.sources:
        if source not in classifiers:
            continue
        classifier = classifiers[source]
        for attack in setting.attacks:
            surrogates = (None,) if attack == "spsa" else classifier.surrogates
            if attack == "spsa" and source == "ann":
                continue  # the ANN's gradient is exact: nothing to check
            n = len(labels)
            if attack == "spsa" and setting.spsa_samples:
                n = min(n, setting.spsa_samples)
            for surrogate in surrogates:
                for eps in setting.eps:
                    if progress:
                        progress(f"{attack}{'/' + surrogate if surrogate else ''} on "
                                 f"{MODEL_NAMES[source]}, eps {eps:g}")
                    start = time.time()
                    generator = torch.Generator().manual_seed(setting.seed)
                    adv = np.empty((n, pixels.shape[1]), np.uint8)
                    for i in range(0, n, setting.batch_size):
                        p = pixels[i:min(n, i + setting.batch_size)]
                        x = torch.from_numpy(from_pixels(p))
                        y = torch.from_numpy(labels[i:i + len(p)])
                        adv[i:i + len(p)] = within(p, _craft(attack, classifier, surrogate, x,
                                                             y, eps, setting, generator), eps)
                    row = {"attack": attack, "surrogate": surrogate, "source": source,
                           "eps": eps, "images": n, "accuracy": {}}
                    index = len(result["rows"])
                    for m in names:
                        correct = classifiers[m].predict(adv) == labels[:n]
                        row["accuracy"][m] = float(correct.mean())
                        result["correct"][(index, m)] = correct
                    row["seconds"] = time.time() - start
                    if keep_images:
                        row["pixels"] = adv
                    result["rows"].append(row)
    return result


def row_label(row: dict) -> str:
    """``pgd/linear on SNN (integer)``: how a row is named in tables."""
    name = row["attack"] + (f"/{row['surrogate']}" if row["surrogate"] else "")
    return f"{name} on {MODEL_NAMES[row['source']]}"


def least(rows, model: str, eps: float, attacks=None):
    """``(index, row)`` of the row of least accuracy on ``model`` at ``eps`` among ``rows``
    (of those of ``attacks`` if given; among equals the white-box row, then the first), or
    None."""
    found = [(i, r) for i, r in enumerate(rows) if abs(r["eps"] - eps) < 1e-12
             and model in r["accuracy"] and (attacks is None or r["attack"] in attacks)]
    if not found:
        return None
    return min(found, key=lambda ir: (ir[1]["accuracy"][model], ir[1]["source"] != model))


def strongest(result: dict, model: str, eps: float, attacks=None) -> dict | None:
    """The strongest attack on ``model`` at ``eps``: the row of :func:`least` accuracy (among
    ``attacks`` if given) and the worst case over all those rows, image by image (an image
    counts as robust only if every attack left its class right, and the clean image too; a row
    that attacked the first images only counts on those). None when no row has that ``eps``."""
    chosen = least(result["rows"], model, eps, attacks)
    if chosen is None:
        return None
    best = chosen[1]
    rows = [(i, r) for i, r in enumerate(result["rows"]) if abs(r["eps"] - eps) < 1e-12
            and model in r["accuracy"] and (attacks is None or r["attack"] in attacks)]
    # A row that attacked the first n images only (SPSA) constrains those images only.
    n = max(r["images"] for _, r in rows)
    survive = result["clean_correct"][model][:n].copy()
    for i, r in rows:
        survive[:r["images"]] &= result["correct"][(i, model)]
    return {"accuracy": best["accuracy"][model], "attack": row_label(best),
            "white_box": best["source"] == model, "worst_case": float(survive.mean()),
            "worst_case_images": n}
