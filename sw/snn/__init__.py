"""Differentiable spiking networks that train into the integer model of docs/numerics.md.

* :mod:`sw.snn.model`: :class:`SNN` (leak, integrate, fire, reset; exact integer mode),
  :class:`SNNConfig`, :class:`LayerSpec`, :func:`encode`, :func:`readout`
* :mod:`sw.snn.surrogate`: linear and STDB surrogate gradients
* :mod:`sw.snn.loss`: first-spike-time plus membrane loss
* :mod:`sw.snn.quant`: straight-through rounding, b-bit weights, few levels, magnitude pruning
* :mod:`sw.snn.prune`: STDP-correlation (or magnitude) pruning and few-level quantization
* :mod:`sw.snn.ann`: ANN-to-SNN conversion (threshold balancing) as initialization
* :mod:`sw.snn.export`: integer :class:`~core.network.Network` / ``.snn`` file
* :mod:`sw.snn.train`: the training pipeline of ``python -m sw.train`` (conversion, BPTT, QAT,
  timestep reduction, export checked by the golden model)
"""

from .model import LayerSpec, SNNConfig, SNN, Output, encode, readout
from .surrogate import SURROGATES, spike
from .loss import first_spike_time, spike_time_membrane_loss
from .ann import ANN, activation_percentiles, convert
from .export import to_network, export

__all__ = ["LayerSpec", "SNNConfig", "SNN", "Output", "encode", "readout", "SURROGATES",
           "spike", "first_spike_time", "spike_time_membrane_loss", "ANN",
           "activation_percentiles", "convert", "to_network", "export"]
