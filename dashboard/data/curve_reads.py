"""Curves for the charts: every run of a chart bucketed on one shared grid, read where it is cheapest.

Curves are min/max/mean buckets (engine/curves.py). A run that has ended carries a summary per metric
(`curves/<key>.npz`, tagged ganboard.curves = 1), from which any chart grid is merged exactly without touching its
metric rows. Other runs are downsampled where the data is: where a database is at hand (a SQL store, or a tracking
server's with GANBOARD_READ_DATABASE_URI: store.sql_reads) one aggregate query per run reduces its `metrics` rows
inside the database; otherwise MlflowClient.get_metric_history runs in parallel threads and numpy does the
buckets. The buckets are shared by all
runs of a chart (power-of-two widths in steps from 0, the finest that gives the longest run at most the asked
number of points), so the density per pixel is the same for every line and group means line up without
interpolation. Curves of finished runs are cached FINAL_TTL_S, those of queued or running runs LIVE_TTL_S.
MLflow stores NaN as is_nan = 1 and +-inf as +-float max; both count as missing here, as in stats.py.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.data import artifacts, runs_table, store
from engine import curves as curves_lib

# The bucket arithmetic lives in engine/curves.py (the engine writes the summaries of finished runs with it).
Curve = curves_lib.Curve
bucket_curve = curves_lib.bucket_curve
grid_width = curves_lib.grid_width

_FIN = "(m.is_nan = 0 AND m.value < 1.7976931348623157e308 AND m.value > -1.7976931348623157e308)"


def _sql_max_step(db: str, run_ids: Sequence[str], key: str) -> float | None:
    from sqlalchemy import bindparam, text

    with store.sql_engine(db).connect() as conn:
        return conn.execute(text("SELECT MAX(step) FROM latest_metrics WHERE key = :key AND run_uuid IN :ids")
                            .bindparams(bindparam("ids", expanding=True)), {"key": key, "ids": list(run_ids)}).scalar()


def _sql_curves(db: str, run_ids: Sequence[str], key: str, width: int) -> dict[str, Curve]:
    """Each run's rows of `key` bucketed and reduced inside the database, runs in parallel connections.

    One aggregate query per run walks the (run_uuid, key, step) index and sends back one row per bucket;
    SQLite works without the GIL, so a few threads use a few cores (measured faster than one GROUP BY over
    every run, which must sort all rows).
    """
    from sqlalchemy import text

    eng = store.sql_engine(db)
    # integer steps over an integer width: SQLite and PostgreSQL both divide as integers, i.e. floor for steps >= 0
    q = text(f"""
        SELECT m.step / :width AS b, AVG(m.step), AVG(m.timestamp), MIN(m.timestamp),
               AVG(CASE WHEN {_FIN} THEN m.value END), MIN(CASE WHEN {_FIN} THEN m.value END),
               MAX(CASE WHEN {_FIN} THEN m.value END)
        FROM metrics m WHERE m.run_uuid = :run AND m.key = :key
        GROUP BY b ORDER BY b""")

    def one(run_id: str) -> tuple[str, list]:
        with eng.connect() as conn:
            return run_id, conn.execute(q, {"run": run_id, "key": key, "width": int(width)}).fetchall()

    ids = list(run_ids)
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1, len(ids)))) as pool:
        results = list(pool.map(one, ids))
    out: dict[str, Curve] = {}
    for run_id, rows in results:
        if not rows:
            continue
        a = np.array([[np.nan if x is None else x for x in row[1:]] for row in rows], dtype=np.float64)
        out[run_id] = Curve(a[:, 0], (a[:, 1] - np.nanmin(a[:, 2])) / 1000.0, a[:, 3], a[:, 4], a[:, 5])
    return out


def _client_histories(uri: str, run_ids: Sequence[str], key: str) -> dict[str, np.ndarray]:
    """Tracking servers: every history over HTTP, in parallel threads, as (n, 3) arrays of step, ms, value."""
    c = store.client(uri)

    def one(run_id: str):
        hist = c.get_metric_history(run_id, key)
        return run_id, np.array([[m.step, m.timestamp, m.value] for m in hist], dtype=np.float64).reshape(-1, 3)

    with ThreadPoolExecutor(max_workers=min(16, max(1, len(run_ids)))) as pool:
        return {r: h for r, h in pool.map(one, run_ids) if h.size}


class _NoSummary(Exception):
    """A summary could not be read; raised, not returned, so that st.cache_data does not keep the failure (a
    server that was briefly away) and the next chart tries again."""


@lru_cache(maxsize=4096)  # 64 kB a summary at most: 256 MB
def _summary_cached(uri: str, run_id: str, artifact_uri: str, ended: int, key: str) -> curves_lib.Buckets:
    """A finished run's logged summary of `key` (engine/curves.py). Never expires: a summary is only logged once
    the run has ended, and a resumed run is read row by row until it ends again, with a new end time (`ended`,
    ms), which makes a new cache key for the summary it then logs. A plain LRU cache rather than st.cache_data:
    a chart of a thousand runs reads a thousand of them, and st.cache_data's copy of each value in and out (its
    protection for values a caller might change; these never are) costs more than reading the file."""
    path = curves_lib.artifact_name(key)
    try:
        return curves_lib.from_npz_arrays(artifacts.npz_arrays(artifacts.read_run_artifact(artifact_uri, path), path))
    except Exception as exc:  # noqa: BLE001 - missing, unreadable or unreachable: the rows are still there
        raise _NoSummary(store.one_line(exc)) from None


def _summary_or_none(uri: str, run_id: str, artifact_uri: str, ended: int, key: str) -> curves_lib.Buckets | None:
    try:
        return _summary_cached(uri, run_id, artifact_uri, ended, key)
    except _NoSummary:
        return None


def _read_curves(uri: str, run_ids: tuple[str, ...], key: str, points: int,
                 summarised: tuple[tuple[str, str, int], ...]) -> dict[str, Curve]:
    """Curves of `key` on one shared grid: from the logged summaries of the `summarised` runs (run id, artifact
    uri, end time) where the grid is no finer than the summary, from the metric rows for every other run."""
    try:
        # Downloads from a server overlap in threads; files on this disk are read quicker one after the other (the
        # work is decompression and parsing, which threads would only contend for)
        remote = bool(summarised) and not artifacts.reads_from_disk(summarised[0][1])
        with ThreadPoolExecutor(max_workers=8 if remote else 1) as pool:
            loaded = pool.map(lambda r: (r[0], _summary_or_none(uri, *r, key)), summarised)
            summaries = {r: b for r, b in loaded if b is not None}
        rest = [r for r in run_ids if r not in summaries]
        histories: dict[str, np.ndarray] = {}
        db = store.sql_reads(uri)  # None for a server without GANBOARD_READ_DATABASE_URI, or a new SQLite file
        hi = None
        if rest and db:
            hi = _sql_max_step(db, rest, key)
        elif rest and not store.is_sql(uri):
            histories = _client_histories(uri, rest, key)
            hi = max((h[:, 0].max() for h in histories.values()), default=None)
        last_steps = [b.last_step for b in summaries.values() if b.table.size] + ([hi] if hi is not None else [])
        if not last_steps:
            return {}
        width = grid_width(max(last_steps), points)
        out: dict[str, Curve] = {}
        too_fine = [r for r, b in summaries.items() if b.width > width]
        for r, b in summaries.items():
            if b.width <= width and b.table.size:
                out[r] = curves_lib.to_curve(curves_lib.regrid(b, width))
        if db:
            if rest or too_fine:
                out.update(_sql_curves(db, [*rest, *too_fine], key, width))
        else:
            if too_fine:
                histories.update(_client_histories(uri, too_fine, key))
            out.update({r: bucket_curve(h[:, 0], h[:, 1], h[:, 2], width) for r, h in histories.items()})
        return out
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, f"Could not read {key}", uri) from None


# The run ids and summary locations (a thousand of each for a big sweep) go in underscored, which st.cache_data does
# not hash (its hashing of them cost more than the rest of a cached call); `digest` stands for them in the key.
@st.cache_data(ttl=store.FINAL_TTL_S, show_spinner=False, max_entries=256)
def _curves_final(uri: str, key: str, points: int, digest: str, _run_ids: tuple[str, ...],
                  _summarised: tuple[tuple[str, str, int], ...]) -> dict[str, Curve]:
    return _read_curves(uri, _run_ids, key, points, _summarised)


@st.cache_data(ttl=store.LIVE_TTL_S, show_spinner=False, max_entries=64)
def _curves_live(uri: str, key: str, points: int, digest: str, _run_ids: tuple[str, ...],
                 _summarised: tuple[tuple[str, str, int], ...]) -> dict[str, Curve]:
    return _read_curves(uri, _run_ids, key, points, _summarised)


def curves(run_ids: Sequence[str], key: str, points: int = 300, live: Collection[str] = ()) -> dict[str, Curve]:
    """Downsampled curves of `key` for the runs (a run without this metric is absent from the result).

    `live` names the runs that are still queued or running: their curves are re-read every LIVE_TTL_S, the
    others are cached for an hour. Ended runs whose curve summaries are logged are drawn from those instead of
    their metric rows. All runs of one call share the bucket grid (see the module docstring).
    """
    asked = set(run_ids)
    rows = runs_table.rows_by_id(sorted(asked))
    live_set = set(live) & asked
    # a run that has ended without logging `key` has nothing to read: no rows, no summary (a chart of the real
    # data's reference values asks a thousand runs of which a few logged it)
    rows = [row for row in rows if key in row["metric_keys"] or row["run_id"] in live_set]
    if not rows:
        return {}
    ids = tuple(sorted(row["run_id"] for row in rows))
    done = tuple(sorted((row["run_id"], *where) for row in rows
                        if row["run_id"] not in live_set and (where := _summary_location(row)) is not None))
    uri = store.store_uri()
    digest = hashlib.sha1(repr((ids, done)).encode()).hexdigest()
    # One call, so live and finished runs share a bucket grid; short-lived when some are still moving.
    return (_curves_live if live_set else _curves_final)(uri, key, int(points), digest, ids, done)


def _summary_location(row: dict) -> tuple[str, int] | None:
    """(artifact location, end time in ms) of a run whose curve summaries can stand in for its metric rows: ended,
    and tagged as summarised; else None."""
    if row.get("curves") != "1" or row.get("active") or pd.isna(row.get("end")):
        return None
    return row["artifact_uri"], round(row["end"].timestamp() * 1000)


def summarised_runs(df: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Run id -> (artifact location, end time in ms), for the runs of a runs frame whose curve summaries can
    stand in for their metric rows (_summary_location)."""
    if df.empty or "curves" not in df:
        return {}
    return {row["run_id"]: where for row in df.to_dict("records") if (where := _summary_location(row)) is not None}


def _read_series(uri: str, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    client = store.client(uri)  # a StoreError of its own when the server is away
    try:
        history = client.get_metric_history(run_id, key)
    except Exception as exc:  # noqa: BLE001 - one line for the page
        raise store.store_error(exc, f"Reading {key}", uri) from None
    pairs = sorted((m.step, m.value) for m in history)
    return np.array([s for s, _ in pairs], dtype=np.int64), np.array([v for _, v in pairs], dtype=np.float64)


@st.cache_data(ttl=store.FINAL_TTL_S, show_spinner=False, max_entries=256)
def _series_final(uri: str, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    return _read_series(uri, run_id, key)


@st.cache_data(ttl=store.LIVE_TTL_S, show_spinner=False, max_entries=64)
def _series_live(uri: str, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    return _read_series(uri, run_id, key)


def metric_at(run_id: str, key: str, step: int, live: bool = False) -> float | None:
    """A run's metric exactly as logged at `step`, or at the nearest logged step before it; None where it logged
    none by then (a few values a run, like a growing net's side: not for curves, which are bucketed)."""
    steps, values = (_series_live if live else _series_final)(store.store_uri(), run_id, key)
    at = int(np.searchsorted(steps, step, side="right")) - 1
    return float(values[at]) if at >= 0 else None
