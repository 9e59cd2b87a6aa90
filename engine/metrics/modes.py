"""Mode coverage on the toy mixtures, exactly as toy-protocol.md defines it (VEEGAN / PacGAN): nearest mode by
Euclidean distance, high quality (HQ) within 3 sigma of it, modes captured, reverse KL in nats against the uniform
histogram over the K modes. Refused (ValueError) for continuous data sets, never reported as 0."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from engine.metrics.inputs import ArrayLike, as_points

if TYPE_CHECKING:  # the data sets import torch; the metrics need only their attributes
    from engine.data.toy import Mixture

HQ_SIGMAS = 3.0  # a sample is high quality within 3 sigma of its nearest mode (toy-protocol.md)


def _nearest_mode(mixture: Mixture, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not mixture.has_modes:
        raise ValueError(f"mode metrics are not defined for '{mixture.name}', a continuous data set without modes")
    dist = np.sqrt(((x[:, None, :] - mixture.means[None, :, :]) ** 2).sum(-1))  # (N, K)
    nearest = dist.argmin(axis=1)
    return nearest, dist[np.arange(len(x)), nearest]


def _rkl(counts: np.ndarray) -> float:
    """sum_{p_k > 0} p_k ln(K p_k) = KL(p || uniform over K modes), in nats."""
    p = counts / counts.sum()
    p = p[p > 0]
    return float((p * np.log(len(counts) * p)).sum())


def mode_stats(mixture: Mixture, x: ArrayLike) -> dict[str, float]:
    """Modes captured, HQ %, and reverse KL of the HQ and of all samples (toy-protocol.md, items 1-4)."""
    x = as_points(x)
    nearest, dist = _nearest_mode(mixture, x)
    hq = dist < HQ_SIGMAS * mixture.sigma
    k = mixture.n_modes
    hq_counts = np.bincount(nearest[hq], minlength=k)
    return {
        "metric/modes": float((hq_counts > 0).sum()),
        "metric/hq": 100.0 * float(hq.mean()),
        # undefined when no sample is HQ: NaN, so that the run counts as failed rather than perfect
        "metric/rkl_hq": _rkl(hq_counts) if hq.any() else math.nan,
        "metric/rkl_all": _rkl(np.bincount(nearest, minlength=k)),
    }


def hq_mode(mixture: Mixture, x: ArrayLike) -> np.ndarray:
    """The mode each sample is high quality at (within HQ_SIGMAS sigma of its nearest mode, as mode_stats counts
    it), n_modes for none: the class found in a conditional G's samples. A non-finite row (a diverged G) has none."""
    x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    nearest, dist = _nearest_mode(mixture, x)
    return np.where(dist < HQ_SIGMAS * mixture.sigma, nearest, mixture.n_modes)


def mode_histogram(mixture: Mixture, x: ArrayLike) -> np.ndarray:
    """(K,) share of all samples whose nearest mode is k."""
    x = as_points(x)
    nearest, _ = _nearest_mode(mixture, x)
    return np.bincount(nearest, minlength=mixture.n_modes) / len(x)
