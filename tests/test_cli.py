"""End-to-end: the training CLI into a temporary MLflow store, checked through the MLflow client."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow import MlflowClient

from engine import health
from engine.config import FIELDS

REPO = Path(__file__).resolve().parent.parent
SMALL = ["--set", "batch_size=64", "--set", "g_width=32", "--set", "d_width=32", "--set", "eval_samples=500",
         "--set", "grid_size=16"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def cli(*args, timeout=180, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "engine.train", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def all_runs(uri):
    c = MlflowClient(uri)
    exps = [e.experiment_id for e in c.search_experiments()]
    return c, (list(c.search_runs(exps)) if exps else [])


def assert_curve_summaries_match_the_rows(c, run_id, tmp_path):
    """An ended run carries one summary per metric, equal to bucketing its rows as MLflow returns them."""
    from engine import curves

    run = c.get_run(run_id)
    assert run.data.tags.get("ganboard.curves") == "1"
    names = {f.path for f in c.list_artifacts(run_id, "curves")}
    assert names == {curves.artifact_name(k) for k in run.data.metrics}
    for key in ("loss/d", "metric/modes"):
        h = np.array([[m.step, m.timestamp, m.value] for m in c.get_metric_history(run_id, key)])
        with np.load(c.download_artifacts(run_id, curves.artifact_name(key), str(tmp_path))) as f:
            logged = curves.from_npz_arrays(dict(f))
        want = curves.summarise(h[:, 0], h[:, 1], h[:, 2], curves.base_width(h[:, 0].max()))
        assert logged.width == want.width and logged.last_step == h[:, 0].max()
        np.testing.assert_allclose(logged.table, want.table)


def run_id_of(stdout):
    return next(line.split()[1] for line in stdout.splitlines() if line.startswith("run "))


def test_list_presets_and_help():
    out = cli("--list-presets")
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert out.returncode == 0 and {"vanilla", "wgan-gp", "protocol-a", "protocol-b", "pacgan4", "mbdisc"} <= set(names)
    helped = cli("--help").stdout
    for name, spec in FIELDS.items():
        assert f"  {name} (" in helped and spec.metadata["doc"][:30] in helped.replace("\n      ", " ")


def test_end_to_end_run_is_fully_recorded(store, tmp_path):
    out = cli("--preset", "wgan-gp", "--set", "dataset=grid", "--set", "seed=3", "--set", "steps=60",
              "--set", "eval_every=30", "--set", "log_every=10", *SMALL, "--experiment", "e2e", "--run-name", "first")
    assert out.returncode == 0, out.stderr
    c, runs = all_runs(store)
    (run,) = runs
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    assert c.get_experiment(run.info.experiment_id).name == "e2e"
    params = run.data.params
    assert set(params) == set(FIELDS) and params["loss"] == "wgan" and params["penalty"] == "wgan_gp"
    assert params["seed"] == "3" and params["dataset"] == "grid" and params["n_critic"] == "5"
    tags = run.data.tags
    assert tags["ganboard.preset"] == "wgan-gp" and tags["ganboard.dataset"] == "grid" and tags["ganboard.device"] == "cpu"
    assert tags["ganboard.loss"] == "wgan" and tags["ganboard.penalty"] == "wgan_gp" and "ganboard.heartbeat" in tags
    assert tags["ganboard.health"] in health.LABELS
    history = {k: [m.step for m in c.get_metric_history(run.info.run_id, k)] for k in ("loss/d", "metric/modes")}
    assert history["loss/d"] == [10, 20, 30, 40, 50, 60] and history["metric/modes"] == [0, 30, 60]
    for key in ("loss/g", "d/real", "d/fake", "grad/d", "grad/g", "perf/steps_per_s", "metric/fid", "metric/hq",
                "metric/precision", "metric/recall", "metric/w1", "metric/jsd", "theory/v_star"):
        assert key in run.data.metrics, key
    artifacts = {f.path for f in c.list_artifacts(run.info.run_id)}
    assert {"config.json", "samples", "field", "checkpoints"} <= artifacts
    samples = sorted(f.path for f in c.list_artifacts(run.info.run_id, "samples"))
    assert samples == ["samples/step_0000000.npz", "samples/step_0000030.npz", "samples/step_0000060.npz"]
    with np.load(c.download_artifacts(run.info.run_id, "samples/step_0000060.npz", str(tmp_path))) as data:
        assert data["x"].shape == (500, 2) and data["x"].dtype == np.float32
    with np.load(c.download_artifacts(run.info.run_id, "field/step_0000030.npz", str(tmp_path))) as data:
        assert data["d"].shape == (16, 16) and data["xs"].shape == data["ys"].shape == (16,)
    assert {f.path for f in c.list_artifacts(run.info.run_id, "checkpoints")} == {"checkpoints/last.pt",
                                                                                  "checkpoints/final.pt"}
    assert_curve_summaries_match_the_rows(c, run.info.run_id, tmp_path)
    # The logged config.json is loadable with --config and resolves to the same params.
    config_path = c.download_artifacts(run.info.run_id, "config.json", str(tmp_path))
    again = cli("--config", config_path, "--set", "steps=5", "--set", "eval_every=0")
    assert again.returncode == 0, again.stderr
    rerun = c.get_run(run_id_of(again.stdout))
    assert {k: v for k, v in rerun.data.params.items() if k not in ("steps", "eval_every")} == \
        {k: v for k, v in params.items() if k not in ("steps", "eval_every")}


@pytest.mark.parametrize("args,field", [
    (["--set", "nonsense=1"], "nonsense"),
    (["--set", "steps=-5"], "steps"),
    (["--preset", "nope"], "preset"),
    (["--set", "loss=wgan", "--set", "label_smoothing=0.1"], "label_smoothing"),
    (["--set", "lr_g=abc"], "lr_g"),
])
def test_bad_config_is_one_line_exit_2_and_no_run(store, args, field):
    out = cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:")
    _, runs = all_runs(store)
    assert runs == []


def test_config_file_errors(store, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = cli("--config", str(bad))
    assert out.returncode == 2 and out.stderr.startswith("error: --config:")
    bad.write_text(json.dumps({"g_width": "wide"}))
    out = cli("--config", str(bad))
    assert out.returncode == 2 and out.stderr.startswith("error: g_width:")


def test_sigterm_checkpoints_and_ends_killed_then_resume_finishes(store, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "engine.train", "--set", "steps=100000", "--set", "eval_every=0",
                             *SMALL], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().split()[1]
    c = MlflowClient(store)
    deadline = time.time() + 60
    while time.time() < deadline and int(c.get_run(run_id).data.tags.get("ganboard.step", 0)) < 50:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 1
    run = c.get_run(run_id)
    assert run.info.status == "KILLED"
    assert "checkpoints/last.pt" in {f.path for f in c.list_artifacts(run_id, "checkpoints")}
    stopped_at = int(torch.load(c.download_artifacts(run_id, "checkpoints/last.pt", str(tmp_path)),
                                weights_only=False)["step"])
    assert stopped_at >= 50
    too_few = cli("--resume", run_id, "--set", f"steps={stopped_at}")
    assert too_few.returncode == 2 and too_few.stderr.startswith("error: steps: the last checkpoint is at step")
    target = stopped_at + 70
    out = cli("--resume", run_id, "--set", f"steps={target}")
    assert out.returncode == 0, out.stderr
    run = c.get_run(run_id)
    assert run.info.status == "FINISHED"
    steps = [m.step for m in c.get_metric_history(run_id, "loss/d")]
    assert steps[-1] == target and steps == sorted(steps) and len(steps) == len(set(steps))
    assert_curve_summaries_match_the_rows(c, run_id, tmp_path)  # rewritten for the whole history


def test_resume_unknown_run_is_a_clear_error(store):
    out = cli("--resume", "0123456789abcdef")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_diverged_run_ends_failed_with_tag(store):
    # Plain gradient descent on the least-squares loss with a step far past 2 / curvature blows up exponentially.
    out = cli("--set", "loss=lsgan", "--set", "lr_d=10", "--set", "lr_g=10", "--set", "optimizer_d=sgd",
              "--set", "optimizer_g=sgd", "--set", "beta1_d=0", "--set", "beta1_g=0", "--set", "steps=500",
              "--set", "eval_every=0", *SMALL)
    assert out.returncode == 1
    _, (run,) = all_runs(store)
    assert run.info.status == "FAILED" and run.data.tags["ganboard.diverged"].startswith("step ")
    assert run.data.tags["ganboard.health"] == "diverged"
