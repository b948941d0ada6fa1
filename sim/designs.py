"""The accelerator prepared for simulation, and random networks that fit a configuration."""

from __future__ import annotations

import dataclasses

import numpy as np

from core.config import Config
from core.network import READOUTS
from core.randnet import random_network
from hw.accel import Accelerator

from . import toolchain

__all__ = ["accelerator", "config_from_meta", "random_fitting_network"]


def accelerator(config=None, *, name: str | None = None):
    """:class:`sim.toolchain.Design` of ``hw.accel.Accelerator(config)`` (default
    ``Config.tiny()``); the trace port is switched on whatever ``config`` says."""
    config = (config or Config.tiny()).replace(trace=True)
    label = name or f"accel-p{config.lanes}"
    return toolchain.prepare(lambda: Accelerator(config), repr(config), name=label,
                             info={"config": dataclasses.asdict(config)},
                             modules=["hw.accel"])


def config_from_meta(meta: dict):
    """The ``core.config.Config`` a design was built from (inside a bench)."""
    fields = dict(meta["info"]["config"])
    fields["encoders"] = tuple(fields["encoders"])
    return Config(**fields)


def random_fitting_network(rng: np.random.Generator, config, *, max_inputs: int | None = None,
                           max_neurons: int | None = None, max_timesteps: int | None = None,
                           tries: int = 100):
    """A random network over all options (``core.randnet.random_network``) that fits ``config``:
    with biases when it has the bias memory, any read-out it has (spike_count with the
    counts); on hardware with ``conv``, a convolutional network (``core.randnet``'s
    ``conv=True``: kernels, strides, padding, pooling) two times in three, else a dense one,
    since one bitstream runs both."""
    widths = [m for m in (8, 10, 12, 16, 20, 24, 32) if m <= config.membrane_bits]
    for _ in range(tries):
        conv = config.conv and rng.random() < 2 / 3
        network = random_network(
            rng,
            max_inputs=min(config.max_inputs, max_inputs or config.max_inputs),
            max_neurons=min(config.max_neurons, max_neurons or config.max_neurons),
            max_layers=config.max_layers,
            max_timesteps=min(config.max_timesteps, max_timesteps or config.max_timesteps),
            weight_bits=int(rng.integers(1, config.weight_bits + 1)),
            membrane_bits=int(rng.choice(widths)),
            encoders=config.encoders, bias=config.bias,
            readouts=READOUTS if config.spike_count else READOUTS[:2], conv=conv)
        if config.fits(network):
            return network
    raise RuntimeError(f"no random network fits {config} in {tries} tries")
