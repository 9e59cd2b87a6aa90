"""Team sign-in end to end: a real OpenID Connect provider, the dashboard set up as the README tells a team, Chromium.

The provider is oidc-provider-mock (a real OIDC server: discovery, authorization code flow, tokens, userinfo) on a
loopback port, started here; its sign-in form takes the subject, which it also gives as the e-mail claim. The
dashboard reads `~/.streamlit/secrets.toml` (README "Team deployment", step 7: `[auth]` and `[ganboard]
operators`), nothing patched; the store is a temp SQLite one with one run in it. In the browser:
- a signed-out visitor sees only the sign-in, on every page's URL;
- an operator listed by e-mail signs in, sees Launch, launches a run and stops it, and signs out;
- an operator admitted by `@domain` sees Launch; a viewer sees no Launch page and no stop, relaunch or delete;
- a session cookie signed with another secret, or signed with the right one 40 days ago, signs nobody in (and the
  same cookie signed now does: the control that the forged ones are built right);
- a cross-site upload without the page's XSRF token is refused (and one with it is not refused for that reason);
- an `[auth]` section without its cookie_secret stops the Procfile's web process at start, and `streamlit run` at
  its first page, with one line naming the key.
The server's log holds no warning, error or traceback (but that one line where it is the point).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from support import (REPO, clear_multiselect, click_table_row, free_port, idle, needs_chromium, no_traceback,
                     open_browser, procfile, server_log_problems, store_env, streamlit_server, wait_for)

pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.skipif(importlib.util.find_spec("oidc_provider_mock") is None,
                                                reason="needs oidc-provider-mock (requirements.txt)")]

OPERATORS = ["ada@example.com", "@ops.example.com"]
USER_COOKIE = "_streamlit_user"  # Streamlit's signed session cookie (its name is the signature's salt)


def _up(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """The identity provider: oidc-provider-mock on a free loopback port."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("idp") / "idp.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(f"{url}/.well-known/openid-configuration"), 60, "the identity provider")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def auth_toml(idp_url: str, app_port: int, cookie_secret: str | None) -> str:
    """The secrets a team writes (README, "Team deployment", step 7), for this provider and this app's URL."""
    lines = ["[auth]", f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"']
    if cookie_secret is not None:
        lines.append(f'cookie_secret = "{cookie_secret}"')
    lines += ['client_id = "ganboard"', 'client_secret = "from the identity provider"',
              f'server_metadata_url = "{idp_url}/.well-known/openid-configuration"', "",
              "[ganboard]", f"operators = {json.dumps(OPERATORS)}"]
    return "\n".join(lines) + "\n"


def start(tmp: Path, idp_url: str, cookie_secret: str | None):
    """A dashboard whose user has `~/.streamlit/secrets.toml`; a context manager yielding its facts."""
    home, store = tmp / "home", tmp / "store"
    (home / ".streamlit").mkdir(parents=True)
    store.mkdir()
    port = free_port()
    (home / ".streamlit" / "secrets.toml").write_text(auth_toml(idp_url, port, cookie_secret))
    uri = f"sqlite:///{store / 'mlflow.db'}"
    with store_env(store):
        from engine import tracking
        from engine.config import build_config

        tracking.set_status(tracking.create_run(build_config("ns", {"steps": 100}).to_dict(), run_name="seen-run"),
                            tracking.FINISHED)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GANBOARD_"))}, "HOME": str(home),
           "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO), "GANBOARD_MAX_PARALLEL": "1"}
    return streamlit_server(tmp, env, port), SimpleNamespace(uri=uri, secret=cookie_secret, log=tmp / "streamlit.log",
                                                             env=env)


@pytest.fixture(scope="module")
def app(idp, tmp_path_factory):
    """A dashboard with sign-in on; its log is checked when the module's tests are done."""
    server, facts = start(tmp_path_factory.mktemp("signin"), idp, secrets.token_urlsafe(32))
    with server as url:
        facts.url = url
        yield facts
    assert server_log_problems(facts.log) == []


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b, page = open_browser(pw)
        page.close()
        yield b
        b.close()


def new_page(browser, cookies: list[dict] | None = None):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    if cookies:
        context.add_cookies(cookies)
    return context.new_page()


def sign_in(page, app, sub: str) -> None:
    """Through the provider's own sign-in form, as a person does; done when the sidebar names them."""
    from playwright.sync_api import expect

    page.goto(f"{app.url}/runs")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/oauth2/authorize**")
    page.fill("input[name=sub]", sub)
    page.get_by_role("button", name="Authorize").click()
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(f"{sub} · ")
    idle(page)


def signed_out(page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text("Sign in to see the runs.")).to_be_visible()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    idle(page)
    body = page.locator("body").inner_text()
    assert "seen-run" not in body and "Runs" not in body.replace("Sign in to see the runs.", "")
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no page is offered


def nav(page) -> list[str]:
    """The page names in the sidebar's navigation (each link's last line: the first is its icon's name)."""
    return [t.strip().splitlines()[-1].strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


# ----------------------------------------------------------------------------------------------- the tests
def test_a_signed_out_visitor_sees_only_the_sign_in_on_every_page(app, browser):
    page = new_page(browser)
    for path in ("/", "/runs", "/compare?runs=x", "/gallery", "/artifacts", "/launch"):
        page.goto(app.url + path)
        signed_out(page)
    page.screenshot(path=str(app.log.parent / "signed-out.png"))
    no_traceback(page)


def test_an_operator_by_e_mail_launches_and_stops_a_run_then_signs_out(app, browser):
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    page = new_page(browser)
    sign_in(page, app, "ada@example.com")
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("ada@example.com · operator")
    assert nav(page)[:2] == ["Launch", "Runs"]
    # launch one long, small run (not the first sweep the page opens on)
    page.get_by_role("link", name="Launch").click()
    idle(page)
    clear_multiselect(page, "Losses", 3)  # the first sweep's three losses
    for tab, label, value in (("Data", "Seeds per combination", 1), ("Optimisation", "steps", 1_000_000),
                              ("Optimisation", "batch_size", 64)):
        if tab != "Data":
            page.get_by_role("tab", name=tab).click()
        box = page.get_by_label(label, exact=True)
        box.fill(str(value))
        box.press("Enter")
        idle(page)
    page.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_text("Queued 1 run.")).to_be_visible()
    client = MlflowClient(tracking_uri=app.uri)
    launched = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
                if r.info.run_name != "seen-run"]
    assert len(launched) == 1 and launched[0].data.params["steps"] == "1000000"
    # ... and stop it from the Runs page, where it is the newest run
    click_table_row(page, 0)
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("Asked 1 run(s) to stop.")).to_be_visible()
    wait_for(lambda: client.get_run(launched[0].info.run_id).info.status == "KILLED", 120, "the run to stop")
    page.screenshot(path=str(app.log.parent / "operator-stopped.png"))
    no_traceback(page)
    # signing out ends the session, in this tab and in the browser's cookies (the provider asks to end its own
    # session too, as OpenID Connect's RP-initiated logout does, then sends the browser back)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    signed_out(page)
    assert USER_COOKIE not in {c["name"] for c in page.context.cookies()}
    page.reload()
    signed_out(page)


def test_an_operator_by_domain_gets_launch_and_a_viewer_gets_no_writes(app, browser):
    from playwright.sync_api import expect

    page = new_page(browser)
    sign_in(page, app, "bob@ops.example.com")  # admitted by "@ops.example.com"
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("bob@ops.example.com · operator")
    assert "Launch" in nav(page)

    page = new_page(browser)
    sign_in(page, app, "eve@elsewhere.org")
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("eve@elsewhere.org · viewer")
    assert "Launch" not in nav(page) and "Runs" in nav(page)
    click_table_row(page, 0)  # a run picked: what an operator could now stop, relaunch or delete
    expect(page.get_by_role("button", name="Compare 1 selected")).to_be_enabled()
    for action in ("Stop", "Relaunch", "Delete", "Restore"):
        assert page.get_by_role("button", name=action, exact=True).count() == 0, action
    page.goto(f"{app.url}/launch")  # the page is not there for a viewer, even by its URL
    idle(page)
    assert page.get_by_role("heading", name="Launch").count() == 0 and "Runs to start" not in page.locator(
        "body").inner_text()
    page.screenshot(path=str(app.log.parent / "viewer.png"))
    no_traceback(page)


def test_a_forged_or_expired_session_cookie_signs_nobody_in(app, browser):
    from itsdangerous import URLSafeTimedSerializer

    page = new_page(browser)
    sign_in(page, app, "ada@example.com")
    real = next(c for c in page.context.cookies() if c["name"] == USER_COOKIE)
    payload = URLSafeTimedSerializer(app.secret, salt=USER_COOKIE).loads(real["value"])
    assert json.loads(payload)["email"] == "ada@example.com"

    def with_cookie(value: str):
        return new_page(browser, [{**{k: real[k] for k in ("name", "domain", "path")}, "value": value}])

    # the control: the same session signed now with the app's secret is a signed-in visit
    control = with_cookie(URLSafeTimedSerializer(app.secret, salt=USER_COOKIE).dumps(payload))
    control.goto(f"{app.url}/runs")
    control.get_by_text("ada@example.com · operator").wait_for()
    # signed with another secret ...
    forged = with_cookie(URLSafeTimedSerializer(secrets.token_urlsafe(32), salt=USER_COOKIE).dumps(payload))
    forged.goto(f"{app.url}/runs")
    signed_out(forged)
    # ... or with the app's secret 40 days ago (Streamlit keeps a session 30 days)
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - 40 * 86_400):
        old = URLSafeTimedSerializer(app.secret, salt=USER_COOKIE).dumps(payload)
    expired = with_cookie(old)
    expired.goto(f"{app.url}/runs")
    signed_out(expired)


def test_a_cross_site_upload_without_the_pages_xsrf_token_is_refused(app, browser):
    """Streamlit's XSRF protection stays on with sign-in: a state-changing request from another site (no token, or
    a token that is not the page's) is refused; the page's own token gets past that check."""
    import requests

    page = new_page(browser)
    sign_in(page, app, "ada@example.com")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    target = f"{app.url}/_stcore/upload_file/not-a-session/f1"
    files = {"file": ("evil.txt", b"from another site", "text/plain")}
    cross_site = {"Origin": "http://evil.example", "Referer": "http://evil.example/form.html"}
    refused = requests.put(target, files=files, headers=cross_site, cookies=cookies, timeout=30)
    assert refused.status_code == 403 and "XSRF" in refused.text
    wrong = requests.put(target, files=files, headers={**cross_site, "X-Xsrftoken": "2|00|00|0"}, cookies=cookies,
                         timeout=30)
    assert wrong.status_code == 403
    own = requests.put(target, files=files, headers={"X-Xsrftoken": cookies["_streamlit_xsrf"]}, cookies=cookies,
                       timeout=30)
    assert own.status_code == 400 and "session" in own.text.lower()  # past the XSRF check: a bad session id


def test_an_auth_section_without_its_cookie_secret_stops_at_start_in_one_line(idp, browser, tmp_path):
    server, facts = start(tmp_path, idp, cookie_secret=None)
    line = "Sign-in is not set up: .streamlit/secrets.toml [auth] lacks cookie_secret (a long random string that signs " \
           "the session cookie)."
    # the Procfile's web process (README, Team deployment) does not start: one line, exit 2, in seconds
    web = subprocess.run(["/bin/sh", "-c", procfile()["web"]], cwd=REPO, env={**facts.env, "PORT": str(free_port())},
                         capture_output=True, text=True, timeout=60)
    assert (web.returncode, web.stdout, web.stderr) == (2, "", f"ganboard: {line}\n")
    # `streamlit run` itself (the README's run command) serves the line on every page instead of a sign-in
    with server as url:
        page = new_page(browser)
        page.goto(f"{url}/runs")
        alert = page.locator('[data-testid="stAlert"]')
        alert.first.wait_for()
        idle(page)
        assert alert.count() == 1 and "lacks cookie_secret" in alert.inner_text()
        assert page.get_by_role("button", name="Log in").count() == 0 and "seen-run" not in page.locator(
            "body").inner_text()
        no_traceback(page)
        page.reload()  # a second visit: the same line on the page, not a second one in the log
        page.locator('[data-testid="stAlert"]').first.wait_for()
    lines = facts.log.read_text().splitlines()
    assert [ln for ln in lines if "cookie_secret" in ln] == [f"ganboard: {line}"]
    assert server_log_problems(facts.log) == []  # one line: no traceback, no warning
