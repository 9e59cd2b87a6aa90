"""The Ray backend: unit tests of its rules against a stand-in job client, then a real local Ray head.

The live tests start a one-machine Ray cluster on free, non-default ports (never 6379, 8265 or 10001: other
services may hold them) with its own temp dir, submit through the CLI with GANBOARD_LAUNCHER=ray, and shut the
head down at the end by signalling the `ray start --block` process they started (never `ray stop`, which would
stop every Ray on the machine). They are skipped, saying why, only when no Ray head can start here.

The head's node signs in to a tracking server with MLflow's accounts (the basic-auth app, started as the Procfile's
`tracking` process) through its own `~/.mlflow/credentials`, as the README tells a team to set up its nodes: a run
submitted there trains, and the password is nowhere a viewer of the Ray dashboard, the store or the logs could
read it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import kill_groups, procfile, wait_for

from engine import launch, tracking
from engine.launch import ray_jobs
from engine.config import build_config

REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "steps=300", "--set", "batch_size=64", "--set", "eval_every=100", "--set", "g_width=32",
        "--set", "d_width=32", "--set", "eval_samples=500", "--set", "grid_size=16", "--set", "device=cpu"]
TRACKING_USER, TRACKING_PASSWORD = "admin", "pw-" + secrets.token_hex(12)  # the secret looked for everywhere
LONG = ["--set", "steps=1000000", "--set", "batch_size=64", "--set", "eval_every=200", "--set", "g_width=32",
        "--set", "d_width=32", "--set", "eval_samples=500", "--set", "grid_size=16", "--set", "device=cpu"]


# ------------------------------------------------------------------------------------------- helpers
def processes_with(needle: bytes, where: str = "environ") -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / where).read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in (6379, 8265, 10001):
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def worker_port_range(size: int = 200) -> tuple[int, int]:
    """A block of ports nobody listens on (Ray's default range is 10002-19999; we keep clear of it)."""
    for base in range(21000, 31000, size):
        free = True
        for port in range(base, base + size, 17):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    free = False
                    break
        if free:
            return base, base + size - 1
    raise RuntimeError("no free block of worker ports")


def all_runs() -> list:
    c = tracking.client()
    exps = [e.experiment_id for e in c.search_experiments()]
    return list(c.search_runs(exps, max_results=1000)) if exps else []


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.launch", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def store_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "GANBOARD_", "MLFLOW_"))}
    return {**env, "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
            "GANBOARD_LAUNCHER": "ray"}


# ------------------------------------------------------------------------------------------- no cluster needed
def test_unreachable_or_unset_cluster_and_local_store_are_refused_before_anything_is_created(tmp_path, monkeypatch):
    env = store_env(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    [closed] = free_ports(1)
    cases = {
        "unreachable": ({"RAY_ADDRESS": f"http://127.0.0.1:{closed}", "GANBOARD_SHARED_STORE": "1"},
                        "cannot reach the Ray cluster"),
        "unreachable gcs": ({"RAY_ADDRESS": f"127.0.0.1:{closed}", "GANBOARD_SHARED_STORE": "1"},
                            "cannot reach the Ray cluster"),
        "unset": ({"RAY_ADDRESS": "", "GANBOARD_SHARED_STORE": "1"}, "RAY_ADDRESS is not set"),
        "local store": ({"RAY_ADDRESS": f"http://127.0.0.1:{closed}"}, "GANBOARD_SHARED_STORE=1"),
    }
    procs = {name: subprocess.Popen([sys.executable, "-m", "engine.launch", "submit", *TINY], cwd=REPO, text=True,
                                    env={**env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, (extra, _) in cases.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (name, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and cases[name][1] in lines[0], (name, err)
        assert out == ""
    assert all_runs() == []


class FakeJobs:
    """Stands in for JobSubmissionClient: jobs by id, and the submissions it received."""

    def __init__(self):
        self.jobs: dict[str, SimpleNamespace] = {}
        self.submitted: list[dict] = []
        self.stopped: list[str] = []

    def get_job_info(self, job_id):
        if job_id not in self.jobs:
            raise RuntimeError(f"Request failed with status code 404: Job {job_id} does not exist.")
        return self.jobs[job_id]

    def submit_job(self, **spec):
        self.submitted.append(spec)
        self.jobs[spec["submission_id"]] = SimpleNamespace(status="PENDING", message="", error_type=None,
                                                           metadata=spec["metadata"], submission_id="x")
        return spec["submission_id"]

    def stop_job(self, job_id):
        self.stopped.append(job_id)
        return True


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('fakestore') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        tracking.experiment_id()  # create the store once for all the unit tests
    return uri


@pytest.fixture
def fake(fake_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fake_store)
    monkeypatch.setenv("GANBOARD_SHARED_STORE", "1")
    monkeypatch.delenv("GANBOARD_RAY_GPU", raising=False)
    monkeypatch.delenv("GANBOARD_RAY_PYTHON", raising=False)
    launcher = ray_jobs.RayLauncher("http://ray.invalid:8265")
    launcher._client = FakeJobs()
    launcher._cluster = (time.monotonic() + 1e6, {"CPU": 8.0})  # never refreshed: no GPU in this cluster
    return launcher


def make_run(launcher, *, device="cpu", status=tracking.QUEUED, job_status="PENDING", error_type=None, message="",
             tags=None) -> str:
    cfg = build_config(None, {"steps": 100, "device": device})
    run_id = tracking.create_run(cfg.to_dict(), tags={launch.BACKEND_TAG: "ray", **(tags or {})},
                                 status=tracking.QUEUED)
    launcher.enqueue([run_id], [cfg])
    job = launcher.client().jobs[f"ganboard-{run_id}"]
    job.status, job.error_type, job.message = job_status, error_type, message
    if status != tracking.QUEUED:
        tracking.set_tags(run_id, {tracking.HEARTBEAT_TAG: f"{time.time():.0f}"})
        tracking.set_status(run_id, status)
    return run_id


def test_job_spec_resources_env_and_excludes(fake, monkeypatch):
    monkeypatch.setenv("GANBOARD_SOMETHING", "x")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.setenv(name, "pw-of-the-submitter")
    monkeypatch.setenv("GANBOARD_READ_DATABASE_URI", "postgresql://reader:pw-of-the-submitter@db/ganboard")
    monkeypatch.setenv("GANBOARD_ARTIFACT_ROOT", "s3://keeper:pw-of-the-submitter@bucket/runs")
    monkeypatch.setenv("UNRELATED_SECRET", "no")
    cpu = fake.job_spec("r1", build_config(None, {"device": "cpu"}), "ganboard-r1")
    # By default a job runs the submitter's interpreter, not whichever `python` is first on the node's PATH.
    assert cpu["entrypoint"] == f"{shlex.quote(sys.executable)} -m engine.train --run-id r1"
    assert cpu["submission_id"] == "ganboard-r1"
    assert cpu["entrypoint_num_cpus"] == 1 and "entrypoint_num_gpus" not in cpu
    env = cpu["runtime_env"]["env_vars"]
    assert env["MLFLOW_TRACKING_URI"] == tracking.tracking_uri()
    assert env["GANBOARD_SOMETHING"] == "x" and env["GANBOARD_ARTIFACT_ROOT"] == "s3://keeper@bucket/runs"
    assert "pw-of-the-submitter" not in repr(cpu)  # a job's spec is on show in the Ray dashboard: no credential
    assert "UNRELATED_SECRET" not in env and "CUDA_VISIBLE_DEVICES" not in env
    assert cpu["runtime_env"]["working_dir"] == str(tracking.REPO_ROOT)
    assert {"runs/", ".git/", "__pycache__/"} <= set(cpu["runtime_env"]["excludes"])
    cuda = fake.job_spec("r2", build_config(None, {"device": "cuda"}), "ganboard-r2")
    assert cuda["entrypoint_num_gpus"] == 1 and "entrypoint_num_cpus" not in cuda
    auto = fake.job_spec("r3", build_config(None, {"device": "auto"}), "ganboard-r3")
    assert auto["entrypoint_num_cpus"] == 1 and auto["runtime_env"]["env_vars"]["CUDA_VISIBLE_DEVICES"] == ""
    monkeypatch.setenv("GANBOARD_RAY_GPU", "1")
    auto_gpu = fake.job_spec("r4", build_config(None, {"device": "auto"}), "ganboard-r4")
    assert auto_gpu["entrypoint_num_gpus"] == 1 and "CUDA_VISIBLE_DEVICES" not in auto_gpu["runtime_env"]["env_vars"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql+psycopg2://ganboard:pw-of-the-submitter@db:5432/runs")
    database = fake.job_spec("r5", build_config(None, {}), "ganboard-r5")["runtime_env"]["env_vars"]
    assert database["MLFLOW_TRACKING_URI"] == "postgresql+psycopg2://ganboard@db:5432/runs"  # ~/.pgpass on the node


def test_jobs_run_the_configured_python_and_a_bad_setting_is_refused_before_anything_is_created(fake, monkeypatch):
    cfg = build_config(None, {"device": "cpu"})
    for value, python in {"/opt/gan board/bin/python": "/opt/gan board/bin/python", "python3": "python3",
                          " ": sys.executable}.items():
        monkeypatch.setenv("GANBOARD_RAY_PYTHON", value)
        entrypoint = fake.job_spec("r1", cfg, "ganboard-r1")["entrypoint"]
        assert shlex.split(entrypoint) == [python, "-m", "engine.train", "--run-id", "r1"], value
    assert fake.job_spec("r1", cfg, "ganboard-r1")["entrypoint"].startswith(f"{shlex.quote(sys.executable)} -m ")

    before, submitted = len(all_runs()), len(fake.client().submitted)
    for bad in ("venv/bin/python", "~/venv/bin/python", "uv run python", "py\nthon"):
        monkeypatch.setenv("GANBOARD_RAY_PYTHON", bad)
        with pytest.raises(launch.LaunchError) as err:
            fake.submit(None, {"steps": 100, "device": "cpu"})
        message = str(err.value)
        assert message.startswith("GANBOARD_RAY_PYTHON=") and "absolute path" in message, (bad, message)
        assert "\n" not in message, bad
    assert (len(all_runs()), len(fake.client().submitted)) == (before, submitted)


def test_relative_sqlite_store_is_made_absolute_for_the_jobs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///rel/m.db")
    assert ray_jobs.resolved_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/rel/m.db"
    assert ray_jobs.is_local_store("sqlite:///x.db") and not ray_jobs.is_local_store("http://mlflow:5000")


def test_running_run_whose_job_ended_is_lost_or_killed_when_a_stop_was_asked(fake):
    lost = make_run(fake, status=tracking.RUNNING, job_status="FAILED")
    [state] = fake.status([lost])
    assert (state.status, state.reason) == ("failed", "lost: ray job FAILED")
    assert tracking.get_run(lost).info.status == tracking.FAILED

    stopped = make_run(fake, status=tracking.RUNNING, job_status="STOPPED", tags={launch.STOP_TAG: "1"})
    [state] = fake.status([stopped])
    assert (state.status, state.reason) == ("killed", "stopped")

    alive = make_run(fake, status=tracking.RUNNING, job_status="RUNNING")
    assert fake.status([alive])[0].status == "running"
    gone = make_run(fake, status=tracking.RUNNING)
    del fake.client().jobs[f"ganboard-{gone}"]
    assert fake.status([gone])[0].reason == "lost: its ray job is unknown to the cluster"


def test_queued_runs_say_why_they_wait_and_settle_when_their_job_ends(fake):
    cpu = make_run(fake)
    assert fake.status([cpu])[0].reason == "pending: waiting for a free CPU"
    gpu = make_run(fake, device="cuda")
    state = fake.status([gpu])[0]
    assert (state.status, state.reason) == ("queued", "pending: asks for 1 GPU, the cluster has 0")

    # Ray gave up placing a job the cluster can run: a new job is submitted and the run stays queued.
    timeout = "JOB_SUPERVISOR_ACTOR_START_TIMEOUT"
    requeued = make_run(fake, job_status="FAILED", error_type=timeout)
    state = fake.status([requeued])[0]
    assert state.status == "queued" and state.job == f"ray ganboard-{requeued}-2"
    assert fake.client().submitted[-1]["submission_id"] == f"ganboard-{requeued}-2"
    assert tracking.get_run(requeued).data.tags[ray_jobs.ATTEMPT_TAG] == "2"
    # ...but not one it can never place.
    never = make_run(fake, device="cuda", job_status="FAILED", error_type=timeout)
    state = fake.status([never])[0]
    assert (state.status, state.reason) == ("failed", "never started: asks for 1 GPU, the cluster has 0")

    broken = make_run(fake, job_status="FAILED", message="runtime_env setup failed: no\nspace")
    state = fake.status([broken])[0]
    assert state.status == "failed"
    assert state.reason == "lost: ray job FAILED before the run started: runtime_env setup failed: no space"

    # Stopping a queued run marks it killed and asks Ray to stop its job.
    fake.stop([cpu])
    assert fake.client().stopped == [f"ganboard-{cpu}"]
    assert fake.status([cpu])[0].status == "killed"


# ------------------------------------------------------------------------------------------- a live Ray head
@pytest.fixture(scope="module", autouse=True)
def signed_server(tmp_path_factory):
    """A tracking server with MLflow's accounts, started as the Procfile's `tracking` process on a SQLite store in
    its own folder (it boots while the unit tests run); the admin's password is TRACKING_PASSWORD."""
    folder = tmp_path_factory.mktemp("signed-server")
    [port] = free_ports(1)
    (folder / "basic_auth.ini").write_text(f"[mlflow]\ndefault_permission = READ\n"
                                           f"database_uri = sqlite:///{folder / 'accounts.db'}\n"
                                           f"admin_username = {TRACKING_USER}\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_", "GANBOARD_"))},
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{folder / 'mlflow.db'}",
           "MLFLOW_ARTIFACTS_DESTINATION": str(folder / "artifacts"), "MLFLOW_HOST": "127.0.0.1",
           "MLFLOW_PORT": str(port), "MLFLOW_WORKERS": "1", "MLFLOW_APP_NAME": "basic-auth",
           "MLFLOW_AUTH_CONFIG_PATH": str(folder / "basic_auth.ini"), "MLFLOW_AUTH_ADMIN_PASSWORD": TRACKING_PASSWORD,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
    with open(folder / "server.log", "wb") as log:
        proc = subprocess.Popen(["/bin/sh", "-c", procfile()["tracking"]], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield SimpleNamespace(uri=f"http://127.0.0.1:{port}", folder=folder, proc=proc)
    finally:
        kill_groups([proc.pid])


@pytest.fixture(scope="module", autouse=True)
def head(tmp_path_factory):
    """Start a local Ray head on free ports as the module begins (it boots while the unit tests run); shut it
    down at the end. Yields what `cluster` needs, or an object whose `error` says why no head could start.

    The first `python` on the head's PATH is a shim that cannot train, as a node would see it when its venv is not
    activated: the jobs must run the interpreter that runs these tests (the submitter's, the default)."""
    ray_cli = Path(sys.executable).with_name("ray")
    ray_cli = str(ray_cli) if ray_cli.exists() else shutil.which("ray")
    if not ray_cli:
        yield SimpleNamespace(error="no `ray` command next to this Python or on PATH")
        return
    store = tmp_path_factory.mktemp("raystore")
    temp_dir = tempfile.mkdtemp(prefix="rgb", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    gcs, dash, client, node_mgr, obj_mgr, agent_http, agent_grpc, env_agent, metrics = free_ports(9)
    low, high = worker_port_range()
    head_env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_", "GANBOARD_"))}
    shim = tmp_path_factory.mktemp("shim")
    for name in ("python", "python3"):
        (shim / name).write_text("#!/bin/sh\necho \"$0: the first python on the node's PATH, not the tests' "
                                 "interpreter\" >&2\nexit 97\n")
        (shim / name).chmod(0o755)
    head_env["PATH"] = f"{shim}{os.pathsep}{head_env.get('PATH', os.defpath)}"
    # the node's own credentials for the tracking server, where MLflow looks for them (README, Team deployment)
    node_home = tmp_path_factory.mktemp("node-home")
    (node_home / ".mlflow").mkdir()
    credentials = node_home / ".mlflow" / "credentials"
    credentials.write_text(f"[mlflow]\nmlflow_tracking_username = {TRACKING_USER}\n"
                           f"mlflow_tracking_password = {TRACKING_PASSWORD}\n")
    credentials.chmod(0o600)
    head_env["HOME"] = str(node_home)
    cmd = [ray_cli, "start", "--head", "--block", f"--port={gcs}", f"--dashboard-port={dash}",
           "--dashboard-host=127.0.0.1", "--include-dashboard=true", f"--ray-client-server-port={client}",
           f"--node-manager-port={node_mgr}", f"--object-manager-port={obj_mgr}",
           f"--dashboard-agent-listen-port={agent_http}", f"--dashboard-agent-grpc-port={agent_grpc}",
           f"--runtime-env-agent-port={env_agent}", f"--metrics-export-port={metrics}",
           f"--min-worker-port={low}", f"--max-worker-port={high}", "--num-cpus=3", "--num-gpus=0",
           "--object-store-memory=100000000", f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    log_path = store / "ray-head.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=head_env,
                                start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    env = {**store_env(store), "RAY_ADDRESS": address, "GANBOARD_SHARED_STORE": "1"}
    try:
        yield SimpleNamespace(error=None, proc=proc, address=address, env=env, log_path=log_path, temp_dir=temp_dir)
    finally:
        try:
            from ray.job_submission import JobSubmissionClient

            jobs = JobSubmissionClient(address)
            for job in jobs.list_jobs():
                if str(job.status).split(".")[-1] in ("PENDING", "RUNNING"):
                    jobs.stop_job(job.submission_id)
        except Exception:  # noqa: BLE001 - the head may be gone, or never came up
            pass
        proc.send_signal(signal.SIGTERM)  # `ray start --block` drains and shuts its processes down
        try:
            proc.wait(45)
        except subprocess.TimeoutExpired:
            pass
        kill_groups([proc.pid] if proc.poll() is None else [])
        kill_groups(processes_with(env["MLFLOW_TRACKING_URI"].encode()))  # training processes of our jobs
        kill_groups(processes_with(temp_dir.encode(), "cmdline"))  # anything of this Ray session left
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(head):
    """The head, up and taking jobs, with a shared (this machine's) SQLite store and the env to submit with."""
    if head.error:
        pytest.skip(f"Ray cannot start here: {head.error}")
    import requests

    deadline = time.monotonic() + 120
    while True:
        if head.proc.poll() is not None:
            pytest.skip(f"Ray cannot start here: `ray start` exited with {head.proc.returncode}: "
                        + head.log_path.read_text(errors="replace")[-500:])
        try:
            if requests.get(f"{head.address}/api/jobs/", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.skip("Ray cannot start here: no job API after 120 s: "
                        + head.log_path.read_text(errors="replace")[-500:])
        time.sleep(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", head.env["MLFLOW_TRACKING_URI"])
        mp.setenv("GANBOARD_SHARED_STORE", "1")
        mp.delenv("RAY_API_SERVER_ADDRESS", raising=False)
        mp.setenv("RAY_ADDRESS", head.address)
        yield SimpleNamespace(address=head.address, env=head.env, launcher=ray_jobs.RayLauncher(head.address),
                              temp_dir=Path(head.temp_dir))


@pytest.fixture(scope="module")
def submitted(cluster):
    """Two short runs, one long run and one asking for a GPU, submitted at once through the CLI."""
    # Create the store first: MLflow's schema migrations race when several processes open a new SQLite file at once.
    tracking.experiment_id()
    submits = {"short": ["--seeds", "2", *TINY], "long": LONG, "gpu": [*TINY, "--set", "device=cuda"]}
    procs = {k: subprocess.Popen([sys.executable, "-m", "engine.launch", "submit", "--name", k, *args], cwd=REPO,
                                 text=True, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k, args in submits.items()}
    ids = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, (name, err)
        ids[name] = out.split()
    return ids


def test_ray_runs_are_jobs_tagged_with_their_job_id(cluster, submitted):
    assert len(submitted["short"]) == 2 and len(submitted["long"]) == 1
    for run_id in [*submitted["short"], *submitted["long"], *submitted["gpu"]]:
        tags = tracking.get_run(run_id).data.tags
        assert tags[launch.JOB_TAG] == f"ray ganboard-{run_id}"
        assert tags[launch.BACKEND_TAG] == "ray"


def test_a_gpu_run_on_a_gpu_less_cluster_says_why_it_waits_and_can_be_stopped(cluster, submitted):
    [run_id] = submitted["gpu"]
    state = wait_for(lambda: [s for s in cluster.launcher.status([run_id]) if s.reason.startswith("pending")], 60,
                     "a pending reason")[0]
    assert (state.status, state.reason) == ("queued", "pending: asks for 1 GPU, the cluster has 0")
    out = cli(cluster.env, "stop", run_id)
    assert out.returncode == 0, out.stderr
    run = tracking.get_run(run_id)
    assert run.info.status == tracking.KILLED and run.data.tags[launch.REASON_TAG] == "stopped before it started"
    assert cluster.launcher.status([run_id])[0].status == "killed"


def test_two_short_ray_runs_finish_with_their_metrics(cluster, submitted):
    run_ids = submitted["short"]
    # The launcher's status settles a run whose job died before training (it fails with the job's message).
    wait_for(lambda: all(s.status in ("finished", "failed", "killed") for s in cluster.launcher.status(run_ids)), 150,
             "both short runs to end", 1.0)
    for run_id in run_ids:
        run = tracking.get_run(run_id)
        assert run.info.status == tracking.FINISHED, (run.data.tags.get(launch.REASON_TAG), cluster.launcher.logs(run_id))
        assert run.data.tags[tracking.STEP_TAG] == "300"
        history = tracking.client().get_metric_history(run_id, "loss/d")
        assert max(m.step for m in history) == 300
        assert run.data.metrics  # the evaluation metrics too
        assert tracking.snapshot_steps(run_id)[-1] == 300
    jobs = cluster.launcher.client()
    wait_for(lambda: all(str(jobs.get_job_status(f"ganboard-{r}")).endswith("SUCCEEDED") for r in run_ids), 30,
             "the jobs to succeed")
    states = cluster.launcher.status(run_ids)
    assert [s.status for s in states] == ["finished", "finished"]
    logs = cli(cluster.env, "logs", run_ids[0])
    assert logs.returncode == 0 and f"run {run_ids[0]}" in logs.stdout and "finished at step 300" in logs.stdout


def test_stopping_a_running_ray_run_ends_it_killed(cluster, submitted):
    [run_id] = submitted["long"]
    wait_for(lambda: int(tracking.get_run(run_id).data.tags.get(tracking.STEP_TAG, 0)) > 0
             or cluster.launcher.status([run_id])[0].status not in ("queued", "running"), 150,
             "the long run to train", 1.0)
    state = cluster.launcher.status([run_id])[0]
    assert state.status == "running", (state.reason, cluster.launcher.logs(run_id))
    out = cli(cluster.env, "stop", run_id)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: tracking.get_run(run_id).info.status == tracking.KILLED, 30, "the run to end KILLED")
    assert tracking.get_run(run_id).data.tags[launch.REASON_TAG] == "stopped"
    jobs = cluster.launcher.client()
    wait_for(lambda: str(jobs.get_job_status(f"ganboard-{run_id}")).endswith("STOPPED"), 30, "the job to stop")
    assert cluster.launcher.status([run_id])[0].status == "killed"


def test_a_job_signs_in_with_the_nodes_own_credentials_and_no_password_is_on_show(cluster, signed_server, monkeypatch,
                                                                                    tmp_path):
    """The submitter signs in with MLFLOW_TRACKING_USERNAME / _PASSWORD; the job on the node with its
    ~/.mlflow/credentials. The run trains to its end, and the password is in none of what others can read: the
    Ray dashboard's job API (runtime_env, entrypoint, metadata), the job's logs, Ray's session folder, the run's
    params, tags and artifacts, the server's store and log, the launcher's output, the dashboard's pages."""
    if importlib.util.find_spec("flask_wtf") is None:
        pytest.fail("MLflow's basic-auth app needs Flask-WTF (pip install 'mlflow[auth]'): it is not installed")
    import requests

    def healthy():
        assert signed_server.proc.poll() is None, (signed_server.folder / "server.log").read_text()[-3000:]
        try:
            return requests.get(f"{signed_server.uri}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(healthy, 300, "the tracking server with accounts")
    env = {**{k: v for k, v in cluster.env.items() if k != "GANBOARD_SHARED_STORE"},
           "MLFLOW_TRACKING_URI": signed_server.uri, "MLFLOW_TRACKING_USERNAME": TRACKING_USER,
           "MLFLOW_TRACKING_PASSWORD": TRACKING_PASSWORD}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("GANBOARD_SHARED_STORE")
    submit = cli(env, "submit", "--name", "signed", *TINY, timeout=180)
    assert submit.returncode == 0, submit.stderr
    [run_id] = submit.stdout.split()
    wait_for(lambda: cluster.launcher.status([run_id])[0].status not in ("queued", "running"), 180,
             "the run to end", 1.0)
    run = tracking.get_run(run_id)
    assert run.info.status == tracking.FINISHED, (run.data.tags.get(launch.REASON_TAG), cluster.launcher.logs(run_id))
    assert run.data.tags[tracking.STEP_TAG] == "300"  # it logged all along: the node signed in

    seen: dict[str, str] = {}  # where -> what a reader there sees
    job = f"ganboard-{run_id}"
    seen["Ray's job API (what its dashboard shows)"] = requests.get(f"{cluster.address}/api/jobs/", timeout=10).text
    details = cluster.launcher.client().get_job_info(job)
    assert details.runtime_env["env_vars"]["MLFLOW_TRACKING_URI"] == signed_server.uri  # the record is the real one
    seen["the job's details"] = json.dumps(details.dict(), default=str)
    seen["the job's logs"] = cluster.launcher.client().get_job_logs(job)
    assert f"run {run_id}" in seen["the job's logs"]
    logs = cli(env, "logs", run_id)
    seen["the launcher's output"] = submit.stdout + submit.stderr + logs.stdout + logs.stderr
    seen["the run's params and tags"] = json.dumps([run.data.params, run.data.tags])
    tracking.client().download_artifacts(run_id, "", str(tmp_path))
    assert any(tmp_path.rglob("*.npz"))  # its snapshots: artifacts were uploaded through the server
    for where in (cluster.temp_dir, signed_server.folder, tmp_path):
        for path in where.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.name != "accounts.db":  # (that one keeps a hash)
                seen[str(path)] = path.read_bytes().decode("latin-1")
    st_text = dashboard_text(run_id)
    assert run_id[:8] in st_text  # the pages did show the run
    seen["the dashboard's pages"] = st_text
    assert len(seen) > 20
    assert [where for where, text in seen.items() if TRACKING_PASSWORD in text] == []

    # A node without credentials: the job's process says in one line what it lacks, and nothing more.
    bare = {k: v for k, v in env.items() if k not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    (tmp_path / "bare-home").mkdir()
    out = subprocess.run([sys.executable, "-m", "engine.train", "--run-id", run_id], cwd=REPO, text=True,
                         capture_output=True, timeout=120, env={**bare, "HOME": str(tmp_path / "bare-home")})
    assert out.returncode == 2 and out.stdout == ""
    [line] = out.stderr.strip().splitlines()
    assert "401" in line and "~/.mlflow/credentials" in line, line


def dashboard_text(run_id: str) -> str:
    """Every text the Runs and Artifacts pages show of this store (Streamlit's AppTest, in this process's env)."""
    import streamlit as st
    from support import open_page

    st.cache_data.clear()
    texts = []
    for page, query in (("views/runs.py", {}), ("views/artifacts.py", {"run": run_id})):
        at = open_page(page, query=query)
        assert not at.exception, at.exception
        texts += [str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "success", "title",
                                            "header", "subheader", "code", "text") for e in getattr(at, kind)]
        texts += [e.value.to_csv() for e in at.dataframe]
        texts += [repr(e.options) for e in [*at.selectbox, *at.multiselect]]
    return "\n".join(texts)
