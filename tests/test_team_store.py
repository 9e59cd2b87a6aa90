"""A team's store in miniature: pages of runs, counts, sweeps and runs by id (dashboard/data/runs_table.py), and
the pages' answers to many runs (Compare's many groups, the Gallery's pictures).

The store is the one bench/scale.py times at 10,000 runs, in a small shape (260 runs in 6 sweeps, the big one of
100 configs x 2 seeds, statuses mixed, curve summaries and snapshots as the engine logs them), built by
bench/scale_store.py on SQLite. Every answer is checked against MLflow's tables read here with sqlite3: a page is a
slice of the store's own order, a count is a COUNT, a sweep's size is its runs. The tracking server's side (REST,
its database and folder read directly) is tests/test_hosting.py's.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bench import scale_store
from engine import tracking
from engine.config import FIELDS

SHAPE = scale_store.Shape(runs=260, sweeps=6, big=200, long_steps=50, short_steps=20)


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """(the store's database file, the build's facts); MLFLOW_TRACKING_URI points at it for the module."""
    folder = tmp_path_factory.mktemp("team")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        uri, info = scale_store.build_sqlite(folder, SHAPE)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        yield Path(uri[len("sqlite:///"):]), info
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture
def data(team):
    import logging

    import streamlit as st

    from dashboard import data as data_module

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime found": not inside `streamlit run`
    st.cache_data.clear()
    data_module.runs_table.refresh()
    return data_module


def sql(team, query: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(team[0])
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def test_the_store_is_the_shape_asked(team):
    runs = sql(team, "SELECT COUNT(*), COUNT(DISTINCT experiment_id) FROM runs")[0]
    assert runs == (SHAPE.runs, len(scale_store.EXPERIMENTS))
    sweeps = dict(sql(team, "SELECT value, COUNT(*) FROM tags WHERE key = 'ganboard.sweep' GROUP BY value"))
    assert len(sweeps) == SHAPE.sweeps and sweeps[team[1]["big_sweep"]] == SHAPE.big
    # every run has its whole config, and the 8 metrics at every logged step it got to
    assert {n for (n,) in sql(team, "SELECT COUNT(*) FROM params GROUP BY run_uuid")} == {len(FIELDS)}
    rows = sql(team, "SELECT COUNT(*) FROM metrics")[0][0]
    assert rows == team[1]["metric_rows"] and rows >= SHAPE.big * SHAPE.long_steps * 8


def test_pages_are_slices_of_the_stores_order(team, data):
    order = [r for (r,) in sql(team, "SELECT run_uuid FROM runs ORDER BY start_time DESC, run_uuid")]
    pages = [data.runs(offset=k, limit=7)["run_id"].tolist() for k in range(0, SHAPE.runs, 7)]
    assert [r for page in pages for r in page] == order
    assert data.runs(offset=SHAPE.runs - 3, limit=50)["run_id"].tolist() == order[-3:]
    assert data.runs(offset=SHAPE.runs, limit=50).empty
    by_fid = sql(team, "SELECT r.run_uuid FROM runs r LEFT JOIN latest_metrics m ON m.run_uuid = r.run_uuid AND "
                       "m.key = 'metric/fid' ORDER BY m.value IS NULL, m.value, r.run_uuid")
    got = data.runs(order_by=["metrics.`metric/fid` ASC"], limit=SHAPE.runs)["run_id"].tolist()
    assert got == [r for (r,) in by_fid]


@pytest.mark.parametrize("statuses", [("failed",), ("finished", "killed"), ("queued", "running"),
                                      ("queued", "running", "finished", "failed", "killed")])
def test_a_status_filter_is_the_set_of_statuses_asked(team, data, statuses):
    from engine.tracking import STATUS_WORDS

    wanted = [s for s, word in STATUS_WORDS.items() if word in statuses]
    truth = sql(team, f"SELECT run_uuid FROM runs WHERE status IN ({', '.join('?' * len(wanted))})", tuple(wanted))
    got = data.runs(statuses=statuses, limit=SHAPE.runs)
    assert sorted(got["run_id"]) == sorted(r for (r,) in truth)
    assert data.count_runs(statuses=statuses) == len(truth)


def test_counts_are_the_stores_counts_by_sql_and_by_probing_its_paging(team, data):
    big = team[1]["big_sweep"]
    failed = sql(team, "SELECT COUNT(*) FROM runs WHERE status = 'FAILED'")[0][0]
    assert data.count_runs() == SHAPE.runs
    assert data.count_runs(sweep=big) == SHAPE.big
    assert data.count_runs(statuses=["failed"]) == failed
    # a search filter is counted by probing the store's pages (no SQL for MLflow's filter syntax)
    hinge = sql(team, "SELECT COUNT(*) FROM params WHERE key = 'loss' AND value = 'hinge'")[0][0]
    assert 0 < hinge < SHAPE.runs and data.count_runs(filter_string="params.loss = 'hinge'") == hinge
    assert data.count_runs(filter_string="params.loss = 'hinge'", statuses=["finished"], sweep=big) == sql(
        team, "SELECT COUNT(*) FROM runs r JOIN params p ON p.run_uuid = r.run_uuid AND p.key = 'loss' JOIN tags t "
              "ON t.run_uuid = r.run_uuid AND t.key = 'ganboard.sweep' WHERE p.value = 'hinge' AND t.value = ? AND "
              "r.status = 'FINISHED'", (big,))[0][0]


@pytest.mark.parametrize("ways", [1, 2, 8])
def test_probing_finds_any_count_in_a_few_rounds(ways):
    import math
    import threading

    from dashboard.data.runs_table import _probe_count

    for n in [0, 1, 2, 3, 7, 8, 9, 50, 255, 256, 257, 1000, 10_000, 12_345]:
        asked, rounds = [], []
        lock = threading.Lock()

        def exists_at(k):
            with lock:
                asked.append(k)
            return k < n

        assert _probe_count(exists_at, ways) == n, (n, ways)
        assert all(k >= 0 for k in asked)
        # each round asks `ways` offsets at once: bracketing needs about log2(n) / ways rounds, narrowing
        # log base (ways + 1) of the bracket
        bound = ways * (math.ceil((max(n, 1).bit_length() + 1) / ways) + math.ceil(
            math.log(max(n, 2), ways + 1)) + 2)
        assert len(asked) <= bound, (n, ways, len(asked), bound)


def test_the_sweep_index_lists_every_sweep_with_its_runs_without_reading_a_run(team, data, monkeypatch):
    truth = {sweep: n for sweep, n in sql(team, "SELECT value, COUNT(*) FROM tags WHERE key = 'ganboard.sweep' "
                                                "GROUP BY value")}
    names = dict(sql(team, "SELECT DISTINCT t.value, n.value FROM tags t JOIN tags n ON n.run_uuid = t.run_uuid "
                           "AND n.key = 'ganboard.sweep_name' WHERE t.key = 'ganboard.sweep'"))
    monkeypatch.setattr(tracking, "search_runs", lambda *a, **k: pytest.fail("the index read a run"))
    index = data.sweeps()
    assert dict(zip(index["sweep"], index["runs"])) == truth
    assert dict(zip(index["sweep"], index["sweep_name"])) == names
    assert index["start"].is_monotonic_decreasing  # newest first
    first_exp = index["experiment_id"].iloc[0]
    assert set(data.sweeps([first_exp])["experiment_id"]) == {first_exp}
    # the ids of a sweep's runs, newest first
    big = team[1]["big_sweep"]
    want = sql(team, "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE t.key = "
                     "'ganboard.sweep' AND t.value = ? ORDER BY r.start_time DESC, r.run_uuid", (big,))
    assert data.sweep_run_ids(big) == [r for (r,) in want]


def test_reindexing_rebuilds_the_index_the_submits_wrote(team, data):
    from engine.launch.interface import reindex_sweeps

    before = data.sweeps()
    con = sqlite3.connect(team[0])
    with con:
        con.execute("DELETE FROM experiment_tags WHERE key LIKE 'ganboard.sweep_index.%'")
    con.close()
    data.runs_table.refresh()
    assert data.sweeps().empty
    assert reindex_sweeps() == SHAPE.sweeps
    data.runs_table.refresh()
    after = data.sweeps()
    assert after[["sweep", "sweep_name", "runs", "start"]].equals(before[["sweep", "sweep_name", "runs", "start"]])


def test_runs_by_id_reuse_an_ended_runs_row_and_read_an_active_one_again(team, data, monkeypatch):
    from dashboard.data import runs_table, store

    ids = [r for (r,) in sql(team, "SELECT run_uuid FROM runs ORDER BY run_uuid LIMIT 5")]
    reads: list[list[str]] = []
    real = runs_table._sql_runs
    monkeypatch.setattr(runs_table, "_sql_runs", lambda db, run_ids: reads.append(list(run_ids)) or real(db, run_ids))
    first = data.runs_by_id(ids)
    assert first["run_id"].tolist() == ids and reads == [ids]
    assert data.runs_by_id(ids[::-1])["run_id"].tolist() == ids[::-1] and len(reads) == 1  # all ended: reused
    tracking.set_status(ids[0], tracking.RUNNING)  # resumed, say
    monkeypatch.setattr(store, "SETTLED_TTL_S", 0.0)  # the ended rows' reuse has run out
    assert data.runs_by_id(ids).set_index("run_id").loc[ids[0], "status"] == "running"
    monkeypatch.setattr(store, "SETTLED_TTL_S", 60.0)
    assert data.runs_by_id(ids).set_index("run_id").loc[ids[0], "active"] and reads[-1] == ids
    monkeypatch.setattr(store, "RUNS_TTL_S", 0.0)
    data.runs_by_id(ids)
    assert reads[-1] == [ids[0]]  # only the active run is read again
    tracking.set_status(ids[0], tracking.FINISHED)


def test_the_paging_helper_walks_every_page_or_stops_where_asked(team):
    order = [r for (r,) in sql(team, "SELECT run_uuid FROM runs ORDER BY start_time DESC, run_uuid")]
    assert [r.info.run_id for r in tracking.search_runs(page_size=7)] == order
    assert [r.info.run_id for r in tracking.search_runs(limit=10, page_size=4)] == order[:10]
    assert [r.info.run_id for r in tracking.search_runs(offset=SHAPE.runs - 5, page_size=2)] == order[-5:]
    assert tracking.search_run_ids("attributes.status = 'FAILED'") == [
        r for r in order if r in {x for (x,) in sql(team, "SELECT run_uuid FROM runs WHERE status = 'FAILED'")}]


def test_the_benchs_curve_summaries_are_the_engines_of_its_rows(team, data):
    """The store's summaries (what Compare draws for ended runs) equal the curves of its metric rows."""
    big = data.sweep_run_ids(team[1]["big_sweep"])[:5]
    from_summaries = data.curves(big, "loss/g", points=40)
    for run_id in big:
        rows = np.array(sql(team, "SELECT step, timestamp, value FROM metrics WHERE run_uuid = ? AND key = 'loss/g'",
                            (run_id,)), dtype=np.float64)
        width = data.grid_width(rows[:, 0].max(), 40)
        for a, b in zip(from_summaries[run_id], data.bucket_curve(rows[:, 0], rows[:, 1], rows[:, 2], width)):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_run_that_never_logged_a_metric_is_not_read_for_it(team, data, monkeypatch):
    from dashboard.data import artifacts, curve_reads

    big = data.sweep_run_ids(team[1]["big_sweep"])
    monkeypatch.setattr(artifacts, "read_run_artifact", lambda *a: pytest.fail("read a summary that is not there"))
    monkeypatch.setattr(curve_reads, "_sql_curves", lambda *a: pytest.fail("read rows that are not there"))
    assert data.curves(big, "reference/modes") == {}


# ------------------------------------------------------------------------------------------- the pages
def test_compare_of_a_hundred_groups_draws_mean_lines_and_tests_against_the_best(team, data):
    """More groups than views/compare.py's DETAIL_MAX and ALL_PAIRS_MAX (20): mean lines only, no legend, and one
    group (the best mean) tested against each other one."""
    import json

    from support import open_page

    at = open_page("views/compare.py", query={"sweep": team[1]["big_sweep"]}, timeout=300)
    assert not at.exception, [e.message for e in at.exception]
    groups = data.groups(data.runs_by_id(data.sweep_run_ids(team[1]["big_sweep"])))
    assert len(groups) == 100 > 20 and {len(m) for m in groups.values()} == {2}  # the seeds
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = [t for t in spec["data"] if t.get("legendgroup")]
    assert len(lines) == 100 and not any(" band" in t["name"] or "min/max" in t["name"] or " raw" in t["name"]
                                         for t in lines)  # one mean line a group, nothing else
    assert spec["layout"]["showlegend"] is False and all(t["type"] == "scatter" for t in lines)  # 100 x 400: SVG
    assert at.selectbox(key="keep.compare.band").disabled and at.toggle(key="keep.compare.envelope").disabled
    # significance: one group against the others (99 pairs, not 4,950), the best mean by default
    pairs = at.selectbox(key="keep.compare.test_against")
    assert None not in pairs.options and len(pairs.options) == 100
    table = at.dataframe[1].value
    assert len(table) == 99 and set(table["a"]) == {pairs.value}
    metric = at.selectbox(key="keep.compare.test_metric").value
    finals = data.runs_by_id(data.sweep_run_ids(team[1]["big_sweep"]))
    means = {g: finals.set_index("run_id").loc[m, f"metrics.{metric}"].mean() for g, m in groups.items()}
    from dashboard.stats import direction

    best = (max if direction(metric) is not False else min)(means.values())
    assert means[pairs.value] == best  # (of groups tied for the best, any)


def test_a_gallery_page_of_many_runs_is_pictures_and_of_a_few_is_charts(team, data):
    from support import open_page

    ids = data.sweep_run_ids(team[1]["big_sweep"])[:20]
    at = open_page("views/gallery.py", session={data.SELECTION_KEY: ids}, timeout=300)
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == 1 + 16  # the loss chart and 16 interactive panels: the default page
    at.select_slider(key="keep.gallery.per_page").set_value(32).run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == 1  # only the loss chart: 20 runs a page > views/gallery.py's 16
    assert len(at.get("image")) == 20  # every run of the page as a picture
    captions = " ".join(c.value for c in at.caption)
    assert captions.count("— step") == 20
