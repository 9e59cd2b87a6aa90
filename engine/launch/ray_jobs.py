"""The Ray backend of the launcher: each run is one Ray job (Ray Jobs API) running `PYTHON -m engine.train --run-id ID`.

    GANBOARD_LAUNCHER=ray RAY_ADDRESS=http://head:8265 python -m engine.launch submit --preset ns --seeds 4

RAY_ADDRESS names the cluster: best the dashboard's HTTP address (http://head:8265); a GCS address (head:6379) or a
Ray Client address (ray://head:10001) also work. As everywhere in Ray, RAY_API_SERVER_ADDRESS wins when it is set.

What a job gets:
- the project directory as its working_dir (uploaded once per content, shared by the jobs of a sweep), minus the run
  store, git data, caches and build outputs (EXCLUDES; Ray also honours .gitignore). The nodes must already have the
  project's Python dependencies: nothing is pip-installed per job.
- its interpreter (the PYTHON above): Ray runs the entry point with /bin/sh on the node, under the PATH that
  `ray start` had there, and names no Python of its own to it, so a bare `python` is whichever comes first on that
  PATH (the system one when the node's venv is not activated). GANBOARD_RAY_PYTHON, read at submit time, names it:
  an absolute path or a command name on the nodes' PATH. By default it is the submitter's own interpreter
  (sys.executable), which is right when the nodes have the submitter's image or venv layout.
- env_vars: MLFLOW_TRACKING_URI (made absolute, any password in it left out), MLFLOW_TRACKING_INSECURE_TLS and
  MLFLOW_TRACKING_SERVER_CERT_PATH when set, the submitter's GANBOARD_* variables but the dashboard's own
  (DASHBOARD_ONLY_ENV, one of which names a database with its password), PYTHONUNBUFFERED, and
  RAY_JOB_STOP_WAIT_TIME_S (STOP_GRACE_S) so a stopped run has time to checkpoint and end KILLED before Ray's
  SIGKILL. Whoever can read the cluster's dashboard sees these, so they carry no credentials: a job's training
  process signs in with the node's own, which MLflow reads from `~/.mlflow/credentials` (mlflow_tracking_username
  and mlflow_tracking_password, under [mlflow]) or from the environment `ray start` had on the node (also the way
  to give MLFLOW_TRACKING_TOKEN); a database store's password comes from the node's `~/.pgpass`. README, "Team
  deployment", says how to set them up.
- resources: device=cuda asks for 1 GPU. device=cpu asks for 1 CPU. device=auto asks for 1 CPU and is pinned to the
  CPU (CUDA_VISIBLE_DEVICES empty), unless GANBOARD_RAY_GPU=1 at submit time, which makes auto runs ask for 1 GPU
  like cuda runs: a run never uses a GPU that Ray did not give it, so Ray's accounting stays true.

The store must be reachable from every node: a tracking server or a shared database. An embedded SQLite file (or a
file store) is refused unless GANBOARD_SHARED_STORE=1 says it lies on a path every node shares (or the cluster is
this machine).

States: a run stays SCHEDULED ("queued") in MLflow while its job waits; the engine flips it to RUNNING when it
starts. Whoever asks for a run's state next also settles what Ray knows and MLflow does not:
- a queued run whose job waits says why (`pending: asks for 1 GPU, the cluster has 0`, `pending: waiting for a free
  CPU`).
- Ray fails a job that waits longer than RAY_JOB_START_TIMEOUT_SECONDS (set on the head node, 900 s by default). A
  queued run whose job timed out that way is submitted again (a new job, tag ganboard.ray_attempt) when the cluster
  has the resources it asks for, else it is failed with the reason. Any other job that ended before its run started
  fails the run (`lost: ray job FAILED before the run started: ...`).
- a RUNNING run whose job has ended (FAILED, STOPPED, SUCCEEDED) is lost (`lost: ray job STOPPED`), or KILLED when a
  stop had been asked for; otherwise the heartbeat rule of the base class applies.

Stopping: a running run gets Ray's stop (SIGTERM, then SIGKILL after STOP_GRACE_S). A queued run is marked KILLED at
once and its job is asked to stop. Ray cannot cancel a job that has not been placed yet (one asking for a GPU that
no node has): the stop is delivered when it is placed, which ends the entry point at once, and otherwise Ray fails
the job at its start timeout; either way the run stays KILLED.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine import tracking
from engine.config import TrainConfig, build_config
from engine.launch.base import JOB_TAG, REASON_TAG, STOP_TAG, LaunchError, RunState
from engine.launch.interface import Launcher
from engine.launch.local import LocalLauncher

EXCLUDES = ["runs/", "mlruns/", ".git/", "__pycache__/", "*.pyc", ".pytest_cache/", ".benchmarks/", ".mypy_cache/",
            ".ruff_cache/", ".ipynb_checkpoints/", ".venv/", "venv/", "node_modules/", "*.egg-info/", "build/",
            "dist/", ".whl/", ".gl/", "*.db", "*.db-journal", ".env", ".streamlit/secrets.toml"]
PASSED_ENV = ("MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH")  # never a credential: see above
DASHBOARD_ONLY_ENV = ("GANBOARD_READ_DATABASE_URI", "GANBOARD_READ_ARTIFACTS_DIR", "GANBOARD_OPERATORS",
                      "GANBOARD_READONLY")
CONNECT_TIMEOUT_S = 5.0
STOP_GRACE_S = 30  # RAY_JOB_STOP_WAIT_TIME_S for our jobs: SIGTERM, then this long to checkpoint, then SIGKILL
CLUSTER_CACHE_S = 10.0
ATTEMPT_TAG = "ganboard.ray_attempt"
META_RUN, META_GPUS, META_CPUS = "ganboard_run_id", "ganboard_num_gpus", "ganboard_num_cpus"
TERMINAL = ("FAILED", "STOPPED", "SUCCEEDED")
PYTHON_ENV = "GANBOARD_RAY_PYTHON"
UNKNOWN = "unknown"  # job_info's answer for a job the cluster does not know


def _status(value) -> str:
    """'PENDING' out of a JobDetails, a JobStatus or a JobErrorType (or a plain string); '' for None."""
    if value is None or value is UNKNOWN:
        return ""
    if hasattr(value, "submission_id"):  # a JobDetails
        value = value.status
    return str(getattr(value, "value", value)).split(".")[-1]


def _not_found(exc: BaseException) -> bool:
    return "does not exist" in str(exc) or "status code 404" in str(exc)


def wants_gpu(cfg: TrainConfig | dict[str, Any]) -> bool:
    """device=cuda asks Ray for a GPU; device=auto only when GANBOARD_RAY_GPU=1; device=cpu never."""
    device = cfg["device"] if isinstance(cfg, dict) else cfg.device
    return device == "cuda" or (device == "auto" and os.environ.get("GANBOARD_RAY_GPU", "") == "1")


def job_python() -> str:
    """The interpreter a job runs on its node: GANBOARD_RAY_PYTHON, else this process's own (module docstring).
    LaunchError (one line) for a relative path or a command line."""
    value = os.environ.get(PYTHON_ENV, "").strip()
    if not value:
        return sys.executable or "python"
    relative = "/" in value and not os.path.isabs(value)  # it would be looked up in the job's uploaded working_dir
    command_line = "/" not in value and any(c.isspace() for c in value)  # `uv run python` is not one interpreter
    if relative or command_line or not value.isprintable():
        raise LaunchError(f"{PYTHON_ENV}={value!r}: name the Python on the Ray nodes by an absolute path "
                          "(e.g. /opt/venv/bin/python) or a command name on their PATH (e.g. python3)")
    return value


def _is_path(uri: str) -> bool:
    """A bare path is MLflow's file store; 'databricks' and 'databricks://profile' are not paths."""
    return "://" not in uri and not uri.startswith("databricks")


def resolved_tracking_uri() -> str:
    """The store URI as a process elsewhere must see it: a relative SQLite or file-store path made absolute."""
    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        return uri if path.is_absolute() else f"sqlite:///{path.resolve()}"
    return str(Path(uri).resolve()) if _is_path(uri) else uri


def is_local_store(uri: str) -> bool:
    """A store only this machine (or a shared filesystem) can open: SQLite, file: or a bare path."""
    return uri.startswith(("sqlite:", "file:")) or _is_path(uri)


def _short(exc: BaseException) -> str:
    """One short line out of a (often long, nested) connection error."""
    text = " ".join(str(exc).split())
    for marker in ("[Errno", "timed out", "Read timed out"):
        at = text.rfind(marker)
        if at >= 0:
            return text[at:].rstrip("')\"]>. ")[:160]
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:200]


def _with_timeout(fn, timeout: float):
    """fn() in a daemon thread; TimeoutError when it has not returned in time (the thread is left to die)."""
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"timed out after {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _quiet_ray_logs() -> None:
    """Ray's client logs every packaging step at INFO on stderr; keep warnings about real problems only."""
    import logging

    for name in ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk", "ray._private.runtime_env"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # We exclude .git ourselves; Ray's notice that it now does too is noise.
    logging.getLogger("ray._private.runtime_env.working_dir").setLevel(logging.ERROR)


def _probe(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (one short timeout) when nothing answers at the address."""
    if address == "auto":
        return
    scheme, _, rest = address.rpartition("://")
    if scheme in ("http", "https"):
        import requests

        requests.get(address.rstrip("/") + "/api/version", timeout=timeout).raise_for_status()
        return
    hostport = rest.split("/")[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port or http://host:port, got '{address}'")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
        pass


class RayLauncher(Launcher):
    backend = "ray"

    def __init__(self, address: str):
        # Ray's own rule: RAY_API_SERVER_ADDRESS, when set, wins over any other address.
        self.address = (os.environ.get("RAY_API_SERVER_ADDRESS") or address or "").strip()
        self._client = None
        self._client_error: str | None = None
        self._cluster: tuple[float, dict[str, float]] | None = None
        self._seen: dict[str, Any] = {}  # run id -> its job's details, while state_of looks at the run

    # ------------------------------------------------------------ connection
    def client(self):
        """The JobSubmissionClient, connected once per launcher; LaunchError (one line) when the cluster is away."""
        if self._client is not None:
            return self._client
        if self._client_error:
            raise LaunchError(self._client_error)
        if not self.address:
            self._client_error = ("RAY_ADDRESS is not set: point it at the Ray cluster's dashboard, "
                                  "e.g. RAY_ADDRESS=http://head-node:8265")
            raise LaunchError(self._client_error)
        try:
            _probe(self.address)
            from ray.job_submission import JobSubmissionClient

            _quiet_ray_logs()

            self._client = _with_timeout(lambda: JobSubmissionClient(self.address), 3 * CONNECT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure to connect reads the same to the user
            self._client_error = f"RAY_ADDRESS={self.address}: cannot reach the Ray cluster ({_short(exc)})"
            raise LaunchError(self._client_error) from None
        return self._client

    def check_ready(self, configs: list[TrainConfig]) -> None:
        if not self.address:
            self.client()  # raises the "not set" error
        uri = resolved_tracking_uri()
        if is_local_store(uri) and os.environ.get("GANBOARD_SHARED_STORE", "") != "1":
            raise LaunchError(f"tracking store {uri} is a local file that Ray jobs on other machines cannot reach: "
                              "use a tracking server or shared database (MLFLOW_TRACKING_URI), or set "
                              "GANBOARD_SHARED_STORE=1 if every node sees this path")
        job_python()  # raises for a bad GANBOARD_RAY_PYTHON before anything is created
        self.client()

    def cluster_resources(self) -> dict[str, float]:
        """Total resources of the alive nodes (cached for CLUSTER_CACHE_S)."""
        now = time.monotonic()
        if self._cluster and now - self._cluster[0] < CLUSTER_CACHE_S:
            return self._cluster[1]
        from ray.util.state import list_nodes

        api = getattr(self.client(), "_address", None) or self.address
        totals: dict[str, float] = {}
        for node in list_nodes(address=api, timeout=int(CONNECT_TIMEOUT_S), raise_on_missing_output=False):
            if str(node.state).upper().endswith("ALIVE"):
                for key, value in (node.resources_total or {}).items():
                    totals[key] = totals.get(key, 0.0) + float(value)
        self._cluster = (now, totals)
        return totals

    # ------------------------------------------------------------ submitting
    def job_spec(self, run_id: str, cfg: TrainConfig | dict[str, Any], submission_id: str) -> dict[str, Any]:
        """The submit_job arguments of one run."""
        gpu = wants_gpu(cfg)
        device = cfg["device"] if isinstance(cfg, dict) else cfg.device
        env = {"MLFLOW_TRACKING_URI": tracking.hide_passwords(resolved_tracking_uri()), "PYTHONUNBUFFERED": "1",
               "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S)}
        env.update({k: tracking.hide_passwords(v) for k, v in os.environ.items()
                    if k in PASSED_ENV or (k.startswith("GANBOARD_") and k not in DASHBOARD_ONLY_ENV)})
        if device == "auto" and not gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""  # auto without a GPU from Ray trains on the CPU
        spec: dict[str, Any] = {
            "entrypoint": f"{shlex.quote(job_python())} -m engine.train --run-id {shlex.quote(run_id)}",
            "submission_id": submission_id,
            "runtime_env": {"working_dir": str(tracking.REPO_ROOT), "excludes": list(EXCLUDES), "env_vars": env},
            "metadata": {META_RUN: run_id, META_GPUS: "1" if gpu else "0", META_CPUS: "0" if gpu else "1"},
        }
        if gpu:
            spec["entrypoint_num_gpus"] = 1
        else:
            spec["entrypoint_num_cpus"] = 1
        return spec

    def enqueue(self, run_ids: list[str], configs: list[TrainConfig]) -> None:
        client = self.client()
        for i, (run_id, cfg) in enumerate(zip(run_ids, configs)):
            try:
                job_id = client.submit_job(**self.job_spec(run_id, cfg, f"ganboard-{run_id}"))
            except Exception as exc:  # noqa: BLE001 - fail the runs that have no job, say how many went
                reason = f"could not submit to Ray: {_short(exc)}"
                for left in run_ids[i:]:
                    tracking.set_tags(left, {REASON_TAG: reason})
                    tracking.set_status(left, tracking.FAILED)
                raise LaunchError(f"{reason}; {i} of {len(run_ids)} runs were queued, the other "
                                  f"{len(run_ids) - i} are marked failed") from None
            tracking.set_tags(run_id, {JOB_TAG: f"ray {job_id}", ATTEMPT_TAG: "1"})

    # ------------------------------------------------------------ looking at runs
    @staticmethod
    def job_id(run) -> str | None:
        job = run.data.tags.get(JOB_TAG, "")
        return job.split(None, 1)[1] if job.startswith("ray ") else None

    def job_info(self, run):
        """The Ray JobDetails of a run's job; UNKNOWN when the cluster does not know it; None when the run has no
        Ray job or the cluster cannot be asked."""
        job_id = self.job_id(run)
        if job_id is None:
            return None
        try:
            return self.client().get_job_info(job_id)
        except Exception as exc:  # noqa: BLE001
            return UNKNOWN if _not_found(exc) else None

    def state_of(self, run) -> RunState:
        """Settle what Ray knows and MLflow does not (see the module docstring), then the base class's rules."""
        run_id, status = run.info.run_id, run.info.status
        if self.job_id(run) is None or status not in (tracking.QUEUED, tracking.RUNNING):
            return super().state_of(run)
        info = self.job_info(run)
        self._seen[run_id] = info
        try:
            ended = info is UNKNOWN or _status(info) in TERMINAL
            if ended and (status == tracking.QUEUED or run.data.tags.get(STOP_TAG) == "1"):
                fresh = tracking.get_run(run_id)  # it may have moved on while we asked Ray
                if fresh.info.status == tracking.QUEUED:
                    self._settle_queued(fresh, info)
                elif fresh.info.status == tracking.RUNNING and fresh.data.tags.get(STOP_TAG) == "1":
                    self._end(run_id, tracking.KILLED, "stopped")  # stopped, killed before it could say so
                run = tracking.get_run(run_id)
            return super().state_of(run)
        finally:
            self._seen.pop(run_id, None)

    def _settle_queued(self, run, info) -> None:
        """A queued run whose job ended before the engine started: kill, requeue or fail the run."""
        run_id = run.info.run_id
        job_status = _status(info)
        if run.data.tags.get(STOP_TAG) == "1" or job_status == "STOPPED":
            self._end(run_id, tracking.KILLED, "stopped before it started")
            return
        if job_status == "FAILED" and _status(getattr(info, "error_type", None)) == "JOB_SUPERVISOR_ACTOR_START_TIMEOUT":
            short = self._shortfall(getattr(info, "metadata", None) or {})
            if short:
                self._end(run_id, tracking.FAILED, f"never started: {short}")
            else:
                self._requeue(run)
            return
        what = "its ray job is unknown to the cluster" if info is UNKNOWN else f"ray job {job_status}"
        message = " ".join(str(getattr(info, "message", "") or "").split())[:300]
        self._end(run_id, tracking.FAILED, f"lost: {what} before the run started" + (f": {message}" if message else ""),
                  lost=True)

    @staticmethod
    def _end(run_id: str, status: str, reason: str, lost: bool = False) -> None:
        tracking.set_tags(run_id, {REASON_TAG: reason, **({"ganboard.health": "lost"} if lost else {})})
        tracking.set_status(run_id, status)

    def _requeue(self, run) -> None:
        """Ray gave up waiting to place the job: submit the run again as a new job (it stays queued)."""
        run_id = run.info.run_id
        attempt = int(run.data.tags.get(ATTEMPT_TAG, "1") or 1) + 1
        cfg = build_config(None, None, tracking.load_run_config(run_id))
        try:
            job_id = self.client().submit_job(**self.job_spec(run_id, cfg, f"ganboard-{run_id}-{attempt}"))
        except Exception as exc:  # noqa: BLE001
            if "already exists" in str(exc):  # someone else looking at the same run requeued it
                return
            self._end(run_id, tracking.FAILED, f"could not resubmit to Ray: {_short(exc)}")
            return
        tracking.set_tags(run_id, {JOB_TAG: f"ray {job_id}", ATTEMPT_TAG: str(attempt),
                                   REASON_TAG: f"requeued (attempt {attempt}): Ray gave up waiting to place it"})

    def _shortfall(self, metadata: dict[str, str]) -> str:
        """'asks for 1 GPU, the cluster has 0' when the cluster can never place the job, else ''."""
        try:
            totals = self.cluster_resources()
        except Exception:  # noqa: BLE001 - not knowing is not a shortfall
            return ""
        for key, word in ((META_GPUS, "GPU"), (META_CPUS, "CPU")):
            asked = float(metadata.get(key, 0) or 0)
            have = totals.get(word, 0.0)
            if asked > have:
                return f"asks for {asked:g} {word}, the cluster has {have:g}"
        return ""

    def pending_reason(self, run) -> str:
        if self.job_id(run) is None:
            return ""
        info = self._seen[run.info.run_id] if run.info.run_id in self._seen else self.job_info(run)
        if info is None:
            return "pending: the Ray cluster cannot be reached" if self._client_error else ""
        job_status = _status(info)
        if job_status == "RUNNING":
            return "starting"  # the job runs, the engine has not flipped the run to RUNNING yet
        if job_status != "PENDING":
            return ""
        metadata = info.metadata or {}
        short = self._shortfall(metadata)
        if short:
            return f"pending: {short}"
        word = "GPU" if float(metadata.get(META_GPUS, 0) or 0) > 0 else "CPU"
        return f"pending: waiting for a free {word}"

    def lost_reason(self, run) -> str:
        """A RUNNING run whose Ray job has ended (or is gone) is lost; else the heartbeat rule."""
        if self.job_id(run) is not None:
            info = self._seen[run.info.run_id] if run.info.run_id in self._seen else self.job_info(run)
            if info is UNKNOWN or _status(info) in TERMINAL:
                if tracking.get_run(run.info.run_id).info.status == tracking.RUNNING:
                    return "lost: its ray job is unknown to the cluster" if info is UNKNOWN \
                        else f"lost: ray job {_status(info)}"
                return ""
        return super().lost_reason(run)

    # ------------------------------------------------------------ stopping and logs
    def _stop_job(self, run) -> bool | None:
        """Ask Ray to stop the run's job: True/False as Ray answers, None when the cluster does not know it."""
        try:
            return bool(self.client().stop_job(self.job_id(run)))
        except LaunchError:
            raise
        except Exception as exc:  # noqa: BLE001
            if _not_found(exc):
                return None
            raise LaunchError(f"ray: could not stop job {self.job_id(run)}: {_short(exc)}") from None

    def _stop_started(self, run) -> None:
        if self.job_id(run) is None:
            LocalLauncher()._stop_started(run)  # noqa: SLF001 - a run of the local backend
            return
        if self._stop_job(run) is None:  # the cluster lost the job: nothing runs it any more
            self._end(run.info.run_id, tracking.KILLED, "stopped (its ray job was gone)")

    def _cancel_queued(self, run) -> None:
        # Launcher.stop marks the run KILLED right after this. A job not placed yet gets the stop when it is placed.
        if self.job_id(run) is not None:
            self._stop_job(run)

    def logs(self, run_id: str) -> str:
        run = tracking.get_run(run_id)
        job_id = self.job_id(run)
        if job_id is None:
            return LocalLauncher().logs(run_id)
        try:
            return self.client().get_job_logs(job_id)
        except LaunchError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LaunchError(f"ray: no logs for job {job_id}: {_short(exc)}") from None
