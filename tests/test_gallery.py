"""The Gallery and Artifacts pages under AppTest, and their data functions, on a store with real runs.

The store holds two runs trained by the engine itself (tiny: 100 steps, 500 evaluation samples, a 32-point grid)
whose snapshot steps differ, so that every slider position has a run falling back to an earlier snapshot; a
run whose artifacts are corrupt; and a queued run that has logged nothing but its config.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from support import open_page, store_env, train_tracked

from engine import tracking
from engine.config import build_config

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120
TINY = {"steps": 100, "batch_size": 64, "eval_samples": 500, "grid_size": 32, "log_every": 10}


def train_run(preset: str, name: str, **overrides) -> str:
    return train_tracked(preset, name, {**TINY, **overrides})


def broken_run() -> str:
    """A run whose snapshot, checkpoint and image are junk, beside a good CSV: every reader must cope."""
    client = tracking.client()
    run_id = tracking.create_run(build_config("ns", TINY).to_dict(), run_name="broken")
    logger = tracking.RunLogger(run_id)
    logger._jobs.put(("bytes", "samples/step_0000000.npz", b"PK\x03\x04 not really a zip"))
    logger._jobs.put(("bytes", "checkpoints/last.pt", b"\x80\x02 not a checkpoint"))
    logger._jobs.put(("bytes", "plots/loss.png", b"\x89PNG\r\n\x1a\n truncated"))
    logger._jobs.put(("bytes", "tables/modes.csv", b"step,modes\n0,3\n100,8\n"))
    logger._jobs.put(("bytes", "notes/readme.md", "# notes\nsamples at step 0 are junk\n".encode()))
    logger.close("FAILED")
    assert "samples" in [f.path for f in client.list_artifacts(run_id)]
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery-store")
    with store_env(folder):
        yield {
            "ns": train_run("ns", "ns-ring", eval_every=50, seed=0),  # snapshots 0, 50, 100
            "wgan": train_run("wgan-gp", "wgan-grid", eval_every=60, dataset="grid", seed=1),  # 0, 60, 100
            "mbd": train_run("mbdisc", "mbd-ring", eval_every=20, seed=2, steps=20),  # 0, 20
            "broken": broken_run(),
            "queued": tracking.create_run(build_config("ns", TINY).to_dict(), run_name="waiting",
                                          status="SCHEDULED"),
        }


def app(page: str, session: dict | None = None, query: dict | None = None):
    at = open_page(page, session, query, TIMEOUT)
    no_exception(at)
    return at


def no_exception(at) -> None:
    assert not at.exception, [e.message for e in at.exception]


def panel_captions(at) -> list[str]:
    return [c.value for c in at.caption if " — " in c.value]


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error] + \
        [i.value for i in at.info] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


# --------------------------------------------------------------------------------------------- data module
def test_nearest_earlier():
    from dashboard.data import nearest_earlier

    steps = [0, 50, 100]
    assert [nearest_earlier(steps, s) for s in (0, 49, 50, 99, 100, 1000)] == [0, 0, 50, 50, 100, 100]
    assert nearest_earlier([10, 20], 5) is None and nearest_earlier([], 5) is None


def test_field_gradient_is_exact_for_a_bilinear_field_and_nan_outside():
    from dashboard.data import field_gradient

    xs, ys = np.linspace(-2, 2, 21), np.linspace(-1, 3, 17)
    gx, gy = np.meshgrid(xs, ys)
    d = 0.3 * gx - 0.2 * gy + 0.5 * gx * gy  # rows are y, as in the logged field
    pts = np.array([[0.13, 0.71], [-1.9, 2.95], [1.0, -0.5], [2.5, 0.0], [np.nan, 0.0]])
    g = field_gradient(xs, ys, d, pts)
    np.testing.assert_allclose(g[:3], np.stack([0.3 + 0.5 * pts[:3, 1], -0.2 + 0.5 * pts[:3, 0]], axis=1),
                               atol=1e-12)
    assert np.isnan(g[3:]).all()


def test_artifact_paths_outside_the_run_are_refused(store):
    from dashboard import data

    listed = [e["path"] for e in data.artifact_tree(store["ns"]) if not e["is_dir"]]
    assert "config.json" in listed and "checkpoints/final.pt" in listed
    for bad in ("../config.json", "/etc/passwd", "samples/../config.json", "./config.json", "C:/x", "s3://b/k",
                "samples//step_0000000.npz", "samples", "nope.json", ""):
        with pytest.raises(data.ArtifactError):
            data.read_artifact(store["ns"], bad)
    # a file of another run is not reachable through this one, even with a well-formed path
    with pytest.raises(data.ArtifactError, match="not among"):
        data.read_artifact(store["queued"], "samples/step_0000000.npz")
    assert data.check_artifact_path("config.json", listed) == "config.json"


def test_gallery_frames_fall_back_to_the_nearest_earlier_snapshot(store):
    from dashboard import data

    assert data.snapshot_steps(store["ns"]) == [0, 50, 100]
    assert data.snapshot_steps(store["wgan"]) == [0, 60, 100]
    f = data.gallery_frame(store["wgan"], 50)
    assert (f.step, f.exact) == (0, False) and "nearest earlier" in f.message
    np.testing.assert_array_equal(f.x, data.load_samples(store["wgan"], 0))
    assert f.x.shape == (500, 2) and f.field["d"].shape == (32, 32) and f.field["d_is_prob"] is False
    f = data.gallery_frame(store["ns"], 50)
    assert f.exact and f.message == "" and f.field["d_is_prob"] is True and f.field["d_star"].shape == (32, 32)
    assert "no sample snapshots" in data.gallery_frame(store["queued"], 50).message
    bad = data.gallery_frame(store["broken"], 0)
    assert bad.x is None and "not a readable .npz" in bad.message


def test_mode_shares_are_the_engines_histogram_of_each_snapshot(store):
    from dashboard import data
    from engine.metrics import mode_histogram

    steps, shares = data.mode_shares(store["ns"], "ring", data.snapshot_steps(store["ns"]))
    assert steps == [0, 50, 100] and shares.shape == (3, 8)
    np.testing.assert_allclose(shares.sum(1), 1.0)
    np.testing.assert_array_equal(shares[1], mode_histogram(data.mixture("ring"), data.load_samples(store["ns"], 50)))


def test_previews_by_type_and_their_failures(store, monkeypatch):
    from dashboard import data
    from dashboard.data import artifacts

    assert data.artifact_preview(store["ns"], "config.json").value["loss"] == "ns"
    npz = data.artifact_preview(store["ns"], "field/step_0000050.npz")
    assert npz.kind == "npz" and set(npz.value) >= {"xs", "ys", "d", "d_star"}
    summary = data.array_summary(npz.value).set_index("name")
    assert summary.loc["d", "shape"] == "(32, 32)" and 0 <= summary.loc["d", "min"] <= summary.loc["d", "max"] <= 1
    table = data.artifact_preview(store["broken"], "tables/modes.csv")
    assert table.kind == "table" and table.value["modes"].tolist() == [3, 8]
    assert data.artifact_preview(store["broken"], "notes/readme.md").kind == "text"
    for path, words in (("samples/step_0000000.npz", "not a readable .npz"), ("plots/loss.png", "could not be read"),
                        ("checkpoints/last.pt", "not a readable checkpoint")):
        p = data.artifact_preview(store["broken"], path)
        assert p.kind == "error" and words in p.message, (path, p.message)
    monkeypatch.setattr(artifacts, "PREVIEW_MAX_BYTES", 10)
    capped = data.artifact_preview(store["ns"], "config.json")
    assert capped.kind == "error" and "previews stop at" in capped.message
    # the download is not capped, and an unreadable file downloads as a one-line message, not a traceback
    assert data.artifact_download(store["ns"], "config.json")().startswith(b"{")
    assert data.artifact_download(store["ns"], "../config.json")().startswith(b"GANboard could not read")


def test_checkpoint_sampling_is_seeded_and_its_arrows_are_autograd_of_d(store):
    import torch

    from dashboard import data
    from engine.nets.mlp import Discriminator

    a = data.sample_checkpoint(store["ns"], "checkpoints/final.pt", seed=3, n=64, grad_points=5)
    b = data.sample_checkpoint(store["ns"], "checkpoints/final.pt", seed=3, n=64, grad_points=5)
    c = data.sample_checkpoint(store["ns"], "checkpoints/final.pt", seed=4, n=64, grad_points=5)
    assert a["x"].shape == (64, 2) and a["step"] == 100
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.allclose(a["x"], c["x"])
    # grad of sigmoid(D) at the first samples, recomputed here by finite differences of the checkpoint's D
    state = torch.load(io.BytesIO(data.read_artifact(store["ns"], "checkpoints/final.pt", capped=False)),
                       weights_only=True)
    D = Discriminator(build_config(None, None, state["config"]), 2)
    D.load_state_dict(state["D"])
    x, h = torch.tensor(a["x"][:5], dtype=torch.float64), 1e-4
    with torch.no_grad():
        D = D.double()
        fd = torch.stack([(torch.sigmoid(D(x + h * e)) - torch.sigmoid(D(x - h * e))) / (2 * h)
                          for e in torch.eye(2, dtype=torch.float64)], dim=1)
    np.testing.assert_allclose(a["grad"], fd.numpy(), rtol=1e-3, atol=1e-6)
    with pytest.raises(data.ArtifactError, match="count"):
        data.sample_checkpoint(store["ns"], "checkpoints/final.pt", seed=0, n=0)


# -------------------------------------------------------------------------------------------- gallery page
def test_gallery_slider_moves_every_panel_and_says_where_a_snapshot_stands_in(store):
    from dashboard import data

    ids = [store["ns"], store["wgan"], store["broken"], store["queued"]]
    at = app("views/gallery.py", session={data.SELECTION_KEY: ids})
    slider = at.select_slider(key="keep.gallery.step")
    assert [int(o) for o in slider.options] == [0, 50, 60, 100] and int(slider.value) == 100
    caps = panel_captions(at)
    assert len(caps) == 4
    assert "ns-ring" in caps[0] and "step 100" in caps[0]
    assert "wgan-grid" in caps[1] and "step 100" in caps[1]
    assert "not a readable .npz" in caps[2] and "no sample snapshots" in caps[3]

    slider.set_value(50)
    at.run()
    no_exception(at)
    caps = panel_captions(at)
    assert "ns-ring" in caps[0] and "— step 50" in caps[0] and "nearest earlier" not in caps[0]
    assert "— step 0 · no snapshot at 50, nearest earlier" in caps[1]
    at.select_slider(key="keep.gallery.step").set_value(60)
    at.run()
    caps = panel_captions(at)
    assert "— step 50 · no snapshot at 60, nearest earlier" in caps[0] and "— step 60" in caps[1]


def test_a_minibatch_discrimination_field_says_what_it_was_scored_against(store):
    from dashboard import data

    at = app("views/gallery.py", session={data.SELECTION_KEY: [store["ns"], store["mbd"]]})
    no_exception(at)
    ns, mbd = panel_captions(at)
    # batch 64: each grid point scored as the one new member of a batch of 63 fixed real samples
    assert "fixed minibatch of 63 real samples" in mbd and "minibatch" not in ns
    out = data.sample_checkpoint(store["mbd"], "checkpoints/final.pt", seed=0, n=64)
    assert out["field"]["d_reference"] == "63 real samples"
    np.testing.assert_allclose(out["field"]["d"], data.load_field(store["mbd"], 20)["d"], rtol=1e-5, atol=1e-6)


def test_gallery_loss_chart_cursor_follows_the_slider(store):
    import json

    from dashboard import data

    at = app("views/gallery.py", session={data.SELECTION_KEY: [store["ns"], store["wgan"]]})
    at.select_slider(key="keep.gallery.step").set_value(60)
    at.run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    cursors = [t for s in specs for t in s["data"] if t.get("name") == "cursor"]
    assert len(cursors) == 1 and cursors[0]["x"] == [60, 60]
    panels = [s for s in specs if any(t.get("name") == "samples" for t in s["data"])]
    assert len(panels) == 2


def test_gallery_beside_arrows_filmstrip_and_theory(store):
    from dashboard import data

    at = app("views/gallery.py", session={data.SELECTION_KEY: [store["ns"], store["wgan"]]})
    at.toggle(key="keep.gallery.beside").set_value(True)
    at.toggle(key="keep.gallery.arrows").set_value(True)
    at.run()
    no_exception(at)
    assert "needs D as a probability" in texts(at)  # the wgan run's critic has no |D - D*|
    assert len(at.get("plotly_chart")) == 1 + 3 + 2  # loss chart; ns: samples, D*, |D-D*|; wgan: samples, D*

    at.segmented_control(key="keep.gallery.view").set_value("Filmstrip")
    at.run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 2  # one filmstrip per data set (ring, grid)

    at.segmented_control(key="keep.gallery.view").set_value("Theory")
    at.run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 3 and "dropped mode" in texts(at)
    at.selectbox(key="keep.gallery.theory_run").set_value(store["wgan"])
    at.run()
    no_exception(at)
    assert "V(D, G) needs D as a probability" in texts(at)


def test_gallery_without_a_selection_offers_a_picker(store):
    at = app("views/gallery.py")
    assert "No runs selected" in texts(at)
    at.multiselect(key="gallery.pick").set_value([store["ns"]])
    at.run()
    no_exception(at)
    assert len(panel_captions(at)) == 1


def test_gallery_reads_the_selection_from_the_link(store):
    at = app("views/gallery.py", query={"runs": f"{store['ns']},{store['wgan']}"})
    assert len(panel_captions(at)) == 2


# ------------------------------------------------------------------------------------------ artifacts page
def _all_files(run_id: str, folder: str | None = None) -> list[str]:
    from mlflow import MlflowClient

    out = []
    for info in MlflowClient().list_artifacts(run_id, folder):
        out += _all_files(run_id, info.path) if info.is_dir else [info.path]
    return out


def test_artifacts_page_tree_previews_downloads_and_sampling(store):
    at = app("views/artifacts.py", query={"run": store["ns"]})
    assert at.selectbox(key="keep.artifacts.run").value == store["ns"]
    files = at.selectbox(key="keep.artifacts.file")
    assert files.value == "config.json" and any(o.startswith("checkpoints/final.pt  (") for o in files.options)
    # the preview's own download button and one per file of the run, as MLflow lists them
    assert len(at.get("download_button")) == 1 + len(_all_files(store["ns"]))
    assert at.json  # config.json

    files.set_value("samples/step_0000050.npz")
    at.run()
    no_exception(at)
    assert at.dataframe and len(at.get("plotly_chart")) == 1

    at.selectbox(key="keep.artifacts.file").set_value("checkpoints/final.pt")
    at.run()
    no_exception(at)
    assert "Checkpoint at step **100**" in texts(at)
    at.get("form_submit_button")[0].click()
    at.run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 1 and "by torch autograd" in texts(at)


def test_artifacts_page_reports_corrupt_files_and_empty_runs(store):
    at = app("views/artifacts.py", query={"run": store["broken"]})
    for path, words in (("samples/step_0000000.npz", "not a readable .npz"),
                        ("checkpoints/last.pt", "not a readable checkpoint"), ("plots/loss.png", "could not be read")):
        at.selectbox(key="keep.artifacts.file").set_value(path)
        at.run()
        no_exception(at)
        assert any(words in e.value for e in at.error), (path, [e.value for e in at.error])
    at.selectbox(key="keep.artifacts.file").set_value("tables/modes.csv")
    at.run()
    assert at.dataframe and not at.error

    at.selectbox(key="keep.artifacts.run").set_value(store["queued"])
    at.run()
    no_exception(at)
    assert [o.split()[0] for o in at.selectbox(key="keep.artifacts.file").options] == ["config.json"]
