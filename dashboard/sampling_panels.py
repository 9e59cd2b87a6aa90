"""The Gallery's Sampling view: fresh samples of each selected image run's last checkpoint under the sampling
settings its sliders set, and the style-mixing grid of the architectures whose G has per-layer styles.

The sliders are the config's "sampling" group (engine/config.py) as far as a shown run takes it
(data.sampling_fields: `truncation`, the truncated-normal latent, for every run with a normal latent; `psi`, the
truncation in w, for stylegan's); the style-mixing grid is drawn for runs whose architecture lists the view
(ArchEntry.views). So the page never asks which architecture a run is. The latents are drawn from one seed, the
same for every setting, so moving a slider moves each sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from dashboard import data, image_panels, widgets
from engine.nets import ARCHS

KEEP = "keep.gallery.sampling."
SLIDERS = {  # field -> the slider that sets it: label, range, step, the value that turns it off, help
    "truncation": ("Truncation threshold t", 0.0, 3.0, 0.05, 0.0,
                   "The latent's noise drawn from the normal truncated to [-t, t] (BigGAN's truncation trick): a "
                   "smaller t trades variety for quality. 0 is off: the latent as trained."),
    "psi": ("ψ (StyleGAN)", -1.0, 1.5, 0.05, 1.0,
            "Truncation in w: w̄ + ψ (w − w̄). 1 is off, 0 draws the average image for every latent, negative ψ "
            "the 'opposite' ones."),
}
GRID_SIDE = 6  # a checkpoint's samples a side
MIX_SIDE = 4  # latents a side of the style-mixing grid
CHECKPOINTS = ("checkpoints/final.pt", "checkpoints/last.pt")


def checkpoint_of(run_id: str) -> tuple[str, dict[str, Any]] | None:
    """(path, summary) of the run's final checkpoint, else its last; None when it has logged neither yet."""
    for path in CHECKPOINTS:
        try:
            return path, data.checkpoint_summary(run_id, path)
        except data.ArtifactError:
            continue
    return None


def sliders(fields: dict[str, Any]) -> dict[str, float]:
    """A slider for every sampling field some shown run takes, in one row; their values."""
    names = [n for n in SLIDERS if n in fields]
    cols = st.columns(len(names) + 1)
    values = {}
    for col, name in zip(cols, names):
        label, lo, hi, step, off, help_text = SLIDERS[name]
        values[name] = col.slider(label, lo, hi, step=step, key=widgets.initial(KEEP + name, off), help=help_text)
    values["seed"] = cols[-1].number_input("Latent seed", 0, 2**31 - 1, key=widgets.initial(KEEP + "seed", 0))
    return values


def panel(run: dict[str, Any], run_id: str, path: str, summary: dict[str, Any], values: dict[str, float]) -> None:
    """One run: its checkpoint's samples under the settings it takes, and its style-mixing grid where it has one."""
    usable = data.sampling_fields(summary["config"])
    setting = {name: float(values[name]) for name in usable if name in values}
    shown = ", ".join(f"{SLIDERS[n][0].split(' (')[0]} {v:g}" for n, v in setting.items()) or "no sampling setting"
    dot = f"<span style='color:{run['color']}'>●</span> "
    st.caption(f"{dot}**{run['label']}** — {path.split('/')[-1]} at step {summary['step']} · {shown}",
               unsafe_allow_html=True)
    try:
        out = data.sample_checkpoint(run_id, path, int(values["seed"]), GRID_SIDE * GRID_SIDE, True, 0, setting)
    except data.ArtifactError as exc:
        st.warning(str(exc))
        return
    image_panels.show(out["x"], GRID_SIDE, 360, f"{GRID_SIDE * GRID_SIDE} samples from seed {values['seed']}")
    if "style_mixing" in ARCHS.get(run["arch"], ARCHS["dcgan"]).views:
        style_mixing_grid(run_id, path, int(values["seed"]), setting)


def style_mixing_grid(run_id: str, path: str, seed: int, setting: dict[str, float]) -> None:
    """Karras et al. 2019, Figure 3: the left column's latents give the first layers' styles, the top row's the
    rest; the crossover layer is the slider's under the grid (its range is the run's number of styles)."""
    key = f"{KEEP}crossover.{run_id}"
    crossover = int(st.session_state.get(key, 2))
    try:
        out = data.style_mixing(run_id, path, seed + 1, MIX_SIDE, crossover, setting)
    except data.ArtifactError as exc:
        st.warning(str(exc))
        return
    n_styles = out["n_styles"]
    blank = np.full_like(out["coarse"][:1], -1.0)
    rows = [np.concatenate([blank, out["fine"]])]
    rows += [np.concatenate([out["coarse"][i:i + 1], out["mixed"][i]]) for i in range(MIX_SIDE)]
    image_panels.show(np.concatenate(rows), MIX_SIDE + 1, 360,
                      f"style mixing: each cell takes its row's styles in layers 1-{min(crossover, n_styles)} of "
                      f"{n_styles} and its column's in the rest")
    st.slider("Styles from the left column: layers 1 to", 1, n_styles - 1, key=widgets.initial(key, 2),
              help="Coarse layers (low resolution) set pose and shape, fine ones texture and stroke.")


def view(run_ids: list[str], infos: dict[str, dict[str, Any]]) -> None:
    """The Sampling view of the selected runs (image runs only: a points run's checkpoint is sampled on the
    Artifacts page, with D's field around it)."""
    image_runs = [r for r in run_ids if infos[r]["modality"] == "images"]
    if not image_runs:
        st.info("The Sampling view draws image runs' checkpoints; none of the selected runs is one.")
        return
    found = {r: c for r in image_runs if (c := checkpoint_of(r)) is not None}
    waiting = [infos[r]["label"] for r in image_runs if r not in found]
    if waiting:
        st.caption(f"No checkpoint logged yet (one comes with every evaluation): {', '.join(waiting)}.")
    if not found:
        return
    fields: dict[str, Any] = {}
    for path, summary in found.values():
        fields.update(data.sampling_fields(summary["config"]))
    values = sliders(fields)
    st.caption("Fresh samples of each run's latest checkpoint (G's moving average where it keeps one), drawn from "
               "one seed, so a slider moves every sample; the step slider of the other views does not apply.")
    run_list = list(found)
    for start in range(0, len(run_list), 2):
        for col, run_id in zip(st.columns(2), run_list[start:start + 2]):
            with col:
                path, summary = found[run_id]
                panel(infos[run_id], run_id, path, summary, values)
