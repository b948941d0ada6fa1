"""The training recipe of ``python -m sw.train``: its defaults, the checks it passes before
any training, and the networks it names.

A recipe is :data:`DEFAULTS` updated by a TOML file (``configs/*.toml``) and ``--set``
overrides (:func:`load_config`, by the one rule of :mod:`sw.recipe`). :func:`check_config`
refuses, with one line naming the key, what would fail only after minutes of training;
:func:`parse_layer` reads an entry of ``network.hidden``; :func:`network_config` and
:func:`build_model` give the spiking network of ``[network]``, :func:`teacher_network` the
float teacher of ``[distill]``. Every key is documented in ``docs/training.md``.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from . import recipe
from .data import DATA_SETS, PIXELS
from .options import check_output_file
from .snn import ANN, SNN, LayerSpec, SNNConfig
from .snn.prune import METHODS

__all__ = ["DEFAULTS", "load_config", "export_paths", "check_config", "check_prune",
           "parse_layer", "build_model", "network_config", "teacher_network"]

DEFAULTS = {
    "data": {"dataset": "mnist", "source": "", "train_on_valid": False, "subset": 0},
    "network": {
        "hidden": [256], "input_shape": [], "timesteps": 4, "encoder": "hybrid", "readout": "first_spike",
        "membrane_bits": 16, "weight_bits": 4, "lfsr_seed": 0xACE1,
        "neuron": "if", "output_neuron": "if", "leak_mode": "factor", "leak": 0.9,
        "train_threshold": True, "train_leak": True, "fire_once": True,
        "output_fire_once": True, "hidden_reset": "subtract", "output_reset": "none",
        "surrogate": "linear", "gamma": 1.0, "width": 1.0, "alpha": 0.3, "beta": 0.01,
    },
    "ann": {"epochs": 3, "lr": 1e-3, "batch_size": 128, "percentile": 99.7},
    "train": {
        "epochs": 10, "batch_size": 128, "lr": 1e-3, "threshold_lr": 1e-3, "weight_decay": 0.0,
        "qat_start": 0, "prune": 0.0, "prune_epoch": 0,
        "mem_weight": 1.0, "time_weight": 1.0, "tau_mem": 4.0, "tau_time": 2.0,
        "seed": 0, "threads": 1, "shift": 0, "ema": 0.0, "init": "",
    },
    "iir": {"timesteps": [], "epochs": 3, "lr": 3e-4, "rebalance": True},
    "distill": {"weight": 0.0, "temperature": 2.0, "hidden": [1024, 1024], "epochs": 10,
                "lr": 1e-3, "dropout": 0.2, "batch_size": 128},
    "prune": {"method": "stdp", "sparsity": 0.0, "levels": 0, "interval": 1, "start": 1,
              "ramp": 1, "eta": 1.0, "mu": 0.5, "tau": 1.0, "levels_from": 1},
    "export": {"timesteps": None, "also": [], "name": "mnist"},
}


def load_config(path=None, overrides: dict | None = None) -> dict:
    """:data:`DEFAULTS`, updated by a TOML file and then by ``overrides`` (nested dicts);
    :func:`sw.recipe.load` says what it refuses."""
    return recipe.load(DEFAULTS, path, overrides)


def export_paths(config: dict, output) -> list:
    """``(T, path)`` of every file :func:`run` writes: ``output`` at ``export.timesteps``, then
    ``<output>_t<T>.snn`` for every ``T`` of ``export.also``."""
    output = Path(output)
    main_T = config["export"]["timesteps"] or config["network"]["timesteps"]
    return [(main_T, output)] + [(T, output.with_name(f"{output.stem}_t{T}{output.suffix}"))
                                 for T in config["export"]["also"]]


def check_config(config: dict, output=None) -> None:
    """Refuse, with one line, a recipe that would fail or export a useless model only after
    minutes of training: counts out of range, an unknown data set, a network the training
    model does not take, an export of a stage that is not trained, an output that cannot be
    written. Raises ``ValueError``."""
    d, t, a, i, x = (config[k] for k in ("data", "train", "ann", "iir", "distill"))

    def at_least(section, key, low, why=""):
        value = config[section][key]
        if value < low:
            raise ValueError(f"{section}.{key} is {value}; it must be {low} or more{why}")
    at_least("train", "epochs", 1, " (with 0 the network would be exported untrained)")
    for section, key in (("train", "batch_size"), ("ann", "batch_size"), ("train", "threads")):
        at_least(section, key, 1)
    # iir.epochs = 0: each smaller T runs the previous stage's weights as they are
    for section, key in (("ann", "epochs"), ("iir", "epochs"), ("data", "subset"),
                         ("train", "shift"), ("train", "qat_start"), ("train", "prune_epoch")):
        at_least(section, key, 0)
    if t["init"] and not Path(t["init"]).is_file():
        raise ValueError(f"train.init {t['init']} is not a file; give a checkpoint that "
                         f"sw.train wrote (<results>/last.pt or <results>/<model>.pt), or \"\"")
    if x["weight"]:
        at_least("distill", "epochs", 1, " when distill.weight is set")
        at_least("distill", "batch_size", 1)
    for section, key in (("train", "lr"), ("ann", "lr"), ("iir", "lr"), ("distill", "lr")):
        if not config[section][key] > 0:
            raise ValueError(f"{section}.{key} is {config[section][key]}; it must be above 0")
    if not 0 <= t["prune"] < 1 or not 0 <= t["ema"] < 1:
        raise ValueError(f"train.prune is {t['prune']} and train.ema {t['ema']}; each must be in "
                         f"[0, 1)")
    check_prune(config)
    if d["dataset"] not in DATA_SETS:
        raise ValueError(f"data.dataset is {d['dataset']!r}; it must be one of "
                         f"{', '.join(DATA_SETS)} (a folder of IDX files goes in data.source)")
    if d["source"] and not Path(d["source"]).is_dir():
        raise ValueError(f"data.source {d['source']} is not a folder; give a folder of the four "
                         f"MNIST IDX files, or \"\" for the PyPI copy")
    stages = [config["network"]["timesteps"]] + list(i["timesteps"])
    for T in stages:
        if not isinstance(T, int) or isinstance(T, bool) or not 1 <= T <= 255:
            raise ValueError(f"timesteps {T!r} in network.timesteps/iir.timesteps; each must be "
                             f"an integer in 1 .. 255")
    # The network itself: SNNConfig refuses an unknown encoder, neuron, bit width, ...
    try:
        model = build_model(config, PIXELS[d["dataset"]])
    except ValueError as error:
        raise ValueError(f"[network]: {error}") from None
    if x["weight"]:
        teacher_network(config, PIXELS[d["dataset"]])
    if config["prune"]["sparsity"] and any(l.kind != "dense" for l in model.config.layers):
        raise ValueError("prune.sparsity is set, but [prune] (STDP pairings per synapse) "
                         "takes dense networks only; use train.prune (magnitude) for conv "
                         "layers")
    for T, path in export_paths(config, output or "model.snn"):
        if T not in stages:
            raise ValueError(f"export.timesteps/also names T={T}, but training runs T in "
                             f"{sorted(set(stages))}; add it to iir.timesteps")
        reason = check_output_file(path) if output is not None else None
        if reason:
            raise ValueError(reason)


def check_prune(config: dict) -> None:
    """Refuse a ``[prune]`` section (and ``train.prune``) that cannot work, naming the key."""
    p, t = config["prune"], config["train"]
    if p["method"] not in METHODS:
        raise ValueError(f"prune.method is {p['method']!r}; it must be one of "
                         f"{', '.join(map(repr, METHODS))}")
    if not 0 <= p["sparsity"] < 1:
        raise ValueError(f"prune.sparsity is {p['sparsity']}; it must be in [0, 1) (the "
                         f"fraction of each layer's weights set to 0; 0: no pruning)")
    if p["levels"] != 0 and not 2 <= p["levels"] <= 16:
        raise ValueError(f"prune.levels is {p['levels']}; it must be 2 .. 16 (distinct nonzero "
                         f"weight values per layer), or 0 for the weight_bits grid alone")
    for key in ("interval", "start", "ramp", "levels_from"):
        if p[key] < 1:
            raise ValueError(f"prune.{key} is {p[key]}; it must be 1 or more")
    for key in ("mu", "tau"):
        if not p[key] > 0:
            raise ValueError(f"prune.{key} is {p[key]}; it must be above 0")
    if p["eta"] < 0:
        raise ValueError(f"prune.eta is {p['eta']}; it must be 0 or more")
    if not p["sparsity"]:
        return
    if t["prune"]:
        raise ValueError(f"train.prune is {t['prune']} and prune.sparsity {p['sparsity']}: "
                         f"give one; train.prune is the older one-shot magnitude pruning, "
                         f"[prune] with method = \"magnitude\" replaces it")
    if config["network"]["weight_bits"] is None and p["levels"]:
        raise ValueError("prune.levels needs quantized weights; set network.weight_bits")
    last = p["start"] + p["interval"] * (p["ramp"] - 1)
    if last > t["epochs"]:
        raise ValueError(f"prune.start + prune.interval * (prune.ramp - 1) is {last}, after the "
                         f"last epoch of train.epochs ({t['epochs']}): the target sparsity "
                         f"would not be reached in the first stage; lower prune.start, "
                         f"prune.interval or prune.ramp")


def parse_layer(item, where: str = "network.hidden") -> dict:
    """One entry of ``network.hidden`` as :class:`LayerSpec` fields: an integer is a dense
    layer of that many neurons; ``"conv C KxK [stride S] [pad P]"`` a convolution to ``C``
    channels; ``"pool K [stride S]"`` max pooling of spikes over ``K x K`` windows (stride
    ``K`` unless given). Raises ``ValueError`` naming the entry and the syntax."""
    syntax = (f"{where} entry {item!r}: write a neuron count (256), \"conv CHANNELS KxK "
              f"[stride S] [pad P]\" (\"conv 16 5x5 pad 2\") or \"pool K [stride S]\" "
              f"(\"pool 2\")")
    if isinstance(item, int) and not isinstance(item, bool):
        return {"kind": "dense", "n_out": item}
    if not isinstance(item, str):
        raise ValueError(syntax)
    words = item.lower().split()
    try:
        if words[0] == "conv" and len(words) >= 3:
            side = words[2].split("x")
            if len(side) != 2 or side[0] != side[1]:
                raise ValueError(syntax)
            fields = {"kind": "conv", "n_out": int(words[1]), "kernel": int(side[0])}
            rest = words[3:]
        elif words[0] == "pool" and len(words) >= 2:
            fields = {"kind": "pool", "n_out": 0, "kernel": int(words[1])}
            rest = words[2:]
        else:
            raise ValueError(syntax)
        if len(rest) % 2:
            raise ValueError(syntax)
        for key, value in zip(rest[::2], rest[1::2]):
            name = {"stride": "stride", "pad": "padding"}.get(key)
            if name is None or name in fields or (name == "padding" and fields["kind"] == "pool"):
                raise ValueError(syntax)
            fields[name] = int(value)
    except (IndexError, ValueError):
        raise ValueError(syntax) from None
    if fields.get("stride") == 0:
        raise ValueError(f"{where} entry {item!r}: the stride must be 1 or more")
    return fields


def build_model(config: dict, n_inputs: int, n_classes: int = 10) -> SNN:
    """The :class:`SNN` of a config's ``[network]`` table."""
    return SNN(network_config(config, n_inputs, n_classes), seed=config["train"]["seed"])


def network_config(config: dict, n_inputs: int, n_classes: int = 10) -> SNNConfig:
    """The :class:`SNNConfig` of a config's ``[network]`` table (raises ``ValueError``)."""
    n = config["network"]

    def spec(fields, neuron, reset, fire_once):
        return LayerSpec(**fields, neuron=neuron, leak_mode=n["leak_mode"], leak=n["leak"],
                         train_leak=n["train_leak"], train_threshold=n["train_threshold"],
                         reset=reset, fire_once=fire_once)
    layers = [spec(parse_layer(h), n["neuron"], n["hidden_reset"], n["fire_once"])
              for h in n["hidden"]]
    layers.append(spec({"n_out": n_classes}, n["output_neuron"], n["output_reset"],
                       n["output_fire_once"]))
    cfg = SNNConfig(n_inputs=n_inputs, layers=layers, timesteps=n["timesteps"],
                    encoder=n["encoder"], lfsr_seed=n["lfsr_seed"], readout=n["readout"],
                    membrane_bits=n["membrane_bits"], weight_bits=n["weight_bits"],
                    surrogate=n["surrogate"], gamma=n["gamma"], width=n["width"],
                    alpha=n["alpha"], beta=n["beta"], input_shape=tuple(n["input_shape"]))
    return cfg


def teacher_network(config: dict, n_inputs: int, n_classes: int = 10) -> nn.Module:
    """The untrained teacher of ``[distill]``: for ``hidden`` of integers a ReLU multilayer
    perceptron with biases and dropout; with layer entries as in ``network.hidden``
    (``"conv 32 5x5 pad 2"``, ``"pool 2"``) the bias-free ReLU CNN of those layers
    (:class:`sw.snn.ann.ANN`, the conversion's network) on ``network.input_shape``.
    Raises ``ValueError`` naming ``distill.hidden``."""
    d = config["distill"]
    hidden = list(d["hidden"])
    if any(isinstance(h, str) for h in hidden):
        network = {**config["network"], "hidden": hidden}
        try:
            return ANN(network_config({**config, "network": network}, n_inputs, n_classes))
        except ValueError as error:
            raise ValueError(f"distill.hidden: {error}") from None
    if not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden):
        raise ValueError(f"distill.hidden is {hidden!r}; give layer sizes (integers 1 or more) "
                         f"or layer entries as in network.hidden")
    sizes = [n_inputs] + hidden
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(d["dropout"])]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], n_classes))
