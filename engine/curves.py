"""Downsampled metric curves: min/max/mean buckets on power-of-two step grids, and their compact summaries.

A curve of one run's metric is cut into buckets of `width` steps (bucket b holds the steps in
[b * width, (b + 1) * width)); each bucket keeps the number of rows, the number of finite values, the sums of
steps, timestamps and finite values, and the min and max of the finite values. That is everything a chart needs
(mean step and wall time, mean value, a min/max envelope that keeps spikes), and it merges exactly: buckets of
width w combine into buckets of any multiple of w by adding the counts and sums and taking min of mins, max of
maxes. Widths are powers of two, so a summary at a fine width serves every coarser chart width without error.

A finished run keeps one summary per metric (`summarise` at `base_width`, logged by engine.tracking as
`curves/<key>.npz`), so the dashboard draws hundreds of finished runs without reading their millions of metric
rows again; queued and running runs are still read row by row.

Missing values: NaN and +-inf (MLflow stores infinities as +-float max) count as rows but not as values.
Timestamps are milliseconds; a curve's wall time is seconds since the metric's first timestamp (`t0`).
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np

BASE_BUCKETS = 1024  # a summary has at most this many buckets per metric: ~40 kB, fine enough for any chart
FLOAT_MAX = sys.float_info.max
# Columns of a bucket table: bucket index (at the table's width), rows, finite values, sum of steps, sum of
# (timestamp - t0) in ms, sum of finite values, min and max of finite values (+inf / -inf when none).
B, ROWS, FINITE, SUM_STEP, SUM_MS, SUM_V, MIN_V, MAX_V = range(8)


class Curve(NamedTuple):
    """One run's metric, downsampled: per bucket the mean step, the mean wall time (seconds since the run's
    first value of this metric), the mean and the min/max envelope of the finite values (NaN when none)."""

    step: np.ndarray
    wall: np.ndarray
    mean: np.ndarray
    vmin: np.ndarray
    vmax: np.ndarray


class Buckets(NamedTuple):
    """A bucket table at `width` steps, with the metric's first timestamp `t0` (ms) and its last step."""

    width: int
    t0: float
    last_step: float
    table: np.ndarray  # (n_buckets, 8) float64, sorted by bucket index; columns B..MAX_V above


def pow2_at_least(x: float) -> int:
    """The smallest power of two >= x (1 for x <= 1)."""
    return 1 if x <= 1 else 2 ** math.ceil(math.log2(x) - 1e-12)


def grid_width(max_step: float, points: int) -> int:
    """The chart's bucket width: the smallest power of two that covers steps 0..max_step in at most `points`
    buckets, shared by every run of the chart so that group means line up bucket by bucket."""
    return pow2_at_least((max(float(max_step), 0.0) + 1.0) / max(int(points), 1))


def base_width(max_step: float) -> int:
    """The width a run's summary is kept at: fine enough for BASE_BUCKETS buckets over the run's steps."""
    return grid_width(max_step, BASE_BUCKETS)


def _merge(rows: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rows of the bucket-table layout merged by `groups` (sorted, one bucket index per row): sums of the counts
    and sums, min of the mins, max of the maxes; the one reduction both bucketing and regridding use."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    out = np.empty((starts.size, 8))
    out[:, B] = groups[starts]
    for col in (ROWS, FINITE, SUM_STEP, SUM_MS, SUM_V):
        out[:, col] = np.add.reduceat(rows[:, col], starts)
    out[:, MIN_V] = np.minimum.reduceat(rows[:, MIN_V], starts)
    out[:, MAX_V] = np.maximum.reduceat(rows[:, MAX_V], starts)
    return out


def summarise(steps: np.ndarray, stamps: np.ndarray, values: np.ndarray, width: int) -> Buckets:
    """Bucket one history (steps, timestamps in ms, values; any order) at `width` steps."""
    s = np.asarray(steps, dtype=np.float64).ravel()
    t = np.asarray(stamps, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    if s.size == 0:
        return Buckets(int(width), math.nan, math.nan, np.empty((0, 8)))
    fin = np.isfinite(v) & (np.abs(v) < FLOAT_MAX)
    b = np.maximum(np.floor(s / width), 0).astype(np.int64)
    order = np.argsort(b, kind="stable")
    t0 = float(t.min())
    # each row as a bucket of its own, then merged by bucket index
    rows = np.stack([b, np.ones_like(s), fin, s, t - t0, np.where(fin, v, 0.0), np.where(fin, v, np.inf),
                     np.where(fin, v, -np.inf)], axis=1)[order]
    return Buckets(int(width), t0, float(s.max()), _merge(rows, b[order]))


def regrid(buckets: Buckets, width: int) -> Buckets:
    """The same history at a coarser `width` (a multiple of buckets.width), merged exactly."""
    if width % buckets.width:
        raise ValueError(f"width: {width} is not a multiple of the summary's {buckets.width}")
    tab = buckets.table
    if width == buckets.width or tab.shape[0] == 0:
        return Buckets(int(width), buckets.t0, buckets.last_step, tab)
    groups = tab[:, B].astype(np.int64) // (width // buckets.width)
    return Buckets(int(width), buckets.t0, buckets.last_step, _merge(tab, groups))


def to_curve(buckets: Buckets) -> Curve:
    """What a chart draws from a bucket table: means per bucket, NaN where a bucket has no finite value."""
    tab = buckets.table
    if tab.shape[0] == 0:
        e = np.empty(0)
        return Curve(e, e, e, e, e)
    n, k = tab[:, ROWS], tab[:, FINITE]
    none = k == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(none, np.nan, tab[:, SUM_V] / k)
    return Curve(tab[:, SUM_STEP] / n, tab[:, SUM_MS] / n / 1000.0, mean,
                 np.where(none, np.nan, tab[:, MIN_V]), np.where(none, np.nan, tab[:, MAX_V]))


def bucket_curve(steps: np.ndarray, stamps: np.ndarray, values: np.ndarray, width: int) -> Curve:
    """One history straight to the curve a chart draws at `width` (what the SQL query computes in the store)."""
    return to_curve(summarise(steps, stamps, values, width))


def to_npz_arrays(buckets: Buckets) -> dict[str, np.ndarray]:
    return {"table": buckets.table, "meta": np.array([buckets.width, buckets.t0, buckets.last_step])}


def from_npz_arrays(arrays: dict[str, np.ndarray]) -> Buckets:
    """A summary back from its .npz arrays; ValueError when they are not one."""
    table, meta = arrays.get("table"), arrays.get("meta")
    if table is None or meta is None or table.ndim != 2 or table.shape[1] != 8 or meta.shape != (3,):
        raise ValueError("not a curve summary (expected arrays table (n, 8) and meta (3,))")
    width = int(meta[0])
    if width < 1 or width & (width - 1):
        raise ValueError(f"not a curve summary (width {width} is not a power of two)")
    return Buckets(width, float(meta[1]), float(meta[2]), table.astype(np.float64, copy=False))


def artifact_name(key: str) -> str:
    """Where a metric's summary is kept among the run's artifacts: one file per metric, so a chart reads only
    the metric it draws. '/' in metric names (loss/d) becomes '~', which MLflow does not allow in a key."""
    return f"curves/{key.replace('/', '~')}.npz"
