"""Runs: the store's runs a page at a time, filtered, sorted and counted in the store, refreshing while runs are active.

Filters (experiment, sweep, status, deleted, MLflow search syntax) and the order sit above the table; the table
shows one page (data.runs: the store filters, sorts and pages, so a page costs the same in a store of 50 runs or
50,000) and lives in a fragment that reruns every ACTIVE_REFRESH_S while something is queued or running
(IDLE_REFRESH_S otherwise, so runs started from the command line appear too) without reloading the page. Rows
picked in the table join the selection (data.select_runs) that Compare, Gallery and Artifacts show, across
pages; a whole sweep, or every run that matches (up to data.MAX_PAGE), can be selected at once. Stop, relaunch
and delete act on the picked rows and are hidden when the user may only view.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from dashboard import data, figures, widgets

K = "keep.runs."
ACTIVE_REFRESH_S = 3.0
IDLE_REFRESH_S = 30.0
KEY_METRICS = ("metric/modes", "metric/hq", "metric/fid", "metric/recall", "loss/d", "loss/g")
STATUSES = ("queued", "running", "finished", "failed", "killed")
PAGE_SIZES = (25, 50, 100, 200)
# What the table can be ordered by, in the store (MLflow's order_by): attributes, text params and tags, and the
# latest value of a metric (runs without it last).
SORTS = {"started": "attributes.start_time", "ended": "attributes.end_time", "name": "attributes.run_name",
         "status": "attributes.status", "preset": "tags.`ganboard.preset`", "dataset": "params.dataset",
         "loss": "params.loss", "health": "tags.`ganboard.health`",
         **{k.split("/", 1)[1] if k.startswith("metric/") else k: f"metrics.`{k}`" for k in KEY_METRICS}}
TABLE_GENERATION = "runs.table_generation"  # bumped by Clear selection: the next table is a new widget
NOTICE = "runs.notice"  # what the last action did, shown once at the top of the next drawing of the page
SHOWN_NOTICE = "runs.shown_notice"  # the notice on the page now, kept across the page's own redraws


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _sweep_label(sweeps: pd.DataFrame):
    labels = {r.sweep: f"{r.sweep_name} · {_count(r.runs, 'run')} · {r.start:%Y-%m-%d}" for r in sweeps.itertuples()}
    return lambda s: labels.get(s, s)


def _filters() -> dict:
    exps = data.experiments()
    names = dict(zip(exps["experiment_id"], exps["name"]))
    c1, c2, c3, c4 = st.columns([2, 3, 2, 1], vertical_alignment="bottom")
    chosen = c1.multiselect("Experiments", list(names), format_func=lambda e: names.get(e, e),
                            key=K + "experiments", placeholder="all experiments")
    sweeps = data.sweeps(chosen or None)
    if st.session_state.get(K + "sweep") not in set(sweeps["sweep"]):
        st.session_state.pop(K + "sweep", None)
    sweep = c2.selectbox("Sweep", sweeps["sweep"].tolist(), index=None, key=K + "sweep",
                         format_func=_sweep_label(sweeps), placeholder=f"any of {_count(len(sweeps), 'sweep')}",
                         help="The sweeps launched into these experiments, newest first; type to search.")
    status = c3.multiselect("Status", STATUSES, key=K + "status", placeholder="any status")
    deleted = c4.toggle("Show deleted", key=K + "deleted",
                        help="Deleted runs (MLflow's soft delete) can be restored until the store is purged.")
    c5, c6, c7, c8 = st.columns([5, 1.4, 1.2, 1], vertical_alignment="bottom")
    query = c5.text_input("Search filter", key=K + "filter",
                          placeholder="params.loss = 'hinge' and metrics.\"metric/modes\" >= 6",
                          help="MLflow's search syntax over `metrics.`, `params.` and `tags.`; quote names with a "
                               "slash: metrics.\"metric/fid\" < 5, tags.\"ganboard.health\" = 'healthy'.")
    sort = c6.selectbox("Sort by", list(SORTS), key=widgets.initial(K + "sort", "started"),
                        help="The store orders every matching run (clicking a column header orders only this page).")
    descending = c7.toggle("Descending", key=widgets.initial(K + "descending", True))
    size = c8.selectbox("Rows a page", PAGE_SIZES, key=widgets.initial(K + "page_size", 50))
    return {"experiments": tuple(chosen), "sweep": sweep, "status": tuple(status), "deleted": deleted,
            "query": query, "order_by": (f"{SORTS[sort]} {'DESC' if descending else 'ASC'}",), "size": int(size),
            "order": f"{sort}, {'descending' if descending else 'ascending'}"}


def _read(f: dict, offset: int, limit: int) -> pd.DataFrame:
    return data.runs(f["experiments"] or None, f["query"], f["deleted"], statuses=f["status"], sweep=f["sweep"],
                     order_by=f["order_by"], offset=offset, limit=limit)


def _total(f: dict) -> int:
    return data.count_runs(f["experiments"] or None, f["query"], f["deleted"], statuses=f["status"], sweep=f["sweep"])


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """The frame the table shows: badges, progress and the latest key metrics, one row per run."""
    shown = pd.DataFrame({
        "name": df["name"], "status": df["status"].map(figures.status_badge),
        "health": df["health"].map(figures.health_badge), "preset": df["preset"], "dataset": df["dataset"],
        "loss": df["loss"], "seed": df["seed"], "progress": df["progress"].astype(float),
        "step": df["step"].astype(int)})
    for key in KEY_METRICS:
        col = f"metrics.{key}"
        if col in df and df[col].notna().any():
            shown[key.split("/", 1)[1] if key.startswith("metric/") else key] = df[col].astype(float)
    shown["sweep"] = df["sweep_name"]
    shown["experiment"] = df["experiment"]
    shown["started"] = df["start"]
    shown["why"] = [r or h for r, h in zip(df["reason"], df["health_reason"])]
    shown["run_id"] = df["run_id"]
    if df["deleted"].any():
        shown.insert(1, "deleted", df["deleted"])
    return shown.reset_index(drop=True)


def _styled(shown: pd.DataFrame, df: pd.DataFrame):
    """The table with its status and health cells in their colours (figures.badge_css)."""
    css = pd.DataFrame("", index=shown.index, columns=shown.columns)
    css["status"] = [figures.badge_css(s, figures.STATUS_COLORS) for s in df["status"]]
    css["health"] = [figures.badge_css(h, figures.HEALTH_COLORS) for h in df["health"]]
    return shown.style.apply(lambda _: css, axis=None)


def _column_config() -> dict:
    return {
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
        "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
        "why": st.column_config.TextColumn("why", help="End reason, else the health rule that fired", width="large"),
        "fid": st.column_config.NumberColumn("fid", format="%.3g"),
        "loss/d": st.column_config.NumberColumn("loss/d", format="%.4g"),
        "loss/g": st.column_config.NumberColumn("loss/g", format="%.4g"),
    }


def _actions(df: pd.DataFrame, picked: list[str], f: dict, total: int) -> None:
    sel = data.selected_runs()
    b = st.columns([1.3, 1.2, 1.1, 1.2, 0.8, 0.9, 0.8, 0.8])
    if b[0].button(f"Compare {len(sel):,} selected", disabled=not sel, type="primary", key="runs.compare"):
        st.switch_page("views/compare.py")
    if b[1].button("Clear selection", disabled=not sel, key="runs.clear"):
        data.select_runs([])
        # The table keeps its ticks in its own widget state: a new table key starts it from the (empty) selection.
        st.session_state[TABLE_GENERATION] = st.session_state.get(TABLE_GENERATION, 0) + 1
        st.rerun()
    if b[2].button(f"Select all {total:,}", disabled=not 0 < total <= data.MAX_PAGE, key="runs.select_all",
                   help=f"Every run that matches the filters (up to {data.MAX_PAGE:,}), across pages."):
        data.select_runs(_read(f, 0, data.MAX_PAGE)["run_id"].tolist())
        st.rerun(scope="app")
    if f["sweep"] and b[3].button("Compare sweep", key="runs.compare_sweep",
                                  help="Select every run of the chosen sweep (whatever the other filters) and compare"):
        data.select_runs(data.sweep_run_ids(f["sweep"]), f["sweep"])
        st.switch_page("views/compare.py")
    if data.readonly():
        return
    rows = df[df["run_id"].isin(picked)]
    active = rows.loc[rows["active"], "run_id"].tolist()
    if b[4].button("Stop", disabled=not active, key="runs.stop", help="Stop the selected queued or running runs"):
        _act(lambda: data.stop(active), f"Asked {len(active)} run(s) to stop.")
    if b[5].button("Relaunch", disabled=not picked, key="runs.relaunch",
                   help="A new run with the same config (and seed) for each selected run"):
        _act(lambda: data.relaunch(picked), f"Relaunched {len(picked)} run(s).")
    deleted = rows["deleted"].astype(bool)
    if b[6].button("Delete", disabled=not (~deleted).any(), key="runs.delete"):
        st.session_state["runs.confirm_delete"] = rows.loc[~deleted, "run_id"].tolist()
    if deleted.any() and b[7].button("Restore", key="runs.restore"):
        _act(lambda: data.restore(rows.loc[deleted, "run_id"].tolist()), "Restored.")
    doomed = st.session_state.get("runs.confirm_delete")
    if doomed:
        st.warning(f"Delete {len(doomed)} run(s)? They leave every list; 'Show deleted' can restore them.")
        c1, c2, _ = st.columns([1, 1, 4])
        if c1.button("Yes, delete", key="runs.delete_yes", type="primary"):
            st.session_state.pop("runs.confirm_delete", None)
            data.select_runs([r for r in data.selected_runs() if r not in doomed])
            _act(lambda: data.delete(doomed), f"Deleted {len(doomed)} run(s).")
        if c2.button("Cancel", key="runs.delete_no"):
            st.session_state.pop("runs.confirm_delete", None)
            st.rerun()


def _act(fn, done: str) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - StoreError, ReadOnlyError, ConfigError: all one line
        st.error(data.one_line(exc) if not isinstance(exc, data.StoreError) else str(exc))
        return
    st.session_state[NOTICE] = done
    st.rerun()


def _live(f: dict, was_active: bool) -> None:
    try:
        active = data.active_runs()
        if data.reconcile(active):
            active = data.active_runs()
        total = _total(f)
    except data.StoreError as exc:
        st.error(str(exc))
        return
    n_active = len(active)
    if was_active and not n_active:
        # The last run ended: redraw the page so the table stops refreshing every few seconds. That redraw is
        # the page's, not the user's: a notice of their last action ("Asked 1 run(s) to stop.") stays on it.
        st.session_state[NOTICE] = st.session_state.get(SHOWN_NOTICE)
        st.rerun()
    if not total:
        st.info("No runs match." if (f["query"] or f["status"] or f["experiments"] or f["sweep"]) else
                "No runs yet: start one on the Launch page or with `python -m engine.launch submit`.")
        return
    pages = -(-total // f["size"])
    # a new filter, order or page size starts again at page 1 (the key names them)
    signature = hashlib.sha1(repr(sorted(f.items())).encode()).hexdigest()[:12]
    above = st.container()  # the page's rows, drawn above the page picker that chooses them
    page = 1
    if pages > 1:
        page = st.pagination(pages, key=f"runs.page.{signature}", max_visible_pages=9)
    with above:
        try:
            df = _read(f, (page - 1) * f["size"], f["size"])
        except data.StoreError as exc:
            st.error(str(exc))
            return
        picked = _page(df, f, total, n_active, page)
    _actions(df, picked, f, total)
    if len(picked) == 1:
        with st.expander(f"Process output of {df.loc[df['run_id'] == picked[0], 'name'].iloc[0]}"):
            st.code(data.logs(picked[0])[-20_000:] or "(nothing yet)", language=None)


def _page(df: pd.DataFrame, f: dict, total: int, n_active: int, page: int) -> list[str]:
    """One page of the table and its caption; the run ids picked in it, kept in the shared selection."""
    first = (page - 1) * f["size"] + 1
    st.caption(f"Runs {first:,}–{first + len(df) - 1:,} of {total:,} · by {f['order']}" + (
        f" · {n_active} active in the store (refreshing every {ACTIVE_REFRESH_S:.0f} s)" if n_active else ""))
    shown = _table(df)
    order = hashlib.sha1(",".join(shown["run_id"]).encode()).hexdigest()[:12]
    sel = set(data.selected_runs())
    default_rows = [i for i, r in enumerate(shown["run_id"]) if r in sel]
    key = f"runs.table.{order}.{st.session_state.get(TABLE_GENERATION, 0)}"
    fresh = key not in st.session_state  # a new table (rows came or went) starts from the stored selection
    event = st.dataframe(_styled(shown, df), key=key, on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config=_column_config(),
                         selection_default={"selection": {"rows": default_rows}}, placeholder="–",
                         height=min(38 + 35 * len(shown), 560), width="stretch")
    picked = [shown["run_id"].iloc[i] for i in event.selection.rows if i < len(shown)]
    visible = set(shown["run_id"])
    if fresh:
        picked = [r for r in shown["run_id"] if r in sel]
    else:
        new_sel = [r for r in data.selected_runs() if r not in visible] + picked
        if new_sel != data.selected_runs():
            data.select_runs(new_sel)
            # A click in the table reruns only this fragment; the sidebar's count lives outside it.
            st.rerun(scope="app")
    return picked


def render() -> None:
    st.title("Runs")
    notice = st.session_state.pop(NOTICE, None)
    st.session_state[SHOWN_NOTICE] = notice
    slot = st.empty()  # always there, shown or not: the elements below keep their places when the notice goes
    if notice:
        slot.success(notice)
    try:
        f = _filters()
        active = not data.active_runs().empty
    except data.StoreError as exc:
        st.error(str(exc))
        return
    st.fragment(_live, run_every=ACTIVE_REFRESH_S if active else IDLE_REFRESH_S)(f, active)


render()
