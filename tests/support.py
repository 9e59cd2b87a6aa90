"""Helpers shared by the tests that start real processes: ports, waiting, cleaning up, a Streamlit server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    """Poll `predicate` until it returns something truthy (returned), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def processes_using(uri: str) -> list[int]:
    """Pids of the processes whose environment points at this store (a scheduler and its runs)."""
    needle = f"MLFLOW_TRACKING_URI={uri}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_groups(pids: list[int]) -> None:
    """SIGKILL the process group of each pid (each run is its own session), never the test's own group."""
    own_group = os.getpgid(0)
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def procfile() -> dict[str, str]:
    """The Procfile's processes, name -> command line, as honcho reads them."""
    from honcho.environ import parse_procfile

    return dict(parse_procfile((REPO / "Procfile").read_text()).processes)


@contextlib.contextmanager
def streamlit_server(tmp_path: Path, env: dict[str, str], port: int | None = None) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on `port` (default a free loopback port) with `env`; yields its base URL."""
    port = port or free_port()
    log_path = tmp_path / "streamlit.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless",
                                 "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("streamlit did not start: " + log_path.read_text()[-2000:])
                    time.sleep(0.3)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


@contextlib.contextmanager
def dashboard_on(tmp_path: Path, uri: str, **env: str) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on the store `uri` (this process's environment, PYTHONPATH, `env`, never
    read-only); yields its base URL. On leaving, the server's log holds no warning or traceback, and every process
    still using the store (runs it launched) is ended."""
    server_env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO), **env}
    server_env.pop("GANBOARD_READONLY", None)
    try:
        with streamlit_server(tmp_path, server_env) as url:
            yield url
        assert server_log_problems(tmp_path / "streamlit.log") == []
    finally:
        kill_groups(processes_using(uri))


def clear_multiselect(page, label: str, chosen: int) -> None:
    """Remove the `chosen` values of the multiselect labelled `label` (e.g. the Launch form's swept Losses)."""
    box = page.get_by_label(label, exact=True)
    box.click()
    for _ in range(chosen):
        box.press("Backspace")
    box.press("Escape")
    idle(page)


def train_tracked(preset: str, name: str, overrides: dict) -> str:
    """Train one run in-process into the current store (MLFLOW_TRACKING_URI) and return its id."""
    from engine import tracking
    from engine.config import build_config
    from engine.train import train

    cfg = build_config(preset, overrides)
    run_id = tracking.create_run(cfg.to_dict(), run_name=name, tags={"ganboard.preset": preset})
    logger = tracking.RunLogger(run_id)
    result = train(cfg, logger)
    logger.close(result.status)
    assert result.status == "FINISHED", result.reason
    return run_id


@contextlib.contextmanager
def store_env(folder: Path) -> Iterator[str]:
    """MLFLOW_TRACKING_URI points at a SQLite store in `folder` for the block (module-scoped fixtures cannot use
    monkeypatch), and is restored afterwards; yields the URI."""
    old = os.environ.get("MLFLOW_TRACKING_URI")
    uri = os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        yield uri
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


def open_page(page: str | None = None, session: dict | None = None, query: dict | None = None,
              timeout: float = 60):
    """The app in Streamlit's AppTest, started from app.py (the router) with this session state and query
    parameters, then switched to `page` (a path like "views/compare.py")."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=timeout)
    for k, v in (session or {}).items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


# ------------------------------------------------------------------------------------ real-browser helpers
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium at /usr/bin/chromium")


def open_browser(pw, width: int = 1400, height: int = 1000, timeout_s: float = 90):
    """(browser, page): Debian's chromium headless with a page of this viewport, whose waits and expectations
    allow timeout_s (a loaded 2-core machine: imports and first runs take a while)."""
    from playwright.sync_api import expect

    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_s * 1000)
    expect.set_options(timeout=timeout_s * 1000)
    return browser, page


def idle(page, timeout_s: float = 90) -> None:
    """Wait until Streamlit has finished running the script (it shows its status widget while one runs)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=timeout_s * 1000)


def click_table_row(page, i: int) -> None:
    """Tick row i of the first table (glide-data-grid draws on a canvas: its row-marker column is on the left)."""
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 35 * i + 17)
    idle(page)


def no_traceback(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def server_log_problems(log_path: Path) -> list[str]:
    """The lines of a Streamlit server's log that report a warning, an error or a traceback."""
    words = ("WARNING", "Warning:", "ERROR", "Traceback", "Exception")
    return [line for line in log_path.read_text(errors="replace").splitlines() if any(w in line for w in words)]
