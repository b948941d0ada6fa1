"""Generate images with an exported generator on a target, checked against the golden model.

:func:`sample` runs latent vectors through the integer generator: on the golden model alone,
or on an accelerator over any :class:`core.transport.Transport` (a board over UART or PCIe, the
Verilator-simulated board) with the host API every other tool uses (:class:`sw.device.Device`,
:func:`sw.runner.upload` with its checksum, :func:`sw.runner.stream`). The first-spike time of
every output neuron comes back through the result window (``docs/memory-map.md``) and is
compared with :func:`core.golden.run`'s ``first_time``; the potentials at the first spike and
the final membranes are compared too. The images are decoded from the *device's* times with
:func:`sw.gan.images.intensity`.

numpy only (no torch), so that sampling runs where training cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core import golden
from core.network import Network

from ..device import Device
from ..options import progress
from ..runner import stream, upload
from .images import intensity

__all__ = ["SampleReport", "sample", "is_generator", "CHUNK"]

#: Latent vectors whose golden results are computed at a time.
CHUNK = 256


@dataclass
class SampleReport:
    """What :func:`sample` did.

    Attributes
    ----------
    first_time : int64 (N, n_out)
        The first-spike times the target returned (the golden model's without a target).
    mismatches : list of int
        Samples with any output spike time unlike the golden model's.
    other : list of int
        Samples whose spike times agree but whose potentials or final membranes do not.
    cycles : list of int
        Accelerator cycles of each sample (empty on the golden model).
    checksum : str
        The upload check's line (empty on the golden model).
    """
    first_time: np.ndarray
    mismatches: list = field(default_factory=list)
    other: list = field(default_factory=list)
    cycles: list = field(default_factory=list)
    checksum: str = ""

    @property
    def samples(self) -> int:
        return len(self.first_time)

    def images(self, timesteps: int) -> np.ndarray:
        """Intensities (N, n_out) in [0, 1] of the returned times."""
        return intensity(self.first_time, timesteps)


def is_generator(network: Network) -> str | None:
    """Why ``network`` is not an image generator (28 x 28 outputs, ``direct`` encoder), or
    None."""
    if network.n_classes != 784:
        return (f"it has {network.n_classes} output neurons, a 28 x 28 generator has 784; give "
                f"a generator (make model writes models/mnist_gan.snn)")
    return None


def _golden_chunks(network, z):
    for start in range(0, len(z), CHUNK):
        trace = golden.run(network, z[start:start + CHUNK])
        yield (trace.first_time, trace.first_potential, trace.membrane[-1][:, -1, :])


def sample(network: Network, z: np.ndarray, transport=None, *, out=None,
           quiet: bool = False) -> SampleReport:
    """Run latent bytes ``z`` (uint8 (N, n_in)) through ``network``.

    Without ``transport`` the golden model alone. With one: identify the device, refuse a
    network that does not fit (:class:`core.config.FitError`, before any write), upload and
    verify (:class:`sw.runner.ChecksumMismatch`), stream every sample and compare. ``out``
    (a callable) gets a line per mismatch.
    """
    z = np.asarray(z)
    if transport is None:
        times = [chunk[0] for chunk in _golden_chunks(network, z)]
        return SampleReport(np.concatenate(times) if times else
                            np.zeros((0, network.n_classes), np.int64))
    device = Device(transport)
    config = device.identify()
    config.check_fits(network)                      # FitError: nothing written yet
    report = SampleReport(np.zeros((len(z), network.n_classes), np.int64))
    report.checksum = upload(device, network, transport)
    expected = _golden_chunks(network, z)
    chunk = None
    results = progress(stream(device, transport, z), total=len(z), desc="samples",
                       unit="sample", quiet=quiet)
    for k, result in enumerate(results):
        i = k % CHUNK                               # the golden chunks hold CHUNK samples
        if i == 0:
            chunk = next(expected)
        first_time, first_potential, membrane = (part[i] for part in chunk)
        report.first_time[k] = result.first_time
        report.cycles.append(result.cycles)
        if not np.array_equal(result.first_time, first_time):
            report.mismatches.append(k)
            if out is not None:
                bad = np.flatnonzero(result.first_time != first_time)
                out(f"MISMATCH sample {k}: {len(bad)} output spike times differ, first at "
                    f"neuron {bad[0]}: device {result.first_time[bad[0]]}, golden "
                    f"{first_time[bad[0]]}")
        elif not (np.array_equal(result.first_potential, first_potential)
                  and np.array_equal(result.membrane, membrane)):
            report.other.append(k)
            if out is not None:
                out(f"MISMATCH sample {k}: spike times agree, potentials or membranes differ")
    return report
