"""Plotly figure builders for the dashboard's pages: pure functions from arrays to `go.Figure`.

No I/O, no Streamlit, no MLflow: pages fetch data (through the data-access module), pass plain arrays here and
hand the figure to `st.plotly_chart`; tests inspect the returned figure's traces. No template is set, so the
Streamlit theme styles every figure the same way.

Conventions
- Every trace carries a `name`; the traces that belong to one series share a `legendgroup`, so clicking the
  legend hides a run's line, band and envelope together, and only the main line shows in the legend.
- Theory reference lines are traces (not layout shapes), so they also work on log axes and tests can read
  their y values; their `meta` is {"reference": label}.
- 2-D panels (samples, D fields) use equal axis scales: a circle of modes must look like a circle.
- Spreads never leave a metric's possible range (`metric_range`: the ranges engine.metrics' registry declares):
  bands and envelopes are clipped there, and a clipped band's `meta` is {"clipped": points cut}.
- Colours belong to a series' place in the full, stable list of groups or runs, never to its place among the
  series that happen to be drawn, so a group keeps its colour on every chart of a page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go

from dashboard.stats import direction, ema_smooth, robust_range
from engine.losses import SIGMOID_D

LOG4 = math.log(4.0)

# Theory lines per logged metric: (value, label). D's outputs and the BCE D loss only have these equilibria
# when D's sigmoid is a probability (minimax / ns), hence `references_for`. theory/v_star = V(D*, G) reaches
# -log 4 at p_g = p_data whatever the training loss (it is computed from the analytic D*); theory/v is only
# logged for probability losses in the first place.
REFERENCE_LINES: dict[str, list[tuple[float, str]]] = {
    "d/real": [(0.5, "equilibrium D = 1/2")],
    "d/fake": [(0.5, "equilibrium D = 1/2")],
    "loss/d": [(LOG4, "BCE D loss at equilibrium, log 4")],
    "theory/v": [(-LOG4, "V at p_g = p_data, -log 4")],
    "theory/v_star": [(-LOG4, "V(D*, G) at p_g = p_data, -log 4")],
}
_PROBABILITY_ONLY = {"d/real", "d/fake", "loss/d"}

PALETTE: list[str] = list(pc.qualitative.Plotly)
LEGEND_SIDE_CHARS = 40  # series names longer than this go in a legend under the plot instead of beside it
LEGEND_ROW_PX = 21


def references_for(metric: str, losses: set[str] | Sequence[str]) -> list[dict[str, Any]]:
    """The reference lines that are true for `metric` given the losses of the runs on the chart.

    Lines tied to the probability interpretation of D are returned only when every run uses minimax or ns;
    one hinge or Wasserstein run on the chart would make "D = 1/2" a false promise.
    """
    lines = REFERENCE_LINES.get(metric, [])
    if metric in _PROBABILITY_ONLY:
        losses = set(losses)
        if not losses or not losses <= set(SIGMOID_D):
            return []
    return [{"y": y, "label": label} for y, label in lines]


# Training signals whose range depends on the loss: D's mean outputs are sigmoid probabilities for the BCE losses
# (engine.losses.SIGMOID_D) and raw scores otherwise (losses.LossTerms; lsgan's too). The evaluation metrics
# declare their ranges in engine.metrics' registry.
_PROBABILITY_RANGES: dict[str, tuple[float, float]] = {"d/real": (0.0, 1.0), "d/fake": (0.0, 1.0)}
# Logged only where D is a probability (engine.metrics.theory_stats with d_is_prob: losses.PROBABILITY_D).
_PROBABILITY_D_KEYS = ("theory/v", "theory/d_err")


@lru_cache(maxsize=16)
def _mixture(name: str):
    from engine.data import get_dataset  # imports torch: only once a chart needs a data set's ground truth

    try:
        return get_dataset(name)
    except ValueError:  # a run from another tool, or a data set this engine no longer has
        return None


def metric_range(metric: str, datasets: Iterable[str] = (), losses: Iterable[str] = ()) -> tuple[float, float]:
    """(low, high) of the values `metric` can take in runs of these data sets and losses: the range its registry
    row declares (engine.metrics.value_range), the widest over the data sets where it depends on them (0 to K
    modes), -inf / inf where nothing bounds it (an unknown data set leaves a data-set bound open)."""
    if metric in _PROBABILITY_RANGES:
        losses = set(losses)
        probability = bool(losses) and losses <= set(SIGMOID_D)
        return _PROBABILITY_RANGES[metric] if probability else (-math.inf, math.inf)
    from engine.metrics import value_range

    ranges = [value_range(metric, _mixture(str(name))) for name in set(datasets)] or [value_range(metric)]
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def _format_range(lo: float, hi: float) -> str:
    if math.isinf(hi):
        return f"≥ {lo:g}"
    if math.isinf(lo):
        return f"≤ {hi:g}"
    return f"{lo:g} to {hi:.4g}"


def clipped_note(fig: go.Figure, metric: str, ranges: Mapping[str, tuple[float, float]]) -> str:
    """'' or a caption note saying how many bands `curves_figure` clipped, and at which of the metric's possible
    ranges (`ranges`: each series' range by its name)."""
    cut = [t.legendgroup for t in fig.data if isinstance(t.meta, dict) and t.meta.get("clipped")]
    if not cut:
        return ""
    shown = sorted({ranges[name] for name in cut if name in ranges})
    where = " or ".join(_format_range(lo, hi) for lo, hi in shown)
    return (f"band of {len(cut)} group(s) clipped at what {metric} can take ({where}): a symmetric spread of a "
            "bounded metric overshoots near its bounds")


def not_logged_notes(metric: str, runs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Caption notes on the runs of a chart that have no value of `metric`; each run is a mapping with `active`,
    `loss` and `dataset`. Runs for which the engine never logs it are told apart with the engine's rule (theory/v
    and theory/d_err only where D is a probability, mode metrics only on data sets with modes), then runs still
    active (they may log it later), then ended runs that did not (they stopped before its first evaluation, or
    the metric is not one every run logs)."""
    from engine.losses import PROBABILITY_D
    from engine.metrics import METRICS

    mode_keys = {k for m in METRICS.values() if m.needs_modes for k in m.keys}
    critics: dict[str, int] = {}
    no_modes: dict[str, int] = {}
    later = ended = 0
    for run in runs:
        loss, dataset = str(run.get("loss") or ""), str(run.get("dataset") or "")
        mixture = _mixture(dataset) if metric in mode_keys and dataset else None
        if metric in _PROBABILITY_D_KEYS and loss and loss not in PROBABILITY_D:
            critics[loss] = critics.get(loss, 0) + 1
        elif mixture is not None and not mixture.has_modes:
            no_modes[dataset] = no_modes.get(dataset, 0) + 1
        elif run.get("active"):
            later += 1
        else:
            ended += 1
    notes = []
    if critics:
        which = ", ".join(f"{loss} ({n})" for loss, n in sorted(critics.items()))
        notes.append(f"{sum(critics.values())} run(s) never log {metric}: the engine logs it only for losses whose "
                     f"D is a probability ({', '.join(PROBABILITY_D)}), and these are critics: {which}")
    if no_modes:
        which = ", ".join(f"{d} ({n})" for d, n in sorted(no_modes.items()))
        notes.append(f"{sum(no_modes.values())} run(s) never log {metric}: mode metrics need a data set with "
                     f"modes, not {which}")
    if later:
        notes.append(f"{later} run(s) have not logged {metric} yet (still active: they may log it later)")
    if ended:
        notes.append(f"{ended} ended run(s) never logged {metric}")
    return notes


def _in_view(x: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    """Rows of the (N, 2) points that lie inside bounds = (xmin, xmax, ymin, ymax); non-finite rows do not."""
    x0, x1, y0, y1 = bounds
    return np.isfinite(x).all(1) & (x[:, 0] >= x0) & (x[:, 0] <= x1) & (x[:, 1] >= y0) & (x[:, 1] <= y1)


def view_note(x: np.ndarray | None, bounds: Sequence[float] | None) -> str:
    """'k of N samples outside the view' (and how many are not finite, a diverged G's NaN), or '' when every
    sample of `x` is drawn inside `bounds`. One wording for every samples panel (gallery, artifacts)."""
    if x is None or bounds is None:
        return ""
    p = np.asarray(x, dtype=np.float64).reshape(-1, 2)
    finite = np.isfinite(p).all(1)
    out = int((finite & ~_in_view(p, bounds)).sum())
    parts = [f"{out} of {len(p)} samples outside the view"] if out else []
    if not finite.all():
        parts.append(f"{int((~finite).sum())} of {len(p)} samples not finite")
    return " · ".join(parts)


HIDDEN_MARK = 0.02  # a circle whose radius is under this share of the view's width hides under a mode's × mark


def contours_resolve(cell: float | None, sigma: float | None, has_modes: bool) -> bool:
    """Whether a log-density grid with cells `cell` wide can draw a data set's shape: an isolated mode narrower
    than a cell comes out as a speck around the nearest grid point, not as the mode's circles."""
    return cell is not None and (not has_modes or sigma is None or cell <= sigma)


def truth_note(datasets: Sequence[Mapping[str, Any]], contours: bool) -> str:
    """What a gallery panel draws of each data set's truth, said at the scale it is drawn, so that the caption
    promises only what can be seen. Each data set is {name, has_modes, n_modes, sigma, width (of the view), cell
    (of the log-density grid, None without one)}; `contours`: the user asked for log p_data's contours."""
    parts = []
    for d in datasets:
        name, cell = d["name"] or "unknown data set", d.get("cell")
        drawn = contours and contours_resolve(cell, d.get("sigma"), d["has_modes"])
        if not d["has_modes"]:
            parts.append(f"{name}: " + ("grey lines, contours of log p_data" if drawn else "no modes to mark"))
            continue
        r = 3.0 * float(d["sigma"])
        text = (f"{name}: × the {d['n_modes']} mode centres, dotted circles the 3σ high-quality radius {r:g} "
                f"(σ = {d['sigma']:g}) to scale")
        if r < HIDDEN_MARK * float(d["width"]):
            text += (f", so in this {d['width']:g}-wide view they hide under the × (drag a box on a panel to zoom "
                     "in, double-click to zoom out)")
        if drawn:
            text += ", grey lines the contours of log p_data"
        elif contours and cell is not None:
            text += f", and no log p_data contours: its modes are narrower than the {cell:.2g}-wide grid cells"
        parts.append(text)
    return "; ".join(parts)


def covering_view(x: np.ndarray, bounds: Sequence[float], max_zoom_out: float = 3.0) -> tuple[float, ...]:
    """A square view around `bounds`' centre that holds `bounds` and every finite sample of `x` (with a 5 %
    margin), but at most `max_zoom_out` times as wide as `bounds`: a diverged G's far-away samples must not shrink
    the data set to a dot. Samples beyond it stay out of view; `view_note` counts them."""
    x0, x1, y0, y1 = (float(b) for b in bounds)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
    p = np.asarray(x, dtype=np.float64).reshape(-1, 2)
    p = p[np.isfinite(p).all(1)]
    if len(p):
        need = 1.05 * float(max(np.abs(p[:, 0] - cx).max(), np.abs(p[:, 1] - cy).max()))
        half = min(max(half, need), max_zoom_out * half)
    return cx - half, cx + half, cy - half, cy + half


def _rgba(color: str, alpha: float) -> str | None:
    """`color` ('#rrggbb', 'rgb(r,g,b)' or 'rgba(...)') with a new alpha; None for names plotly must resolve."""
    c = color.strip()
    try:
        if c.startswith("#"):
            r, g, b = pc.hex_to_rgb(c)
        elif c.startswith("rgb"):
            inner = c[c.index("(") + 1:c.rindex(")")].split(",")
            r, g, b = (float(t) for t in inner[:3])
        else:
            return None
    except (ValueError, IndexError):
        return None
    return f"rgba({int(r)}, {int(g)}, {int(b)}, {alpha})"


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _area(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, name: str, group: str, color: str,
          alpha: float, trace_cls: type = go.Scatter) -> go.Scatter:
    """A filled area between lo and hi as one closed polygon (x forwards along hi, back along lo).

    Points where either bound is missing are dropped, so an undefined spread (one seed) draws no band there
    rather than a band of zero width.
    """
    ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
    xs, los, his = x[ok], lo[ok], hi[ok]
    fill = _rgba(color, alpha)
    return trace_cls(x=np.concatenate([xs, xs[::-1]]), y=np.concatenate([his, los[::-1]]), fill="toself",
                     fillcolor=fill, line=dict(width=0), opacity=1.0 if fill else alpha, name=name,
                     legendgroup=group, showlegend=False, hoverinfo="skip", mode="lines")


def _reference_trace(ref: Mapping[str, Any], x0: float, x1: float) -> go.Scatter:
    y = float(ref["y"])
    label = str(ref.get("label", ""))
    return go.Scatter(x=[x0, x1], y=[y, y], mode="lines+text", text=["", label], textposition="top left",
                      line=dict(color="gray", width=1, dash="dash"), name=label, showlegend=False,
                      hovertemplate=f"{label}: {y:.4g}<extra></extra>", meta={"reference": label},
                      textfont=dict(color="gray", size=11))


def curves_figure(series: Sequence[Mapping[str, Any]], *, smoothing: float = 0.0, log_y: bool = False,
                  robust_y: bool = False, x_title: str = "step", y_title: str | None = None,
                  references: Sequence[Mapping[str, Any]] | None = None, title: str | None = None,
                  webgl: bool = False, height: int | None = None, raw_lines: bool = True,
                  legend: bool = True) -> go.Figure:
    """Line chart of several series with optional smoothing, seed bands, downsampling envelopes and theory lines.

    Each series is a dict with `name`, `x`, `y` and optionally `lo`/`hi` (a spread band, e.g. from
    `stats.aggregate`), `ymin`/`ymax` (a downsampling envelope: the buckets' min and max, data.Curve), `color` and
    `dash`, and `range` = (low, high), the values the metric can take (`metric_range`), where the band and the
    envelope are clipped (after smoothing): a ± std band of a mode count must not promise negative modes; a band
    that was cut has meta {"clipped": points}. Traces per series, in drawing order: envelope (`<name> min/max`,
    lightest), band (`<name> band`), raw line (`<name> raw`, faint, only when smoothing > 0) and the main line
    (`<name>`, EMA-smoothed when smoothing > 0). Bands are smoothed with the line so they stay around it;
    envelopes are not, since their job is to show the spikes. `references` are dicts {y, label}, drawn as dashed
    lines across the x range (non-positive ones are skipped on a log axis). `robust_y` fits the y-axis to the
    1-99 % quantiles of the raw values instead of their extremes. `webgl` draws lines with Scattergl for hundreds
    of runs. Names longer than LEGEND_SIDE_CHARS put the legend under the plot, one entry per row, and add its
    rows to `height`. `raw_lines` False leaves the faint raw lines out; `legend` False hides the legend (a
    chart of a hundred groups, whose names hovering a line shows).
    """
    traces: list[Any] = []  # handed to the Figure at once: a hundred lines built one add_trace at a time is slow
    line_type = "scattergl" if webgl else "scatter"
    all_y: list[np.ndarray] = []
    xs_seen: list[np.ndarray] = []
    for i, s in enumerate(series):
        name = str(s["name"])
        color = s.get("color") or PALETTE[i % len(PALETTE)]
        x, y = _arr(s["x"]), _arr(s["y"])
        xs_seen.append(x[np.isfinite(x)])
        all_y.append(y)
        floor, ceiling = s.get("range") or (-math.inf, math.inf)
        if s.get("ymin") is not None and s.get("ymax") is not None:
            traces.append(_area(x, np.clip(_arr(s["ymin"]), floor, ceiling), np.clip(_arr(s["ymax"]), floor, ceiling),
                                name=f"{name} min/max", group=name, color=color, alpha=0.12))
        if s.get("lo") is not None and s.get("hi") is not None:
            lo, hi = _arr(s["lo"]), _arr(s["hi"])
            if smoothing > 0:
                lo, hi = ema_smooth(lo, smoothing), ema_smooth(hi, smoothing)
            cut = int(((lo < floor) | (hi > ceiling)).sum())  # NaN compares False: an undefined spread is not cut
            band = _area(x, np.clip(lo, floor, ceiling), np.clip(hi, floor, ceiling), name=f"{name} band",
                         group=name, color=color, alpha=0.25)
            if cut:
                band.meta = {"clipped": cut}
            traces.append(band)
        main_y = y
        if smoothing > 0 and raw_lines:
            traces.append(dict(type=line_type, x=x, y=y, mode="lines", name=f"{name} raw", legendgroup=name,
                               showlegend=False, line=dict(color=color, width=1, dash=s.get("dash")), opacity=0.3,
                               hoverinfo="skip"))
        if smoothing > 0:
            main_y = ema_smooth(y, smoothing)
        traces.append(dict(type=line_type, x=x, y=main_y, mode="lines", name=name, legendgroup=name,
                           line=dict(color=color, width=2, dash=s.get("dash")),
                           hovertemplate=f"{name}<br>{x_title} %{{x}}<br>%{{y:.4g}}<extra></extra>"))

    if references and xs_seen and any(a.size for a in xs_seen):
        x0 = min(float(a.min()) for a in xs_seen if a.size)
        x1 = max(float(a.max()) for a in xs_seen if a.size)
        for ref in references:
            if log_y and float(ref["y"]) <= 0:
                continue
            traces.append(_reference_trace(ref, x0, x1))

    yaxis: dict[str, Any] = dict(title=dict(text=y_title), type="log" if log_y else "linear")
    if robust_y and all_y:
        rng = robust_range(np.concatenate([a.ravel() for a in all_y]), log=log_y)
        if rng is not None:
            yaxis["range"] = list(rng)
    legend_layout: dict[str, Any] = dict(groupclick="togglegroup")
    names = [str(s["name"]) for s in series]
    if legend and names and max(map(len, names)) > LEGEND_SIDE_CHARS:
        # Long group labels beside the plot would squeeze it to a sliver: put them under it, one per row
        # (plotly's automargin takes their rows out of the height, so the height grows by as much).
        legend_layout.update(orientation="h", x=0, xanchor="left", y=-0.12, yanchor="top", entrywidth=1,
                             entrywidthmode="fraction")
        height = (height or 450) + LEGEND_ROW_PX * len(names)
    layout = dict(title=title, hovermode="closest", margin=dict(l=50, r=20, t=40 if title else 20, b=40),
                  legend=legend_layout, height=height, xaxis=dict(title=dict(text=x_title)), yaxis=yaxis)
    if not legend:
        layout["showlegend"] = False
    return go.Figure(data=traces, layout=layout)


def parallel_coordinates(df: pd.DataFrame, dims: Sequence[str], color_metric: str,
                         colorscale: str = "Viridis") -> go.Figure:
    """One line per run across the chosen config fields and metrics (MLflow's parallel-coordinates view).

    Non-numeric columns (loss names, booleans) become integer codes with their labels as ticks. The colour is
    `color_metric`, oriented so that the better end of the scale is always the bright one (reversed for metrics
    where lower is better).
    """
    def encode(col: pd.Series) -> dict[str, Any]:
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            return {"values": col.to_numpy(dtype=np.float64)}
        labels = col.astype(str)
        cats = sorted(labels.unique())
        codes = labels.map({c: i for i, c in enumerate(cats)}).to_numpy(dtype=np.float64)
        # A single category still needs a non-empty axis range.
        rng = [-0.5, 0.5] if len(cats) == 1 else [0, len(cats) - 1]
        return {"values": codes, "tickvals": list(range(len(cats))), "ticktext": cats, "range": rng}

    dimensions = [dict(label=d, **encode(df[d])) for d in dims]
    color = encode(df[color_metric])["values"]
    higher = direction(color_metric)
    fig = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line=dict(color=color, colorscale=colorscale, reversescale=higher is False, showscale=True,
                  colorbar=dict(title=dict(text=color_metric))),
    ))
    fig.update_layout(margin=dict(l=60, r=60, t=40, b=20))
    return fig


def _equal_axes(fig: go.Figure, bounds: Sequence[float] | None) -> None:
    if bounds is not None:
        xmin, xmax, ymin, ymax = bounds
        fig.update_xaxes(range=[xmin, xmax], constrain="domain")
        fig.update_yaxes(range=[ymin, ymax], constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)


def quiver_segments(points: np.ndarray, vectors: np.ndarray, scale: float | None, bounds: Sequence[float] | None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (with None-breaks) for arrows and their heads, in one trace so a field stays one legend item.

    Without `scale` the longest arrow is 8 % of the panel's width, so directions read on any loss's scale.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    v = np.asarray(vectors, dtype=np.float64).reshape(-1, 2)
    ok = np.isfinite(p).all(1) & np.isfinite(v).all(1)
    p, v = p[ok], v[ok]
    if scale is None:
        width = (bounds[1] - bounds[0]) if bounds is not None else (np.ptp(p[:, 0]) if len(p) else 1.0) or 1.0
        longest = np.linalg.norm(v, axis=1).max() if len(v) else 0.0
        scale = 0.08 * width / longest if longest > 0 else 0.0
    tip = p + scale * v
    # Arrow heads: two short strokes at +-25 degrees back from the tip, 30 % of the shaft.
    back = -(tip - p) * 0.3
    c, s = math.cos(math.radians(25.0)), math.sin(math.radians(25.0))
    h1 = tip + np.stack([back[:, 0] * c - back[:, 1] * s, back[:, 0] * s + back[:, 1] * c], axis=1)
    h2 = tip + np.stack([back[:, 0] * c + back[:, 1] * s, -back[:, 0] * s + back[:, 1] * c], axis=1)
    nan = np.full_like(p, np.nan)
    seg = np.stack([p, tip, nan, h1, tip, h2, nan], axis=1).reshape(-1, 2)
    return seg[:, 0], seg[:, 1]


def field_figure(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, title: str | None = None,
                 zmin: float | None = None, zmax: float | None = None, colorscale: str = "RdBu") -> go.Figure:
    """A scalar field on the evaluation grid (D, D*, |D - D*|); z has shape (len(ys), len(xs)).

    Pass zmin/zmax (0 and 1 for probabilities) so that panels of several runs share one colour meaning.
    """
    fig = go.Figure(go.Heatmap(x=_arr(xs), y=_arr(ys), z=np.asarray(z), zmin=zmin, zmax=zmax,
                               colorscale=colorscale, name=title or "field",
                               colorbar=dict(thickness=10),
                               hovertemplate="x %{x:.2f}, y %{y:.2f}: %{z:.3g}<extra></extra>"))
    _equal_axes(fig, (float(np.min(xs)), float(np.max(xs)), float(np.min(ys)), float(np.max(ys))))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=30 if title else 10, b=10))
    return fig


def mode_histogram_figure(steps: Sequence[float] | np.ndarray, shares: np.ndarray,
                          mode_labels: Sequence[str] | None = None, title: str | None = None,
                          kind: str = "mode") -> go.Figure:
    """Share of samples per mode (or per `kind`: a classifier's classes) over training: `shares` (T, K), drawn with
    modes as rows (z = shares.T).

    Mode collapse reads as one bright row; mode hopping as a bright cell that wanders between rows. The colour
    scale starts at 0, so an uncovered mode is the darkest colour.
    """
    sh = np.asarray(shares, dtype=np.float64)
    k = sh.shape[1]
    labels = list(mode_labels) if mode_labels is not None else [str(i) for i in range(k)]
    finite = sh[np.isfinite(sh)]
    fig = go.Figure(go.Heatmap(x=_arr(steps), y=labels, z=sh.T, zmin=0.0,
                               zmax=float(finite.max()) if finite.size and finite.max() > 0 else 1.0,
                               colorscale="Viridis", name="mode share",
                               colorbar=dict(title=dict(text="share of<br>samples", side="top"), thickness=10,
                                             tickformat=".0%"),
                               hovertemplate="step %{x}<br>" + kind + " %{y}: %{z:.1%}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=kind,
                      margin=dict(l=50, r=10, t=30 if title else 10, b=40))
    return fig


def value_function_figure(steps: Sequence[float] | np.ndarray, v: Sequence[float] | np.ndarray,
                          v_star: Sequence[float] | np.ndarray | None,
                          v_star_steps: Sequence[float] | np.ndarray | None = None,
                          title: str | None = None, color: str | None = None) -> go.Figure:
    """The logged V(D, G) beside the theory V(D*, G) = -log 4 + 2·JSD(p_data || p_g), with the -log 4 floor.

    D* maximises V for a fixed G, so the logged curve should stay below the theory one; the gap is how far D
    is from optimal, and the theory curve's distance to -log 4 is twice the Jensen-Shannon divergence.
    `v_star_steps` defaults to `steps` (pass it when V(D*, G) is evaluated less often than V is logged).
    `color` is the run's (the logged curve); the theory curve is dark grey, the floor a reference line.
    """
    fig = go.Figure()
    s = _arr(steps)
    fig.add_trace(go.Scatter(x=s, y=_arr(v), mode="lines", name="V(D, G) logged", line=dict(width=2, color=color)))
    xs = [s]
    if v_star is not None:
        ss = s if v_star_steps is None else _arr(v_star_steps)
        xs.append(ss)
        fig.add_trace(go.Scatter(x=ss, y=_arr(v_star), mode="lines+markers", name="V(D*, G) = -log 4 + 2 JSD",
                                 line=dict(width=2, dash="dot", color="#444444"), marker=dict(color="#444444")))
    allx = np.concatenate(xs)
    allx = allx[np.isfinite(allx)]
    if allx.size:
        fig.add_trace(_reference_trace({"y": -LOG4, "label": "-log 4 (p_g = p_data)"}, float(allx.min()),
                                       float(allx.max())))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="V", hovermode="x unified",
                      margin=dict(l=50, r=10, t=30 if title else 10, b=40))
    return fig


def filmstrip_figure(cells: Sequence[Sequence[np.ndarray | None]], row_labels: Sequence[str],
                     col_labels: Sequence[str], *, notes: Sequence[Sequence[str]] | None = None,
                     means: np.ndarray | None = None, bounds: Sequence[float] | None = None,
                     colors: Sequence[str] | None = None, marker_size: float = 2.0, cell_px: int = 140,
                     webgl: bool = False) -> go.Figure:
    """Runs as rows, steps as columns: one small scatter of samples per cell, all in one figure.

    `cells[i][j]` is row i's (N, 2) samples for column j, or None where there is nothing to show (the cell then
    says "no snapshot"); `notes[i][j]` is a short text in the cell's top-left corner (e.g. that an earlier
    snapshot stands in). Every cell shows the same view `bounds` = (xmin, xmax, ymin, ymax) (default: all points
    and modes), so cells compare by eye; `means` marks the modes in every cell.

    The cells are tiles of ONE pair of axes, each offset by its row and column, rather than rows x cols subplots:
    a hundred subplots take seconds to build and to draw, one axis pair takes milliseconds. Points outside
    `bounds` are dropped (they would land in the next tile) and counted in the cell's note. One trace per row,
    named by its row label; hover shows the original coordinates (customdata) and the column. `meta` of a row's
    trace is {"row": i, "counts": points drawn per column}.
    """
    n_rows, n_cols = len(row_labels), len(col_labels)
    if n_rows == 0 or n_cols == 0:
        return go.Figure()
    mu = None if means is None else np.asarray(means, dtype=np.float64).reshape(-1, 2)
    if bounds is None:
        parts = [np.asarray(c, dtype=np.float64).reshape(-1, 2) for row in cells for c in row if c is not None]
        if mu is not None:
            parts.append(mu)
        pts = np.concatenate(parts) if parts else np.zeros((1, 2))
        pts = pts[np.isfinite(pts).all(1)]
        lo, hi = (pts.min(0), pts.max(0)) if len(pts) else (np.zeros(2), np.ones(2))
        half = max(float((hi - lo).max()) / 2, 1e-6) * 1.05
        c = (lo + hi) / 2
        bounds = (c[0] - half, c[0] + half, c[1] - half, c[1] + half)
    x0, x1, y0, y1 = (float(b) for b in bounds)
    bw, bh = x1 - x0, y1 - y0
    pad = 0.06 * max(bw, bh)
    scatter = "scattergl" if webgl else "scatter"

    def origin(i: int, j: int) -> tuple[float, float]:  # lower-left corner of tile (i, j); row 0 on top
        return j * (bw + pad), (n_rows - 1 - i) * (bh + pad)

    traces: list[dict[str, Any]] = []  # dicts: validated once, by the Figure
    annotations: list[dict[str, Any]] = []  # row and column labels only: each annotation costs ~2 ms to validate
    missing: list[tuple[float, float]] = []
    note_xyt: list[tuple[float, float, str]] = []
    frame_x: list[float | None] = []
    frame_y: list[float | None] = []
    for i in range(n_rows):
        color = (colors[i] if colors is not None and i < len(colors) else None) or PALETTE[i % len(PALETTE)]
        xs_row, ys_row, custom, counts = [], [], [], []
        for j in range(n_cols):
            ox, oy = origin(i, j)
            frame_x += [ox, ox + bw, ox + bw, ox, ox, None]
            frame_y += [oy, oy, oy + bh, oy + bh, oy, None]
            note = notes[i][j] if notes is not None else ""
            x = cells[i][j]
            if x is None:
                counts.append(0)
                missing.append((ox + bw / 2, oy + bh / 2))
            else:
                p = np.asarray(x, dtype=np.float64).reshape(-1, 2)
                p_in = p[_in_view(p, (x0, x1, y0, y1))]
                counts.append(int(len(p_in)))
                if len(p_in) < len(p):
                    note = f"{note} · {len(p) - len(p_in)} outside" if note else f"{len(p) - len(p_in)} outside"
                xs_row.append(p_in[:, 0] - x0 + ox)
                ys_row.append(p_in[:, 1] - y0 + oy)
                custom.append(np.column_stack([p_in, np.full(len(p_in), j)]))
            if note:
                note_xyt.append((ox + 0.02 * bw, oy + 0.98 * bh, note))
        if xs_row:
            traces.append(dict(type=scatter, x=np.concatenate(xs_row), y=np.concatenate(ys_row), mode="markers",
                               name=str(row_labels[i]), customdata=np.concatenate(custom),
                               marker=dict(size=marker_size, color=color, opacity=0.6), showlegend=False,
                               meta={"row": i, "counts": counts},
                               hovertemplate=f"{row_labels[i]}<br>(%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}})"
                                             "<extra></extra>"))
        annotations.append(dict(text=str(row_labels[i]), x=-pad / 2, y=origin(i, 0)[1] + bh / 2, textangle=-90,
                                xanchor="right", showarrow=False, font=dict(size=11)))
    if mu is not None:
        tiles = [origin(i, j) for i in range(n_rows) for j in range(n_cols)]
        mx = np.concatenate([mu[:, 0] - x0 + ox for ox, _ in tiles])
        my = np.concatenate([mu[:, 1] - y0 + oy for _, oy in tiles])
        traces.insert(0, dict(type="scatter", x=mx, y=my, mode="markers", name="modes", showlegend=False,
                              hoverinfo="skip", marker=dict(symbol="x-thin", size=6, line=dict(width=1, color="gray"))))
    traces.insert(0, dict(type="scatter", x=frame_x, y=frame_y, mode="lines", name="tiles", showlegend=False,
                          hoverinfo="skip", line=dict(color="lightgray", width=1)))
    if missing:
        mx, my = zip(*missing)
        traces.append(dict(type="scatter", x=mx, y=my, mode="text", text=["no snapshot"] * len(mx), name="missing",
                           showlegend=False, hoverinfo="skip", textfont=dict(color="gray", size=11)))
    if note_xyt:
        nx, ny, nt = zip(*note_xyt)
        traces.append(dict(type="scatter", x=nx, y=ny, mode="text", text=nt, textposition="bottom right",
                           name="notes", showlegend=False, hoverinfo="skip", textfont=dict(color="gray", size=10)))
    for j, label in enumerate(col_labels):
        annotations.append(dict(text=str(label), x=origin(0, j)[0] + bw / 2, y=origin(0, j)[1] + bh + pad / 4,
                                yanchor="bottom", showarrow=False, font=dict(size=12)))
    total_w, total_h = n_cols * (bw + pad) - pad, n_rows * (bh + pad) - pad
    fig = go.Figure(data=traces, layout=dict(annotations=annotations))
    fig.update_xaxes(visible=False, range=[-pad * 1.2, total_w + pad * 0.2], constrain="domain")
    fig.update_yaxes(visible=False, range=[-pad * 0.2, total_h + pad * 1.2], scaleanchor="x", scaleratio=1,
                     constrain="domain")
    fig.update_layout(height=int(n_rows * cell_px + 40), showlegend=False, margin=dict(l=20, r=10, t=10, b=10))
    return fig


def gallery_panel_figure(x: np.ndarray | None, *, field: Mapping[str, Any] | None = None,
                         contours: Mapping[str, Any] | None = None,
                         arrows: tuple[np.ndarray, np.ndarray] | None = None, means: np.ndarray | None = None,
                         sigma: float | None = None, bounds: Sequence[float] | None = None,
                         arrow_scale: float | None = None, color: str = "#EF553B", marker_size: float = 3.0,
                         arrow_color: str = "black", height: int = 300, colorbar: bool = True,
                         title: str | None = None, frame_color: str | None = None) -> go.Figure:
    """One panel of the gallery scrubber: generated samples over the truth, built in one go.

    Layers, bottom to top (each optional), with their trace names: `field` heatmap {xs, ys, z (len(ys), len(xs)),
    title, and optional zmin, zmax, colorscale, ticks} such as D(x) or |D - D*|, named by its title; "log p_data"
    `contours` of the true log-density {xs, ys, z}; the "grad" quiver of `arrows` = (points (M, 2), vectors
    (M, 2)), e.g. grad D; the "modes" `means` (K, 2) with their "3σ" high-quality circles when `sigma` is given
    (the protocol's HQ radius); the "samples" `x` (N, 2), which may be None for a field-only panel (D*,
    |D - D*| beside the samples). `bounds` = (xmin, xmax, ymin, ymax) fixes the view so panels line up.
    The field's colour bar (`colorbar`) is titled by its `title` and labels the values in its optional `ticks`
    [(value, text), ...], e.g. "1 real" and "0 fake", so a panel explains its colours by itself; `title` heads
    the panel, and `frame_color` (a run's colour) draws its frame. Traces are passed to the Figure as dicts and
    the layout in one dict, which builds a panel in about a quarter of the time of add_trace / update_* calls
    (each revalidates): with 16 runs and three panels each, that is what keeps a slider move under a second.
    """
    data: list[dict[str, Any]] = []
    if field is not None:
        what = str(field.get("title", "field"))
        data.append(dict(type="heatmap", x=_arr(field["xs"]), y=_arr(field["ys"]), z=np.asarray(field["z"]),
                         zmin=field.get("zmin"), zmax=field.get("zmax"), colorscale=field.get("colorscale", "RdBu"),
                         name=what, showscale=colorbar, colorbar=_colorbar(what, field.get("ticks")),
                         hovertemplate=f"x %{{x:.2f}}, y %{{y:.2f}}: {what} %{{z:.3g}}<extra></extra>"))
    if contours is not None:
        data.append(dict(type="contour", x=_arr(contours["xs"]), y=_arr(contours["ys"]), z=np.asarray(contours["z"]),
                         contours=dict(coloring="lines"), showscale=False, ncontours=12, line=dict(width=1),
                         colorscale=[[0, "#888"], [1, "#222"]], name="log p_data", hoverinfo="skip"))
    if arrows is not None:
        ax, ay = quiver_segments(arrows[0], arrows[1], arrow_scale, bounds)
        data.append(dict(type="scatter", x=ax, y=ay, mode="lines", name="grad", hoverinfo="skip",
                         line=dict(color=arrow_color, width=1.5)))
    if means is not None:
        mu = np.asarray(means, dtype=np.float64).reshape(-1, 2)
        data.append(dict(type="scatter", x=mu[:, 0], y=mu[:, 1], mode="markers", name="modes",
                         marker=dict(symbol="x-thin", size=9, line=dict(width=2, color="black")),
                         hovertemplate="mode (%{x:.2f}, %{y:.2f})<extra></extra>"))
        if sigma is not None:
            t = np.append(np.linspace(0, 2 * np.pi, 33), np.nan)
            r = 3.0 * float(sigma)
            data.append(dict(type="scatter", x=(mu[:, :1] + r * np.cos(t)[None, :]).ravel(),
                             y=(mu[:, 1:] + r * np.sin(t)[None, :]).ravel(), mode="lines", name="3σ",
                             hoverinfo="skip", line=dict(color="black", width=1, dash="dot")))
    if x is not None:
        pts = np.asarray(x, dtype=np.float64).reshape(-1, 2)
        data.append(dict(type="scatter", x=pts[:, 0], y=pts[:, 1], mode="markers", name="samples",
                         marker=dict(size=marker_size, color=color, opacity=0.6),
                         hovertemplate="(%{x:.3f}, %{y:.3f})<extra></extra>"))
    xaxis: dict[str, Any] = dict(constrain="domain")
    yaxis: dict[str, Any] = dict(constrain="domain", scaleanchor="x", scaleratio=1)
    if bounds is not None:
        xaxis["range"], yaxis["range"] = [bounds[0], bounds[1]], [bounds[2], bounds[3]]
    if frame_color:
        for axis in (xaxis, yaxis):
            axis.update(showline=True, mirror=True, linecolor=frame_color, linewidth=3)
    layout: dict[str, Any] = dict(xaxis=xaxis, yaxis=yaxis, height=height, showlegend=False,
                                  margin=dict(l=10, r=10, t=30 if title else 10, b=10))
    if title:
        layout["title"] = dict(text=title, x=0.5, xanchor="center", y=0.98, yanchor="top", font=dict(size=13))
    return go.Figure(data=data, layout=layout)


def _colorbar(title: str, ticks: Sequence[tuple[float, str]] | None) -> dict[str, Any]:
    bar: dict[str, Any] = dict(title=dict(text=title, side="top"), thickness=10, len=0.9)
    if ticks:
        bar.update(tickvals=[float(v) for v, _ in ticks], ticktext=[str(t) for _, t in ticks])
    return bar


def cursor_curves_figure(series: Sequence[Mapping[str, Any]], cursor_step: float, *, y_title: str = "loss",
                         height: int = 200, legend: bool = True) -> go.Figure:
    """A small chart of several runs' curves with a vertical cursor at the scrubber's step.

    Each series is {name, x, y, color?}. Per series a line and a marker at its point nearest the cursor (named
    "<name> @ cursor"); the cursor itself is a dashed trace named "cursor" with meta {"cursor": step}, so tests
    and hover read it like any trace.
    """
    data: list[dict[str, Any]] = []
    lo, hi = math.inf, -math.inf
    for i, s in enumerate(series):
        name, color = str(s["name"]), s.get("color") or PALETTE[i % len(PALETTE)]
        x, y = _arr(s["x"]), _arr(s["y"])
        data.append(dict(type="scatter", x=x, y=y, mode="lines", name=name, legendgroup=name,
                         line=dict(width=1.5, color=color)))
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            lo, hi = min(lo, float(y[ok].min())), max(hi, float(y[ok].max()))
            k = int(np.argmin(np.abs(np.where(ok, x, np.inf) - cursor_step)))
            data.append(dict(type="scatter", x=[x[k]], y=[y[k]], mode="markers", name=f"{name} @ cursor",
                             legendgroup=name, showlegend=False, marker=dict(size=7, color=color),
                             hovertemplate=f"{name}<br>step %{{x}}: %{{y:.4g}}<extra></extra>"))
    if not math.isfinite(lo):
        lo, hi = 0.0, 1.0
    data.append(dict(type="scatter", x=[cursor_step, cursor_step], y=[lo, hi], mode="lines", name="cursor",
                     showlegend=False, hoverinfo="skip", meta={"cursor": cursor_step},
                     line=dict(color="gray", width=1, dash="dash")))
    return go.Figure(data=data, layout=dict(height=height, showlegend=legend, xaxis=dict(title=dict(text="step")),
                                            yaxis=dict(title=dict(text=y_title)),
                                            margin=dict(l=50, r=10, t=10, b=35), hovermode="closest"))


# ----------------------------------------------------------------------- run tables and groups (runs, compare)

# Run states and health labels are coloured text behind a dot: Debian's default fonts (DejaVu) have U+25CF, while
# emoji show as empty boxes on machines without an emoji font.
BADGE_DOT = "\u25cf"
HEALTH_COLORS: dict[str, str] = {"healthy": "#1a9850", "mode_collapse": "#e66100", "d_overpowers": "#b58900",
                                 "oscillating": "#7b3294", "stalled": "#4575b4", "blurry": "#8c564b",
                                 "unfaithful": "#c51b7d", "diverged": "#d7191c", "lost": "#555555"}
STATUS_COLORS: dict[str, str] = {"queued": "#7f7f7f", "running": "#2166ac", "finished": "#1a9850", "failed": "#d7191c",
                                 "killed": "#e66100"}
UNKNOWN_BADGE_COLOR = "#9e9e9e"


def reference_note(d_reference: str | None) -> str:
    """What a field of D means when D has minibatch discrimination (engine.evaluation.reference_note), else ''."""
    if not d_reference:
        return ""
    return f"D with minibatch discrimination: each grid point scored against a fixed minibatch of {d_reference}"


def health_badge(label: str | None) -> str:
    """`● mode collapse` for engine.health's labels (coloured by `badge_css`); no label, an empty cell."""
    return f"{BADGE_DOT} {label.replace('_', ' ')}" if label else ""


def status_badge(status: str | None) -> str:
    return f"{BADGE_DOT} {status}" if status else ""


def badge_css(label: str | None, colors: Mapping[str, str]) -> str:
    """The CSS of a badge's table cell: its label's colour (grey for a label this version does not know)."""
    return f"color: {colors.get(label, UNKNOWN_BADGE_COLOR)}; font-weight: 600" if label else ""


def grouped_series(curves: Mapping[str, Any], groups: Mapping[str, Sequence[str]], *, x: str = "step",
                   band: str | None = "std", envelope: bool = True) -> list[dict[str, Any]]:
    """Series for `curves_figure`: one per group of runs, named `<label> (n=k)`.

    `curves` maps a run to its downsampled curve (attributes step, wall, mean, vmin, vmax, as data.Curve); `x`
    picks step or wall as the x-axis. A group of one run is that run's bucket means with its min/max envelope.
    A larger group is the mean across its runs with a `band` (stats.aggregate: std, se, ci95, minmax; None: no
    band) and, with `envelope`, the lowest bucket minimum and highest bucket maximum of any member, so a spike of
    one seed stays visible. k counts the runs that logged the metric; groups without any are left out. `meta` holds
    {"group": label, "n": k, "runs": [...]}. `color` is the group's by its place in `groups`, all of them, so that
    a group keeps its colour on a chart of another metric that some groups before it have not logged.
    """
    import warnings

    from dashboard.stats import aggregate_arrays, align_curves

    out: list[dict[str, Any]] = []
    for i, (label, members) in enumerate(groups.items()):
        have = [r for r in members if r in curves and len(getattr(curves[r], x))]
        if not have:
            continue
        n = len(have)
        meta = {"group": label, "n": n, "runs": have}
        if n == 1:
            c = curves[have[0]]
            s = {"name": f"{label} (n=1)", "x": _arr(getattr(c, x)), "y": _arr(c.mean), "meta": meta}
            if envelope:
                s.update(ymin=_arr(c.vmin), ymax=_arr(c.vmax))
        else:
            agg = aggregate_arrays([(getattr(curves[r], x), curves[r].mean) for r in have], band=band or "std")  # type: ignore[arg-type]
            s = {"name": f"{label} (n={n})", "x": agg["step"], "y": agg["mean"], "meta": meta}
            if band:
                s.update(lo=agg["lo"], hi=agg["hi"])
            if envelope:
                grid = s["x"]
                _, lows = align_curves([(getattr(curves[r], x), curves[r].vmin) for r in have], grid)
                _, highs = align_curves([(getattr(curves[r], x), curves[r].vmax) for r in have], grid)
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN is right
                    s.update(ymin=np.nanmin(lows, axis=0), ymax=np.nanmax(highs, axis=0))
        s["color"] = PALETTE[i % len(PALETTE)]
        out.append(s)
    return out


def final_metrics_table(summary: pd.DataFrame, group_col: str, metrics: Sequence[str]
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`stats.summarise_final`'s frame as text for display, and a same-shaped mask of the best cells.

    Display columns: the group, `runs`, then per metric `mean ± se` (4 significant digits; `mean` alone with
    one run, `–` with none) and, when some runs lack the metric, `(n=k)` after it. The mask is True where
    summary.attrs["best"] names the group for that metric (ties all marked).
    """
    best = summary.attrs.get("best", {})
    shown = pd.DataFrame({group_col: summary[group_col].astype(str), "runs": summary["runs"]})
    mask = pd.DataFrame(False, index=shown.index, columns=[group_col, "runs"])
    for m in metrics:
        cells = []
        for mean, se, n, runs in zip(summary[f"{m} mean"], summary[f"{m} se"], summary[f"{m} n"], summary["runs"]):
            if not n or not np.isfinite(mean):
                text = "–"
            elif np.isfinite(se):
                text = f"{mean:.4g} ± {se:.2g}"
            else:
                text = f"{mean:.4g}"
            if n and n < runs:
                text += f" (n={n})"
            cells.append(text)
        shown[m] = cells
        mask[m] = summary[group_col].isin(best.get(m, [])).to_numpy()
    return shown, mask


# ------------------------------------------------------------------------------------- conditional and inference
def confusion_figure(table: np.ndarray, *, height: int = 320, title: str | None = None) -> go.Figure:
    """A conditional G's label x found-class table as row shares: row k the label G was given, column j the class
    found in its samples ("none": no class, e.g. no mode within 3 sigma). A perfect G is a bright diagonal."""
    counts = np.asarray(table, dtype=np.float64)
    k = counts.shape[0]
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    columns = [str(j) for j in range(k)] + (["none"] if counts.shape[1] > k else [])
    fig = go.Figure(go.Heatmap(x=columns, y=[str(i) for i in range(k)], z=shares, zmin=0.0, zmax=1.0,
                               colorscale="Blues", customdata=counts,
                               colorbar=dict(title=dict(text="share of<br>the label", side="top"), thickness=10,
                                             tickformat=".0%"),
                               hovertemplate="label %{y} → found %{x}: %{z:.0%} (%{customdata:.0f})<extra></extra>"))
    fig.update_layout(title=title, height=height, xaxis_title="class found in the samples", yaxis_title="label given",
                      yaxis=dict(autorange="reversed"), margin=dict(l=50, r=10, t=30 if title else 10, b=40))
    return fig


def condition_panels_figure(x: np.ndarray, condition: np.ndarray, *, values: int, means: np.ndarray | None,
                            bounds: Sequence[float] | None, targets: bool, per_row: int = 5,
                            panel_px: int = 150, color: str = "#111111") -> go.Figure:
    """Points by what G was conditioned on: one small panel per label or code value, its samples over the data's
    modes (grey ×); with `targets` (labels, whose mode is known) the label's own mode ringed in red."""
    from plotly.subplots import make_subplots

    rows = -(-values // per_row)
    fig = make_subplots(rows=rows, cols=per_row, subplot_titles=[str(v) for v in range(values)],
                        horizontal_spacing=0.02, vertical_spacing=0.12 / max(rows, 1) + 0.02)
    for v in range(values):
        r, c = v // per_row + 1, v % per_row + 1
        if means is not None:
            fig.add_trace(go.Scatter(x=means[:, 0], y=means[:, 1], mode="markers", hoverinfo="skip",
                                     marker=dict(symbol="x", size=5, color="#b0b0b0")), row=r, col=c)
        if targets and means is not None and v < len(means):  # a ring the size of a marker: visible at any zoom
            fig.add_trace(go.Scatter(x=means[v:v + 1, 0], y=means[v:v + 1, 1], mode="markers", hoverinfo="skip",
                                     marker=dict(symbol="circle-open", size=14, color="#d62728",
                                                 line=dict(width=2))), row=r, col=c)
        pts = x[condition == v]
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", marker=dict(size=4, color=color),
                                 hovertemplate=f"{v}: (%{{x:.2f}}, %{{y:.2f}})<extra></extra>"), row=r, col=c)
    for i in range(1, rows * per_row + 1):
        axis = "" if i == 1 else str(i)
        view = dict(showticklabels=False, showgrid=False, zeroline=False)
        if bounds is not None:
            fig.layout[f"xaxis{axis}"].update(range=list(bounds[:2]), **view)
            fig.layout[f"yaxis{axis}"].update(range=list(bounds[2:]), scaleanchor=f"x{axis}", **view)
    fig.update_layout(showlegend=False, height=rows * panel_px + 30, margin=dict(l=5, r=5, t=25, b=5))
    fig.update_annotations(font_size=11)
    return fig


def _segments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plotly's x and y of one line per row from a to b (NaN between lines)."""
    gap = np.full(len(a), np.nan)
    return (np.column_stack([a[:, 0], b[:, 0], gap]).ravel(), np.column_stack([a[:, 1], b[:, 1], gap]).ravel())


def translation_figure(source: np.ndarray, translated: np.ndarray, truth: np.ndarray, *,
                       means: np.ndarray | None, bounds: Sequence[float] | None, height: int = 340) -> go.Figure:
    """A translation GAN's fixed sources (blue), G's translations (orange) and their truths under the pair's map
    (green): a grey line from each source to its translation, a red one from the translation to its truth (the
    error the metrics average)."""
    fig = go.Figure()
    if means is not None:
        fig.add_trace(go.Scatter(x=means[:, 0], y=means[:, 1], mode="markers", name="target modes",
                                 hoverinfo="skip", marker=dict(symbol="x", size=6, color="#b0b0b0")))
    for a, b, color, name in ((source, translated, "#d0d0d0", "source → translation"),
                              (translated, truth, "#d62728", "error: translation → truth")):
        seg_x, seg_y = _segments(a, b)
        fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color=color, width=1), hoverinfo="skip",
                                 name=name))
    for pts, color, name in ((source, "#1f77b4", "source"), (translated, "#ff7f0e", "translation"),
                             (truth, "#2ca02c", "truth")):
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name, marker=dict(size=5, color=color)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.05))
    _equal_axes(fig, bounds)
    return fig


def reconstruction_figure(x: np.ndarray, x_hat: np.ndarray, *, means: np.ndarray | None,
                          bounds: Sequence[float] | None, height: int = 340) -> go.Figure:
    """BiGAN's held-out points (blue) and their reconstructions G(E(x)) (orange), each pair joined by a line."""
    seg_x, seg_y = _segments(x, x_hat)
    fig = go.Figure()
    if means is not None:
        fig.add_trace(go.Scatter(x=means[:, 0], y=means[:, 1], mode="markers", name="modes", hoverinfo="skip",
                                 marker=dict(symbol="x", size=6, color="#b0b0b0")))
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color="#c8c8c8", width=1), hoverinfo="skip",
                             name="x → G(E(x))"))
    fig.add_trace(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="held-out x",
                             marker=dict(size=5, color="#1f77b4")))
    fig.add_trace(go.Scatter(x=x_hat[:, 0], y=x_hat[:, 1], mode="markers", name="G(E(x))",
                             marker=dict(size=5, color="#ff7f0e")))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=-0.05))
    _equal_axes(fig, bounds)
    return fig
