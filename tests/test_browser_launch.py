"""The Launch page in a real browser, as a new user meets it: what the form shows as invalid cannot launch, errors
speak the form's words under the box they came from, and what is launched is exactly what the form shows.

Starts `streamlit run dashboard/app.py` on a free port against an empty temp store, drives Debian's chromium
through Playwright, and checks the store after every attempt. Runs that are launched are tiny and real (the local
launcher's scheduler trains them); whatever they started is killed at teardown. Screenshots under tmp_path.
"""

from __future__ import annotations

import time

import pytest
from support import dashboard_on, idle, needs_chromium, no_traceback, open_browser, wait_for

pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One dashboard for the module on an empty store; its log must stay free of warnings and tracebacks."""
    tmp = tmp_path_factory.mktemp("launch")
    (tmp / "store").mkdir()
    uri = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    with dashboard_on(tmp, uri, GANBOARD_MAX_PARALLEL="1", GANBOARD_LAUNCHER="local") as url:
        yield url, uri


@pytest.fixture
def launch_page(server):
    """The Launch page in a new browser session (a fresh form)."""
    from playwright.sync_api import expect, sync_playwright

    url, uri = server
    with sync_playwright() as pw:
        browser, page = open_browser(pw, 1400, 1100)
        page.goto(f"{url}/launch")
        idle(page)
        expect(page.get_by_role("heading", name="Launch")).to_be_visible()
        yield page, uri
        browser.close()


def _runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(exps)) if exps else []


def _type(page, label: str, value: str, enter: bool = True) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    if enter:
        box.press("Enter")
        idle(page)


def _errors(page) -> list[str]:
    return [e.inner_text() for e in page.locator('[data-testid="stAlertContentError"]').all()]


def _error_under(page, label: str) -> str:
    """The text of the error drawn right under the box labelled `label` (within its column), or ''."""
    box = page.get_by_label(label, exact=True).bounding_box()
    for alert in page.locator('[data-testid="stAlertContentError"]').all():
        b = alert.bounding_box()
        if b and 0 <= b["y"] - (box["y"] + box["height"]) < 80 and b["x"] < box["x"] + box["width"] \
                and box["x"] < b["x"] + b["width"]:
            return alert.inner_text()
    return ""


def _error_under_soon(page, label: str, expected: str, timeout_s: float = 30) -> str:
    """_error_under once it starts with `expected`, or what it is after timeout_s: a loaded machine may begin the
    rerun after idle()'s first look, so one look can come before the error is drawn."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = _error_under(page, label)
        if text.startswith(expected) or time.monotonic() > deadline:
            return text
        page.wait_for_timeout(250)


def _launch_button(page):
    return page.get_by_role("button", name="Launch", exact=False).and_(page.locator('[data-testid^="stBaseButton"]'))


def test_the_form_opens_on_a_first_sweep_that_finishes_quickly(launch_page, tmp_path):
    from playwright.sync_api import expect

    page, _ = launch_page
    from engine.launch import expand
    from engine.presets import FIRST_SWEEP

    planned = expand(FIRST_SWEEP["preset"], {}, FIRST_SWEEP["sweep"], FIRST_SWEEP["seeds"])
    expect(page.get_by_text("A first sweep to start from")).to_be_visible()
    expect(page.get_by_role("button", name=f"Launch {len(planned)} runs")).to_be_enabled()
    page.screenshot(path=str(tmp_path / "launch-first-visit.png"), full_page=True)
    no_traceback(page)


def test_out_of_range_numbers_disable_launch_and_launch_nothing(launch_page, tmp_path):
    from playwright.sync_api import expect

    page, uri = launch_page
    before = len(_runs(uri))
    page.get_by_role("tab", name="Optimisation").click()
    # -5 steps, Enter: the error under the box, in the summary, and Launch off (bug: it launched steps=10000)
    _type(page, "steps", "-5")
    assert _error_under_soon(page, "steps", "steps: -5 is out of range, allowed 1 to").startswith(
        "steps: -5 is out of range, allowed 1 to")
    expect(_launch_button(page)).to_be_disabled()
    page.screenshot(path=str(tmp_path / "launch-steps-out-of-range.png"), full_page=True)
    # typed and then straight to the button, without Enter: the click leaves the box, nothing is launched
    _type(page, "steps", "200")
    expect(_launch_button(page)).to_be_enabled()
    _type(page, "steps", "-7", enter=False)
    _launch_button(page).click()
    idle(page)
    assert _error_under_soon(page, "steps", "steps: -7 is out of range").startswith("steps: -7 is out of range")
    assert len(_runs(uri)) == before
    _type(page, "steps", "200")
    # too many seeds (bug: 100000 was sent as the last accepted value)
    _type(page, "Seeds per combination", "100000")
    too_many = "Seeds per combination: 100000 is out of range, allowed 1 to 100"
    assert _error_under_soon(page, "Seeds per combination", too_many) == too_many
    expect(_launch_button(page)).to_be_disabled()
    assert len(_runs(uri)) == before
    no_traceback(page)


def test_sweep_errors_speak_the_forms_words_under_their_own_box(launch_page, tmp_path):
    page, uri = launch_page
    before = len(_runs(uri))
    _type(page, "Seeds per combination", "1")
    cases = {"dataset=cifar10": "More axes: dataset: 'cifar10' is not allowed, use one of",
             "lr_d=1e-4;lr_d=2e-4": "More axes: lr_d is given twice",
             "seed=0,0": "More axes: seed lists 0 twice",
             "loss=ns": "More axes: loss is already swept in Losses",
             "lr_d": "More axes: expected field=value"}
    for typed, expected in cases.items():
        _type(page, "More axes", typed)
        assert _error_under_soon(page, "More axes", expected).startswith(expected), (typed, _errors(page))
        assert not any("--" in e for e in _errors(page)), _errors(page)  # no CLI flags in the browser
        assert _launch_button(page).is_disabled()
    # the data set error stays under More axes, not under the Data tab's dataset field (bug)
    _type(page, "More axes", "dataset=cifar10")
    page.get_by_role("tab", name="Data").click()
    assert _error_under(page, "dataset") == ""
    page.screenshot(path=str(tmp_path / "launch-more-axes-error.png"), full_page=True)
    # a seed sweep with more than one seed per combination is one contradiction, said under the seeds box
    _type(page, "More axes", "seed=10,11")
    _type(page, "Seeds per combination", "2")
    both = "Seeds per combination: 2 seeds per combination and a sweep over seed (10, 11)"
    assert _error_under_soon(page, "Seeds per combination", both).startswith(both)
    assert len(_runs(uri)) == before
    no_traceback(page)


def test_what_is_launched_is_exactly_what_the_form_shows(launch_page, tmp_path):
    from playwright.sync_api import expect

    page, uri = launch_page
    before = {r.info.run_id for r in _runs(uri)}
    _type(page, "Seeds per combination", "1")
    page.get_by_role("tab", name="Optimisation").click()
    _type(page, "steps", "40")
    _type(page, "batch_size", "64")
    page.get_by_role("tab", name="Logging").click()
    _type(page, "eval_every", "20")
    _type(page, "eval_samples", "200")
    _type(page, "grid_size", "16")
    _type(page, "More axes", "seed=10,11")  # the seeds the user asked for (bug: every run trained with seed 0)
    button = page.get_by_role("button", name="Launch 6 runs")  # 3 losses of the first sweep x 2 seeds
    expect(button).to_be_enabled()
    page.screenshot(path=str(tmp_path / "launch-valid.png"), full_page=True)
    button.click()
    expect(page.get_by_text("Queued 6 runs.")).to_be_visible()
    runs = wait_for(lambda: [r for r in _runs(uri) if r.info.run_id not in before] or None, 30, "the queued runs")
    assert len(runs) == 6
    got = sorted((r.data.params["loss"], int(r.data.params["seed"])) for r in runs)
    assert got == sorted((loss, seed) for loss in ("ns", "hinge", "lsgan") for seed in (10, 11))
    assert {r.data.params["steps"] for r in runs} == {"40"} and {r.data.params["lr_d"] for r in runs} == {"0.001"}
    assert sorted(r.info.run_name for r in runs) == sorted(f"quickstart loss={loss} s{seed}"
                                                           for loss in ("ns", "hinge", "lsgan") for seed in (10, 11))
    no_traceback(page)
