"""The gallery's pure figure builders: gallery panels, the filmstrip and the loss chart with its cursor."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard import figures

RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 2))
MEANS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
BOUNDS = (-2.0, 2.0, -2.0, 2.0)
GRID = {"xs": np.linspace(-2, 2, 5), "ys": np.linspace(-2, 2, 4), "z": np.arange(20.0).reshape(4, 5) / 20}


def _by_name(fig: go.Figure) -> dict[str, go.BaseTraceType]:
    return {t.name: t for t in fig.data}


def test_panel_layers_in_drawing_order_with_the_inputs():
    field = {**GRID, "title": "D", "zmin": 0.0, "zmax": 1.0}
    vec = np.tile([[0.0, 1.0]], (len(X), 1))
    fig = figures.gallery_panel_figure(X, field=field, contours=GRID, arrows=(X, vec), means=MEANS, sigma=0.1,
                                       bounds=BOUNDS, color="#123456")
    assert [t.name for t in fig.data] == ["D", "log p_data", "grad", "modes", "3σ", "samples"]
    t = _by_name(fig)
    np.testing.assert_array_equal(t["samples"].x, X[:, 0])
    np.testing.assert_array_equal(t["samples"].y, X[:, 1])
    assert t["samples"].marker.color == "#123456"
    np.testing.assert_array_equal(np.asarray(t["D"].z), GRID["z"])
    assert (t["D"].zmin, t["D"].zmax) == (0.0, 1.0)
    np.testing.assert_array_equal(t["modes"].x, MEANS[:, 0])
    # 3σ circles: 33 points and a break per mode, radius 0.3 around each mean
    cx = np.asarray(t["3σ"].x, dtype=float).reshape(3, 34)[:, :-1]
    cy = np.asarray(t["3σ"].y, dtype=float).reshape(3, 34)[:, :-1]
    np.testing.assert_allclose(np.hypot(cx - MEANS[:, :1], cy - MEANS[:, 1:]), 0.3)
    # equal scales and the fixed view, so a ring looks like a ring and panels line up
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert tuple(fig.layout.xaxis.range) == (-2.0, 2.0) and tuple(fig.layout.yaxis.range) == (-2.0, 2.0)


def test_panel_arrows_point_along_the_vectors_longest_eight_percent_of_the_view():
    pts = np.array([[0.0, 0.0], [1.0, 1.0]])
    vec = np.array([[1.0, 0.0], [0.0, 2.0]])
    fig = figures.gallery_panel_figure(None, arrows=(pts, vec), bounds=BOUNDS)
    grad = _by_name(fig)["grad"]
    seg = np.asarray(grad.x, dtype=float), np.asarray(grad.y, dtype=float)
    # per arrow 7 vertices: base, tip, break, head, tip, head, break
    tips = np.stack([seg[0][1::7], seg[1][1::7]], axis=1)
    np.testing.assert_allclose(tips - pts, vec * (0.08 * 4.0 / 2.0))  # longest (length 2) -> 8 % of a width of 4


def test_field_only_panel_and_empty_arrows():
    fig = figures.gallery_panel_figure(None, field={**GRID, "title": "D*"}, colorbar=False)
    assert [t.name for t in fig.data] == ["D*"]
    assert fig.data[0].showscale is False
    fig = figures.gallery_panel_figure(X, arrows=(np.empty((0, 2)), np.empty((0, 2))))
    assert [t.name for t in fig.data] == ["grad", "samples"] and len(fig.data[0].x) == 0


def test_filmstrip_tiles_runs_as_rows_and_steps_as_columns():
    a = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 0.0]])  # the last point lies outside the view
    b = np.array([[-1.0, -1.0]])
    fig = figures.filmstrip_figure([[a, None], [b, b]], ["run A", "run B"], ["step 0", "step 10"],
                                   notes=[["", ""], ["from step 5", ""]], means=MEANS, bounds=BOUNDS)
    rows = {t.name: t for t in fig.data if t.meta and "row" in t.meta}
    assert list(rows) == ["run A", "run B"]
    assert rows["run A"].meta["counts"] == [2, 0] and rows["run B"].meta["counts"] == [1, 1]
    # tile (i, j) is shifted by j (width + pad) to the right and sits one row lower per i; customdata keeps the
    # original coordinates for the hover
    w, pad = 4.0, 0.06 * 4.0
    np.testing.assert_allclose(np.asarray(rows["run A"].customdata)[:, :2], a[:2])
    np.testing.assert_allclose(rows["run A"].x, a[:2, 0] + 2.0)
    np.testing.assert_allclose(rows["run A"].y, a[:2, 1] + 2.0 + (w + pad))
    np.testing.assert_allclose(rows["run B"].x, [b[0, 0] + 2.0, b[0, 0] + 2.0 + w + pad])
    np.testing.assert_allclose(rows["run B"].y, [b[0, 1] + 2.0] * 2)
    t = _by_name(fig)
    assert list(t["missing"].text) == ["no snapshot"]
    assert sorted(t["notes"].text) == ["1 outside", "from step 5"]
    assert len(t["modes"].x) == 4 * len(MEANS)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["run A", "run B", "step 0", "step 10"]
    assert fig.layout.yaxis.scaleanchor == "x"


def test_filmstrip_without_bounds_fits_every_point_and_empty_input():
    fig = figures.filmstrip_figure([[np.array([[0.0, 0.0], [3.0, 1.0]])]], ["r"], ["s"])
    row = _by_name(fig)["r"]
    assert row.meta["counts"] == [2]
    assert len(figures.filmstrip_figure([], [], []).data) == 0


def test_cursor_chart_marks_each_run_at_the_step_nearest_the_cursor():
    steps = np.array([0.0, 10.0, 20.0, 30.0])
    fig = figures.cursor_curves_figure([{"name": "a", "x": steps, "y": [4.0, 3.0, 2.0, 1.0]},
                                        {"name": "b", "x": steps[:2], "y": [1.0, np.nan], "color": "#000000"}],
                                       cursor_step=18.0, y_title="loss/d")
    t = _by_name(fig)
    assert (t["a @ cursor"].x[0], t["a @ cursor"].y[0]) == (20.0, 2.0)
    assert (t["b @ cursor"].x[0], t["b @ cursor"].y[0]) == (0.0, 1.0)  # its only finite point
    assert t["b"].line.color == "#000000" and t["b @ cursor"].marker.color == "#000000"
    cursor = t["cursor"]
    assert cursor.meta == {"cursor": 18.0} and list(cursor.x) == [18.0, 18.0]
    assert list(cursor.y) == [1.0, 4.0]  # spans every run's finite values
    assert fig.layout.yaxis.title.text == "loss/d"


def test_panel_explains_itself_with_a_title_a_colour_bar_and_its_runs_frame():
    ticks = [(0, "0 only G"), (0.5, "½"), (1, "1 only data")]
    fig = figures.gallery_panel_figure(None, field={**GRID, "title": "D*", "zmin": 0.0, "zmax": 1.0, "ticks": ticks},
                                       means=MEANS, sigma=0.01, bounds=BOUNDS, title="D* = p_data / (p_data + p_g)",
                                       frame_color="#636EFA")
    assert fig.layout.title.text == "D* = p_data / (p_data + p_g)"  # the panel's, not the colour bar's
    heat = _by_name(fig)["D*"]
    assert heat.showscale is not False and heat.colorbar.title.text == "D*"
    assert list(heat.colorbar.tickvals) == [0, 0.5, 1] and list(heat.colorbar.ticktext) == ["0 only G", "½",
                                                                                            "1 only data"]
    assert (heat.zmin, heat.zmax) == (0.0, 1.0)  # the bar's range is the probability's, the same in every panel
    assert fig.layout.xaxis.linecolor == fig.layout.yaxis.linecolor == "#636EFA" and fig.layout.xaxis.mirror
    plain = figures.gallery_panel_figure(X)
    assert [t.name for t in plain.data] == ["samples"]
    assert plain.layout.title.text is None and not plain.layout.xaxis.showline


def test_truth_note_promises_only_what_can_be_seen_at_the_drawn_scale():
    ring = dict(name="ring", has_modes=True, n_modes=8, sigma=0.01, width=4.0, cell=4.0 / 89)
    note = figures.truth_note([ring], contours=True)
    assert "× the 8 mode centres" in note and "3σ high-quality radius 0.03 (σ = 0.01)" in note
    assert "in this 4-wide view they hide under the ×" in note and "zoom in" in note
    assert "no log p_data contours: its modes are narrower than the 0.045-wide grid cells" in note
    assert "grey lines" not in note
    wide = dict(ring, sigma=0.2, cell=0.1)  # circles a tenth of the view and a grid finer than sigma
    note = figures.truth_note([wide], contours=True)
    assert "hide" not in note and "grey lines the contours of log p_data" in note
    spiral = dict(name="spiral", has_modes=False, n_modes=400, sigma=0.05, width=6.0, cell=6.0 / 89)
    assert figures.truth_note([spiral], contours=True) == "spiral: grey lines, contours of log p_data"
    assert figures.truth_note([spiral], contours=False) == "spiral: no modes to mark"
    assert not figures.contours_resolve(4.0 / 89, 0.01, True) and figures.contours_resolve(6.0 / 89, 0.05, False)
    assert not figures.contours_resolve(None, 0.05, False)


def test_theory_figures_use_the_runs_colour_and_label_the_share_bar():
    fig = figures.value_function_figure([0, 1], [-1.3, -1.2], [-1.0, -1.1], color="#00CC96")
    assert fig.data[0].line.color == "#00CC96" and fig.data[1].line.color != "#00CC96"
    hist = figures.mode_histogram_figure([0, 1], np.array([[0.5, 0.5], [1.0, 0.0]]))
    assert "share of" in hist.data[0].colorbar.title.text and hist.data[0].colorbar.tickformat == ".0%"


# ------------------------------------------------------------------------------------- conditional and inference
def test_confusion_figure_shows_row_shares_with_a_none_column():
    from dashboard.figures import confusion_figure

    fig = confusion_figure(np.array([[3, 1, 0], [0, 0, 4]]))
    heat = fig.data[0]
    np.testing.assert_allclose(heat.z, [[0.75, 0.25, 0.0], [0.0, 0.0, 1.0]])
    assert list(heat.x) == ["0", "1", "none"] and list(heat.y) == ["0", "1"]


def test_condition_panels_put_each_values_samples_in_its_own_panel_and_ring_its_mode():
    from dashboard.figures import condition_panels_figure

    x = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.1, 0.0]])
    labels = np.array([0, 1, 2, 0])
    means = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    fig = condition_panels_figure(x, labels, values=3, means=means, bounds=(-1, 3, -1, 3), targets=True, per_row=2)
    samples = [t for t in fig.data if t.hovertemplate]  # the samples' traces, one per panel, in value order
    assert [len(t.x) for t in samples] == [2, 1, 1] and list(samples[0].x) == [0.0, 0.1]
    rings = [t for t in fig.data if t.marker.symbol == "circle-open"]
    assert [(r.x[0], r.y[0]) for r in rings] == [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]
    assert [a.text for a in fig.layout.annotations] == ["0", "1", "2"]
    no_targets = condition_panels_figure(x, labels, values=3, means=means, bounds=None, targets=False)
    assert not [t for t in no_targets.data if t.marker.symbol == "circle-open"]


def test_reconstruction_figure_joins_each_point_to_its_reconstruction():
    from dashboard.figures import reconstruction_figure

    x, x_hat = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.5, 0.5], [1.0, 1.0]])
    fig = reconstruction_figure(x, x_hat, means=None, bounds=None)
    lines = next(t for t in fig.data if t.mode == "lines")
    np.testing.assert_array_equal(np.asarray(lines.x, dtype=float), [0.0, 0.5, np.nan, 1.0, 1.0, np.nan])
    np.testing.assert_array_equal(np.asarray(lines.y, dtype=float), [0.0, 0.5, np.nan, 0.0, 1.0, np.nan])
