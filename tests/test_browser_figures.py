"""What a new user saw in the browser (issue 13), checked in a real one: bands inside a metric's range, one colour
per group on every chart, notes that say which runs never log a metric, self-explaining gallery panels, and an
artifacts preview that shows (or counts) every sample.

Trains six tiny runs (ns on the ring with three seeds, hinge on the ring with two, ns on the grid) into a temp store,
adds a samples file that reaches past the ring's view, starts `streamlit run dashboard/app.py` and drives Debian's
chromium through Playwright. Screenshots of every page land in the test's tmp_path; the server's log must hold no
warning or traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from support import (CHROMIUM, CHROMIUM_ARGS, idle, needs_chromium, no_traceback, store_env, streamlit_server,
                     train_tracked)

REPO = Path(__file__).resolve().parent.parent
TINY = {"steps": 60, "batch_size": 64, "eval_samples": 500, "grid_size": 32, "log_every": 10, "eval_every": 20}
# plotly.py sends arrays base64-encoded; _fullData holds them decoded, with the defaults resolved
CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => ({
    title: (p.layout.title || {}).text || null, ytitle: ((p.layout.yaxis || {}).title || {}).text || null,
    xrange: (p.layout.xaxis || {}).range || null,
    traces: (p._fullData || []).map(t => ({name: t.name, type: t.type, y: t.y ? Array.from(t.y) : [],
                                      color: (t.line || {}).color || null, legendgroup: t.legendgroup || null,
                                      showscale: t.showscale, colorbar: t.colorbar ? (t.colorbar.title || {}).text
                                                                                   : null}))}))"""
CAPTIONS_JS = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].map(e => e.innerText)"""

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("figures")
    (tmp / "store").mkdir()
    with store_env(tmp / "store") as uri:
        runs = [train_tracked("ns", "ns-ring", {**TINY, "seed": s}) for s in (0, 1, 2)]
        runs += [train_tracked("hinge", "hinge-ring", {**TINY, "seed": s}) for s in (0, 1)]
        runs.append(train_tracked("ns", "ns-grid", {**TINY, "dataset": "grid", "seed": 0}))
        # samples reaching x = 3.9 past the ring's [-2, 2] view, and one of a diverged G far beyond any sane view
        far = np.array([[1.0, 0.0], [3.9, 0.0], [0.0, -2.5], [1e3, 0.0]], dtype=np.float32)
        np.savez(tmp / "far.npz", x=far)
        from mlflow import MlflowClient

        MlflowClient().log_artifact(runs[0], str(tmp / "far.npz"), artifact_path="extra")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)}
    env.pop("GANBOARD_READONLY", None)
    with streamlit_server(tmp, env) as url:
        yield url, runs, tmp


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()






def _pick(page, label: str, option: str) -> None:
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    idle(page)


def _chart(page, y_title: str) -> dict:
    page.wait_for_function(f"() => ({CHARTS_JS})().some(c => c.ytitle === {y_title!r})", timeout=120_000)
    return next(c for c in page.evaluate(CHARTS_JS) if c["ytitle"] == y_title)


def _captions_once(page, text: str) -> str:
    """Every caption, once one holds `text` (a chart's caption is drawn after its chart)."""
    page.wait_for_function(f"() => ({CAPTIONS_JS})().some(t => t.includes({text!r}))", timeout=60_000)
    return "\n".join(page.evaluate(CAPTIONS_JS))


def _line_colours(chart: dict) -> dict[str, str]:
    return {t["name"].rsplit(" (n=", 1)[0]: t["color"] for t in chart["traces"]
            if t["legendgroup"] == t["name"] and t["color"]}


def test_compare_bands_stay_in_range_groups_keep_their_colour_and_notes_say_who_never_logs(site, browser):
    base, runs, tmp = site
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.goto(f"{base}/compare?runs={','.join(runs)}", timeout=120_000)
    _chart(page, "metric/modes")
    _pick(page, "Band", "95 % CI (t)")  # Student t with n = 3: the widest band, far past 0 for a count
    modes = _chart(page, "metric/modes")
    no_traceback(page)
    bands = [t for t in modes["traces"] if t["name"].endswith(" band") or t["name"].endswith(" min/max")]
    assert bands
    ring = [y for t in bands if not t["name"].startswith("ns, dataset=grid") for y in t["y"] if y is not None]
    assert min(ring) == 0.0 and max(ring) <= 8.0  # clipped at 0, and never above ring-8's K
    assert all(0.0 <= y <= 25.0 for t in bands for y in t["y"] if y is not None)
    _captions_once(page, "clipped at what metric/modes can take (0 to 8):")
    page.screenshot(path=str(tmp / "compare_modes_ci95.png"))
    colours = _line_colours(modes)
    assert len(colours) == 3 and len(set(colours.values())) == 3

    _pick(page, "Metric", "theory/v")  # the hinge group has none: the grid group must keep its colour
    v = _chart(page, "theory/v")
    no_traceback(page)
    v_colours = _line_colours(v)
    assert set(v_colours) == set(colours) - {"hinge"}
    assert v_colours == {g: colours[g] for g in v_colours}
    captions = _captions_once(page, "2 run(s) never log theory/v: the engine logs it only for losses whose D is "
                                    "a probability (minimax, ns, lsgan), and these are critics: hinge (2)")
    assert "have not logged theory/v yet" not in captions  # every run has ended: none may log it later
    page.screenshot(path=str(tmp / "compare_theory_v.png"))
    page.close()


def test_gallery_panels_have_titles_colour_bars_and_an_honest_legend(site, browser):
    base, runs, tmp = site
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    page.goto(f"{base}/gallery?runs={runs[0]},{runs[3]},{runs[5]}", timeout=120_000)
    page.wait_for_function(f"() => ({CHARTS_JS})().length >= 4", timeout=120_000)
    idle(page)
    page.get_by_text("D* and |D − D*| beside", exact=True).first.click()
    # ns ring: samples, D*, |D - D*|; hinge ring: samples, D* (its critic has no |D - D*|); ns grid: three
    page.wait_for_function(f"() => ({CHARTS_JS})().filter(c => c.title).length === 8", timeout=120_000)
    idle(page)
    no_traceback(page)
    panels = [c for c in page.evaluate(CHARTS_JS) if c["title"]]
    titles = {re.sub(r"</?b>", "", c["title"]) for c in panels}  # Streamlit's theme makes titles bold
    assert sorted(titles) == ["D* = p_data / (p_data + p_g)", "samples on D raw", "samples on D(x)",
                              "|D − D*|: how far D is from D*"]
    heatmaps = [t for c in panels for t in c["traces"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 8 and all(t["showscale"] is not False and t["colorbar"] for t in heatmaps)
    legend = next(t for t in page.evaluate(CAPTIONS_JS) if t.startswith("heatmap D(x)"))
    assert "ring: × the 8 mode centres, dotted circles the 3σ high-quality radius 0.03 (σ = 0.01)" in legend
    assert "hide under the ×" in legend and "grey lines" not in legend  # no promise of invisible contours
    assert "grid: × the 25 mode centres" in legend
    page.screenshot(path=str(tmp / "gallery_beside.png"), full_page=True)

    page.get_by_text("Theory", exact=True).click()
    page.wait_for_function(f"() => ({CHARTS_JS})().length === 3", timeout=120_000)
    idle(page)
    no_traceback(page)
    page.screenshot(path=str(tmp / "gallery_theory.png"), full_page=True)
    page.close()


def test_artifacts_samples_preview_shows_the_samples_and_counts_those_beyond_the_cap(site, browser):
    base, runs, tmp = site
    page = browser.new_page(viewport={"width": 1500, "height": 1600})
    page.goto(f"{base}/artifacts?run={runs[0]}", timeout=120_000)
    page.get_by_text("Preview").first.wait_for(timeout=120_000)
    idle(page)
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Preview").first.click()
    page.keyboard.type("extra/far")  # the long list renders only its first options: filter it, as a user would
    page.get_by_role("option", name="extra/far.npz").first.click()
    page.wait_for_function(f"() => ({CHARTS_JS})().some(c => c.traces.some(t => t.name === 'samples'))",
                           timeout=120_000)
    idle(page)
    no_traceback(page)
    chart = next(c for c in page.evaluate(CHARTS_JS) if any(t["name"] == "samples" for t in c["traces"]))
    lo, hi = chart["xrange"]
    assert lo <= -3.9 and hi >= 3.9 and hi <= 6.0  # widened to x = 3.9, capped at 3x the ring's view
    _captions_once(page, "1 of 4 samples outside the view")  # only the diverged one at x = 1000
    page.screenshot(path=str(tmp / "artifacts_far.png"), full_page=True)
    page.close()


def test_the_servers_log_has_no_warning_or_traceback(site):  # last: after every page above was drawn
    log = (site[2] / "streamlit.log").read_text()
    assert "Traceback" not in log and "WARNING" not in log and "Warning" not in log, log[-3000:]
