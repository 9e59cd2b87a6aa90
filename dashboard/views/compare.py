"""Compare: any logged metric of the selected runs over steps or wall time, grouped across seeds, and tested.

The curves are downsampled in the data module (min/max envelopes kept, density adjustable) and smoothed here
with TensorBoard's debiased EMA, the raw curve faint behind. Runs are grouped by chosen config fields, by
default by everything except the seed, and drawn as the group mean with a std / SE / 95 % CI band and n. Below:
final metrics per group (mean ± SE, best highlighted, CSV), pairwise tests with Holm's correction and effect
sizes, the config fields that differ, and parallel coordinates of config against a final metric. A sweep of a
thousand runs is a hundred groups or more: the chart then draws the groups' means only (DETAIL_MAX) and the tests
take one group against the others (ALL_PAIRS_MAX), so that the page stays quick to draw and to read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data, figures, stats, widgets

K = "keep.compare."
ALPHA_RANGE = (0.001, 0.5)  # the significance level of the pairwise tests
BANDS = {"std": "± std", "se": "± standard error", "ci95": "95 % CI (t)", "minmax": "min – max"}
PREFERRED = ("metric/modes", "metric/fid", "loss/d", "loss/g")
PLOT_CONFIG = {"displaylogo": False}
# Points on the chart above which lines are drawn with WebGL: SVG stays quicker below (and much quicker where the
# browser has no GPU and renders WebGL in software), and gets slow above.
WEBGL_POINTS = 150_000
# Above DETAIL_MAX groups the chart draws each group's mean line only (no band, envelope or raw line): a hundred
# overlapping bands say nothing and cost the browser seconds. Above LEGEND_MAX the legend gives way to hovering.
DETAIL_MAX = 20
LEGEND_MAX = 40
# Above ALL_PAIRS_MAX groups the significance table tests one group against each other (k - 1 pairs) instead of
# every pair (k (k - 1) / 2: 4,950 for a hundred groups).
ALL_PAIRS_MAX = 20
# The chart's controls change in fragment runs, which app.py's keep.* re-assignment (full runs only) does not see:
# Streamlit's own persistence keeps them when the user visits another page and comes back.
PERSIST = {"persist_state": "session"}


def real_data_lines(metric: str, df: pd.DataFrame, live: list[str]) -> list[dict]:
    """A line per data set at the real data's own value of `metric` (image runs log reference/<name> once: real
    training images against held-out ones, under the same classifier), where the runs logged one."""
    if not metric.startswith("metric/"):
        return []
    try:
        logged = data.curves(df["run_id"].tolist(), "reference/" + metric[len("metric/"):], 8, live=live)
    except data.StoreError:
        return []
    dataset_of = df.set_index("run_id")["dataset"]
    values = {dataset_of[r]: float(c.mean[-1]) for r, c in logged.items() if len(c.mean)}
    return [{"y": v, "label": f"real {name} data {v:.3g}"} for name, v in sorted(values.items())]


def _unique_labels(df: pd.DataFrame) -> dict[str, str]:
    names = df["name"].tolist()
    dup = {n for n in names if names.count(n) > 1}
    return {r: (f"{n} ({r[:6]})" if n in dup else n) for r, n in zip(df["run_id"], names)}


def _groups(df: pd.DataFrame, by: list[str], per_run: bool) -> dict[str, list[str]]:
    if per_run:
        labels = _unique_labels(df)
        return {labels[r]: [r] for r in df["run_id"]}
    return data.groups(df, by or None)


def _grouping(fields: list[str]) -> tuple[list[str], bool]:
    """The controls that shape the groups, and so every section of the page."""
    g = st.columns([5, 2])
    by = g[0].multiselect("Group by", fields, key=K + "by", placeholder="everything except the seed",
                          help="Runs with equal values of these config fields form one line (mean and band) and "
                               "one row of the tables. Empty: every field except the seed and bookkeeping "
                               "(eval/log intervals, device).")
    per_run = g[1].toggle("One line per run", key=K + "per_run")
    return by, per_run


def _chart_controls(keys: list[str], per_run: bool, detailed: bool) -> dict:
    """The controls that change only the chart; band and envelope only where the chart draws them (`detailed`)."""
    c = st.columns([3, 1.6, 2.4, 1.2])
    default_metric = next((k for k in PREFERRED if k in keys), keys[0])
    if st.session_state.get(K + "metric") not in keys:
        st.session_state[K + "metric"] = default_metric
    metric = c[0].selectbox("Metric", keys, key=K + "metric", **PERSIST)
    x = c[1].radio("x-axis", ["step", "wall time"], key=K + "x", **PERSIST, horizontal=True,
                   help="Wall time: seconds since the run's first value of this metric.")
    smoothing = c[2].slider("Smoothing", 0.0, 0.999, step=0.001, key=widgets.initial(K + "smoothing", 0.6), **PERSIST,
                            format="%.3f",
                            help="TensorBoard's debiased EMA over the plotted points; the raw curve stays faint.")
    points = c[3].number_input("Points per curve", 20, 5000, step=20, key=widgets.initial(K + "points", 400), **PERSIST,
                               help="At most this many buckets per curve (power-of-two step widths shared by all "
                                    "runs); each keeps its min and max, so spikes stay visible.")
    t = st.columns([1.8, 1, 1.2, 1.4, 1.2], vertical_alignment="bottom")
    many = f"Drawn for up to {DETAIL_MAX} lines; group by fewer fields to see it."
    band = t[0].selectbox("Band", list(BANDS), format_func=BANDS.get, key=K + "band", **PERSIST,
                          disabled=per_run or not detailed,
                          help="The spread drawn around each group's mean line." + ("" if detailed else " " + many))
    log_y = t[1].toggle("log y", key=K + "log_y", **PERSIST)
    robust = t[2].toggle("Clip outliers", key=widgets.initial(K + "robust", False), **PERSIST,
                         help="Fit the y-axis to the 1–99 % quantiles, so a few spikes do not flatten the rest.")
    envelope = t[3].toggle("Min/max envelope", key=widgets.initial(K + "envelope", True), **PERSIST,
                           disabled=not detailed,
                           help="The lowest and highest value in each bucket, lightly shaded." +
                                ("" if detailed else " " + many))
    theory = t[4].toggle("Theory lines", key=widgets.initial(K + "theory", True), **PERSIST,
                         help="D(x) = D(G(z)) = ½ and the BCE D loss log 4 at equilibrium; V = −log 4.")
    return {"metric": metric, "x": "wall" if x == "wall time" else "step", "smoothing": smoothing,
            "log_y": log_y, "robust": robust, "points": int(points), "band": band if detailed else None,
            "theory": theory, "envelope": envelope and detailed, "detailed": detailed}


def _chart(df: pd.DataFrame, groups: dict[str, list[str]], o: dict) -> None:
    live = df.loc[df["active"], "run_id"].tolist()
    curves = data.curves(df["run_id"].tolist(), o["metric"], o["points"], live=live)
    series = figures.grouped_series(curves, groups, x=o["x"], band=o["band"], envelope=o["envelope"])
    lacking = df.loc[~df["run_id"].isin(list(curves)), ["active", "loss", "dataset"]].to_dict("records")
    if not series:
        st.info(" · ".join([f"None of the selected runs has logged {o['metric']}",
                            *figures.not_logged_notes(o["metric"], lacking)]))
        return
    data_of = dict(zip(df["run_id"], zip(df["dataset"], df["loss"])))
    for s in series:  # each group's band stays inside what the metric can take for its data sets and losses
        members = [data_of[r] for r in s["meta"]["runs"]]
        s["range"] = figures.metric_range(o["metric"], {d for d, _ in members}, {loss for _, loss in members})
    refs = figures.references_for(o["metric"], set(df["loss"])) if o["theory"] else None
    if o["theory"]:
        refs = (refs or []) + real_data_lines(o["metric"], df, live)
    fig = figures.curves_figure(series, smoothing=o["smoothing"], log_y=o["log_y"], robust_y=o["robust"],
                                x_title="step" if o["x"] == "step" else "wall time (s)", y_title=o["metric"],
                                references=refs, webgl=_points(series, o) > WEBGL_POINTS, height=480,
                                raw_lines=o["detailed"], legend=len(series) <= LEGEND_MAX)
    st.plotly_chart(fig, key="compare.chart", config=PLOT_CONFIG)
    notes = figures.not_logged_notes(o["metric"], lacking)
    if not o["detailed"]:
        notes.append(f"{len(series)} lines: each group's mean only (bands, envelopes and raw lines for up to "
                     f"{DETAIL_MAX})" + ("" if len(series) <= LEGEND_MAX else "; hover a line for its group"))
    clipped = figures.clipped_note(fig, o["metric"], {s["name"]: s["range"] for s in series})
    if clipped:
        notes.append(clipped)
    if df["dataset"].nunique() > 1:
        notes.append("runs of several data sets: mode counts and distances are not on one scale")
    if o["metric"] in figures.REFERENCE_LINES and o["theory"] and not refs:
        notes.append("no theory line: some runs' losses are not probability losses")
    notes.append(f"up to {o['points']} buckets per curve, shared by all runs")
    st.caption(" · ".join(notes))


def _points(series: list[dict], o: dict) -> int:
    """How many points the chart's lines hold (raw lines double them)."""
    raw = 2 if o["detailed"] and o["smoothing"] > 0 else 1
    return raw * sum(len(s["x"]) for s in series)


@st.fragment
def _chart_section(df: pd.DataFrame, groups: dict[str, list[str]], keys: list[str], per_run: bool) -> None:
    """Chart controls and the chart: a fragment, so changing a chart-only control reruns (and redraws) just this,
    not the tables below."""
    o = _chart_controls(keys, per_run, len(groups) <= DETAIL_MAX)
    try:
        _chart(df, groups, o)
    except data.StoreError as exc:
        st.error(str(exc))


FINAL_PREFIXES = ("metric", "theory", "translation")  # the evaluations' metrics: what a run ends at, compared


def _final_table(df: pd.DataFrame, groups: dict[str, list[str]]) -> tuple[pd.DataFrame, list[str]]:
    finals = [c[len("metrics."):] for c in df.columns if c.startswith("metrics.")
              and c[len("metrics."):].split("/")[0] in FINAL_PREFIXES and df[c].notna().any()]
    group_of = {r: g for g, members in groups.items() for r in members}
    runs_df = pd.DataFrame({"group": df["run_id"].map(group_of)})
    for m in finals:
        runs_df[m] = df[f"metrics.{m}"].to_numpy(dtype=np.float64)
    return runs_df, finals


def _final_section(runs_df: pd.DataFrame, finals: list[str]) -> None:
    st.subheader("Final metrics")
    if not finals:
        st.info("No evaluation metrics (metric/…) logged by these runs yet.")
        return
    summary = stats.summarise_final(runs_df, "group", finals)
    shown, best = figures.final_metrics_table(summary, "group", finals)
    styled = shown.style.apply(lambda _: np.where(best, "background-color: rgba(33, 195, 84, 0.25); "
                                                  "font-weight: bold", ""), axis=None)
    st.dataframe(styled, hide_index=True, width="stretch")
    st.caption("Last logged value per run; mean ± standard error over the group's runs; best group per column "
               "highlighted (by the metric's direction); (n=k): only k runs have a finite value.")
    st.download_button("Download CSV", lambda: summary.to_csv(index=False).encode(), "final_metrics.csv",
                       "text/csv", key="compare.csv", on_click="ignore")


def _tests_section(runs_df: pd.DataFrame, finals: list[str]) -> None:
    st.subheader("Significance")
    if runs_df["group"].nunique() < 2 or not finals:
        st.info("Needs at least two groups with final metrics.")
        return
    c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
    default = next((m for m in ("metric/modes", "metric/fid") if m in finals), finals[0])
    if st.session_state.get(K + "test_metric") not in finals:
        st.session_state[K + "test_metric"] = default
    metric = c1.selectbox("Metric", finals, key=K + "test_metric")
    test = c2.radio("Test", ["welch", "mannwhitney"], horizontal=True, key=K + "test",
                    format_func={"welch": "Welch's t", "mannwhitney": "Mann–Whitney U"}.get)
    # No min/max: the browser would keep an out-of-range α in the box and the tests would use the last one.
    alpha = c4.number_input("α", step=0.01, format="%.3f", key=widgets.initial(K + "alpha", 0.05))
    if not ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]:
        st.error(f"α: {alpha:g} is out of range, allowed {ALPHA_RANGE[0]:g} to {ALPHA_RANGE[1]:g}")
        return
    groups = {g: sub[metric].to_numpy() for g, sub in runs_df.groupby("group", sort=True)
              if np.isfinite(sub[metric].to_numpy(dtype=np.float64)).any()}
    if len(groups) < 2:
        st.info(f"Needs at least two groups with a finite {metric}.")
        return
    against = _reference_group(c3, groups, metric)
    res = stats.pairwise_tests(groups, test=test, alpha=alpha, against=against)
    st.dataframe(res, hide_index=True, width="stretch", placeholder="–",
                 column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                                for c in ("mean_a", "mean_b", "statistic", "p", "p_holm", "effect", "cohen_d",
                                          "hedges_g", "cliffs_delta")})
    effect = "Hedges' g" if test == "welch" else "Cliff's δ"
    pairs = "every pair of groups" if against is None else f"{against} (a) against each other group"
    st.caption(f"Two-sided, {pairs}, p Holm-corrected over the {len(res)} pairs; effect = {effect} "
               f"(positive: a is larger). A pair with fewer than two finite values on a side has no p.")


def _reference_group(column, groups: dict[str, np.ndarray], metric: str) -> str | None:
    """Which pairs to test: every pair (None), or one group against the others, by default the best by the
    metric's mean; with more than ALL_PAIRS_MAX groups only the latter."""
    means = {g: float(np.nanmean(v.astype(np.float64))) for g, v in groups.items()}
    higher = stats.direction(metric)
    best = (max if higher is not False else min)(means, key=means.get) if higher is not None else next(iter(means))
    options = ([None] if len(groups) <= ALL_PAIRS_MAX else []) + list(groups)
    key = K + "test_against"
    if st.session_state.get(key, "unset") not in options:
        st.session_state[key] = None if None in options else best
    return column.selectbox("Pairs", options, key=key,
                            format_func=lambda g: "every pair" if g is None else f"{g} against the others" + (
                                " (best mean)" if g == best else ""),
                            help=f"Every pair of groups, or one group against each other one (k − 1 tests; the only "
                                 f"choice above {ALL_PAIRS_MAX} groups, where every pair would be "
                                 f"{len(groups) * (len(groups) - 1) // 2:,} tests).")


def _diff_section(df: pd.DataFrame, cfgs: dict[str, dict], groups: dict[str, list[str]], per_run: bool) -> None:
    st.subheader("Config: only what differs")
    by_group = not per_run and len(groups) < len(df) and st.toggle("per group",
                                                                   key=widgets.initial(K + "diff_groups", True))
    if by_group:
        table = stats.diff_only({g: cfgs[m[0]] for g, m in groups.items()}, ignore=stats.IDENTITY_FIELDS)
    else:
        labels = _unique_labels(df)
        table = stats.diff_only({labels[r]: cfgs[r] for r in df["run_id"]}, ignore=("run_name",))
    if table.empty:
        st.caption("The configs are identical.")
    else:
        st.dataframe(table.astype(str), width="stretch", placeholder="–")


def _parallel_section(df: pd.DataFrame, cfgs: dict[str, dict], finals: list[str]) -> None:
    st.subheader("Parallel coordinates")
    if not finals or len(df) < 2:
        st.info("Needs two runs or more with final metrics.")
        return
    if not st.toggle("Show parallel coordinates", key=K + "pc_show",
                     help="Off by default: a WebGL chart that takes a moment to draw for many runs."):
        return
    varying = [f for f in stats.diff_only(cfgs, ignore=("run_name",)).index if f != "seed"]
    if st.session_state.get(K + "pc_metric") not in finals:
        st.session_state[K + "pc_metric"] = next((m for m in ("metric/modes", "metric/fid") if m in finals),
                                                 finals[0])
    c1, c2 = st.columns([1, 3])
    metric = c1.selectbox("Colour by", finals, key=K + "pc_metric")
    dims = c2.multiselect("Config fields", varying, default=varying[:8], key="compare.pc_dims")
    if not dims:
        st.caption("No config field differs between these runs.")
        return
    table = pd.DataFrame([{d: cfgs[r].get(d) for d in dims} for r in df["run_id"]])
    table[metric] = df[f"metrics.{metric}"].to_numpy(dtype=np.float64)
    st.plotly_chart(figures.parallel_coordinates(table, [*dims, metric], metric), key="compare.parcoords",
                    config=PLOT_CONFIG)


def render() -> None:
    st.title("Compare")
    try:
        selected = data.selected_runs()
        df = data.runs_by_id(selected)
    except data.StoreError as exc:
        st.error(str(exc))
        return
    if not selected:
        st.info("No runs selected: pick rows (or a whole sweep) on the Runs page.")
        st.page_link("views/runs.py", label="Go to Runs", icon=":material/table_rows:")
        return
    if len(df) < len(selected):
        st.warning(f"{len(selected) - len(df)} selected run(s) are not in this store any more.")
    if df.empty:
        return
    st.query_params.from_dict(data.selection_query(df["run_id"].tolist()))
    n_del = int(df["deleted"].sum())
    st.caption(f"{len(df):,} run{'' if len(df) == 1 else 's'}" + (f" ({n_del} deleted)" if n_del else "") +
               (f", {int(df['active'].sum())} still active" if df["active"].any() else ""))
    cfgs = data.configs(df)
    keys = data.metric_keys(df)
    fields = sorted({k for c in cfgs.values() for k in c})
    if not keys:
        st.info("The selected runs have not logged any metric yet; they appear here with their first values.")
        _diff_section(df, cfgs, {r: [r] for r in df["run_id"]}, True)
        return
    by, per_run = _grouping(fields)
    groups = _groups(df, by, per_run)
    _chart_section(df, groups, keys, per_run)
    runs_df, finals = _final_table(df, groups)
    _final_section(runs_df, finals)
    _tests_section(runs_df, finals)
    _diff_section(df, cfgs, groups, per_run)
    _parallel_section(df, cfgs, finals)


render()
