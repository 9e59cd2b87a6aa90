"""Statistics behind the dashboard's charts and tables: smoothing, seed aggregation, tests.

Pure functions over numpy arrays and pandas frames: no Streamlit, no MLflow, so tests call them directly.

Conventions
- A *curve* is a pair `(steps, values)` of 1-D arrays; steps need not be sorted or unique (MLflow returns
  duplicates after a resumed run), and values may hold NaN/inf (a diverged run).
- Non-finite values are *missing*, never zero: they are skipped by the smoother and by the seed aggregation,
  and each of those reports how many finite values it used where that matters. (Curves arrive downsampled:
  engine/curves.py's min/max/mean buckets, read by dashboard/data.)
- A metric's direction (is higher better?) is looked up by `direction()`, which knows the namespaced names
  (`metric/fid`) and the bare ones (`fid`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import signal, special
from scipy import stats as sps

Curve = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]

# Fields that name or schedule a run without changing what it learns: runs that differ only here are
# repetitions of one experiment ("group by everything except the seed", as Aim does).
IDENTITY_FIELDS: tuple[str, ...] = ("seed", "run_name", "run_id", "eval_every", "log_every", "device",
                                    "grid_size")

# True: higher is better. Keys are bare metric names; `direction()` also accepts `metric/…`-style names.
DIRECTIONS: dict[str, bool] = {
    "modes": True, "hq": True, "precision": True, "recall": True, "density": True, "coverage": True,
    "fid": False, "rkl_hq": False, "rkl_all": False, "w1": False, "jsd": False, "theory/d_err": False,
    "theory/jsd": False, "d_err": False,
    # the translation GANs' errors against the known map, each way and round trip, and the share of kept classes
    **{f"translation/{kind}_{way}": False for kind in ("l1", "l2") for way in ("xy", "yx", "cycle_x", "cycle_y")},
    "translation/class_kept": True,
}


def direction(metric: str) -> bool | None:
    """True when higher is better, False when lower is better, None when the metric has no direction."""
    if metric in DIRECTIONS:
        return DIRECTIONS[metric]
    bare = metric.rsplit("/", 1)[-1]
    return DIRECTIONS.get(bare)


# ---------------------------------------------------------------------------------------------- smoothing

def ema_smooth(values: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average.

    s_k = w s_{k-1} + (1 - w) v_k with s_0 = 0, reported as s_k / (1 - w^k), where k counts the finite values
    seen so far. Dividing by 1 - w^k removes the pull towards the zero start, so a constant stays that constant
    from the first point on. Non-finite values are skipped: they stay non-finite in the output and neither
    update the average nor advance k, so one NaN does not poison the rest of the curve.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"ema weight must be in [0, 1), got {weight}")
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    if weight == 0.0 or v.size == 0:
        return out
    finite = np.isfinite(v)
    x = v[finite]
    if x.size == 0:
        return out
    # The recursion as a linear IIR filter: y[n] = w y[n-1] + (1-w) x[n]; lfilter runs it in C.
    s = signal.lfilter([1.0 - weight], [1.0, -weight], x)
    k = np.arange(1, x.size + 1)
    out[finite] = s / (1.0 - weight ** k)
    return out


# ---------------------------------------------------------------------------------------- seed aggregation

def _clean_curve(steps: Any, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sort by step and keep the last value logged at a repeated step (a resumed run overwrites)."""
    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    if s.size:
        last = np.append(s[1:] != s[:-1], True)
        s, v = s[last], v[last]
    return s, v


def align_curves(curves: Sequence[Curve], grid: Sequence[float] | np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Put several runs' curves onto one step grid so they can be averaged point by point.

    The grid is `grid` when given, else the sorted union of every curve's steps (runs of one group normally
    log at the same steps, so the union adds nothing and no value is invented). Each curve is linearly
    interpolated between its own finite points and is NaN outside them: a run is never extrapolated past its
    last finite value, so a run that stopped or diverged early drops out of the average (and out of `n`)
    instead of being carried forward. A grid step at which a run logged a non-finite value stays NaN for it.

    Returns (grid, matrix) with matrix of shape (n_curves, len(grid)).
    """
    cleaned = [_clean_curve(s, v) for s, v in curves]
    if grid is None:
        parts = [s for s, _ in cleaned]
        g = np.unique(np.concatenate(parts)) if parts else np.empty(0)
    else:
        g = np.asarray(grid, dtype=np.float64)
    out = np.full((len(cleaned), g.size), np.nan)
    for i, (s, v) in enumerate(cleaned):  # one np.interp per run; runs are few, steps are many
        ok = np.isfinite(v)
        if not ok.any():
            continue
        sf, vf = s[ok], v[ok]
        row = np.interp(g, sf, vf)
        row[(g < sf[0]) | (g > sf[-1])] = np.nan
        # Grid points that hit a step logged as NaN/inf keep the gap instead of bridging it.
        bad = s[~ok]
        if bad.size:
            row[np.isin(g, bad)] = np.nan
        out[i] = row
    return g, out


Band = Literal["std", "se", "ci95", "minmax"]


def aggregate(curves: Sequence[Curve], band: Band = "std",
              grid: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
    """Mean across runs per step with a spread band, ignoring missing values.

    Bands: `std` mean ± sample SD (ddof 1); `se` mean ± SD/√n; `ci95` mean ± t_{0.975, n-1}·SD/√n (Student t,
    the right interval for a handful of seeds); `minmax` the lowest and highest run. Where fewer than two runs
    have a value the spread is undefined and lo/hi are NaN (the chart draws no band there; `n` says why).
    Curves are aligned with `align_curves` first. Columns: step, mean, lo, hi, n.
    """
    return pd.DataFrame(aggregate_arrays(curves, band, grid))


def aggregate_arrays(curves: Sequence[Curve], band: Band = "std",
                     grid: Sequence[float] | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """`aggregate`'s columns as arrays: a chart of a hundred groups calls it a hundred times, and a DataFrame each
    costs more than the arithmetic."""
    g, m = align_curves(curves, grid)
    n = np.isfinite(m).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: nanmean warns, NaN is right
        mean = np.nanmean(m, axis=0) if m.size else np.full(g.size, np.nan)
        if band == "minmax":
            lo = np.nanmin(m, axis=0) if m.size else mean.copy()
            hi = np.nanmax(m, axis=0) if m.size else mean.copy()
            lo = np.where(n >= 2, lo, np.nan)
            hi = np.where(n >= 2, hi, np.nan)
        else:
            sd = np.nanstd(m, axis=0, ddof=1) if m.size else np.full(g.size, np.nan)
            sd = np.where(n >= 2, sd, np.nan)
            if band == "std":
                half = sd
            elif band == "se":
                half = sd / np.sqrt(n)
            elif band == "ci95":
                tq = sps.t.ppf(0.975, np.maximum(n - 1, 1))
                half = tq * sd / np.sqrt(n)
            else:
                raise ValueError(f"band must be one of std, se, ci95, minmax; got {band!r}")
            lo, hi = mean - half, mean + half
    return {"step": g, "mean": mean, "lo": lo, "hi": hi, "n": n.astype(np.int64)}


# ------------------------------------------------------------------------------------------------ grouping

def _hashable(value: Any) -> Any:
    """Config values as dict keys: lists and dicts become their canonical JSON."""
    try:
        hash(value)
        return value
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)


def group_key(config: Mapping[str, Any], by: Sequence[str] | None = None,
              exclude: Iterable[str] = IDENTITY_FIELDS) -> tuple[tuple[str, Any], ...]:
    """The group a run belongs to, as a sorted tuple of (field, value) pairs.

    With `by`, only those fields count (a field the run lacks is None). Without, every field except `exclude`
    counts, which by default leaves out the seed and the fields that only name or schedule a run
    (`IDENTITY_FIELDS`), so seeds of one configuration fall into one group.
    """
    if by is not None:
        return tuple((k, _hashable(config.get(k))) for k in by)
    skip = set(exclude)
    return tuple(sorted((k, _hashable(v)) for k, v in config.items() if k not in skip))


def group_label(key: tuple[tuple[str, Any], ...], fields: Iterable[str] | None = None) -> str:
    """A legend label such as `loss=ns, pack=2`; `fields` restricts it to the fields that tell groups apart."""
    keep = None if fields is None else set(fields)
    parts = [f"{k}={v}" for k, v in key if keep is None or k in keep]
    return ", ".join(parts) if parts else "all runs"


def group_runs(configs: Mapping[str, Mapping[str, Any]], by: Sequence[str] | None = None,
               exclude: Iterable[str] = IDENTITY_FIELDS, presets: Mapping[str, str] | None = None,
               preset_configs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, list[str]]:
    """Run names per group, labelled by only the fields whose values differ between the groups.

    With `presets` (run -> the preset it was launched from) and `preset_configs` (preset -> its full config), and
    no `by`, a group whose runs all come from one known preset is labelled by the preset's name and then only
    those differing fields whose values are not the preset's own: `best-grid, dataset=ring` instead of the
    eight fields in which best-grid differs from its neighbours. A config diff stays the label of every other
    group, and of all groups should two labels coincide.
    """
    exclude = tuple(exclude)
    keys = {run: group_key(cfg, by, exclude) for run, cfg in configs.items()}
    members: dict[tuple, list[str]] = {}
    for run, key in keys.items():
        members.setdefault(key, []).append(run)
    # A field is informative when its value is not the same in every group.
    values: dict[str, set] = {}
    for key in members:
        for k, v in key:
            values.setdefault(k, set()).add(v)
    all_fields = {k for key in members for k, _ in key}
    varying = {k for k in all_fields
               if len(values.get(k, ())) > 1 or any(k not in dict(key) for key in members)}
    if by is not None:
        varying |= set(by)
    labels = {key: group_label(key, varying) for key in members}
    if by is None and presets and preset_configs:
        labels = _preset_labels(members, varying, presets, preset_configs) or labels
    return {labels[key]: runs for key, runs in members.items()}


def _preset_labels(members: Mapping[tuple, list[str]], varying: set[str], presets: Mapping[str, str],
                   preset_configs: Mapping[str, Mapping[str, Any]]) -> dict[tuple, str] | None:
    """Preset-named labels for group_runs, or None when two of them would coincide."""
    labels = {}
    for key, runs in members.items():
        named = {presets.get(run) for run in runs}
        preset = named.pop() if len(named) == 1 else None
        if preset not in preset_configs:
            labels[key] = group_label(key, varying)
            continue
        own = preset_configs[preset]
        labels[key] = ", ".join([preset, *(f"{k}={v}" for k, v in key
                                           if k in varying and (k not in own or _hashable(own[k]) != v))])
    return labels if len(set(labels.values())) == len(labels) else None


# ----------------------------------------------------------------------------------------- final metrics

def summarise_final(df_runs: pd.DataFrame, group_col: str, metric_cols: Sequence[str],
                    directions: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """Per group: runs, and for each metric its mean, standard error (SD/√n) and n over finite values.

    Columns: `group_col`, `runs`, then `<metric> mean`, `<metric> se`, `<metric> n` per metric; runs - n is
    how many runs failed on that metric (NaN, e.g. rkl_hq with no high-quality sample). The best group(s) per
    metric, by mean and the metric's direction (`directions` overrides `direction()`), are in
    `result.attrs["best"]` as {metric: [group, ...]}: a list because ties are common (8/8 modes); a metric with
    no known direction is absent.
    """
    rows = []
    for name, sub in df_runs.groupby(group_col, sort=True, dropna=False):
        row: dict[str, Any] = {group_col: name, "runs": len(sub)}
        for m in metric_cols:
            x = pd.to_numeric(sub[m], errors="coerce").to_numpy(dtype=np.float64)
            x = x[np.isfinite(x)]
            row[f"{m} mean"] = float(x.mean()) if x.size else np.nan
            row[f"{m} se"] = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size >= 2 else np.nan
            row[f"{m} n"] = int(x.size)
        rows.append(row)
    out = pd.DataFrame(rows)
    best: dict[str, list] = {}
    for m in metric_cols:
        higher = (directions or {}).get(m, direction(m))
        if higher is None or out.empty:
            continue
        means = out[f"{m} mean"].to_numpy(dtype=np.float64)
        if not np.isfinite(means).any():
            continue
        target = np.nanmax(means) if higher else np.nanmin(means)
        hit = np.isclose(means, target, rtol=1e-12, atol=0.0)
        best[m] = out.loc[hit, group_col].tolist()
    out.attrs["best"] = best
    return out


# ------------------------------------------------------------------------------------- significance tests

def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN p-values stay out of the family.

    With the m finite p-values sorted ascending, p_(i) is adjusted to max_{j<=i} min(1, (m - j + 1) p_(j)),
    so `adjusted < alpha` is Holm's rejection rule and keeps the family-wise error at alpha.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * q[order])
    adj = np.maximum.accumulate(adj)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """(mean_a - mean_b) / pooled SD, pooled SD = sqrt(((n_a-1) s_a² + (n_b-1) s_b²) / (n_a + n_b - 2))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return float("nan")
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    diff = a.mean() - b.mean()
    if pooled == 0.0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / pooled)


def hedges_correction(df: int) -> float:
    """Exact small-sample factor J(df) = Γ(df/2) / (sqrt(df/2) Γ((df-1)/2)) turning Cohen's d into Hedges' g."""
    if df < 2:
        return float("nan")
    return float(math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2))


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """P(a > b) - P(a < b) over all pairs; equals the rank-biserial correlation 2U_a/(n_a n_b) - 1."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0 or b.size == 0:
        return float("nan")
    diff = a[:, None] - b[None, :]  # n_a x n_b; seed counts are small, so the full table is cheap
    return float((np.sign(diff)).mean())


def pairwise_tests(groups: Mapping[str, Sequence[float] | np.ndarray], test: Literal["welch", "mannwhitney"]
                   = "welch", alpha: float = 0.05, against: str | None = None) -> pd.DataFrame:
    """Every pair of groups tested on one metric, two-sided, with Holm's correction over all pairs; or, with
    `against` (a group's name), that group against each other one (k - 1 pairs, a = `against`), Holm over those:
    what a sweep of many configs asks ("which differ from the best?") without k (k - 1) / 2 tests.

    `welch`: Welch's t (scipy `ttest_ind(equal_var=False)`), effect sizes Cohen's d and Hedges' g. `mannwhitney`:
    Mann-Whitney U (U of group a), effect size Cliff's delta (= rank-biserial). `effect` holds the headline effect
    size (g or delta); positive means a is larger. NaN values are dropped per group; a pair that cannot be tested
    (n < 2 for Welch, or zero variance) gets p = NaN, stays out of Holm's family and is not significant.
    Columns: a, b, n_a, n_b, mean_a, mean_b, statistic, p, p_holm, effect, [cohen_d, hedges_g | cliffs_delta],
    significant.
    """
    if test not in ("welch", "mannwhitney"):
        raise ValueError(f"test must be 'welch' or 'mannwhitney', got {test!r}")
    clean = {}
    for k, v in groups.items():
        x = np.asarray(v, dtype=np.float64)
        clean[k] = x[np.isfinite(x)]
    names = list(clean)
    if against is not None and against not in clean:
        raise ValueError(f"against: {against!r} is not one of the groups")
    pairs = [(against, n) for n in names if n != against] if against is not None else \
        [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    rows = []
    for name_a, name_b in pairs:
        a, b = clean[name_a], clean[name_b]
        row: dict[str, Any] = {"a": name_a, "b": name_b, "n_a": a.size, "n_b": b.size,
                               "mean_a": a.mean() if a.size else np.nan,
                               "mean_b": b.mean() if b.size else np.nan}
        stat = p = np.nan
        if test == "welch":
            if a.size >= 2 and b.size >= 2 and (a.var() > 0 or b.var() > 0):
                with warnings.catch_warnings():  # one constant group: scipy warns, the result is exact
                    warnings.simplefilter("ignore", RuntimeWarning)
                    r = sps.ttest_ind(a, b, equal_var=False)
                stat, p = float(r.statistic), float(r.pvalue)
            d = cohens_d(a, b)
            g = d * hedges_correction(a.size + b.size - 2)
            row.update(statistic=stat, p=p, effect=g, cohen_d=d, hedges_g=g)
        else:
            if a.size >= 1 and b.size >= 1 and np.ptp(np.concatenate([a, b])) > 0:
                r = sps.mannwhitneyu(a, b, alternative="two-sided")
                stat, p = float(r.statistic), float(r.pvalue)
            delta = cliffs_delta(a, b)
            row.update(statistic=stat, p=p, effect=delta, cliffs_delta=delta)
        rows.append(row)
    effect_cols = ["cohen_d", "hedges_g"] if test == "welch" else ["cliffs_delta"]
    cols = ["a", "b", "n_a", "n_b", "mean_a", "mean_b", "statistic", "p", "p_holm", "effect", *effect_cols,
            "significant"]
    out = pd.DataFrame(rows, columns=[c for c in cols if c not in ("p_holm", "significant")])
    out["p_holm"] = holm(out["p"].to_numpy(dtype=np.float64)) if len(out) else pd.Series(dtype=float)
    out["significant"] = (out["p_holm"] < alpha).astype(bool)
    return out[cols]


# ------------------------------------------------------------------------------------------ config diffing

def _same(x: Any, y: Any) -> bool:
    """Config equality that treats NaN as equal to NaN and 1e-4 as equal to 0.0001."""
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    if isinstance(x, bool) or isinstance(y, bool):  # True == 1 in Python, but a flag is not a count
        return type(x) is type(y) and x == y
    try:
        return bool(x == y)
    except Exception:  # noqa: BLE001 - exotic values that cannot compare count as different
        return False


def diff_only(configs: Mapping[str, Mapping[str, Any]], ignore: Iterable[str] = ()) -> pd.DataFrame:
    """Only the config fields whose value is not the same in every run: rows are fields, columns are runs.

    A field missing from some runs counts as differing (shown as None there). `ignore` drops fields such as
    the run name that always differ. The frame has object dtype so ints, floats and strings keep their type.
    """
    skip = set(ignore)
    runs = list(configs)
    fields = sorted({k for cfg in configs.values() for k in cfg} - skip)
    missing = object()
    keep = []
    for f in fields:
        vals = [configs[r].get(f, missing) for r in runs]
        first = vals[0]
        if any(v is missing for v in vals) or not all(_same(first, v) for v in vals[1:]):
            keep.append(f)
    data = {r: [configs[r].get(f) for f in keep] for r in runs}
    return pd.DataFrame(data, index=pd.Index(keep, name="field"), columns=runs, dtype=object)


# ------------------------------------------------------------------------------------------------ y-range

def robust_range(values: Sequence[float] | np.ndarray, q: tuple[float, float] = (0.01, 0.99),
                 pad: float = 0.05, log: bool = False) -> tuple[float, float] | None:
    """A y-range from the q-quantiles of the finite values, padded by `pad` of its width, so a few spikes
    (an exploding loss in one step) do not squash the rest of the curve into a flat line.

    With `log`, only positive values count and the range is in log10 units, as plotly's log axes expect.
    None when there is nothing finite to fit.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if log:
        v = np.log10(v[v > 0])
    if v.size == 0:
        return None
    lo, hi = np.quantile(v, q)
    width = hi - lo
    if width <= 0:  # a flat curve: give it some room instead of a zero-height axis
        width = abs(lo) if lo != 0 else 1.0
    return float(lo - pad * width), float(hi + pad * width)
