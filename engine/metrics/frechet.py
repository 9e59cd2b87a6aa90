"""The Frechet distance (Heusel et al. 2017) between two sample sets: on raw coordinates (toy data) or on a
classifier's features (images)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from engine.metrics.inputs import ArrayLike, as_points


def sqrtm_product(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """(a b)^1/2 for covariances a, b, guarded as in pytorch-fid: a singular product (a collapsed G has a zero
    covariance) may give a non-finite root, so retry with eps I added to both; a small imaginary part is
    round-off, a large one means the input was not two covariances."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "matrix is singular": the result is checked right below
        root = scipy.linalg.sqrtm(a @ b)
        if not np.isfinite(root).all():
            offset = eps * np.eye(len(a))
            root = scipy.linalg.sqrtm((a + offset) @ (b + offset))
    if not np.isfinite(root).all():
        raise ValueError("frechet_distance: the matrix square root is not finite even after adding eps*I")
    if np.iscomplexobj(root):
        imag = np.abs(root.imag).max()
        if imag > 1e-3 * max(1.0, np.abs(root.real).max()):
            raise ValueError(f"frechet_distance: the matrix square root has a large imaginary part ({imag:.3g})")
        root = root.real
    return root


def frechet_distance(x: ArrayLike, y: ArrayLike) -> float:
    """||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^1/2), sample covariances (ddof 1), raw coordinates."""
    return frechet_of(as_points(x, "x"), as_points(y, "y"))


def frechet_of(x: np.ndarray, y: np.ndarray) -> float:
    """frechet_distance of two finite float64 (N, d) arrays of any dimension d (features)."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError("frechet_distance: needs at least two points on each side for a covariance")
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + np.trace(cov_x + cov_y - 2 * sqrtm_product(cov_x, cov_y)))
