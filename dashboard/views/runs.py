"""Runs: every run of the store in one table that refreshes itself while runs are queued or running.

Filters (experiment, sweep, status, MLflow search syntax) sit above the table; the table lives in a fragment
that reruns every ACTIVE_REFRESH_S while something is active (IDLE_REFRESH_S otherwise, so runs started from
the command line appear too) without reloading the page. Rows picked in the table join the selection
(data.select_runs) that Compare, Gallery and Artifacts show; a whole sweep can be selected at once. Stop,
relaunch and delete act on the selected rows and are hidden when GANBOARD_READONLY=1.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from dashboard import data, figures

ACTIVE_REFRESH_S = 3.0
IDLE_REFRESH_S = 30.0
KEY_METRICS = ("metric/modes", "metric/hq", "metric/fid", "metric/recall", "loss/d", "loss/g")
STATUSES = ("queued", "running", "finished", "failed", "killed")
TABLE_GENERATION = "runs.table_generation"  # bumped by Clear selection: the next table is a new widget


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _filters() -> dict:
    exps = data.experiments()
    names = dict(zip(exps["experiment_id"], exps["name"]))
    c1, c2, c3 = st.columns([2, 2, 1])
    chosen = c1.multiselect("Experiments", list(names), format_func=lambda e: names.get(e, e),
                            key="keep.runs.experiments", placeholder="all experiments")
    status = c2.multiselect("Status", STATUSES, key="keep.runs.status", placeholder="any status")
    deleted = c3.toggle("Show deleted", key="keep.runs.deleted",
                        help="Deleted runs (MLflow's soft delete) can be restored until the store is purged.")
    query = st.text_input("Search filter", key="keep.runs.filter",
                          placeholder="params.loss = 'hinge' and metrics.\"metric/modes\" >= 6",
                          help="MLflow's search syntax over `metrics.`, `params.` and `tags.`; quote names with a "
                               "slash: metrics.\"metric/fid\" < 5, tags.\"ganboard.health\" = 'healthy'.")
    return {"experiments": tuple(chosen), "status": tuple(status), "deleted": deleted, "query": query}


def _load(f: dict) -> pd.DataFrame:
    df = data.runs(f["experiments"] or None, f["query"], f["deleted"])
    if f["status"] and not df.empty:
        df = df[df["status"].isin(f["status"])]
    return df


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


def _actions(df: pd.DataFrame, picked: list[str]) -> None:
    sel = data.selected_runs()
    b = st.columns([1.3, 1.3, 1, 1, 1, 1])
    if b[0].button(f"Compare {len(sel)} selected", disabled=not sel, type="primary", key="runs.compare"):
        st.switch_page("views/compare.py")
    if b[1].button("Clear selection", disabled=not sel, key="runs.clear"):
        data.select_runs([])
        # The table keeps its ticks in its own widget state: a new table key starts it from the (empty) selection.
        st.session_state[TABLE_GENERATION] = st.session_state.get(TABLE_GENERATION, 0) + 1
        st.rerun()
    if data.readonly():
        return
    rows = df[df["run_id"].isin(picked)]
    active = rows.loc[rows["active"], "run_id"].tolist()
    if b[2].button("Stop", disabled=not active, key="runs.stop", help="Stop the selected queued or running runs"):
        _act(lambda: data.stop(active), f"Asked {len(active)} run(s) to stop.")
    if b[3].button("Relaunch", disabled=not picked, key="runs.relaunch",
                   help="A new run with the same config (and seed) for each selected run"):
        _act(lambda: data.relaunch(picked), f"Relaunched {len(picked)} run(s).")
    deleted = rows["deleted"].astype(bool)
    if b[4].button("Delete", disabled=not (~deleted).any(), key="runs.delete"):
        st.session_state["runs.confirm_delete"] = rows.loc[~deleted, "run_id"].tolist()
    if deleted.any() and b[5].button("Restore", key="runs.restore"):
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
    st.session_state["runs.notice"] = done
    st.rerun()


def _sweep_picker(df: pd.DataFrame) -> None:
    sw = data.sweeps(df)
    if sw.empty:
        return
    labels = {r.sweep: f"{r.sweep_name} · {_count(r.runs, 'run')}" for r in sw.itertuples()}
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    sweep = c1.selectbox("Whole sweep", list(labels), format_func=labels.get, key="runs.sweep")
    if c2.button("Compare sweep", key="runs.compare_sweep"):
        data.select_runs(df.loc[df["sweep"] == sweep, "run_id"].tolist(), sweep)
        st.switch_page("views/compare.py")


def _live(f: dict, was_active: bool) -> None:
    try:
        df = _load(f)
        if data.reconcile(df):
            df = _load(f)
    except data.StoreError as exc:
        st.error(str(exc))
        return
    if df.empty:
        st.info("No runs match." if (f["query"] or f["status"] or f["experiments"]) else
                "No runs yet: start one on the Launch page or with `python -m engine.launch submit`.")
        return
    n_active = int(df["active"].sum())
    if was_active and not n_active:
        st.rerun()  # the last run ended: redraw the page so the table stops refreshing every few seconds
    st.caption(f"{_count(len(df), 'run')} shown" + (f", {n_active} active (refreshing every "
                                                     f"{ACTIVE_REFRESH_S:.0f} s)" if n_active else ""))
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
    _actions(df, picked)
    _sweep_picker(df)
    if len(picked) == 1:
        with st.expander(f"Process output of {df.loc[df['run_id'] == picked[0], 'name'].iloc[0]}"):
            st.code(data.logs(picked[0])[-20_000:] or "(nothing yet)", language=None)


def render() -> None:
    st.title("Runs")
    notice = st.session_state.pop("runs.notice", None)
    if notice:
        st.success(notice)
    try:
        f = _filters()
        active = bool(_load(f)["active"].any())
    except data.StoreError as exc:
        st.error(str(exc))
        return
    st.fragment(_live, run_every=ACTIVE_REFRESH_S if active else IDLE_REFRESH_S)(f, active)


render()
