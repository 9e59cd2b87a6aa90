"""The runs table: experiments, one row per run (typed config, tags, latest metrics), and what pages derive from it.

On SQL-backed stores (sqlite, postgresql, mysql) a run list without a search filter is read straight from MLflow's
tables in four queries (`_sql_runs`), the same frame as MlflowClient.search_runs and much faster for hundreds of
runs, which the Runs page re-reads every few seconds while runs are active; a filter, or a tracking server, goes
through the client. Lists are cached RUNS_TTL_S (store.py); a write drops them (`refresh`).

MLflow stores NaN as is_nan = 1 and +-inf as +-float max; both count as missing here, as in stats.py.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

from dashboard import stats
from dashboard.data import store
from engine import tracking
from engine.config import FIELDS, ConfigError, coerce

MAX_RUNS = 5000
ACTIVE = ("queued", "running")
STATUS_WORDS = tracking.STATUS_WORDS
FLOAT_MAX = sys.float_info.max
RUN_COLUMNS = ["run_id", "name", "experiment_id", "experiment", "status", "active", "preset", "dataset", "loss",
               "penalty", "seed", "step", "steps", "progress", "health", "health_reason", "sweep", "sweep_name",
               "reason", "curves", "relaunch_of", "start", "end", "deleted", "artifact_uri"]


def _typed(name: str, raw: str) -> Any:
    """A logged param (always text in MLflow) back in its config field's type, as the engine reads a value
    (config.coerce). A field this version does not know, or a value that does not parse, stays text: old runs
    still open."""
    if name not in FIELDS:
        return raw
    try:
        return coerce(name, raw)
    except ConfigError:
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

    eng = store.sql_engine(uri)
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


@st.cache_data(ttl=10.0, show_spinner=False)
def _experiments_cached(uri: str) -> pd.DataFrame:
    cols = ["experiment_id", "name"]
    try:
        if store.is_sql(uri) and store.sql_schema_ready(uri):  # no mlflow import: the first page shows up sooner
            from sqlalchemy import text

            with store.sql_engine(uri).connect() as conn:
                rows = conn.execute(text("SELECT experiment_id, name FROM experiments "
                                         "WHERE lifecycle_stage = 'active' ORDER BY experiment_id")).fetchall()
            return pd.DataFrame([(str(e), n) for e, n in rows], columns=cols)
        from mlflow.entities import ViewType

        exps = store.client(uri).search_experiments(view_type=ViewType.ACTIVE_ONLY)
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one line
        raise store.store_error(exc, "Could not list experiments", uri) from None
    return pd.DataFrame([{"experiment_id": e.experiment_id, "name": e.name} for e in exps], columns=cols)


def experiments() -> pd.DataFrame:
    """Active experiments: columns experiment_id, name."""
    return _experiments_cached(store.store_uri())


@st.cache_data(ttl=store.RUNS_TTL_S, show_spinner=False, max_entries=64)
def _runs_cached(uri: str, experiment_ids: tuple[str, ...] | None, filter_string: str, deleted: bool
                 ) -> pd.DataFrame:
    exps = _experiments_cached(uri)
    names = dict(zip(exps["experiment_id"], exps["name"]))
    ids = list(experiment_ids) if experiment_ids else list(names)
    if not ids:
        return _empty_runs()
    try:
        rows: list[dict[str, Any]] = []
        if store.is_sql(uri) and not filter_string and store.sql_schema_ready(uri):
            rows = [_run_row(r, names) for r in _sql_runs(uri, ids, deleted)]
        else:  # a filter needs MLflow's search syntax; a tracking server only speaks REST
            from mlflow.entities import ViewType

            c = store.client(uri)
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
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        what = f"Search filter '{filter_string}'" if filter_string and type(exc).__name__ in (
            "MlflowException", "RestException") \
            else "Could not list runs"
        raise store.store_error(exc, what, uri) from None
    if not rows:
        return _empty_runs()
    df = pd.DataFrame(rows)
    df = df.sort_values(["start", "run_id"], ascending=[False, True], na_position="first", kind="stable")
    return df.reset_index(drop=True)


def _empty_runs() -> pd.DataFrame:
    return pd.DataFrame(columns=RUN_COLUMNS)


def refresh() -> None:
    """Forget the cached run lists: a write (launch, stop, delete, ...) changed them."""
    _runs_cached.clear()
    _experiments_cached.clear()


def runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "", deleted: bool = False
         ) -> pd.DataFrame:
    """Runs newest first, one row each: the RUN_COLUMNS, then `metrics.<key>` (latest value, NaN when missing
    or not finite) and `params.<field>` (the config, typed). Filter with MLflow's search syntax, e.g.
    `params.loss = 'hinge' and metrics.\"metric/modes\" >= 6`; a bad filter raises StoreError naming it."""
    return _runs_cached(store.store_uri(), tuple(sorted(experiment_ids)) if experiment_ids else None,
                        filter_string.strip(), deleted)


def runs_by_id(run_ids: Sequence[str]) -> pd.DataFrame:
    """The given runs (deleted ones included, in the given order); ids the store does not know are left out."""
    if not run_ids:
        return _empty_runs()
    uri = store.store_uri()
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
