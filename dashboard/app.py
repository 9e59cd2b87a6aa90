"""GANboard's dashboard: `streamlit run dashboard/app.py` (from the repository root).

This file is only the router: it names the pages (in dashboard/views/), hides Launch when the user may not
operate, and shows which tracking store the app reads (MLFLOW_TRACKING_URI, else the embedded runs/ store). Every
page reads MLflow through the dashboard/data package and draws with the pure builders in dashboard/figures.py.

Every page has its own URL (/runs, /compare?sweep=..., /artifacts?run=...); the app's root sends the visitor on to
/runs with its query. The views folder is deliberately not called `pages/`: Streamlit would take such a folder for
its older multipage mode and, on a new server, show its plain-text list of the files in the sidebar and run a page
opened by its URL without this router.
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

from dashboard import auth  # noqa: E402

# Widgets whose keys start with this keep their values when the user visits another page and comes back
# (Streamlit forgets the state of widgets that a run did not draw; re-assigning it here keeps it).
KEEP_PREFIX = "keep."
RUNS = st.Page("views/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs")


def _home() -> None:
    """The root URL: the Runs page, keeping the link's query (?runs=..., ?sweep=...)."""
    st.switch_page(RUNS, query_params=st.query_params.to_dict())


def main() -> None:
    st.set_page_config(page_title="GANboard", page_icon=":material/monitoring:", layout="wide")
    auth.gate()  # with sign-in configured, a signed-out visitor sees only the log-in button
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(KEEP_PREFIX)]:
        st.session_state[key] = st.session_state[key]

    # The navigation goes out before anything slow is imported, so a first visit sees it at once. Material icons
    # ship with Streamlit's own font, so they show on machines without an emoji font too.
    pages = [st.Page(_home, title="GANboard", url_path="home", default=True, visibility="hidden"), RUNS,
             st.Page("views/compare.py", title="Compare", icon=":material/monitoring:", url_path="compare"),
             st.Page("views/gallery.py", title="Gallery", icon=":material/photo_library:", url_path="gallery"),
             st.Page("views/artifacts.py", title="Artifacts", icon=":material/folder_open:", url_path="artifacts")]
    if auth.can_operate():
        pages.insert(1, st.Page("views/launch.py", title="Launch", icon=":material/rocket_launch:",
                                url_path="launch"))
    page = st.navigation(pages)

    from dashboard import data

    with st.sidebar:
        # Signed-in users see who they are from auth.gate(); an open or read-only app says so here.
        access = "" if auth.auth_configured() else f"  \n{auth.describe()}"
        st.caption(f"Store: `{data.describe_store()}`{access}")
        n = len(st.session_state.get(data.SELECTION_KEY) or [])
        if n:
            st.caption(f"{n} run{'s' if n != 1 else ''} selected")
    page.run()


if __name__ == "__main__":  # Streamlit runs the main script as __main__
    main()
