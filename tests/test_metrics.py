"""engine.metrics and the engine.evaluate CLI against closed forms, definitions and the protocol's known facts."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from engine import evaluate as cli
from engine import metrics as M
from engine.data import get_dataset
from engine.data.toy import Mixture, grid, ring, spiral

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
N = 2500
HQ_TRUE = 100 * (1 - math.exp(-9 / 2))  # P(|N(0, s^2 I_2)| < 3 s) = 1 - e^(-9/2), Rayleigh tail


def draw(mixture: Mixture, n: int = N, seed: int = 0) -> np.ndarray:
    return mixture.sample(n, torch.Generator().manual_seed(seed)).x.double().numpy()


def on_modes(mixture: Mixture, modes: list[int], per_mode: int) -> np.ndarray:
    """per_mode copies of each listed mode's mean: an exactly even histogram over those modes."""
    return np.repeat(mixture.means[modes], per_mode, axis=0)


def sub_mixture(mixture: Mixture, modes: list[int]) -> Mixture:
    m = len(modes)
    return Mixture("sub", mixture.means[modes], mixture.sigma, np.full(m, 1 / m), True, "")


def jsd_even_subset(m: int, k: int) -> float:
    """JSD(p || q), p even over K well-separated equal modes, q even over m of them (separation makes the
    overlap terms vanish): 1/2 [(m/K) ln(2m/(m+K)) + (1 - m/K) ln 2] + 1/2 ln(2K/(m+K))."""
    return 0.5 * ((m / k) * math.log(2 * m / (m + k)) + (1 - m / k) * math.log(2)) + 0.5 * math.log(2 * k / (m + k))


def gauss_log_pdf(x: np.ndarray, mean: np.ndarray, s: float) -> np.ndarray:
    return -((x - mean) ** 2).sum(-1) / (2 * s**2) - math.log(2 * math.pi * s**2)


# ---------------------------------------------------------------------------------------------- mode coverage
@pytest.mark.parametrize("name", ["ring", "grid"])
def test_true_samples_cover_every_mode_at_the_analytic_hq_rate(name):
    mixture = get_dataset(name)
    stats = M.mode_stats(mixture, draw(mixture))
    k = mixture.n_modes
    assert stats["metric/modes"] == k
    assert abs(stats["metric/hq"] - HQ_TRUE) < 1.0
    assert 0 < stats["metric/rkl_hq"] < 0.01
    assert 0 < stats["metric/rkl_all"] < 0.01
    # 2N KL(empirical || uniform) ~ chi^2 with K - 1 degrees of freedom (its mean gives the protocol's 0.0015 /
    # 0.005); the 0.1 % and 99.9 % quantiles make a two-sided bound.
    lo, hi = chi2.ppf([0.001, 0.999], k - 1)
    assert lo < 2 * N * stats["metric/rkl_all"] < hi


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_everything_on_one_mode(name):
    mixture = get_dataset(name)
    x = mixture.means[3] + 0.5 * mixture.sigma * np.random.default_rng(0).standard_normal((500, 2)).clip(-2, 2)
    stats = M.mode_stats(mixture, x)
    assert stats["metric/modes"] == 1
    assert stats["metric/hq"] == 100.0
    assert stats["metric/rkl_hq"] == pytest.approx(math.log(mixture.n_modes), rel=1e-12)
    assert stats["metric/rkl_all"] == pytest.approx(math.log(mixture.n_modes), rel=1e-12)


@pytest.mark.parametrize("name, modes", [("ring", [0, 1, 2, 3]), ("ring", [1, 6]), ("grid", list(range(0, 25, 3)))])
def test_even_spread_over_m_of_k_modes_has_rkl_ln_k_over_m(name, modes):
    mixture = get_dataset(name)
    stats = M.mode_stats(mixture, on_modes(mixture, modes, 40))
    expected = math.log(mixture.n_modes / len(modes))
    assert stats["metric/modes"] == len(modes)
    assert stats["metric/rkl_hq"] == pytest.approx(expected, abs=1e-12)
    assert stats["metric/rkl_all"] == pytest.approx(expected, abs=1e-12)


def test_hand_placed_points_hq_and_mode_counting():
    mixture = ring()  # modes at angle 2 pi k / 8, radius 1; HQ radius 3 sigma = 0.03
    mu0, mu2 = mixture.means[0], mixture.means[2]  # (1, 0) and (0, 1)
    x = np.array([
        mu0 + [0.02, 0.0],  # HQ, mode 0
        mu0 + [0.0, -0.029],  # HQ, mode 0
        mu0 + [0.0302, 0.0],  # mode 0, just outside 3 sigma: not HQ
        mu2 + [0.01, 0.02],  # HQ, mode 2
        mu2 * 0.5,  # (0, 0.5): nearest mode 2 at distance 0.5, not HQ
        mixture.means[4] + [0.0, 0.0305],  # mode 4, not HQ: mode 4 is not captured
    ])
    stats = M.mode_stats(mixture, x)
    assert stats["metric/hq"] == pytest.approx(50.0)
    assert stats["metric/modes"] == 2
    # HQ histogram (2/3, 1/3) on modes (0, 2); all-sample histogram (3, 2, 1) / 6 on modes (0, 2, 4)
    assert stats["metric/rkl_hq"] == pytest.approx(2 / 3 * math.log(8 * 2 / 3) + 1 / 3 * math.log(8 / 3), rel=1e-12)
    assert stats["metric/rkl_all"] == pytest.approx(
        sum(p * math.log(8 * p) for p in (3 / 6, 2 / 6, 1 / 6)), rel=1e-12)
    hist = M.mode_histogram(mixture, x)
    assert hist.shape == (8,)
    np.testing.assert_allclose(hist, [3 / 6, 0, 2 / 6, 0, 1 / 6, 0, 0, 0])


def test_no_hq_sample_gives_nan_rkl_hq_and_zero_modes():
    mixture = ring()
    stats = M.mode_stats(mixture, np.tile([0.5, 0.0], (10, 1)))  # nearest mode 0 at distance 0.5
    assert stats["metric/modes"] == 0 and stats["metric/hq"] == 0
    assert math.isnan(stats["metric/rkl_hq"])
    assert stats["metric/rkl_all"] == pytest.approx(math.log(8))


def test_mode_metrics_are_refused_for_continuous_data():
    with pytest.raises(ValueError, match="spiral"):
        M.mode_stats(spiral(), draw(spiral(), 50))
    with pytest.raises(ValueError):
        M.mode_histogram(spiral(), draw(spiral(), 50))


# ----------------------------------------------------------------------------------------------------- FID
def test_fid_of_identical_samples_is_zero_and_of_a_shift_is_its_squared_length():
    x = draw(grid())
    assert abs(M.frechet_distance(x, x)) < 1e-9
    shift = np.array([0.3, -1.2])
    assert M.frechet_distance(x, x + shift) == pytest.approx(shift @ shift, rel=1e-8)


def test_fid_matches_the_diagonal_closed_form():
    # Cartesian products of coordinate sets have an exactly diagonal sample covariance, so
    # FID = |d mu|^2 + sum_i (sqrt(var_x,i) - sqrt(var_y,i))^2, with no matrix square root.
    def product(us, vs):
        return np.array([(u, v) for u in us for v in vs])

    x = product([0.0, 1.0, 3.0], [-1.0, 0.5, 2.0, 4.0])
    y = product([5.0, 5.5, 9.0, 10.0], [0.0, 0.1])
    vx, vy = np.var(x, axis=0, ddof=1), np.var(y, axis=0, ddof=1)
    expected = ((x.mean(0) - y.mean(0)) ** 2).sum() + ((np.sqrt(vx) - np.sqrt(vy)) ** 2).sum()
    assert M.frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)


def test_fid_matches_the_2x2_closed_form_for_full_covariances():
    # For 2 x 2 covariances A, B the eigenvalues of AB are real and >= 0, so
    # Tr (AB)^1/2 = sqrt(l1) + sqrt(l2) = sqrt(tr(AB) + 2 sqrt(det AB)).
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 2)) @ np.array([[1.0, 0.8], [0.0, 0.5]])
    y = rng.standard_normal((300, 2)) @ np.array([[0.3, -0.4], [0.2, 2.0]]) + [1.0, 2.0]
    a, b = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    tr_root = math.sqrt(np.trace(a @ b) + 2 * math.sqrt(np.linalg.det(a @ b)))
    expected = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(a) + np.trace(b) - 2 * tr_root
    assert M.frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_collapsed_generator_uses_the_guarded_root():
    # a point mass has zero covariance: FID = |mu_r - c|^2 + Tr S_r
    x = draw(ring())
    c = np.array([0.2, 0.1])
    expected = ((x.mean(0) - c) ** 2).sum() + np.trace(np.cov(x, rowvar=False))
    assert M.frechet_distance(x, np.tile(c, (100, 1))) == pytest.approx(expected, rel=1e-6)


def test_sqrtm_guard_fails_loudly_on_a_large_imaginary_part():
    with pytest.raises(ValueError, match="imaginary"):
        M.frechet.sqrtm_product(np.eye(2), np.diag([-1.0, 1.0]))  # (AB)^1/2 = diag(i, 1): not two covariances


# --------------------------------------------------------------------------- precision/recall, density/coverage
def brute_in_union(centres, radii, queries):
    d = np.sqrt(((queries[:, None] - centres[None]) ** 2).sum(-1))
    return (d <= radii[None]).any(1)


def brute_radii(x, k):
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def test_precision_recall_equal_the_definition_on_heavy_tailed_data():
    # Cauchy samples give a wide spread of ball radii, which exercises the exact lift for far points
    rng = np.random.default_rng(2)
    real, fake = rng.standard_cauchy((300, 2)), rng.standard_cauchy((250, 2)) + 0.5
    precision = brute_in_union(real, brute_radii(real, 3), fake).mean()
    recall = brute_in_union(fake, brute_radii(fake, 3), real).mean()
    assert M.precision_recall(real, fake, k=3) == pytest.approx((precision, recall), abs=1e-12)


def test_precision_recall_on_hand_placed_points():
    real = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [4, 0]])  # 1-NN radius 1 for every real point
    fake = np.array([[0.5, 0], [2, 0.9], [2, 1.1], [10, 0]])
    # inside: (0.5, 0) and (2, 0.9); outside: (2, 1.1) (1.1 from (2, 0)) and (10, 0)
    # fake 1-NN radii: 1.749, 0.2, 0.2, 8.05; the (10, 0) ball reaches (2..4, 0), the (0.5, 0) ball (0..2, 0)
    assert M.precision_recall(real, fake, k=1) == pytest.approx((0.5, 1.0))


def test_precision_recall_same_distribution_near_one_disjoint_zero():
    mixture = grid()
    real, fake = draw(mixture, seed=1), draw(mixture, seed=2)
    precision, recall = M.precision_recall(real, fake)
    assert 0.9 < precision <= 1.0 and 0.9 < recall <= 1.0
    assert M.precision_recall(real, fake + 100.0) == (0.0, 0.0)


def test_density_coverage_same_distribution_match_their_expectations():
    # Naeem et al. 2020: E[density] = 1, E[coverage] = 1 - prod_{i=1..k} (N - i) / (N + M - i) for one distribution
    real, fake = draw(ring(), seed=3), draw(ring(), seed=4)
    density, coverage = M.density_coverage(real, fake, k=5)
    expected_coverage = 1 - np.prod([(N - i) / (2 * N - i) for i in range(1, 6)])
    assert density == pytest.approx(1.0, abs=0.06)
    assert coverage == pytest.approx(expected_coverage, abs=0.015)
    assert M.density_coverage(real, fake + 100.0) == (0.0, 0.0)


def test_density_coverage_equal_the_definition():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((200, 2)), rng.standard_normal((150, 2)) * 1.5
    radii = brute_radii(real, 5)
    inside = np.sqrt(((fake[None] - real[:, None]) ** 2).sum(-1)) <= radii[:, None]  # (real, fake)
    density, coverage = M.density_coverage(real, fake, k=5)
    assert density == pytest.approx(inside.sum() / (5 * len(fake)), abs=1e-12)
    assert coverage == pytest.approx(inside.any(1).mean(), abs=1e-12)


# -------------------------------------------------------------------------------------------------------- W1
def test_w1_of_a_shifted_point_mass_is_the_shift_length():
    a = np.tile([0.3, -0.2], (800, 1))
    assert M.wasserstein1(a, a + [3.0, 4.0]) == pytest.approx(5.0, rel=1e-12)


def test_w1_without_subsampling_equals_the_sorted_1d_formula_and_translation_length():
    rng = np.random.default_rng(4)
    u, v = rng.standard_normal(300), rng.exponential(size=300)
    on_line = lambda t: np.column_stack([t, np.zeros_like(t)])  # noqa: E731
    # on a line, W1 of equal-size empirical measures is the mean distance between sorted samples
    assert M.wasserstein1(on_line(u), on_line(v), n=300) == pytest.approx(np.abs(np.sort(u) - np.sort(v)).mean())
    x = rng.standard_normal((300, 2))
    # W1(mu, mu + s) >= |E shift| = |s| and the translation attains it
    assert M.wasserstein1(x, x + [0.6, 0.8], n=300) == pytest.approx(1.0, rel=1e-9)


def test_w1_is_deterministic_and_separates_a_shift_from_noise():
    real, fake = draw(ring(), seed=5), draw(ring(), seed=6)
    assert M.wasserstein1(real, fake) == M.wasserstein1(real, fake)
    # W1 >= |difference of means| for the subsamples, so a shift of 3 dominates the sampling error
    assert M.wasserstein1(real, fake) < 0.5 < 2.9 < M.wasserstein1(real, fake + [3.0, 0.0])


# ---------------------------------------------------------------------------------------------- KDE, JSD, D*
def test_kde_equals_the_gaussian_closed_forms():
    rng = np.random.default_rng(5)
    samples, points = rng.standard_normal((7, 2)), rng.standard_normal((300, 2)) * 2
    h = np.array([0.1, 0.3, 0.5, 1.0, 0.2, 0.05, 2.0])
    terms = np.stack([gauss_log_pdf(points, s, hi) for s, hi in zip(samples, h)], axis=1)
    expected = np.log(np.exp(terms).sum(1) / 7)
    np.testing.assert_allclose(M.kde_log_prob(samples, points, h), expected, atol=1e-5)
    np.testing.assert_allclose(M.kde_log_prob(samples, points, 0.4),
                               np.log(np.exp(np.stack([gauss_log_pdf(points, s, 0.4) for s in samples], 1)).mean(1)),
                               atol=1e-5)
    # leave-one-out at the samples: sample i's own kernel is dropped and the rest averaged over n - 1
    own = np.stack([gauss_log_pdf(samples, s, hi) for s, hi in zip(samples, h)], axis=1)  # (point, kernel)
    np.fill_diagonal(own, -np.inf)
    np.testing.assert_allclose(M.kde_log_prob(samples, samples, h, leave_one_out=True),
                               np.log(np.exp(own).sum(1) / 6), atol=1e-5)


def test_kde_far_from_every_sample_stays_finite():
    # the kernel's log is -d^2 / (2 h^2) - log(2 pi h^2): 1e4 away with h = 1 that is -5e7, not -inf
    out = M.kde_log_prob(np.zeros((3, 2)), np.array([[1e4, 0.0]]), 1.0)
    assert out[0] == pytest.approx(-0.5e8 - math.log(2 * math.pi), rel=1e-6)


@pytest.mark.parametrize("name", ["ring", "grid", "spiral", "moons"])
def test_fast_log_p_data_equals_the_mixture_log_prob(name):
    mixture = get_dataset(name)
    lo, hi = mixture.bounds()[0], mixture.bounds()[1]
    x = np.concatenate([draw(mixture, 500), np.random.default_rng(6).uniform(lo - 2, hi + 2, (500, 2))])
    np.testing.assert_allclose(M.theory.log_p_data(mixture, x), mixture.log_prob(x), rtol=1e-6, atol=1e-4)
    skewed = Mixture("skewed", mixture.means[:3], mixture.sigma, np.array([0.5, 0.3, 0.2]), True, "")
    np.testing.assert_allclose(M.theory.log_p_data(skewed, x), skewed.log_prob(x), rtol=1e-12)


def test_knn_bandwidth_is_the_kth_neighbour_distance_with_a_floor():
    x = np.array([[0.0, 0], [1, 0], [3, 0], [7, 0]])
    np.testing.assert_allclose(M.knn_bandwidth(x, k=2), [3, 2, 3, 6])
    np.testing.assert_allclose(M.knn_bandwidth(np.zeros((5, 2)), k=2, floor=0.01), 0.01)


@pytest.mark.parametrize("name", ["ring", "grid", "spiral"])
def test_bandwidth_rule_fits_narrow_mixtures_where_scott_does_not(name):
    # KL(p || q_hat) = E_p[log p - log q_hat] on fresh points: the rule's estimate of p_g = p_data is close to it,
    # while Scott's rule on the whole sample smears the modes (bandwidth ~15-20 sigma on ring and grid)
    mixture = get_dataset(name)
    fake, points = draw(mixture, seed=7), draw(mixture, seed=8)
    log_p = mixture.log_prob(points)
    kl_rule = (log_p - M.kde_log_prob(fake, points, M.pg_bandwidth(mixture, fake))).mean()
    kl_scott = (log_p - M.kde_log_prob(fake, points, fake.std(0).mean() * len(fake) ** (-1 / 6))).mean()
    assert -0.05 < kl_rule < 0.2
    assert kl_scott > 0.8


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_jsd_known_answers(name):
    mixture = get_dataset(name)
    real, fake = draw(mixture, seed=9), draw(mixture, seed=10)
    assert 0.0 <= M.jsd(mixture, fake, real) < 0.02
    assert M.jsd(mixture, fake + 100.0, real) == pytest.approx(math.log(2), abs=1e-9)
    half = list(range(mixture.n_modes // 2))
    assert M.jsd(mixture, draw(sub_mixture(mixture, half), seed=11), real) == pytest.approx(
        jsd_even_subset(len(half), mixture.n_modes), abs=0.02)


def test_jsd_draws_its_own_real_samples_reproducibly():
    mixture, fake = ring(), draw(sub_mixture(ring(), [0, 1]), seed=12)
    value = M.jsd(mixture, fake)
    assert value == M.jsd(mixture, fake)
    assert value == pytest.approx(jsd_even_subset(2, 8), abs=0.02)


def test_optimal_discriminator_matches_p_over_p_plus_q_for_a_known_q():
    mixture = ring()
    # one fake point with bandwidth s: p_g is exactly N(c, s^2 I)
    c, s = np.array([0.9, 0.1]), 0.05
    points = np.concatenate([mixture.means[:1] + [[0.0, 0.0], [-0.02, 0.01]], [[0.95, 0.08], [0.7, 0.7]]])
    log_p = np.log(np.exp(np.stack([gauss_log_pdf(points, m, mixture.sigma) for m in mixture.means], 1)).mean(1))
    log_q = gauss_log_pdf(points, c, s)
    np.testing.assert_allclose(M.optimal_discriminator(mixture, c[None], points, bandwidth=s),
                               np.exp(log_p) / (np.exp(log_p) + np.exp(log_q)), rtol=1e-5)
    # fake = the first 4 means with bandwidth sigma: p_g is the mixture over those 4 modes, so at a covered mode
    # D* = (1/8) / (1/8 + 1/4) = 1/3, at an uncovered one D* = 1
    d_star = M.optimal_discriminator(mixture, mixture.means[:4], mixture.means, bandwidth=mixture.sigma)
    np.testing.assert_allclose(d_star, [1 / 3] * 4 + [1.0] * 4, rtol=1e-6)


def test_optimal_discriminator_is_near_one_half_when_g_matches_the_data():
    mixture = grid()
    d_star = M.optimal_discriminator(mixture, draw(mixture, seed=13), draw(mixture, seed=14))
    assert np.all((d_star >= 0) & (d_star <= 1))
    assert abs(d_star.mean() - 0.5) < 0.05
    assert np.abs(d_star - 0.5).mean() < 0.1


def test_theory_stats_with_the_optimal_d_reach_v_star():
    mixture = ring()
    real, fake = draw(mixture, seed=15), draw(sub_mixture(mixture, [0, 1, 2, 3]), seed=16)
    d_real = M.optimal_discriminator(mixture, fake, real)
    d_fake = M.optimal_discriminator(mixture, fake, fake, leave_one_out=True)
    stats = M.theory_stats(mixture, real, fake, d_real, d_fake, d_is_prob=True)
    # V(D*, G) = -log 4 + 2 JSD; the same KDE on both sides makes it an identity on the samples
    assert stats["theory/v_star"] == pytest.approx(-math.log(4) + 2 * jsd_even_subset(4, 8), abs=0.04)
    assert stats["theory/v"] == pytest.approx(stats["theory/v_star"], abs=1e-4)
    assert stats["theory/d_err"] < 1e-4
    half = M.theory_stats(mixture, real, fake, np.full(N, 0.5), np.full(N, 0.5), d_is_prob=True)
    assert half["theory/v"] == pytest.approx(-math.log(4), abs=1e-12)  # D = 1/2 everywhere: V = -log 4
    # a critic: only the theory's value, never V(D, G) or |D - D*|
    assert set(M.theory_stats(mixture, real, fake, d_real, d_fake, d_is_prob=False)) == {"theory/v_star"}


# ------------------------------------------------------------------------------------------------- evaluate
def test_evaluate_walks_the_registry():
    mixture = ring()
    real, fake = draw(mixture, seed=17), draw(mixture, seed=18)
    every = {key for metric in M.METRICS.values() for key in metric.keys}
    out = M.evaluate(mixture, fake, real, np.full(N, 0.5), np.full(N, 0.5), d_is_prob=True)
    assert set(out) == every
    assert all(math.isfinite(v) for v in out.values())
    out = M.evaluate(mixture, torch.as_tensor(fake), torch.as_tensor(real))
    assert set(out) == every - {"theory/v_star", "theory/v", "theory/d_err"}
    assert out["metric/modes"] == 8


def test_evaluate_on_continuous_data_has_no_mode_metrics_and_refuses_them():
    mixture = spiral()
    out = M.evaluate(mixture, draw(mixture, 300, seed=1), draw(mixture, 300, seed=2))
    assert not any(key in out for key in M.METRICS["modes"].keys)
    assert "metric/fid" in out
    with pytest.raises(ValueError, match="modes"):
        M.evaluate(mixture, draw(mixture, 300, seed=1), draw(mixture, 300, seed=2), names=["modes"])


def test_evaluate_reports_nan_for_a_diverged_generator():
    mixture = ring()
    fake = draw(mixture, 300)
    fake[5] = np.nan
    out = M.evaluate(mixture, fake, draw(mixture, 300, seed=1), np.full(300, 0.5), np.full(300, 0.5), False)
    assert set(out) == {key for m in M.METRICS.values() for key in m.keys} - {"theory/v", "theory/d_err"}
    assert all(math.isnan(v) for v in out.values())


# ------------------------------------------------------------------------------------------------------ CLI
def test_cli_prints_every_metric_for_a_saved_npz(tmp_path):
    path = tmp_path / "samples.npz"
    np.savez(path, x=draw(ring(), seed=19).astype(np.float32))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    done = subprocess.run([sys.executable, "-m", "engine.evaluate", "--samples", str(path), "--dataset", "ring"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    values = dict(line.split(" ") for line in done.stdout.strip().splitlines())
    assert set(values) == {key for name in M.applicable(ring()) for key in M.METRICS[name].keys}
    assert float(values["metric/modes"]) == 8
    assert abs(float(values["metric/hq"]) - HQ_TRUE) < 1.0
    bad = subprocess.run([sys.executable, "-m", "engine.evaluate", "--samples", str(tmp_path / "none.npz"),
                          "--dataset", "ring"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stdout == "" and bad.stderr.count("\n") == 1 and "not found" in bad.stderr


@pytest.mark.parametrize("argv_of, problem", [
    (lambda p: ["--samples", str(p / "none.npz"), "--dataset", "grid"], "not found"),
    (lambda p: ["--samples", str(p / "y.npz"), "--dataset", "grid"], "no array 'x'"),
    (lambda p: ["--samples", str(p / "x.npz"), "--dataset", "squares"], "unknown 'squares'"),
    (lambda p: ["--samples", str(p / "x.npz"), "--dataset", "spiral", "--metric", "modes"], "modes"),
    (lambda p: ["--samples", str(p / "wide.npz"), "--dataset", "grid"], "N x 2"),
    (lambda p: ["--samples", str(p / "x.npz")], "--dataset"),
    (lambda p: [], "RUN_ID"),
])
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, argv_of, problem):
    np.savez(tmp_path / "x.npz", x=draw(grid(), 100))
    np.savez(tmp_path / "y.npz", y=np.zeros((5, 2)))
    np.savez(tmp_path / "wide.npz", x=np.zeros((20, 3)))
    assert cli.main(argv_of(tmp_path)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and problem in err


def test_cli_run_id_loads_the_snapshot_through_tracking(monkeypatch, capsys):
    calls = []

    def load_run_snapshot(run_id, step):
        calls.append((run_id, step))
        return 3000, draw(grid(), 500, seed=20), {"dataset": "grid", "loss": "ns"}

    monkeypatch.setitem(sys.modules, "engine.tracking", types.SimpleNamespace(load_run_snapshot=load_run_snapshot))
    assert cli.main(["abc123", "--step", "3000", "--metric", "modes"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert calls == [("abc123", 3000)]
    assert lines[0] == "step 3000" and lines[1] == "metric/modes 25" and len(lines) == 5

    def missing(run_id, step):
        raise ValueError(f"run {run_id}: no sample snapshots logged")

    monkeypatch.setitem(sys.modules, "engine.tracking", types.SimpleNamespace(load_run_snapshot=missing))
    assert cli.main(["abc123"]) == 2
    assert "no sample snapshots" in capsys.readouterr().err
