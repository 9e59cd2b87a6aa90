"""Figure builders produce the traces the pages rely on: names, counts, data and theory lines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures
from dashboard.data import Curve
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


def test_long_group_labels_go_under_the_plot_and_grow_it():
    x = np.arange(5.0)
    short = figures.curves_figure([{"name": "ns (n=5)", "x": x, "y": x}], height=480)
    assert short.layout.legend.orientation is None and short.layout.height == 480
    label = "beta2_d=0.999, beta2_g=0.999, dataset=grid, loss=lsgan, n_critic=1 (n=10)"
    long = figures.curves_figure([{"name": label, "x": x, "y": x}, {"name": "ns (n=5)", "x": x, "y": x}],
                                 height=480)
    assert long.layout.legend.orientation == "h" and long.layout.legend.y < 0
    assert long.layout.height == 480 + 2 * figures.LEGEND_ROW_PX


# ------------------------------------------------------------------------- ranges, colours and notes (issue 13)
def test_metric_range_comes_from_the_metrics_registry():
    inf = math.inf
    assert figures.metric_range("metric/modes", ["ring"]) == (0.0, 8.0)
    assert figures.metric_range("metric/modes", ["grid"]) == (0.0, 25.0)
    assert figures.metric_range("metric/modes", ["ring", "grid"]) == (0.0, 25.0)  # the widest of a mixed group
    assert figures.metric_range("metric/modes", ["not-a-dataset"]) == (0.0, inf)  # K unknown: no upper bound
    assert figures.metric_range("metric/rkl_hq", ["ring"]) == (0.0, pytest.approx(math.log(8)))
    assert figures.metric_range("metric/hq", ["ring"]) == (0.0, 100.0)
    for m in ("metric/precision", "metric/recall", "metric/coverage", "theory/d_err"):
        assert figures.metric_range(m, ["grid"]) == (0.0, 1.0)
    for m in ("metric/density", "metric/fid", "metric/w1"):
        assert figures.metric_range(m, ["grid"]) == (0.0, inf)
    assert figures.metric_range("metric/jsd") == (0.0, pytest.approx(math.log(2)))
    assert figures.metric_range("theory/v_star") == (pytest.approx(-math.log(4)), 0.0)
    # D's mean outputs are probabilities only for the BCE losses; lsgan's and the critics' are raw
    assert figures.metric_range("d/real", ["ring"], ["ns", "minimax"]) == (0.0, 1.0)
    assert figures.metric_range("d/fake", ["ring"], ["ns", "hinge"]) == (-inf, inf)
    assert figures.metric_range("d/real", ["ring"], ["lsgan"]) == (-inf, inf)
    assert figures.metric_range("loss/g", ["ring"], ["ns"]) == (-inf, inf)


def test_every_registered_metric_declares_a_range_that_its_values_keep():
    import torch

    from engine import metrics
    from engine.data import get_dataset

    for m in metrics.METRICS.values():
        assert set(m.ranges) == set(m.keys), m.keys
    for name in ("ring", "grid"):
        mix = get_dataset(name)
        real = mix.sample(600, torch.Generator().manual_seed(1)).x.double().numpy()
        good = mix.sample(600, torch.Generator().manual_seed(2)).x.double().numpy()
        collapsed = mix.means[0] + 0.5 * mix.sigma * np.random.default_rng(0).normal(size=(600, 2))
        for fake in (good, collapsed):
            d = np.full(600, 0.5)
            values = metrics.evaluate(mix, fake, real, d_real=d, d_fake=d, d_is_prob=True)
            for key, v in values.items():
                lo, hi = metrics.value_range(key, mix)
                if np.isfinite(v):
                    assert lo - 1e-9 <= v <= hi + 1e-9, (name, key, v, lo, hi)
        assert metrics.evaluate(mix, collapsed, real)["metric/modes"] == 1.0  # the collapsed G is one mode


def test_band_and_envelope_are_clipped_at_the_metrics_range():
    x = np.arange(4.0)
    y = np.array([0.2, 1.0, 7.5, 8.0])
    series = [{"name": "ns (n=3)", "x": x, "y": y, "lo": y - 1.0, "hi": y + 1.0, "ymin": y - 2, "ymax": y + 2,
               "range": (0.0, 8.0)},
              {"name": "free", "x": x, "y": y, "lo": y - 1.0, "hi": y + 1.0}]
    fig = figures.curves_figure(series)
    by = {t.name: t for t in fig.data}
    band, env = by["ns (n=3) band"], by["ns (n=3) min/max"]
    # a count's band never promises -0.8 or 9 modes: hi along x, then lo back
    np.testing.assert_allclose(band.y, [1.2, 2.0, 8.0, 8.0, 7.0, 6.5, 0.0, 0.0])
    np.testing.assert_allclose(env.y, [2.2, 3.0, 8.0, 8.0, 6.0, 5.5, 0.0, 0.0])
    assert band.meta == {"clipped": 3}  # lo < 0 at the first point, hi > 8 at the last two
    smooth = {t.name: t for t in figures.curves_figure(series, smoothing=0.6).data}["ns (n=3) band"]
    hi, lo = np.asarray(smooth.y[:4]), np.asarray(smooth.y[4:][::-1])
    np.testing.assert_allclose(hi, np.minimum(ema_smooth(y + 1.0, 0.6), 8.0))  # clipped after smoothing
    np.testing.assert_allclose(lo, np.maximum(ema_smooth(y - 1.0, 0.6), 0.0))
    assert lo.min() == 0.0
    assert by["free band"].meta is None and min(by["free band"].y) < 0  # no range: nothing clipped
    ranges = {"ns (n=3)": (0.0, 8.0), "free": (-math.inf, math.inf), "grid (n=2)": (0.0, 25.0)}
    note = figures.clipped_note(fig, "metric/modes", ranges)
    assert note.startswith("band of 1 group(s) clipped at what metric/modes can take (0 to 8):")  # not 0 to 25
    inside = figures.curves_figure([{**series[0], "lo": y * 0 + 0.1, "hi": y * 0 + 0.2}])
    assert figures.clipped_note(inside, "metric/modes", ranges) == ""


def test_group_colours_do_not_depend_on_which_groups_logged_the_metric():
    from engine.curves import Curve

    s = np.array([0.0, 10.0])

    def curve(v):
        return Curve(s, s, np.array([v, v]), np.array([v, v]), np.array([v, v]))

    groups = {"a": ["r1"], "b": ["r2", "r3"], "c": ["r4"]}
    every = {"r1": curve(1.0), "r2": curve(2.0), "r3": curve(3.0), "r4": curve(4.0)}
    some = {"r2": every["r2"], "r4": every["r4"]}  # group a has not logged this metric (theory/v of a hinge run)

    def colours(curves):
        fig = figures.curves_figure(figures.grouped_series(curves, groups))
        return {t.name.split(" (")[0]: t.line.color for t in fig.data if t.mode == "lines" and "band" not in t.name}

    assert colours(every) == {"a": figures.PALETTE[0], "b": figures.PALETTE[1], "c": figures.PALETTE[2]}
    assert colours(some) == {"b": figures.PALETTE[1], "c": figures.PALETTE[2]}


def test_not_logged_notes_tell_runs_that_never_will_from_runs_that_may_yet():
    runs = [{"active": False, "loss": "hinge", "dataset": "ring"}, {"active": False, "loss": "wgan", "dataset": "grid"},
            {"active": True, "loss": "hinge", "dataset": "ring"},  # active, but a critic never logs theory/v
            {"active": True, "loss": "ns", "dataset": "ring"}, {"active": False, "loss": "ns", "dataset": "ring"}]
    notes = figures.not_logged_notes("theory/v", runs)
    assert notes[0] == ("3 run(s) never log theory/v: the engine logs it only for losses whose D is a probability "
                        "(minimax, ns, lsgan), and these are critics: hinge (2), wgan (1)")
    assert notes[1] == "1 run(s) have not logged theory/v yet (still active: they may log it later)"
    assert notes[2] == "1 ended run(s) never logged theory/v"
    assert len(notes) == 3
    # theory/v_star is logged for every loss; mode metrics need modes
    assert figures.not_logged_notes("theory/v_star", runs[:1]) == ["1 ended run(s) never logged theory/v_star"]
    spiral = [{"active": True, "loss": "ns", "dataset": "spiral"}]
    assert figures.not_logged_notes("metric/modes", spiral) == [
        "1 run(s) never log metric/modes: mode metrics need a data set with modes, not spiral (1)"]
    assert figures.not_logged_notes("metric/fid", spiral) == [
        "1 run(s) have not logged metric/fid yet (still active: they may log it later)"]
    assert figures.not_logged_notes("metric/fid", []) == []


def test_one_outside_the_view_note_and_a_view_that_covers_the_samples():
    bounds = (-2.0, 2.0, -2.0, 2.0)  # ring-8's view
    x = np.array([[0.0, 0.0], [3.9, 0.0], [0.0, -2.5], [np.nan, 0.0]])
    assert figures.view_note(x, bounds) == "2 of 4 samples outside the view · 1 of 4 samples not finite"
    assert figures.view_note(x[:1], bounds) == "" and figures.view_note(None, bounds) == ""
    view = figures.covering_view(x, bounds)
    assert view == pytest.approx((-3.9 * 1.05, 3.9 * 1.05, -3.9 * 1.05, 3.9 * 1.05))  # square, centred on the data
    assert figures.view_note(x, view) == "1 of 4 samples not finite"
    assert figures.covering_view(x[:1], bounds) == bounds  # never narrower than the data set's own view
    far = np.array([[0.0, 0.0], [1e6, 0.0]])  # a diverged G
    assert figures.covering_view(far, bounds) == (-6.0, 6.0, -6.0, 6.0)  # capped at 3x
    assert figures.view_note(far, figures.covering_view(far, bounds)) == "1 of 2 samples outside the view"


def test_a_chart_of_many_groups_can_leave_out_bands_raw_lines_and_legend():
    curves = {f"r{i}": Curve(X, X / 100, Y + i, Y + i - 1, Y + i + 1) for i in range(4)}
    groups = {"g": ["r0", "r1"], "h": ["r2", "r3"]}
    plain = figures.grouped_series(curves, groups, band=None, envelope=False)
    assert all("lo" not in s and "ymin" not in s for s in plain)
    np.testing.assert_allclose(plain[0]["y"], Y + 0.5)  # still the group's mean
    fig = figures.curves_figure(plain, smoothing=0.6, raw_lines=False, legend=False)
    assert [t.name for t in fig.data] == ["g (n=2)", "h (n=2)"] and fig.layout.showlegend is False
    full = figures.curves_figure(figures.grouped_series(curves, groups), smoothing=0.6)
    assert len(full.data) == 8 and full.layout.showlegend is None  # envelope, band, raw, line; Plotly's legend
