"""The checks every metric applies to its inputs: samples as float64 (N, 2) numpy arrays (numpy arrays or torch
tensors in; torch itself is never imported here), and one value per sample."""

from __future__ import annotations

from typing import Any

import numpy as np

ArrayLike = Any  # a numpy array or a torch tensor


def as_points(x: ArrayLike, name: str = "x") -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty (N, 2) array of points, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return x


def as_values(d: ArrayLike, n: int, name: str) -> np.ndarray:
    if hasattr(d, "detach"):
        d = d.detach().cpu().numpy()
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if len(d) != n:
        raise ValueError(f"{name}: expected {n} values, one per sample, got {len(d)}")
    return d
