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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go

from dashboard.stats import direction, ema_smooth, robust_range
from engine.config import PROBABILITY_LOSSES

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


def references_for(metric: str, losses: set[str] | Sequence[str]) -> list[dict[str, Any]]:
    """The reference lines that are true for `metric` given the losses of the runs on the chart.

    Lines tied to the probability interpretation of D are returned only when every run uses minimax or ns;
    one hinge or Wasserstein run on the chart would make "D = 1/2" a false promise.
    """
    lines = REFERENCE_LINES.get(metric, [])
    if metric in _PROBABILITY_ONLY:
        losses = set(losses)
        if not losses or not losses <= set(PROBABILITY_LOSSES):
            return []
    return [{"y": y, "label": label} for y, label in lines]


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
                  webgl: bool = False, height: int | None = None) -> go.Figure:
    """Line chart of several series with optional smoothing, seed bands, downsampling envelopes and theory lines.

    Each series is a dict with `name`, `x`, `y` and optionally `lo`/`hi` (a spread band, e.g. from
    `stats.aggregate`), `ymin`/`ymax` (a downsampling envelope, from `stats.downsample_minmax`), `color` and
    `dash`. Traces per series, in drawing order: envelope (`<name> min/max`, lightest), band (`<name> band`),
    raw line (`<name> raw`, faint, only when smoothing > 0) and the main line (`<name>`, EMA-smoothed when
    smoothing > 0). Bands are smoothed with the line so they stay around it; envelopes are not, since their
    job is to show the spikes. `references` are dicts {y, label}, drawn as dashed lines across the x range
    (non-positive ones are skipped on a log axis). `robust_y` fits the y-axis to the 1-99 % quantiles of the
    raw values instead of their extremes. `webgl` draws lines with Scattergl for hundreds of runs.
    """
    fig = go.Figure()
    line_cls = go.Scattergl if webgl else go.Scatter
    all_y: list[np.ndarray] = []
    xs_seen: list[np.ndarray] = []
    for i, s in enumerate(series):
        name = str(s["name"])
        color = s.get("color") or PALETTE[i % len(PALETTE)]
        x, y = _arr(s["x"]), _arr(s["y"])
        xs_seen.append(x[np.isfinite(x)])
        all_y.append(y)
        if s.get("ymin") is not None and s.get("ymax") is not None:
            fig.add_trace(_area(x, _arr(s["ymin"]), _arr(s["ymax"]), name=f"{name} min/max", group=name,
                                color=color, alpha=0.12))
        if s.get("lo") is not None and s.get("hi") is not None:
            lo, hi = _arr(s["lo"]), _arr(s["hi"])
            if smoothing > 0:
                lo, hi = ema_smooth(lo, smoothing), ema_smooth(hi, smoothing)
            fig.add_trace(_area(x, lo, hi, name=f"{name} band", group=name, color=color, alpha=0.25))
        main_y = y
        if smoothing > 0:
            fig.add_trace(line_cls(x=x, y=y, mode="lines", name=f"{name} raw", legendgroup=name, showlegend=False,
                                   line=dict(color=color, width=1, dash=s.get("dash")), opacity=0.3,
                                   hoverinfo="skip"))
            main_y = ema_smooth(y, smoothing)
        fig.add_trace(line_cls(x=x, y=main_y, mode="lines", name=name, legendgroup=name,
                               line=dict(color=color, width=2, dash=s.get("dash")),
                               hovertemplate=f"{name}<br>{x_title} %{{x}}<br>%{{y:.4g}}<extra></extra>"))

    if references and xs_seen and any(a.size for a in xs_seen):
        x0 = min(float(a.min()) for a in xs_seen if a.size)
        x1 = max(float(a.max()) for a in xs_seen if a.size)
        for ref in references:
            if log_y and float(ref["y"]) <= 0:
                continue
            fig.add_trace(_reference_trace(ref, x0, x1))

    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear")
    if robust_y and all_y:
        rng = robust_range(np.concatenate([a.ravel() for a in all_y]), log=log_y)
        if rng is not None:
            fig.update_yaxes(range=list(rng))
    fig.update_layout(title=title, hovermode="closest", margin=dict(l=50, r=20, t=40 if title else 20, b=40),
                      legend=dict(groupclick="togglegroup"), height=height)
    return fig


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


def _quiver(points: np.ndarray, vectors: np.ndarray, scale: float | None, bounds: Sequence[float] | None
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


def samples_figure(x: np.ndarray, *, means: np.ndarray | None = None, sigma: float | None = None,
                   field: Mapping[str, Any] | None = None, contours: Mapping[str, Any] | None = None,
                   bounds: Sequence[float] | None = None, title: str | None = None,
                   arrows: tuple[np.ndarray, np.ndarray] | None = None, arrow_scale: float | None = None,
                   color: str = "#EF553B", marker_size: float = 3.0) -> go.Figure:
    """Generated samples over the truth: one gallery panel.

    Layers, bottom to top (each optional except the samples): `field` heatmap {xs, ys, z (len(ys), len(xs)),
    title, and optional zmin, zmax, colorscale} such as D(x) or |D - D*|; `contours` of the true log-density
    {xs, ys, z}; `arrows` = (points (M, 2), vectors (M, 2)), e.g. grad D, drawn as a quiver; the mode centres
    `means` (K, 2) with their 3σ high-quality circles when `sigma` is given (the protocol's HQ radius); the
    samples `x` (N, 2). `bounds` = (xmin, xmax, ymin, ymax) fixes the view so panels of a gallery line up.
    """
    fig = go.Figure()
    if field is not None:
        fig.add_trace(go.Heatmap(x=_arr(field["xs"]), y=_arr(field["ys"]), z=np.asarray(field["z"]),
                                 zmin=field.get("zmin"), zmax=field.get("zmax"),
                                 colorscale=field.get("colorscale", "RdBu"), name=str(field.get("title", "field")),
                                 colorbar=dict(title=dict(text=str(field.get("title", ""))), thickness=10),
                                 hovertemplate="x %{x:.2f}, y %{y:.2f}: %{z:.3g}<extra></extra>"))
    if contours is not None:
        fig.add_trace(go.Contour(x=_arr(contours["xs"]), y=_arr(contours["ys"]), z=np.asarray(contours["z"]),
                                 contours=dict(coloring="lines"), showscale=False, ncontours=12,
                                 line=dict(width=1), colorscale=[[0, "#888"], [1, "#222"]],
                                 name="log p_data", hoverinfo="skip"))
    if arrows is not None:
        ax, ay = _quiver(arrows[0], arrows[1], arrow_scale, bounds)
        fig.add_trace(go.Scatter(x=ax, y=ay, mode="lines", name="grad", line=dict(color="black", width=1),
                                 hoverinfo="skip", showlegend=False))
    if means is not None:
        mu = np.asarray(means, dtype=np.float64).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=mu[:, 0], y=mu[:, 1], mode="markers", name="modes", showlegend=False,
                                 marker=dict(symbol="x-thin", size=9, line=dict(width=2, color="black")),
                                 hovertemplate="mode (%{x:.2f}, %{y:.2f})<extra></extra>"))
        if sigma is not None:
            # Circles as one polyline trace rather than K layout shapes: cheap and cleared with the figure.
            t = np.append(np.linspace(0, 2 * np.pi, 33), np.nan)
            r = 3.0 * float(sigma)
            cx = (mu[:, :1] + r * np.cos(t)[None, :]).ravel()
            cy = (mu[:, 1:] + r * np.sin(t)[None, :]).ravel()
            fig.add_trace(go.Scatter(x=cx, y=cy, mode="lines", name="3σ", showlegend=False, hoverinfo="skip",
                                     line=dict(color="black", width=1, dash="dot")))
    pts = np.asarray(x, dtype=np.float64).reshape(-1, 2)
    fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="samples", showlegend=False,
                             marker=dict(size=marker_size, color=color, opacity=0.6),
                             hovertemplate="(%{x:.3f}, %{y:.3f})<extra></extra>"))
    _equal_axes(fig, bounds)
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=30 if title else 10, b=10), showlegend=False)
    return fig


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
                          mode_labels: Sequence[str] | None = None, title: str | None = None) -> go.Figure:
    """Share of samples per mode over training: `shares` (T, K), drawn with modes as rows (z = shares.T).

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
                               colorbar=dict(title=dict(text="share"), thickness=10),
                               hovertemplate="step %{x}<br>mode %{y}: %{z:.1%}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="mode",
                      margin=dict(l=50, r=10, t=30 if title else 10, b=40))
    return fig


def value_function_figure(steps: Sequence[float] | np.ndarray, v: Sequence[float] | np.ndarray,
                          v_star: Sequence[float] | np.ndarray | None,
                          v_star_steps: Sequence[float] | np.ndarray | None = None,
                          title: str | None = None) -> go.Figure:
    """The logged V(D, G) beside the theory V(D*, G) = -log 4 + 2·JSD(p_data || p_g), with the -log 4 floor.

    D* maximises V for a fixed G, so the logged curve should stay below the theory one; the gap is how far D
    is from optimal, and the theory curve's distance to -log 4 is twice the Jensen-Shannon divergence.
    `v_star_steps` defaults to `steps` (pass it when V(D*, G) is evaluated less often than V is logged).
    """
    fig = go.Figure()
    s = _arr(steps)
    fig.add_trace(go.Scatter(x=s, y=_arr(v), mode="lines", name="V(D, G) logged", line=dict(width=2)))
    xs = [s]
    if v_star is not None:
        ss = s if v_star_steps is None else _arr(v_star_steps)
        xs.append(ss)
        fig.add_trace(go.Scatter(x=ss, y=_arr(v_star), mode="lines+markers", name="V(D*, G) = -log 4 + 2 JSD",
                                 line=dict(width=2, dash="dot")))
    allx = np.concatenate(xs)
    allx = allx[np.isfinite(allx)]
    if allx.size:
        fig.add_trace(_reference_trace({"y": -LOG4, "label": "-log 4 (p_g = p_data)"}, float(allx.min()),
                                       float(allx.max())))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="V", hovermode="x unified",
                      margin=dict(l=50, r=10, t=30 if title else 10, b=40))
    return fig


def loss_cursor_figure(steps: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
                       cursor_step: float, name: str = "loss", height: int = 180) -> go.Figure:
    """A small loss chart with a vertical line at the scrubber's step, so samples and loss read together."""
    s, v = _arr(steps), _arr(values)
    fig = go.Figure(go.Scatter(x=s, y=v, mode="lines", name=name, line=dict(width=1.5)))
    if s.size:
        i = int(np.argmin(np.abs(s - cursor_step)))
        fig.add_trace(go.Scatter(x=[s[i]], y=[v[i]], mode="markers", name="cursor", marker=dict(size=8),
                                 hovertemplate="step %{x}: %{y:.4g}<extra></extra>"))
    fig.add_shape(type="line", x0=cursor_step, x1=cursor_step, y0=0, y1=1, xref="x", yref="paper",
                  line=dict(color="gray", width=1, dash="dash"))
    fig.update_layout(height=height, showlegend=False, margin=dict(l=40, r=10, t=10, b=30), xaxis_title="step",
                      yaxis_title=name)
    return fig
