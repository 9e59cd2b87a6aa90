"""The session's selection of runs, which Compare, Gallery and Artifacts show, and the page links that carry it.

The selection lives in st.session_state (SELECTION_KEY, and SELECTION_SWEEP_KEY when it is a whole sweep); a page
opened by a link without one takes it from the link's `?runs=id,id` or `?sweep=id` (`selection_query` writes them).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboard.data import runs_table

SELECTION_KEY = "ganboard_selection"
SELECTION_SWEEP_KEY = "ganboard_selection_sweep"


def select_runs(run_ids: Sequence[str], sweep: str | None = None) -> None:
    """Make these runs the selection that Compare, Gallery and Artifacts show (`sweep` when it is a sweep)."""
    st.session_state[SELECTION_KEY] = list(dict.fromkeys(run_ids))
    st.session_state[SELECTION_SWEEP_KEY] = sweep


def selected_runs() -> list[str]:
    """The selected run ids: this session's selection, else the page link's `?runs=id,id` or `?sweep=id`."""
    sel = st.session_state.get(SELECTION_KEY)
    if sel is not None:  # [] is a cleared selection, which a page link must not bring back
        return list(sel)
    params = st.query_params
    if params.get("runs"):
        ids = [r.strip() for r in params["runs"].split(",") if r.strip()]
        select_runs(ids)
        return ids
    if params.get("sweep"):
        ids = runs_table.sweep_run_ids(params["sweep"])
        select_runs(ids, params["sweep"])
        return ids
    return []


def selected_sweep() -> str | None:
    return st.session_state.get(SELECTION_SWEEP_KEY)


def selection_query(run_ids: Sequence[str]) -> dict[str, str]:
    """Query params that reproduce the selection in a link: the sweep when it is one, else the ids (up to 50)."""
    sweep = selected_sweep()
    if sweep:
        return {"sweep": sweep}
    return {"runs": ",".join(run_ids)} if 0 < len(run_ids) <= 50 else {}
