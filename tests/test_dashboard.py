"""The dashboard pages under Streamlit's AppTest (no browser), and the data module against a small real store.

The store is an embedded MLflow store in a temp folder, filled the way the engine fills it (tracking.create_run,
then metrics with log_batch) with runs chosen to hit the awkward cases: seeds of two configs, two data sets, a
NaN in a loss, a queued run with no metrics yet, a deleted run. Launching goes through a launcher that queues
runs in the store but starts no process (the browser test runs a real one).
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import open_page, store_env

from engine import launch as launch_lib
from engine import tracking
from engine.config import build_config

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60


# ------------------------------------------------------------------------------------------------ the store
def _log(client, run_id: str, series: dict[str, np.ndarray], steps: np.ndarray) -> None:
    from mlflow.entities import Metric

    batch = [Metric(k, float(v[i]), 1_700_000_000_000 + int(s) * 100, int(s))
             for i, s in enumerate(steps) for k, v in series.items()]
    for i in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[i:i + 1000])


def build_store(folder: Path) -> dict[str, list[str]]:
    """A small store; returns run ids by role. MLFLOW_TRACKING_URI must point at folder/mlflow.db."""
    client = tracking.client()
    steps = np.arange(0, 201, 10)
    t = steps / steps[-1]
    roles: dict[str, list[str]] = {"ns": [], "hinge": [], "queued": [], "deleted": []}
    for preset, dataset, seeds in (("ns", "ring", 3), ("hinge", "grid", 2)):
        for seed in range(seeds):
            cfg = build_config(preset, {"dataset": dataset, "seed": seed, "steps": 200})
            tags = {"ganboard.preset": preset, "ganboard.sweep": f"sw-{preset}",
                    "ganboard.sweep_name": f"{preset} sweep", "ganboard.step": "200", "ganboard.health": "healthy" if seed else "mode_collapse"}
            run_id = tracking.create_run(cfg.to_dict(), tags=tags, run_name=f"{preset} s{seed}", status="RUNNING")
            rng = np.random.default_rng(seed)
            loss_g = 0.7 + 0.5 * np.exp(-3 * t) + rng.normal(0, 0.01, t.size)
            if preset == "ns" and seed == 1:
                loss_g[5] = math.nan  # a diverged step: must read as missing, not zero
            modes = (6 + seed if preset == "ns" else 20 + seed) * np.minimum(1, 2 * t)
            _log(client, run_id, {"loss/d": 1.386 - 0.3 * np.exp(-3 * t), "loss/g": loss_g,
                                  "d/real": 0.5 + 0.2 * np.exp(-3 * t), "d/fake": 0.5 - 0.2 * np.exp(-3 * t),
                                  "metric/modes": modes, "metric/fid": 5.0 * np.exp(-2 * t) + seed * 0.1}, steps)
            client.set_terminated(run_id, "FINISHED")
            if preset == "hinge":  # as RunLogger.close does: these are drawn from their summaries
                tracking.log_curve_summaries(run_id)
            roles[preset].append(run_id)
        tracking.index_sweep(tracking.DEFAULT_EXPERIMENT, f"sw-{preset}", f"{preset} sweep", seeds)  # as submit does
    cfg = build_config("ns", {"steps": 100})
    roles["queued"].append(tracking.create_run(cfg.to_dict(), tags={"ganboard.preset": "ns"}, run_name="waiting",
                                               status="SCHEDULED"))
    gone = tracking.create_run(cfg.to_dict(), tags={"ganboard.preset": "ns"}, run_name="gone", status="FINISHED")
    client.delete_run(gone)
    roles["deleted"].append(gone)
    return roles


class QueueOnly(launch_lib.Launcher):
    """Queues runs in the store exactly as the local launcher does, but starts no process."""

    backend = "test"
    stopped: list[str] = []

    def enqueue(self, run_ids, configs):
        pass

    def _stop_started(self, run):
        QueueOnly.stopped.append(run.info.run_id)

    def logs(self, run_id):
        return f"log of {run_id}"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    with store_env(folder):
        yield build_store(folder)


@pytest.fixture
def env(store, monkeypatch):
    monkeypatch.setattr(launch_lib, "get_launcher", lambda name=None: QueueOnly())
    monkeypatch.delenv("GANBOARD_READONLY", raising=False)
    return store


def app(page: str | None = None, session: dict | None = None, query: dict | None = None):
    return open_page(page, session, query, TIMEOUT)


def no_exception(at) -> None:
    assert not at.exception, [e.message for e in at.exception]


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error] + \
        [i.value for i in at.info] + [w.value for w in at.warning] + [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


# -------------------------------------------------------------------------------------------- data module
def test_runs_frame_types_params_and_hides_deleted(env):
    from dashboard import data

    df = data.runs()
    assert len(df) == 6  # 3 ns + 2 hinge + 1 queued; the deleted run is hidden
    assert env["deleted"][0] not in set(df["run_id"])
    row = df.set_index("run_id").loc[env["ns"][0]]
    assert row["status"] == "finished" and row["progress"] == 1.0
    assert row["params.lr_d"] == pytest.approx(1e-4) and not row["params.g_bn"] and df["params.g_bn"].dtype == bool
    assert row["params.steps"] == 200 and row["seed"] == 0
    queued = df.set_index("run_id").loc[env["queued"][0]]
    assert queued["status"] == "queued" and queued["active"] and math.isnan(queued["metrics.loss/d"])
    both = data.runs(deleted=True)
    assert len(both) == 7 and both.set_index("run_id").loc[env["deleted"][0], "deleted"]


def test_params_come_back_typed_and_what_does_not_parse_stays_text(tmp_path):
    """Params are text in MLflow: a config field's comes back in the field's type (engine.config.coerce), while a
    value that does not parse and a field this version does not know stay text, so that old runs still open."""
    from dashboard import data

    with store_env(tmp_path):
        cfg = build_config("ns", {"steps": 100, "g_bn": True}).to_dict()
        run_id = tracking.create_run({**cfg, "lr_d": "fast", "old_knob": "3"}, run_name="old")
        df = data.runs()
        row = df.set_index("run_id").loc[run_id]
        assert row["params.steps"] == 100 and row["params.lr_g"] == cfg["lr_g"]
        assert df["params.g_bn"].dtype == bool and row["params.g_bn"]
        assert row["params.lr_d"] == "fast" and row["params.old_knob"] == "3" and row["seed"] == 0
        at = app()
        no_exception(at)
        assert "old" in at.dataframe[0].value["name"].tolist()


def test_bad_search_filter_is_one_line_naming_the_filter(env):
    from dashboard import data

    with pytest.raises(data.StoreError) as err:
        data.runs(filter_string="metrics.x >>> 3")
    msg = str(err.value)
    assert "\n" not in msg and "metrics.x >>> 3" in msg
    hinge = data.runs(filter_string="params.loss = 'hinge'")
    assert sorted(hinge["run_id"]) == sorted(env["hinge"])


def _reference_curve(client, run_id: str, key: str, width: int):
    """The definition, from the run's rows as MLflow returns them: engine.curves.bucket_curve."""
    from dashboard import data

    h = np.array([[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, key)])
    return data.bucket_curve(h[:, 0], h[:, 1], h[:, 2], width)


def test_curves_from_rows_and_from_summaries_match_the_definition_and_keep_nan_missing(env):
    from mlflow import MlflowClient

    from dashboard import data

    ids = env["ns"] + env["hinge"]  # ns: read row by row in SQL; hinge: merged from their logged summaries
    df = data.runs_by_id(ids)
    assert set(data.summarised_runs(df)) == set(env["hinge"])
    got = data.curves(ids, "loss/g", points=7)
    assert set(got) == set(ids)
    client = MlflowClient()
    width = data.grid_width(200, 7)
    assert width == 32  # the smallest power of two that covers steps 0..200 in at most 7 buckets
    for run_id in ids:
        for a, b in zip(got[run_id], _reference_curve(client, run_id, "loss/g", width)):
            np.testing.assert_allclose(a, b, equal_nan=True)
    # Buckets of 32 steps: bucket 1 holds steps 40, 50, 60; run 1's NaN at step 50 is skipped, not read as 0.
    c = got[ids[1]]
    assert len(c.step) == 7 and np.isfinite(c.mean).all()
    assert c.step[1] == pytest.approx(50.0)
    rows = {m.step: m.value for m in client.get_metric_history(ids[1], "loss/g")}
    assert c.mean[1] == pytest.approx((rows[40] + rows[60]) / 2)
    assert data.curves(env["queued"], "loss/g") == {}


def test_curve_summaries_stand_in_only_where_they_are_fine_enough(tmp_path, monkeypatch):
    """A summary kept at 4 steps a bucket serves charts of 4 steps a bucket and coarser; a finer chart reads
    the rows. A summarised run that is running again (resumed) is read row by row."""
    from mlflow import MlflowClient

    from dashboard import data
    from dashboard.data import curve_reads, runs_table
    from engine import curves as curves_lib

    with store_env(tmp_path):
        client = tracking.client()
        cfg = build_config("ns", {"steps": 2000})
        run_id = tracking.create_run(cfg.to_dict(), run_name="long")
        steps = np.arange(0, 2001, 1)
        _log(client, run_id, {"loss/d": np.sin(steps / 50.0)}, steps)
        client.set_terminated(run_id, "FINISHED")
        monkeypatch.setattr(curves_lib, "BASE_BUCKETS", 512)  # 2001 steps -> base width 4
        tracking.log_curve_summaries(run_id)
        curve_reads._summary_cached.cache_clear()
        where = data.summarised_runs(data.runs_by_id([run_id]))[run_id]
        summary = curve_reads._summary_cached(data.store_uri(), run_id, *where, "loss/d")
        assert summary.width == 4 and summary.last_step == 2000
        reads = []
        monkeypatch.setattr(curve_reads, "_sql_curves", lambda *a: reads.append(a[3]) or {})
        for points, width, from_rows in ((100, 32, False), (600, 4, False), (1200, 2, True)):
            got = curve_reads._read_curves(data.store_uri(), (run_id,), "loss/d", points,
                                           ((run_id, *where),))
            assert (reads[-1:] == [width]) == from_rows and reads.count(width) == from_rows
            if not from_rows:
                for a, b in zip(got[run_id], _reference_curve(MlflowClient(), run_id, "loss/d", width)):
                    np.testing.assert_allclose(a, b)
        # A summary that cannot be read (here: its file moved away) is not remembered as missing.
        curve_reads._summary_cached.cache_clear()
        local = Path(where[0]) / curves_lib.artifact_name("loss/d")
        local.rename(local.with_suffix(".away"))
        assert curve_reads._summary_or_none(data.store_uri(), run_id, *where, "loss/d") is None
        local.with_suffix(".away").rename(local)
        assert curve_reads._summary_or_none(data.store_uri(), run_id, *where, "loss/d").width == 4
        client.update_run(run_id, status="RUNNING")
        runs_table.refresh()
        assert data.summarised_runs(data.runs_by_id([run_id])) == {}


def test_bucket_curve_keeps_spikes_and_gaps():
    from dashboard import data

    steps = np.arange(10.0)
    values = np.array([1, 1, 50, 1, 1, np.nan, np.inf, 1, 1, 1], dtype=float)
    c = data.bucket_curve(steps, steps * 1000, values, width=5)
    np.testing.assert_allclose(c.step, [2, 7])
    np.testing.assert_allclose(c.vmax, [50, 1])
    np.testing.assert_allclose(c.mean, [54 / 5, 1])
    np.testing.assert_allclose(c.wall, [2, 7])
    gap = data.bucket_curve(steps, steps, np.r_[np.ones(5), np.full(5, np.nan)], width=5)
    assert np.isnan(gap.mean[1]) and np.isnan(gap.vmax[1])


def test_bucket_curve_keeps_extremes_and_the_total_mean_of_equal_buckets():
    """Each bucket's min and max are the extremes of its rows, and buckets of equal size keep the curve's mean."""
    from dashboard import data

    rng = np.random.default_rng(0)
    values = rng.normal(size=1024)
    steps = np.arange(1024.0)
    c = data.bucket_curve(steps, steps, values, width=128)  # 8 buckets of exactly 128 points
    assert c.vmin.min() == values.min() and c.vmax.max() == values.max()
    assert c.mean.mean() == pytest.approx(values.mean(), abs=1e-12)
    np.testing.assert_allclose(c.mean, values.reshape(8, 128).mean(1), rtol=1e-12)
    np.testing.assert_allclose(c.step, steps.reshape(8, 128).mean(1))


def test_bucket_curve_of_a_short_curve_is_the_curve_sorted():
    from dashboard import data

    c = data.bucket_curve([3, 1, 2], [0, 0, 0], [30.0, 10.0, 20.0], width=1)
    np.testing.assert_array_equal(c.step, [1, 2, 3])
    for arr in (c.mean, c.vmin, c.vmax):
        np.testing.assert_array_equal(arr, [10.0, 20.0, 30.0])


def test_down_server_is_one_clear_line(monkeypatch):
    from dashboard import data

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(data.StoreError) as err:
        data.runs()
    assert "not reachable" in str(err.value) and "\n" not in str(err.value)


def test_readonly_refuses_every_write(env, monkeypatch):
    from dashboard import data

    monkeypatch.setenv("GANBOARD_READONLY", "1")
    for call in (lambda: data.launch("ns", {}, None, [0]), lambda: data.stop(env["queued"]),
                 lambda: data.delete(env["ns"]), lambda: data.relaunch(env["ns"][:1])):
        with pytest.raises(data.ReadOnlyError):
            call()


# ----------------------------------------------------------------------------------- pure presentation bits
def test_grouped_series_mean_band_and_envelope():
    from dashboard import figures
    from dashboard.data import Curve

    def curve(mean, spike=0.0):
        s = np.array([0.0, 10.0, 20.0])
        m = np.asarray(mean, float)
        return Curve(s, s / 10, m, m - 1, m + 1 + spike)

    curves = {"a": curve([1, 2, 3]), "b": curve([3, 4, 5], spike=10), "c": curve([7, 7, 7])}
    series = figures.grouped_series(curves, {"pair": ["a", "b", "missing"], "solo": ["c"], "none": ["x"]},
                                    band="std")
    assert [s["name"] for s in series] == ["pair (n=2)", "solo (n=1)"]
    pair, solo = series
    np.testing.assert_allclose(pair["y"], [2, 3, 4])
    np.testing.assert_allclose(pair["hi"] - pair["y"], [math.sqrt(2)] * 3)  # sd of {1, 3} etc.
    np.testing.assert_allclose(pair["ymax"], [14, 15, 16])  # b's spike survives in the envelope
    np.testing.assert_allclose(pair["ymin"], [0, 1, 2])
    assert "lo" not in solo and list(solo["ymax"]) == [8, 8, 8]
    wall = figures.grouped_series(curves, {"solo": ["c"]}, x="wall")
    np.testing.assert_allclose(wall[0]["x"], [0, 1, 2])


def test_final_metrics_table_marks_best_by_direction():
    from dashboard import figures, stats

    runs = pd.DataFrame({"g": ["a", "a", "b", "b"], "metric/fid": [1.0, 3.0, 5.0, 7.0],
                         "metric/modes": [8, 8, 8, np.nan]})
    summary = stats.summarise_final(runs, "g", ["metric/fid", "metric/modes"])
    shown, best = figures.final_metrics_table(summary, "g", ["metric/fid", "metric/modes"])
    assert shown.loc[0, "metric/fid"] == "2 ± 1"  # mean 2, SE = sd(1, 3) / sqrt(2) = 1
    assert shown.loc[1, "metric/modes"] == "8 (n=1)"
    assert best["metric/fid"].tolist() == [True, False]  # lower FID is better
    assert best["metric/modes"].tolist() == [True, True]  # a tie marks both
    assert not best["runs"].any()


def _dejavu_sans_covers(text: str) -> bool:
    """Whether DejaVu Sans, Debian's default font (matplotlib ships the same file), has a glyph for every char."""
    from pathlib import Path

    import matplotlib
    from fontTools.ttLib import TTFont

    cmap = TTFont(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf").getBestCmap()
    return all(ord(ch) in cmap for ch in text)


def test_badges_are_coloured_text_that_debians_default_font_draws():
    from dashboard import figures
    from engine.health import LABELS

    assert figures.health_badge("mode_collapse") == f"{figures.BADGE_DOT} mode collapse"
    assert figures.health_badge("") == "" and figures.status_badge(None) == ""
    # every label the engine can write, and every run state, has a colour of its own
    assert set(LABELS) <= set(figures.HEALTH_COLORS)
    assert len(set(figures.HEALTH_COLORS.values())) == len(figures.HEALTH_COLORS)
    assert set(figures.STATUS_COLORS) == {"queued", "running", "finished", "failed", "killed"}
    assert len(set(figures.STATUS_COLORS.values())) == len(figures.STATUS_COLORS)
    assert figures.badge_css("failed", figures.STATUS_COLORS).startswith(f"color: {figures.STATUS_COLORS['failed']}")
    assert figures.badge_css("new_label", figures.HEALTH_COLORS).startswith(f"color: {figures.UNKNOWN_BADGE_COLOR}")
    assert figures.badge_css("", figures.HEALTH_COLORS) == ""
    # no emoji: each badge is drawn by DejaVu Sans (an emoji like U+1F7E0 is not, and shows as an empty box)
    assert not _dejavu_sans_covers("\U0001F7E0")
    for text in [figures.health_badge(label) for label in LABELS] + \
            [figures.status_badge(s) for s in figures.STATUS_COLORS]:
        assert _dejavu_sans_covers(text), text


# ----------------------------------------------------------------------------------------------- the pages
def test_runs_page_lists_runs_with_badges(env):
    from dashboard import figures

    at = app()
    no_exception(at)
    assert at.title[0].value == "Runs"
    table = at.dataframe[0].value
    assert len(table) == 6
    assert f"{figures.BADGE_DOT} mode collapse" in set(table["health"])
    # the badges are coloured (a pandas Styler), not emoji: the label's colour reaches the page
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert figures.HEALTH_COLORS["mode_collapse"] in styles and figures.STATUS_COLORS["finished"] in styles
    assert {"modes", "fid", "progress"} <= set(table.columns)
    assert "Runs 1–6 of 6 · by started, descending · 1 active in the store" in texts(at)  # the queued run
    labels = [b.label for b in at.button]
    assert "Stop" in labels and "Delete" in labels


def test_runs_page_bad_filter_shows_one_line(env):
    at = app()
    at.text_input(key="keep.runs.filter").set_value("metrics.x >>> 3").run()
    no_exception(at)
    assert len(at.error) == 1 and "metrics.x >>> 3" in at.error[0].value and "\n" not in at.error[0].value


def test_runs_page_filter_and_sweep_selection_to_compare(env):
    at = app()
    at.text_input(key="keep.runs.filter").set_value("params.loss = 'hinge'").run()
    no_exception(at)
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="keep.runs.sweep").set_value("sw-hinge").run()
    assert len(at.dataframe[0].value) == 2 and "Runs 1–2 of 2" in texts(at)
    at.button(key="runs.compare_sweep").click().run()
    no_exception(at)
    from dashboard import data

    assert sorted(at.session_state[data.SELECTION_KEY]) == sorted(env["hinge"])
    assert at.title[0].value == "Compare"


def test_readonly_hides_launch_and_actions(env, monkeypatch):
    monkeypatch.setenv("GANBOARD_READONLY", "1")
    at = app()
    no_exception(at)
    labels = [b.label for b in at.button]
    assert "Stop" not in labels and "Delete" not in labels and "Relaunch" not in labels
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not in the navigation
        at.switch_page("views/launch.py")
    at.switch_page("views/compare.py").run()
    no_exception(at)


def test_launch_form_presets_validation_and_sweep_count(env):
    at = app("views/launch.py")
    no_exception(at)
    assert at.title[0].value == "Launch"
    # every config field of the chosen data set's architecture is a widget, with its doc as help; the fields of
    # another architecture are not drawn (the ring trains the mlp: no convolution channels)
    from engine.config import schema

    def drawn(spec) -> bool:
        try:
            w = at.get_by_key(f"keep.launch.{spec['name']}")
        except KeyError:  # AppTest's answer for a key no widget has
            return False
        assert (spec["doc"] in w.help and "Allowed:" in w.help), spec["name"]
        return w is not None

    hidden = {spec["name"] for spec in schema() if not drawn(spec)}
    variant_only = {spec["name"]: spec["variants"] for spec in schema() if spec["variants"]}
    # the image-era architectures' own fields (progan's phases, stylegan's w, sagan's and biggan's attention, ...)
    not_dcgan = {spec["name"] for spec in schema() if spec["archs"] and not {"dcgan", "mlp"} & set(spec["archs"])}
    assert {"phase_steps", "w_dim", "psi", "attention_stage", "shared_dim"} <= not_dcgan
    conv = {"g_channels", "d_channels", "conv_stages", *not_dcgan}
    def not_for(variant: str) -> set[str]:  # the fields of other variants (cyclegan takes no z: z's are not for it)
        return {n for n, v in variant_only.items() if variant not in v}

    assert hidden == conv | not_for("gan")  # the plain GAN: no variant's fields
    at.selectbox(key="keep.launch.variant").set_value("infogan").run()
    hidden = {spec["name"] for spec in schema() if not drawn(spec)}
    assert hidden == conv | not_for("infogan")
    at.selectbox(key="keep.launch.variant").set_value("gan").run()
    assert "Latent dimension of G" in at.number_input(key="keep.launch.z_dim").help
    # an image data set trains dcgan: its fields appear, the MLP's and the plane's go
    at.selectbox(key="keep.launch.dataset").set_value("digits").run()
    hidden = {spec["name"] for spec in schema() if not drawn(spec)}
    assert hidden == {"g_width", "g_depth", "g_act", "g_bn", "g_bias", "d_width", "d_depth", "d_act", "d_maxout",
                      "eval_samples", "grid_size", *not_for("gan"), *not_dcgan}
    at.selectbox(key="keep.launch.arch").set_value("stylegan").run()  # its fields come, dcgan's others' stay away
    hidden = {spec["name"] for spec in schema() if not drawn(spec)}
    assert {"w_dim", "mapping_layers", "style_mixing", "psi"}.isdisjoint(hidden)
    assert {"attention_stage", "g_init", "d_init", "init_std", "init_gain"} <= hidden  # equalised layers: no init
    at.selectbox(key="keep.launch.arch").set_value("auto").run()
    no_exception(at)
    at.selectbox(key="keep.launch.dataset").set_value("ring").run()
    # the preset fills the form
    at.selectbox(key="keep.launch.preset").set_value("wgan-gp").run()
    assert at.selectbox(key="keep.launch.loss").value == "wgan"
    assert at.selectbox(key="keep.launch.penalty").value == "wgan_gp"
    assert at.number_input(key="keep.launch.n_critic").value == 5
    # an out-of-range float is an inline error naming the field, and launching is off
    at.text_input(key="keep.launch.lr_d").set_value("20").run()
    no_exception(at)
    assert any(e.value.startswith("lr_d: 20 is out of range") for e in at.error)
    assert at.button(key="launch.submit").disabled
    at.text_input(key="keep.launch.lr_d").set_value("1e-4").run()
    # a cross-field rule names its field too
    at.number_input(key="keep.launch.pack").set_value(3).run()
    assert any(e.value.startswith("batch_size:") for e in at.error)
    at.number_input(key="keep.launch.pack").set_value(1).run()
    # the sweep builder counts: 2 losses x 1 trick (off/on) x 3 seeds = 12
    at.selectbox(key="keep.launch.preset").set_value("ns").run()
    at.multiselect(key="keep.launch.sweep.losses").set_value(["ns", "hinge"])
    at.multiselect(key="keep.launch.sweep.tricks").set_value(["spectral_norm"])
    at.number_input(key="keep.launch.sweep.seeds").set_value(3).run()
    no_exception(at)
    assert at.metric[0].value == "12"
    # an impossible combination in the sweep is reported, naming the field
    at.multiselect(key="keep.launch.sweep.tricks").set_value(["label_smoothing"]).run()
    assert any(e.value.startswith("label_smoothing:") for e in at.error)


def test_picking_a_preset_drops_the_untouched_first_sweep_and_keeps_a_sweep_the_user_built(env):
    from engine.presets import FIRST_SWEEP

    at = app("views/launch.py")
    assert at.multiselect(key="keep.launch.sweep.losses").value == list(FIRST_SWEEP["sweep"]["loss"])
    # the first sweep's losses belong to its ring preset: a DCGAN picked next is launched alone (x its seeds)
    at.selectbox(key="keep.launch.preset").set_value("dcgan").run()
    no_exception(at)
    assert at.multiselect(key="keep.launch.sweep.losses").value == []
    assert at.metric[0].value == str(FIRST_SWEEP["seeds"])
    # a sweep the user built stays when the preset changes afterwards: 2 losses x 2 seeds
    at.multiselect(key="keep.launch.sweep.losses").set_value(["ns", "hinge"]).run()
    at.selectbox(key="keep.launch.preset").set_value("dcgan-sngan").run()
    assert at.multiselect(key="keep.launch.sweep.losses").value == ["ns", "hinge"]
    assert at.metric[0].value == str(2 * FIRST_SWEEP["seeds"])


def test_launch_form_shows_a_field_whose_group_it_does_not_know(env, monkeypatch):
    """A config field under a new group gets a tab of its own after the known ones (bug: `_form` dropped it)."""
    from engine import config

    real = config.schema
    monkeypatch.setattr(config, "schema", lambda: [{**s, "group": "averaging"} if s["name"] == "ema" else s
                                                   for s in real()])
    at = app("views/launch.py")
    no_exception(at)
    known = ["Data", "Generator", "Discriminator", "Objective", "Variant", "Optimisation", "Tricks", "Sampling",
             "Logging"]
    assert [t.label for t in at.tabs] == [*known, "Averaging"]
    ema = at.tabs[-1].text_input(key="keep.launch.ema")
    assert "Allowed:" in ema.help and [w.key for w in at.tabs[-1].text_input] == ["keep.launch.ema"]
    assert "keep.launch.ema" not in [w.key for w in at.tabs[known.index("Tricks")].text_input]  # no longer there
    ema.set_value("0.99").run()
    no_exception(at)
    assert not at.error and at.metric[0].value == "6"  # the first sweep, with the field's value


def test_launch_submits_and_runs_page_shows_the_queued_runs(env):
    from dashboard import data

    at = app("views/launch.py")
    at.multiselect(key="keep.launch.sweep.losses").set_value([])  # the first sweep's losses: one config instead
    at.number_input(key="keep.launch.steps").set_value(50)
    at.number_input(key="keep.launch.seed").set_value(3)
    at.number_input(key="keep.launch.sweep.seeds").set_value(2)
    at.text_input(key="keep.launch.sweep.name").set_value("from the test").run()
    at.button(key="launch.submit").click().run()
    no_exception(at)
    assert at.title[0].value == "Runs"
    assert "Queued 2 runs." in texts(at)
    df = data.runs()
    new = df[df["sweep_name"] == "from the test"]
    assert len(new) == 2 and set(new["status"]) == {"queued"} and set(new["steps"]) == {50}
    index = data.sweeps().set_index("sweep").loc[new["sweep"].iloc[0]]  # the submit listed its sweep
    assert index["sweep_name"] == "from the test" and index["runs"] == 2
    assert set(new["seed"]) == {3, 4}  # from the form's seed up
    table = at.dataframe[0].value
    assert set(new["run_id"]) <= set(table["run_id"])
    # stop them (queued: killed at once), then delete them
    data.select_runs([])
    data.stop(new["run_id"].tolist())
    assert set(data.runs_by_id(new["run_id"].tolist())["status"]) == {"killed"}
    data.delete(new["run_id"].tolist())
    assert not set(new["run_id"]) & set(data.runs()["run_id"])


def test_relaunch_copies_config_and_seed_into_the_original_sweep(env):
    from dashboard import data

    original = env["hinge"][1]
    listed = int(data.sweeps().set_index("sweep").loc["sw-hinge", "runs"])
    new = data.relaunch([original])
    again = data.relaunch(new)  # a relaunch of a relaunch repeats the same original
    try:
        assert data.sweeps().set_index("sweep").loc["sw-hinge", "runs"] == listed + 2  # joined the sweep's index
        df = data.runs_by_id([original, *new, *again])
        old_cfg, new_cfg, new_cfg2 = data.configs(df).values()
        assert new_cfg == old_cfg == new_cfg2 and df["status"].iloc[1] == "queued" and df["preset"].iloc[1] == "hinge"
        # the same sweep (bug: a new one, so "Compare sweep" on the original left it out), told apart by name
        assert set(df["sweep"]) == {"sw-hinge"} and set(df["sweep_name"]) == {"hinge sweep"}
        assert df["name"].tolist() == ["hinge s1", "hinge s1 (relaunch 1)", "hinge s1 (relaunch 2)"]
        assert df["relaunch_of"].tolist() == ["", original, original]
    finally:
        data.delete(new + again)


def test_compare_page_groups_seeds_with_bands_and_tables(env):
    from dashboard import data

    at = app("views/compare.py", session={data.SELECTION_KEY: env["ns"] + env["hinge"] + env["queued"]})
    no_exception(at)
    assert at.title[0].value == "Compare"
    assert at.selectbox(key="keep.compare.metric").value == "metric/modes"
    assert "1 run(s) have not logged metric/modes yet" in texts(at)
    assert "runs of several data sets" in texts(at)
    final = at.dataframe[0].value
    assert "Final metrics" in [s.value for s in at.subheader]
    # grouped by everything except the seed: the ns/ring seeds, the hinge/grid seeds, the queued run
    assert sorted(final["runs"]) == [1, 2, 3]
    # each group is named after its preset, then only what it sets differently from it
    assert dict(zip(final["group"], final["runs"])) == {"ns, steps=200": 3, "hinge, dataset=grid, steps=200": 2,
                                                        "ns, steps=100": 1}
    tests = at.dataframe[1].value  # the queued run's group has no final value: one pair is left
    assert len(tests) == 1 and {"p_holm", "hedges_g"} <= set(tests.columns)
    from scipy import stats as sps

    want = sps.ttest_ind([20.0, 21.0], [6.0, 7.0, 8.0], equal_var=False).pvalue  # final modes: grid vs ring
    assert tests["p"].iloc[0] == pytest.approx(want) and tests["p_holm"].iloc[0] == pytest.approx(want)
    at.radio(key="keep.compare.test").set_value("mannwhitney").run()
    no_exception(at)
    assert "cliffs_delta" in at.dataframe[1].value.columns
    at.toggle(key="keep.compare.per_run").set_value(True).run()
    no_exception(at)
    assert len(at.dataframe[0].value) == 6


def test_compare_page_metric_switch_wall_time_log_and_groupby(env):
    from dashboard import data

    at = app("views/compare.py", session={data.SELECTION_KEY: env["ns"] + env["hinge"]})
    at.selectbox(key="keep.compare.metric").set_value("d/real")
    at.radio(key="keep.compare.x").set_value("wall time")
    at.toggle(key="keep.compare.log_y").set_value(True)
    at.multiselect(key="keep.compare.by").set_value(["loss"]).run()
    no_exception(at)
    final = at.dataframe[0].value
    assert sorted(final["group"]) == ["loss=hinge", "loss=ns"]


def test_compare_chart_controls_keep_their_defaults_without_streamlits_duplicate_state_warning(env):
    import logging

    from streamlit.elements.lib import policies

    from dashboard import data

    warnings_seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings_seen.append(record.getMessage())
    log = logging.getLogger(policies.__name__)
    log.addHandler(handler)
    policies._shown_default_value_warning = False  # Streamlit warns once per process; this test wants to see it
    try:
        at = app("views/compare.py", session={data.SELECTION_KEY: env["ns"]})
        assert at.slider(key="keep.compare.smoothing").value == pytest.approx(0.6)
        assert at.number_input(key="keep.compare.points").value == 400
        assert [at.toggle(key=f"keep.compare.{k}").value for k in ("robust", "envelope", "theory")] == \
            [False, True, True]
        at.toggle(key="keep.compare.envelope").set_value(False).run()  # a rerun re-assigns every keep.* key
        at.run()
        no_exception(at)
        assert at.toggle(key="keep.compare.envelope").value is False
        assert at.slider(key="keep.compare.smoothing").value == pytest.approx(0.6)
    finally:
        log.removeHandler(handler)
    assert not [w for w in warnings_seen if "default value" in w], warnings_seen


def test_compare_page_from_a_sweep_link(env):
    at = app("views/compare.py", query={"sweep": "sw-ns"})
    no_exception(at)
    assert sorted(at.dataframe[0].value["runs"]) == [3]


def test_compare_page_without_selection_or_metrics(env):
    from dashboard import data

    at = app("views/compare.py")
    no_exception(at)
    assert "No runs selected" in texts(at)
    at = app("views/compare.py", session={data.SELECTION_KEY: env["queued"]})
    no_exception(at)
    assert "not logged any metric yet" in texts(at)
    at = app("views/compare.py", session={data.SELECTION_KEY: ["0" * 32]})
    no_exception(at)
    assert "not in this store" in texts(at)


def test_every_page_survives_an_empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setattr(launch_lib, "get_launcher", lambda name=None: QueueOnly())
    at = app()
    no_exception(at)
    assert "No runs yet" in texts(at)
    for page in ("views/compare.py", "views/launch.py", "views/gallery.py", "views/artifacts.py"):
        at.switch_page(page).run()
        no_exception(at)


def test_every_page_survives_a_down_server(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    at = app()
    no_exception(at)
    assert at.error and "not reachable" in at.error[0].value
    at = app("views/compare.py", query={"sweep": "x"})
    no_exception(at)
    assert at.error and "not reachable" in at.error[0].value
    for page in ("views/gallery.py", "views/artifacts.py"):
        at.switch_page(page).run()
        no_exception(at)


def test_runs_by_id_in_sql_matches_mlflow_search(env):
    """Runs by id read with SQL on MLflow's tables (a database at hand) and through MLflow's search (a tracking
    server alone) give the same rows, deleted runs included, in the order asked."""
    from dashboard.data import runs_table, store

    ids = [*env["deleted"], *env["hinge"], *env["queued"], *env["ns"]]
    names = runs_table._names(store.store_uri())
    fast = runs_table._frame([runs_table._run_row(r, names) for r in runs_table._sql_runs(store.store_uri(), ids)])
    slow = runs_table._frame([runs_table._run_row(r, names) for r in runs_table._client_runs(ids)])
    assert sorted(fast["run_id"]) == sorted(ids)
    fast, slow = (df.set_index("run_id").loc[ids] for df in (fast, slow))
    pd.testing.assert_frame_equal(fast[sorted(fast.columns)], slow[sorted(slow.columns)])
    assert runs_table.runs_by_id([ids[2], "not-a-run", ids[0]])["run_id"].tolist() == [ids[2], ids[0]]


def test_run_files_are_read_from_local_paths_and_file_uris(tmp_path):
    from dashboard.data import artifacts

    (tmp_path / "curves").mkdir()
    (tmp_path / "curves" / "loss~d.npz").write_bytes(b"payload")
    assert artifacts.read_run_artifact(str(tmp_path), "curves/loss~d.npz") == b"payload"
    assert artifacts.read_run_artifact(tmp_path.as_uri(), "curves/loss~d.npz") == b"payload"
    with pytest.raises(FileNotFoundError):
        artifacts.read_run_artifact(str(tmp_path), "curves/other.npz")


def test_widgets_changed_then_left_and_revisited_log_no_streamlit_warning(env, monkeypatch):
    """Bug: Compare's α was created with a default value while app.py re-assigned its kept value, and Streamlit
    logged a warning with a stack trace (once per server process, hence the reset)."""
    import logging

    from dashboard import data
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    logged: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logging.getLogger("streamlit").addHandler(handler)
    try:
        at = app("views/compare.py", session={data.SELECTION_KEY: env["ns"] + env["hinge"]})
        at.number_input(key="keep.compare.alpha").set_value(0.1).run()
        at.number_input(key="keep.compare.points").set_value(200).run()
        at.switch_page("views/runs.py").run()
        at.selectbox(key="keep.runs.sweep").set_value("sw-hinge").run()
        at.selectbox(key="keep.runs.sort").set_value("fid").run()
        at.selectbox(key="keep.runs.page_size").set_value(25).run()
        at.switch_page("views/gallery.py").run()
        at.switch_page("views/runs.py").run()
        assert at.selectbox(key="keep.runs.sweep").value == "sw-hinge"  # kept across the visit
        assert at.selectbox(key="keep.runs.sort").value == "fid"
        at.switch_page("views/gallery.py").run()
        at.switch_page("views/launch.py").run()
        at.number_input(key="keep.launch.steps").set_value(50).run()
        at.switch_page("views/compare.py").run()
        assert at.number_input(key="keep.compare.alpha").value == 0.1  # kept across the visits
        at.number_input(key="keep.compare.alpha").set_value(0.2).run()
        at.switch_page("views/gallery.py").run()
        no_exception(at)
    finally:
        logging.getLogger("streamlit").removeHandler(handler)
    assert [m for m in logged if "Session State API" in m or "default value" in m] == []
