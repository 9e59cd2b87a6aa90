"""The Gallery in a real browser: one step slider moves every run's panel and the loss chart's cursor.

Trains three tiny runs with the engine into a temp store (their snapshot steps differ), starts
`streamlit run dashboard/app.py` on a free port, opens the Gallery with the runs selected through the page link
(`/gallery?runs=id,id,id`), moves the slider with the keyboard as a user would, and checks that every panel's
caption and the cursor followed. Screenshots of both positions are saved under the test's tmp_path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from support import CHROMIUM, CHROMIUM_ARGS, needs_chromium, no_traceback, streamlit_server, train_tracked


REPO = Path(__file__).resolve().parent.parent
TINY = {"steps": 60, "batch_size": 64, "eval_samples": 500, "grid_size": 32, "log_every": 10}
PANELS_JS = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                      .map(e => e.innerText).filter(t => t.includes(' — step '))"""
CURSOR_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
                      .flatMap(p => (p.data || []).filter(t => t.name === 'cursor').map(t => t.x[0]))"""

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


def _train(preset: str, name: str, **overrides) -> str:
    return train_tracked(preset, name, {**TINY, **overrides})


@pytest.fixture
def gallery_server(tmp_path, monkeypatch):
    (tmp_path / "store").mkdir()
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runs = [_train("ns", "ns-ring", eval_every=20, seed=0),  # snapshots 0, 20, 40, 60
            _train("wgan-gp", "wgan-grid", eval_every=30, dataset="grid", seed=1),  # 0, 30, 60
            _train("lsgan", "lsgan-ring", eval_every=60, seed=2)]  # 0, 60
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)}
    env.pop("GANBOARD_READONLY", None)
    with streamlit_server(tmp_path, env) as url:
        yield url, runs


def _steps(captions: list[str]) -> list[int]:
    return [int(re.search(r" — step (\d+)", c).group(1)) for c in captions]




def test_one_slider_moves_every_panel_and_the_cursor(gallery_server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, runs = gallery_server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1600})
        page.goto(f"{base}/gallery?runs={','.join(runs)}", timeout=120_000)
        page.wait_for_function(f"() => ({PANELS_JS})().length === 3", timeout=120_000)
        page.wait_for_function(f"() => ({CURSOR_JS})().length === 1", timeout=60_000)
        no_traceback(page)
        before = page.evaluate(PANELS_JS)
        assert ["ns-ring" in before[0], "wgan-grid" in before[1], "lsgan-ring" in before[2]] == [True] * 3
        assert _steps(before) == [60, 60, 60] and page.evaluate(CURSOR_JS) == [60]
        page.screenshot(path=str(tmp_path / "gallery_step60.png"), full_page=True, timeout=120_000)

        thumb = page.locator('input[type="range"][aria-label="Step"]')  # the step slider's thumb
        thumb.focus()
        thumb.press("Home")  # the first snapshot step: 0
        page.wait_for_function(f"() => ({PANELS_JS})().every(t => t.includes(' — step 0'))", timeout=60_000)
        no_traceback(page)
        page.wait_for_function(f"() => ({CURSOR_JS})()[0] === 0", timeout=60_000)
        after = page.evaluate(PANELS_JS)
        assert len(after) == 3 and all(a != b for a, b in zip(after, before))  # every panel changed step
        assert _steps(after) == [0, 0, 0]

        thumb.press("ArrowRight")  # step 20: only the ns run has a snapshot there
        # panels redraw one after the other while the fragment runs: wait for the last one
        page.wait_for_function(f"() => {{ const t = ({PANELS_JS})(); return t[0].includes(' — step 20') && "
                               "t.slice(1).every(x => x.includes('no snapshot at 20')) }", timeout=60_000)
        moved = page.evaluate(PANELS_JS)
        assert _steps(moved) == [20, 0, 0]
        assert "nearest earlier" not in moved[0]
        assert all("no snapshot at 20, nearest earlier" in t for t in moved[1:])
        no_traceback(page)
        page.screenshot(path=str(tmp_path / "gallery_step20.png"), full_page=True, timeout=120_000)
        browser.close()
    assert (tmp_path / "gallery_step20.png").stat().st_size > 10_000
