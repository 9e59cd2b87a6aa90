"""One evaluation's real and fake samples, with every intermediate (KD-trees, k-NN radii, densities) computed once
and shared by the metrics that need it."""

from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from engine.metrics.inputs import as_values
from engine.metrics.knn import K_DC, K_PR, knn_radii
from engine.metrics.theory import (
    BANDWIDTH_FLOOR,
    K_BANDWIDTH,
    d_star,
    half_jsd_terms,
    jsd_from_terms,
    kde_log_prob,
    log_p_data,
)

if TYPE_CHECKING:  # the data sets import torch; the metrics need only their attributes
    from engine.data.toy import Mixture


class Samples:
    """One evaluation's real and fake samples; every intermediate (trees, radii, densities) is computed once and
    shared by the metrics that need it."""

    def __init__(self, mixture: Mixture, real: np.ndarray, fake: np.ndarray, d_real=None, d_fake=None,
                 d_is_prob: bool = False):
        self.mixture, self.real, self.fake = mixture, real, fake
        self.d_real, self.d_fake, self.d_is_prob = d_real, d_fake, d_is_prob

    @cached_property
    def real_tree(self) -> cKDTree:
        return cKDTree(self.real)

    @cached_property
    def fake_tree(self) -> cKDTree:
        return cKDTree(self.fake)

    @cached_property
    def real_radii(self) -> np.ndarray:
        return knn_radii(self.real_tree, max(K_PR, K_DC))

    @cached_property
    def fake_radii(self) -> np.ndarray:
        return knn_radii(self.fake_tree, max(K_PR, K_BANDWIDTH))

    @cached_property
    def log_p(self) -> tuple[np.ndarray, np.ndarray]:
        return log_p_data(self.mixture, self.real), log_p_data(self.mixture, self.fake)

    @cached_property
    def log_q(self) -> tuple[np.ndarray, np.ndarray]:
        h = np.maximum(self.fake_radii[:, K_BANDWIDTH - 1], BANDWIDTH_FLOOR * self.mixture.sigma)
        return (kde_log_prob(self.fake, self.real, h),
                kde_log_prob(self.fake, self.fake, h, leave_one_out=True))

    @cached_property
    def d_star(self) -> tuple[np.ndarray, np.ndarray]:
        (lp_r, lp_f), (lq_r, lq_f) = self.log_p, self.log_q
        return d_star(lp_r, lq_r), d_star(lp_f, lq_f)

    @cached_property
    def jsd(self) -> float:
        return jsd_from_terms(*half_jsd_terms(*self.log_p_q))

    @property
    def log_p_q(self) -> tuple[np.ndarray, ...]:
        (lp_r, lp_f), (lq_r, lq_f) = self.log_p, self.log_q
        return lp_r, lq_r, lp_f, lq_f

    def theory(self) -> dict[str, float]:
        out = {"theory/v_star": -math.log(4) + 2 * self.jsd}
        if not self.d_is_prob:
            return out
        if self.d_real is None or self.d_fake is None:
            raise ValueError("theory_stats: d_is_prob needs d_real and d_fake")
        d_real = np.clip(as_values(self.d_real, len(self.real), "d_real"), 1e-7, 1 - 1e-7)
        d_fake = np.clip(as_values(self.d_fake, len(self.fake), "d_fake"), 1e-7, 1 - 1e-7)
        star_real, star_fake = self.d_star
        out["theory/v"] = float(np.log(d_real).mean() + np.log1p(-d_fake).mean())
        out["theory/d_err"] = float(0.5 * (np.abs(d_real - star_real).mean() + np.abs(d_fake - star_fake).mean()))
        return out
