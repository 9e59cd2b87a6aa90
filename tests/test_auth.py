"""Viewers and operators (dashboard/auth.py) and the read-only deployment, without a browser.

The rules are plain functions of (env, secrets, user); the gate is run in Streamlit's AppTest with the secrets and
the signed-in user it would get from `.streamlit/secrets.toml` and the identity provider.
"""

from __future__ import annotations

import fcntl

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "a long random s3cret",
        "client_id": "ganboard", "client_secret": "x", "server_metadata_url":
        "https://idp.example.com/.well-known/openid-configuration"}
SIGNED_IN = {"is_logged_in": True, "email": "Ada@Example.com", "name": "Ada"}
SIGNED_OUT = {"is_logged_in": False}


def secrets(operators=None, auth_section=AUTH):
    out = {}
    if auth_section is not None:
        out["auth"] = auth_section
    if operators is not None:
        out["ganboard"] = {"operators": operators}
    return out


# ------------------------------------------------------------------------------------------- the rules
def test_without_sign_in_the_app_is_open_unless_read_only():
    assert not auth.auth_configured({})
    assert auth.can_operate(env={}, secrets={}, user={})
    assert auth.role(env={}, secrets={}, user={}) == "operator"
    assert auth.why_not(env={}, secrets={}, user={}) == ""
    auth.check_operator(env={}, secrets={}, user={})  # no error
    for word in ("1", "true", "YES", "on"):
        assert not auth.can_operate(env={"GANBOARD_READONLY": word}, secrets={}, user={})
    for word in ("", "0", "false", "no"):
        assert auth.can_operate(env={"GANBOARD_READONLY": word}, secrets={}, user={})
    assert not auth.auth_configured({"auth": {}})  # an empty [auth] section configures nothing


def test_with_sign_in_only_listed_operators_may_operate():
    s = secrets(operators=["ada@example.com", "bob@example.com"])
    assert auth.auth_configured(s)
    assert auth.can_operate(env={}, secrets=s, user=SIGNED_IN)  # case-insensitive e-mail match
    assert not auth.can_operate(env={}, secrets=s, user={**SIGNED_IN, "email": "eve@example.com"})
    assert not auth.can_operate(env={}, secrets=s, user=SIGNED_OUT)
    assert not auth.can_operate(env={}, secrets=s, user={"email": "ada@example.com"})  # claims without a session
    assert not auth.can_operate(env={}, secrets=s, user={**SIGNED_IN, "email": ""})
    # no operators listed: everyone signed in is a viewer
    assert not auth.can_operate(env={}, secrets=secrets(), user=SIGNED_IN)


def test_operators_come_from_the_environment_and_the_secrets():
    env = {"GANBOARD_OPERATORS": " carol@example.com , DAVE@example.org,,"}
    s = secrets(operators="ada@example.com; bob@example.com")
    assert auth.operators(env, s) == {"carol@example.com", "dave@example.org", "ada@example.com", "bob@example.com"}
    assert auth.operators({}, {}) == frozenset()
    assert auth.can_operate(env=env, secrets=secrets(), user={**SIGNED_IN, "email": "dave@EXAMPLE.org"})
    assert auth.operators({}, {"ganboard": {"operators": ["a@x.io", "b@x.io"]}}) == {"a@x.io", "b@x.io"}


def test_domain_and_wildcard_entries():
    ops = frozenset({"@example.com"})
    assert auth.is_operator("ada@example.com", ops)
    assert not auth.is_operator("ada@example.com.evil.io", ops)
    assert not auth.is_operator("ada@sub.example.com", ops)
    assert auth.is_operator("anyone@anywhere.io", frozenset({"*"}))
    assert not auth.is_operator(None, frozenset({"*"}))  # '*' is every signed-in user, not anonymous visitors


def test_read_only_beats_the_operator_list():
    s = secrets(operators=["ada@example.com"])
    env = {"GANBOARD_READONLY": "1"}
    assert not auth.can_operate(env=env, secrets=s, user=SIGNED_IN)
    with pytest.raises(auth.NotOperatorError, match="read-only"):
        auth.check_operator(env=env, secrets=s, user=SIGNED_IN)


def test_viewers_get_one_line_saying_why():
    s = secrets(operators=["bob@example.com"])
    with pytest.raises(auth.NotOperatorError) as err:
        auth.check_operator(env={}, secrets=s, user=SIGNED_IN)
    msg = str(err.value)
    assert "\n" not in msg and "Ada@Example.com" in msg and "GANBOARD_OPERATORS" in msg
    assert auth.why_not(env={}, secrets=s, user=SIGNED_OUT) == "Sign in to launch, stop or delete runs."
    assert auth.describe(env={}, secrets=s, user=SIGNED_IN) == "Ada@Example.com · viewer"
    assert auth.describe(env={}, secrets={}, user={}) == "Open access (no sign-in configured)"
    assert auth.describe(env={"GANBOARD_READONLY": "1"}, secrets={}, user={}) == "Read-only"


def test_providers_for_the_login_buttons():
    assert auth.providers(secrets()) == [None]
    named = {"redirect_uri": "r", "cookie_secret": "c", "google": {"client_id": "g"}, "okta": {"client_id": "o"}}
    assert auth.providers({"auth": named}) == ["google", "okta"]


def test_the_live_defaults_read_streamlit_outside_a_run(monkeypatch):
    # Outside `streamlit run` (and without a secrets.toml here) nothing is configured and nobody is signed in.
    monkeypatch.chdir("/")
    monkeypatch.delenv("GANBOARD_READONLY", raising=False)
    assert auth.current_user_email() is None
    assert auth.can_operate(secrets={}) is True


# ------------------------------------------------------------------------------------------- the gate
def _app():
    import streamlit as st

    from dashboard import auth as gatekeeper

    gatekeeper.gate()
    st.write("the runs")
    st.write("role: " + gatekeeper.role())


def run_app(secrets_=None, user=None) -> AppTest:
    at = AppTest.from_function(_app, default_timeout=60)
    for key, value in (secrets_ or {}).items():
        at.secrets[key] = value
    if user is not None:
        at.user = user
    return at.run()


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_gate_is_open_without_auth(monkeypatch):
    monkeypatch.delenv("GANBOARD_READONLY", raising=False)
    at = run_app()
    assert not at.exception
    assert "the runs" in markdown(at) and "role: operator" in markdown(at)
    assert not [b for b in at.button if b.label.startswith("Log in")]


def test_gate_shows_only_a_login_button_to_a_signed_out_visitor():
    at = run_app(secrets(operators=["ada@example.com"]), SIGNED_OUT)
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert "the runs" not in markdown(at)  # the app stopped at the gate


def test_gate_offers_every_named_provider():
    idp = {"client_secret": "x", "server_metadata_url": "https://idp/.well-known/openid-configuration"}
    named = {"redirect_uri": "r", "cookie_secret": "a long random s3cret", "google": {"client_id": "g", **idp},
             "okta": {"client_id": "o", **idp}}
    at = run_app({"auth": named}, SIGNED_OUT)
    assert [b.label for b in at.button] == ["Log in with google", "Log in with okta"]
    assert "the runs" not in markdown(at)


@pytest.mark.parametrize("broken, named", [
    ({"cookie_secret": None}, "lacks cookie_secret"), ({"redirect_uri": ""}, "lacks redirect_uri"),
    ({"client_secret": None}, "lacks client_secret"), ({"server_metadata_url": None}, "lacks server_metadata_url"),
    ({"cookie_secret": "short"}, "cookie_secret is 5 characters"),
])
def test_a_half_set_up_auth_section_stops_at_once_in_one_line_naming_the_key(broken, named):
    section = {k: v for k, v in {**AUTH, **broken}.items() if v is not None}
    assert named in auth.config_problem({"auth": section})
    at = run_app({"auth": section}, SIGNED_OUT)
    assert not at.exception and not [b for b in at.button if b.label.startswith("Log in")]
    assert len(at.error) == 1 and named in at.error[0].value and "\n" not in at.error[0].value
    assert "the runs" not in markdown(at)
    assert auth.config_problem(secrets()) == ""
    google = {"redirect_uri": "r", "cookie_secret": "a long random s3cret", "google": {"client_id": "g"}}
    assert "[auth].google lacks client_secret" in auth.config_problem({"auth": google})


def test_gate_lets_signed_in_users_through_as_operator_or_viewer(monkeypatch):
    monkeypatch.delenv("GANBOARD_READONLY", raising=False)
    monkeypatch.delenv("GANBOARD_OPERATORS", raising=False)
    at = run_app(secrets(operators=["ada@example.com"]), SIGNED_IN)
    assert not at.exception
    assert "the runs" in markdown(at) and "role: operator" in markdown(at)
    assert [b.label for b in at.sidebar.button] == ["Log out"]
    assert any("Ada@Example.com" in c.value for c in at.sidebar.caption)
    at = run_app(secrets(operators=["bob@example.com"]), SIGNED_IN)
    assert "the runs" in markdown(at) and "role: viewer" in markdown(at)
    monkeypatch.setenv("GANBOARD_OPERATORS", "ada@example.com")
    at = run_app(secrets(), SIGNED_IN)
    assert "role: operator" in markdown(at)
    monkeypatch.setenv("GANBOARD_READONLY", "1")
    at = run_app(secrets(), SIGNED_IN)
    assert "role: viewer" in markdown(at)


# ------------------------------------------------------------------------------------------- read-only mode
def test_read_only_deployment_refuses_every_write_and_creates_nothing(tmp_path, monkeypatch):
    from dashboard import data
    from engine import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("GANBOARD_READONLY", "1")
    assert data.readonly()
    for write in (lambda: data.launch("ns", {"steps": 10}, None, [0]), lambda: data.stop(["0" * 32]),
                  lambda: data.delete(["0" * 32]), lambda: data.relaunch(["0" * 32])):
        with pytest.raises(data.ReadOnlyError, match="read-only"):
            write()
    assert not (tmp_path / "mlflow.db").exists() or not list(
        tracking.client().search_runs([e.experiment_id for e in tracking.client().search_experiments()]))


def _writes_app():
    """Every write of the data layer, asked for by whoever is signed in; each outcome written on the page."""
    import streamlit as st

    from dashboard import data

    run_id = st.secrets["run_id"]
    for name, write in (("launch", lambda: data.launch("ns", {"steps": 10}, None, [0])),
                        ("stop", lambda: data.stop([run_id])), ("relaunch", lambda: data.relaunch([run_id])),
                        ("restore", lambda: data.restore([run_id])), ("delete", lambda: data.delete([run_id]))):
        try:
            write()
            st.write(f"{name}: done")
        except data.ReadOnlyError as exc:
            st.write(f"{name}: refused: {exc}")


def test_a_signed_in_viewer_is_refused_every_write_by_the_data_layer_and_an_operator_is_not(tmp_path, monkeypatch):
    """Not only hidden buttons: the data layer's own check, under the user Streamlit says is signed in."""
    from engine import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("GANBOARD_READONLY", raising=False)
    monkeypatch.delenv("GANBOARD_OPERATORS", raising=False)
    monkeypatch.setenv("GANBOARD_LAUNCHER", "local")
    from engine import launch

    lock = open(launch.state_dir() / "scheduler.lock", "a+")  # as if a scheduler were busy: queued runs stay queued
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    from engine.config import build_config

    run_id = tracking.create_run(build_config("ns", {"steps": 10}).to_dict(), run_name="kept")
    tracking.set_status(run_id, tracking.FINISHED)

    def store():
        c = tracking.client()
        exps = [e.experiment_id for e in c.search_experiments(view_type=3)]
        return sorted((r.info.run_id, r.info.status, r.info.lifecycle_stage)
                      for r in c.search_runs(exps, run_view_type=3))

    before = store()
    at = AppTest.from_function(_writes_app, default_timeout=60)
    for key, value in {**secrets(operators=["ada@example.com"]), "run_id": run_id}.items():
        at.secrets[key] = value
    at.user = {"is_logged_in": True, "email": "eve@elsewhere.org"}
    lines = markdown(at.run())
    assert not at.exception
    viewer = auth.why_not(env={}, secrets=secrets(operators=["ada@example.com"]), user=at.user)
    assert lines == [f"{write}: refused: {viewer}" for write in ("launch", "stop", "relaunch", "restore", "delete")]
    assert "eve@elsewhere.org may view but not launch" in lines[0]
    assert store() == before  # nothing written
    at.user = {"is_logged_in": True, "email": "Ada@Example.com"}  # the control: an operator's writes go through
    lines = markdown(at.run())
    assert [ln.split(":")[1].strip() for ln in lines] == ["done"] * 5, lines
    assert len(store()) == len(before) + 2  # the launched run and the relaunched one
    lock.close()
