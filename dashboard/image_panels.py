"""The Gallery's and the Artifacts page's panels for image runs: a run's fixed-latent grid of samples at one step,
the nearest real images beside them on request, a filmstrip of grids over steps, the class shares over training.

The points panels live in views/gallery.py; the page picks a run's panels by its data set's modality from the
registries there, so neither branches on the other. Pictures are tiled by engine.pictures (the same grid the
training loop logs as PNG) and blown up pixel for pixel, so that an 8 x 8 digit stays sharp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from dashboard import data, figures, widgets
from engine import pictures

KEEP = "keep.gallery."
GRID_SIDES = (2, 4, 6, 8)  # images a side of a grid: the snapshot holds 8 x 8
NEAREST_SHOWN = 8  # samples paired with their nearest training image
TARGET_PX = {1: 420, 2: 360, 3: 300}  # a grid's width by panels a row


def info(dataset: str) -> dict[str, Any]:
    """What every image panel of a run needs from its data set."""
    images = data.mixture(dataset)
    return {"shape": images.shape, "n_classes": images.n_classes, "has_field": False}  # no plane to grid D on


def options(columns) -> dict[str, Any]:
    """The image panels' controls, in the row of columns the page gives."""
    return {"grid_side": columns[0].selectbox("Images a side", GRID_SIDES, key=widgets.initial(KEEP + "grid_side", 8),
                                              help="The grid shows the first side x side of the 64 fixed latents "
                                                   "logged at every step."),
            "nearest": columns[1].toggle("Nearest real images", key=KEEP + "nearest",
                                         help=f"Under the first {NEAREST_SHOWN} samples, the training image nearest "
                                              "to each in pixels (L2): a sample that matches its neighbour was "
                                              "memorised rather than generated.")}


def scale_for(shape: tuple[int, ...], side: int, width_px: int) -> int:
    """Whole pixels per image pixel so that a grid of `side` images is about width_px wide."""
    return max(1, width_px // (side * (shape[-1] + pictures.PAD)))


def picture(x: np.ndarray, side: int, width_px: int, columns: int | None = None) -> tuple[bytes, int]:
    """(PNG bytes, its width in pixels) of x tiled `columns` (default `side`) wide, blown up to about width_px."""
    tiled = pictures.grid(x, columns or side)
    scale = scale_for(x.shape, columns or side, width_px)
    return pictures.png(tiled, scale), tiled.shape[1] * scale


def show(x: np.ndarray, side: int, width_px: int, caption: str, columns: int | None = None) -> None:
    """x as a grid at its own pixel size: a column never stretches one picture more than the next."""
    png, width = picture(x, side, width_px, columns)
    st.image(png, caption=caption, width=width, output_format="PNG")  # as drawn: no JPEG blur on the pixels


def growth_note(frame: data.Frame, run: dict[str, Any]) -> str:
    """For a growing run (one that logs grow/resolution: progan), the side its nets had at the frame's step and
    the fade-in's alpha while a level fades in; '' for any other run."""
    if not run.get("growing") or frame.step is None:
        return ""
    try:
        side = data.metric_at(frame.run_id, "grow/resolution", frame.step, live=run["active"])
        alpha = data.metric_at(frame.run_id, "grow/alpha", frame.step, live=run["active"])
    except data.StoreError:
        return ""
    if side is None:
        return ""
    full = run["shape"][-1]
    note = f"grown to {side:g} × {side:g}" + ("" if side >= full else f", shown at {full} × {full}")
    return note + (f", fading in (α {alpha:.2f})" if alpha is not None and alpha < 1 else "")


def draw(frame: data.Frame, run: dict[str, Any], opts: dict[str, Any]) -> None:
    """One image run at one step: caption, its grid, and the nearest real images when asked for."""
    head = f"**{run['label']}** — step {frame.step}" if frame.step is not None else f"**{run['label']}** — no step"
    dot = f"<span style='color:{run['color']}'>●</span> "  # the run's colour, as in the loss chart
    notes = [n for n in (growth_note(frame, run), frame.message) if n]
    st.caption(dot + " · ".join([head, *notes]), unsafe_allow_html=True)
    if frame.x is None:
        st.info(frame.message or "Nothing logged to show.")
        return
    side = opts["grid_side"]
    width = TARGET_PX.get(opts["per_row"], 240)
    show(frame.x[:side * side], side, width, f"{min(side * side, len(frame.x))} samples at fixed latents")
    if not opts["nearest"]:
        return
    shown = frame.x[:NEAREST_SHOWN]
    try:
        nearest, dist = data.nearest_real(run["dataset"], shown)
    except ValueError as exc:
        st.caption(str(exc))
        return
    pairs = np.concatenate([shown, nearest])  # row 1 the samples, row 2 their nearest training images
    show(pairs, len(shown), width, "top: samples; below: the nearest training image to each, L2 in pixels "
         + ", ".join(f"{d:.1f}" for d in dist), columns=len(shown))


def filmstrip(group: list[str], runs: dict[str, dict[str, Any]], steps: list[int], side: int) -> None:
    """Rows are runs, columns steps: each cell the first side x side samples of that snapshot."""
    for run_id in group:
        run = runs[run_id]
        st.markdown(f"<span style='color:{run['color']}'>●</span> **{run['label']}**", unsafe_allow_html=True)
        cols = st.columns(len(steps))
        for col, step in zip(cols, steps):
            frame = data.gallery_frame(run_id, step, with_field=False, live=run["active"])
            with col:
                if frame.x is None:
                    st.caption(f"step {step}: {frame.message}")
                    continue
                note = "" if frame.exact else f" (from step {frame.step})"
                show(frame.x[:side * side], side, 140, f"step {step}{note}")


def class_shares(run_id: str, run: dict[str, Any], steps: list[int]) -> None:
    """The share of G's evaluation samples in each class at every snapshot: a dark row is a dropped class."""
    read, shares = data.class_shares(run_id, steps)
    if not read:
        st.info("No class histograms logged yet (classes/ snapshots come with every evaluation).")
        return
    labels = [str(k) for k in range(shares.shape[1])]
    st.plotly_chart(figures.mode_histogram_figure(read, shares, labels, kind="class"), key="theory-classes",
                    config={"displayModeBar": False})
    st.caption(f"Classifier shares of the {run['dataset']} evaluation samples at each snapshot; uniform coverage is "
               f"{1 / shares.shape[1]:.1%} a class. A dark row is a class G no longer draws.")
