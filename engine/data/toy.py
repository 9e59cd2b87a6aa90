"""Toy 2-D data sets (modality "points") that know their own ground truth.

Every data set is a finite mixture of isotropic Gaussians, so each one has an analytic log-density
(needed for the optimal discriminator D* and for divergences). The mode-coverage sets follow
`toy-protocol.md` exactly: ring-8 (radius 1, sigma 0.01) and grid-25 (means on {-4,-2,0,2,4}^2,
sigma 0.05), in raw coordinates. The continuous sets (spiral, moons) are dense mixtures of many small
Gaussians laid along a curve: sampling one is exactly sampling that mixture, and their log-density is
still exact, but they have no meaningful modes, so `has_modes` is False and mode metrics are refused. The modes
of ring and grid are also the data's classes: a batch carries each sample's mode as its label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.data.batch import Batch


@dataclass(frozen=True)
class Mixture:
    """An equal- or custom-weight mixture of isotropic 2-D Gaussians with a shared sigma."""

    name: str
    means: np.ndarray  # (K, 2) float64
    sigma: float
    weights: np.ndarray  # (K,) float64, sums to 1
    has_modes: bool
    description: str

    modality = "points"
    shape = (2,)  # one sample

    @property
    def n_modes(self) -> int:
        return len(self.means)

    @property
    def n_classes(self) -> int:
        """The modes of ring and grid are classes; a continuous set has none."""
        return self.n_modes if self.has_modes else 0

    def class_shares(self) -> np.ndarray:
        """The share of every class (mode) in the data: the mixture's weights."""
        return self.weights

    def sample(self, n: int, generator: torch.Generator | None = None) -> Batch:
        """n samples, x a float32 (n, 2) tensor and y their modes (None without classes), drawn with the given
        torch generator."""
        weights = torch.as_tensor(self.weights, dtype=torch.float64)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        means = torch.as_tensor(self.means, dtype=torch.float32)[component]
        noise = torch.randn(n, 2, generator=generator) * self.sigma
        return Batch(means + noise, component if self.has_modes else None)

    def log_prob(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Exact log-density log p(x) at points x (N, 2), computed stably in float64."""
        x = np.asarray(x, dtype=np.float64)
        # log N(x; mu_k, s^2 I) = -|x - mu_k|^2 / (2 s^2) - log(2 pi s^2)
        # |x - mu|^2 expanded, so no (N, K, 2) temporary is built for the dense continuous mixtures
        sq = (x**2).sum(1)[:, None] + (self.means**2).sum(1)[None, :] - 2 * x @ self.means.T
        sq = np.maximum(sq, 0.0)
        log_comp = -sq / (2 * self.sigma**2) - math.log(2 * math.pi * self.sigma**2)
        a = log_comp + np.log(self.weights)[None, :]
        peak = a.max(axis=1, keepdims=True)
        return (peak + np.log(np.exp(a - peak).sum(axis=1, keepdims=True)))[:, 0]

    def bounds(self, margin: float | None = None) -> tuple[float, float, float, float]:
        """A square (xmin, xmax, ymin, ymax) holding the data with a margin, used for the evaluation grid."""
        margin = 0.5 * self.extent if margin is None else margin
        lo = self.means.min(axis=0) - margin
        hi = self.means.max(axis=0) + margin
        half = max(hi - lo) / 2
        centre = (lo + hi) / 2
        return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)

    @property
    def extent(self) -> float:
        return float(np.ptp(self.means, axis=0).max())


def _equal_weights(k: int) -> np.ndarray:
    return np.full(k, 1.0 / k)


def ring(n_modes: int = 8, radius: float = 1.0, sigma: float = 0.01) -> Mixture:
    # 2*pi*k/K for k = 0..K-1: linspace(0, 2*pi, K) would repeat the first mode.
    angles = 2 * math.pi * np.arange(n_modes) / n_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return Mixture("ring", means, sigma, _equal_weights(n_modes), True,
                   "ring-8: 8 Gaussians on the unit circle, sigma 0.01 (VEEGAN / PacGAN)")


def grid(sigma: float = 0.05) -> Mixture:
    ticks = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    means = np.array([(i, j) for i in ticks for j in ticks])
    return Mixture("grid", means, sigma, _equal_weights(25), True,
                   "grid-25: 25 Gaussians on {-4,-2,0,2,4}^2, sigma 0.05 (VEEGAN / PacGAN)")


def spiral(n_components: int = 400, sigma: float = 0.05) -> Mixture:
    # Arc-length-uniform points along r = t, t in [0.5, 3 pi]; scaled to about [-1.5, 1.5]^2.
    t = np.linspace(0.5, 3 * math.pi, 20000)
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi) * 1.5
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    idx = np.searchsorted(arc, np.linspace(0, arc[-1], n_components))
    return Mixture("spiral", pts[np.clip(idx, 0, len(pts) - 1)], sigma, _equal_weights(n_components), False,
                   "spiral: a continuous Archimedean spiral (no modes)")


def moons(n_components: int = 400, sigma: float = 0.05) -> Mixture:
    half = n_components // 2
    t = np.linspace(0, math.pi, half)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    means = np.concatenate([upper, lower]) - np.array([0.5, 0.25])
    return Mixture("moons", means, sigma, _equal_weights(len(means)), False,
                   "moons: two interleaved half circles (no modes)")
