"""The dashboard's one door to MLflow: every read and write the pages make goes through here, with the caching.

Pages get plain pandas / numpy values back, never MLflow objects, and hand them to the pure builders in
`figures.py` and `stats.py`. Nothing happens at import time; mlflow and sqlalchemy are imported on first use.

Conventions
- The store is `engine.tracking.tracking_uri()` (MLFLOW_TRACKING_URI, else the embedded `runs/` store), read at
  every call; cached functions take the URI as their first argument, so caches never mix two stores.
- Every failure of the store reaches the pages as `StoreError`, whose message is one line (a tracking server
  that is down, a bad search filter, a locked database); pages show it with st.error, never a traceback.
  Bad launch input stays a `ConfigError` / `LaunchError` from the engine, whose message names the field.
- Caching: run lists and latest values live RUNS_TTL_S seconds, so live runs refresh; curves of finished runs
  live an hour (they cannot change any more), those of queued or running runs LIVE_TTL_S.
- Curves are min/max/mean buckets (engine/curves.py). A run that has ended carries a summary per metric
  (`curves/<key>.npz`, tagged ganboard.curves = 1), from which any chart grid is merged exactly without
  touching its metric rows. Other runs are downsampled where the data is: on SQL-backed stores (sqlite,
  postgresql, mysql) one aggregate query per run reduces its `metrics` rows inside the database; on a tracking
  server, MlflowClient.get_metric_history runs in parallel threads and numpy does the buckets. The buckets are
  shared by all runs of a chart (power-of-two widths in steps from 0, the finest that gives the longest run at
  most the asked number of points), so the density per pixel is the same for every line and group means line
  up without interpolation.
- MLflow stores NaN as is_nan = 1 and +-inf as +-float max; both count as missing here, as in stats.py.
- GANBOARD_READONLY=1 makes every write (launch, stop, relaunch, delete) raise, whatever a page shows.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import auth, stats
from engine import curves as curves_lib
from engine import tracking
from engine.config import FIELDS, PROBABILITY_LOSSES, ConfigError

RUNS_TTL_S = 3.0
LIVE_TTL_S = 3.0
FINAL_TTL_S = 3600.0
MAX_RUNS = 5000
ACTIVE = ("queued", "running")
STATUS_WORDS = tracking.STATUS_WORDS
FLOAT_MAX = sys.float_info.max
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
SELECTION_KEY = "ganboard_selection"
SELECTION_SWEEP_KEY = "ganboard_selection_sweep"


class StoreError(RuntimeError):
    """The tracking store could not answer; the message is one line for the page."""


class ReadOnlyError(StoreError):
    """A write was asked by someone who may only view (GANBOARD_READONLY=1, or a signed-in viewer)."""


# ------------------------------------------------------------------------------------------------- the store
def store_uri() -> str:
    return tracking.tracking_uri()


def readonly() -> bool:
    """True when this user may only view: GANBOARD_READONLY=1, or sign-in is on and they are no operator."""
    return not auth.can_operate()


def is_sql(uri: str) -> bool:
    return uri.split(":", 1)[0].split("+", 1)[0] in SQL_SCHEMES


def describe_store(uri: str | None = None) -> str:
    """Where the data comes from, for a caption: the database file or the server URL (no credentials)."""
    uri = uri or store_uri()
    if uri.startswith("sqlite:///"):
        return uri[len("sqlite:///"):]
    if "@" in uri:  # user:password@host
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return uri


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line: MLflow's own message when there is one, else the type and first line."""
    msg = getattr(exc, "message", None) or str(exc)
    first = next((ln.strip() for ln in str(msg).splitlines() if ln.strip()), "")
    text = first if first and type(exc).__name__ in ("MlflowException", "RestException") else \
        f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _store_error(exc: BaseException, what: str, uri: str) -> StoreError:
    name = type(exc).__name__
    if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NewConnectionError") or \
            "Connection refused" in str(exc) or "Max retries exceeded" in str(exc):
        return StoreError(f"Tracking server {describe_store(uri)} is not reachable: start it, or point "
                          f"MLFLOW_TRACKING_URI at another store.")
    return StoreError(f"{what}: {one_line(exc)}")


_probe_lock = threading.Lock()
_probe_ok: dict[str, float] = {}


def check_store(uri: str | None = None) -> None:
    """Fail fast with a clear line when a tracking server is down, instead of MLflow's minutes of retries."""
    uri = uri or store_uri()
    if not uri.startswith(("http://", "https://")):
        return
    with _probe_lock:
        if time.monotonic() - _probe_ok.get(uri, -1e9) < 10.0:
            return
    import requests

    try:
        resp = requests.get(uri.rstrip("/") + "/health", timeout=3)
    except requests.RequestException as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise StoreError(f"Tracking server {describe_store(uri)} is not reachable ({reason}): start it, or "
                         f"point MLFLOW_TRACKING_URI at another store.") from None
    if resp.status_code in (401, 403):
        raise StoreError(f"Tracking server {describe_store(uri)} refused access (HTTP {resp.status_code}): set "
                         f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.")
    if resp.status_code >= 500:
        raise StoreError(f"Tracking server {describe_store(uri)} answers HTTP {resp.status_code}: it is not healthy.")
    with _probe_lock:
        _probe_ok[uri] = time.monotonic()


def _client(uri: str):
    # A dashboard shows a banner when the server is away; it must not sit in MLflow's minutes of HTTP retries.
    tracking.fail_fast_http()
    from mlflow import MlflowClient

    check_store(uri)
    return MlflowClient(tracking_uri=uri)


@st.cache_resource(show_spinner=False)
def _sql_engine(uri: str):
    from sqlalchemy import create_engine

    if uri.startswith("sqlite:"):
        return create_engine(uri, connect_args={"check_same_thread": False, "timeout": 30})
    return create_engine(uri, pool_pre_ping=True)


# ------------------------------------------------------------------------------------------------ the runs
def _typed(name: str, raw: str) -> Any:
    """A logged param (always text in MLflow) back in its config field's type; unknown fields stay text."""
    spec = FIELDS.get(name)
    if spec is None:
        return raw
    kind = spec.type if isinstance(spec.type, str) else spec.type.__name__
    try:
        if kind == "bool":
            return raw.strip().lower() in ("true", "1", "yes", "on")
        if kind == "int":
            return int(float(raw))
        if kind == "float":
            return float(raw)
    except ValueError:
        return raw
    return raw


def _finite(value: float | None) -> float:
    if value is None or not math.isfinite(value) or abs(value) >= FLOAT_MAX:
        return math.nan
    return float(value)


def _run_row(run, experiments: dict[str, str]) -> dict[str, Any]:
    info, tags, params = run.info, run.data.tags, run.data.params
    status = STATUS_WORDS.get(info.status, str(info.status).lower())
    steps = int(float(params.get("steps", 0) or 0))
    step = int(float(tags.get(tracking.STEP_TAG, 0) or 0))
    if status == "finished":
        step = max(step, steps)
    row: dict[str, Any] = {
        "run_id": info.run_id, "name": info.run_name or info.run_id[:8],
        "experiment_id": info.experiment_id, "experiment": experiments.get(info.experiment_id, info.experiment_id),
        "status": status, "active": status in ACTIVE,
        "preset": tags.get("ganboard.preset", ""), "dataset": params.get("dataset", tags.get("ganboard.dataset", "")),
        "loss": params.get("loss", ""), "penalty": params.get("penalty", ""),
        "seed": _typed("seed", params["seed"]) if "seed" in params else None,
        "step": step, "steps": steps, "progress": min(step / steps, 1.0) if steps else 0.0,
        "health": tags.get("ganboard.health", ""), "health_reason": tags.get("ganboard.health_reason", ""),
        "sweep": tags.get("ganboard.sweep", ""), "sweep_name": tags.get("ganboard.sweep_name", ""),
        "reason": tags.get("ganboard.end_reason", ""), "curves": tags.get(tracking.CURVES_TAG, ""),
        "relaunch_of": tags.get("ganboard.relaunch_of", ""),
        "start": pd.to_datetime(info.start_time, unit="ms") if info.start_time else pd.NaT,
        "end": pd.to_datetime(info.end_time, unit="ms") if info.end_time else pd.NaT,
        "deleted": info.lifecycle_stage == "deleted", "artifact_uri": info.artifact_uri or "",
    }
    for key, value in run.data.metrics.items():
        row[f"metrics.{key}"] = _finite(value)
    for key, value in params.items():
        row[f"params.{key}"] = _typed(key, value)
    return row


class _Info(NamedTuple):
    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str


class _Data(NamedTuple):
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]


class _Run(NamedTuple):
    """The parts of mlflow.entities.Run that `_run_row` reads, as the SQL fast path builds them."""

    info: _Info
    data: _Data


def _sql_runs(uri: str, experiment_ids: Sequence[str], deleted: bool) -> list[_Run]:
    """Every run of the experiments in four queries on MLflow's tables (runs, tags, params, latest_metrics).

    Equivalent to MlflowClient.search_runs without a filter, and much faster for hundreds of runs, which the
    Runs page re-reads every few seconds while runs are active.
    """
    from sqlalchemy import bindparam, text

    eng = _sql_engine(uri)
    exp_ids = [int(e) for e in experiment_ids]
    stages = ["active", "deleted"] if deleted else ["active"]
    sel = ("SELECT {cols} FROM {table} t JOIN runs r ON t.run_uuid = r.run_uuid "
           "WHERE r.experiment_id IN :exps AND r.lifecycle_stage IN :stages")
    binds = (bindparam("exps", expanding=True), bindparam("stages", expanding=True))
    args = {"exps": exp_ids, "stages": stages}
    with eng.connect() as conn:
        runs_rows = conn.execute(text(
            "SELECT run_uuid, name, experiment_id, status, start_time, end_time, lifecycle_stage, artifact_uri "
            "FROM runs r "
            "WHERE r.experiment_id IN :exps AND r.lifecycle_stage IN :stages "
            "ORDER BY r.start_time DESC LIMIT :limit").bindparams(*binds), {**args, "limit": MAX_RUNS}).fetchall()
        tags, params, metrics = {}, {}, {}
        for table, cols, target in (("tags", "t.run_uuid, t.key, t.value", tags),
                                    ("params", "t.run_uuid, t.key, t.value", params),
                                    ("latest_metrics", "t.run_uuid, t.key, t.value, t.is_nan", metrics)):
            for row in conn.execute(text(sel.format(cols=cols, table=table)).bindparams(*binds), args):
                value = (math.nan if row[3] else row[2]) if table == "latest_metrics" else row[2]
                target.setdefault(row[0], {})[row[1]] = value
    return [_Run(_Info(r[0], r[1] or "", str(r[2]), r[3], r[4], r[5], r[6], r[7] or ""),
                 _Data(tags.get(r[0], {}), params.get(r[0], {}), metrics.get(r[0], {}))) for r in runs_rows]


def _sql_schema_ready(uri: str) -> bool:
    """Whether MLflow has created its tables in this database; if not, the client path creates them."""
    if _sql_ready.get(uri):
        return True
    from sqlalchemy import inspect

    try:
        ready = {"runs", "experiments", "latest_metrics"} <= set(inspect(_sql_engine(uri)).get_table_names())
    except Exception:  # noqa: BLE001 - let the client path report what is wrong with the database
        return False
    _sql_ready[uri] = ready
    return ready


_sql_ready: dict[str, bool] = {}


@st.cache_data(ttl=10.0, show_spinner=False)
def _experiments_cached(uri: str) -> pd.DataFrame:
    cols = ["experiment_id", "name"]
    try:
        if is_sql(uri) and _sql_schema_ready(uri):  # no mlflow import: the first page shows up sooner
            from sqlalchemy import text

            with _sql_engine(uri).connect() as conn:
                rows = conn.execute(text("SELECT experiment_id, name FROM experiments "
                                         "WHERE lifecycle_stage = 'active' ORDER BY experiment_id")).fetchall()
            return pd.DataFrame([(str(e), n) for e, n in rows], columns=cols)
        from mlflow.entities import ViewType

        exps = _client(uri).search_experiments(view_type=ViewType.ACTIVE_ONLY)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one line
        raise _store_error(exc, "Could not list experiments", uri) from None
    return pd.DataFrame([{"experiment_id": e.experiment_id, "name": e.name} for e in exps], columns=cols)


def experiments() -> pd.DataFrame:
    """Active experiments: columns experiment_id, name."""
    return _experiments_cached(store_uri())


@st.cache_data(ttl=RUNS_TTL_S, show_spinner=False, max_entries=64)
def _runs_cached(uri: str, experiment_ids: tuple[str, ...] | None, filter_string: str, deleted: bool
                 ) -> pd.DataFrame:
    exps = _experiments_cached(uri)
    names = dict(zip(exps["experiment_id"], exps["name"]))
    ids = list(experiment_ids) if experiment_ids else list(names)
    if not ids:
        return _empty_runs()
    try:
        rows: list[dict[str, Any]] = []
        if is_sql(uri) and not filter_string and _sql_schema_ready(uri):
            rows = [_run_row(r, names) for r in _sql_runs(uri, ids, deleted)]
        else:  # a filter needs MLflow's search syntax; a tracking server only speaks REST
            from mlflow.entities import ViewType

            c = _client(uri)
            token = None
            while len(rows) < MAX_RUNS:
                page = c.search_runs(ids, filter_string=filter_string,
                                     run_view_type=ViewType.ALL if deleted else ViewType.ACTIVE_ONLY,
                                     max_results=min(1000, MAX_RUNS - len(rows)),
                                     order_by=["attributes.start_time DESC"], page_token=token)
                rows.extend(_run_row(r, names) for r in page)
                token = page.token
                if not token:
                    break
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        what = f"Search filter '{filter_string}'" if filter_string and type(exc).__name__ in (
            "MlflowException", "RestException") \
            else "Could not list runs"
        raise _store_error(exc, what, uri) from None
    if not rows:
        return _empty_runs()
    df = pd.DataFrame(rows)
    df = df.sort_values(["start", "run_id"], ascending=[False, True], na_position="first", kind="stable")
    return df.reset_index(drop=True)


RUN_COLUMNS = ["run_id", "name", "experiment_id", "experiment", "status", "active", "preset", "dataset", "loss",
               "penalty", "seed", "step", "steps", "progress", "health", "health_reason", "sweep", "sweep_name",
               "reason", "curves", "relaunch_of", "start", "end", "deleted", "artifact_uri"]


def _empty_runs() -> pd.DataFrame:
    return pd.DataFrame(columns=RUN_COLUMNS)


def runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "", deleted: bool = False
         ) -> pd.DataFrame:
    """Runs newest first, one row each: the RUN_COLUMNS, then `metrics.<key>` (latest value, NaN when missing
    or not finite) and `params.<field>` (the config, typed). Filter with MLflow's search syntax, e.g.
    `params.loss = 'hinge' and metrics.\"metric/modes\" >= 6`; a bad filter raises StoreError naming it."""
    return _runs_cached(store_uri(), tuple(sorted(experiment_ids)) if experiment_ids else None,
                        filter_string.strip(), deleted)


def runs_by_id(run_ids: Sequence[str]) -> pd.DataFrame:
    """The given runs (deleted ones included, in the given order); ids the store does not know are left out."""
    if not run_ids:
        return _empty_runs()
    uri = store_uri()
    df = _runs_cached(uri, None, "", False)  # the Runs page's list: usually cached already
    if df.empty or not set(run_ids) <= set(df["run_id"]):
        df = _runs_cached(uri, None, "", True)
    if df.empty:
        return df
    known = set(df["run_id"])
    return df.set_index("run_id", drop=False).reindex([r for r in dict.fromkeys(run_ids) if r in known]) \
        .reset_index(drop=True)


def configs(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each run's typed config, keyed by run id, from a `runs()` frame."""
    cols = [c for c in df.columns if c.startswith("params.")]
    out = {}
    for row in df[["run_id", *cols]].itertuples(index=False, name=None):
        out[row[0]] = {c[len("params."):]: v for c, v in zip(cols, row[1:])
                       if not (isinstance(v, float) and math.isnan(v))}
    return out


@st.cache_resource(show_spinner=False)
def preset_configs() -> dict[str, dict[str, Any]]:
    """Every preset's full config (defaults with the preset applied), to name groups after their preset."""
    from engine.config import build_config
    from engine.presets import PRESETS

    return {name: build_config(name).to_dict() for name in PRESETS}


def groups(df: pd.DataFrame, by: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The Compare page's groups of a runs frame: run ids per label (stats.group_runs, presets named)."""
    return stats.group_runs(configs(df), by=by, presets=dict(zip(df["run_id"], df["preset"])),
                            preset_configs=preset_configs())


def metric_keys(df: pd.DataFrame) -> list[str]:
    """Every metric logged by at least one of the runs, sorted by namespace then name."""
    keys = [c[len("metrics."):] for c in df.columns if c.startswith("metrics.") and df[c].notna().any()]
    return sorted(keys, key=lambda k: (k.split("/")[0] != "metric", k))


def sweeps(df: pd.DataFrame) -> pd.DataFrame:
    """One row per sweep in a runs frame: sweep, sweep_name, runs, active, newest start."""
    if df.empty or "sweep" not in df:
        return pd.DataFrame(columns=["sweep", "sweep_name", "runs", "active", "start"])
    sub = df[df["sweep"] != ""]
    out = sub.groupby("sweep", sort=False).agg(sweep_name=("sweep_name", "first"), runs=("run_id", "size"),
                                                active=("active", "sum"), start=("start", "max")).reset_index()
    return out.sort_values("start", ascending=False).reset_index(drop=True)


def probability_losses_only(df: pd.DataFrame) -> bool:
    return not df.empty and set(df["loss"]) <= set(PROBABILITY_LOSSES)


# ------------------------------------------------------------------------------------------------- curves
# The bucket arithmetic lives in engine/curves.py (the engine writes the summaries of finished runs with it).
Curve = curves_lib.Curve
bucket_curve = curves_lib.bucket_curve
grid_width = curves_lib.grid_width

_FIN = "(m.is_nan = 0 AND m.value < 1.7976931348623157e308 AND m.value > -1.7976931348623157e308)"


def _sql_max_step(uri: str, run_ids: Sequence[str], key: str) -> float | None:
    from sqlalchemy import bindparam, text

    with _sql_engine(uri).connect() as conn:
        return conn.execute(text("SELECT MAX(step) FROM latest_metrics WHERE key = :key AND run_uuid IN :ids")
                            .bindparams(bindparam("ids", expanding=True)), {"key": key, "ids": list(run_ids)}).scalar()


def _sql_curves(uri: str, run_ids: Sequence[str], key: str, width: int) -> dict[str, Curve]:
    """Each run's rows of `key` bucketed and reduced inside the database, runs in parallel connections.

    One aggregate query per run walks the (run_uuid, key, step) index and sends back one row per bucket;
    SQLite works without the GIL, so a few threads use a few cores (measured faster than one GROUP BY over
    every run, which must sort all rows).
    """
    from sqlalchemy import text

    eng = _sql_engine(uri)
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
    c = _client(uri)

    def one(run_id: str):
        hist = c.get_metric_history(run_id, key)
        return run_id, np.array([[m.step, m.timestamp, m.value] for m in hist], dtype=np.float64).reshape(-1, 3)

    with ThreadPoolExecutor(max_workers=min(16, max(1, len(run_ids)))) as pool:
        return {r: h for r, h in pool.map(one, run_ids) if h.size}


def _read_run_artifact(artifact_uri: str, path: str) -> bytes:
    """One file of a run, straight from the run's artifact location: a local folder is read from disk; any other
    location (the tracking server's mlflow-artifacts:, s3:, ...) through its artifact repository. Unlike
    MlflowClient.download_artifacts this asks the tracking store nothing (that costs two get_run calls per
    file), which matters when a chart reads a hundred runs' summaries."""
    from urllib.parse import urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a path, file:///path, or a Windows drive
        return (Path(parsed.path if parsed.scheme == "file" else artifact_uri) / path).read_bytes()
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    with tempfile.TemporaryDirectory(prefix="ganboard-curve-") as tmp:
        return Path(get_artifact_repository(artifact_uri).download_artifacts(path, tmp)).read_bytes()


class _NoSummary(Exception):
    """A summary could not be read; raised, not returned, so that st.cache_data does not keep the failure (a
    server that was briefly away) and the next chart tries again."""


@st.cache_data(show_spinner=False, max_entries=4096)
def _summary_cached(uri: str, run_id: str, artifact_uri: str, ended: int, key: str) -> curves_lib.Buckets:
    """A finished run's logged summary of `key` (engine/curves.py). Never expires: a summary is only logged once
    the run has ended, and a resumed run is read row by row until it ends again, with a new end time (`ended`,
    ms), which makes a new cache key for the summary it then logs."""
    path = curves_lib.artifact_name(key)
    try:
        return curves_lib.from_npz_arrays(_npz_arrays(_read_run_artifact(artifact_uri, path), path))
    except Exception as exc:  # noqa: BLE001 - missing, unreadable or unreachable: the rows are still there
        raise _NoSummary(one_line(exc)) from None


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
        with ThreadPoolExecutor(max_workers=8) as pool:  # remote artifact stores: the downloads overlap
            loaded = pool.map(lambda r: (r[0], _summary_or_none(uri, *r, key)), summarised)
            summaries = {r: b for r, b in loaded if b is not None}
        rest = [r for r in run_ids if r not in summaries]
        histories: dict[str, np.ndarray] = {}
        if rest and is_sql(uri):
            hi = _sql_max_step(uri, rest, key) if _sql_schema_ready(uri) else None
        elif rest:
            histories = _client_histories(uri, rest, key)
            hi = max((h[:, 0].max() for h in histories.values()), default=None)
        else:
            hi = None
        last_steps = [b.last_step for b in summaries.values() if b.table.size] + ([hi] if hi is not None else [])
        if not last_steps:
            return {}
        width = grid_width(max(last_steps), points)
        out: dict[str, Curve] = {}
        too_fine = [r for r, b in summaries.items() if b.width > width]
        for r, b in summaries.items():
            if b.width <= width and b.table.size:
                out[r] = curves_lib.to_curve(curves_lib.regrid(b, width))
        if is_sql(uri):
            if rest or too_fine:
                out.update(_sql_curves(uri, [*rest, *too_fine], key, width))
        else:
            if too_fine:
                histories.update(_client_histories(uri, too_fine, key))
            out.update({r: bucket_curve(h[:, 0], h[:, 1], h[:, 2], width) for r, h in histories.items()})
        return out
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _store_error(exc, f"Could not read {key}", uri) from None


@st.cache_data(ttl=FINAL_TTL_S, show_spinner=False, max_entries=256)
def _curves_final(uri: str, run_ids: tuple[str, ...], key: str, points: int,
                  summarised: tuple[tuple[str, str, int], ...]) -> dict[str, Curve]:
    return _read_curves(uri, run_ids, key, points, summarised)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False, max_entries=64)
def _curves_live(uri: str, run_ids: tuple[str, ...], key: str, points: int,
                 summarised: tuple[tuple[str, str, int], ...]) -> dict[str, Curve]:
    return _read_curves(uri, run_ids, key, points, summarised)


def curves(run_ids: Sequence[str], key: str, points: int = 300, live: Collection[str] = ()) -> dict[str, Curve]:
    """Downsampled curves of `key` for the runs (a run without this metric is absent from the result).

    `live` names the runs that are still queued or running: their curves are re-read every LIVE_TTL_S, the
    others are cached for an hour. Ended runs whose curve summaries are logged are drawn from those instead of
    their metric rows. All runs of one call share the bucket grid (see the module docstring).
    """
    ids = tuple(sorted(set(run_ids)))
    if not ids:
        return {}
    live_set = set(live) & set(ids)
    done = tuple(sorted((r, *where) for r, where in summarised_runs(runs_by_id(ids)).items() if r not in live_set))
    uri = store_uri()
    if live_set:
        # One call, so live and finished runs share a bucket grid; short-lived because some are still moving.
        return _curves_live(uri, ids, key, int(points), done)
    return _curves_final(uri, ids, key, int(points), done)


def summarised_runs(df: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Run id -> (artifact location, end time in ms), for the runs of a runs frame whose curve summaries can
    stand in for their metric rows: ended, and tagged as summarised."""
    if df.empty or "curves" not in df:
        return {}
    sub = df[(df["curves"] == "1") & ~df["active"].astype(bool) & df["end"].notna()]
    return {r: (a, round(e.timestamp() * 1000)) for r, a, e in zip(sub["run_id"], sub["artifact_uri"], sub["end"])}


# -------------------------------------------------------------------------------------------------- writes
def _writable() -> None:
    """Refuse a write, not just hide its button, for anyone who may not operate."""
    try:
        auth.check_operator()
    except auth.NotOperatorError as exc:
        raise ReadOnlyError(str(exc)) from None


def _refresh() -> None:
    _runs_cached.clear()
    _experiments_cached.clear()


def plan(preset: str | None, overrides: dict[str, Any], sweep: dict[str, list[Any]] | None,
         seeds: int | list[int]) -> list[tuple[str | None, Any]]:
    """(preset, validated config) per run a launch would start; raises ConfigError / LaunchError naming the
    field. Touches no store."""
    from engine.launch import expand

    return expand(preset, overrides, sweep, seeds)


def launch(preset: str | None, overrides: dict[str, Any], sweep: dict[str, list[Any]] | None, seeds: int | list[int],
           *, experiment: str = tracking.DEFAULT_EXPERIMENT, sweep_name: str | None = None) -> list[str]:
    """Queue the runs through the launcher; they exist in the store (status queued) when this returns."""
    _writable()
    from engine import launch as launch_lib

    uri = store_uri()
    check_store(uri)
    try:
        ids = launch_lib.get_launcher().submit(preset, overrides, sweep, seeds, experiment=experiment or
                                               tracking.DEFAULT_EXPERIMENT, sweep_name=sweep_name or None)
    except (ConfigError, launch_lib.LaunchError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise _store_error(exc, "Launch failed", uri) from None
    finally:
        _refresh()
    return ids


def stop(run_ids: Sequence[str]) -> None:
    _writable()
    from engine import launch as launch_lib

    uri = store_uri()
    check_store(uri)
    try:
        launch_lib.get_launcher().stop(list(run_ids))
    except Exception as exc:  # noqa: BLE001
        raise _store_error(exc, "Stop failed", uri) from None
    finally:
        _refresh()


def relaunch(run_ids: Sequence[str]) -> list[str]:
    """A new run with each run's config (same seed), in the same experiment, under the same preset tag, in the
    same sweep (so "Compare sweep" shows it beside its original), named "<name> (relaunch k)" and tagged with
    the run it repeats."""
    _writable()
    from engine import launch as launch_lib
    from engine.presets import PRESETS

    df = runs_by_id(run_ids)
    everything = runs(deleted=True)
    new: list[str] = []
    try:
        for row, cfg in zip(df.itertuples(index=False), configs(df).values()):
            cfg = {k: v for k, v in cfg.items() if k in FIELDS}
            preset = row.preset if row.preset in PRESETS else None
            original = row.relaunch_of or row.run_id  # a relaunch of a relaunch repeats the same original
            earlier = int((everything["relaunch_of"] == original).sum()) if not everything.empty else 0
            name = f"{_name_of(everything, original, row.name)} (relaunch {earlier + 1})"
            new += launch_lib.get_launcher().submit(
                preset, cfg, None, 1, experiment=row.experiment, sweep_id=row.sweep or None,
                sweep_name=(row.sweep_name or None) if row.sweep else f"relaunch of {row.name}", names=[name],
                tags={launch_lib.RELAUNCH_TAG: original})
    except (ConfigError, launch_lib.LaunchError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise _store_error(exc, "Relaunch failed", store_uri()) from None
    finally:
        _refresh()
    return new


def _name_of(df: pd.DataFrame, run_id: str, fallback: str) -> str:
    names = df.loc[df["run_id"] == run_id, "name"] if not df.empty else []
    return names.iloc[0] if len(names) else fallback


def delete(run_ids: Sequence[str]) -> None:
    """MLflow's soft delete: the runs leave every list and can be restored (`restore`) until purged."""
    _for_each_run(run_ids, "delete_run", "Delete failed")


def restore(run_ids: Sequence[str]) -> None:
    _for_each_run(run_ids, "restore_run", "Restore failed")


def _for_each_run(run_ids: Sequence[str], method: str, failure: str) -> None:
    """One client call per run (delete_run, restore_run), refused for viewers, with a one-line failure."""
    _writable()
    uri = store_uri()
    try:
        c = _client(uri)
        for run_id in run_ids:
            getattr(c, method)(run_id)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _store_error(exc, failure, uri) from None
    finally:
        _refresh()


_reconciled: dict[str, float] = {}


def reconcile(df: pd.DataFrame, every_s: float = 10.0) -> bool:
    """Let the launcher mark running runs whose process or heartbeat is gone as failed (`lost`), at most every
    `every_s`; True when it changed a status. Read-only dashboards leave the store alone."""
    if readonly() or df.empty:
        return False
    running = df.loc[df["status"] == "running", "run_id"].tolist()
    uri = store_uri()
    if not running or time.monotonic() - _reconciled.get(uri, -1e9) < every_s:
        return False
    _reconciled[uri] = time.monotonic()
    from engine import launch as launch_lib

    try:
        states = launch_lib.get_launcher().status(running)
    except Exception:  # noqa: BLE001 - a best-effort check; the table still shows what the store says
        return False
    changed = any(s.status != "running" for s in states)
    if changed:
        _refresh()
    return changed


def logs(run_id: str) -> str:
    """The run's process output (the launcher's log, else the logs/output.txt artifact); '' when none."""
    from engine import launch as launch_lib

    try:
        return launch_lib.get_launcher().logs(run_id)
    except Exception as exc:  # noqa: BLE001
        return f"(no log: {one_line(exc)})"


# ----------------------------------------------------------------------------------------------- selection
def select_runs(run_ids: Sequence[str], sweep: str | None = None) -> None:
    """Make these runs the selection that Compare, Gallery and Artifacts show (`sweep` when it is a sweep)."""
    st.session_state[SELECTION_KEY] = list(dict.fromkeys(run_ids))
    st.session_state[SELECTION_SWEEP_KEY] = sweep


def selected_runs() -> list[str]:
    """The selected run ids: this session's selection, else the page link's `?runs=id,id` or `?sweep=id`."""
    sel = st.session_state.get(SELECTION_KEY)
    if sel is not None:  # [] is a cleared selection, which a page link must not bring back
        return list(sel)
    params = st.query_params
    if params.get("runs"):
        ids = [r.strip() for r in params["runs"].split(",") if r.strip()]
        select_runs(ids)
        return ids
    if params.get("sweep"):
        df = runs()
        ids = df.loc[df["sweep"] == params["sweep"], "run_id"].tolist() if not df.empty else []
        select_runs(ids, params["sweep"])
        return ids
    return []


def selected_sweep() -> str | None:
    return st.session_state.get(SELECTION_SWEEP_KEY)


def selection_query(run_ids: Sequence[str]) -> dict[str, str]:
    """Query params that reproduce the selection in a link: the sweep when it is one, else the ids (up to 50)."""
    sweep = selected_sweep()
    if sweep:
        return {"sweep": sweep}
    return {"runs": ",".join(run_ids)} if 0 < len(run_ids) <= 50 else {}


# --- artifacts and snapshots (gallery, artifacts pages) ---
# Artifacts are read only through MlflowClient.list_artifacts / download_artifacts, so the pages work the same on
# the embedded store and on a tracking server. Only paths that list_artifacts returned for the chosen run are ever
# downloaded (`check_artifact_path`). A snapshot of a logged step never changes, so the snapshot loaders are
# cached without expiry, keyed by (store, run id, step); listings live ARTIFACT_TTL_S, because a running run keeps
# adding steps. Every failure reaches the pages as an ArtifactError (a StoreError) with a one-line message.
import bisect  # noqa: E402 - this section's imports stay with it
import io  # noqa: E402
import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import lru_cache  # noqa: E402

ARTIFACT_TTL_S = 15.0
PREVIEW_MAX_BYTES = 5_000_000  # previews read at most this much; the download button still gets any size
SNAPSHOT_CACHE_ENTRIES = 8192  # a samples + field pair is ~55 kB: a few hundred MB at most
MAX_CHECKPOINT_SAMPLES = 20_000
TEXT_SUFFIXES = {".txt": None, ".log": None, ".md": "markdown", ".yaml": "yaml", ".yml": "yaml", ".py": "python",
                 ".toml": "toml", ".cfg": "ini", ".ini": "ini", ".sh": "bash", "": None}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


class ArtifactError(StoreError):
    """A missing, unreadable, oversized or forbidden artifact; the message is one line for the page."""


def _artifact_error(exc: BaseException, what: str, uri: str) -> ArtifactError:
    return ArtifactError(str(_store_error(exc, what, uri)))


@st.cache_data(ttl=ARTIFACT_TTL_S, show_spinner=False, max_entries=512)
def _tree_cached(uri: str, run_id: str) -> list[dict[str, Any]]:
    client = _client(uri)
    out: list[dict[str, Any]] = []

    def walk(folder: str | None, depth: int) -> None:
        for info in sorted(client.list_artifacts(run_id, folder), key=lambda f: (not f.is_dir, f.path)):
            out.append({"path": info.path, "is_dir": bool(info.is_dir), "size": info.file_size, "depth": depth})
            if info.is_dir:
                walk(info.path, depth + 1)

    try:
        walk(None, 0)
    except Exception as exc:  # noqa: BLE001 - an unknown run, a vanished folder, a server that is down
        raise _artifact_error(exc, f"Could not list the artifacts of run {run_id}", uri) from None
    return out


def artifact_tree(run_id: str) -> list[dict[str, Any]]:
    """Every artifact of a run, folders before files, depth first: dicts {path, is_dir, size, depth}."""
    return _tree_cached(store_uri(), run_id)


def check_artifact_path(path: str, listed: Collection[str]) -> str:
    """`path` when it is one of `listed` (the run's own files), else ArtifactError.

    Relative paths only: no leading '/', no drive or scheme, no '.', '..' or empty component; and whatever it
    looks like, it must be a path that list_artifacts returned for this run.
    """
    p = str(path)
    parts = p.replace("\\", "/").split("/")
    if not p or p.startswith(("/", "\\")) or ":" in parts[0] or any(part in ("", ".", "..") for part in parts):
        raise ArtifactError(f"'{path}' is not an artifact path of this run (relative paths without '..' only)")
    if p not in set(listed):
        raise ArtifactError(f"'{path}' is not among this run's artifacts")
    return p


def _entry(uri: str, run_id: str, path: str) -> dict[str, Any]:
    tree = _tree_cached(uri, run_id)
    check_artifact_path(path, [e["path"] for e in tree if not e["is_dir"]])
    return next(e for e in tree if e["path"] == path)


def _download(uri: str, run_id: str, path: str, dst: str) -> Path:
    try:
        return Path(_client(uri).download_artifacts(run_id, path, dst))
    except Exception as exc:  # noqa: BLE001
        raise _artifact_error(exc, f"Could not download {path}", uri) from None


@st.cache_data(ttl=ARTIFACT_TTL_S, show_spinner=False, max_entries=32)
def _bytes_cached(uri: str, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ganboard-art-") as tmp:
        return _download(uri, run_id, path, tmp).read_bytes()


def read_artifact(run_id: str, path: str, capped: bool = True) -> bytes:
    """The bytes of one listed artifact of `run_id`; ArtifactError when it is not listed, or over
    PREVIEW_MAX_BYTES when `capped` (previews). Uncapped reads (downloads) are not kept in the cache."""
    uri = store_uri()
    entry = _entry(uri, run_id, path)
    if capped and entry["size"] is not None and entry["size"] > PREVIEW_MAX_BYTES:
        raise ArtifactError(f"{path} is {entry['size'] / 1e6:.1f} MB; previews stop at "
                            f"{PREVIEW_MAX_BYTES / 1e6:g} MB (the download button gets the whole file)")
    if not capped:
        with tempfile.TemporaryDirectory(prefix="ganboard-art-") as tmp:
            return _download(uri, run_id, path, tmp).read_bytes()
    return _bytes_cached(uri, run_id, path)


def artifact_download(run_id: str, path: str):
    """A callable for st.download_button's deferred `data`: the whole file, or a one-line error text."""

    def fetch() -> bytes:
        try:
            return read_artifact(run_id, path, capped=False)
        except StoreError as exc:
            return f"GANboard could not read {path}: {exc}\n".encode()

    return fetch


def _npz_arrays(raw: bytes, path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad header, pickled object arrays
        raise ArtifactError(f"{path}: not a readable .npz ({one_line(exc)})") from None


def read_npz(run_id: str, path: str) -> dict[str, np.ndarray]:
    """The arrays of a listed .npz artifact (size-capped like every preview; no pickled objects)."""
    return _npz_arrays(read_artifact(run_id, path), path)


def _list_steps(uri: str, run_id: str, folder: str) -> list[int]:
    try:
        infos = _client(uri).list_artifacts(run_id, folder)
    except Exception as exc:  # noqa: BLE001
        raise _artifact_error(exc, f"Could not list {folder}/ of run {run_id}", uri) from None
    names = (Path(i.path).name for i in infos)
    return sorted(s for s in map(tracking.snapshot_step, names) if s is not None)


@st.cache_data(ttl=ARTIFACT_TTL_S, show_spinner=False, max_entries=1024)
def _steps_live(uri: str, run_id: str, folder: str) -> list[int]:
    return _list_steps(uri, run_id, folder)


@st.cache_data(ttl=FINAL_TTL_S, show_spinner=False, max_entries=4096)
def _steps_final(uri: str, run_id: str, folder: str) -> list[int]:
    return _list_steps(uri, run_id, folder)


def snapshot_steps(run_id: str, folder: str = "samples", live: bool = True) -> list[int]:
    """Steps with a `folder/step_%07d.npz` snapshot, sorted; [] when the run logged none.

    `live` (a queued or running run) re-lists every ARTIFACT_TTL_S; a finished run's list cannot change and is
    kept an hour, so scrubbing through finished runs never waits on a listing.
    """
    return (_steps_live if live else _steps_final)(store_uri(), run_id, folder)


def nearest_earlier(steps: Sequence[int], step: int) -> int | None:
    """The largest of the sorted `steps` that is <= step, or None when every one is later."""
    i = bisect.bisect_right(steps, step)
    return steps[i - 1] if i else None


@st.cache_data(show_spinner=False, max_entries=SNAPSHOT_CACHE_ENTRIES)
def _samples_cached(uri: str, run_id: str, step: int) -> np.ndarray:
    path = tracking.snapshot_path("samples", step)
    with tempfile.TemporaryDirectory(prefix="ganboard-snap-") as tmp:
        arrays = _npz_arrays(_download(uri, run_id, path, tmp).read_bytes(), path)
    x = arrays.get("x")
    if x is None or x.ndim != 2 or x.shape[1] != 2:
        raise ArtifactError(f"{path}: holds no (N, 2) array 'x'")
    return x


@st.cache_data(show_spinner=False, max_entries=SNAPSHOT_CACHE_ENTRIES)
def _field_cached(uri: str, run_id: str, step: int) -> dict[str, Any]:
    path = tracking.snapshot_path("field", step)
    with tempfile.TemporaryDirectory(prefix="ganboard-snap-") as tmp:
        arrays = _npz_arrays(_download(uri, run_id, path, tmp).read_bytes(), path)
    if not {"xs", "ys", "d"} <= arrays.keys():
        raise ArtifactError(f"{path}: expected arrays xs, ys, d; found {', '.join(arrays) or 'none'}")
    xs, ys, d = arrays["xs"], arrays["ys"], arrays["d"]
    d_star = arrays.get("d_star")
    if d.shape != (len(ys), len(xs)) or (d_star is not None and d_star.shape != d.shape):
        raise ArtifactError(f"{path}: d is {d.shape}, the grid {len(ys)} x {len(xs)}")
    return {"xs": xs, "ys": ys, "d": d, "d_star": d_star,
            "d_is_prob": bool(arrays["d_is_prob"]) if "d_is_prob" in arrays else False,
            "d_reference": str(arrays["d_reference"]) if "d_reference" in arrays else None}


def load_samples(run_id: str, step: int) -> np.ndarray:
    """The (N, 2) generated samples logged at exactly `step` (the fixed evaluation latent batch)."""
    return _samples_cached(store_uri(), run_id, int(step))


def load_field(run_id: str, step: int) -> dict[str, Any]:
    """D on the evaluation grid at exactly `step`: {xs, ys, d, d_star (None when not logged), d_is_prob,
    d_reference}.

    d[i, j] is D at (xs[j], ys[i]): a probability when d_is_prob, a critic's raw score otherwise. d_reference
    (None without minibatch discrimination) says what each point was scored against, e.g. "511 real samples".
    """
    return _field_cached(store_uri(), run_id, int(step))


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
    except StoreError as exc:
        return Frame(run_id, step, None, message=str(exc))
    if not steps:
        return Frame(run_id, step, None, message="no sample snapshots logged yet")
    shown = nearest_earlier(steps, step)
    if shown is None:
        return Frame(run_id, step, None, message=f"no snapshot at or before step {step} (first: {steps[0]})")
    frame = Frame(run_id, step, shown, message="" if shown == step else f"no snapshot at {step}, nearest earlier")
    try:
        frame.x = load_samples(run_id, shown)
    except StoreError as exc:
        frame.message = str(exc)
        return frame
    if with_field:
        try:
            frame.field = load_field(run_id, shown)
        except StoreError as exc:
            frame.message = "; ".join(m for m in (frame.message, f"no D field ({exc})") if m)
    return frame


@dataclass
class Preview:
    """An artifact made ready for display: kind is json, text, table, image, npz, checkpoint, none or error."""

    kind: str
    value: Any = None
    language: str | None = None
    message: str = ""


def artifact_preview(run_id: str, path: str) -> Preview:
    """Read and decode one artifact by its suffix; every failure is a Preview of kind 'error', never a raise."""
    suffix = Path(path).suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt"):
        try:
            return Preview("checkpoint", checkpoint_summary(run_id, path))
        except StoreError as exc:
            return Preview("error", message=str(exc))
    try:
        raw = read_artifact(run_id, path)
    except StoreError as exc:
        return Preview("error", message=str(exc))
    try:
        if suffix == ".json":
            return Preview("json", json.loads(raw.decode("utf-8")))
        if suffix in (".csv", ".tsv"):
            return Preview("table", pd.read_csv(io.BytesIO(raw), sep="\t" if suffix == ".tsv" else ","))
        if suffix in IMAGE_SUFFIXES:
            from PIL import Image

            with Image.open(io.BytesIO(raw)) as img:
                img.verify()  # a truncated or mislabelled file fails here, not in the browser
            return Preview("image", raw)
        if suffix == ".npz":
            return Preview("npz", _npz_arrays(raw, path))
        if suffix in TEXT_SUFFIXES or Path(path).name == "MLmodel":
            return Preview("text", raw.decode("utf-8"), TEXT_SUFFIXES.get(suffix, "yaml"))
    except ArtifactError as exc:
        return Preview("error", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - bad JSON, CSV, image or encoding: say so, show no traceback
        return Preview("error", message=f"{path}: could not be read as {suffix or 'text'} ({one_line(exc)})")
    return Preview("none", message=f"no preview for {suffix or 'files without a suffix'}; use the download button")


def array_summary(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per array: name, shape, dtype, and min / max / mean of the finite values of numeric arrays."""
    rows = []
    for name, a in arrays.items():
        row: dict[str, Any] = {"name": name, "shape": str(tuple(a.shape)), "dtype": str(a.dtype)}
        if a.dtype.kind in "biuf" and a.size:
            fin = a[np.isfinite(a)] if a.dtype.kind == "f" else a
            row.update(min=float(fin.min()) if fin.size else math.nan, max=float(fin.max()) if fin.size else math.nan,
                       mean=float(fin.mean()) if fin.size else math.nan,
                       non_finite=int(a.size - fin.size))
        rows.append(row)
    return pd.DataFrame(rows, columns=["name", "shape", "dtype", "min", "max", "mean", "non_finite"])


@lru_cache(maxsize=16)
def mixture(name: str):
    """The data set a run trained on (engine.data), for its modes, sigma, bounds and density."""
    from engine.data import get_dataset

    return get_dataset(name)


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
    return _mode_shares_cached(store_uri(), run_id, dataset, tuple(int(s) for s in steps))


@st.cache_data(show_spinner=False, max_entries=512)
def _mode_shares_cached(uri: str, run_id: str, dataset: str, steps: tuple[int, ...]) -> tuple[list[int], np.ndarray]:
    from engine.metrics import mode_histogram

    m = mixture(dataset)
    read, rows = [], []
    for s in steps:
        try:
            x = _samples_cached(uri, run_id, s)
        except StoreError:
            continue
        if np.isfinite(x).all():
            read.append(s)
            rows.append(mode_histogram(m, x))
    return read, np.array(rows, dtype=np.float64).reshape(len(rows), m.n_modes)


def _load_checkpoint(uri: str, run_id: str, path: str) -> dict[str, Any]:
    import torch

    _entry(uri, run_id, path)
    with tempfile.TemporaryDirectory(prefix="ganboard-ckpt-") as tmp:
        local = _download(uri, run_id, path, tmp)
        try:
            # weights_only: a checkpoint from a shared store must not be able to run code in the dashboard
            state = torch.load(local, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, or holding arbitrary objects
            raise ArtifactError(f"{path}: not a readable checkpoint ({one_line(exc)})") from None
    if not isinstance(state, dict) or not {"G", "D", "config"} <= state.keys():
        raise ArtifactError(f"{path}: not a GANboard checkpoint (it lacks the keys G, D, config)")
    return state


@st.cache_data(show_spinner=False, max_entries=64, ttl=ARTIFACT_TTL_S)
def _checkpoint_summary_cached(uri: str, run_id: str, path: str) -> dict[str, Any]:
    state = _load_checkpoint(uri, run_id, path)

    def count(sd: Any) -> int:
        return int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))) if isinstance(sd, dict) else 0

    return {"step": state.get("step"), "config": state["config"], "keys": sorted(state),
            "parameters_G": count(state["G"]), "parameters_D": count(state["D"]),
            "has_G_ema": state.get("G_ema") is not None}


def checkpoint_summary(run_id: str, path: str) -> dict[str, Any]:
    """Step, config, keys and parameter counts of a listed checkpoint (loaded with weights_only=True)."""
    return _checkpoint_summary_cached(store_uri(), run_id, path)


@st.cache_data(show_spinner=False, max_entries=32, ttl=ARTIFACT_TTL_S)
def _sample_checkpoint_cached(uri: str, run_id: str, path: str, seed: int, n: int, use_ema: bool,
                              grad_points: int) -> dict[str, Any]:
    import torch

    from engine.config import build_config
    from engine.losses import PROBABILITY_D
    from engine.data import get_dataset
    from engine.evaluation import d_at, eval_stream, reference_note
    from engine.nets import build_nets, sample_latent

    state = _load_checkpoint(uri, run_id, path)
    try:
        cfg = build_config(None, None, state["config"])
        G, D = build_nets(cfg, get_dataset(cfg.dataset))
        which = "G_ema" if use_ema and state.get("G_ema") is not None else "G"
        G.load_state_dict(state[which])
        D.load_state_dict(state["D"])
    except Exception as exc:  # noqa: BLE001 - a config this engine rejects, or weights of other shapes
        raise ArtifactError(f"{path}: does not fit the nets its config describes ({one_line(exc)})") from None
    G.eval()
    D.eval()
    with torch.no_grad():
        x = G(sample_latent(n, cfg, torch.Generator().manual_seed(int(seed)), torch.device("cpu")))

    m = mixture(cfg.dataset)
    # as Trainer.d_prob_at: in chunks, and with minibatch discrimination against the run's reference minibatch
    reference = eval_stream(cfg, m, torch.device("cpu"))[2]
    x0, x1, y0, y1 = m.bounds()
    xs = np.linspace(x0, x1, cfg.grid_size, dtype=np.float32)
    ys = np.linspace(y0, y1, cfg.grid_size, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    with torch.no_grad():
        grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
        d = d_at(D, cfg, grid, reference).reshape(len(ys), len(xs)).numpy()
    grad = np.empty((0, 2), np.float32)
    pts = x[:grad_points].clone()
    if grad_points and torch.isfinite(pts).all():
        pts.requires_grad_(True)
        # the sum's gradient is each point's own grad D: outputs depend on their own point only (with minibatch
        # discrimination too, as each point is scored against the fixed reference, not the other points)
        (g,) = torch.autograd.grad(d_at(D, cfg, pts, reference).sum(), pts)
        grad = g.numpy()
    return {"x": x.numpy(), "step": state.get("step"), "config": state["config"], "generator": which,
            "field": {"xs": xs, "ys": ys, "d": d, "d_is_prob": cfg.loss in PROBABILITY_D,
                      "d_reference": reference_note(cfg) if reference is not None else None},
            "grad": grad}


def sample_checkpoint(run_id: str, path: str, seed: int, n: int, use_ema: bool = True,
                      grad_points: int = 0) -> dict[str, Any]:
    """`n` samples of a listed checkpoint's generator from latents drawn with `seed`, and its D around them.

    Returns {x (n, 2), step, config, generator ('G_ema' or 'G'), field {xs, ys, d, d_is_prob, d_reference}: the
    checkpoint's D on the data set's grid (with minibatch discrimination against the run's reference minibatch,
    as in load_field), grad (grad_points, 2): grad D at the first samples by torch autograd}.
    """
    if not 1 <= int(n) <= MAX_CHECKPOINT_SAMPLES:
        raise ArtifactError(f"count: between 1 and {MAX_CHECKPOINT_SAMPLES}, got {n}")
    return _sample_checkpoint_cached(store_uri(), run_id, path, int(seed), int(n), bool(use_ema), int(grad_points))
