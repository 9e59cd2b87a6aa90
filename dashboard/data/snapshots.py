"""The logged snapshots (samples and D's field at a step), the gallery's frames, and the data set's truth beside them.

A snapshot of a logged step never changes, so its loaders are cached without expiry, keyed by (store, run id,
step); the list of a run's snapshot steps is re-read every ARTIFACT_TTL_S while the run may add some, and kept
FINAL_TTL_S once it has ended. Snapshots and listings are read straight from the run's artifact location
(artifacts.read_run_artifact: its folder, the server's folder, or one request each), a page's runs in parallel
(`gallery_frames`, `steps_of_runs`). The truth (modes, density, bounds) is the engine's data set (`mixture`); mode
shares, density contours and D's gradient are computed here from the snapshots and that truth.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import streamlit as st

from dashboard.data import artifacts, runs_table, store
from engine import tracking

SNAPSHOT_CACHE_ENTRIES = 8192  # a samples + field pair is ~55 kB: a few hundred MB at most
PARALLEL_READS = 8  # snapshot reads at once when a page shows many runs


def _list_steps(uri: str, run_id: str, folder: str) -> list[int]:
    try:
        names = artifacts.list_run_artifacts(runs_table.artifact_location(run_id), folder)
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise artifacts.artifact_error(exc, f"Could not list {folder}/ of run {run_id}", uri) from None
    return sorted(s for s in map(tracking.snapshot_step, names) if s is not None)


def _read(uri: str, run_id: str, path: str) -> dict[str, np.ndarray]:
    """The arrays of one snapshot file of the run, read from its artifact location (artifacts.read_run_artifact)."""
    try:
        raw = artifacts.read_run_artifact(runs_table.artifact_location(run_id), path)
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - not logged (yet), unreadable, a server that is away
        raise artifacts.artifact_error(exc, f"Could not read {path} of run {run_id}", uri) from None
    return artifacts.npz_arrays(raw, path)


@st.cache_data(ttl=store.ARTIFACT_TTL_S, show_spinner=False, max_entries=1024)
def _steps_live(uri: str, run_id: str, folder: str) -> list[int]:
    return _list_steps(uri, run_id, folder)


@st.cache_data(ttl=store.FINAL_TTL_S, show_spinner=False, max_entries=4096)
def _steps_final(uri: str, run_id: str, folder: str) -> list[int]:
    return _list_steps(uri, run_id, folder)


def snapshot_steps(run_id: str, folder: str = "samples", live: bool = True) -> list[int]:
    """Steps with a `folder/step_%07d.npz` snapshot, sorted; [] when the run logged none.

    `live` (a queued or running run) re-lists every ARTIFACT_TTL_S; a finished run's list cannot change and is
    kept an hour, so scrubbing through finished runs never waits on a listing.
    """
    return (_steps_live if live else _steps_final)(store.store_uri(), run_id, folder)


def nearest_earlier(steps: Sequence[int], step: int) -> int | None:
    """The largest of the sorted `steps` that is <= step, or None when every one is later."""
    i = bisect.bisect_right(steps, step)
    return steps[i - 1] if i else None


@st.cache_data(show_spinner=False, max_entries=SNAPSHOT_CACHE_ENTRIES)
def _samples_cached(uri: str, run_id: str, step: int) -> np.ndarray:
    path = tracking.snapshot_path("samples", step)
    arrays = _read(uri, run_id, path)
    x = arrays.get("x")
    if x is None or not ((x.ndim == 2 and x.shape[1] == 2) or (x.ndim == 4 and x.shape[1] in (1, 3))):
        raise artifacts.ArtifactError(f"{path}: holds no array 'x' of (N, 2) points or (N, C, H, W) images")
    return x


def snapshot_arrays(run_id: str, folder: str, step: int) -> dict[str, np.ndarray] | None:
    """Every array of the run's `folder/step_%07d.npz` snapshot (a variant's labels beside the samples, its
    confusion/ table, its reconstructions/), None when the run logged none at that step."""
    try:
        return _arrays_cached(store.store_uri(), run_id, folder, int(step))
    except store.StoreError:  # not logged (yet): not cached, as a failure is not, so a later call sees it arrive
        return None


@st.cache_data(show_spinner=False, max_entries=SNAPSHOT_CACHE_ENTRIES)
def _arrays_cached(uri: str, run_id: str, folder: str, step: int) -> dict[str, np.ndarray]:
    return _read(uri, run_id, tracking.snapshot_path(folder, step))


@st.cache_data(show_spinner=False, max_entries=SNAPSHOT_CACHE_ENTRIES)
def _field_cached(uri: str, run_id: str, step: int) -> dict[str, Any]:
    path = tracking.snapshot_path("field", step)
    arrays = _read(uri, run_id, path)
    if not {"xs", "ys", "d"} <= arrays.keys():
        raise artifacts.ArtifactError(f"{path}: expected arrays xs, ys, d; found {', '.join(arrays) or 'none'}")
    xs, ys, d = arrays["xs"], arrays["ys"], arrays["d"]
    d_star = arrays.get("d_star")
    if d.shape != (len(ys), len(xs)) or (d_star is not None and d_star.shape != d.shape):
        raise artifacts.ArtifactError(f"{path}: d is {d.shape}, the grid {len(ys)} x {len(xs)}")
    return {"xs": xs, "ys": ys, "d": d, "d_star": d_star,
            "d_is_prob": bool(arrays["d_is_prob"]) if "d_is_prob" in arrays else False,
            "d_reference": str(arrays["d_reference"]) if "d_reference" in arrays else None}


def load_samples(run_id: str, step: int) -> np.ndarray:
    """The generated samples logged at exactly `step`: (N, 2) points of the fixed evaluation batch, or the
    (64, C, H, W) fixed-latent grid of an image run."""
    return _samples_cached(store.store_uri(), run_id, int(step))


def load_field(run_id: str, step: int) -> dict[str, Any]:
    """D on the evaluation grid at exactly `step`: {xs, ys, d, d_star (None when not logged), d_is_prob,
    d_reference}.

    d[i, j] is D at (xs[j], ys[i]): a probability when d_is_prob, a critic's raw score otherwise. d_reference
    (None without minibatch discrimination) says what each point was scored against, e.g. "511 real samples".
    """
    return _field_cached(store.store_uri(), run_id, int(step))


@dataclass
class Frame:
    """What one gallery panel shows for a requested step: the run's snapshot at that step or just before it."""

    run_id: str
    requested: int
    step: int | None  # the snapshot shown; None when there is none at or before `requested`
    x: np.ndarray | None = None
    field: dict[str, Any] | None = None
    message: str = ""  # why something is missing or stands in, for the caption

    @property
    def exact(self) -> bool:
        return self.step == self.requested


def gallery_frame(run_id: str, step: int, with_field: bool = True, live: bool = True) -> Frame:
    """The samples (and D's field) of `run_id` at `step`, or at its nearest earlier snapshot; never raises.
    `live`: the run may still add snapshots (see snapshot_steps)."""
    try:
        steps = snapshot_steps(run_id, live=live)
    except store.StoreError as exc:
        return Frame(run_id, step, None, message=str(exc))
    if not steps:
        return Frame(run_id, step, None, message="no sample snapshots logged yet")
    shown = nearest_earlier(steps, step)
    if shown is None:
        return Frame(run_id, step, None, message=f"no snapshot at or before step {step} (first: {steps[0]})")
    frame = Frame(run_id, step, shown, message="" if shown == step else f"no snapshot at {step}, nearest earlier")
    try:
        frame.x = load_samples(run_id, shown)
    except store.StoreError as exc:
        frame.message = str(exc)
        return frame
    if with_field:
        try:
            frame.field = load_field(run_id, shown)
        except store.StoreError as exc:
            frame.message = "; ".join(m for m in (frame.message, f"no D field ({exc})") if m)
    return frame


def _in_parallel(fn, items: Sequence) -> list:
    """fn over the items in a few threads: each is a read from the store, the artifact server or the disk."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(items))) as pool:
        return list(pool.map(fn, items))


def steps_of_runs(run_ids: Sequence[str], live: Collection[str] = ()) -> dict[str, list[int] | store.StoreError]:
    """snapshot_steps of each run (a StoreError in its place where the listing failed), read in parallel."""
    def one(run_id: str):
        try:
            return snapshot_steps(run_id, live=run_id in live)
        except store.StoreError as exc:
            return exc

    return dict(zip(run_ids, _in_parallel(one, list(run_ids))))


def gallery_frames(run_ids: Sequence[str], step: int, with_field: Collection[str] = (),
                   live: Collection[str] = ()) -> dict[str, Frame]:
    """gallery_frame of each run at `step` (with its D field for the runs in `with_field`), read in parallel."""
    return dict(zip(run_ids, _in_parallel(lambda r: gallery_frame(r, step, with_field=r in with_field,
                                                                  live=r in live), list(run_ids))))


@lru_cache(maxsize=16)
def mixture(name: str):
    """The data set a run trained on (engine.data), for its modes, sigma, bounds and density (points) or its
    images and classes."""
    from engine.data import get_dataset

    return get_dataset(name)


def modality(dataset: str) -> str | None:
    """The modality of a data set by name (engine.data's registry, no torch), None for one this engine lacks."""
    from engine.data import DATASETS

    entry = DATASETS.get(dataset)
    return entry.modality if entry else None


def nearest_real(dataset: str, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sample image, the training image nearest to it in pixels (L2) and that distance: a sample as close
    to a training image as two training images are to each other was memorised rather than generated."""
    return _nearest_real_cached(dataset, np.ascontiguousarray(samples, dtype=np.float32))


def _nearest_rows(images, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and distance of the nearest training image of `images` to each row of flat, 4,096 at a time."""
    import torch

    best_d = np.full(len(flat), np.inf)
    best_i = np.zeros(len(flat), dtype=np.int64)
    rows = np.arange(len(flat))
    for start in range(0, len(images.train_x), 4096):  # 4,096 x N distances at a time: bounded for any data set
        chunk = images.scale(images.train_x[start:start + 4096]).reshape(-1, flat.shape[1])
        d = torch.cdist(torch.from_numpy(flat), chunk).numpy()
        i = d.argmin(1)
        better = d[rows, i] < best_d
        best_d[better], best_i[better] = d[rows, i][better], (start + i)[better]
    return best_i, best_d


@st.cache_data(show_spinner=False, max_entries=256)
def _nearest_real_cached(dataset: str, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = mixture(dataset)
    train = images.train_x
    if train.shape[1] == samples.shape[1]:
        index, dist = _nearest_rows(images, samples.reshape(len(samples), -1))
        return images.scale(train[index]).numpy(), dist
    # stacked-mnist: each channel is an independent training digit, so the nearest stacked image is the nearest
    # digit in every channel
    found = [_nearest_rows(images, np.ascontiguousarray(samples[:, c].reshape(len(samples), -1)))
             for c in range(samples.shape[1])]
    nearest = np.concatenate([images.scale(train[i]).numpy() for i, _ in found], axis=1)
    return nearest, np.sqrt(sum(d**2 for _, d in found))


def class_shares(run_id: str, steps: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """(steps read, (T, K) share of G's evaluation samples the classifier puts in each class) from an image run's
    classes/ snapshots; steps without a readable one are left out."""
    return _class_shares_cached(store.store_uri(), run_id, tuple(int(s) for s in steps))


@st.cache_data(show_spinner=False, max_entries=512)
def _class_shares_cached(uri: str, run_id: str, steps: tuple[int, ...]) -> tuple[list[int], np.ndarray]:
    read, rows = [], []
    for s in steps:
        try:
            counts = _read(uri, run_id, tracking.snapshot_path("classes", s))["counts"]
        except (store.StoreError, KeyError):
            continue
        if counts.sum() > 0:
            read.append(s)
            rows.append(counts / counts.sum())
    width = len(rows[0]) if rows else 0
    return read, np.array(rows, dtype=np.float64).reshape(len(rows), width)


@st.cache_data(show_spinner=False, max_entries=16)
def density_contours(dataset: str, n: int = 90, depth: float = 10.0) -> dict[str, np.ndarray]:
    """log p_data on an n x n grid over the data set's bounds, floored `depth` nats below its peak.

    The floor puts the contour levels where the mass is: unfloored, log p of the sigma = 0.01 ring drops to
    about -5000 between modes and every automatic level would sit in empty space.
    """
    m = mixture(dataset)
    x0, x1, y0, y1 = m.bounds()
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    z = m.log_prob(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(n, n)
    return {"xs": xs, "ys": ys, "z": np.maximum(z, z.max() - depth).astype(np.float32)}


def field_gradient(xs: np.ndarray, ys: np.ndarray, d: np.ndarray, points: np.ndarray) -> np.ndarray:
    """grad D at `points` (M, 2): central finite differences of the logged grid, bilinearly interpolated.

    d[i, j] is D at (xs[j], ys[i]); np.gradient takes central differences inside and one-sided ones at the
    edges. Points outside the grid get NaN (the quiver leaves them out). The grid is logged at every snapshot
    step while a checkpoint holds D at the last one only, so the gallery differentiates the grid; the error is
    O(h^2) in the grid spacing h (0.05 on the ring at the default 64 points a side) where D is smooth.
    """
    xs, ys, d = np.asarray(xs, np.float64), np.asarray(ys, np.float64), np.asarray(d, np.float64)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    gy, gx = np.gradient(d, ys, xs)
    ok = np.isfinite(p).all(1)
    fx = np.interp(np.where(ok, p[:, 0], xs[0]), xs, np.arange(len(xs)))  # fractional column index
    fy = np.interp(np.where(ok, p[:, 1], ys[0]), ys, np.arange(len(ys)))
    j0 = np.clip(np.floor(fx).astype(int), 0, len(xs) - 2)
    i0 = np.clip(np.floor(fy).astype(int), 0, len(ys) - 2)
    tx, ty = (fx - j0)[:, None], (fy - i0)[:, None]
    g = np.stack([gx, gy], axis=-1)  # (len(ys), len(xs), 2)
    out = ((1 - tx) * (1 - ty) * g[i0, j0] + tx * (1 - ty) * g[i0, j0 + 1]
           + (1 - tx) * ty * g[i0 + 1, j0] + tx * ty * g[i0 + 1, j0 + 1])
    outside = (p[:, 0] < xs[0]) | (p[:, 0] > xs[-1]) | (p[:, 1] < ys[0]) | (p[:, 1] > ys[-1])
    out[outside | ~ok] = np.nan
    return out


def mode_shares(run_id: str, dataset: str, steps: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """(steps read, (T, K) share of samples nearest to each mode) over the given snapshot steps of a run.

    Snapshots that cannot be read or hold NaN (a diverged G) are left out rather than drawn as zeros.
    """
    return _mode_shares_cached(store.store_uri(), run_id, dataset, tuple(int(s) for s in steps))


@st.cache_data(show_spinner=False, max_entries=512)
def _mode_shares_cached(uri: str, run_id: str, dataset: str, steps: tuple[int, ...]) -> tuple[list[int], np.ndarray]:
    from engine.metrics import mode_histogram

    m = mixture(dataset)
    read, rows = [], []
    for s in steps:
        try:
            x = _samples_cached(uri, run_id, s)
        except store.StoreError:
            continue
        if np.isfinite(x).all():
            read.append(s)
            rows.append(mode_histogram(m, x))
    return read, np.array(rows, dtype=np.float64).reshape(len(rows), m.n_modes)
