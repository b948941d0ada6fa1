"""Sample-quality measures of a generator: a Frechet distance on classifier features, the
classifier's confidence and the entropy of its class histogram.

* :func:`train_classifier`: a small float MLP ``784 - 128 - 10`` (ReLU) trained on MNIST's
  training digits for a few epochs; its hidden activations are the features (the role of the
  Inception network in the FID of Heusel et al. 2017, at MNIST's scale).
* :func:`frechet`: ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of two feature sets.
* :func:`class_view`: the fraction of samples the classifier labels with a softmax confidence
  above 0.9, and the entropy (bits, at most log2 10 = 3.32) of the predicted-class histogram:
  low entropy is mode collapse.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from torch import nn

__all__ = ["Classifier", "train_classifier", "features", "frechet", "class_view"]


class Classifier(nn.Module):
    """``784 - hidden - 10`` ReLU MLP on images in [0, 1]."""

    def __init__(self, hidden: int = 128, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.hidden = nn.Sequential(nn.Linear(784, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.out(self.hidden(x))


def train_classifier(pixels, labels, epochs: int = 3, batch_size: int = 128,
                     seed: int = 0) -> Classifier:
    """A :class:`Classifier` trained with Adam on uint8 ``pixels`` (N, 784) and ``labels``."""
    model = Classifier(seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.from_numpy(np.asarray(pixels, np.float32) / 255.0)
    y = torch.from_numpy(np.asarray(labels, np.int64))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@torch.no_grad()
def features(model: Classifier, images) -> tuple[np.ndarray, np.ndarray]:
    """``(hidden features (N, hidden), softmax probabilities (N, 10))`` of images (N, 784) in
    [0, 1], float64."""
    x = torch.as_tensor(np.asarray(images, np.float32))
    h = model.hidden(x)
    p = torch.softmax(model.out(h), dim=1)
    return h.double().numpy(), p.double().numpy()


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of two feature sets (N, d) seen as Gaussians."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(root):
        root = root.real    # rounding leaves tiny imaginary parts
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * root))


def class_view(probabilities: np.ndarray, confidence: float = 0.9) -> dict:
    """``confident``: fraction with max probability above ``confidence``; ``entropy_bits``:
    entropy of the histogram of predicted classes; ``histogram``: the counts."""
    predicted = probabilities.argmax(axis=1)
    counts = np.bincount(predicted, minlength=probabilities.shape[1])
    share = counts / max(1, counts.sum())
    nonzero = share[share > 0]
    return {"confident": float((probabilities.max(axis=1) > confidence).mean()),
            "entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()),
            "histogram": counts.tolist()}
