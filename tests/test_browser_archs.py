"""The image-era architectures in a real browser: a growing run's side under the one step slider, and the Sampling
view (truncation sliders that sample the checkpoint, StyleGAN's style-mixing grid).

Trains a tiny ProGAN and a tiny StyleGAN on scikit-learn's digits (8 x 8: the ProGAN grows 2 -> 4 -> 8) and a DCGAN
into a temp store, starts `streamlit run dashboard/app.py` and drives Debian's chromium through Playwright.
Screenshots under the test's tmp_path; the server's log must stay free of warnings and tracebacks.
"""

from __future__ import annotations

import pytest
from support import dashboard_on, idle, needs_chromium, no_traceback, open_browser, store_env, train_tracked

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium

TINY = {"dataset": "digits", "conv_stages": 2, "g_channels": 8, "d_channels": 8, "z_dim": 16, "steps": 20,
        "eval_every": 10, "batch_size": 32, "log_every": 5}
CAPTIONS_JS = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].map(e => e.innerText)"""
IMAGES_JS = """() => [...document.querySelectorAll('[data-testid="stImage"] img')].map(i => i.complete ?
                     i.naturalWidth : -1)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archs")
    (tmp / "store").mkdir()
    with store_env(tmp / "store") as uri:
        runs = {"progan": train_tracked("progan", "progan digits", TINY),
                "stylegan": train_tracked("stylegan", "stylegan digits", {**TINY, "psi": 0.7}),
                "dcgan": train_tracked("dcgan", "dcgan digits", {**TINY, "z_dim": 100})}
    with dashboard_on(tmp, uri) as url:
        yield url, runs


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = open_browser(pw, 1500, 2200)
        yield page
        browser.close()


def _wait_captions(page, predicate: str) -> list[str]:
    page.wait_for_function(f"() => {{ const t = ({CAPTIONS_JS})(); return {predicate}; }}", timeout=90_000)
    idle(page)
    return page.evaluate(CAPTIONS_JS)


def _pictures(page, count: int) -> list[int]:
    page.wait_for_function(f"() => {{ const w = ({IMAGES_JS})(); return w.every(x => x >= 0) && "
                           f"w.filter(x => x > 0).length === {count}; }}", timeout=90_000)
    return [w for w in page.evaluate(IMAGES_JS) if w > 0]


def test_a_growing_runs_side_is_shown_at_every_step(server, page, tmp_path):
    url, runs = server
    page.goto(f"{url}/gallery?runs={runs['progan']},{runs['dcgan']}")
    caps = _wait_captions(page, "t.filter(x => x.includes('64 samples at fixed latents')).length === 2")
    head = next(c for c in caps if f"progan digits · {runs['progan'][:6]} — step 20" in c)
    assert "grown to 8 × 8" in head and "fading" not in head
    assert not any("grown" in c for c in caps if "dcgan digits" in c)  # a run that does not grow says nothing
    thumb = page.locator('input[type="range"][aria-label="Step"]')
    thumb.focus()
    thumb.press("ArrowLeft")  # step 10: 20 steps in 5 phases of 4, so the 4 x 4 level is stable by then
    caps = _wait_captions(page, "t.some(x => x.includes(' — step 10'))")
    assert any("— step 10 · grown to 4 × 4, shown at 8 × 8" in c for c in caps), caps
    page.screenshot(path=str(tmp_path / "gallery-progan-step10.png"))
    thumb.press("Home")
    caps = _wait_captions(page, "t.some(x => x.includes(' — step 0'))")
    assert any("— step 0 · grown to 2 × 2, shown at 8 × 8" in c for c in caps), caps
    no_traceback(page)


def test_the_sampling_view_truncates_each_runs_checkpoint_and_mixes_stylegans_styles(server, page, tmp_path):
    url, runs = server
    page.goto(f"{url}/gallery?runs={runs['stylegan']},{runs['dcgan']}")
    page.get_by_role("radio", name="Sampling").click()
    caps = _wait_captions(page, "t.some(x => x.includes('style mixing: each cell'))")
    _pictures(page, 3)  # each run's samples, and the StyleGAN's style-mixing grid
    assert page.get_by_role("slider", name="Truncation threshold t").count() == 1  # both runs take it: one slider
    assert page.get_by_role("slider", name="ψ (StyleGAN)").count() == 1
    heads = [c for c in caps if "final.pt at step 20" in c]
    assert len(heads) == 2 and all("Truncation threshold t 0" in c for c in heads)
    assert [c for c in heads if "ψ" in c] == [c for c in heads if "stylegan digits" in c]  # only where it applies
    assert any("layers 1-2 of 6" in c for c in caps)
    page.screenshot(path=str(tmp_path / "gallery-sampling.png"))

    before = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    t = page.get_by_role("slider", name="Truncation threshold t")
    t.focus()
    t.press("ArrowRight")  # t = 0.05: the samples squeezed towards the latent's middle
    caps = _wait_captions(page, "t.filter(x => x.includes('Truncation threshold t 0.05')).length === 2")
    _pictures(page, 3)
    assert page.locator('[data-testid="stImage"] img').first.get_attribute("src") != before  # resampled
    crossover = page.get_by_role("slider", name="Styles from the left column: layers 1 to")
    crossover.focus()
    crossover.press("End")
    caps = _wait_captions(page, "t.some(x => x.includes('layers 1-5 of 6'))")
    _pictures(page, 3)
    page.screenshot(path=str(tmp_path / "gallery-sampling-truncated.png"))
    no_traceback(page)
