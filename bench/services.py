"""What the browser benches share: the dashboard and the tracking server as processes, and their timings.

Servers start as a team starts them (the Procfile's `tracking` line through /bin/sh; `streamlit run
dashboard/app.py`), each in its own process group so that stopping one stops its workers too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120.0) -> None:
    """Wait until `url` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def start_app(uri: str, port: int, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run dashboard/app.py` against the store `uri`, read-only, on `port`; waits until it answers."""
    full = {**os.environ, "MLFLOW_TRACKING_URI": uri, "GANBOARD_READONLY": "1", "PYTHONPATH": str(REPO),
            **(env or {})}
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/_stcore/health")
    return proc


def start_tracking_server(backend_uri: str, artifacts: Path, port: int, log_path: Path,
                          workers: int = 4) -> subprocess.Popen:
    """The Procfile's `tracking` process (MLflow's server, artifacts served from `artifacts`); waits for it."""
    from honcho.environ import parse_procfile

    line = dict(parse_procfile((REPO / "Procfile").read_text()).processes)["tracking"]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, "PATH": path,
           "MLFLOW_BACKEND_STORE_URI": backend_uri, "MLFLOW_ARTIFACTS_DESTINATION": str(artifacts),
           "MLFLOW_HOST": "127.0.0.1", "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": str(workers)}
    log = open(log_path, "ab")
    proc = subprocess.Popen(["/bin/sh", "-c", line], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", timeout=300)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a server and everything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a process and its children so far (VmHWM of each, summed), in MB."""
    total = 0
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def timed(action, until) -> float:
    """Seconds from the start of `action()` until `until()` returns."""
    t0 = time.perf_counter()
    action()
    until()
    return time.perf_counter() - t0
