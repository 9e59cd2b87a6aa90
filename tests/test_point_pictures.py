"""The Gallery's pictures of points panels (dashboard/point_pictures.py) against where things must land.

A picture maps the data rectangle (x0, x1, y0, y1) onto `width` pixels, y up: the point (x, y) is pixel
row floor((y1 - y) / (y1 - y0) * h), column floor((x - x0) / (x1 - x0) * w). Colours are Plotly's scales sampled
as Plotly samples them; samples are 60 % black over what is under them.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dashboard import point_pictures as pp

BOUNDS = (0.0, 10.0, 0.0, 10.0)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def cell(x: float, y: float, bounds=BOUNDS, width: int = 100) -> tuple[int, int]:
    x0, x1, y0, y1 = bounds
    h = round(width * (y1 - y0) / (x1 - x0))
    return int(np.floor((y1 - y) / (y1 - y0) * h)), int(np.floor((x - x0) / (x1 - x0) * width))


def test_a_sample_lands_where_the_axes_put_it_y_up():
    png = pp.points_picture(np.array([[2.5, 7.5]]), bounds=BOUNDS, width=100, dot=2, color="#000000")
    img = pixels(png)
    assert img.shape == (100, 100, 3)
    r, c = cell(2.5, 7.5)
    assert (r, c) == (25, 25)
    blended = round(255 * 0.4)  # 60 % black over white
    assert (img[r:r + 2, c:c + 2] == blended).all()
    assert (img[:r] == 255).all() and (img[r + 2:] == 255).all()  # nothing else painted
    low = pixels(pp.points_picture(np.array([[2.5, 0.5]]), bounds=BOUNDS, width=100, dot=1, color="#000000"))
    assert (low[cell(2.5, 0.5)] == blended).all() and cell(2.5, 0.5)[0] == 95  # near the bottom: y is up


def test_samples_outside_the_view_are_left_out_and_a_wide_view_is_wide():
    bounds = (-2.0, 2.0, -1.0, 1.0)
    img = pixels(pp.points_picture(np.array([[5.0, 0.0], [0.0, -3.0], [np.nan, 0.0]]), bounds=bounds, width=80))
    assert img.shape == (40, 80, 3) and (img == 255).all()


def test_the_heatmap_is_plotlys_colour_scale_at_each_cells_value():
    import plotly.colors as pc

    xs = ys = np.linspace(0.5, 9.5, 10)  # cells 1 wide, exactly covering the view
    z = np.arange(100, dtype=float).reshape(10, 10) / 99  # z[i, j] at (xs[j], ys[i])
    img = pixels(pp.points_picture(None, bounds=BOUNDS, width=100, field={"xs": xs, "ys": ys, "z": z, "zmin": 0,
                                                                            "zmax": 1, "colorscale": "RdBu"}))
    table = pp.colour_table("RdBu")
    expected = [[int(float(v)) for v in c[4:-1].split(",")] for c in pc.sample_colorscale("RdBu", [0.0, 0.5, 1.0])]
    np.testing.assert_array_equal(table[[0, 128, 255]][[0, 2]], np.array(expected)[[0, 2]])
    for i, j in [(0, 0), (3, 7), (9, 9), (5, 2)]:
        r, c = cell(xs[j], ys[i])
        np.testing.assert_array_equal(img[r, c], table[round(z[i, j] * 255)])


def test_contour_lines_of_a_ramp_are_evenly_spaced_verticals():
    xs, ys = np.linspace(0, 10, 50), np.linspace(0, 10, 50)
    ramp = np.tile(xs, (50, 1))  # z = x
    img = pixels(pp.points_picture(None, bounds=BOUNDS, width=130, contours={"xs": xs, "ys": ys, "z": ramp}))
    painted = np.flatnonzero((img != 255).any(-1).all(0))  # columns painted from top to bottom
    assert len(painted) == pp.CONTOUR_LEVELS
    # levels split [0, 10] into CONTOUR_LEVELS + 1 equal bands; each line is where one band meets the next
    np.testing.assert_allclose(painted, np.arange(1, pp.CONTOUR_LEVELS + 1) * 10, atol=1)
    assert not (img != 255).any(-1)[:, [0, 5, 129]].any()  # no line inside a band


def test_a_flat_density_draws_no_line():
    xs = np.linspace(0, 10, 30)
    flat = np.full((30, 30), -7.0)
    flat[10:20, 10:20] = -1.0  # one raised square: lines round it only
    img = pixels(pp.points_picture(None, bounds=BOUNDS, width=100, contours={"xs": xs, "ys": xs, "z": flat}))
    assert not (img != 255).any(-1)[:25].any() and not (img != 255).any(-1)[75:].any()


def test_modes_are_crossed_and_ringed_and_the_frame_is_the_runs_colour():
    img = pixels(pp.points_picture(None, bounds=BOUNDS, width=100, means=np.array([[5.0, 5.0]]), sigma=1.0,
                                   frame_color="#ff8800"))
    r, c = cell(5.0, 5.0)
    assert (img[r, c] == 0).all()  # the x's centre
    ring = [cell(5 + 3 * np.cos(t), 5 + 3 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 49)[::2]]
    assert all((img[rr, cc] == 0).all() for rr, cc in ring)  # the dotted 3-sigma circle
    for edge in (img[:3], img[-3:], img[:, :3], img[:, -3:]):
        assert (edge == [255, 136, 0]).all()


@pytest.mark.parametrize("scale", ["RdBu", "Reds"])
def test_colour_tables_run_from_the_scales_low_end_to_its_high_end(scale):
    import plotly.colors as pc

    ends = pc.sample_colorscale(scale, [0.0, 1.0])
    table = pp.colour_table(scale)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    np.testing.assert_array_equal(table[[0, -1]], [[int(float(v)) for v in c[4:-1].split(",")] for c in ends])
