"""Gallery: the selected runs' samples at one training step, D and D* beside them, a filmstrip, the theory.

Points runs draw their samples over the data plane (this file); image runs draw their fixed-latent grids
(dashboard/image_panels.py). Each run gets the panels of its data set's modality from the registries below, so a
selection may mix both.

One step slider (with play) moves every panel together; a run without a snapshot at that step shows its nearest
earlier one and says so in the panel's caption. A page's snapshots are read in parallel; above INTERACTIVE_MAX
runs a page the points panels are pictures drawn here (dashboard/point_pictures.py, begun in threads before the
page lays them out) instead of Plotly charts, which cost a browser too much to draw by the dozen. The ∇D arrows are central finite differences of the D grid that
every snapshot logs (data.field_gradient), so they exist at every step; a checkpoint holds D at the last step
only (the Artifacts page differentiates that one with autograd). Reads go through dashboard.data (cached),
figures come from dashboard.figures (pure); the scrubber is a fragment, so a slider move reruns only the panels.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data, figures, image_panels, point_pictures, sampling_panels, variant_panels, widgets
from engine.nets import arch_name
from engine.variants import VARIANTS

KEEP = "keep.gallery."  # app.py keeps widget keys with the "keep." prefix across page visits
STEP_KEY, PLAY_KEY, TICK_KEY, PICK_KEY = KEEP + "step", "gallery.playing", "gallery.tick", "gallery.pick"
VIEWS = ("Samples", "Filmstrip", "Theory", "Sampling")
UNDERLAYS = ("D(x)", "D*", "|D − D*|", "nothing")
LOSS_METRICS = ("loss/d", "loss/g", "d/real", "d/fake", "grad/d", "grad/g")
ARROW_POINTS = 150  # the first samples of the fixed evaluation batch: the same latents at every step
PLOT_CONFIG = {"displayModeBar": False}
RECENT_RUNS = 200  # the newest runs offered for adding to the selection here
# Up to this many runs a page the points panels are Plotly charts (hover, zoom); above it pictures drawn on the
# server (point_pictures), since each chart costs the browser a good fraction of a second to draw.
INTERACTIVE_MAX = 16
PICTURE_THREADS = 2  # pictures drawn at once (the machines this runs on have two cores or more)
SAMPLE_COLOR = "#111111"  # black reads on every heatmap colour; runs keep their colour in the loss chart
ARROW_COLOR = "#00b050"  # green: distinct from the black samples and from both ends of the RdBu heatmap
LEGEND = {"D(x)": "heatmap D(x): blue 1 = judged real, red 0 = judged fake (a critic's raw score: its own range)",
          "D*": "heatmap D* = p_data / (p_data + p_g): blue where the data outweighs the samples",
          "|D − D*|": "heatmap |D − D*|: white where D is optimal, dark red where it is far off",
          "nothing": ""}
SIDE_TITLES = {"D*": "D* = p_data / (p_data + p_g)", "|D − D*|": "|D − D*|: how far D is from D*"}


def keep_valid(key: str, options: list[Any], multi: bool = False) -> None:
    """Drop a kept widget value that the current options no longer hold (another selection, new steps)."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if multi:
        st.session_state[key] = [v for v in value if v in options]
    elif value not in options:
        del st.session_state[key]


def run_label(row: Any) -> str:
    return f"{row['name']} · {row['run_id'][:6]}"


def points_info(dataset: str) -> dict[str, Any]:
    """What every points panel needs from the run's data set: modes, view, contours."""
    m = data.mixture(dataset)
    contours = data.density_contours(dataset)
    cell = float(contours["xs"][1] - contours["xs"][0])
    x0, x1, _, _ = m.bounds()
    return dict(means=m.means if m.has_modes else None, sigma=m.sigma if m.has_modes else None, bounds=m.bounds(),
                has_modes=m.has_modes, n_modes=m.n_modes, cell=cell, width=x1 - x0, has_field=True,
                # the grid cannot draw modes narrower than its cells: no contours rather than specks
                contours=contours if figures.contours_resolve(cell, m.sigma, m.has_modes) else None)


UNKNOWN_DATA = dict(means=None, sigma=None, bounds=None, has_modes=False, n_modes=0, contours=None, cell=None,
                    width=None, has_field=True)


def run_infos(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per run: label, colour, dataset, modality and loss, and what its data set gives every panel."""
    infos = {}
    for i, row in enumerate(df.to_dict("records")):
        info = {"label": run_label(row), "color": figures.PALETTE[i % len(figures.PALETTE)],
                "dataset": row.get("dataset") or "", "loss": row.get("loss") or "", "active": bool(row.get("active")),
                "variant": row.get("params.variant") or "gan"}
        info["modality"] = data.modality(info["dataset"]) or "points"
        info["arch"] = arch_name(row.get("params.arch") or "auto", info["modality"]) if info["dataset"] else ""
        info["growing"] = "grow/resolution" in (row.get("metric_keys") or ())  # its side is logged: progan
        try:
            info.update(INFOS[info["modality"]](info["dataset"]))
        except ValueError:  # a run from another tool, or a data set this engine no longer has
            info.update(UNKNOWN_DATA)
        entry = VARIANTS.get(info["variant"])
        if entry is not None and not entry.judges_x:  # cGAN's D(x, y), BiGAN's D(x, z): no field of D alone
            info["has_field"] = False
            info["no_field"] = f"no D field: this {info['variant']} D judges {entry.judges}"
        infos[row["run_id"]] = info
    return infos


def pick_runs(selected: list[str]) -> list[str]:
    """The shared selection, editable here (adding from the store's RECENT_RUNS newest runs; the Runs page finds
    any other); a change here is the selection for every page."""
    try:
        known = (data.runs_by_id(selected), data.runs(limit=RECENT_RUNS))
    except data.StoreError as exc:
        st.error(str(exc))
        return selected
    labels = {r["run_id"]: run_label(r) for df in known for r in df.to_dict("records")}
    options = list(dict.fromkeys([*selected, *labels]))
    if st.session_state.get(PICK_KEY) != selected:
        st.session_state[PICK_KEY] = selected
    st.multiselect("Runs", options, key=PICK_KEY, format_func=lambda r: labels.get(r, r),
                   on_change=lambda: data.select_runs(st.session_state[PICK_KEY]),
                   help="The selection is shared with Runs, Compare and Artifacts.")
    return list(st.session_state[PICK_KEY])


def union_steps(run_ids: list[str], infos: dict[str, dict[str, Any]]) -> tuple[list[int], list[str]]:
    steps: set[int] = set()
    problems = []
    for got in data.steps_of_runs(run_ids, live=[r for r in run_ids if infos[r]["active"]]).values():
        if isinstance(got, data.StoreError):
            problems.append(str(got))
        else:
            steps.update(got)
    return sorted(steps), problems


# --------------------------------------------------------------------------------------------- samples view
def underlay(field: dict[str, Any] | None, which: str) -> tuple[dict[str, Any] | None, str]:
    """The heatmap under the samples, and a note when it cannot be drawn."""
    if which == "nothing":
        return None, ""
    if field is None:
        return None, "no D field logged"
    prob = field["d_is_prob"]
    if which == "D(x)":  # a critic's raw score has no fixed range: its colour bar shows the run's own
        return ({"xs": field["xs"], "ys": field["ys"], "z": field["d"], "title": "D(x)" if prob else "D raw",
                 "zmin": 0.0 if prob else None, "zmax": 1.0 if prob else None,
                 "ticks": [(0, "0 fake"), (0.5, "½"), (1, "1 real")] if prob else None}, "")
    if field["d_star"] is None:
        return None, "no D* logged (G diverged)"
    if which == "D*":
        return ({"xs": field["xs"], "ys": field["ys"], "z": field["d_star"], "title": "D*", "zmin": 0.0, "zmax": 1.0,
                 "ticks": [(0, "0 only G"), (0.5, "½"), (1, "1 only data")]}, "")
    if not prob:
        return None, "|D − D*| needs D as a probability; this run's D is a critic"
    return ({"xs": field["xs"], "ys": field["ys"], "z": np.abs(field["d"] - field["d_star"]), "title": "|D−D*|",
             "zmin": 0.0, "zmax": 1.0, "colorscale": "Reds", "ticks": [(0, "0 optimal"), (0.5, "0.5"), (1, "1")]},
            "")


def caption(frame: data.Frame, info: dict[str, Any], extra: list[str]) -> str:
    head = f"**{info['label']}** — step {frame.step}" if frame.step is not None else f"**{info['label']}** — no step"
    notes = [frame.message] if frame.message else []
    outside = figures.view_note(frame.x, info["bounds"])
    if outside:
        notes.append(outside)
    if frame.field is not None and frame.field.get("d_reference"):
        notes.append(figures.reference_note(frame.field["d_reference"]))
    return " · ".join([head, *notes, *[e for e in extra if e]])


def layers(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """What a points panel draws under and over the samples: the heatmap and the ∇D arrows (None where not asked
    for or not logged), with the notes that say why one is missing."""
    heat, note = underlay(frame.field, opts["underlay"])
    if note and info.get("no_field"):
        note = info["no_field"]
    arrows, arrow_note = None, ""
    if opts["arrows"] and frame.x is not None:
        if frame.field is None:
            arrow_note = "no ∇D: no D field logged"
        else:
            pts = frame.x[:ARROW_POINTS]
            arrows = (pts, data.field_gradient(frame.field["xs"], frame.field["ys"], frame.field["d"], pts))
    return {"heat": heat, "arrows": arrows, "notes": [note, arrow_note]}


def draw_panels(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> None:
    """One run at one step: caption, samples over the truth and the chosen heatmap, then D* and |D − D*|."""
    drawn = layers(frame, info, opts)
    heat, arrows = drawn["heat"], drawn["arrows"]
    st.caption(caption(frame, info, drawn["notes"]))
    if frame.x is None:
        st.info(frame.message or "Nothing logged to show.")
        return
    if opts["pictures"]:
        draw_pictures(frame, info, opts, heat)
        return
    # Beside (three panels a row) and at up to two panels a row there is room for colour bars; narrower panels
    # rely on the caption's legend.
    bars = opts["beside"] or opts["per_row"] <= 2
    common = dict(means=info["means"], sigma=info["sigma"], bounds=info["bounds"], height=opts["height"],
                  colorbar=bars, frame_color=info["color"])
    title = "samples" if heat is None else f"samples on {heat['title']}"
    fig = figures.gallery_panel_figure(frame.x, field=heat, contours=info["contours"] if opts["contours"] else None,
                                       arrows=arrows, color=SAMPLE_COLOR, marker_size=2.5, arrow_color=ARROW_COLOR,
                                       title=title, **common)
    if not opts["beside"]:
        st.plotly_chart(fig, key=f"gal-{frame.run_id}", config=PLOT_CONFIG)
        return
    cols = st.columns(3)
    with cols[0]:
        st.plotly_chart(fig, key=f"gal-{frame.run_id}", config=PLOT_CONFIG)
    for col, which in zip(cols[1:], ("D*", "|D − D*|")):
        side, why = underlay(frame.field, which)
        with col:
            if side is None:
                st.caption(f"{which}: {why}")
            else:
                st.plotly_chart(figures.gallery_panel_figure(None, field=side, title=SIDE_TITLES[which], **common),
                                key=f"gal-{frame.run_id}-{which}", config=PLOT_CONFIG)


def picture_args(info: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    return dict(bounds=info["bounds"], means=info["means"], sigma=info["sigma"], frame_color=info["color"],
                width=opts["height"])


def picture(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> bytes | None:
    """A points panel as a picture (point_pictures): the samples over the truth and the chosen heatmap; None for a
    data set this engine lacks (no bounds to frame the view with)."""
    if info["bounds"] is None:
        return None
    drawn = layers(frame, info, opts)
    return point_pictures.points_picture(frame.x, field=drawn["heat"], arrows=drawn["arrows"], color=SAMPLE_COLOR,
                                         contours=info["contours"] if opts["contours"] else None,
                                         arrow_color=ARROW_COLOR, **picture_args(info, opts))


def pictures_ahead(frames: dict[str, data.Frame], infos: dict[str, dict[str, Any]], opts: dict[str, Any],
                   pool: ThreadPoolExecutor) -> dict[str, Future]:
    """Every points panel's picture, begun in `pool` before the page lays them out: Pillow and numpy leave the GIL
    for most of the drawing, so two pictures are drawn at once while the page writes captions."""
    return {r: pool.submit(AHEAD[infos[r]["modality"]], f, infos[r], opts) for r, f in frames.items()
            if infos[r]["modality"] in AHEAD and f.x is not None}


def draw_pictures(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any], heat: dict[str, Any] | None
                  ) -> None:
    """The same panels as pictures (point_pictures), for pages of more than INTERACTIVE_MAX runs; the picture
    begun ahead (opts["ahead"]) where there is one."""
    ahead = opts.get("ahead", {}).get(frame.run_id)
    png = ahead.result() if ahead is not None else picture(frame, info, opts)
    if png is None:
        st.caption("no picture: this run's data set is unknown here")
        return
    common = picture_args(info, opts)
    if not opts["beside"]:
        st.image(png, output_format="PNG")
        return
    cols = st.columns(3)
    cols[0].image(png, caption="samples" if heat is None else f"samples on {heat['title']}", output_format="PNG")
    for col, which in zip(cols[1:], ("D*", "|D − D*|")):
        side, why = underlay(frame.field, which)
        if side is None:
            col.caption(f"{which}: {why}")
        else:
            col.image(point_pictures.points_picture(None, field=side, **common), caption=SIDE_TITLES[which],
                      output_format="PNG")


def advance_if_playing(steps: list[int], interval: float) -> None:
    """While playing, move the slider one snapshot on per tick; stop at the last one."""
    if not st.session_state.get(PLAY_KEY):
        return
    now = time.monotonic()
    if now - st.session_state.get(TICK_KEY, 0.0) < 0.8 * interval:
        return  # a rerun from something else than the timer
    st.session_state[TICK_KEY] = now
    current = st.session_state.get(STEP_KEY, steps[0])
    i = steps.index(current) if current in steps else -1
    if i + 1 >= len(steps):
        st.session_state[PLAY_KEY] = False
        st.rerun()  # a full run, so the fragment stops ticking
    st.session_state[STEP_KEY] = steps[i + 1]


def scrubber(run_ids: list[str], steps: list[int], infos: dict[str, dict[str, Any]], opts: dict[str, Any]) -> None:
    """The slider, the loss chart with its cursor and every panel: a fragment, rerun alone on a slider move."""
    advance_if_playing(steps, opts["interval"])
    if len(steps) > 1:
        step = st.select_slider("Step", options=steps, key=STEP_KEY,
                                help="Moves every panel; a run without a snapshot here shows its nearest earlier one.")
    else:
        step = steps[0]
        st.caption(f"One snapshot step so far: {step}")
    if opts["loss_metric"]:
        try:
            live = [r for r in run_ids if infos[r]["active"]]
            # a page of pictures is many runs: fewer points a line, and no legend (the panels' frames tell the
            # runs' colours; hovering a line names its run)
            curves = data.curves(run_ids, opts["loss_metric"], points=100 if opts["pictures"] else 200, live=live)
        except data.StoreError as exc:
            st.warning(str(exc))
            curves = {}
        series = [{"name": infos[r]["label"], "x": c.step, "y": c.mean, "color": infos[r]["color"]}
                  for r, c in curves.items() if r in infos]
        if series:
            st.plotly_chart(figures.cursor_curves_figure(series, step, y_title=opts["loss_metric"], height=170,
                                                         legend=not opts["pictures"]),
                            key="gal-loss", config=PLOT_CONFIG)
        else:
            st.caption(f"No {opts['loss_metric']} logged by these runs yet.")
    shown_sets = {infos[r]["dataset"]: infos[r] for r in run_ids if infos[r].get("width") is not None}
    truth = figures.truth_note([{"name": name, **{k: i[k] for k in ("has_modes", "n_modes", "sigma", "width", "cell")}}
                                for name, i in shown_sets.items()], opts["contours"])
    parts = [LEGEND[opts["underlay"]], truth]
    if shown_sets:
        parts.insert(1, "black dots: generated samples, each panel framed in its run's colour")
    if opts["arrows"]:
        parts.append("green arrows: ∇D at the samples (finite differences of the logged D grid), where G pushes them")
    if opts["beside"]:
        parts.append("beside: D* and |D − D*| on the same grid (D* is near 0 wherever p_data is negligible, that is "
                     "everywhere but within a few σ of a mode, where it may be only a few grid cells wide)")
    st.caption("; ".join(p for p in parts if p) + ".")
    per_row = 1 if opts["beside"] else opts["per_row"]
    frames = data.gallery_frames(run_ids, step, live=[r for r in run_ids if infos[r]["active"]],
                                 with_field=[r for r in run_ids if opts["needs_field"] and infos[r]["has_field"]])
    with ThreadPoolExecutor(max_workers=PICTURE_THREADS) as pool:
        if opts["pictures"]:
            opts = {**opts, "ahead": pictures_ahead(frames, infos, opts, pool)}
        for start in range(0, len(run_ids), per_row):
            cols = st.columns(per_row)
            for col, run_id in zip(cols, run_ids[start:start + per_row]):
                with col:
                    info = infos[run_id]
                    PANELS[info["modality"]](frames[run_id], info, opts)
                    variant_panels.draw(frames[run_id], info, opts)


def toggle_play(steps: list[int]) -> None:
    playing = not st.session_state.get(PLAY_KEY, False)
    if playing and st.session_state.get(STEP_KEY) == steps[-1]:
        st.session_state[STEP_KEY] = steps[0]  # play from the start when parked at the end
    st.session_state[PLAY_KEY] = playing
    st.session_state[TICK_KEY] = time.monotonic()


def points_options(c) -> dict[str, Any]:
    """The points panels' controls, in the first columns of the row the page gives."""
    return {
        "underlay": c[0].selectbox("Under the samples", UNDERLAYS, key=KEEP + "underlay",
                                   help="D's output (a probability for BCE/LSGAN, raw for critics), the optimal "
                                        "D* = p_data/(p_data+p_g), or their distance."),
        "beside": c[1].toggle("D* and |D − D*| beside", key=KEEP + "beside"),
        "arrows": c[2].toggle("∇D arrows", key=KEEP + "arrows",
                              help="grad D at the samples by central finite differences of the logged D grid, "
                                   "bilinearly interpolated: the direction G's samples are pushed."),
        "contours": c[3].toggle("p_data contours", key=widgets.initial(KEEP + "contours", True)),
    }


OPTION_WIDTHS = {"points": [1.2, 1, 1, 1], "images": [1, 1.5]}


def samples_view(run_ids: list[str], infos: dict[str, dict[str, Any]], steps: list[int]) -> None:
    present = list(dict.fromkeys(infos[r]["modality"] for r in run_ids))
    variants = list(dict.fromkeys(infos[r]["variant"] for r in run_ids))
    widths = [w for m in present for w in OPTION_WIDTHS[m]]
    variant_width = [1.2] if variant_panels.views_for(variants) else []
    c = st.columns([*widths, *variant_width, 1, 1.1])
    opts: dict[str, Any] = {"underlay": "nothing", "beside": False, "arrows": False, "contours": False}
    at = 0
    for m in present:  # each modality's controls, only where a run of it is shown
        opts.update(OPTIONS[m](c[at:at + len(OPTION_WIDTHS[m])]))
        at += len(OPTION_WIDTHS[m])
    opts.update(variant_panels.options(c[at:at + 1], variants))  # the variants' views, where a shown run has one
    at += len(variant_width)
    opts["per_row"] = c[at].selectbox("Panels a row", (1, 2, 3, 4, 5, 6), key=widgets.initial(KEEP + "per_row", 4))
    opts["loss_metric"] = c[at + 1].selectbox("Loss chart", (*LOSS_METRICS, None), key=KEEP + "loss",
                                              format_func=lambda m: m or "none")
    opts["needs_field"] = opts["underlay"] != "nothing" or opts["beside"] or opts["arrows"]
    opts["height"] = 260 if opts["beside"] else {1: 520, 2: 420, 3: 340}.get(opts["per_row"], 280)

    p = st.columns([1, 1.4, 4])
    per_page = p[2].select_slider("Runs a page", (4, 8, 16, 32, 64, 128), key=widgets.initial(KEEP + "per_page", 16),
                                  help=f"Up to {INTERACTIVE_MAX} runs a page the panels are charts (hover, zoom); "
                                       "more are drawn as pictures, which a browser shows at once.")
    pages = max(1, -(-len(run_ids) // per_page))
    page = st.pagination(pages, key=KEEP + "page") if pages > 1 else 1
    shown = run_ids[(page - 1) * per_page: page * per_page]
    opts["pictures"] = len(shown) > INTERACTIVE_MAX
    opts["interval"] = p[1].select_slider("Play speed (s a step)", (0.3, 0.5, 1.0, 2.0),
                                          key=widgets.initial(KEEP + "interval", 1.0))
    if len(steps) > 1:
        playing = st.session_state.get(PLAY_KEY, False)
        p[0].button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                    on_click=toggle_play, args=(steps,), key="gallery.play",
                    width="stretch")
    if st.session_state.get(STEP_KEY) not in steps:
        st.session_state[STEP_KEY] = steps[-1]
    run_every = opts["interval"] if st.session_state.get(PLAY_KEY) and len(steps) > 1 else None
    st.fragment(scrubber, run_every=run_every)(shown, steps, infos, opts)


# ------------------------------------------------------------------------------------------- filmstrip view
def spread(steps: list[int], k: int) -> list[int]:
    """k steps spread evenly over `steps`, first and last included."""
    if len(steps) <= k:
        return list(steps)
    idx = np.unique(np.round(np.linspace(0, len(steps) - 1, k)).astype(int))
    return [steps[i] for i in idx]


def filmstrip_view(run_ids: list[str], infos: dict[str, dict[str, Any]], steps: list[int]) -> None:
    present = list(dict.fromkeys(infos[r]["modality"] for r in run_ids))
    c = st.columns([4, *[1] * sum(FILM_OPTION_COLUMNS[m] for m in present)])
    keep_valid(KEEP + "film_steps", steps, multi=True)
    cols = c[0].multiselect("Steps (columns)", steps, key=widgets.initial(KEEP + "film_steps", spread(steps, 6)))
    opts: dict[str, Any] = {}
    at = 1
    for m in present:  # each modality's controls, only where a run of it is shown
        opts.update(FILM_OPTIONS[m](c[at:at + FILM_OPTION_COLUMNS[m]]))
        at += FILM_OPTION_COLUMNS[m]
    cols = sorted(cols)
    if not cols:
        st.info("Pick the steps to show as columns.")
        return
    by_dataset: dict[str, list[str]] = {}
    for r in run_ids:
        by_dataset.setdefault(infos[r]["dataset"], []).append(r)
    for dataset, group in by_dataset.items():
        if len(by_dataset) > 1:
            st.subheader(dataset or "unknown data set")
        FILMSTRIPS[infos[group[0]]["modality"]](group, infos, cols, opts)
    st.caption("Rows are runs, columns steps; \"from step N\": the run has no snapshot at that column's step and "
               "its nearest earlier one stands in.")


def points_filmstrip(group: list[str], infos: dict[str, dict[str, Any]], cols: list[int], opts: dict[str, Any]
                     ) -> None:
    """One figure for the points runs of a data set: rows runs, columns steps, cells their samples."""
    points, cell_px = opts["points"], opts["cell_px"]
    cells, notes, problems = [], [], []
    for r in group:
        row_cells, row_notes = [], []
        for s in cols:
            frame = data.gallery_frame(r, s, with_field=False, live=infos[r]["active"])
            row_cells.append(None if frame.x is None else frame.x[:points])
            row_notes.append("" if frame.exact or frame.step is None else f"from step {frame.step}")
            if frame.x is None and frame.step is not None:
                problems.append(f"{infos[r]['label']} @ {s}: {frame.message}")
        cells.append(row_cells)
        notes.append(row_notes)
    info = infos[group[0]]
    fig = figures.filmstrip_figure(cells, [infos[r]["label"] for r in group], [f"step {s}" for s in cols],
                                   notes=notes, means=info["means"], bounds=info["bounds"],
                                   colors=[infos[r]["color"] for r in group], cell_px=cell_px)
    st.plotly_chart(fig, key=f"film-{info['dataset']}", config=PLOT_CONFIG)
    for p in problems:
        st.warning(p)


# ---------------------------------------------------------------------------------------------- theory view
def theory_view(run_ids: list[str], infos: dict[str, dict[str, Any]]) -> None:
    keep_valid(KEEP + "theory_run", run_ids)
    run_id = st.selectbox("Run", run_ids, format_func=lambda r: infos[r]["label"], key=KEEP + "theory_run")
    info = infos[run_id]
    live = [run_id] if info["active"] else []
    try:
        cur = {k: data.curves([run_id], k, points=400, live=live).get(run_id)
               for k in ("theory/v", "theory/v_star", "d/real", "d/fake")}
    except data.StoreError as exc:
        st.error(str(exc))
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**V(D, G) against −log 4 + 2·JSD(p_data ‖ p_g)**")
        v, v_star = cur["theory/v"], cur["theory/v_star"]
        if v is None and v_star is None:
            st.info("No theory/v or theory/v_star logged: they need the data's exact density, which only the toy "
                    "mixtures have (points runs log them with each snapshot).")
        else:
            fig = figures.value_function_figure(v.step if v is not None else [], v.mean if v is not None else [],
                                                v_star.mean if v_star is not None else None,
                                                v_star.step if v_star is not None else None, color=info["color"])
            st.plotly_chart(fig, key="theory-v", config=PLOT_CONFIG)
            if v is None:
                st.caption(f"V(D, G) needs D as a probability; this run's loss is {info['loss']}, so only the "
                           "theory curve V(D*, G) is drawn.")
            else:
                st.caption("D* maximises V for a fixed G, so the logged V stays below the theory curve; the gap is how "
                           "far D is from optimal, the theory curve's height above −log 4 is 2·JSD.")
    with right:
        st.markdown("**D(x) on real data and D(G(z)) on fakes**")
        # the run's colour, as in the samples view's loss chart: real solid, fake dotted
        series = [{"name": name, "x": c.step, "y": c.mean, "ymin": c.vmin, "ymax": c.vmax, "color": info["color"],
                   "dash": dash}
                  for name, c, dash in (("D(x) real", cur["d/real"], None), ("D(G(z)) fake", cur["d/fake"], "dot"))
                  if c is not None]
        if not series:
            st.info("No d/real or d/fake logged yet.")
        else:
            refs = figures.references_for("d/real", {info["loss"]})
            st.plotly_chart(figures.curves_figure(series, references=refs, y_title="D", height=320),
                            key="theory-d", config=PLOT_CONFIG)
            st.caption("At the equilibrium p_g = p_data both reach ½." if refs else
                       f"No ½ line for {info['loss']}: it is drawn only where D's sigmoid is a probability "
                       "(minimax, ns); the curves show D's mean outputs as logged.")
    try:
        steps = data.snapshot_steps(run_id, live=info["active"])
    except data.StoreError as exc:
        st.error(str(exc))
        return
    SHARES[info["modality"]](run_id, info, steps)


def points_mode_shares(run_id: str, info: dict[str, Any], steps: list[int]) -> None:
    st.markdown("**Share of samples per mode over training**")
    if not info["has_modes"]:
        st.info(f"{info['dataset'] or 'This data set'} is continuous: it has no modes to count.")
        return
    read, shares = data.mode_shares(run_id, info["dataset"], steps)
    if not read:
        st.info("No readable sample snapshots yet.")
        return
    labels = [f"{k} ({mx + 0:.1f}, {my + 0:.1f})" for k, (mx, my) in enumerate(info["means"])]  # + 0: no "-0.0"
    st.plotly_chart(figures.mode_histogram_figure(read, shares, labels), key="theory-modes", config=PLOT_CONFIG)
    st.caption(f"Nearest-mode shares of the {len(data.load_samples(run_id, read[-1]))} evaluation samples at each "
               f"snapshot; uniform coverage is {1 / info['n_modes']:.1%} a mode. A dark row is a dropped mode.")
    if len(read) < len(steps):
        st.caption(f"{len(steps) - len(read)} snapshots left out (unreadable, or a diverged G's NaN samples).")


def points_film_options(columns) -> dict[str, Any]:
    return {"points": columns[0].selectbox("Points a cell", (250, 500, 1000, 2500),
                                           key=widgets.initial(KEEP + "film_points", 500)),
            "cell_px": columns[1].selectbox("Cell size (px)", (100, 140, 200, 260),
                                            key=widgets.initial(KEEP + "film_px", 140))}


def image_film_options(columns) -> dict[str, Any]:
    return {"side": columns[0].selectbox("Images a side", (2, 3, 4, 6, 8), key=widgets.initial(KEEP + "film_side", 4))}


def image_class_shares(run_id: str, info: dict[str, Any], steps: list[int]) -> None:
    st.markdown("**Share of samples per class over training**")
    image_panels.class_shares(run_id, info, steps)


# Each modality's pieces of the page: what a run's panels need from its data set, their controls, one run at one
# step, the filmstrip of a data set's runs, the share chart of the theory view.
INFOS = {"points": points_info, "images": image_panels.info}
OPTIONS = {"points": points_options, "images": image_panels.options}
PANELS = {"points": draw_panels, "images": image_panels.draw}
AHEAD = {"points": picture}  # panels drawn as pictures on pages of many runs, begun before the page lays them out
FILMSTRIPS = {"points": points_filmstrip,
              "images": lambda group, infos, cols, opts: image_panels.filmstrip(group, infos, cols, opts["side"])}
SHARES = {"points": points_mode_shares, "images": image_class_shares}
FILM_OPTIONS = {"points": points_film_options, "images": image_film_options}  # the filmstrip's controls
FILM_OPTION_COLUMNS = {"points": 2, "images": 1}


# ------------------------------------------------------------------------------------------------- the page
def main() -> None:
    st.title("Gallery")
    try:
        selected = data.selected_runs()
    except data.StoreError as exc:
        st.error(str(exc))
        return
    with st.expander(f"Runs shown ({len(selected)})", expanded=not selected):
        selected = pick_runs(selected)
    if not selected:
        st.info("No runs selected: pick some above, or on the Runs page.")
        return
    try:
        df = data.runs_by_id(selected)
    except data.StoreError as exc:
        st.error(str(exc))
        return
    missing = len(selected) - len(df)
    if missing:
        st.warning(f"{missing} selected run(s) are not in this store ({data.describe_store()}).")
    if df.empty:
        return
    run_ids = df["run_id"].tolist()
    infos = run_infos(df)
    view = st.segmented_control("View", VIEWS, key=widgets.initial(KEEP + "view", VIEWS[0]), required=True) or VIEWS[0]
    if view == "Theory":
        theory_view(run_ids, infos)
        return
    if view == "Sampling":
        sampling_panels.view(run_ids, infos)
        return
    steps, problems = union_steps(run_ids, infos)
    for p in problems:
        st.warning(p)
    if not steps:
        st.info("None of these runs has logged a sample snapshot yet (they come every eval_every steps).")
        return
    if view == "Filmstrip":
        filmstrip_view(run_ids, infos, steps)
    else:
        samples_view(run_ids, infos, steps)


main()
