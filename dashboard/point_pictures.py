"""The Gallery's points panels as pictures, for pages of many runs: drawn here, sent as PNG.

A page of 64 interactive Plotly panels costs the browser about a second a panel (a heatmap, contours and 2,500
markers each); the same panels as pictures cost it nothing, the way TensorBoard's and W&B's image cards do. A
picture has the layers of figures.gallery_panel_figure, bottom to top: the field heatmap in the same Plotly
colour scale, the log p_data contour lines, the grad-D arrows, the modes (x) with their dotted 3-sigma circles,
the samples, and a frame in the run's colour; the view is `bounds`, y up, one scale on both axes. Pure functions
of numpy arrays (Plotly only for its colour scales, Pillow for PNG); no hover or zoom: the page offers the
interactive panels at INTERACTIVE_MAX runs a page or fewer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from dashboard.figures import quiver_segments
from engine import pictures

CONTOUR_LEVELS = 12  # as the Plotly panels' ncontours
CONTOUR_RGB = (110, 110, 110)
NAN_RGB = (200, 200, 200)  # a field cell without a value


@lru_cache(maxsize=16)
def colour_table(colorscale: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8: the Plotly colour scale sampled at n points from its low end to its high end."""
    import plotly.colors as pc

    rgb = pc.sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, n)))
    return np.array([[int(float(v)) for v in c[c.index("(") + 1:-1].split(",")] for c in rgb], dtype=np.uint8)


def hex_rgb(color: str) -> np.ndarray:
    h = color.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


class Canvas:
    """An RGB picture of the data rectangle `bounds` = (x0, x1, y0, y1), `width` pixels wide, y up."""

    def __init__(self, bounds: Sequence[float], width: int):
        x0, x1, y0, y1 = (float(b) for b in bounds)
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.w = int(width)
        self.h = max(1, int(round(width * (y1 - y0) / (x1 - x0))))
        self.rgb = np.full((self.h, self.w, 3), 255.0, dtype=np.float32)
        # pixel centres in data units
        self.cx = x0 + (np.arange(self.w) + 0.5) * (x1 - x0) / self.w
        self.cy = y1 - (np.arange(self.h) + 0.5) * (y1 - y0) / self.h

    def pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the points (M, 2) that fall inside the picture."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        col = np.floor((p[:, 0] - self.x0) / (self.x1 - self.x0) * self.w)
        row = np.floor((self.y1 - p[:, 1]) / (self.y1 - self.y0) * self.h)
        ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < self.w) & (row >= 0) & (row < self.h)
        return row[ok].astype(np.int64), col[ok].astype(np.int64)

    def cover(self, rows: np.ndarray, cols: np.ndarray, dot: int = 1) -> np.ndarray:
        """The pixels (and the dot x dot square from each, clipped to the picture) as a mask."""
        mask = np.zeros((self.h, self.w), dtype=bool)
        for dr in range(dot):
            for dc in range(dot):
                mask[np.clip(rows + dr, 0, self.h - 1), np.clip(cols + dc, 0, self.w - 1)] = True
        return mask

    def paint(self, rows: np.ndarray, cols: np.ndarray, rgb: Sequence[float], alpha: float = 1.0,
              dot: int = 1) -> None:
        """Blend `rgb` into the pixels, at opacity `alpha`."""
        if len(rows):
            mask = self.cover(rows, cols, dot)
            self.rgb[mask] = (1 - alpha) * self.rgb[mask] + alpha * np.asarray(rgb, dtype=np.float32)

    def lines(self, xs: np.ndarray, ys: np.ndarray, rgb: Sequence[float], alpha: float = 1.0, width: int = 1
              ) -> None:
        """Polylines through (xs, ys), broken at NaN, as Plotly draws a lines trace."""
        x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        a = np.stack([x[:-1], y[:-1]], 1)
        b = np.stack([x[1:], y[1:]], 1)
        keep = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        a, b = a[keep], b[keep]
        if not len(a):
            return
        px = max(self.w / (self.x1 - self.x0), self.h / (self.y1 - self.y0))
        steps = int(np.clip(np.ceil(np.linalg.norm(b - a, axis=1).max() * px) + 1, 2, 4 * max(self.w, self.h)))
        t = np.linspace(0.0, 1.0, steps)[None, :, None]
        rows, cols = self.pixels((a[:, None, :] + t * (b - a)[:, None, :]).reshape(-1, 2))
        self.paint(rows, cols, rgb, alpha, width)

    def png(self) -> bytes:
        # zlib's quickest level: a page of 64 pictures is drawn at every slider move
        return pictures.png(np.clip(np.round(self.rgb), 0, 255).astype(np.uint8), compress_level=1)


def _cells(centres: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid cell nearest each pixel centre, and whether the centre lies within the grid's cells."""
    g = np.asarray(grid, dtype=np.float64)
    half = (g[-1] - g[0]) / max(len(g) - 1, 1) / 2
    idx = np.clip(np.round(np.interp(centres, g, np.arange(len(g)))).astype(np.int64), 0, len(g) - 1)
    return idx, (centres >= g[0] - half) & (centres <= g[-1] + half)


def _heatmap(c: Canvas, field: Mapping[str, Any]) -> None:
    z = np.asarray(field["z"], dtype=np.float64)
    finite = z[np.isfinite(z)]
    lo = field.get("zmin") if field.get("zmin") is not None else (finite.min() if finite.size else 0.0)
    hi = field.get("zmax") if field.get("zmax") is not None else (finite.max() if finite.size else 1.0)
    # each grid cell's colour once, then gathered to the pixels
    table = colour_table(field.get("colorscale", "RdBu"))
    t = np.clip((z - lo) / (hi - lo) if hi > lo else np.full_like(z, 0.5), 0.0, 1.0)
    cells = table[np.round(np.nan_to_num(t) * (len(table) - 1)).astype(np.int64)].astype(np.float32)
    cells[~np.isfinite(z)] = NAN_RGB
    ix, in_x = _cells(c.cx, field["xs"])
    iy, in_y = _cells(c.cy, field["ys"])
    rgb = cells[iy][:, ix]
    if in_x.all() and in_y.all():
        c.rgb[:] = rgb
    else:
        inside = in_y[:, None] & in_x[None, :]
        c.rgb[inside] = rgb[inside]


def _contours(c: Canvas, contours: Mapping[str, Any]) -> None:
    """Iso-lines of the field at CONTOUR_LEVELS equal steps, where its bilinear interpolation at neighbouring
    pixels falls between two levels."""
    xs, ys = np.asarray(contours["xs"], np.float64), np.asarray(contours["ys"], np.float64)
    z = np.asarray(contours["z"], np.float64)
    fx = np.interp(c.cx, xs, np.arange(len(xs)))
    fy = np.interp(c.cy, ys, np.arange(len(ys)))
    j0, i0 = np.clip(np.floor(fx).astype(int), 0, len(xs) - 2), np.clip(np.floor(fy).astype(int), 0, len(ys) - 2)
    tx, ty = (fx - j0)[None, :], (fy - i0)[:, None]
    zi = ((1 - tx) * (1 - ty) * z[i0][:, j0] + tx * (1 - ty) * z[i0][:, j0 + 1]
          + (1 - tx) * ty * z[i0 + 1][:, j0] + tx * ty * z[i0 + 1][:, j0 + 1])
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    if not hi > lo:
        return
    # clipped: rounding in the interpolation must not draw a line inside a flat (floored) region
    band = np.clip(np.floor((zi - lo) / ((hi - lo) / (CONTOUR_LEVELS + 1))), 0, CONTOUR_LEVELS).astype(np.int64)
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rows, cols = np.nonzero(edge)
    c.paint(rows, cols, CONTOUR_RGB, alpha=0.8)


def _modes(c: Canvas, means: np.ndarray, sigma: float | None) -> None:
    mu = np.asarray(means, dtype=np.float64).reshape(-1, 2)
    arm = 4.0 * (c.x1 - c.x0) / c.w  # 4 pixels in data units
    for dx, dy in ((1, 1), (1, -1)):  # the x marker
        seg = np.stack([mu - arm * np.array([dx, dy]), mu + arm * np.array([dx, dy]), np.full_like(mu, np.nan)], 1)
        c.lines(seg[:, :, 0].ravel(), seg[:, :, 1].ravel(), (0, 0, 0), width=2)
    if sigma is not None:
        t = np.linspace(0, 2 * np.pi, 49)[::2]  # dots every other step round the 3-sigma circle
        r = 3.0 * float(sigma)
        rows, cols = c.pixels((mu[:, None, :] + r * np.stack([np.cos(t), np.sin(t)], 1)[None]).reshape(-1, 2))
        c.paint(rows, cols, (0, 0, 0))


class Layer(Canvas):
    """A transparent picture to lay over a canvas: what it paints, and where (alpha)."""

    def __init__(self, bounds: Sequence[float], width: int):
        super().__init__(bounds, width)
        self.alpha = np.zeros((self.h, self.w), dtype=np.float32)

    def paint(self, rows: np.ndarray, cols: np.ndarray, rgb: Sequence[float], alpha: float = 1.0,
              dot: int = 1) -> None:
        """Put `rgb` at the pixels, at opacity `alpha` (what is painted later covers what was before)."""
        if len(rows):
            mask = self.cover(rows, cols, dot)
            self.rgb[mask] = np.asarray(rgb, dtype=np.float32)
            self.alpha[mask] = alpha

    def over(self, c: Canvas) -> None:
        """Blend this layer into the canvas."""
        a = self.alpha[..., None]
        c.rgb[:] = (1 - a) * c.rgb + a * self.rgb


_TRUTH_LAYERS: dict[tuple, Layer] = {}


def _truth_layer(bounds: Sequence[float], width: int, contours: Mapping[str, Any] | None, means: np.ndarray | None,
                 sigma: float | None) -> Layer:
    """The contour lines and the modes, the same at every step of every run of a data set: drawn once."""
    key = (tuple(float(b) for b in bounds), int(width), sigma,
           None if contours is None else hash(np.asarray(contours["z"]).tobytes()),
           None if means is None else np.asarray(means, np.float64).tobytes())
    if key not in _TRUTH_LAYERS:
        layer = Layer(bounds, width)
        if contours is not None:
            _contours(layer, contours)
        if means is not None:
            _modes(layer, means, sigma)
        _TRUTH_LAYERS[key] = layer
        while len(_TRUTH_LAYERS) > 64:
            _TRUTH_LAYERS.pop(next(iter(_TRUTH_LAYERS)))
    return _TRUTH_LAYERS[key]


def points_picture(x: np.ndarray | None, *, bounds: Sequence[float], field: Mapping[str, Any] | None = None,
                   contours: Mapping[str, Any] | None = None, arrows: tuple[np.ndarray, np.ndarray] | None = None,
                   means: np.ndarray | None = None, sigma: float | None = None, color: str = "#111111",
                   arrow_color: str = "#00b050", frame_color: str | None = None, width: int = 280,
                   dot: int = 2) -> bytes:
    """One gallery panel as PNG bytes: the arguments of figures.gallery_panel_figure (field {xs, ys, z, zmin,
    zmax, colorscale}, contours {xs, ys, z}, arrows (points, vectors), means, sigma, samples `x`), `width`
    pixels wide over `bounds`; samples are dot x dot squares at 60 % opacity."""
    c = Canvas(bounds, width)
    if field is not None:
        _heatmap(c, field)
    if contours is not None or means is not None:
        _truth_layer(bounds, width, contours, means, sigma).over(c)
    if arrows is not None:
        ax, ay = quiver_segments(arrows[0], arrows[1], None, bounds)
        c.lines(ax, ay, hex_rgb(arrow_color))
    if x is not None:
        rows, cols = c.pixels(x)
        c.paint(rows, cols, hex_rgb(color), alpha=0.6, dot=dot)
    if frame_color:
        rim = hex_rgb(frame_color)
        c.rgb[:3], c.rgb[-3:], c.rgb[:, :3], c.rgb[:, -3:] = rim, rim, rim, rim
    return c.png()
