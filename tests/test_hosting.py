"""Team deployment, proven against real services on this machine (README, "Team deployment").

One tracking server for the whole module, started exactly as the Procfile's `tracking` process starts it (the line
is read from the Procfile and run by /bin/sh, as honcho runs it): MLflow's basic-auth app, on a fresh PostgreSQL
database (created here, dropped at the end), artifacts uploaded and served through the server into a temporary
folder, on a free loopback port. The local launcher's queue runs under the Procfile's `scheduler` process, also
started here. Every other process (training runs, the dashboard under honcho) talks to the server over HTTP with
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, as a team's would.

- a batch of 8 runs submitted with `python -m engine.launch submit` trains at once while a thread reads through the
  dashboard's data layer; afterwards: the runs are in PostgreSQL (read with psycopg2), the data layer reads them
  back, artifacts round-trip through the server, and every logged step of every metric is there, counted;
- the server is killed mid-run and started again: launched runs ride it out and lose nothing, a run with a short
  grace period fails clearly, no process hangs, and the data layer shows a clear error while the server is down
  and recovers by itself;
- bad input at the edges (malformed filters, unknown run ids, oversized values, missing credentials): clear
  one-line messages and nothing written;
- the Procfile's `web` process, under honcho, serves the dashboard on all interfaces.

Skipped (with the reason) only when PostgreSQL cannot be reached at 127.0.0.1:5432.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import free_port, kill_groups, processes_using, procfile, wait_for

from engine import launch, tracking
from engine.config import FIELDS, ConfigError

REPO = Path(__file__).resolve().parent.parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
ADMIN, ADMIN_PASSWORD = "admin", "ganboard-" + secrets.token_hex(8)
SCALARS = ("loss/d", "loss/g", "d/real", "d/fake", "grad/d", "grad/g", "perf/steps_per_s")
TINY = {"steps": 400, "batch_size": 32, "g_width": 16, "d_width": 16, "eval_every": 200, "eval_samples": 200,
        "grid_size": 8, "log_every": 1}
N_LOAD = 8
SERVER_START_S = 300  # a cold start on a loaded 2-core machine has taken 90 s
TIMINGS: dict[str, float] = {}
COUNTS: dict[str, object] = {}

psycopg2 = pytest.importorskip("psycopg2")


def sets(values: dict) -> list[str]:
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


def http_ok(url: str, timeout: float = 3) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def one_line(msg: str, limit: int = 400) -> str:
    assert "\n" not in msg.strip(), f"not one line: {msg[:600]!r}"
    assert len(msg) <= limit, f"{len(msg)} characters: {msg[:300]!r}..."
    return msg


# ------------------------------------------------------------------------------------------- the services
class Deployment:
    """The database, the server process (restartable) and the environment every client process gets."""

    def __init__(self, tmp: Path, db: str):
        self.tmp, self.db = tmp, db
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.artifacts = tmp / "artifacts"
        self.home = tmp / "home"  # the launcher keeps its per-machine lock and logs under ~/.ganboard
        self.home.mkdir()
        self.auth = importlib.util.find_spec("flask_wtf") is not None  # MLflow's basic-auth app needs Flask-WTF
        (tmp / "basic_auth.ini").write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = postgresql+psycopg2://postgres@127.0.0.1:5432/{db}\n"
            f"admin_username = {ADMIN}\nauth_cache_ttl_seconds = 60\n")
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GANBOARD_", "RAY_"))}
        self.server_env = {
            **base, "PATH": path,
            "MLFLOW_BACKEND_STORE_URI": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}",
            "MLFLOW_ARTIFACTS_DESTINATION": str(self.artifacts), "MLFLOW_HOST": "127.0.0.1",
            "MLFLOW_PORT": str(self.port), "MLFLOW_WORKERS": "1",
        }
        if self.auth:
            self.server_env.update({"MLFLOW_APP_NAME": "basic-auth", "MLFLOW_AUTH_CONFIG_PATH": str(tmp / "basic_auth.ini"),
                                    "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                    "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)})
        self.env = {  # what the dashboard, the launcher and the training processes see
            **base, "PATH": path, "PYTHONPATH": str(REPO), "HOME": str(self.home),
            "MLFLOW_TRACKING_URI": self.uri, "GANBOARD_LAUNCHER": "local", "GANBOARD_MAX_PARALLEL": str(N_LOAD),
        }
        if self.auth:
            self.env.update({"MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD})
        self.server: subprocess.Popen | None = None
        self.scheduler: subprocess.Popen | None = None
        self.starts = 0

    # --- the Procfile's processes, run as honcho runs them (/bin/sh -c, own session) ---
    def start_process(self, name: str, env: dict[str, str], log: str) -> subprocess.Popen:
        with open(self.tmp / log, "ab") as fh:
            return subprocess.Popen(["/bin/sh", "-c", procfile()[name]], cwd=REPO, env=env, stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def start_server(self) -> None:
        self.starts += 1
        self.server = self.start_process("tracking", self.server_env, f"server{self.starts}.log")

    def wait_healthy(self, timeout: float = SERVER_START_S) -> float:
        t0 = time.monotonic()

        def up():
            if self.server.poll() is not None:
                raise AssertionError(f"tracking server exited ({self.server.returncode}):\n{self.server_log()}")
            return http_ok(f"{self.uri}/health")

        wait_for(up, timeout, "the tracking server's /health", every=0.3)
        return time.monotonic() - t0

    def server_log(self) -> str:
        return (self.tmp / f"server{self.starts}.log").read_text(errors="replace")[-4000:]

    def kill_server(self) -> None:
        kill_group(self.server)

    def lock_held(self) -> bool:
        import fcntl

        # the launcher keeps one state folder per tracking store: ~/.ganboard/<hash of the URI>/launcher
        path = self.home / ".ganboard" / hashlib.sha1(self.uri.encode()).hexdigest()[:12] / "launcher" / "scheduler.lock"
        if not path.exists():
            return False
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False

    # --- PostgreSQL, read directly ---
    def sql(self, query: str, args: tuple = ()) -> list[tuple]:
        conn = psycopg2.connect(dbname=self.db, connect_timeout=10, **PG)
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def statuses(self, run_ids: list[str]) -> dict[str, str]:
        return dict(self.sql("SELECT run_uuid, status FROM runs WHERE run_uuid = ANY(%s)", (list(run_ids),)))

    def row_counts(self) -> dict[str, int]:
        tables = ("experiments", "runs", "params", "tags", "metrics", "latest_metrics")
        return {t: self.sql(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}

    def metric_steps(self, run_id: str) -> dict[str, tuple[int, int, set[int]]]:
        """key -> (rows, distinct steps, the steps) of one run, straight from PostgreSQL."""
        rows = self.sql("SELECT key, COUNT(*), COUNT(DISTINCT step), array_agg(DISTINCT step) FROM metrics "
                        "WHERE run_uuid = %s GROUP BY key", (run_id,))
        return {k: (n, d, set(steps)) for k, n, d, steps in rows}

    # --- the launcher's CLI, as a user runs it ---
    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "engine.launch", *args], cwd=REPO, env=self.env, text=True,
                              capture_output=True, timeout=timeout)


def expected_steps(key: str, steps: int, eval_every: int) -> set[int]:
    if key in SCALARS:
        return set(range(1, steps + 1))  # log_every=1: every step
    return set(range(0, steps, eval_every)) | {steps}  # metric/* and theory/*: at 0, every eval_every, the end


def assert_complete(dep: Deployment, run_id: str, steps: int, eval_every: int) -> tuple[int, int]:
    """Every logged step of every metric of a finished run is in PostgreSQL; (rows, distinct points)."""
    got = dep.metric_steps(run_id)
    assert set(SCALARS) <= set(got), f"run {run_id}: scalars missing: {set(SCALARS) - set(got)}"
    assert any(k.startswith("metric/") for k in got), f"run {run_id}: no evaluation metrics"
    for key, (_, _, steps_seen) in got.items():
        missing = expected_steps(key, steps, eval_every) - steps_seen
        assert not missing, f"run {run_id}: {key} lost {len(missing)} steps, e.g. {sorted(missing)[:5]}"
        assert steps_seen <= expected_steps(key, steps, eval_every), f"run {run_id}: {key} has stray steps"
    return sum(n for n, _, _ in got.values()), sum(d for _, d, _ in got.values())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({str(exc).strip().splitlines()[0]})")
    admin.autocommit = True
    db = f"ganboard_test_{secrets.token_hex(6)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{db}"')
    dep = Deployment(tmp_path_factory.mktemp("hosting"), db)
    saved = {k: os.environ.get(k) for k in set(dep.env) | {"GANBOARD_READONLY", "GANBOARD_ARTIFACT_ROOT"}}
    try:
        t0 = time.monotonic()
        dep.start_server()
        dep.wait_healthy()
        TIMINGS["server cold start (fresh database, migrations)"] = time.monotonic() - t0
        for key in ("GANBOARD_READONLY", "GANBOARD_ARTIFACT_ROOT"):
            os.environ.pop(key, None)
        os.environ.update(dep.env)  # this process is a client too: the dashboard's data layer, the launcher
        dep.scheduler = dep.start_process("scheduler", dep.env, "scheduler.log")
        wait_for(dep.lock_held, 120, "the Procfile's scheduler to take the launcher's lock")
        yield dep
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for proc in (dep.scheduler, dep.server):
            if proc is not None:
                kill_group(proc)
        kill_groups(processes_using(dep.uri))  # training runs we started
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", (db,))
            cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        if TIMINGS or COUNTS:
            print("\n[hosting] " + "; ".join(f"{k}: {v:.1f} s" for k, v in TIMINGS.items()))
            print("[hosting] " + "; ".join(f"{k}: {v}" for k, v in COUNTS.items()))


@pytest.fixture(scope="module")
def data(deployment):
    import streamlit as st

    from dashboard import data as data_module

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime found": we are not inside `streamlit run`
    st.cache_data.clear()
    return data_module


class Reader(threading.Thread):
    """The dashboard reading while runs write: the run list and live curves, caches cleared every round."""

    def __init__(self, data, run_ids: list[str]):
        super().__init__(daemon=True, name="dashboard-reader")
        self.data, self.run_ids = data, run_ids
        self.stop = threading.Event()
        self.rounds, self.errors, self.slowest = 0, [], 0.0

    def run(self):
        import streamlit as st

        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                st.cache_data.clear()
                df = self.data.runs()
                assert set(self.run_ids) <= set(df["run_id"])
                self.data.curves(self.run_ids, "loss/d", points=200, live=self.run_ids)
                self.data.runs_by_id(self.run_ids[:3])
                self.rounds += 1
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.slowest = max(self.slowest, time.monotonic() - t0)
            self.stop.wait(0.3)


@pytest.fixture(scope="module")
def load_batch(deployment, data):
    """8 runs submitted at once through the launcher's CLI, trained together while the data layer reads."""
    dep = deployment
    t0 = time.monotonic()
    out = dep.cli("submit", *sets(TINY), "--seeds", str(N_LOAD), "--experiment", "hosting-load", "--name", "load8")
    assert out.returncode == 0, out.stderr
    run_ids = out.stdout.split()
    assert len(run_ids) == N_LOAD
    reader = Reader(data, run_ids)
    reader.start()
    most_running = 0

    def done():
        nonlocal most_running
        states = dep.statuses(run_ids)
        most_running = max(most_running, sum(s == "RUNNING" for s in states.values()))
        return all(s in ("FINISHED", "FAILED", "KILLED") for s in states.values()) and len(states) == N_LOAD

    try:
        wait_for(done, 420, f"{N_LOAD} runs to finish", every=0.5)
    finally:
        reader.stop.set()
        reader.join(timeout=60)
    TIMINGS[f"{N_LOAD} runs x {TINY['steps']} steps, submit to all finished"] = time.monotonic() - t0
    return {"run_ids": run_ids, "reader": reader, "most_running": most_running}


# ------------------------------------------------------------------------------------------- the Procfile
def test_procfile_names_the_processes_a_team_deployment_needs():
    procs = procfile()
    assert set(procs) == {"web", "tracking", "scheduler"}
    web = procs["web"]
    assert "streamlit run dashboard/app.py" in web and '--server.port "${PORT' in web
    assert "--server.address 0.0.0.0" in web and "--server.headless true" in web
    tracking_cmd = procs["tracking"]
    for flag in ("mlflow server", '--backend-store-uri "${MLFLOW_BACKEND_STORE_URI', "--serve-artifacts",
                 '--artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION', '--host "${MLFLOW_HOST',
                 '--port "${MLFLOW_PORT'):
        assert flag in tracking_cmd
    assert "scheduler_loop" in procs["scheduler"]
    out = subprocess.run([sys.executable, "-m", "honcho", "check"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "Valid procfile" in out.stdout + out.stderr, out.stderr


READS = ("MLFLOW_TRACKING_URI", "GANBOARD_READ_DATABASE_URI", "GANBOARD_READ_ARTIFACTS_DIR")


@pytest.mark.parametrize("given, expected", [
    ({}, ("http://127.0.0.1:5001", "sqlite:///runs/server.db", "runs/server-artifacts")),  # the try-out
    ({"MLFLOW_PORT": "6000", "MLFLOW_BACKEND_STORE_URI": "postgresql+psycopg2://db/g",
      "MLFLOW_ARTIFACTS_DESTINATION": "/srv/art"}, ("http://127.0.0.1:6000", "postgresql+psycopg2://db/g", "/srv/art")),
    ({"MLFLOW_ARTIFACTS_DESTINATION": "s3://bucket/p"}, ("http://127.0.0.1:5001", "sqlite:///runs/server.db", None)),
    ({"GANBOARD_READ_DATABASE_URI": "", "GANBOARD_READ_ARTIFACTS_DIR": ""}, ("http://127.0.0.1:5001", "", "")),
    ({"MLFLOW_TRACKING_URI": "http://elsewhere:5001", "MLFLOW_BACKEND_STORE_URI": "postgresql+psycopg2://db/g"},
     ("http://elsewhere:5001", None, None)),
])
def test_the_web_process_reads_the_tracking_process_store_directly_only_beside_it(given, expected):
    """The Procfile's web line: with no MLFLOW_TRACKING_URI it talks to the tracking process of the same Procfile
    and reads that process's database and (local) artifact folder directly; set, or emptied, it leaves them."""
    line = procfile()["web"]
    shown = line[:line.index("exec streamlit")] + "env"  # everything the line sets, then what the app would see
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GANBOARD_"))}
    out = subprocess.run(["/bin/sh", "-c", shown], cwd=REPO, env={**base, **given}, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    env = dict(ln.split("=", 1) for ln in out.stdout.splitlines() if "=" in ln)
    assert tuple(env.get(k) for k in READS) == expected


# ------------------------------------------------------------------------------------------- the server
def test_tracking_server_keeps_runs_in_postgresql_and_serves_artifacts(deployment):
    dep = deployment
    tables = {t for (t,) in dep.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"experiments", "runs", "metrics", "params", "tags", "alembic_version"} <= tables
    exp = tracking.client().get_experiment(tracking.experiment_id("hosting-probe"))
    assert exp.artifact_location.startswith("mlflow-artifacts:"), exp.artifact_location  # served by the server
    (db_location,) = dep.sql("SELECT artifact_location FROM experiments WHERE name = 'hosting-probe'")[0]
    assert db_location == exp.artifact_location
    if dep.auth:  # MLflow's basic-auth app: users live in the same database
        assert {"users", "experiment_permissions"} <= tables


# ------------------------------------------------------------------------------------------- the load batch
def test_launched_runs_land_in_postgresql(deployment, load_batch):
    dep, run_ids = deployment, load_batch["run_ids"]
    rows = dep.sql("SELECT r.run_uuid, r.status, e.name FROM runs r JOIN experiments e USING (experiment_id) "
                   "WHERE r.run_uuid = ANY(%s)", (run_ids,))
    assert {r[0] for r in rows} == set(run_ids)
    assert {r[1] for r in rows} == {"FINISHED"}, rows
    assert {r[2] for r in rows} == {"hosting-load"}
    params = dep.sql("SELECT run_uuid, COUNT(*) FROM params WHERE run_uuid = ANY(%s) GROUP BY run_uuid", (run_ids,))
    assert {n for _, n in params} == {len(FIELDS)}  # the whole config of every run
    seeds = dep.sql("SELECT value FROM params WHERE key = 'seed' AND run_uuid = ANY(%s)", (run_ids,))
    assert sorted(int(s) for (s,) in seeds) == list(range(N_LOAD))
    tags = dep.sql("SELECT DISTINCT value FROM tags WHERE key = %s AND run_uuid = ANY(%s)",
                   (launch.BACKEND_TAG, run_ids))
    assert tags == [("local",)]
    # They trained at the same time: all 8 were RUNNING together at some point.
    assert load_batch["most_running"] == N_LOAD
    COUNTS["runs RUNNING at once"] = load_batch["most_running"]
    # The launcher reads them back from the server.
    assert [s.status for s in launch.get_launcher().status(run_ids)] == ["finished"] * N_LOAD


def test_dashboard_data_layer_reads_the_runs_back(deployment, load_batch, data):
    import streamlit as st

    run_ids = load_batch["run_ids"]
    st.cache_data.clear()
    df = data.runs(filter_string="params.batch_size = '32'")
    got = df[df["run_id"].isin(run_ids)]
    assert len(got) == N_LOAD
    assert set(got["status"]) == {"finished"} and set(got["experiment"]) == {"hosting-load"}
    assert set(got["progress"]) == {1.0} and sorted(got["seed"]) == list(range(N_LOAD))
    assert (got["metrics.loss/d"].notna()).all()
    assert data.runs_by_id(run_ids[::-1])["run_id"].tolist() == run_ids[::-1]
    curves = data.curves(run_ids, "loss/d", points=50)
    assert set(curves) == set(run_ids)
    # the finished runs' curves came from their summaries, read through the server's artifact proxy
    where = data.summarised_runs(data.runs_by_id(run_ids))
    assert set(where) == set(run_ids) and all(a.startswith("mlflow-artifacts:") for a, _ in where.values())
    summary = data.curve_reads._summary_cached(data.store_uri(), run_ids[0], *where[run_ids[0]], "loss/d")
    assert summary.last_step == TINY["steps"]
    width = data.grid_width(TINY["steps"], 50)  # at most 50 buckets of a power-of-two width over steps 0..400
    assert width == 16
    for curve in curves.values():
        assert len(curve.step) == TINY["steps"] // width + 1 and np.isfinite(curve.mean).all()
        assert curve.step[0] < 10 and curve.step[-1] > TINY["steps"] - 10


def _fresh(data) -> None:
    """Forget every read the data layer keeps, and which read database it checked."""
    import streamlit as st

    st.cache_data.clear()
    data.runs_table.refresh()
    data.curve_reads._summary_cached.cache_clear()
    data.store._read_db_checked.clear()


def test_a_dashboard_on_the_servers_machine_reads_its_database_and_folder_with_the_same_answers(
        deployment, load_batch, data, monkeypatch):
    """GANBOARD_READ_DATABASE_URI and GANBOARD_READ_ARTIFACTS_DIR (the Procfile's web process beside the tracking
    process): the runs, counts, sweeps, curves and files the pages get equal what the server's REST API gives."""
    dep, run_ids = deployment, load_batch["run_ids"]
    monkeypatch.delenv("GANBOARD_READ_DATABASE_URI", raising=False)
    monkeypatch.delenv("GANBOARD_READ_ARTIFACTS_DIR", raising=False)

    def answers():
        _fresh(data)
        sweep = data.runs_by_id(run_ids)["sweep"].iloc[0]
        where = data.runs_by_id(run_ids)["artifact_uri"].iloc[0]
        return {"rows": data.runs_by_id(run_ids[::-1]), "sweep": data.sweep_run_ids(sweep),
                "counted": (data.count_runs(), data.count_runs(statuses=["finished"]), data.count_runs(sweep=sweep),
                            data.count_runs(filter_string="params.batch_size = '32'")),
                "page": data.runs(filter_string="params.batch_size = '32'", order_by=["metrics.`loss/d` ASC"],
                                  limit=5)["run_id"].tolist(),
                "curves": data.curves(run_ids, "loss/d", points=50),
                "file": data.artifacts.read_run_artifact(where, "samples/step_0000400.npz")}

    rest = answers()
    assert data.store.sql_reads(data.store_uri()) is None  # nothing but the server, so far
    monkeypatch.setenv("GANBOARD_READ_DATABASE_URI", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{dep.db}")
    monkeypatch.setenv("GANBOARD_READ_ARTIFACTS_DIR", str(dep.artifacts))
    direct = answers()
    assert data.store.sql_reads(data.store_uri()).endswith(dep.db)
    rows = [df.drop(columns=["metric_keys"]).set_index("run_id") for df in (rest["rows"], direct["rows"])]
    pd.testing.assert_frame_equal(rows[0][sorted(rows[0].columns)], rows[1][sorted(rows[1].columns)])
    assert rest["rows"]["run_id"].tolist() == direct["rows"]["run_id"].tolist() == run_ids[::-1]
    assert sorted(rest["sweep"]) == sorted(direct["sweep"]) == sorted(run_ids)
    assert rest["counted"] == direct["counted"]  # probing the server's paging, and one SQL count or SQL probes
    assert rest["counted"][2] == rest["counted"][3] == N_LOAD and rest["counted"][1] >= N_LOAD
    assert rest["page"] == direct["page"] and len(rest["page"]) == 5  # MLflow's search, through REST and in SQL
    for run_id in run_ids:
        for a, b in zip(rest["curves"][run_id], direct["curves"][run_id]):
            np.testing.assert_array_equal(a, b)
    assert rest["file"] == direct["file"] and len(rest["file"]) > 1000


def test_a_read_database_or_folder_of_somewhere_else_is_refused_in_one_line(deployment, data, tmp_path,
                                                                           monkeypatch):
    """A read database that is not the server's (another store's experiments) and a read folder that does not
    exist are one-line errors naming the variable, never another store's runs."""
    other = f"sqlite:///{tmp_path / 'other.db'}"
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=other).create_experiment("someone else's")
    monkeypatch.setenv("GANBOARD_READ_DATABASE_URI", other)
    _fresh(data)
    with pytest.raises(data.StoreError) as err:
        data.experiments()
    assert "GANBOARD_READ_DATABASE_URI" in one_line(str(err.value)) and "not the database" in str(err.value)
    monkeypatch.delenv("GANBOARD_READ_DATABASE_URI")
    monkeypatch.setenv("GANBOARD_READ_ARTIFACTS_DIR", str(tmp_path / "no such folder"))
    _fresh(data)
    with pytest.raises(data.StoreError) as err:
        data.artifacts.read_run_artifact("mlflow-artifacts:/1/abc/artifacts", "config.json")
    assert "GANBOARD_READ_ARTIFACTS_DIR" in one_line(str(err.value))
    monkeypatch.delenv("GANBOARD_READ_ARTIFACTS_DIR")
    _fresh(data)


def test_artifacts_round_trip_through_the_server(deployment, load_batch):
    dep, run_id = deployment, load_batch["run_ids"][0]
    # What the run uploaded is on the server's side, under the artifacts destination ...
    (exp_id,) = dep.sql("SELECT experiment_id FROM runs WHERE run_uuid = %s", (run_id,))[0]
    on_server = dep.artifacts / str(exp_id) / run_id / "artifacts"
    for name in ("config.json", "samples/step_0000400.npz", "field/step_0000400.npz", "checkpoints/final.pt",
                 "logs/output.txt"):
        assert wait_for(lambda: (on_server / name).is_file(), 60, f"{name} on the server"), name
    # ... and comes back through it, byte for byte.
    step, x, cfg = tracking.load_run_snapshot(run_id)
    assert step == TINY["steps"] and x.shape == (TINY["eval_samples"], 2) and cfg["seed"] in range(N_LOAD)
    with np.load(on_server / "samples/step_0000400.npz") as npz:
        assert np.array_equal(npz["x"], x)
    assert tracking.load_checkpoint(run_id, "final")["step"] == TINY["steps"]
    payload = "round trip " + secrets.token_hex(32)
    tracking.log_text(run_id, "notes/roundtrip.txt", payload)
    assert (on_server / "notes/roundtrip.txt").read_text() == payload
    assert Path(tracking.download(run_id, "notes/roundtrip.txt")).read_text() == payload
    assert "finished at step 400" in launch.get_launcher().logs(run_id)


def test_load_nothing_lost_and_the_readers_saw_no_error(deployment, load_batch):
    dep, run_ids, reader = deployment, load_batch["run_ids"], load_batch["reader"]
    rows = points = 0
    for run_id in run_ids:
        n, d = assert_complete(dep, run_id, TINY["steps"], TINY["eval_every"])
        rows, points = rows + n, points + d
    assert rows == points, f"{rows - points} duplicated metric rows"
    # The same counts over HTTP, as the dashboard reads them.
    c = tracking.client()
    assert all(len(c.get_metric_history(r, "loss/d")) == TINY["steps"] for r in run_ids)
    assert reader.errors == [], reader.errors[:3]
    assert reader.rounds >= 3
    COUNTS["load: metric points in PostgreSQL (8 runs)"] = points
    COUNTS["load: points per run"] = points // N_LOAD
    COUNTS["load: data-layer read rounds during training"] = reader.rounds
    COUNTS["load: slowest read round"] = f"{reader.slowest:.1f} s"


# ------------------------------------------------------------------------------------------- faults
@pytest.mark.timeout(600)
def test_server_restart_mid_run(deployment, data):
    """Kill the server (SIGKILL) while runs train, start it again: launched runs ride it out with nothing lost;
    a run whose grace period is shorter than the outage fails clearly and exits; the data layer shows a clear
    error while the server is down and reads again once it is back, by itself."""
    import streamlit as st

    dep = deployment
    steps, eval_every = 1500, 500
    cfg = {**TINY, "steps": steps, "eval_every": eval_every}
    out = dep.cli("submit", *sets(cfg), "--seeds", "2", "--experiment", "hosting-fault", "--name", "restart")
    assert out.returncode == 0, out.stderr
    ride = out.stdout.split()
    # A run of its own with a 5-second grace: it must give up, say why, and exit.
    short = subprocess.Popen([sys.executable, "-m", "engine.train", *sets({**TINY, "steps": 10**6}),
                              "--experiment", "hosting-fault", "--run-name", "short-grace"], cwd=REPO,
                             env={**dep.env, "GANBOARD_STORE_GRACE_S": "5"}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        def stepping():
            rows = dep.sql("SELECT r.run_uuid, t.value FROM runs r JOIN tags t USING (run_uuid) JOIN experiments e "
                           "USING (experiment_id) WHERE e.name = 'hosting-fault' AND t.key = 'ganboard.step'")
            moving = {r for r, v in rows if int(v) >= 50}
            return set(ride) <= moving and len(moving) == 3

        wait_for(stepping, 240, "the three runs to train past step 50")
        assert set(dep.statuses(ride).values()) == {"RUNNING"}

        t_kill = time.monotonic()
        dep.kill_server()
        # The dashboard while the server is down: a clear error, fast. (Its health probe is trusted for 10 s after a
        # success; the first read comes after that, as the next page refresh would.)
        time.sleep(11)
        banners, slowest = [], 0.0
        recovered_at = None
        st.cache_data.clear()
        t0 = time.monotonic()
        with pytest.raises(data.StoreError) as err:
            data.runs()
        banners.append(str(err.value))
        slowest = time.monotonic() - t0
        dep.start_server()  # the same command on the same port; the port stays closed until it is ready
        while time.monotonic() - t_kill < SERVER_START_S + 30:
            st.cache_data.clear()
            t0 = time.monotonic()
            try:
                df = data.runs()
            except data.StoreError as exc:
                banners.append(str(exc))
            else:
                recovered_at = time.monotonic()
                assert set(ride) <= set(df["run_id"])
                break
            finally:
                slowest = max(slowest, time.monotonic() - t0)
            time.sleep(1)
        assert recovered_at is not None, f"the dashboard did not recover: {banners[-1]}\n{dep.server_log()}"
        for msg in set(banners):
            one_line(msg)
            assert "not reachable" in msg and dep.uri.split("//")[1] in msg, msg
        assert slowest < 10, f"a read took {slowest:.1f} s while the server was down"
        outage = recovered_at - t_kill
        TIMINGS["server down (kill to the dashboard reading again)"] = outage
        COUNTS["fault: dashboard banners while down"] = len(banners)

        # The short-grace run gave up on its own, said why, and exited.
        output, _ = short.communicate(timeout=120)
        assert short.returncode not in (0, None)
        assert "tracking store: no answer for" in output, output[-2000:]
        assert "StoreUnreachable" in output or "FAILED" in output or "failed at step" in output

        # The launched runs rode it out: finished, every step there.
        wait_for(lambda: set(dep.statuses(ride).values()) == {"FINISHED"}, 300,
                 "the launched runs to finish after the restart", every=1)
        TIMINGS["fault test, kill to both runs finished"] = time.monotonic() - t_kill
        points = 0
        for run_id in ride:
            n, d = assert_complete(dep, run_id, steps, eval_every)
            assert n == d
            points += d
            tags = dict(dep.sql("SELECT key, value FROM tags WHERE run_uuid = %s", (run_id,)))
            assert "ganboard.end_reason" not in tags, tags.get("ganboard.end_reason")
        COUNTS["fault: metric points of the 2 runs that rode out the restart"] = points
    finally:
        if short.poll() is None:
            os.killpg(short.pid, signal.SIGKILL)
            short.wait()


# ------------------------------------------------------------------------------------------- bad input
def test_malformed_search_filters_give_one_line_and_write_nothing(deployment, data):
    import streamlit as st

    before = deployment.row_counts()
    for bad in ("params.loss = ", "metrics.x >> 3", "nonsense", "params.loss = 'ns' OR 1=1; DROP TABLE runs; --",
                "tags.`ganboard.sweep` IN ('a'"):
        st.cache_data.clear()
        with pytest.raises(data.StoreError) as err:
            data.runs(filter_string=bad)
        msg = one_line(str(err.value))
        assert "filter" in msg.lower() or "INVALID_PARAMETER_VALUE" in msg, msg
    assert deployment.row_counts() == before


def test_unknown_run_ids_give_clear_messages_and_write_nothing(deployment, data, load_batch):
    dep = deployment
    known = load_batch["run_ids"][0]
    before = dep.row_counts()
    unknown = "0" * 32
    # As the pages get them from a link (?runs=...) or a form: unknown ids are left out, not an error.
    assert data.runs_by_id([unknown, known, "not-an-id"])["run_id"].tolist() == [known]
    try:  # a curve of a run the store does not know: nothing to draw, or one clear line
        assert data.curves([unknown], "loss/d") == {}
    except data.StoreError as exc:
        one_line(str(exc))
    with pytest.raises(data.StoreError) as err:
        data.stop([unknown])
    assert unknown in one_line(str(err.value))
    out = dep.cli("status", unknown)
    assert out.returncode == 2 and out.stdout == ""
    assert unknown in one_line(out.stderr.strip()) and out.stderr.startswith("error: ")
    assert dep.row_counts() == before


HUGE = "x" * 100_000
OVERSIZED = {  # what goes in -> the field the one-line message must start with
    "config text value": (lambda data: launch.get_launcher().submit(None, {"dataset": HUGE}, seeds=1), "dataset:"),
    "config number": (lambda data: launch.get_launcher().submit(None, {"steps": 10**30}, seeds=1), "steps:"),
    "launch form value": (lambda data: data.launch(None, {"g_width": 10**9}, None, [0]), "g_width:"),
    # The store's own limits (a tag value holds 8000 characters, an experiment name 500): refused by the launcher
    # before anything is created, not by the database halfway through.
    "sweep name": (lambda data: launch.get_launcher().submit(None, {"steps": 10}, seeds=1, sweep_name=HUGE), ""),
    "experiment name": (lambda data: launch.get_launcher().submit(None, {"steps": 10}, seeds=1, experiment=HUGE), ""),
}


@pytest.mark.parametrize("case", list(OVERSIZED))
def test_oversized_values_are_rejected_cleanly_and_write_nothing(deployment, data, case):
    dep = deployment
    attempt, field = OVERSIZED[case]
    before = dep.row_counts()
    with pytest.raises((ConfigError, launch.LaunchError)) as err:
        attempt(data)
    assert one_line(str(err.value)).startswith(field)
    assert dep.row_counts() == before


def test_missing_or_wrong_credentials_give_a_clear_message_and_write_nothing(deployment, data, monkeypatch):
    dep = deployment
    if not dep.auth:
        pytest.fail("MLflow's basic-auth app needs Flask-WTF (pip install 'mlflow[auth]'): it is not installed")
    import streamlit as st

    before = dep.row_counts()
    for password in (None, "wrong"):
        if password is None:
            monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
            monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        else:
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        st.cache_data.clear()
        with pytest.raises(data.StoreError) as err:
            data.runs()
        msg = one_line(str(err.value), limit=600)
        assert "401" in msg or "authenticat" in msg.lower(), msg
    # The launcher's CLI without credentials: exit 2, one line, no run.
    env = {k: v for k, v in dep.env.items() if k not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    out = subprocess.run([sys.executable, "-m", "engine.launch", "submit", *sets(TINY)], cwd=REPO, env=env,
                         text=True, capture_output=True, timeout=120)
    assert out.returncode == 2 and out.stdout == "", out
    assert "401" in one_line(out.stderr.strip(), limit=600)
    assert dep.row_counts() == before


# ------------------------------------------------------------------------------------------- the web process
@pytest.mark.timeout(300)
def test_web_process_under_honcho_serves_the_dashboard_on_all_interfaces(deployment):
    dep = deployment
    port = free_port()
    env = {**dep.env, "PORT": str(port)}
    t0 = time.monotonic()
    with open(dep.tmp / "honcho.log", "wb") as log:
        honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "web"], cwd=REPO, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/_stcore/health") or honcho.poll() is not None, 180,
                 "the dashboard's health endpoint", every=0.5)
        assert honcho.poll() is None, (dep.tmp / "honcho.log").read_text()
        TIMINGS["honcho start web, to healthy"] = time.monotonic() - t0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.status == 200 and b"<html" in resp.read(4096).lower()
        # Bound to all interfaces (0.0.0.0 or ::), as a hosted dashboard must be.
        listening = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, hexport = local.split(":")
                if state == "0A" and int(hexport, 16) == port:
                    listening.add(addr)
        assert listening & {"00000000", "00000000000000000000000000000000"}, listening
    finally:
        kill_group(honcho, signal.SIGTERM)  # honcho stops web, as Ctrl-C would
    wait_for(lambda: not http_ok(f"http://127.0.0.1:{port}/_stcore/health", timeout=1), 30, "the dashboard to stop")
