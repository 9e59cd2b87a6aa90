"""The Gallery's translations view in a real browser: a translation GAN's fixed sources, its translations and their
truths under the pair's known map (points: one plane per direction; images: input | translation | truth columns),
both ways for CycleGAN, one way for Pix2Pix, under the one step slider; nothing on the page or in the server log but
what should be there.

Trains a tiny Pix2Pix and CycleGAN on ring-rotated and a tiny CycleGAN on mnist-negative into a temp store, starts
the dashboard and drives Debian's chromium through Playwright. Screenshots under the test's tmp_path.
"""

from __future__ import annotations

import pytest
from support import dashboard_on, idle, needs_chromium, no_traceback, open_browser, store_env, train_tracked
from test_browser_images import _choose, _pictures, _wait_captions
from test_browser_variants import FIGURES_JS

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium

POINTS = {"steps": 40, "eval_every": 20, "batch_size": 64, "eval_samples": 500, "grid_size": 16}
IMAGES = {"steps": 6, "eval_every": 3, "batch_size": 16, "g_channels": 8, "d_channels": 8}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("translation")
    with store_env(tmp) as uri:
        runs = [train_tracked("pix2pix-ring", "pix2pix ring", POINTS),
                train_tracked("cyclegan-ring", "cyclegan ring", POINTS),
                train_tracked("cyclegan-mnist", "cyclegan mnist", IMAGES)]
    with dashboard_on(tmp, uri) as url:
        yield url, runs


def test_translations_show_input_translation_and_truth_both_ways_under_the_one_slider(server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, runs = server
    with sync_playwright() as pw:
        browser, page = open_browser(pw, 1500, 2600)
        page.goto(f"{url}/gallery?runs={','.join(runs)}")
        _wait_captions(page, "t.filter(x => x.includes(' — step 40')).length === 2"
                             " && t.some(x => x.includes(' — step 6'))")
        idle(page)
        _choose(page, "Variant view", "translations")
        _wait_captions(page, "t.filter(x => x.startsWith('fixed sources, their translations')).length === 3")
        idle(page)
        captions = page.evaluate("() => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
                                 ".map(e => e.innerText)")
        notes = [c for c in captions if c.startswith("fixed sources, their translations")]
        assert sum("X → Y L1 " in c and "Y → X" not in c for c in notes) == 1  # pix2pix: one way
        assert sum("X → Y L1 " in c and "Y → X L1 " in c for c in notes) == 2  # cyclegan: both ways
        planes = [f for f in page.evaluate(FIGURES_JS) if "truth" in f["traces"]]
        assert len(planes) == 3  # pix2pix's X -> Y, cyclegan's X -> Y and Y -> X
        assert all({"source", "translation", "truth", "error: translation → truth"} <= set(f["traces"])
                   for f in planes)
        assert sum("columns: input | translation | truth" in c for c in captions) == 2  # the images' two ways
        assert len(_pictures(page)) >= 3  # the image run's samples grid and its two translation grids
        page.screenshot(path=str(tmp_path / "translations.png"), full_page=True)
        no_traceback(page)

        thumb = page.locator('input[type="range"][aria-label="Step"]')
        thumb.focus()
        thumb.press("Home")  # the view moves with the slider: step 0's translations
        _wait_captions(page, "t.filter(x => x.includes(' — step 0')).length === 3")
        idle(page)
        _wait_captions(page, "t.filter(x => x.startsWith('fixed sources, their translations')).length === 3")
        assert len([f for f in page.evaluate(FIGURES_JS) if "truth" in f["traces"]]) == 3
        no_traceback(page)
        browser.close()
