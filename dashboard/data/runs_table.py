"""The runs table: experiments, runs one row each (typed config, tags, latest metrics), counts, sweeps.

Nothing here reads the whole store. A page reads what it shows:
- `runs`: one page of the runs that match a filter, in an order, from an offset. The filter (MLflow's search
  syntax, plus status and sweep), the order and the paging run in the store (`engine.tracking.search_runs`: SQL
  for a database store, the tracking server's search for a server), so a page of 50 costs the same with 50 runs
  in the store or 50,000. `count_runs` says how many match: one SQL count where a database is at hand
  (`store.sql_reads`) and no search filter, else by probing the store's paging (a page at offset k exists while
  k < n), PROBES one-run searches at a time: about seven rounds for ten thousand runs.
- `runs_by_id`: the given runs only (a selection of a thousand for Compare), in a few SQL queries on MLflow's
  tables where a database is at hand, else through the client's search by id in parallel chunks. Each run's row
  is reused for SETTLED_TTL_S once the run has ended and for RUNS_TTL_S while it is queued or running
  (`_RowCache`), so a page's widget change does not read its thousand rows again.
- `sweeps`: the store's sweeps from each experiment's sweep index (the experiment tags the launcher writes,
  engine.tracking.sweep_index), without reading a run.
A write drops every cached read (`refresh`).

MLflow stores NaN as is_nan = 1 and +-inf as +-float max; both count as missing here, as in stats.py.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

from dashboard import stats
from dashboard.data import store
from engine import tracking
from engine.config import FIELDS, ConfigError, coerce

PAGE_SIZE = 50
MAX_PAGE = 1000  # the most runs one read of `runs` returns
ACTIVE = ("queued", "running")
STATUS_WORDS = tracking.STATUS_WORDS
STATUS_OF_WORD = {word: status for status, word in STATUS_WORDS.items()}
SWEEP_TAG = "ganboard.sweep"
RELAUNCH_TAG = "ganboard.relaunch_of"
ID_CHUNK = 250  # run ids per request or query when reading runs by id
COUNT_TTL_S = 15.0
PROBES = 8  # requests at once when counting by probing the store's pages
FLOAT_MAX = sys.float_info.max
RUN_COLUMNS = ["run_id", "name", "experiment_id", "experiment", "status", "active", "preset", "dataset", "loss",
               "penalty", "seed", "step", "steps", "progress", "health", "health_reason", "sweep", "sweep_name",
               "reason", "curves", "relaunch_of", "start", "end", "deleted", "artifact_uri", "metric_keys"]
SWEEP_COLUMNS = ["sweep", "sweep_name", "runs", "start", "experiment_id"]


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
        "sweep": tags.get(SWEEP_TAG, ""), "sweep_name": tags.get("ganboard.sweep_name", ""),
        "reason": tags.get("ganboard.end_reason", ""), "curves": tags.get(tracking.CURVES_TAG, ""),
        "relaunch_of": tags.get(RELAUNCH_TAG, ""),
        "start": pd.to_datetime(info.start_time, unit="ms") if info.start_time else pd.NaT,
        "end": pd.to_datetime(info.end_time, unit="ms") if info.end_time else pd.NaT,
        "deleted": info.lifecycle_stage == "deleted", "artifact_uri": info.artifact_uri or "",
        "metric_keys": tuple(sorted(run.data.metrics)),  # what it logged: a NaN below may be a logged NaN
    }
    for key, value in run.data.metrics.items():
        row[f"metrics.{key}"] = _finite(value)
    for key, value in params.items():
        row[f"params.{key}"] = _typed(key, value)
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=RUN_COLUMNS)


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
    """The parts of mlflow.entities.Run that `_run_row` reads, as the SQL path builds them."""

    info: _Info
    data: _Data


def _sql_runs(db: str, run_ids: Sequence[str]) -> list[_Run]:
    """The given runs (deleted ones too) in four queries per ID_CHUNK ids on MLflow's tables (runs, tags, params,
    latest_metrics): the rows MlflowClient.search_runs gives, at a fraction of its cost for hundreds of runs."""
    from sqlalchemy import bindparam, text

    out: list[_Run] = []
    with store.sql_engine(db).connect() as conn:
        for i in range(0, len(run_ids), ID_CHUNK):
            args = {"ids": list(run_ids[i:i + ID_CHUNK])}
            ids = bindparam("ids", expanding=True)
            runs_rows = conn.execute(text(
                "SELECT run_uuid, name, experiment_id, status, start_time, end_time, lifecycle_stage, artifact_uri "
                "FROM runs WHERE run_uuid IN :ids").bindparams(ids), args).fetchall()
            tags, params, metrics = {}, {}, {}
            for table, cols, target in (("tags", "key, value", tags), ("params", "key, value", params),
                                        ("latest_metrics", "key, value, is_nan", metrics)):
                for row in conn.execute(text(f"SELECT run_uuid, {cols} FROM {table} WHERE run_uuid IN :ids")
                                        .bindparams(ids), args):
                    value = (math.nan if row[3] else row[2]) if table == "latest_metrics" else row[2]
                    target.setdefault(row[0], {})[row[1]] = value
            out += [_Run(_Info(r[0], r[1] or "", str(r[2]), r[3], r[4], r[5], r[6], r[7] or ""),
                         _Data(tags.get(r[0], {}), params.get(r[0], {}), metrics.get(r[0], {}))) for r in runs_rows]
    return out


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _client_runs(run_ids: Sequence[str]) -> list:
    """The given runs through the client's search by id, ID_CHUNK ids a request, requests in parallel."""
    chunks = [[r for r in run_ids[i:i + ID_CHUNK] if _is_run_id(r)] for i in range(0, len(run_ids), ID_CHUNK)]

    def one(chunk: list[str]) -> list:
        if not chunk:
            return []
        return list(tracking.search_runs(f"attributes.run_id IN ({_quoted(chunk)})", deleted=True))

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(chunks)))) as pool:
        return [run for part in pool.map(one, chunks) for run in part]


def _is_run_id(value: str) -> bool:
    """An id that can go into a search filter: MLflow's run ids are 32 hex digits; anything else is unknown."""
    return 0 < len(value) <= 64 and all(c in "0123456789abcdefABCDEF-" for c in value)


# ------------------------------------------------------------------------------------------- experiments
@st.cache_data(ttl=10.0, show_spinner=False)
def _experiments_cached(uri: str) -> pd.DataFrame:
    cols = ["experiment_id", "name"]
    try:
        db = store.sql_reads(uri)
        if db:  # no mlflow import: the first page shows up sooner
            from sqlalchemy import text

            with store.sql_engine(db).connect() as conn:
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


def _names(uri: str) -> dict[str, str]:
    exps = _experiments_cached(uri)
    return dict(zip(exps["experiment_id"], exps["name"]))


# -------------------------------------------------------------------------------------------- run pages
def search_filter(filter_string: str = "", statuses: Sequence[str] = (), sweep: str | None = None,
                  relaunch_of: str | None = None) -> str:
    """One MLflow filter from the user's (checked on its own first, so that an error names only what they typed),
    the statuses (the table's words: queued, running, ...) and a sweep id."""
    parts = []
    text = filter_string.strip()
    if text:
        from mlflow.utils.search_utils import SearchUtils

        try:
            SearchUtils.parse_search_filter(text)
        except Exception as exc:  # noqa: BLE001 - MlflowException: a malformed filter
            raise store.StoreError(f"Search filter '{text}': {store.one_line(exc)}") from None
        parts.append(text)
    unknown = [s for s in statuses if s not in STATUS_OF_WORD]
    if unknown:
        raise store.StoreError(f"status: '{unknown[0]}' is not one of {', '.join(STATUS_OF_WORD)}")
    if statuses and set(statuses) != set(STATUS_OF_WORD):
        # MLflow's filters have no OR and take IN lists only for run ids: a set of statuses is written as the
        # statuses it leaves out (the five are all there are)
        parts += [f"attributes.status != '{status}'" for status, word in STATUS_WORDS.items()
                  if word not in statuses]
    for tag, value in ((SWEEP_TAG, sweep), (RELAUNCH_TAG, relaunch_of)):
        if value:
            if "'" in value or "\\" in value:
                raise store.StoreError(f"{tag}: '{value[:40]}' is not a valid id")
            parts.append(f"tags.`{tag}` = '{value}'")
    return " and ".join(parts)


def _search_error(exc: BaseException, what: str, user_filter: str, uri: str) -> store.StoreError:
    """A failed search as one line: one the store rejected names the user's filter (the only part they typed)."""
    if user_filter.strip() and type(exc).__name__ in ("MlflowException", "RestException"):
        what = f"Search filter '{user_filter.strip()}'"
    return store.store_error(exc, what, uri)


@st.cache_data(ttl=store.RUNS_TTL_S, show_spinner=False, max_entries=128)
def _runs_cached(uri: str, experiment_ids: tuple[str, ...] | None, user_filter: str, statuses: tuple[str, ...],
                 sweep: str | None, deleted: bool, order_by: tuple[str, ...], offset: int, limit: int
                 ) -> pd.DataFrame:
    names = _names(uri)
    ids = list(experiment_ids) if experiment_ids else list(names)
    if not ids or limit <= 0:
        return _frame([])
    try:
        store.check_store(uri)
        found = list(tracking.search_runs(search_filter(user_filter, statuses, sweep), experiment_ids=ids,
                                          order_by=order_by or None, deleted=deleted, offset=offset, limit=limit,
                                          page_size=limit))
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _search_error(exc, "Could not list runs", user_filter, uri) from None
    rows = [_run_row(r, names) for r in found]
    _ROWS.put(uri, rows)
    return _frame(rows)


def runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "", deleted: bool = False, *,
         statuses: Sequence[str] = (), sweep: str | None = None, order_by: Sequence[str] = (), offset: int = 0,
         limit: int = PAGE_SIZE) -> pd.DataFrame:
    """One page of runs: at most `limit` (<= MAX_PAGE) from `offset`, newest first unless `order_by` (MLflow's
    syntax, e.g. ["metrics.`metric/fid` ASC"]) says otherwise; one row each: the RUN_COLUMNS, then
    `metrics.<key>` (latest value, NaN when missing or not finite) and `params.<field>` (the config, typed).
    Filter with MLflow's search syntax, e.g. `params.loss = 'hinge' and metrics.\"metric/modes\" >= 6`, and by
    status words and a sweep id; a bad filter raises StoreError naming it."""
    search_filter(filter_string, statuses, sweep)  # a malformed filter or status fails here, naming it
    return _runs_cached(store.store_uri(), tuple(sorted(experiment_ids)) if experiment_ids else None,
                        filter_string.strip(), tuple(sorted(statuses)), sweep or None, deleted, tuple(order_by),
                        max(0, int(offset)), max(0, min(int(limit), MAX_PAGE)))


def active_runs() -> pd.DataFrame:
    """The queued and running runs of every experiment (at most MAX_PAGE), newest first."""
    return runs(statuses=ACTIVE, limit=MAX_PAGE)


@st.cache_data(ttl=COUNT_TTL_S, show_spinner=False, max_entries=128)
def _count_cached(uri: str, experiment_ids: tuple[str, ...] | None, filter_string: str, deleted: bool,
                  statuses: tuple[str, ...], sweep: str | None) -> int:
    ids = list(experiment_ids) if experiment_ids else list(_names(uri))
    if not ids:
        return 0
    try:
        db = store.sql_reads(uri)
        if db and not filter_string:
            return _sql_count(db, ids, deleted, statuses, sweep)
        full = search_filter(filter_string, statuses, sweep)
        store.check_store(uri)
        return _probe_count(lambda k: any(tracking.search_runs(full, experiment_ids=ids, deleted=deleted, offset=k,
                                                               limit=1, page_size=1)))
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _search_error(exc, "Could not count runs", filter_string, uri) from None


def count_runs(experiment_ids: Sequence[str] | None = None, filter_string: str = "", deleted: bool = False, *,
               statuses: Sequence[str] = (), sweep: str | None = None) -> int:
    """How many runs `runs` pages through for the same filter (cached COUNT_TTL_S)."""
    search_filter(filter_string, statuses, sweep)  # a malformed filter or status fails here, naming it
    return _count_cached(store.store_uri(), tuple(sorted(experiment_ids)) if experiment_ids else None,
                         filter_string.strip(), deleted, tuple(sorted(statuses)), sweep or None)


def _sql_count(db: str, experiment_ids: Sequence[str], deleted: bool, statuses: Sequence[str],
               sweep: str | None) -> int:
    from sqlalchemy import bindparam, text

    where = ["r.experiment_id IN :exps", "r.lifecycle_stage IN :stages"]
    args: dict[str, Any] = {"exps": [int(e) for e in experiment_ids],
                            "stages": ["active", "deleted"] if deleted else ["active"]}
    binds = [bindparam("exps", expanding=True), bindparam("stages", expanding=True)]
    if statuses:
        where.append("r.status IN :statuses")
        args["statuses"] = [STATUS_OF_WORD[s] for s in statuses]
        binds.append(bindparam("statuses", expanding=True))
    if sweep:
        where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = :tag "
                     "AND t.value = :sweep)")
        args.update(tag=SWEEP_TAG, sweep=sweep)
    with store.sql_engine(db).connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM runs r WHERE {' AND '.join(where)}").bindparams(*binds),
                                args).scalar())


def _probe_count(exists_at, ways: int = PROBES) -> int:
    """n, from `exists_at(k)` (is there a run at offset k, i.e. k < n), asking `ways` offsets at once: powers of
    two until one is past the end, then `ways` points evenly inside the bracket, round after round. A round costs
    one request's time, so ten thousand runs are counted in about five (log base ways + 1 of n, plus two)."""
    lo, hi, top = -1, None, 1  # exists_at(lo) holds (lo = -1: nothing asked yet); hi: the first offset past the end
    with ThreadPoolExecutor(max_workers=ways) as pool:
        while hi is None:  # the bracket: offsets 0, 1, 2, 4, ... `ways` at a time
            offsets = [0] + [top * 2 ** i for i in range(ways - 1)] if lo < 0 else [top * 2 ** i for i in range(ways)]
            found = dict(zip(offsets, pool.map(exists_at, offsets)))
            lo = max([lo, *(k for k, there in found.items() if there)])
            hi = min((k for k, there in found.items() if not there), default=None)
            top = 2 * max(1, *offsets)
        while hi - lo > 1:
            offsets = sorted({lo + (hi - lo) * (i + 1) // (ways + 1) for i in range(ways)} - {lo, hi})
            found = dict(zip(offsets, pool.map(exists_at, offsets)))
            lo = max([lo, *(k for k, there in found.items() if there)])
            hi = min([hi, *(k for k, there in found.items() if not there)])
    return hi


# ---------------------------------------------------------------------------------------- runs by id
class _RowCache:
    """Run rows by (store, run id) with the time they were read: an ended run's row is reused SETTLED_TTL_S, a
    queued or running one's RUNS_TTL_S. Every read of whole runs (pages, sweeps, by id) fills it."""

    def __init__(self, capacity: int = 12_000):  # ~10 kB a row (its config, tags, metrics): ~120 MB at most
        self.capacity = capacity
        self._rows: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def put(self, uri: str, rows: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            for row in rows:
                self._rows.pop((uri, row["run_id"]), None)  # re-inserted last: the oldest go first when full
                self._rows[(uri, row["run_id"])] = (now, row)
            while len(self._rows) > self.capacity:
                self._rows.pop(next(iter(self._rows)))

    def fresh(self, uri: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        out = {}
        with self._lock:
            for run_id in run_ids:
                got = self._rows.get((uri, run_id))
                if got and now - got[0] < (store.RUNS_TTL_S if got[1]["active"] else store.SETTLED_TTL_S):
                    out[run_id] = got[1]
        return out

    def any_age(self, uri: str, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            got = self._rows.get((uri, run_id))
        return got[1] if got else None

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


_ROWS = _RowCache()


def runs_by_id(run_ids: Sequence[str]) -> pd.DataFrame:
    """The given runs (deleted ones included, in the given order); ids the store does not know are left out."""
    return _frame(rows_by_id(run_ids))


def rows_by_id(run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """runs_by_id's rows as dicts, for callers that read a few fields of a thousand runs (no frame to build)."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return []
    uri = store.store_uri()
    known = _ROWS.fresh(uri, ids)
    missing = [r for r in ids if r not in known]
    if missing:
        try:
            db = store.sql_reads(uri)
            if not db:
                store.check_store(uri)
            found = _sql_runs(db, missing) if db else _client_runs(missing)
        except store.StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise store.store_error(exc, "Could not read runs", uri) from None
        names = _names(uri)
        rows = [_run_row(r, names) for r in found]
        _ROWS.put(uri, rows)
        known.update((row["run_id"], row) for row in rows)
    return [known[r] for r in ids if r in known]


def artifact_location(run_id: str) -> str:
    """Where a run keeps its artifacts (it never changes): from any row read before, else the run's row."""
    got = _ROWS.any_age(store.store_uri(), run_id)
    if got is not None:
        return got["artifact_uri"]
    df = runs_by_id([run_id])
    if df.empty:
        raise store.StoreError(f"Run {run_id} is not in this store ({store.describe_store()}).")
    return df["artifact_uri"].iloc[0]


def sweep_run_ids(sweep: str) -> list[str]:
    """Ids of a sweep's runs (not deleted), newest first: one SQL query where a database is at hand, else the
    store's search by the sweep tag, whose rows are kept for the page that shows them (runs_by_id)."""
    uri = store.store_uri()
    full = search_filter(sweep=sweep)
    try:
        db = store.sql_reads(uri)
        if db:
            from sqlalchemy import text

            with store.sql_engine(db).connect() as conn:
                return [r for (r,) in conn.execute(text(
                    "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE t.key = :tag AND "
                    "t.value = :sweep AND r.lifecycle_stage = 'active' ORDER BY r.start_time DESC, r.run_uuid"),
                    {"tag": SWEEP_TAG, "sweep": sweep})]
        store.check_store(uri)
        names = _names(uri)
        rows = [_run_row(r, names) for r in tracking.search_runs(full)]
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, f"Could not read sweep {sweep}", uri) from None
    _ROWS.put(uri, rows)
    return [row["run_id"] for row in rows]


def refresh() -> None:
    """Forget every cached read of runs: a write (launch, stop, delete, ...) changed them."""
    _runs_cached.clear()
    _count_cached.clear()
    _experiments_cached.clear()
    _sweeps_cached.clear()
    _ROWS.clear()


# --------------------------------------------------------------------------------------------- sweeps
@st.cache_data(ttl=10.0, show_spinner=False)
def _sweeps_cached(uri: str) -> pd.DataFrame:
    try:
        db = store.sql_reads(uri)
        if db:
            from sqlalchemy import text

            with store.sql_engine(db).connect() as conn:
                rows = conn.execute(text(
                    "SELECT t.experiment_id, t.key, t.value FROM experiment_tags t JOIN experiments e "
                    "ON e.experiment_id = t.experiment_id WHERE e.lifecycle_stage = 'active' AND t.key LIKE :prefix"),
                    {"prefix": tracking.SWEEP_INDEX_PREFIX + "%"}).fetchall()
            tags: dict[str, dict[str, str]] = {}
            for exp_id, key, value in rows:
                tags.setdefault(str(exp_id), {})[key] = value
        else:
            from mlflow.entities import ViewType

            tags = {e.experiment_id: e.tags for e in store.client(uri).search_experiments(
                view_type=ViewType.ACTIVE_ONLY)}
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, "Could not list sweeps", uri) from None
    rows = [{"sweep": sweep, "sweep_name": entry["name"], "runs": entry["runs"],
             "start": pd.to_datetime(entry["start"], unit="ms"), "experiment_id": exp_id}
            for exp_id, exp_tags in tags.items() for sweep, entry in tracking.sweep_index(exp_tags).items()]
    if not rows:
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    return pd.DataFrame(rows).sort_values(["start", "sweep"], ascending=[False, True]).reset_index(drop=True)


def sweeps(experiment_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The sweeps launched into the experiments (all when None), newest first, from their sweep indexes: sweep,
    sweep_name, runs (how many were launched into it), start, experiment_id."""
    df = _sweeps_cached(store.store_uri())
    return df[df["experiment_id"].isin(list(experiment_ids))].reset_index(drop=True) if experiment_ids else df


# ------------------------------------------------------------------------------------ frames to views
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
