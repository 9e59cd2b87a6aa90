"""GANboard's dashboard: `streamlit run dashboard/app.py` (from the repository root).

This file is only the router: it names the pages, hides Launch when GANBOARD_READONLY=1, and shows which
tracking store the app reads (MLFLOW_TRACKING_URI, else the embedded runs/ store). Every page reads MLflow
through dashboard/data.py and draws with the pure builders in dashboard/figures.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root that holds the
# `dashboard` and `engine` packages.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard import auth, data  # noqa: E402

# Widgets whose keys start with this keep their values when the user visits another page and comes back
# (Streamlit forgets the state of widgets that a run did not draw; re-assigning it here keeps it).
KEEP_PREFIX = "keep."


def main() -> None:
    st.set_page_config(page_title="GANboard", page_icon="🎛️", layout="wide")
    auth.gate()  # with sign-in configured, a signed-out visitor sees only the log-in button
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(KEEP_PREFIX)]:
        st.session_state[key] = st.session_state[key]

    # Material icons ship with Streamlit's own font, so they show on machines without an emoji font too.
    pages = [st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs", default=True),
             st.Page("pages/compare.py", title="Compare", icon=":material/monitoring:", url_path="compare"),
             st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:", url_path="gallery"),
             st.Page("pages/artifacts.py", title="Artifacts", icon=":material/folder_open:", url_path="artifacts")]
    if not data.readonly():
        pages.insert(0, st.Page("pages/launch.py", title="Launch", icon=":material/rocket_launch:",
                                url_path="launch"))
    page = st.navigation(pages)
    with st.sidebar:
        # Signed-in users see who they are from auth.gate(); an open or read-only app says so here.
        access = "" if auth.auth_configured() else f"  \n{auth.describe()}"
        st.caption(f"Store: `{data.describe_store()}`{access}")
        n = len(st.session_state.get(data.SELECTION_KEY) or [])
        if n:
            st.caption(f"{n} run{'s' if n != 1 else ''} selected")
    page.run()


def ensure_router() -> None:
    """Call first in every page: make sure the page runs inside this router.

    Streamlit keeps its older "pages/ folder" mode on until a run reaches st.navigation; when the first run of
    a server process is a page opened by its own URL (/runs, /compare?sweep=...), Streamlit runs that page on
    its own, without this router, and keeps doing so for every session. Switching the old mode off and
    rerunning hands the request to this file, which opens the same page. AppTest turns the old mode back on
    before every run, where a rerun would drop the click that caused the run, so there the router runs inside
    this run instead and the stray outer page stops.
    """
    try:
        from streamlit import config
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return
    if not PagesManager.uses_pages_directory:
        return
    if config.get_option("global.appTest"):
        main()
        st.stop()
    PagesManager.uses_pages_directory = False
    st.rerun()


if __name__ == "__main__":  # Streamlit runs the main script as __main__; pages import ensure_router
    main()
