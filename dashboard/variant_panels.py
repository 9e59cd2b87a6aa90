"""The Gallery's views of the conditional and inference variants (engine/variants), drawn under each run's samples
panel at the one step slider's step: G's samples by the label or code it was given (one small panel per value for
points, one row of images per value), the label x found-class confusion matrix, BiGAN's held-out data beside
its reconstruction G(E(x)), and a translation GAN's sources, translations and truths (both ways for CycleGAN).

Which views a run has is its variant's registry row (`VariantEntry.snapshots`), and what each view draws is read
from the run's snapshots, so the page never asks which variant a run is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from dashboard import data, figures, image_panels, widgets
from engine.metrics.translation import translation_errors
from engine.variants import VARIANTS

KEEP = "keep.gallery."
NONE = "nothing"
PLOT_CONFIG = {"displayModeBar": False}
IMAGE_ROWS = 10  # label or code values shown as rows of images (stacked-mnist has 1,000)
RECONSTRUCTIONS_SHOWN = 16
TRANSLATIONS_SHOWN = 8  # rows of input | translation | truth


def snapshots_of(variant: str) -> tuple[str, ...]:
    entry = VARIANTS.get(variant or "gan")
    return entry.snapshots if entry else ()


def views_for(variants: list[str]) -> list[str]:
    """The views some of these runs' variants log what for."""
    logged = {s for v in variants for s in snapshots_of(v)}
    return [name for name, view in VIEWS.items() if logged & set(view["needs"])]


def options(columns, variants: list[str]) -> dict[str, Any]:
    """The control of the variant views, in the one column given; none when no shown run has any."""
    views = views_for(variants)
    if not views:
        return {"variant_view": NONE}
    choices = [NONE, *views]
    key = KEEP + "variant_view"
    if st.session_state.get(key) not in choices:
        st.session_state.pop(key, None)
    return {"variant_view": columns[0].selectbox(
        "Variant view", choices, key=widgets.initial(key, NONE),
        help="Under each conditional or inference run's samples: its samples by the label or code G was given, "
             "the label x found-class confusion matrix, held-out data beside G(E(x)), or a translation's "
             "input | translation | truth.")}


def draw(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> None:
    """The chosen variant view of one run at the frame's step, or why it has none."""
    name = opts.get("variant_view", NONE)
    if name == NONE or frame.step is None or frame.x is None:
        return
    view = VIEWS[name]
    if not set(view["needs"]) & set(snapshots_of(info.get("variant", "gan"))):
        st.caption(f"{name}: not logged by a {info.get('variant') or 'gan'} run")
        return
    view["draw"](frame, info, opts)


# ----------------------------------------------------------------------------------------------- by condition
def _condition(frame: data.Frame) -> tuple[np.ndarray | None, str]:
    arrays = data.snapshot_arrays(frame.run_id, "samples", frame.step) or {}
    for key, word in (("labels", "label"), ("codes", "code")):
        if key in arrays and len(arrays[key]) == len(frame.x):
            return np.asarray(arrays[key]), word
    return None, ""


def by_condition(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> None:
    condition, word = _condition(frame)
    if condition is None:
        st.caption("by label or code: this snapshot holds no labels or codes (logged before they were)")
        return
    BY_CONDITION[info["modality"]](frame.x, condition, word, info, frame.run_id)


def points_by_condition(x: np.ndarray, condition: np.ndarray, word: str, info: dict[str, Any], run_id: str) -> None:
    values = int(condition.max()) + 1
    st.plotly_chart(figures.condition_panels_figure(x, condition, values=values, means=info["means"],
                                                    bounds=info["bounds"], targets=word == "label",
                                                    color=info["color"]),
                    key=f"gal-cond-{run_id}", config=PLOT_CONFIG)
    own = ", its own mode ringed in red" if word == "label" else " (a code's number is arbitrary: no target)"
    st.caption(f"one panel per {word} G was given{own}; grey ×: the data's modes")


def images_by_condition(x: np.ndarray, condition: np.ndarray, word: str, info: dict[str, Any], run_id: str) -> None:
    values = sorted(set(condition.tolist()))[:IMAGE_ROWS]
    per_row = min(int((condition == v).sum()) for v in values)
    rows = np.concatenate([x[condition == v][:per_row] for v in values])
    image_panels.show(rows, per_row, 360, f"one row per {word} G was given: {', '.join(map(str, values))}",
                      columns=per_row)


# ------------------------------------------------------------------------------------------------- confusion
def confusion(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> None:
    arrays = data.snapshot_arrays(frame.run_id, "confusion", frame.step)
    if arrays is None or "counts" not in arrays:
        st.caption(f"confusion matrix: none logged at step {frame.step}")
        return
    table = arrays["counts"]
    st.plotly_chart(figures.confusion_figure(table, height=min(520, 120 + 14 * len(table))),
                    key=f"gal-confusion-{frame.run_id}", config=PLOT_CONFIG)
    shares = np.diag(table[:, :len(table)]) / np.maximum(table.sum(1), 1)
    st.caption(f"label accuracy {shares.mean():.1%}: the mean over labels of the share of each label's samples "
               "found as that label (points: within 3σ of its mode; images: by the data set's classifier)")


# -------------------------------------------------------------------------------------------- reconstructions
def reconstructions(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> None:
    arrays = data.snapshot_arrays(frame.run_id, "reconstructions", frame.step)
    if arrays is None or not {"x", "x_hat"} <= arrays.keys():
        st.caption(f"reconstructions: none logged at step {frame.step}")
        return
    x, x_hat = arrays["x"], arrays["x_hat"]
    err = np.sqrt(((x - x_hat).reshape(len(x), -1) ** 2).sum(1))
    RECONSTRUCTIONS[info["modality"]](x, x_hat, info, frame.run_id)
    st.caption(f"{len(x)} held-out samples and G(E(x)); mean L2 error {err.mean():.3g} in the data's units")


def points_reconstructions(x: np.ndarray, x_hat: np.ndarray, info: dict[str, Any], run_id: str) -> None:
    st.plotly_chart(figures.reconstruction_figure(x, x_hat, means=info["means"], bounds=info["bounds"]),
                    key=f"gal-recon-{run_id}", config=PLOT_CONFIG)


def images_reconstructions(x: np.ndarray, x_hat: np.ndarray, info: dict[str, Any], run_id: str) -> None:
    n = min(RECONSTRUCTIONS_SHOWN // 2, len(x))
    image_panels.show(np.concatenate([x[:n], x_hat[:n]]), n, 360, "top: held-out images; below: G(E(x))",
                      columns=n)


# ----------------------------------------------------------------------------------------------- translations
def translations(frame: data.Frame, info: dict[str, Any], opts: dict[str, Any]) -> None:
    arrays = data.snapshot_arrays(frame.run_id, "translations", frame.step)
    if arrays is None or not {"source", "translated", "truth"} <= arrays.keys():
        st.caption(f"translations: none logged at step {frame.step}")
        return
    ways = [("X → Y", arrays["source"], arrays["translated"], arrays["truth"])]
    if "back" in arrays:  # CycleGAN: G's way back too, of the truths, against the sources
        ways.append(("Y → X", arrays["truth"], arrays["back"], arrays["source"]))
    for way in ways:  # one under the other: a gallery column is narrow
        TRANSLATIONS[info["modality"]](*way, info, frame.run_id)
    errors = "; ".join("{} L1 {:.3g} a number, L2 {:.3g} a sample".format(name, *translation_errors(out, truth))
                       for name, _, out, truth in ways)
    st.caption(f"fixed sources, their translations and their truths under the pair's known map: {errors} (in the "
               f"data's units, these {len(arrays['source'])} rows)")


def points_translations(name: str, source: np.ndarray, out: np.ndarray, truth: np.ndarray, info: dict[str, Any],
                        run_id: str) -> None:
    first = name == "X → Y"
    means = info["means"] if first else None  # the run's data set is the target domain Y
    fig = figures.translation_figure(source, out, truth, means=means, bounds=info["bounds"])
    fig.update_layout(showlegend=first)  # the same colours both ways: one legend
    st.plotly_chart(fig, key=f"gal-translate-{name}-{run_id}", config=PLOT_CONFIG)
    st.caption(name)


def images_translations(name: str, source: np.ndarray, out: np.ndarray, truth: np.ndarray, info: dict[str, Any],
                        run_id: str) -> None:
    n = min(TRANSLATIONS_SHOWN, len(source))
    rows = np.stack([source[:n], out[:n], truth[:n]], axis=1).reshape(3 * n, *source.shape[1:])
    image_panels.show(rows, n, 180, f"{name}, columns: input | translation | truth", columns=3)


# The views, what each needs logged (VariantEntry.snapshots), and each modality's drawing of them.
VIEWS = {"by label or code": {"needs": ("labels", "codes"), "draw": by_condition},
         "confusion matrix": {"needs": ("confusion",), "draw": confusion},
         "reconstructions": {"needs": ("reconstructions",), "draw": reconstructions},
         "translations": {"needs": ("translations",), "draw": translations}}
BY_CONDITION = {"points": points_by_condition, "images": images_by_condition}
RECONSTRUCTIONS = {"points": points_reconstructions, "images": images_reconstructions}
TRANSLATIONS = {"points": points_translations, "images": images_translations}
