"""Sample-quality metrics, registered by name in `METRICS`; each a pure, vectorised function in the file of what it
needs: modes.py (a data set with modes), frechet.py, knn.py (k-NN balls: precision/recall, density/coverage),
transport.py (W1), theory.py (the KDE of p_g, D*, JSD: the mixture's exact density); shared.py holds one
evaluation's intermediates, computed once for all of them.

Conventions
- Samples are (N, 2) arrays or tensors in raw data coordinates (inputs.py); every function converts them to
  float64 numpy and raises ValueError on a wrong shape or a NaN/inf. `evaluate` instead returns NaN for every
  metric when the generated samples are not finite (a diverged G), so that the loop can log the failure and carry
  on. Nothing here imports torch.
- Mode metrics follow ../shared/reference/toy-protocol.md exactly; divergences are in nats (theory.py says how
  p_g is estimated). W1 is exact on 500-point subsamples (see `wasserstein1` for its sampling error).
- Each registry row declares the possible values of its keys (`Metric.ranges`, read with `value_range`): modes in
  [0, K], HQ % in [0, 100], shares in [0, 1], distances >= 0, so that a chart's spread never leaves them.
- Images (images.py) are scored on a trained classifier's outputs, not on raw samples: engine/evaluation/images.py
  runs them; their keys' ranges (IMAGE_RANGES: IS in [1, K], classes in [0, K], ...) are read by value_range too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from engine.metrics.conditional import CONDITIONAL_RANGES
from engine.metrics.frechet import frechet_distance
from engine.metrics.images import IMAGE_RANGES
from engine.metrics.inputs import ArrayLike, as_points
from engine.metrics.knn import (
    K_DC,
    K_PR,
    dc_of_balls,
    density_coverage,
    pr_of_balls,
    precision_recall,
)
from engine.metrics.modes import HQ_SIGMAS, mode_histogram, mode_stats
from engine.metrics.shared import Samples
from engine.metrics.theory import (
    K_BANDWIDTH,
    kde_log_prob,
    knn_bandwidth,
    optimal_discriminator,
    pg_bandwidth,
)
from engine.metrics.translation import TRANSLATION_RANGES
from engine.metrics.transport import wasserstein1

if TYPE_CHECKING:  # the data sets import torch; the metrics need only their attributes
    from engine.data.toy import Mixture

REAL_SEED = 0  # generator of the real samples drawn when a caller gives none
MIN_SAMPLES = max(K_PR, K_DC, K_BANDWIDTH) + 1  # evaluate needs k-th neighbours on both sides


def _default_real(mixture: Mixture, n: int) -> np.ndarray:
    import torch  # the data sets sample with torch's generators

    return mixture.sample(n, torch.Generator().manual_seed(REAL_SEED)).x.double().numpy()


def jsd(mixture: Mixture, fake: ArrayLike, real: ArrayLike | None = None) -> float:
    """JSD(p_data || p_g) in nats, in [0, ln 2]: Monte-Carlo over `real` (drawn from the mixture with generator
    seed REAL_SEED, as many as fake, when not given) and `fake`, with p_data exact and p_g the KDE."""
    fake = as_points(fake, "fake")
    real = _default_real(mixture, len(fake)) if real is None else as_points(real, "real")
    return Samples(mixture, real, fake).jsd


def theory_stats(mixture: Mixture, real: ArrayLike, fake: ArrayLike,
                 d_real: ArrayLike | None, d_fake: ArrayLike | None,
                 d_is_prob: bool) -> dict[str, float]:
    """The value function against the theory (Goodfellow et al. 2014, Prop. 1 and Thm. 1).

    theory/v_star = -log 4 + 2 JSD, the value V(D*, G) of the current G against its optimal D. Only when D outputs
    probabilities (minimax / ns losses; d_real, d_fake are sigmoid(D) at the real and fake samples):
    theory/v = mean log D(real) + mean log(1 - D(fake)), D clipped to [1e-7, 1 - 1e-7], and
    theory/d_err = E_{(p+q)/2} |D - D*| = (mean over real + mean over fake) / 2 (the mean over the union of the
    samples when there are as many of each). A critic (wgan, hinge) outputs an unbounded score, not a probability,
    and maximises a different objective, so neither V(D, G) nor |D - D*| means anything for it: pass
    d_is_prob=False and only v_star is returned. (The least-squares D with targets 0/1 has the same optimum
    p/(p+q) (Mao et al. 2017, Prop. 1), so |D - D*| is meaningful for lsgan, but its V is not this one.)
    """
    return Samples(mixture, as_points(real, "real"), as_points(fake, "fake"), d_real, d_fake, d_is_prob).theory()


# ------------------------------------------------------------------------------------------------- the registry
# A bound of a metric's possible values: a number, None (unbounded), or a function of the data set where the bound
# depends on it (the mode count K).
Bound = "float | Callable[[Mixture], float] | None"


@dataclass(frozen=True)
class Metric:
    """A registered metric: fn maps the shared samples to {key: value}; keys lists what it returns; ranges gives
    each key's possible values (low, high), so that charts never draw a spread outside them."""

    fn: Callable[[Samples], dict[str, float]]
    keys: tuple[str, ...]
    needs_modes: bool = False  # only for mixtures with has_modes
    needs_d: bool = False  # only when D's outputs at the samples are given
    ranges: dict[str, tuple[Bound, Bound]] = field(default_factory=dict, hash=False, compare=False)


def _pr(s: Samples) -> dict[str, float]:
    p, r = pr_of_balls(s.real_tree, s.fake_tree, s.real_radii[:, K_PR - 1], s.fake_radii[:, K_PR - 1])
    return {"metric/precision": p, "metric/recall": r}


def _dc(s: Samples) -> dict[str, float]:
    d, c = dc_of_balls(s.real, s.fake_tree, s.real_radii[:, K_DC - 1], K_DC)
    return {"metric/density": d, "metric/coverage": c}


def _n_modes(m: Mixture) -> float:
    return float(m.n_modes)


def _ln_n_modes(m: Mixture) -> float:
    return math.log(m.n_modes)  # rKL = sum p_k ln(K p_k) is largest, ln K, with every sample on one mode


METRICS: dict[str, Metric] = {
    "modes": Metric(lambda s: mode_stats(s.mixture, s.fake),
                    ("metric/modes", "metric/hq", "metric/rkl_hq", "metric/rkl_all"), needs_modes=True,
                    ranges={"metric/modes": (0.0, _n_modes), "metric/hq": (0.0, 100.0),
                            "metric/rkl_hq": (0.0, _ln_n_modes), "metric/rkl_all": (0.0, _ln_n_modes)}),
    "fid": Metric(lambda s: {"metric/fid": frechet_distance(s.real, s.fake)}, ("metric/fid",),
                  ranges={"metric/fid": (0.0, None)}),
    "precision_recall": Metric(_pr, ("metric/precision", "metric/recall"),
                               ranges={"metric/precision": (0.0, 1.0), "metric/recall": (0.0, 1.0)}),
    # density counts fake samples per real k-NN ball: it exceeds 1 where the fakes crowd the real manifold
    "density_coverage": Metric(_dc, ("metric/density", "metric/coverage"),
                               ranges={"metric/density": (0.0, None), "metric/coverage": (0.0, 1.0)}),
    "w1": Metric(lambda s: {"metric/w1": wasserstein1(s.real, s.fake)}, ("metric/w1",),
                 ranges={"metric/w1": (0.0, None)}),
    "jsd": Metric(lambda s: {"metric/jsd": s.jsd}, ("metric/jsd",), ranges={"metric/jsd": (0.0, math.log(2))}),
    # v_star = -log 4 + 2 JSD with JSD in [0, ln 2]; v sums two logs of probabilities; d_err is |D - D*| of two
    # probabilities
    "theory": Metric(lambda s: s.theory(), ("theory/v_star", "theory/v", "theory/d_err"), needs_d=True,
                     ranges={"theory/v_star": (-math.log(4), 0.0), "theory/v": (None, 0.0),
                             "theory/d_err": (0.0, 1.0)}),
}


def value_range(key: str, mixture: Mixture | None = None) -> tuple[float, float]:
    """(low, high) of the values the logged metric `key` can take, from its registry row: -inf / inf where it is
    unbounded, where no registered metric returns `key`, and where a bound depends on the data set and no mixture
    is given."""
    for ranges in [*(metric.ranges for metric in METRICS.values()), IMAGE_RANGES, CONDITIONAL_RANGES,
                   TRANSLATION_RANGES]:
        if key in ranges:
            lo, hi = ranges[key]
            break
    else:
        return -math.inf, math.inf

    def value(bound: Bound, unbounded: float) -> float:
        if bound is None or (callable(bound) and mixture is None):
            return unbounded
        return float(bound(mixture)) if callable(bound) else float(bound)

    return value(lo, -math.inf), value(hi, math.inf)


def applicable(mixture: Mixture, with_d: bool = False) -> list[str]:
    """Names of the registered metrics defined for this mixture (and for D outputs given or not)."""
    return [name for name, m in METRICS.items()
            if (mixture.has_modes or not m.needs_modes) and (with_d or not m.needs_d)]


def evaluate(mixture: Mixture, fake: ArrayLike, real: ArrayLike,
             d_real: ArrayLike | None = None, d_fake: ArrayLike | None = None,
             d_is_prob: bool = False, names: Iterable[str] | None = None) -> dict[str, float]:
    """Every applicable registered metric (or those named) of the fake samples against the real ones, as
    {"metric/...": value, "theory/...": value}. Mode metrics only when mixture.has_modes; theory stats only when
    d_real and d_fake are given (theory/v and theory/d_err only when d_is_prob). Fake samples with NaN/inf (a
    diverged G) give NaN for every metric instead of an exception."""
    with_d = d_real is not None and d_fake is not None
    allowed = applicable(mixture, with_d)
    names = allowed if names is None else list(names)
    for name in names:
        if name not in METRICS:
            raise ValueError(f"metric: unknown '{name}', allowed: {', '.join(METRICS)}")
        if name not in allowed:
            needs = "D outputs (d_real, d_fake)" if METRICS[name].needs_d else "a data set with modes"
            raise ValueError(f"metric: '{name}' needs {needs}, not available for '{mixture.name}' here")
    real = as_points(real, "real")
    fake_arr = fake.detach().cpu().numpy() if hasattr(fake, "detach") else np.asarray(fake, np.float64)
    if fake_arr.ndim == 2 and fake_arr.shape[1:] == (2,) and len(fake_arr) and not np.isfinite(fake_arr).all():
        skipped = () if d_is_prob else ("theory/v", "theory/d_err")
        return {key: math.nan for name in names for key in METRICS[name].keys if key not in skipped}
    if min(len(real), len(fake_arr)) < MIN_SAMPLES:
        raise ValueError(f"evaluate: needs at least {MIN_SAMPLES} real and fake samples, got {len(real)} and "
                         f"{len(fake_arr)}")
    shared = Samples(mixture, real, as_points(fake_arr, "fake"), d_real, d_fake, d_is_prob)
    out: dict[str, float] = {}
    for name in names:
        out.update(METRICS[name].fn(shared))
    return out


__all__ = ["HQ_SIGMAS", "METRICS", "MIN_SAMPLES", "Metric", "REAL_SEED", "applicable", "density_coverage",
           "evaluate", "frechet_distance", "jsd", "kde_log_prob", "knn_bandwidth", "mode_histogram", "mode_stats",
           "optimal_discriminator", "pg_bandwidth", "precision_recall", "theory_stats", "value_range",
           "wasserstein1"]
