"""Known-answer tests of dashboard.stats: closed forms, textbook examples, hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import stats

# ------------------------------------------------------------------------------------------------- ema


@pytest.mark.parametrize("w", [0.5, 0.9, 0.999])
def test_ema_of_constant_is_the_constant(w):
    # Without the 1/(1 - w^k) debiasing the first points would be pulled towards 0.
    out = stats.ema_smooth(np.full(50, 3.7), w)
    np.testing.assert_allclose(out, 3.7, rtol=1e-12)


@pytest.mark.parametrize("w", [0.6, 0.95])
def test_ema_of_step_matches_closed_form(w):
    m, r = 5, 30
    x = np.r_[np.zeros(m), np.ones(r)]
    k = np.arange(1, m + r + 1)
    # s_k = (1-w) sum_{j=m+1..k} w^(k-j) = 1 - w^(k-m) after the step, 0 before; debiased by 1 - w^k.
    expected = np.where(k > m, (1 - w ** np.maximum(k - m, 0)) / (1 - w**k), 0.0)
    np.testing.assert_allclose(stats.ema_smooth(x, w), expected, rtol=1e-12, atol=1e-15)


def test_ema_weight_zero_is_identity_and_bad_weight_raises():
    x = np.array([1.0, 5.0, -2.0])
    np.testing.assert_array_equal(stats.ema_smooth(x, 0.0), x)
    with pytest.raises(ValueError, match="weight"):
        stats.ema_smooth(x, 1.0)


def test_ema_skips_nan_without_poisoning():
    out = stats.ema_smooth([1.0, np.nan, 3.0, np.inf], 0.5)
    # Finite values 1, 3: s1 = 0.5, s2 = 0.25 + 1.5 = 1.75, debiased by 1 - 0.25.
    assert out[0] == pytest.approx(1.0)
    assert math.isnan(out[1]) and math.isinf(out[3])
    assert out[2] == pytest.approx(1.75 / 0.75)


# ------------------------------------------------------------------------------------------ aggregation

RUNS = [([0, 10, 20], [1.0, 2.0, 3.0]), ([0, 10, 20], [3.0, 4.0, 9.0]), ([0, 10, 20], [5.0, 9.0, 6.0])]


def test_aggregate_std_and_se_known_values():
    df = stats.aggregate(RUNS, band="std")
    assert list(df.columns) == ["step", "mean", "lo", "hi", "n"]
    np.testing.assert_allclose(df["mean"], [3.0, 5.0, 6.0])
    # step 0: 1, 3, 5 -> SD 2; step 10: 2, 4, 9 -> SD sqrt(13); step 20: 3, 9, 6 -> SD 3.
    sd = np.array([2.0, math.sqrt(13.0), 3.0])
    np.testing.assert_allclose(df["hi"] - df["mean"], sd)
    np.testing.assert_allclose(df["mean"] - df["lo"], sd)
    se = stats.aggregate(RUNS, band="se")
    np.testing.assert_allclose(se["hi"] - se["mean"], sd / math.sqrt(3))
    assert df["n"].tolist() == [3, 3, 3]


def test_aggregate_ci95_uses_student_t():
    ci = stats.aggregate(RUNS, band="ci95")
    t_975_2 = 4.302652729911275  # table value of t_{0.975} with 2 degrees of freedom
    np.testing.assert_allclose(ci["hi"] - ci["mean"], t_975_2 * np.array([2.0, math.sqrt(13), 3.0]) / math.sqrt(3))


def test_aggregate_ignores_nan_and_short_runs():
    runs = [([0, 1, 2], [1.0, np.nan, 5.0]), ([0, 1, 2], [3.0, 4.0, 7.0]), ([0, 1], [5.0, 6.0])]
    df = stats.aggregate(runs, band="std")
    assert df["n"].tolist() == [3, 2, 2]
    np.testing.assert_allclose(df["mean"], [3.0, 5.0, 6.0])
    one = stats.aggregate([([0, 1], [1.0, 2.0])], band="se")
    assert one["lo"].isna().all() and one["hi"].isna().all()  # one seed: no spread to show


def test_align_curves_union_grid_interpolates_inside_and_never_extrapolates():
    grid, m = stats.align_curves([([0, 10], [0.0, 10.0]), ([5, 15], [1.0, 3.0])])
    np.testing.assert_array_equal(grid, [0, 5, 10, 15])
    np.testing.assert_allclose(m[0], [0.0, 5.0, 10.0, np.nan])
    np.testing.assert_allclose(m[1], [np.nan, 1.0, 2.0, 3.0])


def test_align_curves_keeps_last_duplicate_and_nan_gap():
    grid, m = stats.align_curves([([0, 1, 1, 2, 3], [0.0, 9.0, 1.0, np.nan, 3.0])])
    np.testing.assert_array_equal(grid, [0, 1, 2, 3])
    np.testing.assert_allclose(m[0], [0.0, 1.0, np.nan, 3.0])


# --------------------------------------------------------------------------------------------- grouping


def test_group_key_ignores_seed_and_logging_fields():
    a = {"loss": "ns", "lr_d": 1e-4, "seed": 0, "eval_every": 100, "run_name": "x"}
    b = {"loss": "ns", "lr_d": 1e-4, "seed": 7, "eval_every": 500, "run_name": "y"}
    c = {"loss": "ns", "lr_d": 2e-4, "seed": 0, "eval_every": 100, "run_name": "z"}
    assert stats.group_key(a) == stats.group_key(b) != stats.group_key(c)
    assert stats.group_key(a) == (("loss", "ns"), ("lr_d", 1e-4))
    assert stats.group_key(c, by=["loss"]) == stats.group_key(a, by=["loss"]) == (("loss", "ns"),)


def test_group_runs_labels_by_differing_fields_only():
    cfgs = {"r1": {"loss": "ns", "pack": 1, "seed": 0}, "r2": {"loss": "ns", "pack": 1, "seed": 1},
            "r3": {"loss": "ns", "pack": 2, "seed": 0}}
    assert stats.group_runs(cfgs) == {"pack=1": ["r1", "r2"], "pack=2": ["r3"]}


def test_group_runs_names_groups_after_their_preset_and_what_they_change():
    preset_configs = {"wide": {"loss": "ns", "pack": 1, "width": 512, "dataset": "ring"},
                      "packed": {"loss": "ns", "pack": 2, "width": 128, "dataset": "ring"}}
    cfgs = {"a0": {"loss": "ns", "pack": 1, "width": 512, "dataset": "ring", "seed": 0},
            "a1": {"loss": "ns", "pack": 1, "width": 512, "dataset": "ring", "seed": 1},
            "b0": {"loss": "ns", "pack": 2, "width": 128, "dataset": "grid", "seed": 0},
            "c0": {"loss": "ns", "pack": 2, "width": 512, "dataset": "ring", "seed": 0},  # no preset
            "d0": {"loss": "ns", "pack": 3, "width": 128, "dataset": "ring", "seed": 0},  # an unknown preset
            "e0": {"loss": "ns", "pack": 4, "width": 128, "dataset": "ring", "seed": 0},  # two presets, one group
            "e1": {"loss": "ns", "pack": 4, "width": 128, "dataset": "ring", "seed": 1}}
    presets = {"a0": "wide", "a1": "wide", "b0": "packed", "c0": "", "d0": "gone", "e0": "wide", "e1": "packed"}
    got = stats.group_runs(cfgs, presets=presets, preset_configs=preset_configs)
    assert got == {"wide": ["a0", "a1"], "packed, dataset=grid": ["b0"],
                   "dataset=ring, pack=2, width=512": ["c0"], "dataset=ring, pack=3, width=128": ["d0"],
                   "dataset=ring, pack=4, width=128": ["e0", "e1"]}
    # chosen fields keep their plain labels; so do groups whose preset labels would coincide
    assert set(stats.group_runs(cfgs, by=["pack"], presets=presets, preset_configs=preset_configs)) == {
        "pack=1", "pack=2", "pack=3", "pack=4"}
    twins = {"x": {"pack": 1, "width": 1}, "y": {"pack": 2, "width": 1}}
    oddly_named = {"pack=2": {"pack": 1, "width": 1}}  # x's label would read as y's
    assert stats.group_runs(twins, presets={"x": "pack=2", "y": ""}, preset_configs=oddly_named) == {
        "pack=1": ["x"], "pack=2": ["y"]}
    same = {"x": {"pack": 1, "width": 1}, "y": {"pack": 2, "width": 1}}
    both_base = {"q": {"pack": 3, "width": 1}}
    assert stats.group_runs(same, presets={"x": "q", "y": "q"}, preset_configs=both_base) == {
        "q, pack=1": ["x"], "q, pack=2": ["y"]}


def test_summarise_final_mean_se_n_and_best_with_ties_and_direction():
    df = pd.DataFrame({"variant": ["a", "a", "a", "b", "b", "c", "c"],
                       "metric/modes": [8, 8, 8, 8, 8, 6, 7],
                       "metric/fid": [1.0, 2.0, 3.0, 0.5, np.nan, 4.0, 6.0]})
    out = stats.summarise_final(df, "variant", ["metric/modes", "metric/fid"])
    row = out.set_index("variant")
    assert row.loc["a", "metric/fid mean"] == pytest.approx(2.0)
    assert row.loc["a", "metric/fid se"] == pytest.approx(1.0 / math.sqrt(3))  # SD 1 over sqrt(3)
    assert row.loc["b", "metric/fid n"] == 1 and row.loc["b", "runs"] == 2
    assert math.isnan(row.loc["b", "metric/fid se"])
    assert row.loc["c", "metric/modes mean"] == pytest.approx(6.5)
    assert out.attrs["best"] == {"metric/modes": ["a", "b"], "metric/fid": ["b"]}


# ---------------------------------------------------------------------------------------- significance

WIKI_A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
WIKI_A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_matches_formula_and_textbook_example():
    from scipy import stats as sps
    a, b = np.array(WIKI_A1), np.array(WIKI_A2)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))  # Welch-Satterthwaite
    p = 2 * sps.t.sf(abs(t), dof)
    row = stats.pairwise_tests({"A1": a, "A2": b}, "welch").iloc[0]
    assert row["statistic"] == pytest.approx(t, rel=1e-10)
    assert row["p"] == pytest.approx(p, rel=1e-8)
    # The published example (Wikipedia, "Welch's t-test"): t = -2.46, dof 24.9(9), p = 0.021.
    assert row["statistic"] == pytest.approx(-2.46, abs=0.005)
    assert dof == pytest.approx(24.99, abs=0.01)
    assert row["p"] == pytest.approx(0.021, abs=0.0005)
    assert row["p_holm"] == row["p"]  # a family of one


def test_holm_on_known_list():
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06 for the last.
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    adj2 = stats.holm([0.2, np.nan, 0.6])  # NaN is outside the family of two
    np.testing.assert_allclose(adj2, [0.4, np.nan, 0.6])
    np.testing.assert_array_equal(stats.holm([0.9, 0.8]), [1.0, 1.0])


def test_cohens_d_and_hedges_g_closed_form():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0])
    # Means 2.5 and 5, variances 5/3 and 20/3, pooled variance 25/6: d = -2.5 / sqrt(25/6) = -sqrt(3/2).
    assert stats.cohens_d(a, b) == pytest.approx(-math.sqrt(1.5), rel=1e-12)
    j = 2.0 / (math.sqrt(3.0) * 0.75 * math.sqrt(math.pi))  # Gamma(3) / (sqrt(3) Gamma(5/2)), df = 6
    assert stats.hedges_correction(6) == pytest.approx(j, rel=1e-12)
    assert j == pytest.approx(1 - 3 / (4 * 6 - 1), abs=2e-3)  # Hedges' usual approximation
    row = stats.pairwise_tests({"a": a, "b": b}).iloc[0]
    assert row["cohen_d"] == pytest.approx(-math.sqrt(1.5)) and row["hedges_g"] == pytest.approx(-math.sqrt(1.5) * j)


def test_mannwhitney_exact_p_and_cliffs_delta():
    out = stats.pairwise_tests({"lo": [1.0, 2.0, 3.0], "hi": [4.0, 5.0, 6.0]}, "mannwhitney")
    row = out.iloc[0]
    # Complete separation: U_a = 0, exact two-sided p = 2 / C(6, 3) = 0.1, delta = -1.
    assert row["statistic"] == 0.0 and row["p"] == pytest.approx(0.1)
    assert row["cliffs_delta"] == -1.0 and row["effect"] == -1.0
    assert stats.cliffs_delta(np.array([1.0, 2.0, 3.0]), np.array([2.0])) == pytest.approx(0.0)


def test_pairwise_holm_can_overturn_raw_significance():
    from scipy import stats as sps
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    groups = {"a": a, "b": a + 2.5, "c": a + 0.1}
    out = stats.pairwise_tests(groups, "welch", alpha=0.05)
    assert list(out[["a", "b"]].itertuples(index=False, name=None)) == [("a", "b"), ("a", "c"), ("b", "c")]
    # Equal variances 2.5 and n = 5: t = -2.5 / sqrt(2 * 2.5 / 5) = -2.5 with 8 dof, p = 0.037 < 0.05 ...
    p_ab = 2 * sps.t.sf(2.5, 8)
    assert out.loc[0, "statistic"] == pytest.approx(-2.5) and out.loc[0, "p"] == pytest.approx(p_ab)
    assert out.loc[0, "p"] < 0.05 and out.loc[2, "p"] < 0.05
    # ... but three comparisons: Holm multiplies the smallest by 3 and the next by 2, and neither survives.
    assert out.loc[0, "p_holm"] == pytest.approx(3 * p_ab)
    # 2 * p_bc = 0.086 is below 3 * p_ab = 0.111; Holm's step-down keeps adjusted p monotone, so it is 0.111.
    assert 2 * out.loc[2, "p"] < 3 * p_ab
    assert out.loc[2, "p_holm"] == pytest.approx(3 * p_ab)
    assert out["significant"].tolist() == [False, False, False]
    assert stats.pairwise_tests(groups, "welch", alpha=0.2)["significant"].tolist() == [True, False, True]
    assert out[["n_a", "n_b"]].to_numpy().tolist() == [[5, 5]] * 3


def test_pairwise_untestable_pair_is_nan_and_not_significant():
    out = stats.pairwise_tests({"a": [1.0], "b": [2.0, 3.0, np.nan]})
    assert out.loc[0, "n_b"] == 2 and math.isnan(out.loc[0, "p"]) and not out.loc[0, "significant"]


# ------------------------------------------------------------------------------------------------ diffs


def test_diff_only_keeps_exactly_the_differing_keys():
    cfgs = {"r1": {"a": 1, "b": "ns", "lr": 1e-4, "flag": True, "c": 3},
            "r2": {"a": 1, "b": "wgan", "lr": 0.0001, "flag": 1},
            "r3": {"a": 1, "b": "ns", "lr": 1e-4, "flag": True, "c": 3}}
    out = stats.diff_only(cfgs)
    assert list(out.index) == ["b", "c", "flag"]
    assert list(out.columns) == ["r1", "r2", "r3"]
    assert out.loc["b"].tolist() == ["ns", "wgan", "ns"]
    assert out.loc["c", "r2"] is None
    assert stats.diff_only({"x": {"a": 1}, "y": {"a": 1}}).empty


# --------------------------------------------------------------------------------------------- y-range


def test_robust_range_known_quantiles_and_ignores_spike():
    lo, hi = stats.robust_range(np.arange(1001.0))
    # 1 % and 99 % quantiles are 10 and 990; padded by 5 % of 980.
    assert (lo, hi) == pytest.approx((10 - 49.0, 990 + 49.0))
    _, hi2 = stats.robust_range(np.r_[np.arange(100.0), 1e9])
    assert hi2 < 200
    assert stats.robust_range([np.nan, np.inf]) is None
    assert stats.robust_range([10.0, 1000.0], q=(0, 1), pad=0.0, log=True) == pytest.approx((1.0, 3.0))


def test_direction_lookup():
    assert stats.direction("metric/modes") is True and stats.direction("fid") is False
    assert stats.direction("theory/d_err") is False and stats.direction("loss/d") is None


def test_one_group_against_the_others_is_those_pairs_of_every_pair_with_holm_over_k_minus_1():
    rng = np.random.default_rng(3)
    groups = {name: rng.normal(mu, 1.0, 8) for name, mu in (("a", 0.0), ("b", 1.5), ("c", 0.2), ("d", -1.0))}
    every = stats.pairwise_tests(groups, "welch")
    against = stats.pairwise_tests(groups, "welch", against="b")
    assert list(zip(against["a"], against["b"])) == [("b", "a"), ("b", "c"), ("b", "d")]
    for _, row in against.iterrows():  # the same test, its sign flipped where every-pair has b second
        pair = every[((every["a"] == row["a"]) & (every["b"] == row["b"])) |
                     ((every["a"] == row["b"]) & (every["b"] == row["a"]))].iloc[0]
        sign = 1 if pair["a"] == row["a"] else -1
        assert row["p"] == pytest.approx(pair["p"], rel=1e-12)
        assert row["statistic"] == pytest.approx(sign * pair["statistic"], rel=1e-12)
        assert row["hedges_g"] == pytest.approx(sign * pair["hedges_g"], rel=1e-12)
    np.testing.assert_allclose(against["p_holm"], stats.holm(against["p"].to_numpy()))  # a family of 3, not 6
    with pytest.raises(ValueError, match="against"):
        stats.pairwise_tests(groups, against="e")
