"""The Wasserstein-1 distance, exact on equal-size subsamples (an optimal assignment)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from engine.metrics.inputs import ArrayLike, as_points

W1_SUBSAMPLE = 500  # optimal assignment is O(m^3): 500 points ~15 ms, 1000 points ~90 ms on one core


def wasserstein1(real: ArrayLike, fake: ArrayLike, n: int = W1_SUBSAMPLE,
                 seed: int = 0) -> float:
    """W1 (Euclidean ground cost) between equal-size subsamples, solved exactly as an optimal assignment.

    Both sides are subsampled without replacement to m = min(n, len(real), len(fake)) points with a fixed rng;
    W1 of the two m-point empirical measures is the mean cost of their optimal assignment
    (scipy.optimize.linear_sum_assignment), exact for those points. It over-estimates W1(p_data, p_g) by the
    sampling error of empirical measures, which shrinks slowly in 2-D (~ m^-1/2) and is large on multi-modal
    data because the subsamples' mode counts differ and mass must cross between modes. Measured for two
    independent 2,500-samples of the same mixture (true W1 = 0), mean +- SD over 40 seeds:
        m = 500 (default):   ring 0.075 +- 0.021   grid 0.38 +- 0.09   spiral 0.097 +- 0.018
        m = 1000:            ring 0.054 +- 0.017   grid 0.28 +- 0.07   spiral 0.072 +- 0.017
        all 2,500 (2 seeds): ring 0.03-0.05        grid 0.18-0.20      spiral 0.04-0.07
    so read differences between runs below about twice these values as noise. The assignment costs ~15 ms at
    m = 500 and ~90 ms at m = 1000 on one core (O(m^3)).
    """
    real, fake = as_points(real, "real"), as_points(fake, "fake")
    m = min(n, len(real), len(fake))
    rng = np.random.default_rng(seed)
    real = real[rng.choice(len(real), m, replace=False)] if len(real) > m else real
    fake = fake[rng.choice(len(fake), m, replace=False)] if len(fake) > m else fake
    cost = cdist(real, fake)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
