"""Figure builders produce the traces the pages rely on: names, counts, data and theory lines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures
from dashboard.stats import ema_smooth


def _names(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data]


def _refs(fig: go.Figure) -> list[float]:
    return [t.y[0] for t in fig.data if t.meta and "reference" in t.meta]


X = np.array([0.0, 10.0, 20.0, 30.0])
Y = np.array([1.0, 3.0, 2.0, 4.0])


def test_curves_plain_line_is_the_input():
    fig = figures.curves_figure([{"name": "run-a", "x": X, "y": Y}])
    assert _names(fig) == ["run-a"]
    np.testing.assert_array_equal(fig.data[0].y, Y)
    np.testing.assert_array_equal(fig.data[0].x, X)
    assert fig.layout.yaxis.type == "linear"


def test_curves_smoothing_band_envelope_and_references():
    series = [{"name": "ns", "x": X, "y": Y, "lo": Y - 1, "hi": Y + 1, "color": "#636EFA"},
              {"name": "wgan", "x": X, "y": Y * 2, "ymin": Y * 2 - 0.5, "ymax": Y * 2 + 3}]
    refs = figures.references_for("d/real", {"ns", "minimax"})
    fig = figures.curves_figure(series, smoothing=0.6, references=refs)
    assert _names(fig) == ["ns band", "ns raw", "ns", "wgan min/max", "wgan raw", "wgan", "equilibrium D = 1/2"]
    by = {t.name: t for t in fig.data}
    np.testing.assert_allclose(by["ns"].y, ema_smooth(Y, 0.6))
    np.testing.assert_array_equal(by["ns raw"].y, Y)
    assert by["ns raw"].opacity < 1 and by["ns"].showlegend is not False and by["ns raw"].showlegend is False
    # Envelope: closed polygon along ymax forwards, back along ymin, not smoothed.
    np.testing.assert_array_equal(by["wgan min/max"].x, np.r_[X, X[::-1]])
    np.testing.assert_array_equal(by["wgan min/max"].y, np.r_[Y * 2 + 3, (Y * 2 - 0.5)[::-1]])
    assert by["ns band"].fillcolor == "rgba(99, 110, 250, 0.25)"
    assert _refs(fig) == [0.5]
    ref = by["equilibrium D = 1/2"]
    assert list(ref.x) == [0.0, 30.0] and list(ref.y) == [0.5, 0.5]
    assert {t.legendgroup for t in fig.data if t.name.startswith("ns")} == {"ns"}


def test_curves_band_drops_undefined_points():
    lo = np.array([np.nan, 2.0, 1.0, np.nan])
    fig = figures.curves_figure([{"name": "g", "x": X, "y": Y, "lo": lo, "hi": lo + 2}])
    band = fig.data[0]
    np.testing.assert_array_equal(band.x, [10.0, 20.0, 20.0, 10.0])
    np.testing.assert_array_equal(band.y, [4.0, 3.0, 1.0, 2.0])


def test_curves_log_axis_skips_negative_reference_and_robust_range():
    refs = figures.references_for("theory/v", {"wgan"}) + [{"y": 2.0, "label": "two"}]
    y = np.r_[np.linspace(1, 10, 200), 1e9]
    x = np.arange(201.0)
    fig = figures.curves_figure([{"name": "a", "x": x, "y": y}], log_y=True, robust_y=True, references=refs)
    assert fig.layout.yaxis.type == "log"
    assert _refs(fig) == [2.0]  # -log 4 cannot be drawn on a log axis
    lo, hi = fig.layout.yaxis.range
    assert hi < 2.0  # log10 units: the 1e9 spike (9.0) is ignored, the bulk (<= 1.0) is kept
    assert lo < 0.05


def test_references_for_respects_losses():
    assert figures.references_for("d/fake", {"ns"}) == [{"y": 0.5, "label": "equilibrium D = 1/2"}]
    assert figures.references_for("d/real", {"ns", "hinge"}) == []
    assert figures.references_for("loss/d", set()) == []
    (ld,) = figures.references_for("loss/d", {"minimax"})
    assert ld["y"] == pytest.approx(1.3862943611198906)
    (v,) = figures.references_for("theory/v", {"wgan", "lsgan"})
    assert v["y"] == pytest.approx(-math.log(4))
    (vs,) = figures.references_for("theory/v_star", {"hinge"})
    assert vs["y"] == pytest.approx(-math.log(4))
    assert figures.references_for("metric/fid", {"ns"}) == []


def test_parallel_coordinates_encodes_categories_and_orients_colour():
    df = pd.DataFrame({"loss": ["wgan", "ns", "ns", "hinge"], "lr_d": [1e-4, 2e-4, 1e-4, 3e-4],
                       "metric/fid": [0.3, 0.1, 0.2, 0.5]})
    fig = figures.parallel_coordinates(df, ["loss", "lr_d", "metric/fid"], "metric/fid")
    (pc,) = fig.data
    loss = pc.dimensions[0]
    assert list(loss.ticktext) == ["hinge", "ns", "wgan"]
    np.testing.assert_array_equal(loss.values, [2, 1, 1, 0])
    np.testing.assert_array_equal(pc.dimensions[1].values, df["lr_d"])
    np.testing.assert_array_equal(pc.line.color, df["metric/fid"])
    assert pc.line.reversescale is True  # lower FID is better, so it gets the bright end
    modes = df.assign(**{"metric/modes": [8, 7, 8, 5]})
    fig2 = figures.parallel_coordinates(modes, ["loss"], "metric/modes")
    assert fig2.data[0].line.reversescale is False


def test_samples_figure_layers_and_circles():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    means = np.array([[1.0, 0.0], [0.0, 1.0]])
    z = rng.random((3, 4))
    field = {"xs": np.linspace(-1, 1, 4), "ys": np.linspace(-1, 1, 3), "z": z, "title": "D(x)"}
    contours = {"xs": np.linspace(-1, 1, 4), "ys": np.linspace(-1, 1, 3), "z": -z}
    fig = figures.samples_figure(x, means=means, sigma=0.01, field=field, contours=contours,
                                 bounds=(-2, 2, -2, 2), arrows=(means, np.array([[1.0, 0.0], [0.0, 2.0]])))
    assert _names(fig) == ["D(x)", "log p_data", "grad", "modes", "3σ", "samples"]
    by = {t.name: t for t in fig.data}
    np.testing.assert_array_equal(by["D(x)"].z, z)
    np.testing.assert_array_equal(by["samples"].x, x[:, 0])
    cx, cy = np.asarray(by["3σ"].x, float), np.asarray(by["3σ"].y, float)
    ok = np.isfinite(cx)
    # Every circle point lies 3 sigma from one of the means.
    d = np.min(np.hypot(cx[ok, None] - means[None, :, 0], cy[ok, None] - means[None, :, 1]), axis=1)
    np.testing.assert_allclose(d, 0.03, rtol=1e-9)
    # Autoscaled quiver: the longest shaft is 8 % of the panel width (4), along the vector's direction.
    ax, ay = np.asarray(by["grad"].x, float), np.asarray(by["grad"].y, float)
    assert (ax[1], ay[1]) == pytest.approx((1.0 + 0.32 / 2, 0.0))
    assert (ax[8], ay[8]) == pytest.approx((0.0, 1.0 + 0.32))
    assert list(fig.layout.xaxis.range) == [-2, 2] and fig.layout.yaxis.scaleanchor == "x"


def test_samples_figure_minimal():
    fig = figures.samples_figure(np.zeros((3, 2)))
    assert _names(fig) == ["samples"]


def test_field_figure_heatmap_is_input():
    z = np.arange(12.0).reshape(3, 4)
    fig = figures.field_figure(np.arange(4.0), np.arange(3.0), z, "|D - D*|", zmin=0, zmax=1, colorscale="Viridis")
    (hm,) = fig.data
    assert isinstance(hm, go.Heatmap)
    np.testing.assert_array_equal(hm.z, z)
    assert (hm.zmin, hm.zmax) == (0, 1)


def test_mode_histogram_rows_are_modes():
    shares = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])  # T = 2 steps, K = 3 modes
    fig = figures.mode_histogram_figure([100, 200], shares)
    (hm,) = fig.data
    np.testing.assert_array_equal(hm.z, shares.T)
    assert list(hm.y) == ["0", "1", "2"] and list(hm.x) == [100, 200]
    assert (hm.zmin, hm.zmax) == (0.0, 1.0)


def test_value_function_figure_has_theory_and_floor():
    steps = np.array([0, 100, 200])
    fig = figures.value_function_figure(steps, [-1.5, -1.45, -1.4], [-1.0, -1.2, -1.35])
    assert _names(fig) == ["V(D, G) logged", "V(D*, G) = -log 4 + 2 JSD", "-log 4 (p_g = p_data)"]
    assert _refs(fig) == [pytest.approx(-1.3862943611198906)]
    np.testing.assert_array_equal(fig.data[1].y, [-1.0, -1.2, -1.35])


def test_loss_cursor_line_and_marker():
    fig = figures.loss_cursor_figure([0, 10, 20, 30], [4.0, 3.0, 2.0, 1.0], cursor_step=18)
    (shape,) = fig.layout.shapes
    assert shape.x0 == shape.x1 == 18
    assert list(fig.data[1].x) == [20] and list(fig.data[1].y) == [2.0]  # nearest logged step


def test_long_group_labels_go_under_the_plot_and_grow_it():
    x = np.arange(5.0)
    short = figures.curves_figure([{"name": "ns (n=5)", "x": x, "y": x}], height=480)
    assert short.layout.legend.orientation is None and short.layout.height == 480
    label = "beta2_d=0.999, beta2_g=0.999, dataset=grid, loss=lsgan, n_critic=1 (n=10)"
    long = figures.curves_figure([{"name": label, "x": x, "y": x}, {"name": "ns (n=5)", "x": x, "y": x}],
                                 height=480)
    assert long.layout.legend.orientation == "h" and long.layout.legend.y < 0
    assert long.layout.height == 480 + 2 * figures.LEGEND_ROW_PX
