"""Sample-quality metrics for the toy 2-D mixtures, registered by name in `METRICS`.

Conventions
- Samples are (N, 2) arrays or tensors in raw data coordinates; every function converts them to float64 numpy
  and raises ValueError on a wrong shape or a NaN/inf. `evaluate` instead returns NaN for every metric when the
  generated samples are not finite (a diverged G), so that the loop can log the failure and carry on.
- Mode metrics follow ../shared/reference/toy-protocol.md exactly (VEEGAN / PacGAN): nearest mode by Euclidean
  distance, high quality (HQ) when that distance is < 3 sigma, reverse KL in nats against the uniform histogram
  over the K modes. They are refused (ValueError) for continuous data sets, never reported as 0.
- Divergences are in nats. p = p_data is the mixture's exact density; p_g has no density we can read off G, so
  it is estimated by the kernel density estimate below, and every quantity that needs p_g (JSD, D*, V*) uses
  that same estimate, so that they agree with one another: V(D*) = -log 4 + 2 JSD holds on the samples.
- p_g's KDE (`pg_bandwidth`) is sample-point adaptive (Abramson 1982; Silverman 1986, sec. 5.3): generated sample i
  carries an isotropic Gaussian kernel of bandwidth h_i = max(d_k(i), 0.05 sigma), d_k(i) its distance to its
  k-th nearest other generated sample, k = K_BANDWIDTH = 10, sigma the data set's. In 2-D the k-NN distance is
  proportional to p_g^(-1/2), which is Abramson's square-root law, with no pilot estimate and no global scale to
  pick, so a sharp mode gets a narrow kernel and a stray sample a wide one. A global rule cannot work here:
  Scott's on the whole sample gives h = 0.19 on the ring (19 sigma) and 0.77 on the grid (15 sigma), smears
  every mode flat, and its JSD between two samples of the same mixture comes out near -1.8 nats before clipping.
  With the rule above, two independent 2,500-samples of the same mixture give -0.005 (ring) and -0.009 (grid)
  before clipping to 0, and a G spread evenly over half the modes is within 0.01 nats of the closed form.
  The floor only binds for a G that outputs (nearly) identical points, where d_k -> 0. Where the KDE is
  evaluated at the generated samples themselves (the E_q term of JSD, D* at the fake samples) each sample's own
  kernel is left out: with k = 10 it would otherwise inflate p_g there by about 1/(2k) = 5 %.
- Precision/recall (Kynkaenniemi et al. 2019, k = 3) and density/coverage (Naeem et al. 2020, k = 5) use k-th
  nearest-neighbour radii that exclude the point itself. They are computed exactly with KD-trees instead of
  dense N x N distance matrices (three 2,500^2 matrices cost ~90 ms on one core, the trees ~15 ms).
- W1 is exact on 500-point subsamples (see `wasserstein1` for its sampling error).
- Each registry row declares the possible values of its keys (`Metric.ranges`, read with `value_range`): modes in
  [0, K], HQ % in [0, 100], shares in [0, 1], distances >= 0, so that a chart's spread never leaves them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

import numpy as np
import scipy.linalg
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from scipy.special import expit

from engine.data.toy import Mixture

HQ_SIGMAS = 3.0  # a sample is high quality within 3 sigma of its nearest mode (toy-protocol.md)
K_PR = 3  # Kynkaenniemi et al. 2019
K_DC = 5  # Naeem et al. 2020
K_BANDWIDTH = 10  # k of the k-NN adaptive KDE bandwidth
BANDWIDTH_FLOOR = 0.05  # in units of the data set's sigma
W1_SUBSAMPLE = 500  # optimal assignment is O(m^3): 500 points ~15 ms, 1000 points ~90 ms on one core
REAL_SEED = 0  # generator of the real samples drawn when a caller gives none
MIN_SAMPLES = max(K_PR, K_DC, K_BANDWIDTH) + 1  # evaluate needs k-th neighbours on both sides
_KDE_CHUNK = 64  # rows of the (points x samples) kernel block kept in cache at a time


def _points(x: np.ndarray | torch.Tensor, name: str = "x") -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty (N, 2) array of points, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return x


# --------------------------------------------------------------------------------------------- mode coverage
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


def mode_stats(mixture: Mixture, x: np.ndarray | torch.Tensor) -> dict[str, float]:
    """Modes captured, HQ %, and reverse KL of the HQ and of all samples (toy-protocol.md, items 1-4)."""
    x = _points(x)
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


def mode_histogram(mixture: Mixture, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """(K,) share of all samples whose nearest mode is k."""
    x = _points(x)
    nearest, _ = _nearest_mode(mixture, x)
    return np.bincount(nearest, minlength=mixture.n_modes) / len(x)


# ---------------------------------------------------------------------------------------- Frechet distance
def _sqrtm_product(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> np.ndarray:
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


def frechet_distance(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """||mu_x - mu_y||^2 + Tr(S_x + S_y - 2 (S_x S_y)^1/2), sample covariances (ddof 1), raw coordinates."""
    x, y = _points(x, "x"), _points(y, "y")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("frechet_distance: needs at least two points on each side for a covariance")
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + np.trace(cov_x + cov_y - 2 * _sqrtm_product(cov_x, cov_y)))


# ------------------------------------------------------------------- k-NN balls: precision/recall, density/coverage
def _knn_radii(tree: cKDTree, k: int) -> np.ndarray:
    """(N, k) distance of every tree point to its 1st..k-th nearest other point (the point itself excluded)."""
    if tree.n <= k:
        raise ValueError(f"k-NN radii: need more than k = {k} points, got {tree.n}")
    dist, _ = tree.query(tree.data, k=k + 1)
    return dist[:, 1:]


def _in_union_of_balls(centres: cKDTree, radii: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """queries[j] lies in some closed ball B(centres[i], radii[i]), exactly, without an N x M matrix.

    Most queries lie in the ball of one of their few nearest centres; the rest are settled exactly by a lift:
    |q - c_i|^2 <= r_i^2  <=>  |q - c_i|^2 + (C - r_i^2) <= C  with C = max r^2, so lifting c_i to the third
    coordinate sqrt(C - r_i^2) and q to 0 turns the test into "the nearest lifted centre is within sqrt(C)",
    one 3-D KD-tree query per remaining point.
    """
    dist, idx = centres.query(queries, k=min(4, centres.n))
    dist, idx = dist.reshape(len(queries), -1), idx.reshape(len(queries), -1)
    inside = (dist <= radii[idx]).any(axis=1)
    rest = ~inside
    if rest.any():
        big = float((radii**2).max())
        lifted = np.column_stack([centres.data, np.sqrt(np.maximum(big - radii**2, 0.0))])
        nearest, _ = cKDTree(lifted).query(np.column_stack([queries[rest], np.zeros(rest.sum())]), k=1)
        inside[rest] = nearest**2 <= big * (1 + 1e-12)  # relative slack for the round-off of the lift
    return inside


def _precision_recall(real_tree: cKDTree, fake_tree: cKDTree, r_real: np.ndarray, r_fake: np.ndarray
                      ) -> tuple[float, float]:
    precision = _in_union_of_balls(real_tree, r_real, fake_tree.data).mean()  # fake inside the real manifold
    recall = _in_union_of_balls(fake_tree, r_fake, real_tree.data).mean()  # real inside the fake manifold
    return float(precision), float(recall)


def _density_coverage(real: np.ndarray, fake_tree: cKDTree, r_real: np.ndarray, k: int) -> tuple[float, float]:
    # density: (1 / kM) sum_i #{fake in B(real_i, r_i)}; coverage: share of real balls holding any fake
    counts = fake_tree.query_ball_point(real, r_real, return_length=True)
    nearest_fake, _ = fake_tree.query(real, k=1)
    return float(counts.sum() / (k * fake_tree.n)), float((nearest_fake <= r_real).mean())


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = K_PR
                     ) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al. 2019): the share of fake samples inside the union of the
    real samples' k-NN balls, and of real samples inside the fake samples' k-NN balls."""
    real_tree, fake_tree = cKDTree(_points(real, "real")), cKDTree(_points(fake, "fake"))
    return _precision_recall(real_tree, fake_tree, _knn_radii(real_tree, k)[:, -1], _knn_radii(fake_tree, k)[:, -1])


def density_coverage(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = K_DC
                     ) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), both from the real samples' k-NN balls. For two samples of one
    distribution E[density] = 1 and E[coverage] = 1 - (1/2)^k for large equal sample sizes."""
    real, fake = _points(real, "real"), _points(fake, "fake")
    r_real = _knn_radii(cKDTree(real), k)[:, -1]
    return _density_coverage(real, cKDTree(fake), r_real, k)


# ------------------------------------------------------------------------------------------------ Wasserstein-1
def wasserstein1(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, n: int = W1_SUBSAMPLE,
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
    real, fake = _points(real, "real"), _points(fake, "fake")
    m = min(n, len(real), len(fake))
    rng = np.random.default_rng(seed)
    real = real[rng.choice(len(real), m, replace=False)] if len(real) > m else real
    fake = fake[rng.choice(len(fake), m, replace=False)] if len(fake) > m else fake
    cost = cdist(real, fake)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


# ------------------------------------------------------------------------------------------ KDE of p_g, JSD, D*
def knn_bandwidth(samples: np.ndarray | torch.Tensor, k: int = K_BANDWIDTH, floor: float = 0.0) -> np.ndarray:
    """(n,) per-sample bandwidths h_i = max(distance to the k-th nearest other sample, floor): see the module
    docstring. With fewer than k + 1 samples, k shrinks to n - 1. Duplicate samples give 0 without a floor."""
    samples = _points(samples, "samples")
    if len(samples) < 2:
        raise ValueError("knn_bandwidth: needs at least two samples")
    radii = _knn_radii(cKDTree(samples), min(k, len(samples) - 1))[:, -1]
    return np.maximum(radii, floor)


def pg_bandwidth(mixture: Mixture, fake: np.ndarray | torch.Tensor) -> np.ndarray:
    """The bandwidth rule for p_g (module docstring): k-NN distances, k = K_BANDWIDTH, floored at 0.05 sigma."""
    return knn_bandwidth(fake, K_BANDWIDTH, BANDWIDTH_FLOOR * mixture.sigma)


def kde_log_prob(samples: np.ndarray | torch.Tensor, points: np.ndarray | torch.Tensor,
                 bandwidth: float | np.ndarray, *, leave_one_out: bool = False) -> np.ndarray:
    """log q(x) of the Gaussian KDE q = (1/n) sum_i N(x; s_i, h_i^2 I) at points (P, 2); bandwidth is one h for
    all samples or an (n,) array (see `knn_bandwidth`). leave_one_out: points are the samples themselves and
    point i's own kernel is left out (normalised by n - 1)."""
    samples, points = _points(samples, "samples"), _points(points, "points")
    n = len(samples)
    h = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64), (n,))
    if not (np.isfinite(h).all() and (h > 0).all()):
        raise ValueError("kde_log_prob: bandwidths must be finite and > 0")
    if leave_one_out and len(points) != n:
        raise ValueError("kde_log_prob: leave_one_out needs points to be the samples themselves")
    # float32 blocks halve the memory traffic; centring first keeps the differences accurate to ~1e-7 of the
    # data's extent, far below any bandwidth the rule produces.
    centre = samples.mean(0)
    sx, sy = ((samples - centre).astype(np.float32).T).copy()
    p32 = (points - centre).astype(np.float32)
    scale = (-0.5 / h**2).astype(np.float32)
    const = (-np.log(2 * np.pi * h**2)).astype(np.float32)  # log N = -|x - s|^2 / (2 h^2) - log(2 pi h^2)
    out = np.empty(len(points))
    block, work = np.empty((_KDE_CHUNK, n), np.float32), np.empty((_KDE_CHUNK, n), np.float32)
    for start in range(0, len(points), _KDE_CHUNK):  # blocks of points (not single samples) that stay in cache
        p = p32[start:start + _KDE_CHUNK]
        b, w = block[:len(p)], work[:len(p)]
        np.subtract(p[:, 0, None], sx, out=b)
        np.multiply(b, b, out=b)
        np.subtract(p[:, 1, None], sy, out=w)
        np.multiply(w, w, out=w)
        b += w
        b *= scale
        b += const
        if leave_one_out:
            rows = np.arange(len(p))
            b[rows, start + rows] = -np.inf
        peak = b.max(axis=1)
        if (np.abs(peak) < 60).all():
            # the largest term is within float32's exp range, so terms that underflow are < e^-27 of it
            np.exp(b, out=w)
            out[start:start + len(p)] = np.log(w.sum(axis=1))
        else:  # log-sum-exp shifted by the peak (points far from every sample, or tiny bandwidths)
            peak = np.where(np.isfinite(peak), peak, 0.0)[:, None]  # a row of only -inf (n = 1, left out)
            np.subtract(b, peak, out=w)
            np.exp(w, out=w)
            with np.errstate(divide="ignore"):
                out[start:start + len(p)] = np.log(w.sum(axis=1)) + peak[:, 0]
    return out - math.log(n - 1 if leave_one_out else n)


def _log_p_data(mixture: Mixture, x: np.ndarray) -> np.ndarray:
    """log p_data(x). An equal-weight mixture with one sigma is the KDE of its means with bandwidth sigma, so
    kde_log_prob evaluates the same formula as Mixture.log_prob, in float32 blocks: ~10x faster on the
    400-component continuous sets (~4 ms instead of ~40 ms for 2,500 points), equal to ~1e-5."""
    if np.allclose(mixture.weights, 1.0 / mixture.n_modes, rtol=1e-12, atol=0.0):
        return kde_log_prob(mixture.means, x, mixture.sigma)
    return mixture.log_prob(x)


def _d_star(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    # p / (p + q) = sigmoid(log p - log q): stable for any magnitudes, 1 where q = 0
    return expit(log_p - log_q)


def optimal_discriminator(mixture: Mixture, fake: np.ndarray | torch.Tensor, points: np.ndarray | torch.Tensor,
                          *, bandwidth: float | np.ndarray | None = None, leave_one_out: bool = False) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_g) at points, p_g the KDE of `fake` (bandwidth rule of the module docstring
    unless given). leave_one_out: points are `fake` itself (see kde_log_prob)."""
    fake, points = _points(fake, "fake"), _points(points, "points")
    h = pg_bandwidth(mixture, fake) if bandwidth is None else bandwidth
    return _d_star(_log_p_data(mixture, points), kde_log_prob(fake, points, h, leave_one_out=leave_one_out))


def _half_jsd_terms(lp_real: np.ndarray, lq_real: np.ndarray, lp_fake: np.ndarray, lq_fake: np.ndarray
                    ) -> tuple[float, float]:
    """E_p[log D*] and E_q[log(1 - D*)], each by its own samples: their sum is V(D*, G) = -log 4 + 2 JSD."""
    log_d_real = -np.logaddexp(0.0, lq_real - lp_real)  # log p/(p+q)
    log_1md_fake = -np.logaddexp(0.0, lp_fake - lq_fake)  # log q/(p+q)
    return float(log_d_real.mean()), float(log_1md_fake.mean())


def _jsd_from_terms(e_p: float, e_q: float) -> float:
    # 1/2 E_p[log 2p/(p+q)] + 1/2 E_q[log 2q/(p+q)]; the Monte-Carlo estimate can leave [0, ln 2] slightly
    return float(np.clip(0.5 * (e_p + e_q) + math.log(2), 0.0, math.log(2)))


def _default_real(mixture: Mixture, n: int) -> np.ndarray:
    return mixture.sample(n, torch.Generator().manual_seed(REAL_SEED)).x.double().numpy()


def jsd(mixture: Mixture, fake: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor | None = None) -> float:
    """JSD(p_data || p_g) in nats, in [0, ln 2]: Monte-Carlo over `real` (drawn from the mixture with generator
    seed REAL_SEED, as many as fake, when not given) and `fake`, with p_data exact and p_g the KDE."""
    fake = _points(fake, "fake")
    real = _default_real(mixture, len(fake)) if real is None else _points(real, "real")
    return _Samples(mixture, real, fake).jsd


def theory_stats(mixture: Mixture, real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor,
                 d_real: np.ndarray | torch.Tensor | None, d_fake: np.ndarray | torch.Tensor | None,
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
    return _Samples(mixture, _points(real, "real"), _points(fake, "fake"), d_real, d_fake, d_is_prob).theory()


# ------------------------------------------------------------------------------------------- shared computation
class _Samples:
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
        return _knn_radii(self.real_tree, max(K_PR, K_DC))

    @cached_property
    def fake_radii(self) -> np.ndarray:
        return _knn_radii(self.fake_tree, max(K_PR, K_BANDWIDTH))

    @cached_property
    def log_p(self) -> tuple[np.ndarray, np.ndarray]:
        return _log_p_data(self.mixture, self.real), _log_p_data(self.mixture, self.fake)

    @cached_property
    def log_q(self) -> tuple[np.ndarray, np.ndarray]:
        h = np.maximum(self.fake_radii[:, K_BANDWIDTH - 1], BANDWIDTH_FLOOR * self.mixture.sigma)
        return (kde_log_prob(self.fake, self.real, h),
                kde_log_prob(self.fake, self.fake, h, leave_one_out=True))

    @cached_property
    def d_star(self) -> tuple[np.ndarray, np.ndarray]:
        (lp_r, lp_f), (lq_r, lq_f) = self.log_p, self.log_q
        return _d_star(lp_r, lq_r), _d_star(lp_f, lq_f)

    @cached_property
    def jsd(self) -> float:
        return _jsd_from_terms(*_half_jsd_terms(*self.log_p_q))

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
        d_real = np.clip(_probs(self.d_real, len(self.real), "d_real"), 1e-7, 1 - 1e-7)
        d_fake = np.clip(_probs(self.d_fake, len(self.fake), "d_fake"), 1e-7, 1 - 1e-7)
        star_real, star_fake = self.d_star
        out["theory/v"] = float(np.log(d_real).mean() + np.log1p(-d_fake).mean())
        out["theory/d_err"] = float(0.5 * (np.abs(d_real - star_real).mean() + np.abs(d_fake - star_fake).mean()))
        return out


def _probs(d: np.ndarray | torch.Tensor, n: int, name: str) -> np.ndarray:
    if isinstance(d, torch.Tensor):
        d = d.detach().cpu().numpy()
    d = np.asarray(d, dtype=np.float64).reshape(-1)
    if len(d) != n:
        raise ValueError(f"{name}: expected {n} values, one per sample, got {len(d)}")
    return d


# ------------------------------------------------------------------------------------------------- the registry
# A bound of a metric's possible values: a number, None (unbounded), or a function of the data set where the bound
# depends on it (the mode count K).
Bound = float | Callable[[Mixture], float] | None


@dataclass(frozen=True)
class Metric:
    """A registered metric: fn maps the shared samples to {key: value}; keys lists what it returns; ranges gives
    each key's possible values (low, high), so that charts never draw a spread outside them."""

    fn: Callable[[_Samples], dict[str, float]]
    keys: tuple[str, ...]
    needs_modes: bool = False  # only for mixtures with has_modes
    needs_d: bool = False  # only when D's outputs at the samples are given
    ranges: dict[str, tuple[Bound, Bound]] = field(default_factory=dict, hash=False, compare=False)


def _pr(s: _Samples) -> dict[str, float]:
    p, r = _precision_recall(s.real_tree, s.fake_tree, s.real_radii[:, K_PR - 1], s.fake_radii[:, K_PR - 1])
    return {"metric/precision": p, "metric/recall": r}


def _dc(s: _Samples) -> dict[str, float]:
    d, c = _density_coverage(s.real, s.fake_tree, s.real_radii[:, K_DC - 1], K_DC)
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
    for metric in METRICS.values():
        if key in metric.ranges:
            lo, hi = metric.ranges[key]
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


def evaluate(mixture: Mixture, fake: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor,
             d_real: np.ndarray | torch.Tensor | None = None, d_fake: np.ndarray | torch.Tensor | None = None,
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
    real = _points(real, "real")
    fake_arr = fake.detach().cpu().numpy() if isinstance(fake, torch.Tensor) else np.asarray(fake, np.float64)
    if fake_arr.ndim == 2 and fake_arr.shape[1:] == (2,) and len(fake_arr) and not np.isfinite(fake_arr).all():
        skipped = () if d_is_prob else ("theory/v", "theory/d_err")
        return {key: math.nan for name in names for key in METRICS[name].keys if key not in skipped}
    if min(len(real), len(fake_arr)) < MIN_SAMPLES:
        raise ValueError(f"evaluate: needs at least {MIN_SAMPLES} real and fake samples, got {len(real)} and "
                         f"{len(fake_arr)}")
    shared = _Samples(mixture, real, _points(fake_arr, "fake"), d_real, d_fake, d_is_prob)
    out: dict[str, float] = {}
    for name in names:
        out.update(METRICS[name].fn(shared))
    return out
