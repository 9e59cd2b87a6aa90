"""The Gallery's views of the conditional and inference variants in a real browser: samples by the label or code G
was given, the confusion matrix, and BiGAN's held-out data beside G(E(x)), under the one step slider, beside a run
that has none of them; nothing on the page or in the server log but what should be there.

Trains a tiny cGAN and InfoGAN on grid-25 and an ALI on the ring into a temp store, starts the dashboard and drives
Debian's chromium through Playwright. Screenshots under the test's tmp_path.
"""

from __future__ import annotations

import pytest
from support import dashboard_on, idle, needs_chromium, no_traceback, open_browser, store_env, train_tracked
from test_browser_images import _choose, _wait_captions

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium

TINY = {"steps": 40, "eval_every": 20, "batch_size": 64, "eval_samples": 500, "grid_size": 16, "z_dim": 16}
FIGURES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => ({
                  traces: (p.data || []).map(t => t.name || t.type || ''),
                  titles: ((p.layout || {}).annotations || []).map(a => a.text) }))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants")
    with store_env(tmp) as uri:
        runs = [train_tracked("cgan", "cgan grid", TINY), train_tracked("infogan", "infogan grid", TINY),
                train_tracked("ali", "ali ring", TINY)]
    with dashboard_on(tmp, uri) as url:
        yield url, runs


def test_variant_views_follow_the_one_slider(server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, runs = server
    with sync_playwright() as pw:
        browser, page = open_browser(pw, 1500, 2600)
        page.goto(f"{url}/gallery?runs={','.join(runs)}")
        _wait_captions(page, "t.filter(x => x.includes(' — step 40')).length === 3")
        idle(page)
        # a D that judges pairs has no field of its own: said in the caption, not as a download error
        assert any("no D field: this cgan D judges (x, label) pairs" in c for c in page.evaluate(
            "() => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')].map(e => e.innerText)"))

        _choose(page, "Variant view", "by label or code")
        _wait_captions(page, "t.some(x => x.includes('one panel per label G was given'))"
                             " && t.some(x => x.includes('one panel per code G was given'))"
                             " && t.some(x => x.includes('by label or code: not logged by a bigan run'))")
        idle(page)
        panels = [f for f in page.evaluate(FIGURES_JS) if len(f["titles"]) == 25]
        assert len(panels) == 2 and panels[0]["titles"] == [str(k) for k in range(25)]  # one panel per label, code
        page.screenshot(path=str(tmp_path / "variants-by-label.png"))
        no_traceback(page)

        thumb = page.locator('input[type="range"][aria-label="Step"]')
        thumb.focus()
        thumb.press("Home")  # the views move with the slider: step 0's labels
        _wait_captions(page, "t.filter(x => x.includes(' — step 0')).length === 3")
        idle(page)
        assert len([f for f in page.evaluate(FIGURES_JS) if len(f["titles"]) == 25]) == 2

        _choose(page, "Variant view", "confusion matrix")
        _wait_captions(page, "t.some(x => x.startsWith('label accuracy '))")
        idle(page)
        assert sum("heatmap" in f["traces"] for f in page.evaluate(FIGURES_JS)) == 1  # the cGAN's table alone

        _choose(page, "Variant view", "reconstructions")
        _wait_captions(page, "t.some(x => x.includes('held-out samples and G(E(x))'))")
        idle(page)
        assert sum("G(E(x))" in f["traces"] for f in page.evaluate(FIGURES_JS)) == 1
        page.screenshot(path=str(tmp_path / "variants-reconstructions.png"))
        no_traceback(page)
        browser.close()
