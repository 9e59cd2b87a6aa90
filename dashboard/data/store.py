"""Where the dashboard's data comes from: the store URI, its client and SQL engine, and how failures read.

The store is `engine.tracking.tracking_uri()` (MLFLOW_TRACKING_URI, else the embedded `runs/` store), read at every
call; cached functions take the URI as their first argument, so caches never mix two stores. Every failure of the
store reaches the pages as a `StoreError` whose message is one line (a tracking server that is down, a bad search
filter, a locked database). A tracking server is probed before its client is used (`check_store`, at most every
10 s while it answers), so a dashboard that lost its server says so in seconds instead of sitting in MLflow's
minutes of HTTP retries.

Reads of many runs at once go to SQL where a database is at hand (`sql_reads`): the store itself when it is one,
or, for a tracking server, its backend database when GANBOARD_READ_DATABASE_URI names it (a read-only role is
enough); and a server's artifacts are read from its folder when GANBOARD_READ_ARTIFACTS_DIR names it (a
dashboard on the server's machine). Writes always go through the store's client.
"""

from __future__ import annotations

import os
import threading
import time
from functools import lru_cache
from pathlib import Path

import streamlit as st

from dashboard import auth
from engine import tracking

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
READ_DATABASE_ENV = "GANBOARD_READ_DATABASE_URI"
READ_ARTIFACTS_ENV = "GANBOARD_READ_ARTIFACTS_DIR"
# How long cached reads live: run lists and latest values RUNS_TTL_S, so live runs refresh; curves of queued or
# running runs LIVE_TTL_S; what cannot change any more (finished runs' curves and snapshot lists) FINAL_TTL_S;
# artifact listings ARTIFACT_TTL_S, because a running run keeps adding files.
RUNS_TTL_S = 3.0
SETTLED_TTL_S = 60.0  # the row of a run that has ended (status, tags, latest metrics): changes only by relabelling
LIVE_TTL_S = 3.0
FINAL_TTL_S = 3600.0
ARTIFACT_TTL_S = 15.0


class StoreError(RuntimeError):
    """The tracking store could not answer; the message is one line for the page."""


class ReadOnlyError(StoreError):
    """A write was asked by someone who may only view (GANBOARD_READONLY=1, or a signed-in viewer)."""


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
    msg = tracking.hide_passwords(str(getattr(exc, "message", None) or exc))
    first = next((ln.strip() for ln in str(msg).splitlines() if ln.strip()), "")
    text = first if first and type(exc).__name__ in ("MlflowException", "RestException") else \
        f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


def store_error(exc: BaseException, what: str, uri: str) -> StoreError:
    """Any failure of a store call as a StoreError: "what: <one line>", or that the server is not reachable."""
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
    # A dashboard shows a banner when the server is away; it must not sit in MLflow's minutes of HTTP retries.
    tracking.fail_fast_http()
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


def client(uri: str):
    """An MlflowClient of the store, after the server probe."""
    from mlflow import MlflowClient

    check_store(uri)
    return MlflowClient(tracking_uri=uri)


@st.cache_resource(show_spinner=False)
def sql_engine(uri: str):
    """One SQLAlchemy engine per SQL store, for the reads that go straight to MLflow's tables."""
    from sqlalchemy import create_engine

    if uri.startswith("sqlite:"):
        return create_engine(uri, connect_args={"check_same_thread": False, "timeout": 30})
    return create_engine(uri, pool_pre_ping=True)


_sql_ready: dict[str, bool] = {}


def sql_schema_ready(uri: str) -> bool:
    """Whether MLflow has created its tables in this database; if not, the client path creates them."""
    if _sql_ready.get(uri):
        return True
    from sqlalchemy import inspect

    try:
        ready = {"runs", "experiments", "latest_metrics"} <= set(inspect(sql_engine(uri)).get_table_names())
    except Exception:  # noqa: BLE001 - let the client path report what is wrong with the database
        return False
    _sql_ready[uri] = ready
    return ready


def read_database() -> str:
    """GANBOARD_READ_DATABASE_URI: the tracking server's own database, which the dashboard may read directly."""
    return os.environ.get(READ_DATABASE_ENV, "").strip()


def read_artifacts_dir() -> Path | None:
    """GANBOARD_READ_ARTIFACTS_DIR: the folder a tracking server on this machine serves its artifacts from (its
    MLFLOW_ARTIFACTS_DESTINATION), read directly instead of one HTTP request a file; None when unset. A folder
    that does not exist is a StoreError naming the variable."""
    value = os.environ.get(READ_ARTIFACTS_ENV, "").strip()
    return _artifacts_folder(value) if value else None


@lru_cache(maxsize=8)
def _artifacts_folder(value: str) -> Path:
    folder = Path(value[len("file://"):] if value.startswith("file://") else value).resolve()
    if not folder.is_dir():
        raise StoreError(f"{READ_ARTIFACTS_ENV}: {value} is not a folder on this machine; unset it or point it at "
                         f"the tracking server's MLFLOW_ARTIFACTS_DESTINATION.")
    return folder


_read_db_checked: dict[tuple[str, str], str] = {}


def sql_reads(uri: str) -> str | None:
    """The database to read MLflow's tables from with SQL, where there is one: the store itself when it is a
    database, GANBOARD_READ_DATABASE_URI for a tracking server, else None (everything through the client).

    Pages that show many runs at once (Compare with a thousand) read their rows and curves with a few SQL
    queries; through the server's REST API the same rows cost seconds. The read database is checked once against
    the server (the same experiments, by id and name) so a mistyped URI cannot show another store's runs; a
    mismatch is a StoreError naming the variable."""
    if is_sql(uri):
        return uri if sql_schema_ready(uri) else None
    db = read_database()
    if not db:
        return None
    key = (uri, db)
    if key not in _read_db_checked:  # only a verdict is kept: a server or database that is away is asked again
        _read_db_checked[key] = _check_read_database(uri, db)
    if _read_db_checked[key]:
        raise StoreError(_read_db_checked[key])
    return db


def _check_read_database(uri: str, db: str) -> str:
    """'' when `db` holds the experiments the server `uri` serves, else the one-line reason it cannot be used;
    a StoreError when either cannot answer now."""
    from mlflow.entities import ViewType
    from sqlalchemy import text

    shown = describe_store(db)
    try:
        with sql_engine(db).connect() as conn:
            mine = {(str(e), n) for e, n in conn.execute(text("SELECT experiment_id, name FROM experiments"))}
    except Exception as exc:  # noqa: BLE001 - unreachable, wrong credentials, not MLflow's schema
        raise StoreError(f"{READ_DATABASE_ENV} ({shown}) cannot be read: {one_line(exc)}") from None
    try:
        served = {(e.experiment_id, e.name) for e in client(uri).search_experiments(view_type=ViewType.ALL,
                                                                                      max_results=50_000)}
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise store_error(exc, "Could not list experiments", uri) from None
    if served != mine:
        return (f"{READ_DATABASE_ENV} ({shown}) is not the database of the tracking server {describe_store(uri)}: "
                f"their experiments differ; unset it or point it at the server's backend store.")
    return ""
