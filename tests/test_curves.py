"""engine/curves.py: bucket grids, summaries and their exact merge, against hand-worked answers and the definition."""

import numpy as np
import pytest

from engine import curves


def test_grid_widths_are_the_smallest_power_of_two_that_fits():
    assert curves.grid_width(200, 7) == 32  # 201 steps / 7 = 28.7 -> 32 (7 buckets)
    assert curves.grid_width(9_999, 400) == 32  # 10,000 / 400 = 25 -> 32 (313 buckets)
    assert curves.grid_width(1023, 1024) == 1 and curves.grid_width(1024, 1024) == 2
    assert curves.grid_width(0, 400) == 1 and curves.grid_width(-5, 3) == 1
    assert [curves.pow2_at_least(x) for x in (0.5, 1, 2, 3, 4, 4.0001, 1000)] == [1, 1, 2, 4, 4, 8, 1024]
    assert curves.base_width(10_000) == 16  # 10,001 / 1024 = 9.8 -> 16


def test_bucket_curve_by_hand_keeps_spikes_and_skips_missing_values():
    steps = np.arange(10.0)
    values = np.array([1, 1, 50, 1, 1, np.nan, np.inf, 1, 1, 1], dtype=float)
    c = curves.bucket_curve(steps, 1_000 + steps * 1000, values, width=5)
    np.testing.assert_allclose(c.step, [2, 7])
    np.testing.assert_allclose(c.mean, [54 / 5, 1])  # NaN and inf are rows, not values
    np.testing.assert_allclose(c.vmin, [1, 1])
    np.testing.assert_allclose(c.vmax, [50, 1])
    np.testing.assert_allclose(c.wall, [2, 7])  # seconds since the first timestamp
    mlflow_inf = curves.bucket_curve([0, 1], [0, 0], [1.7976931348623157e308, 2.0], width=2)
    np.testing.assert_allclose(mlflow_inf.mean, [2.0])
    gap = curves.bucket_curve(steps, steps, np.r_[np.ones(5), np.full(5, np.nan)], width=5)
    assert np.isnan(gap.mean[1]) and np.isnan(gap.vmax[1]) and np.isnan(gap.vmin[1]) and gap.step[1] == 7


def test_regrid_of_a_fine_summary_equals_bucketing_the_rows_at_the_coarse_width():
    rng = np.random.default_rng(0)
    steps = np.sort(rng.choice(50_000, 3_000, replace=False)).astype(float)
    stamps = 1.7e12 + np.cumsum(rng.integers(1, 50, steps.size))
    values = rng.normal(size=steps.size)
    values[rng.choice(steps.size, 40, replace=False)] = np.nan
    values[:5] = np.nan  # a bucket of missing values at the start
    order = rng.permutation(steps.size)  # rows in any order
    fine = curves.summarise(steps[order], stamps[order], values[order], curves.base_width(steps.max()))
    assert fine.width == 64 and fine.last_step == steps.max() and fine.t0 == stamps.min()
    for width in (64, 128, 1024, 65_536):
        merged = curves.to_curve(curves.regrid(fine, width))
        direct = curves.bucket_curve(steps, stamps, values, width)
        for a, b in zip(merged, direct):
            np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    assert len(curves.to_curve(curves.regrid(fine, 65_536)).step) == 1
    with pytest.raises(ValueError, match="not a multiple"):
        curves.regrid(fine, 96)


def test_summary_round_trips_through_its_arrays_and_rejects_others():
    b = curves.summarise([0, 1, 2, 9], [5, 6, 7, 8], [1.0, 2.0, 3.0, 4.0], width=4)
    back = curves.from_npz_arrays(curves.to_npz_arrays(b))
    assert back.width == 4 and back.t0 == 5 and back.last_step == 9
    np.testing.assert_array_equal(back.table, b.table)
    np.testing.assert_array_equal(back.table[:, curves.B], [0, 2])  # bucket 1 (steps 4..7) is empty: no row
    with pytest.raises(ValueError):
        curves.from_npz_arrays({"x": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="power of two"):
        curves.from_npz_arrays({"table": b.table, "meta": np.array([3.0, 0, 0])})
    empty = curves.summarise([], [], [], width=8)
    assert empty.table.shape == (0, 8) and len(curves.to_curve(empty).step) == 0


def test_artifact_names_are_one_file_per_metric():
    assert curves.artifact_name("loss/d") == "curves/loss~d.npz"
    assert curves.artifact_name("../../etc/passwd").count("/") == 1  # never a path outside curves/
