"""The engine's only door to MLflow: where the store is, how a run is created, and buffered logging.

Store: `MLFLOW_TRACKING_URI` when set (a server URL for teams, another SQLite file, a database URI), else the
embedded `sqlite:///<repo>/runs/mlflow.db`, created on first use, with artifacts under `<repo>/runs/artifacts`.
Experiments are always created with an explicit artifact location next to a file-based store, so artifacts never
land in a stray `./mlruns` of whatever directory a process was started from.

Logging is buffered: `RunLogger` hands metrics, tags and artifacts to one background thread, which sends them with
`log_batch` (at most 1000 metrics a call) about once a second and writes the heartbeat tag every few seconds, so
training never waits on the store. When a tracking server is away (restarted, a network blip) the thread retries
with backoff for up to STORE_GRACE_S (GANBOARD_STORE_GRACE_S) while training goes on and the buffer grows; then the
logger records the failure in `errors`, which the training loop turns into a clearly failed run. Each of those
retries is one short HTTP attempt: `fail_fast_http()` caps MLflow's own per-call retries (by default 7 retries with
up to two minutes of backoff each, about 4 minutes per call) unless the user set them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXPERIMENT = "ganboard"
HEARTBEAT_TAG = "ganboard.heartbeat"  # unix time, rewritten every HEARTBEAT_S while the process lives
STEP_TAG = "ganboard.step"
SWEEP_INDEX_PREFIX = "ganboard.sweep_index."  # experiment tags, one per sweep launched into the experiment
CURVES_TAG = "ganboard.curves"  # "1" once every metric's downsampled summary is logged (engine/curves.py)
HEARTBEAT_S = 5.0
FLUSH_S = 2.0  # one log_batch every 2 s: each call costs the training thread GIL time
STORE_GRACE_S = 180.0  # how long a run rides out an unreachable store before it fails (GANBOARD_STORE_GRACE_S)
# MLflow's HTTP client settings for processes that retry on their own (RunLogger): a few quick tries per call.
FAIL_FAST_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# Run statuses as MLflow spells them; SCHEDULED is a queued run that has not started.
QUEUED, RUNNING, FINISHED, FAILED, KILLED = "SCHEDULED", "RUNNING", "FINISHED", "FAILED", "KILLED"
STATUS_WORDS = {QUEUED: "queued", RUNNING: "running", FINISHED: "finished", FAILED: "failed", KILLED: "killed"}
# what an evaluation snapshots, one .npz per step in each: samples (points or an image grid, with its .png), field
# (D and D* on the plane, points), classes (the class histogram of G's samples, images)
SNAPSHOT_FOLDERS = ("samples", "field", "classes", "confusion", "reconstructions", "translations")


def snapshot_path(folder: str, step: int, ext: str = "npz") -> str:
    """The artifact path of a snapshot: samples/step_0001000.npz (zero-padded, so that they sort by step); its
    picture, where it has one, is samples/step_0001000.png."""
    return f"{folder}/step_{int(step):07d}.{ext}"


def snapshot_step(path: str) -> int | None:
    """The step of a snapshot's artifact path (or file name), None when it is not one."""
    name = Path(path).name
    digits = name[len("step_"):-len(".npz")]
    return int(digits) if name.startswith("step_") and name.endswith(".npz") and digits.isdigit() else None


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri
    (REPO_ROOT / "runs").mkdir(exist_ok=True)
    return f"sqlite:///{REPO_ROOT / 'runs' / 'mlflow.db'}"


_URI_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*):[^\s/]*@")


def hide_passwords(text: str) -> str:
    """`text` with the password of every URI in it left out (postgresql://user:secret@host/db becomes
    postgresql://user@host/db): for what is shown, logged or handed to another machine."""
    return _URI_PASSWORD.sub(r"\1@", text)


def cache_dir(uri: str | None = None) -> Path:
    """Where GANboard keeps what it computes once per machine (decoded data sets, the feature classifiers):
    GANBOARD_CACHE when set, else `cache/` beside a SQLite store's file, else ~/.cache/ganboard (a server store)."""
    if os.environ.get("GANBOARD_CACHE", "").strip():
        return Path(os.environ["GANBOARD_CACHE"].strip())
    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):]).resolve().parent / "cache"
    return Path.home() / ".cache" / "ganboard"


def artifact_root(uri: str | None = None) -> str | None:
    """Where new experiments keep artifacts: beside a SQLite file, GANBOARD_ARTIFACT_ROOT, or the server's choice."""
    uri = uri or tracking_uri()
    if os.environ.get("GANBOARD_ARTIFACT_ROOT"):
        return os.environ["GANBOARD_ARTIFACT_ROOT"]
    if uri.startswith("sqlite:///"):
        return str(Path(uri[len("sqlite:///"):]).resolve().parent / "artifacts")
    return None  # a tracking server serves artifacts itself


def fail_fast_http() -> None:
    """Make MLflow's HTTP calls in this process give up within seconds instead of minutes, unless the user set
    MLFLOW_HTTP_REQUEST_MAX_RETRIES / _BACKOFF_FACTOR / _TIMEOUT. For processes that handle an unreachable server
    themselves (the training process's RunLogger retries for STORE_GRACE_S; a dashboard shows a banner)."""
    for key, value in FAIL_FAST_HTTP.items():
        os.environ.setdefault(key, value)


def store_grace_s() -> float:
    try:
        return max(0.0, float(os.environ.get("GANBOARD_STORE_GRACE_S", STORE_GRACE_S)))
    except ValueError:
        return STORE_GRACE_S


class StoreUnreachable(RuntimeError):
    """The tracking store stayed unreachable past the grace period; the message is one line."""


def _retryable(exc: BaseException) -> bool:
    """A store error worth retrying: the server away or failing (connection, timeout, HTTP 5xx/429), not a
    request the server rejected (HTTP 4xx: a bad value, an unknown run), which fails the same way every time."""
    status = getattr(exc, "get_http_status_code", None)
    if callable(status):
        try:
            code = int(status())
        except Exception:  # noqa: BLE001
            return True
        return code >= 500 or code in (408, 429)
    return True


_READY_STORES: set[str] = set()


def client():
    from mlflow import MlflowClient

    # MLflow announces its schema migrations on stderr; a CLI's stderr is for the user's errors.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri()
    c = MlflowClient(tracking_uri=uri)
    if uri.startswith("sqlite:///") and uri not in _READY_STORES:
        # Several processes opening a new SQLite store at once race in MLflow's schema migration; the first
        # one migrates under a file lock while the others wait, then all find the schema in place.
        import fcntl

        db_path = Path(uri[len("sqlite:///"):])
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{db_path}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            c.search_experiments(max_results=1)
        _READY_STORES.add(uri)
    return c


def experiment_id(name: str = DEFAULT_EXPERIMENT) -> str:
    c = client()
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            c.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    root = artifact_root()
    try:
        return c.create_experiment(name, artifact_location=f"{root}/{name}" if root else None)
    except Exception:  # another process created it between our look and our create
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def create_run(config: dict[str, Any], *, experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None,
               tags: dict[str, str] | None = None, status: str = RUNNING) -> str:
    """Create a run holding the whole config (params in one call, config.json artifact) and return its id."""
    from mlflow.entities import Param

    c = client()
    all_tags = {"ganboard.dataset": config["dataset"], "ganboard.loss": config["loss"],
                "ganboard.penalty": config["penalty"], "ganboard.seed": str(config["seed"]), **(tags or {})}
    commit = git_commit()
    if commit:
        all_tags["mlflow.source.git.commit"] = commit
    run = c.create_run(experiment_id(experiment), run_name=run_name, tags=all_tags)
    run_id = run.info.run_id
    c.log_batch(run_id, params=[Param(k, str(v)) for k, v in sorted(config.items())])
    log_text(run_id, "config.json", json.dumps(config, indent=2, sort_keys=True))
    if status != RUNNING:
        c.update_run(run_id, status=status)
    return run_id


def sweep_index_tag(sweep: str, name: str, runs: int, start: int) -> tuple[str, str]:
    """The experiment tag that lists a sweep in its experiment's sweep index: its key and its JSON value (the
    sweep's name, how many runs were launched into it, when its first run was, in ms)."""
    return SWEEP_INDEX_PREFIX + sweep, json.dumps({"name": name, "runs": int(runs), "start": int(start)})


def sweep_index(tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Sweep id -> {"name", "runs", "start"} from an experiment's tags; entries that do not parse are left out."""
    out = {}
    for key, value in tags.items():
        if key.startswith(SWEEP_INDEX_PREFIX):
            try:
                entry = json.loads(value)
                out[key[len(SWEEP_INDEX_PREFIX):]] = {"name": str(entry["name"]), "runs": int(entry["runs"]),
                                                       "start": int(entry["start"])}
            except (ValueError, KeyError, TypeError):
                continue
    return out


def index_sweep(experiment: str, sweep: str, name: str, added: int) -> None:
    """Count `added` runs just launched into `sweep` in its experiment's sweep index (the first submit creates
    the entry under `name`; a later one, e.g. a relaunch, adds to its count). The index is what lets a page list
    a store's sweeps without reading its runs."""
    c = client()
    exp_id = experiment_id(experiment)
    entry = sweep_index(c.get_experiment(exp_id).tags).get(sweep)
    runs, start = (entry["runs"], entry["start"]) if entry else (0, int(time.time() * 1000))
    c.set_experiment_tag(exp_id, *sweep_index_tag(sweep, entry["name"] if entry else name, runs + added, start))


def log_text(run_id: str, artifact_file: str, text: str) -> None:
    client().log_text(run_id, text, artifact_file)


def set_tags(run_id: str, tags: dict[str, Any]) -> None:
    from mlflow.entities import RunTag

    client().log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def set_status(run_id: str, status: str) -> None:
    c = client()
    if status in (FINISHED, FAILED, KILLED):
        c.set_terminated(run_id, status)
    else:
        c.update_run(run_id, status=status)


def get_run(run_id: str):
    return client().get_run(run_id)


SEARCH_PAGE = 1000  # runs per search request: MLflow's own default page


def search_runs(filter_string: str = "", *, experiment_ids: Sequence[str] | None = None,
                order_by: Sequence[str] | None = None, deleted: bool = False, offset: int = 0,
                limit: int | None = None, page_size: int = SEARCH_PAGE) -> Iterator[Any]:
    """The runs (MLflow Run objects) that match an MLflow search filter, every page of them, lazily.

    The one paging loop over MLflow's page tokens: the filter, the order (default newest first) and the paging run
    in the store, so a caller that stops early (`limit`, or breaking out) never reads the rest, and one that starts
    at `offset` never reads what comes before (MLflow's page tokens are offsets, for its SQL stores and its
    server alike). `experiment_ids` defaults to every active experiment; `deleted` includes soft-deleted runs."""
    from mlflow.entities import ViewType
    from mlflow.utils.search_utils import SearchUtils

    c = client()
    exps = list(experiment_ids) if experiment_ids is not None else [e.experiment_id for e in c.search_experiments()]
    if not exps or (limit is not None and limit <= 0):
        return
    order = list(order_by) if order_by else ["attributes.start_time DESC"]
    view = ViewType.ALL if deleted else ViewType.ACTIVE_ONLY
    seen, token = 0, SearchUtils.create_page_token(offset) if offset > 0 else None
    while True:
        size = page_size if limit is None else min(page_size, limit - seen)
        page = c.search_runs(exps, filter_string=filter_string, run_view_type=view, max_results=size,
                             order_by=order, page_token=token)
        for run in page:
            yield run
        seen += len(page)
        token = page.token
        if not token or (limit is not None and seen >= limit):
            return


def search_run_ids(filter_string: str) -> list[str]:
    """Ids of the runs of every experiment that match an MLflow search filter, all pages of them."""
    return [run.info.run_id for run in search_runs(filter_string)]


class RunLogger:
    """Buffered, thread-backed logging into one MLflow run. Call `close(status)` exactly once."""

    def __init__(self, run_id: str):
        from mlflow.entities import Metric, RunTag

        self._Metric, self._RunTag = Metric, RunTag
        self.run_id = run_id
        self._client = client()
        self._metrics: list = []
        self._tags: dict[str, str] = {}
        self._jobs: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._tmp = tempfile.TemporaryDirectory(prefix="ganboard-")
        self.errors: list[str] = []
        self.grace_s = store_grace_s()
        self._down_since: float | None = None  # monotonic time of the first failure of the current outage
        self._given_up = False  # past the grace period: one attempt per call from now on, no more waiting
        fail_fast_http()
        self._client.update_run(run_id, status=RUNNING)
        self._tags[CURVES_TAG] = ""  # a resumed run's old summaries no longer cover it
        self._beat()
        self._thread = threading.Thread(target=self._work, name="ganboard-logger", daemon=True)
        self._thread.start()

    # --- called from the training loop; none of these waits on the store ---
    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        with self._lock:
            self._metrics.extend(self._Metric(k, float(v), now, step) for k, v in values.items())

    def set_tags(self, tags: dict[str, Any]) -> None:
        with self._lock:
            self._tags.update({k: str(v) for k, v in tags.items()})

    def log_npz(self, artifact_file: str, **arrays: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        self._jobs.put(("bytes", artifact_file, buf.getvalue()))

    def log_bytes(self, artifact_file: str, data: bytes) -> None:
        self._jobs.put(("bytes", artifact_file, data))

    def log_torch(self, artifact_file: str, state: dict[str, Any]) -> None:
        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        self._jobs.put(("bytes", artifact_file, buf.getvalue()))

    def log_file(self, local_path: str, artifact_dir: str | None = None) -> None:
        self._jobs.put(("file", artifact_dir, local_path))

    def close(self, status: str) -> None:
        """Flush everything, then mark the run terminated with `status`.

        Waits at most about the grace period for an unreachable store. When something could not be written, a
        FINISHED run is recorded as FAILED with the reason (nothing is lost silently); when even the status
        cannot be written, raises StoreUnreachable (the process then exits non-zero, and whoever looks at the
        run next finds it lost)."""
        self._closing.set()
        self._thread.join()
        self._flush()
        self._drain_jobs()
        if not self.errors:
            try:
                log_curve_summaries(self.run_id)
            except Exception as exc:  # noqa: BLE001 - optional: without them the dashboard reads the rows
                print(f"ganboard: curve summaries not logged ({type(exc).__name__}: {exc})"[:300], file=sys.stderr)
        if self.errors and status == FINISHED:
            status = FAILED
            self._call(self._client.set_tag, self.run_id, "ganboard.end_reason",
                       ("logging failed: " + self.errors[-1])[:500])
        ok = self._call(self._client.set_terminated, self.run_id, status)
        self._tmp.cleanup()
        if not ok:
            raise StoreUnreachable(f"run {self.run_id}: could not record its end ({status}) in the tracking store: "
                                   f"{self.errors[-1]}")

    # --- the background thread ---
    def _work(self) -> None:
        last_beat = time.monotonic()
        while not self._closing.wait(FLUSH_S):
            self._flush()
            self._drain_jobs()
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                self._beat()
                last_beat = time.monotonic()

    def _beat(self) -> None:
        self.set_tags({HEARTBEAT_TAG: f"{time.time():.0f}"})
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            metrics, self._metrics = self._metrics, []
            tags, self._tags = self._tags, {}
        tag_list = [self._RunTag(k, v) for k, v in tags.items()]
        for i in range(0, max(len(metrics), 1), 1000):
            chunk = metrics[i:i + 1000]
            if chunk or tag_list:
                self._call(self._client.log_batch, self.run_id, metrics=chunk, tags=tag_list if i == 0 else [])

    def _drain_jobs(self) -> None:
        while True:
            try:
                kind, target, payload = self._jobs.get_nowait()
            except queue.Empty:
                return
            if kind == "bytes":
                path = Path(self._tmp.name) / target
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(payload)
                parent = str(Path(target).parent)
                self._call(self._client.log_artifact, self.run_id, str(path), None if parent == "." else parent)
                path.unlink(missing_ok=True)
            else:
                self._call(self._client.log_artifact, self.run_id, payload, target)

    def _call(self, fn, *args, **kwargs) -> bool:
        """Call the store; True when it answered. The store can be briefly away (a restarted server): retry with
        backoff (0.5 s doubling to 8 s) while the outage is younger than the grace period, then record the
        failure rather than kill the training: the loop checks `errors` and fails the run clearly. A request
        the server rejects (HTTP 4xx) is recorded at once."""
        delay = 0.5
        while True:
            try:
                fn(*args, **kwargs)
                self._down_since = None
                return True
            except Exception as exc:  # noqa: BLE001 - any store error is judged the same way
                first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
                if not _retryable(exc):
                    self.errors.append(f"request rejected: {type(exc).__name__}: {first}"[:500])
                    return False
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                left = self.grace_s - (now - self._down_since)
                if self._given_up or left <= 0:
                    self._given_up = True
                    self.errors.append(f"no answer for {now - self._down_since:.0f} s: {type(exc).__name__}: "
                                       f"{first}"[:500])
                    return False
                time.sleep(min(delay, left))
                delay = min(delay * 2, 8.0)


# --- curve summaries: what the dashboard draws for a finished run, without its metric rows ---
def metric_histories(run_id: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every metric the run logged, read back from the store: key -> (steps, timestamps in ms, values)."""
    c = client()
    out = {}
    for key in c.get_run(run_id).data.metrics:
        hist = c.get_metric_history(run_id, key)
        out[key] = tuple(np.array([getattr(m, f) for m in hist], dtype=np.float64)
                         for f in ("step", "timestamp", "value"))
    return out


def log_curve_summaries(run_id: str, histories: dict[str, tuple] | None = None) -> None:
    """Log `curves/<key>.npz` for every metric of a run that has ended, then tag it CURVES_TAG = "1".

    `histories` (key -> steps, timestamps, values) defaults to reading the run back from the store, so the
    summaries describe exactly the rows the store holds; they are a pure function of those rows."""
    from engine import curves

    histories = metric_histories(run_id) if histories is None else histories
    with tempfile.TemporaryDirectory(prefix="ganboard-curves-") as tmp:
        for key, (steps, stamps, values) in histories.items():
            steps = np.asarray(steps, dtype=np.float64)
            if not steps.size:
                continue
            summary = curves.summarise(steps, stamps, values, curves.base_width(steps.max()))
            np.savez_compressed(Path(tmp) / Path(curves.artifact_name(key)).name, **curves.to_npz_arrays(summary))
        client().log_artifacts(run_id, tmp, "curves")
    set_tags(run_id, {CURVES_TAG: "1"})


# --- reading back what a run logged (used by evaluate, resume and sampling) ---
def download(run_id: str, artifact_path: str, dst: str | None = None) -> str:
    return client().download_artifacts(run_id, artifact_path, dst or tempfile.mkdtemp(prefix="ganboard-"))


def list_artifacts(run_id: str, path: str | None = None) -> list[str]:
    return [f.path for f in client().list_artifacts(run_id, path)]


def snapshot_steps(run_id: str, folder: str = "samples") -> list[int]:
    return sorted(s for s in map(snapshot_step, list_artifacts(run_id, folder)) if s is not None)


def load_run_config(run_id: str) -> dict[str, Any]:
    with open(download(run_id, "config.json")) as fh:
        return json.load(fh)


def load_run_snapshot(run_id: str, step: int | None = None) -> tuple[int, np.ndarray, dict[str, Any]]:
    """(step, samples (N, 2), config) of a logged snapshot: the one at `step`, or the latest."""
    steps = snapshot_steps(run_id)
    if not steps:
        raise ValueError(f"run {run_id}: no sample snapshots logged")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise ValueError(f"--step: run {run_id} has no snapshot at step {step}; it has {steps[0]}..{steps[-1]}")
    with np.load(download(run_id, snapshot_path("samples", step))) as data:
        x = data["x"]
    return step, x, load_run_config(run_id)


def load_checkpoint(run_id: str, which: str = "last") -> dict[str, Any]:
    import torch

    path = download(run_id, f"checkpoints/{which}.pt")
    return torch.load(path, map_location="cpu", weights_only=False)
