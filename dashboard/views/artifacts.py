"""Artifacts: the artifact tree of one run, previews by file type, a download for every file, checkpoint sampling.

Everything is read through dashboard.data, which lists and downloads with MlflowClient (the same code for the
embedded store and a tracking server) and refuses any path that list_artifacts did not return for the chosen
run. Previews are size-capped (data.PREVIEW_MAX_BYTES); downloads are deferred, so a large file is read only
when its button is clicked. A file that cannot be read gives a message, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard import data, figures, image_panels
from engine.variants import VARIANTS

KEEP = "keep.artifacts."  # app.py keeps widget keys with the "keep." prefix across page visits
RUN_KEY, FILE_KEY, SAMPLE_KEY = KEEP + "run", KEEP + "file", "artifacts.sample_request"
TREE_PAGE = 40  # files a page in the tree
RECENT_RUNS = 200  # the newest runs offered beside the selected ones (the Runs page finds any other)
ARROW_POINTS = 200
PLOT_CONFIG = {"displayModeBar": False}


def human(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def choose_run() -> tuple[str | None, dict[str, Any]]:
    """The run to browse: the selected runs first, then the store's RECENT_RUNS newest; `?run=` preselects one
    (any run of the store)."""
    wanted = st.query_params.get("run")
    try:
        selected = data.selected_runs()
        known = (data.runs_by_id([*selected, *([wanted] if wanted else [])]), data.runs(limit=RECENT_RUNS))
    except data.StoreError as exc:
        st.error(str(exc))
        return None, {}
    rows = {r["run_id"]: r for df in known for r in df.to_dict("records")}
    options = list(dict.fromkeys([*[r for r in selected if r in rows], *rows]))
    if not options:
        st.info("No runs in this store yet.")
        return None, {}
    if wanted is not None and wanted not in rows:
        # A link to a run of another store (or a mistyped id) must not quietly show some other run.
        shown = wanted.replace("`", "'")[:80]
        st.error(f"Run `{shown}` is not in this store ({data.describe_store()}).")
        st.page_link("views/runs.py", label="Browse the runs of this store", icon=":material/table_rows:")
        return None, {}
    if wanted in rows and RUN_KEY not in st.session_state:
        st.session_state[RUN_KEY] = wanted
    if st.session_state.get(RUN_KEY) not in options:
        st.session_state.pop(RUN_KEY, None)
    chosen = set(selected)
    run_id = st.selectbox("Run", options, key=RUN_KEY,
                          format_func=lambda r: f"{'★ ' if r in chosen else ''}{rows[r]['name']} · {r[:8]} · "
                                                f"{rows[r]['status']}",
                          help="★ marks the runs selected on the Runs page.")
    return run_id, rows[run_id]


def tree(run_id: str, files: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    """Folders and files, indented, each file with its size and a (deferred) download button."""
    pages = max(1, -(-len(entries) // TREE_PAGE))
    page = st.pagination(pages, key=f"artifacts.tree_page.{run_id}") if pages > 1 else 1
    with st.container(height=520):
        for e in entries[(page - 1) * TREE_PAGE: page * TREE_PAGE]:
            indent = "\u2003" * e["depth"]
            name = Path(e["path"]).name
            if e["is_dir"]:
                n = sum(1 for f in files if f["path"].startswith(e["path"] + "/"))
                st.markdown(f"{indent}:material/folder: **{name}/** <small>({n} files)</small>", unsafe_allow_html=True)
                continue
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(f"{indent}:material/description: `{name}` <small>{human(e['size'])}</small>",
                          unsafe_allow_html=True)
            right.download_button("", icon=":material/download:", data=data.artifact_download(run_id, e["path"]),
                                  file_name=name,
                                  key=f"artifacts.dl.{run_id}.{e['path']}", help=f"Download {e['path']}",
                                  on_click="ignore")


def npz_preview(arrays: dict[str, np.ndarray], path: str, dataset: str) -> None:
    st.dataframe(data.array_summary(arrays), hide_index=True)
    x = arrays.get("x")
    if x is not None and x.ndim in (3, 4) and x.dtype.kind == "f" and len(x):  # images: (N, C, H, W) or (N, H, W)
        side = int(np.ceil(np.sqrt(min(len(x), 64))))
        step = f" at step {int(arrays['step'])}" if "step" in arrays and arrays["step"].shape == () else ""
        image_panels.show(x[:side * side], side, 420, f"{min(len(x), side * side)} of the {len(x)} images of 'x'{step}, "
                          "pixels [-1, 1] as black to white")
        return
    try:
        view = PLANE_VIEWS[data.modality(dataset) or "points"](dataset)
    except ValueError:  # a data set this engine lacks: the points on their own extent
        view = NO_PLANE
    if x is not None and x.ndim == 2 and x.shape[1] == 2 and x.dtype.kind == "f":
        step = f" at step {int(arrays['step'])}" if "step" in arrays and arrays["step"].shape == () else ""
        if view["bounds"] is not None:  # widened to the samples (up to a cap), so that none is silently cut off
            view["bounds"] = figures.covering_view(x, view["bounds"])
        outside = figures.view_note(x, view["bounds"])
        st.caption(f"Samples snapshot{step}: {len(x)} points over the data set's modes"
                   + (f" · {outside}" if outside else ""))
        st.plotly_chart(figures.gallery_panel_figure(x, color="#111111", marker_size=3, height=480, **view),
                        key="artifacts.npz.samples", config=PLOT_CONFIG)
    if {"xs", "ys", "d"} <= arrays.keys() and arrays["d"].shape == (len(arrays["ys"]), len(arrays["xs"])):
        prob = bool(arrays.get("d_is_prob", False))
        panels = [("D" if prob else "D raw (critic)", arrays["d"], 0.0 if prob else None, 1.0 if prob else None)]
        if arrays.get("d_star") is not None and arrays["d_star"].shape == arrays["d"].shape:
            panels.append(("D*", arrays["d_star"], 0.0, 1.0))
        cols = st.columns(len(panels))
        for col, (title, z, lo, hi) in zip(cols, panels):
            with col:
                st.caption(title)
                st.plotly_chart(figures.field_figure(arrays["xs"], arrays["ys"], z, zmin=lo, zmax=hi),
                                key=f"artifacts.npz.{title}", config=PLOT_CONFIG)


def checkpoint_preview(run_id: str, path: str, summary: dict[str, Any]) -> None:
    cfg = summary["config"]
    st.markdown(f"Checkpoint at step **{summary['step']}** · {cfg.get('loss')} on {cfg.get('dataset')} · "
                f"G {summary['parameters_G']:,} parameters, D {summary['parameters_D']:,}"
                + (" · EMA generator" if summary["has_G_ema"] else ""))
    with st.expander("Config and keys"):
        st.json({"keys": summary["keys"], "config": cfg}, expanded=False)
    with st.form(f"artifacts.sample_form.{run_id}.{path}", border=True):
        st.markdown("**Sample this checkpoint**")
        c = st.columns(4)
        # No min/max: the browser would keep an out-of-range number in the box and sample the last accepted one.
        form = dict(SAMPLE_FORMS[data.modality(cfg.get("dataset", "")) or "points"])
        variant = VARIANTS.get(cfg.get("variant", "gan"))
        form["gradients"] &= variant is None or variant.judges_x  # cGAN's D(x, y), BiGAN's D(x, z): no ∇D of x
        seed = c[0].number_input("Seed", value=0, step=1)
        count = c[1].number_input("Count", value=form["count"], step=form["count_step"])
        ema = c[2].toggle("EMA generator", value=summary["has_G_ema"], disabled=not summary["has_G_ema"])
        grads = c[3].toggle("∇D arrows (autograd)", value=form["gradients"], disabled=not form["gradients"],
                            help="Points, and a D that judges a point alone: images have no plane to draw D's "
                                 "gradient on, and cGAN's and BiGAN's D judge pairs.")
        if st.form_submit_button("Sample"):
            st.session_state[SAMPLE_KEY] = (run_id, path, int(seed), int(count), bool(ema), bool(grads))
    problems = [f"{label}: {value} is out of range, allowed {lo} to {hi:,}" for label, value, lo, hi in
                (("Seed", int(seed), 0, 2**31 - 1), ("Count", int(count), 1, data.MAX_CHECKPOINT_SAMPLES))
                if not lo <= value <= hi]
    if problems:
        st.error("; ".join(problems))
        st.session_state.pop(SAMPLE_KEY, None)
        return
    request = st.session_state.get(SAMPLE_KEY)
    if not request or request[:2] != (run_id, path):
        return
    _, _, seed, count, ema, grads = request
    try:
        with st.spinner("Sampling…"):
            out = data.sample_checkpoint(run_id, path, seed, count, ema, ARROW_POINTS if grads else 0)
    except data.StoreError as exc:
        st.error(str(exc))
        return
    CHECKPOINT_SAMPLES[out["modality"]](out, seed)


def image_checkpoint_samples(out: dict[str, Any], seed: int) -> None:
    x = out["x"]
    side = int(np.ceil(np.sqrt(min(len(x), 256))))
    image_panels.show(x[:side * side], side, 560, f"{min(len(x), side * side)} of {len(x)} samples of "
                      f"{out['generator']} at step {out['step']} from latents drawn with seed {seed}")


def points_checkpoint_samples(out: dict[str, Any], seed: int) -> None:
    x = out["x"]
    if not np.isfinite(x).all():
        st.warning(f"{int((~np.isfinite(x).all(1)).sum())} of {len(x)} samples are not finite: this generator "
                   "diverged.")
        x = x[np.isfinite(x).all(1)]
    m = data.mixture(out["config"]["dataset"])
    field = out["field"] or {}
    prob = field.get("d_is_prob", False)
    heat = {"xs": field["xs"], "ys": field["ys"], "z": field["d"], "title": "D" if prob else "D raw",
            "zmin": 0.0 if prob else None, "zmax": 1.0 if prob else None} if field else None
    arrows = (out["x"][:len(out["grad"])], out["grad"]) if len(out["grad"]) else None
    bounds = figures.covering_view(x, m.bounds())  # widened to the samples (up to a cap); D stays on its grid
    fig = figures.gallery_panel_figure(x, field=heat, arrows=arrows, means=m.means if m.has_modes else None,
                                       sigma=m.sigma if m.has_modes else None, bounds=bounds, color="#111111",
                                       marker_size=3, arrow_color="#00b050", height=560)
    st.plotly_chart(fig, key="artifacts.ckpt.samples", config=PLOT_CONFIG)
    outside = figures.view_note(x, bounds)
    reference = f"; {figures.reference_note(field.get('d_reference'))}" if field.get("d_reference") else ""
    st.caption(f"{len(out['x'])} samples of {out['generator']} at step {out['step']} from latents drawn with seed "
               f"{seed}" + (f", over this checkpoint's D on the evaluation grid (the data set's bounds){reference}"
                            if field else f" (this {out['config'].get('variant')} D judges no point alone: no field)")
               + (f"; green arrows: ∇D at the first {len(out['grad'])} samples by torch autograd through D"
                  if arrows else "") + (f"; {outside}" if outside else "") + ".")


def points_plane(dataset: str) -> dict[str, Any]:
    m = data.mixture(dataset)
    return dict(means=m.means if m.has_modes else None, sigma=m.sigma if m.has_modes else None, bounds=m.bounds())


NO_PLANE = dict(means=None, sigma=None, bounds=None)

# Each modality's pieces of the page, by the run's data set: the plane a 2-D samples array is drawn on, the
# checkpoint form's defaults (how many to draw, and whether D's gradient has a plane to be drawn on), and how a
# checkpoint's samples are shown.
PLANE_VIEWS = {"points": points_plane, "images": lambda dataset: NO_PLANE}
SAMPLE_FORMS = {"points": {"count": 2500, "count_step": 500, "gradients": True},
                "images": {"count": 64, "count_step": 16, "gradients": False}}
CHECKPOINT_SAMPLES = {"points": points_checkpoint_samples, "images": image_checkpoint_samples}


def preview(run_id: str, entry: dict[str, Any], dataset: str) -> None:
    path = entry["path"]
    st.subheader(path)
    st.download_button(f"Download {Path(path).name} ({human(entry['size'])})",
                       data=data.artifact_download(run_id, path), file_name=Path(path).name,
                       key=f"artifacts.dl_main.{run_id}.{path}", on_click="ignore")
    p = data.artifact_preview(run_id, path)
    if p.kind == "error":
        st.error(p.message)
    elif p.kind == "none":
        st.info(p.message)
    elif p.kind == "json":
        st.json(p.value, expanded=2)
    elif p.kind == "text":
        st.code(p.value, language=p.language)
    elif p.kind == "table":
        st.dataframe(p.value)
    elif p.kind == "image":
        st.image(p.value)
    elif p.kind == "npz":
        npz_preview(p.value, path, dataset)
    elif p.kind == "checkpoint":
        checkpoint_preview(run_id, path, p.value)


def main() -> None:
    st.title("Artifacts")
    run_id, row = choose_run()
    if run_id is None:
        return
    try:
        entries = data.artifact_tree(run_id)
    except data.StoreError as exc:
        st.error(str(exc))
        return
    files = [e for e in entries if not e["is_dir"]]
    if not files:
        st.info("This run has no artifacts (yet): a queued run has none, a running one gets its first snapshot "
                "at step 0.")
        return
    st.caption(f"{len(files)} files, {human(sum(f['size'] or 0 for f in files))} · read through the MLflow client "
               f"from {data.describe_store()}")
    left, right = st.columns([2, 3], gap="large")
    with left:
        tree(run_id, files, entries)
    with right:
        paths = [f["path"] for f in files]
        sizes = {f["path"]: human(f["size"]) for f in files}
        if st.session_state.get(FILE_KEY) not in paths:
            default = "config.json" if "config.json" in paths else paths[0]
            st.session_state[FILE_KEY] = default
        path = st.selectbox("Preview", paths, key=FILE_KEY,
                            format_func=lambda p: f"{p}  ({sizes[p]})")
        preview(run_id, next(f for f in files if f["path"] == path), row.get("dataset", ""))


main()
