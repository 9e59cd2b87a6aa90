"""The launcher's local backend end to end: sweeps, the queue in MLflow, the scheduler, stop, loss and logs.

Every test gets its own SQLite store (and so its own scheduler lock and logs beside it); CLI commands run as
subprocesses with that store in their environment. Whatever a test started (the detached scheduler, training
processes) is found by the store in its environment and killed, process group and all, at teardown.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import kill_groups, processes_using, wait_for

from engine import launch, tracking
from engine.launch.cli import CLI_WORDS
from engine.config import FIELDS, ConfigError

REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "steps=300", "--set", "batch_size=64", "--set", "eval_every=100", "--set", "g_width=32",
        "--set", "d_width=32", "--set", "eval_samples=500", "--set", "grid_size=16"]
LONG = ["--set", "steps=1000000", "--set", "batch_size=64", "--set", "eval_every=200", "--set", "g_width=32",
        "--set", "d_width=32", "--set", "eval_samples=500", "--set", "grid_size=16"]


# ------------------------------------------------------------------------------------------- helpers
def kill_all(uri: str) -> None:
    for _ in range(3):
        pids = processes_using(uri)
        if not pids:
            return
        kill_groups(pids)
        time.sleep(0.5)


def all_runs() -> list:
    c = tracking.client()
    exps = [e.experiment_id for e in c.search_experiments()]
    return list(c.search_runs(exps, max_results=1000)) if exps else []


def first_metric_ms(run_id: str) -> int:
    """When the training process first logged a training scalar (the run has certainly started by then)."""
    return min(m.timestamp for m in tracking.client().get_metric_history(run_id, "loss/d"))


class Store:
    def __init__(self, path: Path, env: dict[str, str]):
        self.path, self.env = path, env
        self.uri = env["MLFLOW_TRACKING_URI"]

    def cli(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120):
        return subprocess.run([sys.executable, "-m", "engine.launch", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout, env={**self.env, **(extra_env or {})})

    def submit(self, *args: str, extra_env: dict[str, str] | None = None) -> list[str]:
        out = self.cli("submit", *args, extra_env=extra_env)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    def hold_scheduler_lock(self):
        """Keep any scheduler from starting (as if one were busy elsewhere); close the file to let go."""
        fh = open(launch.state_dir() / "scheduler.lock", "a+")
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fh


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("GANBOARD_LAUNCHER", "local")
    for name in ("GANBOARD_MAX_PARALLEL", "GANBOARD_MAX_SUBMIT", "GANBOARD_ARTIFACT_ROOT", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        yield Store(tmp_path, env)
    finally:
        kill_all(uri)
        assert not processes_using(uri), "a scheduler or training process outlived its test"


# ------------------------------------------------------------------------------------------- sweeps
def test_expand_is_the_cartesian_product_times_seeds():
    sweep = {"loss": ["ns", "hinge"], "dataset": ["ring", "grid", "spiral"]}
    planned = launch.expand("ns", {"steps": "300"}, sweep, seeds=3)
    assert len(planned) == 2 * 3 * 3
    got = sorted((cfg.loss, cfg.dataset, cfg.seed) for _, cfg in planned)
    assert got == sorted(itertools.product(["ns", "hinge"], ["ring", "grid", "spiral"], [0, 1, 2]))
    assert all(cfg.steps == 300 for _, cfg in planned)
    assert {preset for preset, _ in planned} == {"ns"}


def test_expand_sweeps_presets_and_explicit_seeds():
    planned = launch.expand(None, {}, {"preset": ["wgan-gp", "lsgan"]}, seeds=[7, 11])
    assert [(p, cfg.seed) for p, cfg in planned] == [("wgan-gp", 7), ("wgan-gp", 11), ("lsgan", 7), ("lsgan", 11)]
    assert [cfg.loss for _, cfg in planned] == ["wgan", "wgan", "lsgan", "lsgan"]
    assert planned[0][1].penalty == "wgan_gp"


def test_expand_cap_and_empty_inputs(monkeypatch):
    monkeypatch.setenv("GANBOARD_MAX_SUBMIT", "5")
    with pytest.raises(launch.LaunchError, match="6 runs exceeds the cap of 5"):
        launch.expand("ns", {}, {"loss": ["ns", "hinge", "lsgan"]}, seeds=2)
    assert len(launch.expand("ns", {}, {"loss": ["ns", "hinge", "lsgan"]}, seeds=1)) == 3
    with pytest.raises(launch.LaunchError, match="at least one seed"):
        launch.expand("ns", {}, None, seeds=0)
    with pytest.raises(launch.LaunchError, match="--sweep: loss has no values"):
        launch.parse_sweep(["loss= , "])


def test_seeds_count_from_the_runs_own_seed_and_a_seed_sweep_is_honoured():
    # a count starts at the seed that was set (bug: it always started at 0, over --set seed and --sweep seed)
    assert [cfg.seed for _, cfg in launch.expand("ns", {"seed": "5"}, None, seeds=3)] == [5, 6, 7]
    assert [cfg.seed for _, cfg in launch.expand("ns", {}, None, seeds=2)] == [0, 1]
    planned = launch.expand("best-grid", {}, launch.parse_sweep(["seed=10,11"]), seeds=1)
    assert [cfg.seed for _, cfg in planned] == [10, 11]
    assert [launch.run_name(cfg, p, ["seed"]) for p, cfg in planned] == ["best-grid s10", "best-grid s11"]
    # a seed sweep times another axis: each combination gets exactly the listed seeds
    planned = launch.expand("ns", {}, launch.parse_sweep(["seed=3,7", "loss=ns,hinge"]), seeds=1)
    assert sorted((cfg.loss, cfg.seed) for _, cfg in planned) == [("hinge", 3), ("hinge", 7), ("ns", 3), ("ns", 7)]
    assert [cfg.seed for _, cfg in launch.expand("ns", {"seed": 4}, None, seeds=[4])] == [4]  # a relaunch


@pytest.mark.parametrize("args, field, words", [
    (({"seed": 5}, {"seed": [1, 2]}, 1), "seed", "seed: set to 5 and swept over 1, 2"),
    (({}, {"seed": [1, 2]}, 3), "seeds", "--seeds: 3 seeds per combination and a sweep over seed (1, 2)"),
    (({}, {"seed": [1, 2]}, [0]), "seeds", "--seeds: 1 seeds per combination and a sweep over seed"),
    (({"seed": 3}, None, [3, 4]), "seed", "seed: set to 3 and also given as seeds [3, 4]"),
    (({}, None, [3, 3]), "seeds", "--seeds: [3, 3] repeats a seed"),
])
def test_contradictory_seeds_are_refused_naming_the_input(args, field, words):
    with pytest.raises(launch.LaunchError) as exc:
        launch.expand("ns", *args)
    assert exc.value.field == field and exc.value.worded(CLI_WORDS).startswith(words)


@pytest.mark.parametrize("items, message", [
    (["lr_d=1e-4", "lr_d=2e-4"], "--sweep: lr_d is given twice"),  # bug: silently kept the last one
    (["seed=0,0"], "--sweep: seed lists 0 twice"),  # bug: two identical runs
    (["lr_d=1e-4,0.0001"], "--sweep: lr_d lists 1e-4 and 0.0001, one value"),
    (["dataset=cifar10"], "--sweep: dataset: 'cifar10' is not allowed"),
    (["steps=-5"], "--sweep: steps: -5 is out of range"),
    (["preset=ns,nope"], "--sweep: preset 'nope' is unknown"),
    (["loss"], "--sweep: expected field=value"),
])
def test_parse_sweep_checks_each_value_and_names_the_place_it_was_typed(items, message):
    with pytest.raises((launch.LaunchError, ConfigError)) as exc:
        launch.parse_sweep(items)
    assert str(exc.value).startswith(message), str(exc.value)
    with pytest.raises((launch.LaunchError, ConfigError)) as exc:
        launch.parse_sweep(items, flag="More axes")
    assert str(exc.value).startswith("More axes: ") and "--" not in str(exc.value)


def test_bad_submits_exit_2_with_one_line_and_create_nothing(store):
    cases = {
        "empty sweep": ["--sweep", "loss="],
        "over the cap": ["--sweep", "loss=ns,hinge", "--seeds", "150"],
        "unknown preset": ["--preset", "nope"],
        "unknown field": ["--set", "nofield=1"],
        "unknown swept field": ["--sweep", "nofield=1,2"],
        "bad value in a sweep": ["--sweep", "loss=ns,bogus"],
        "no seeds": ["--seeds", "0"],
        "a seed set and swept": ["--set", "seed=5", "--sweep", "seed=1,2"],
        "a seed count and a seed sweep": ["--seeds", "2", "--sweep", "seed=1,2"],
        "a field swept twice": ["--sweep", "lr_d=1e-4", "--sweep", "lr_d=2e-4"],
        "a value swept twice": ["--sweep", "seed=0,0"],
    }
    procs = {name: subprocess.Popen([sys.executable, "-m", "engine.launch", "submit", *args], cwd=REPO, text=True,
                                    env=store.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in cases.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (name, out, err)
        assert out == "", (name, out)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, err)
    assert all_runs() == []
    assert not processes_using(store.uri)  # and no scheduler was started


# ------------------------------------------------------------------------------------------- the queue
def test_submit_queues_runs_in_mlflow_then_a_fresh_scheduler_runs_them_one_by_one_in_order(store, monkeypatch):
    lock = store.hold_scheduler_lock()  # no scheduler may start: everything submitted must wait in MLflow
    env = {"GANBOARD_MAX_PARALLEL": "1"}
    run_ids = store.submit("--preset", "ns", *TINY, "--sweep", "loss=ns,hinge", "--seeds", "2", "--name", "tiny",
                           extra_env=env)
    assert len(run_ids) == 4

    # Every run exists at once, queued, with its whole config as params and the sweep's tags.
    runs = [tracking.get_run(r) for r in run_ids]
    assert [r.info.status for r in runs] == [tracking.QUEUED] * 4
    assert [(r.data.params["loss"], r.data.params["seed"]) for r in runs] == [
        ("ns", "0"), ("ns", "1"), ("hinge", "0"), ("hinge", "1")]
    for r in runs:
        assert set(r.data.params) == set(FIELDS)
        assert r.data.params["steps"] == "300" and r.data.params["g_width"] == "32"
        assert tracking.load_run_config(r.info.run_id)["batch_size"] == 64
    tags = [r.data.tags for r in runs]
    assert len({t[launch.SWEEP_TAG] for t in tags}) == 1
    assert {t[launch.SWEEP_NAME_TAG] for t in tags} == {"tiny"}
    assert {t[launch.BACKEND_TAG] for t in tags} == {"local"}
    assert {t["ganboard.preset"] for t in tags} == {"ns"}
    seqs = [t[launch.SEQ_TAG] for t in tags]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4

    # A queued run can be stopped: it ends KILLED and never starts.
    stopped = run_ids[1]
    out = store.cli("stop", stopped)
    assert out.returncode == 0, out.stderr
    lines = store.cli("status", *run_ids).stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["queued", "killed", "queued", "queued"]
    assert "stopped before it started" in lines[1]

    # Nothing ran while the lock was held. A fresh launcher object then starts a scheduler that picks them up.
    time.sleep(2)
    assert all(tracking.get_run(r).info.status in (tracking.QUEUED, tracking.KILLED) for r in run_ids)
    lock.close()
    monkeypatch.setenv("GANBOARD_MAX_PARALLEL", "1")
    launch.LocalLauncher().ensure_scheduler()
    expected = [r for r in run_ids if r != stopped]
    wait_for(lambda: all(tracking.get_run(r).info.status == tracking.FINISHED for r in expected), 240,
             "the three queued runs to finish")

    # One at a time (GANBOARD_MAX_PARALLEL=1), in submission order: each starts after the previous ended.
    ended = [tracking.get_run(r).info.end_time for r in expected]
    started = [first_metric_ms(r) for r in expected]
    for i in range(len(expected) - 1):
        assert started[i] < ended[i] <= started[i + 1], (started, ended)
    killed = tracking.get_run(stopped)
    assert killed.info.status == tracking.KILLED and launch.JOB_TAG not in killed.data.tags
    assert not killed.data.metrics
    assert "finished at step 300" in store.cli("logs", expected[0]).stdout


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory):
    """Two long runs, training side by side, in a store of their own (shared by the two tests below)."""
    path = tmp_path_factory.mktemp("long")
    uri = f"sqlite:///{path / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("GANBOARD_LAUNCHER", "local")
        mp.setenv("GANBOARD_MAX_PARALLEL", "2")
        for name in ("GANBOARD_MAX_SUBMIT", "GANBOARD_ARTIFACT_ROOT", "RAY_ADDRESS"):
            mp.delenv(name, raising=False)
        store = Store(path, {**os.environ, "PYTHONPATH": str(REPO)})
        try:
            run_ids = store.submit(*LONG, "--seeds", "2")
            wait_for(lambda: all(int(tracking.get_run(r).data.tags.get(tracking.STEP_TAG, 0)) > 0 for r in run_ids),
                     120, "both long runs to start training")
            yield store, run_ids
        finally:
            kill_all(uri)
            assert not processes_using(uri), "a scheduler or training process outlived its test"


def test_stop_a_running_run_ends_killed_within_10_s_and_logs_show_its_output(long_runs):
    store, (run_id, _) = long_runs
    assert store.cli("status", run_id).stdout.split()[1] == "running"
    out = store.cli("stop", run_id)
    assert out.returncode == 0, out.stderr
    t0 = time.monotonic()
    wait_for(lambda: tracking.get_run(run_id).info.status == tracking.KILLED, 10, "the run to end KILLED", 0.2)
    assert time.monotonic() - t0 < 10
    run = tracking.get_run(run_id)
    assert run.data.tags[launch.REASON_TAG] == "stopped"
    assert "checkpoints/last.pt" in tracking.list_artifacts(run_id, "checkpoints")
    logs = store.cli("logs", run_id).stdout
    assert f"run {run_id}" in logs and "killed at step" in logs


def test_a_sigkilled_training_process_is_lost_when_status_is_asked(long_runs):
    store, (_, run_id) = long_runs
    job = tracking.get_run(run_id).data.tags[launch.JOB_TAG]
    assert job.startswith("pid ")
    pid = int(job.split()[1])
    # Take the scheduler away first (it would notice the death itself), so that `status` is what finds out.
    schedulers = [p for p in processes_using(store.uri)
                  if b"scheduler" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")]
    assert len(schedulers) == 1
    os.kill(schedulers[0], signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not launch.pid_alive(pid), 10, "the training process to die")
    assert tracking.get_run(run_id).info.status == tracking.RUNNING  # nobody has looked yet
    line = store.cli("status", run_id).stdout.strip()
    assert line.split()[1] == "failed", line
    run = tracking.get_run(run_id)
    assert run.info.status == tracking.FAILED
    assert run.data.tags[launch.REASON_TAG].startswith("lost"), run.data.tags[launch.REASON_TAG]
    assert "(lost" in line


def test_a_submit_lists_its_sweep_and_launches_even_where_the_list_cannot_be_written(store, monkeypatch, capsys):
    """The sweep index (what the Runs page's sweep picker reads) counts a submit's runs under its name; a failure to
    write it leaves the runs launched and says in one line how to list the sweep later."""
    lock = store.hold_scheduler_lock()  # nothing starts: the runs wait, queued
    launcher = launch.get_launcher()
    first = launcher.submit("ns", {"steps": 50}, {"loss": ["ns", "hinge"]}, 1, sweep_name="indexed")
    sweep = tracking.get_run(first[0]).data.tags[launch.SWEEP_TAG]
    tags = tracking.client().get_experiment(tracking.experiment_id()).tags
    assert tracking.sweep_index(tags)[sweep] | {"start": 0} == {"name": "indexed", "runs": 2, "start": 0}
    launcher.submit("ns", {"steps": 50}, None, 1, sweep_id=sweep, sweep_name="ignored: the sweep has its name")
    tags = tracking.client().get_experiment(tracking.experiment_id()).tags
    assert tracking.sweep_index(tags)[sweep]["runs"] == 3 and tracking.sweep_index(tags)[sweep]["name"] == "indexed"

    def refused(*args):
        raise RuntimeError("PERMISSION_DENIED: may not edit the experiment")

    monkeypatch.setattr(tracking, "index_sweep", refused)
    later = launcher.submit("ns", {"steps": 50}, None, 1, sweep_name="unlisted")
    assert [tracking.get_run(r).info.status for r in later] == [tracking.QUEUED]
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not listed in the sweep index" in err and "index-sweeps" in err
    out = store.cli("index-sweeps")  # as the line says: the index afresh from the runs' tags
    assert out.returncode == 0 and out.stdout.strip() == "2 sweeps indexed", out.stderr
    tags = tracking.client().get_experiment(tracking.experiment_id()).tags
    assert sorted((e["name"], e["runs"]) for e in tracking.sweep_index(tags).values()) == [("indexed", 3),
                                                                                          ("unlisted", 1)]
    lock.close()


def test_a_process_gone_after_its_stop_was_asked_for_is_stopped_and_one_gone_unasked_is_lost(store):
    """A stop can land while the training process is still importing, before it could record being stopped: the
    signal ends it, and the scheduler (or the next status check) finds it gone. That run was stopped, not lost."""
    from engine.launch.local import LocalLauncher, finish_child

    lock = store.hold_scheduler_lock()
    stopped, gone = launch.get_launcher().submit("ns", {"steps": 50}, {"seed": [1, 2]}, 1)
    for run_id in (stopped, gone):  # started, as the scheduler marks a run it starts, by a process now gone
        tracking.set_tags(run_id, {launch.JOB_TAG: "pid 999999999", launch.HOST_TAG: socket.gethostname()})
        tracking.set_status(run_id, tracking.RUNNING)
    tracking.set_tags(stopped, {launch.STOP_TAG: "1"})  # what stop() writes before it signals the process
    finish_child(stopped, -15)
    finish_child(gone, -9)
    for run_id, status, reason, health in ((stopped, "KILLED", "stopped", None),
                                           (gone, "FAILED", "lost: process exited with code -9", "lost")):
        run = tracking.get_run(run_id)
        assert run.info.status == status and run.data.tags[launch.REASON_TAG] == reason
        assert run.data.tags.get("ganboard.health") == health
    # the same rule when a status check finds the process gone (no scheduler saw it exit)
    again = launch.get_launcher().submit("ns", {"steps": 50}, None, 1)[0]
    tracking.set_tags(again, {launch.JOB_TAG: "pid 999999999", launch.HOST_TAG: socket.gethostname(),
                              launch.STOP_TAG: "1"})
    tracking.set_status(again, tracking.RUNNING)
    state = LocalLauncher().status([again])[0]
    assert (state.status, state.reason) == ("killed", "stopped")
    lock.close()
