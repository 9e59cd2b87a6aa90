"""Plausible training curves for the bench stores (bench/compare_page.py, bench/scale.py), without training.

The eight metrics every step of a run logs in those stores, as a settling BCE game with minibatch noise, a few
exploding steps (which a min/max envelope must keep) and modes found over time.
"""

from __future__ import annotations

import math

import numpy as np

METRICS = ("loss/d", "loss/g", "d/real", "d/fake", "grad/d", "grad/g", "metric/modes", "metric/fid")


def synthetic_curves(rng: np.random.Generator, n_modes: int, steps: np.ndarray) -> dict[str, np.ndarray]:
    """The METRICS at `steps` (increasing): D's outputs settling at 1/2, the losses at log 4 and log 2."""
    t = steps / steps[-1]
    decay = np.exp(-5 * t)
    noise = lambda scale: rng.normal(0.0, scale, steps.size)  # noqa: E731
    d_real = 0.5 + 0.4 * decay + noise(0.03)
    d_fake = 0.5 - 0.4 * decay + noise(0.03)
    loss_d = math.log(4) - 0.8 * decay + noise(0.05)
    loss_g = math.log(2) + 1.5 * decay + noise(0.1)
    spikes = rng.choice(steps.size, min(5, steps.size), replace=False)
    loss_g[spikes] *= 10  # a few exploding steps: the min/max envelope must keep them
    found = n_modes * (1 - np.exp(-rng.uniform(2, 8) * t))
    return {
        "loss/d": loss_d, "loss/g": loss_g, "d/real": d_real, "d/fake": d_fake,
        "grad/d": np.abs(1.0 + decay + noise(0.2)), "grad/g": np.abs(0.5 + decay + noise(0.1)),
        "metric/modes": np.floor(found), "metric/fid": 50 * decay + rng.uniform(0.05, 0.5) + np.abs(noise(0.02)),
    }
