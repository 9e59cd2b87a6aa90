"""Where the dashboard's data comes from: the store URI, its client and SQL engine, and how failures read.

The store is `engine.tracking.tracking_uri()` (MLFLOW_TRACKING_URI, else the embedded `runs/` store), read at every
call; cached functions take the URI as their first argument, so caches never mix two stores. Every failure of the
store reaches the pages as a `StoreError` whose message is one line (a tracking server that is down, a bad search
filter, a locked database). A tracking server is probed before its client is used (`check_store`, at most every
10 s while it answers), so a dashboard that lost its server says so in seconds instead of sitting in MLflow's
minutes of HTTP retries.
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from dashboard import auth
from engine import tracking

SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# How long cached reads live: run lists and latest values RUNS_TTL_S, so live runs refresh; curves of queued or
# running runs LIVE_TTL_S; what cannot change any more (finished runs' curves and snapshot lists) FINAL_TTL_S;
# artifact listings ARTIFACT_TTL_S, because a running run keeps adding files.
RUNS_TTL_S = 3.0
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
    msg = getattr(exc, "message", None) or str(exc)
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
    # A dashboard shows a banner when the server is away; it must not sit in MLflow's minutes of HTTP retries.
    tracking.fail_fast_http()
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
