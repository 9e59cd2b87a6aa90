"""The local backend: a queue on this machine, run by a detached scheduler process.

The scheduler (started on demand, guarded by a lock file; one per machine and store) starts the queued runs of
this host in submission order, at most GANBOARD_MAX_PARALLEL at once, each as its own process
(`python -m engine.train --run-id ID`) in its own session, so runs outlive whoever launched them. It exits when
nothing is left to do; the next submit starts it again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from engine import tracking
from engine.config import TrainConfig
from engine.launch.base import BACKEND_TAG, HOST_TAG, JOB_TAG, SEQ_TAG, end_gone_run
from engine.launch.interface import Launcher


def state_dir() -> Path:
    """Per-machine, per-store scheduler state (lock, logs): beside an embedded store, else under ~/.ganboard,
    one folder per tracking store, so that the schedulers of two stores never block each other."""
    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):]).parent / "launcher"
    else:
        path = Path.home() / ".ganboard" / hashlib.sha1(uri.encode()).hexdigest()[:12] / "launcher"
    (path / "logs").mkdir(parents=True, exist_ok=True)
    return path


def max_parallel() -> int:
    if os.environ.get("GANBOARD_MAX_PARALLEL"):
        return max(1, int(os.environ["GANBOARD_MAX_PARALLEL"]))
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.device_count()
    except ImportError:
        pass
    return os.cpu_count() or 1


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class LocalLauncher(Launcher):
    backend = "local"

    def enqueue(self, run_ids: list[str], configs: list[TrainConfig]) -> None:
        self.ensure_scheduler()

    def ensure_scheduler(self) -> None:
        """Start the detached scheduler unless one already holds the lock."""
        lock_path = state_dir() / "scheduler.lock"
        with open(lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a scheduler is running
            fcntl.flock(fh, fcntl.LOCK_UN)
        with open(state_dir() / "scheduler.log", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "engine.launch", "scheduler"], cwd=tracking.REPO_ROOT,
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(tracking.REPO_ROOT)})

    def lost_reason(self, run) -> str:
        tags = run.data.tags
        if tags.get(HOST_TAG) == socket.gethostname() and tags.get(JOB_TAG, "").startswith("pid "):
            pid = int(tags[JOB_TAG].split()[1])
            if pid_alive(pid):
                return ""  # alive here: a stale heartbeat means the store was away, and the run rides it out
            if tracking.get_run(run.info.run_id).info.status == tracking.RUNNING:
                return "lost: its process is gone"
        return super().lost_reason(run)

    def _stop_started(self, run) -> None:
        job = run.data.tags.get(JOB_TAG, "")
        if job.startswith("pid ") and run.data.tags.get(HOST_TAG) == socket.gethostname():
            try:
                os.killpg(int(job.split()[1]), signal.SIGTERM)
            except ProcessLookupError:
                pass

    def logs(self, run_id: str) -> str:
        path = state_dir() / "logs" / f"{run_id}.log"
        for candidate in (path, path.with_suffix(".done.log")):  # still running; ended on this machine
            if candidate.exists():
                return candidate.read_text(errors="replace")
        try:
            with open(tracking.download(run_id, "logs/output.txt")) as fh:
                return fh.read()
        except Exception:  # noqa: BLE001 - no log yet is an ordinary answer
            return ""


def scheduler_loop(poll_s: float = 1.0, idle_exit_s: float = 30.0) -> None:
    """Start queued runs of this host in submission order within the cap; exit after a quiet spell."""
    lock = open(state_dir() / "scheduler.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    host = socket.gethostname()
    children: dict[str, subprocess.Popen] = {}
    idle_since = time.monotonic()

    def queued_here() -> list:
        runs = tracking.search_runs(f"attributes.status = '{tracking.QUEUED}' and tags.`{HOST_TAG}` = '{host}' "
                                    f"and tags.`{BACKEND_TAG}` = 'local'")
        return sorted(runs, key=lambda r: r.data.tags.get(SEQ_TAG, ""))

    while True:
        try:
            for run_id, proc in list(children.items()):
                if proc.poll() is not None:
                    children.pop(run_id)
                    finish_child(run_id, proc.returncode)
            queued = queued_here()
            while queued and len(children) < max_parallel():
                run = queued.pop(0)
                if run.info.run_id in children or tracking.get_run(run.info.run_id).info.status != tracking.QUEUED:
                    continue  # ours already (its first flip to RUNNING failed), or stopped meanwhile
                children[run.info.run_id] = start_child(run.info.run_id)
            if children or queued:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_exit_s:
                # A submit that saw our lock just before we let go relies on us: look once more after unlocking.
                fcntl.flock(lock, fcntl.LOCK_UN)
                if not queued_here():
                    return
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # a new scheduler took over
                idle_since = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - a store hiccup must not orphan the queue; try again next poll
            print(f"scheduler: {type(exc).__name__}: {exc}", flush=True)
        time.sleep(poll_s)


def start_child(run_id: str) -> subprocess.Popen:
    with open(state_dir() / "logs" / f"{run_id}.log", "ab") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, "-m", "engine.train", "--run-id", run_id], cwd=tracking.REPO_ROOT,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(tracking.REPO_ROOT), "PYTHONUNBUFFERED": "1"})
    try:
        tracking.set_tags(run_id, {JOB_TAG: f"pid {proc.pid}", tracking.HEARTBEAT_TAG: f"{time.time():.0f}"})
        tracking.set_status(run_id, tracking.RUNNING)
    except Exception as exc:  # noqa: BLE001 - the child is running: keep its handle; it flips the run itself
        print(f"scheduler: could not mark {run_id} running: {exc}", flush=True)
    return proc


def finish_child(run_id: str, returncode: int) -> None:
    """Keep the process output as an artifact; a process that died without ending its run fails it."""
    path = state_dir() / "logs" / f"{run_id}.log"
    try:
        if path.exists():
            tracking.log_text(run_id, "logs/output.txt", path.read_text(errors="replace"))  # what logs() reads
            os.replace(path, path.with_suffix(".done.log"))
        run = tracking.get_run(run_id)
        if run.info.status == tracking.RUNNING:
            end_gone_run(run_id, run.data.tags, f"lost: process exited with code {returncode}")
    except Exception as exc:  # noqa: BLE001 - the scheduler must survive a store hiccup
        print(f"scheduler: could not finish {run_id}: {exc}", flush=True)
