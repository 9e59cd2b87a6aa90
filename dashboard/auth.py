"""Who may do what on a hosted GANboard: viewers and operators.

- Sign-in is Streamlit's built-in OIDC login (`st.login`), on when `.streamlit/secrets.toml` has an `[auth]`
  section (redirect_uri, cookie_secret, and the provider's client_id, client_secret, server_metadata_url, either in
  `[auth]` itself or in named `[auth.<provider>]` sections). Then only signed-in users see the app (`gate()`), and
  only operators may launch, stop or delete (`can_operate()`).
- Operators: the e-mail addresses in GANBOARD_OPERATORS (comma separated) and in `[ganboard] operators` of the
  secrets (a list or a comma-separated string), compared case-insensitively. An entry `@example.com` admits a whole
  domain, `*` every signed-in user. With sign-in on and no operators listed, everyone is a viewer.
- Without `[auth]` the app is open, as it is locally: everyone may operate.
- GANBOARD_READONLY=1 makes everyone a viewer, signed in or not: a view-only deployment.

Every decision is a plain function of (env, secrets, user), each defaulting to the live process (os.environ,
st.secrets, st.user), so the rules are tested without a browser; only `gate()` draws.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

OPERATORS_ENV = "GANBOARD_OPERATORS"
MIN_COOKIE_SECRET = 14  # characters: below this Streamlit's signing key is weak (it warns on every process)
READONLY_ENV = "GANBOARD_READONLY"
TRUE_WORDS = ("1", "true", "yes", "on")


class NotOperatorError(PermissionError):
    """A write was asked by someone who may only view; the message is one line for the page."""


# ------------------------------------------------------------------------------------------- the inputs
def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _secrets(secrets: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The app's secrets as a mapping; {} when there is no secrets.toml (st.secrets raises then)."""
    if secrets is not None:
        return secrets
    import streamlit as st

    try:
        return {key: st.secrets[key] for key in st.secrets}
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse: nothing configured
        return {}


def _user(user: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if user is not None:
        return user
    import streamlit as st

    try:
        return st.user.to_dict()
    except Exception:  # noqa: BLE001 - outside a Streamlit run there is no user
        return {}


# ------------------------------------------------------------------------------------------- the rules
def readonly(env: Mapping[str, str] | None = None) -> bool:
    """GANBOARD_READONLY=1 (or true/yes/on): nobody launches, stops or deletes."""
    return _env(env).get(READONLY_ENV, "").strip().lower() in TRUE_WORDS


def auth_section(secrets: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    section = _secrets(secrets).get("auth")
    return section if isinstance(section, Mapping) else {}


def auth_configured(secrets: Mapping[str, Any] | None = None) -> bool:
    """Sign-in is on: the secrets have a non-empty [auth] section."""
    return bool(auth_section(secrets))


def config_problem(secrets: Mapping[str, Any] | None = None) -> str:
    """'' when the [auth] section can sign anyone in, else one line naming what is missing or wrong: the keys
    Streamlit's st.login needs (redirect_uri, cookie_secret; client_id, client_secret and server_metadata_url for
    each provider), a cookie_secret too short to sign safely, a provider name Streamlit refuses. '' without [auth]:
    the app is open then."""
    section = auth_section(secrets)
    if not section:
        return ""
    where = ".streamlit/secrets.toml [auth]"
    for key, what in (("redirect_uri", "the app's URL + /oauth2callback"),
                      ("cookie_secret", "a long random string that signs the session cookie")):
        if not str(section.get(key) or "").strip():
            return f"Sign-in is not set up: {where} lacks {key} ({what})."
    if len(str(section["cookie_secret"])) < MIN_COOKIE_SECRET:
        return (f"Sign-in is not set up: {where} cookie_secret is {len(str(section['cookie_secret']))} characters; "
                f"use at least {MIN_COOKIE_SECRET} random ones.")
    for provider in providers(secrets):
        keys = section if provider is None else section[provider]
        place = where if provider is None else f"{where}.{provider}"
        if provider is not None and "_" in provider:
            return f"Sign-in is not set up: {place}: provider names may not contain '_'."
        for key in ("client_id", "client_secret", "server_metadata_url"):
            if not str(keys.get(key) or "").strip():
                return f"Sign-in is not set up: {place} lacks {key} (from your identity provider)."
    return ""


def providers(secrets: Mapping[str, Any] | None = None) -> list[str | None]:
    """The names to pass to st.login: None for a provider configured in [auth] itself, then every
    [auth.<name>] section."""
    section = auth_section(secrets)
    named = [str(k) for k, v in section.items() if isinstance(v, Mapping)]
    return ([None] if "client_id" in section or not named else []) + named


def signed_in(user: Mapping[str, Any] | None = None) -> bool:
    return bool(_user(user).get("is_logged_in", False))


def current_user_email(user: Mapping[str, Any] | None = None) -> str | None:
    """The signed-in user's e-mail (as the identity provider gives it), else None."""
    info = _user(user)
    if not info.get("is_logged_in", False):
        return None
    email = str(info.get("email") or "").strip()
    return email or None


def _entries(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.replace(";", ",").split(",")
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(v) for v in value]
    return [str(value)]


def operators(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> frozenset[str]:
    """The operator list: GANBOARD_OPERATORS plus [ganboard] operators, lower-cased."""
    listed = _entries(_env(env).get(OPERATORS_ENV))
    section = _secrets(secrets).get("ganboard")
    if isinstance(section, Mapping):
        listed += _entries(section.get("operators"))
    return frozenset(e.strip().lower() for e in listed if e.strip())


def is_operator(email: str | None, ops: frozenset[str]) -> bool:
    if not email:
        return False
    email = email.strip().lower()
    domain = "@" + email.rsplit("@", 1)[-1] if "@" in email else None
    return email in ops or "*" in ops or (domain is not None and domain in ops)


def can_operate(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
                user: Mapping[str, Any] | None = None) -> bool:
    """May this user launch, stop or delete? Never when read-only; with sign-in on, only a signed-in operator;
    without sign-in, yes (the app is open, as it is locally)."""
    if readonly(env):
        return False
    if not auth_configured(secrets):
        return True
    return is_operator(current_user_email(user), operators(env, secrets))


def role(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
         user: Mapping[str, Any] | None = None) -> str:
    """'operator' or 'viewer'."""
    return "operator" if can_operate(env, secrets, user) else "viewer"


def why_not(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
            user: Mapping[str, Any] | None = None) -> str:
    """One line saying why this user may not operate ('' when they may)."""
    if readonly(env):
        return f"This dashboard is read-only ({READONLY_ENV}=1): launching, stopping and deleting are off."
    if can_operate(env, secrets, user):
        return ""
    email = current_user_email(user)
    if email is None:
        return "Sign in to launch, stop or delete runs."
    return (f"{email} may view but not launch, stop or delete: operators are listed in {OPERATORS_ENV} or "
            f"[ganboard] operators of the secrets.")


def check_operator(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
                   user: Mapping[str, Any] | None = None) -> None:
    """Raise NotOperatorError (one line) unless this user may operate: call before any write."""
    reason = why_not(env, secrets, user)
    if reason:
        raise NotOperatorError(reason)


def describe(env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None,
             user: Mapping[str, Any] | None = None) -> str:
    """A short caption for the sidebar: who is signed in and as what."""
    if not auth_configured(secrets):
        return "Read-only" if readonly(env) else "Open access (no sign-in configured)"
    email = current_user_email(user) or "not signed in"
    return f"{email} · {role(env, secrets, user)}" + (" (read-only deployment)" if readonly(env) else "")


# ------------------------------------------------------------------------------------------- the page
def gate() -> None:
    """Call first in app.py. With sign-in configured: a signed-out visitor sees only a log-in button (one per
    provider) and the run stops there; a signed-in user gets a log-out button in the sidebar. Without it:
    nothing happens."""
    import streamlit as st

    if not auth_configured():
        return
    problem = config_problem()
    if problem:  # before any sign-in is tried: a half-set-up [auth] must not get as far as the identity provider
        _log_once(problem)
        st.error(problem)
        st.stop()
    _quiet_authlib()
    if signed_in():
        with st.sidebar:
            st.caption(describe())
            st.button("Log out", key="ganboard.logout", on_click=st.logout)
        return
    st.title("GANboard")
    st.write("Sign in to see the runs.")
    for provider in providers():
        label = "Log in" if provider is None else f"Log in with {provider}"
        st.button(label, key=f"ganboard.login.{provider or 'default'}", on_click=st.login,
                  args=() if provider is None else (provider,), type="primary")
    st.stop()


_logged: set[str] = set()


def _log_once(line: str) -> None:
    """A set-up problem, once per server process, as one line in its log (stderr)."""
    if line not in _logged:
        _logged.add(line)
        print(f"ganboard: {line}", file=sys.stderr, flush=True)


def _quiet_authlib() -> None:
    """Streamlit's st.login imports Authlib's httpx client, which announces a deprecation of its own on every
    import (Authlib sets that warning to 'always'): nothing a team can act on, so it stays out of the server log."""
    import warnings

    try:
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:  # no Authlib: st.login says so itself
        return
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


def main() -> int:
    """`python -m dashboard.auth`: the sign-in set-up checked before the dashboard starts (the Procfile's `web` runs
    it first), so that a half-set-up [auth] stops the deployment at once, not at its first visitor."""
    problem = config_problem()
    if problem:
        _log_once(problem)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
