"""Image runs in a real browser, as a user meets them: the Gallery's grids under the one step slider (a grid-size
control, the nearest real images on request, the filmstrip, the class shares), the Artifacts page's previews of a
snapshot's PNG and arrays and sampling from an image checkpoint, and the Launch form's fields for an image preset.

Trains two tiny DCGANs on scikit-learn's digits and one points run into a temp store (the digits classifier comes
from the session's GANBOARD_CACHE, tests/conftest.py), starts `streamlit run dashboard/app.py` on a free port and
drives Debian's chromium through Playwright. Screenshots under the test's tmp_path; the server's log must stay
free of warnings and tracebacks.
"""

from __future__ import annotations

import re

import pytest
from support import (dashboard_on, idle, needs_chromium, no_traceback, open_browser, store_env, train_tracked,
                     wait_for)

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium

DIGITS = {"dataset": "digits", "steps": 20, "eval_every": 10, "batch_size": 32, "log_every": 5}
POINTS = {"steps": 20, "eval_every": 10, "batch_size": 64, "eval_samples": 300, "grid_size": 16}
CAPTIONS_JS = """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                       .map(e => e.innerText)"""
# every picture on the page has arrived and decoded (a broken PNG has naturalWidth 0)
IMAGES_JS = """() => [...document.querySelectorAll('[data-testid="stImage"] img, [data-testid="stFullScreenFrame"] img')]
                     .map(i => i.complete ? i.naturalWidth : -1)"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("images")
    (tmp / "store").mkdir()
    with store_env(tmp / "store") as uri:
        runs = [train_tracked("dcgan", "dcgan digits", {**DIGITS, "seed": 0}),
                train_tracked("dcgan-sngan", "sngan digits", {**DIGITS, "seed": 1}),
                train_tracked("ns", "ns ring", {**POINTS, "seed": 2})]
    with dashboard_on(tmp, uri, GANBOARD_MAX_PARALLEL="1", GANBOARD_LAUNCHER="local") as url:
        yield url, uri, runs


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser, page = open_browser(pw, 1500, 2400)
        yield page
        browser.close()


def _open(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for()
    idle(page)


def _captions(page) -> list[str]:
    return page.evaluate(CAPTIONS_JS)


def _wait_captions(page, predicate: str) -> None:
    """Wait until the page's captions satisfy a JS predicate over the list `t`."""
    page.wait_for_function(f"() => {{ const t = ({CAPTIONS_JS})(); return {predicate}; }}", timeout=90_000)


def _pictures(page, count: int | None = None) -> list[int]:
    """The widths of the decoded pictures on the page, once all have arrived (and there are `count` of them: the
    last page's may linger a moment after a rerun)."""
    enough = "true" if count is None else f"w.filter(x => x > 0).length === {count}"
    page.wait_for_function(f"() => {{ const w = ({IMAGES_JS})(); return w.every(x => x >= 0) && {enough}; }}",
                           timeout=60_000)
    return [w for w in page.evaluate(IMAGES_JS) if w > 0]


def _choose(page, label: str, option: str, exact: bool = True) -> None:
    """Pick `option` in the selectbox labelled `label` (the option whose words start with it, unless exact)."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.locator("input").click()
    box.locator("input").fill(option)  # typing filters the list, which only draws the options in view
    options = page.get_by_role("option")
    if exact:
        options.filter(has_text=re.compile(f"^{re.escape(option)}$")).click()
    else:
        options.filter(has_text=re.compile(f"^{re.escape(option)}")).first.click()
    idle(page)


def test_gallery_shows_image_grids_under_the_one_slider_beside_a_points_run(server, page, tmp_path):
    url, _, runs = server
    page.goto(f"{url}/gallery?runs={','.join(runs)}")
    _wait_captions(page, "t.filter(x => x.includes('64 samples at fixed latents')).length === 2")
    idle(page)
    no_traceback(page)
    caps = _captions(page)
    heads = [c for c in caps if " — step " in c]
    assert len(heads) == 3 and all(" — step 20" in h for h in heads)  # the two image panels and the ring's
    pictures = _pictures(page, 2)
    # an 8 x 8 grid of 8 x 8 digits with 1-pixel gaps, blown up by whole pixels: a multiple of the tiled width
    tiled = 8 * (8 + 1) + 1
    assert all(w % tiled == 0 for w in pictures), pictures
    page.screenshot(path=str(tmp_path / "gallery-images-step20.png"))

    _choose(page, "Images a side", "4")  # the grid's size
    _wait_captions(page, "t.filter(x => x.includes('16 samples at fixed latents')).length === 2")
    thumb = page.locator('input[type="range"][aria-label="Step"]')
    thumb.focus()
    thumb.press("Home")  # every panel, image and points alike, moves to step 0
    _wait_captions(page, "t.filter(x => x.includes(' — step 0')).length === 3")
    no_traceback(page)

    page.get_by_text("Nearest real images").click()
    _wait_captions(page, "t.filter(x => x.includes('the nearest training image to each')).length === 2")
    idle(page)
    pairs = [c for c in _captions(page) if "nearest training image" in c]
    assert all(len(c.split("L2 in pixels ")[1].split(", ")) == 8 for c in pairs)  # a distance for each sample
    _pictures(page, 4)
    page.screenshot(path=str(tmp_path / "gallery-images-nearest.png"))
    no_traceback(page)

    page.get_by_role("radio", name="Filmstrip").click()  # rows are runs, columns steps 0, 10, 20
    _wait_captions(page, "t.filter(x => /^step (0|10|20)$/.test(x.trim())).length === 6")
    idle(page)
    _pictures(page, 6)
    page.screenshot(path=str(tmp_path / "gallery-images-filmstrip.png"))
    no_traceback(page)

    page.get_by_role("radio", name="Theory").click()
    _choose(page, "Run", f"dcgan digits · {runs[0][:6]}")
    page.get_by_text("Share of samples per class over training").wait_for()
    idle(page)
    titles = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                                       .map(p => (p.data || []).map(t => t.type).join(','))""")
    assert any("heatmap" in t for t in titles), titles
    no_traceback(page)


def test_artifacts_preview_an_image_snapshot_and_sample_an_image_checkpoint(server, page, tmp_path):
    url, _, runs = server
    _open(page, f"{url}/artifacts?run={runs[0]}", "Artifacts")
    _choose(page, "Preview", "samples/step_0000020.png", exact=False)
    page.get_by_role("heading", name="samples/step_0000020.png").wait_for()
    idle(page)
    from engine.evaluation.images import picture_scale

    # the PNG the loop logged, as it is: an 8 x 8 grid of 8 x 8 digits with 1-pixel gaps, blown up by whole pixels
    assert _pictures(page, 1) == [(8 * (8 + 1) + 1) * picture_scale((1, 8, 8))]

    _choose(page, "Preview", "samples/step_0000020.npz", exact=False)
    _wait_captions(page, "t.some(x => x.includes(\"64 of the 64 images of 'x' at step 20\"))")
    idle(page)
    page.screenshot(path=str(tmp_path / "artifacts-image-npz.png"))
    _pictures(page, 1)
    no_traceback(page)

    _choose(page, "Preview", "checkpoints/final.pt", exact=False)
    page.get_by_text("Sample this checkpoint").wait_for()
    assert page.get_by_role("switch", name="∇D arrows (autograd)").is_disabled()  # images have no plane for D's gradient
    page.get_by_role("button", name="Sample").click()
    _wait_captions(page, "t.some(x => x.includes('64 of 64 samples of G at step 20 from latents drawn with seed 0'))")
    idle(page)
    _pictures(page, 1)
    page.screenshot(path=str(tmp_path / "artifacts-image-checkpoint.png"))
    no_traceback(page)


def test_launch_form_shows_an_image_presets_fields_and_launches_what_it_shows(server, page, tmp_path):
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    from engine.presets import PRESETS

    url, uri, runs = server
    _open(page, f"{url}/launch", "Launch")
    _choose(page, "Preset", f"dcgan — {PRESETS['dcgan']['doc']}")
    _choose(page, "dataset", "digits")
    page.get_by_role("tab", name="Generator").click()
    expect(page.get_by_label("conv_stages", exact=True)).to_be_visible()
    expect(page.get_by_label("g_channels", exact=True)).to_be_visible()
    assert page.get_by_label("g_width", exact=True).count() == 0  # the MLP's widths mean nothing for a DCGAN
    page.get_by_label("Seeds per combination", exact=True).fill("1")
    page.get_by_label("Seeds per combination", exact=True).press("Enter")
    idle(page)
    page.get_by_role("tab", name="Optimisation").click()
    for label, value in (("steps", "4"), ("batch_size", "16")):
        page.get_by_label(label, exact=True).fill(value)
        page.get_by_label(label, exact=True).press("Enter")
        idle(page)
    page.screenshot(path=str(tmp_path / "launch-dcgan.png"), full_page=True)
    button = page.get_by_role("button", name="Launch 1 run")
    expect(button).to_be_enabled()
    button.click()
    expect(page.get_by_text("Queued 1 run.")).to_be_visible()
    client = MlflowClient(tracking_uri=uri)
    exps = [e.experiment_id for e in client.search_experiments()]

    def finished():
        new = [r for r in client.search_runs(exps) if r.info.run_id not in runs]
        return new if new and new[0].info.status == "FINISHED" else None

    (run,) = wait_for(finished, 240, "the launched image run to finish")
    p = run.data.params
    assert (p["dataset"], p["arch"], p["steps"], p["batch_size"], p["loss"]) == ("digits", "dcgan", "4", "16", "ns")
    assert run.data.tags["ganboard.preset"] == "dcgan"
    no_traceback(page)
