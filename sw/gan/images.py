"""Generator images: output spike times to pixels, latent vectors to input pixels, grids.

The decoding is written once, here, and used by training (on the differentiable spike times of
:func:`sw.snn.loss.first_spike_time`), by the golden model's and the accelerator's results
(``Trace.first_time``, :class:`sw.device.Result`) and by the benchmark:

    intensity(t) = (T - min(t, T)) / T

for an output neuron whose first spike is in step ``t`` (0 .. T-1) of a ``T``-step inference:
a spike in step 0 is white (1), one in step ``T - 1`` is the darkest grey (``1/T``), and a
neuron that never fires (``t = 255`` in hardware, ``T`` in the differentiable form) is black
(0). Earlier is brighter. As 8-bit pixels, ``round(255 * intensity)``.

Latent vectors are ``dim`` random bits drawn by a seeded numpy generator, as bytes 0 or 255;
the generator reads them as its input pixels (the ``direct`` encoder presents them, as
``x / 255`` in float units, at every step), so the same bytes drive the float model, the golden
model and the accelerator. Bits rather than uniform bytes: a pixel cannot be negative, and
uniform values in [0, 1] vary less around their mean (at initialization the spiking
generator's images varied two thirds as much with them, the ANN generator's 60 %).

Only numpy here, so that sampling without training needs no torch; the functions that take
spike times accept a numpy array or a torch tensor alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["intensity", "spike_times", "to_pixels", "quantize_pixels", "latent", "grid"]


def intensity(first_time, timesteps: int):
    """Pixel intensity in ``[0, 1]`` of first spike times (numpy array or torch tensor).

    ``first_time``: the step of each output neuron's first spike; any value ``>= timesteps``
    (255, "never", in hardware; ``T`` from the differentiable spike time) means no spike and
    decodes to 0. Differentiable when ``first_time`` is a tensor with a gradient.
    """
    if hasattr(first_time, "clamp"):            # a torch tensor: keep the gradient
        t = first_time.clamp(max=float(timesteps))
        return (timesteps - t) / timesteps
    t = np.minimum(np.asarray(first_time, dtype=np.float64), timesteps)
    return (timesteps - t) / timesteps


def spike_times(intensities, timesteps: int) -> np.ndarray:
    """The inverse of :func:`intensity` on the ``T + 1`` grey levels: the first-spike step
    (int64, same shape) that draws each intensity in ``[0, 1]``, ``T - round(T x)``: white
    fires in step 0, the darkest grey ``1/T`` in step ``T - 1``, black (``T``) never. How the
    spiking discriminator sees real digits (:mod:`sw.gan.spiking`)."""
    x = np.clip(np.asarray(intensities, dtype=np.float64), 0.0, 1.0)
    return (timesteps - np.round(x * timesteps)).astype(np.int64)


def to_pixels(first_time, timesteps: int) -> np.ndarray:
    """uint8 pixels ``round(255 * intensity)`` of first spike times (numpy), same shape."""
    return np.round(255.0 * intensity(np.asarray(first_time), timesteps)).astype(np.uint8)


def quantize_pixels(pixels, timesteps: int) -> np.ndarray:
    """Real images on the generator's ``T + 1`` grey levels, as intensities in ``[0, 1]``:
    ``round(x / 255 * T) / T``, what a spike time can express (the discriminator sees real
    digits this way, so that the levels alone do not tell them apart)."""
    x = np.asarray(pixels, dtype=np.float64) / 255.0
    return np.round(x * timesteps) / timesteps


def latent(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """``count`` latent vectors, uint8 (count, dim), each byte 0 or 255 with probability 1/2,
    from ``seed``."""
    bits = np.random.default_rng(seed).integers(0, 2, (count, dim), dtype=np.uint8)
    return bits * np.uint8(255)


def grid(images, columns: int | None = None, side: int = 28, pad: int = 2) -> np.ndarray:
    """Tile ``images`` (N, side*side) of intensities in [0, 1] or uint8 pixels into one
    uint8 picture, ``columns`` per row (default: about square), ``pad`` black pixels apart."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.round(255.0 * np.clip(images, 0.0, 1.0)).astype(np.uint8)
    n = len(images)
    columns = columns or max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, -(-n // columns))
    cell = side + pad
    out = np.zeros((rows * cell + pad, columns * cell + pad), np.uint8)
    for k, image in enumerate(images.reshape(n, side, side)):
        r, c = divmod(k, columns)
        out[pad + r * cell:pad + r * cell + side, pad + c * cell:pad + c * cell + side] = image
    return out
