"""One real-browser run of the dashboard: launch a short run from the Launch page, watch it finish on the Runs
page, open it in Compare.

Starts `streamlit run dashboard/app.py` on a free port against a temp store, drives Debian's chromium through
Playwright, and saves a screenshot of every stage under the test's tmp_path. The run is real (the local launcher's
scheduler starts `python -m engine.train`), kept tiny so that it finishes in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import clear_multiselect, idle, needs_chromium, no_traceback, open_browser, streamlit_server

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


@pytest.fixture
def server(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO), "GANBOARD_MAX_PARALLEL": "1"}
    env.pop("GANBOARD_READONLY", None)
    with streamlit_server(tmp_path, env) as url:
        yield url, uri






def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    idle(page)


def test_launch_watch_and_compare_a_short_run(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, uri = server
    with sync_playwright() as pw:
        browser, page = open_browser(pw)

        # --- Launch: a tiny run of the ns preset ---
        page.goto(f"{base}/launch")
        idle(page)
        expect(page.get_by_role("heading", name="Launch")).to_be_visible()
        # one run instead of the first sweep the page opens on: no losses swept, one seed
        clear_multiselect(page, "Losses", 3)  # the first sweep's three losses
        _set_number(page, "Seeds per combination", 1)
        page.get_by_role("tab", name="Optimisation").click()
        _set_number(page, "steps", 60)
        _set_number(page, "batch_size", 64)
        page.get_by_role("tab", name="Logging").click()
        _set_number(page, "eval_every", 30)
        _set_number(page, "eval_samples", 500)
        _set_number(page, "grid_size", 16)
        expect(page.get_by_text("Changed from the preset")).to_contain_text("steps=60")
        page.screenshot(path=str(tmp_path / "1-launch.png"), full_page=True)
        no_traceback(page)
        page.get_by_role("button", name="Launch 1 run").click()

        # --- Runs: it is there at once, then finishes while the table refreshes itself ---
        expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        expect(page.get_by_text("Queued 1 run.")).to_be_visible()
        page.screenshot(path=str(tmp_path / "2-runs-queued.png"), full_page=True)
        # the caption loses its "active" part when the run has ended
        done = "Runs 1–1 of 1 · by started, descending"
        expect(page.get_by_text(done, exact=True)).to_be_visible(timeout=240_000)
        idle(page)
        expect(page.get_by_text("Runs 1–1 of 1")).to_have_count(1)
        page.screenshot(path=str(tmp_path / "3-runs-finished.png"), full_page=True)
        no_traceback(page)

        from mlflow import MlflowClient

        runs = MlflowClient(tracking_uri=uri).search_runs(
            [e.experiment_id for e in MlflowClient(tracking_uri=uri).search_experiments()])
        assert [r.info.status for r in runs] == ["FINISHED"], [r.data.tags.get("ganboard.end_reason") for r in runs]
        assert runs[0].data.params["steps"] == "60"

        # --- Compare: the run's sweep (picked from the sweep index), with its curve and final metrics ---
        page.get_by_role("combobox", name="Sweep").click()
        page.get_by_role("option").first.click()
        idle(page)
        expect(page.get_by_text(done, exact=True)).to_be_visible()
        page.get_by_role("button", name="Compare sweep").click()
        expect(page.get_by_role("heading", name="Compare")).to_be_visible()
        expect(page.get_by_role("heading", name="Final metrics")).to_be_visible()
        page.wait_for_selector(".js-plotly-plot .main-svg")
        idle(page)
        expect(page.get_by_text("1 run", exact=True)).to_be_visible()
        page.screenshot(path=str(tmp_path / "4-compare.png"), full_page=True)
        no_traceback(page)
        browser.close()
