"""Launch runs and sweeps: one launcher interface, a local queue (default) and a Ray cluster backend.

    python -m engine.launch submit --preset ns --set dataset=grid --seeds 5 --sweep loss=ns,hinge
    python -m engine.launch status [RUN_ID ...] | stop RUN_ID ... | logs RUN_ID

Every run exists in MLflow from the moment it is submitted: its full config as params and config.json, status
SCHEDULED ("queued"), and tags naming its sweep. The queue itself lives in the tracking store, so it survives a
browser, a dashboard restart or a reboot:

- local backend: a detached scheduler process per machine (started on demand, guarded by a lock file) starts the
  queued runs of this host in submission order, at most GANBOARD_MAX_PARALLEL at once, each as its own process
  (`python -m engine.train --run-id ID`) in its own session, so runs outlive whoever launched them. It exits when
  nothing is left to do; the next submit starts it again.
- ray backend (GANBOARD_LAUNCHER=ray, cluster at RAY_ADDRESS): each run is a Ray job running the same entry point,
  with the project shipped as the job's working_dir; status, stop and logs map onto the job.

A run that claims to be RUNNING but whose heartbeat is older than LOST_AFTER_S (or whose local process is gone)
is marked FAILED with reason `lost` by whoever looks at it next.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import tracking
from engine.config import ConfigError, TrainConfig, build_config, check_value, parse_assignment

LOST_AFTER_S = 45.0  # three missed heartbeats and then some (tracking.HEARTBEAT_S = 5)
MAX_SUBMIT_DEFAULT = 200
MAX_NAME = 250  # sweep and experiment names: well inside MLflow's limits for names and tag values
SWEEP_TAG, SWEEP_NAME_TAG, BACKEND_TAG, HOST_TAG = "ganboard.sweep", "ganboard.sweep_name", "ganboard.backend", "ganboard.host"
SEQ_TAG, JOB_TAG, REASON_TAG, STOP_TAG = "ganboard.queue_seq", "ganboard.job", "ganboard.end_reason", "ganboard.stop_requested"
RELAUNCH_TAG = "ganboard.relaunch_of"  # the run a relaunch repeats
STATUS_WORDS = tracking.STATUS_WORDS


class LaunchError(ValueError):
    """Bad launch input (one line for the user); nothing has been queued.

    `field` names the input it is about in the engine's terms ("seeds": the count of seeds; a config field; None
    for the launch as a whole), so that a form can show it under the box it came from.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    def worded(self, words: dict[str, str]) -> str:
        """The message with its leading input name in a front end's words, e.g. {"seeds": "--seeds"}."""
        text = str(self)
        if self.field in words and text.startswith(f"{self.field}:"):
            return words[self.field] + text[len(self.field):]
        return text


@dataclass
class RunState:
    run_id: str
    name: str
    status: str  # queued, running, finished, failed, killed
    step: int
    steps: int
    job: str  # the backend's handle: a pid or a Ray job id
    reason: str

    def line(self) -> str:
        extra = f"  ({self.reason})" if self.reason else ""
        return f"{self.run_id}  {self.status:<8}  step {self.step}/{self.steps}  {self.job}  {self.name}{extra}"


# ---------------------------------------------------------------- sweeps
def parse_sweep(items: list[str], flag: str = "--sweep") -> dict[str, list[Any]]:
    """`field=v1,v2` items into {field: typed values}. Every value is checked on its own (type, choices, range)
    and a field or a value given twice is refused; errors start with `flag`, the place the items were typed
    (the CLI's --sweep, a form's box)."""
    from engine.presets import PRESETS

    sweep: dict[str, list[Any]] = {}
    for item in items:
        key, values = parse_assignment(item, flag)
        if key in sweep:
            raise LaunchError(f"{flag}: {key} is given twice; list its values once, e.g. {key}=a,b", key)
        listed = [v.strip() for v in values.split(",") if v.strip()]
        if not listed:
            raise LaunchError(f"{flag}: {key} has no values, give e.g. {key}=a,b", key)
        if key == "preset":
            unknown = [v for v in listed if v not in PRESETS]
            if unknown:
                raise LaunchError(f"{flag}: preset '{unknown[0]}' is unknown, allowed: {', '.join(PRESETS)}", key)
            typed: list[Any] = listed
        else:
            try:
                typed = [check_value(key, v) for v in listed]
            except ConfigError as exc:
                raise LaunchError(f"{flag}: {exc}", key) from None
        for i, value in enumerate(typed):
            if value in typed[:i]:
                first = listed[typed.index(value)]
                what = f"{first} twice" if first == listed[i] else f"{first} and {listed[i]}, one value"
                raise LaunchError(f"{flag}: {key} lists {what} (the same runs twice); give each value once", key)
        sweep[key] = typed
    return sweep


def seed_lists(base_seed: int, seeds: int | list[int], sweep: dict[str, list[Any]], seed_set: bool) -> list[int] | None:
    """The seeds of a combination whose own seed is `base_seed`: `seeds` seeds from it (a count), or the listed
    ones; None when the sweep has a seed axis (each combination then has its own). Refuses the contradictions: a
    seed axis with a count above 1 or a list of seeds, or a seed axis or a list beside a seed that was set
    (`seed_set`)."""
    if "seed" in sweep:
        swept = ", ".join(str(s) for s in sweep["seed"])
        if isinstance(seeds, list) or seeds != 1:
            count = len(seeds) if isinstance(seeds, list) else seeds
            raise LaunchError(f"seeds: {count} seeds per combination and a sweep over seed ({swept}); give the "
                              f"seeds one way: the sweep with 1 seed per combination, or a start seed and a count",
                              "seeds")
        if seed_set:
            raise LaunchError(f"seed: set to {base_seed} and swept over {swept}; give the seed one way", "seed")
        return None
    if isinstance(seeds, list):
        if seed_set and seeds != [base_seed]:
            raise LaunchError(f"seed: set to {base_seed} and also given as seeds {seeds}; give the seed one way",
                              "seed")
        if len(set(seeds)) < len(seeds):
            raise LaunchError(f"seeds: {seeds} repeats a seed (the same run twice)", "seeds")
        return list(seeds)
    return list(range(base_seed, base_seed + seeds))


def expand(preset: str | None, overrides: dict[str, Any], sweep: dict[str, list[Any]] | None = None,
           seeds: int | list[int] = 1, max_runs: int | None = None) -> list[tuple[str | None, TrainConfig]]:
    """(preset, config) for the cartesian product of the sweep values times the seeds, each validated;
    nothing is created here.

    A sweep over `preset` picks the preset per run; other keys override config fields. `seeds` is a count (that
    many seeds from the run's own seed: the `seed` override, else the preset's, else 0) or a list of seeds; a
    sweep over `seed` gives the seeds itself, with a count of 1.
    """
    sweep = dict(sweep or {})
    if (seeds if isinstance(seeds, int) else len(seeds)) < 1:
        raise LaunchError("seeds: at least one seed is needed", "seeds")
    max_runs = max_runs or int(os.environ.get("GANBOARD_MAX_SUBMIT", MAX_SUBMIT_DEFAULT))
    keys = list(sweep)
    combos = list(itertools.product(*(sweep[k] for k in keys))) or [()]
    per_combo = 1 if "seed" in sweep else (seeds if isinstance(seeds, int) else len(seeds))
    total = len(combos) * per_combo
    if total > max_runs:
        raise LaunchError(f"sweep: {total} runs exceeds the cap of {max_runs} per submit (GANBOARD_MAX_SUBMIT)")
    configs = []
    for combo in combos:
        chosen = dict(zip(keys, combo))
        run_preset = chosen.pop("preset", preset)
        base = build_config(run_preset, {**overrides, **{k: v for k, v in chosen.items() if k != "seed"}})
        seed_list = seed_lists(base.seed, seeds, sweep, "seed" in overrides)
        for seed in seed_list if seed_list is not None else [chosen["seed"]]:
            configs.append((run_preset, build_config(run_preset, {**overrides, **chosen, "seed": seed})))
    return configs


def run_name(cfg: TrainConfig, preset: str | None, varied: list[str]) -> str:
    parts = [preset or cfg.loss] + [f"{k}={getattr(cfg, k)}" for k in varied if k not in ("preset", "seed")]
    return " ".join(parts + [f"s{cfg.seed}"])


def new_sweep_id() -> str:
    return f"{int(time.time() * 1000):x}"


# ---------------------------------------------------------------- the interface
class Launcher:
    """Submit, inspect and stop runs. Subclasses implement _start/_stop_started/_job_state/_logs."""

    backend = "base"

    def submit(self, preset: str | None, overrides: dict[str, Any] | None = None,
               sweep: dict[str, list[Any]] | None = None, seeds: int | list[int] = 1, *,
               experiment: str = tracking.DEFAULT_EXPERIMENT, sweep_name: str | None = None,
               sweep_id: str | None = None, names: list[str] | None = None,
               tags: dict[str, str] | None = None) -> list[str]:
        """Create the runs (queued) and hand them to the backend; returns their ids in plan order.

        `sweep_id` joins the runs to a sweep an earlier submit made (a table of several presets is one sweep on
        the Runs page, a relaunch joins its run's sweep); by default every submit is a sweep of its own. `names`
        (one per planned run) replace the names made from the varied fields; `tags` go on every run.
        """
        if sweep_name is not None and not 0 < len(sweep_name) <= MAX_NAME:
            raise LaunchError(f"sweep name: must be 1 to {MAX_NAME} characters, got {len(sweep_name)}")
        if not 0 < len(experiment) <= MAX_NAME:
            raise LaunchError(f"experiment: must be 1 to {MAX_NAME} characters, got {len(experiment)}")
        planned = expand(preset, dict(overrides or {}), sweep, seeds)
        configs = [cfg for _, cfg in planned]
        self.check_ready(configs)
        sweep_id = sweep_id or new_sweep_id()
        varied = [k for k in (sweep or {}) if len(sweep[k]) > 1]
        if names is not None and len(names) != len(planned):
            raise LaunchError(f"names: {len(names)} names for {len(planned)} runs")
        run_ids = []
        for i, (run_preset, cfg) in enumerate(planned):
            run_tags = {**(tags or {}), SWEEP_TAG: sweep_id, SWEEP_NAME_TAG: sweep_name or f"sweep {sweep_id}",
                        BACKEND_TAG: self.backend, HOST_TAG: socket.gethostname(), SEQ_TAG: f"{time.time_ns():020d}",
                        "ganboard.preset": run_preset or "custom"}
            name = names[i] if names is not None else run_name(cfg, run_preset, varied)
            run_ids.append(tracking.create_run(cfg.to_dict(), experiment=experiment, run_name=name, tags=run_tags,
                                               status=tracking.QUEUED))
        self.enqueue(run_ids, configs)
        return run_ids

    def check_ready(self, configs: list[TrainConfig]) -> None:
        """Refuse before anything is created when this backend cannot run these configs."""

    def enqueue(self, run_ids: list[str], configs: list[TrainConfig]) -> None:
        raise NotImplementedError

    def status(self, run_ids: list[str] | None = None) -> list[RunState]:
        runs = [tracking.get_run(r) for r in run_ids] if run_ids else self.recent_runs()
        return [self.state_of(run) for run in runs]

    def recent_runs(self, limit: int = 50):
        c = tracking.client()
        exps = [e.experiment_id for e in c.search_experiments()]
        return list(c.search_runs(exps, max_results=limit, order_by=["attributes.start_time DESC"]))

    def state_of(self, run) -> RunState:
        tags, status = run.data.tags, run.info.status
        reason = tags.get(REASON_TAG, "")
        if status == tracking.RUNNING:
            lost = self.lost_reason(run)
            if lost:
                tracking.set_tags(run.info.run_id, {REASON_TAG: lost, "ganboard.health": "lost"})
                tracking.set_status(run.info.run_id, tracking.FAILED)
                status, reason = tracking.FAILED, lost
        elif status == tracking.QUEUED:
            reason = self.pending_reason(run) or reason
        return RunState(run.info.run_id, run.info.run_name or "", STATUS_WORDS.get(status, status.lower()),
                        int(tags.get(tracking.STEP_TAG, 0) or 0), int(run.data.params.get("steps", 0) or 0),
                        tags.get(JOB_TAG, ""), reason)

    def lost_reason(self, run) -> str:
        beat = float(run.data.tags.get(tracking.HEARTBEAT_TAG, 0) or 0)
        started = (run.info.start_time or 0) / 1000
        if time.time() - max(beat, started) > LOST_AFTER_S:
            return f"lost: no heartbeat for {time.time() - max(beat, started):.0f} s"
        return ""

    def pending_reason(self, run) -> str:
        return ""

    def stop(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            run = tracking.get_run(run_id)
            if run.info.status == tracking.QUEUED:
                tracking.set_tags(run_id, {REASON_TAG: "stopped before it started", STOP_TAG: "1"})
                self._cancel_queued(run)
                tracking.set_status(run_id, tracking.KILLED)
            elif run.info.status == tracking.RUNNING:
                tracking.set_tags(run_id, {STOP_TAG: "1"})
                self._stop_started(run)

    def _cancel_queued(self, run) -> None:
        """Nothing to do locally: the scheduler only starts runs that are still SCHEDULED."""

    def _stop_started(self, run) -> None:
        raise NotImplementedError

    def logs(self, run_id: str) -> str:
        raise NotImplementedError


# ---------------------------------------------------------------- local backend
def state_dir() -> Path:
    """Per-machine, per-store scheduler state (lock, logs): beside an embedded store, else under ~/.ganboard,
    one folder per tracking store, so that the schedulers of two stores never block each other."""
    uri = tracking.tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):]).parent / "launcher"
    else:
        path = Path.home() / ".ganboard" / hashlib.sha1(uri.encode()).hexdigest()[:12] / "launcher"
    (path / "logs").mkdir(parents=True, exist_ok=True)
    return path


def max_parallel() -> int:
    if os.environ.get("GANBOARD_MAX_PARALLEL"):
        return max(1, int(os.environ["GANBOARD_MAX_PARALLEL"]))
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.device_count()
    except ImportError:
        pass
    return os.cpu_count() or 1


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class LocalLauncher(Launcher):
    backend = "local"

    def enqueue(self, run_ids: list[str], configs: list[TrainConfig]) -> None:
        self.ensure_scheduler()

    def ensure_scheduler(self) -> None:
        """Start the detached scheduler unless one already holds the lock."""
        lock_path = state_dir() / "scheduler.lock"
        with open(lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a scheduler is running
            fcntl.flock(fh, fcntl.LOCK_UN)
        with open(state_dir() / "scheduler.log", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "engine.launch", "scheduler"], cwd=tracking.REPO_ROOT,
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(tracking.REPO_ROOT)})

    def lost_reason(self, run) -> str:
        tags = run.data.tags
        if tags.get(HOST_TAG) == socket.gethostname() and tags.get(JOB_TAG, "").startswith("pid "):
            pid = int(tags[JOB_TAG].split()[1])
            if pid_alive(pid):
                return ""  # alive here: a stale heartbeat means the store was away, and the run rides it out
            if tracking.get_run(run.info.run_id).info.status == tracking.RUNNING:
                return "lost: its process is gone"
        return super().lost_reason(run)

    def _stop_started(self, run) -> None:
        job = run.data.tags.get(JOB_TAG, "")
        if job.startswith("pid ") and run.data.tags.get(HOST_TAG) == socket.gethostname():
            try:
                os.killpg(int(job.split()[1]), signal.SIGTERM)
            except ProcessLookupError:
                pass

    def logs(self, run_id: str) -> str:
        path = state_dir() / "logs" / f"{run_id}.log"
        for candidate in (path, path.with_suffix(".done.log")):  # still running; ended on this machine
            if candidate.exists():
                return candidate.read_text(errors="replace")
        try:
            with open(tracking.download(run_id, "logs/output.txt")) as fh:
                return fh.read()
        except Exception:  # noqa: BLE001 - no log yet is an ordinary answer
            return ""


def scheduler_loop(poll_s: float = 1.0, idle_exit_s: float = 30.0) -> None:
    """Start queued runs of this host in submission order within the cap; exit after a quiet spell."""
    lock = open(state_dir() / "scheduler.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    host = socket.gethostname()
    children: dict[str, subprocess.Popen] = {}
    idle_since = time.monotonic()
    c = tracking.client()

    def queued_here() -> list:
        exps = [e.experiment_id for e in c.search_experiments()]
        runs = list(c.search_runs(exps, filter_string=f"attributes.status = '{tracking.QUEUED}' "
                                                      f"and tags.`{HOST_TAG}` = '{host}' "
                                                      f"and tags.`{BACKEND_TAG}` = 'local'", max_results=1000))
        return sorted(runs, key=lambda r: r.data.tags.get(SEQ_TAG, ""))

    while True:
        try:
            for run_id, proc in list(children.items()):
                if proc.poll() is not None:
                    children.pop(run_id)
                    finish_child(run_id, proc.returncode)
            queued = queued_here()
            while queued and len(children) < max_parallel():
                run = queued.pop(0)
                if run.info.run_id in children or tracking.get_run(run.info.run_id).info.status != tracking.QUEUED:
                    continue  # ours already (its first flip to RUNNING failed), or stopped meanwhile
                children[run.info.run_id] = start_child(run.info.run_id)
            if children or queued:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > idle_exit_s:
                # A submit that saw our lock just before we let go relies on us: look once more after unlocking.
                fcntl.flock(lock, fcntl.LOCK_UN)
                if not queued_here():
                    return
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # a new scheduler took over
                idle_since = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - a store hiccup must not orphan the queue; try again next poll
            print(f"scheduler: {type(exc).__name__}: {exc}", flush=True)
        time.sleep(poll_s)


def start_child(run_id: str) -> subprocess.Popen:
    with open(state_dir() / "logs" / f"{run_id}.log", "ab") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen([sys.executable, "-m", "engine.train", "--run-id", run_id], cwd=tracking.REPO_ROOT,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(tracking.REPO_ROOT), "PYTHONUNBUFFERED": "1"})
    try:
        tracking.set_tags(run_id, {JOB_TAG: f"pid {proc.pid}", tracking.HEARTBEAT_TAG: f"{time.time():.0f}"})
        tracking.set_status(run_id, tracking.RUNNING)
    except Exception as exc:  # noqa: BLE001 - the child is running: keep its handle; it flips the run itself
        print(f"scheduler: could not mark {run_id} running: {exc}", flush=True)
    return proc


def finish_child(run_id: str, returncode: int) -> None:
    """Keep the process output as an artifact; a process that died without ending its run fails it."""
    path = state_dir() / "logs" / f"{run_id}.log"
    try:
        if path.exists():
            tracking.log_text(run_id, "logs/output.txt", path.read_text(errors="replace"))  # what logs() reads
            os.replace(path, path.with_suffix(".done.log"))
        run = tracking.get_run(run_id)
        if run.info.status == tracking.RUNNING:
            tracking.set_tags(run_id, {REASON_TAG: f"lost: process exited with code {returncode}"})
            tracking.set_status(run_id, tracking.FAILED)
    except Exception as exc:  # noqa: BLE001 - the scheduler must survive a store hiccup
        print(f"scheduler: could not finish {run_id}: {exc}", flush=True)


def get_launcher(name: str | None = None) -> Launcher:
    name = name or os.environ.get("GANBOARD_LAUNCHER", "local")
    if name == "local":
        return LocalLauncher()
    if name == "ray":
        from engine.ray_backend import RayLauncher

        return RayLauncher(os.environ.get("RAY_ADDRESS", ""))
    raise LaunchError(f"GANBOARD_LAUNCHER: unknown backend '{name}', allowed: local, ray")


# ---------------------------------------------------------------- CLI
CLI_WORDS = {"seeds": "--seeds"}  # inputs whose flag is not the engine's name for them


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.launch", description="Queue, inspect and stop runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_submit = sub.add_parser("submit", help="queue runs (a preset, overrides, sweeps and seeds)")
    p_submit.add_argument("--preset")
    p_submit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p_submit.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...")
    p_submit.add_argument("--seeds", type=int, default=1,
                          help="N seeds per combination, from the run's seed up (--set seed=S, default 0); "
                               "or list them with --sweep seed=3,7 and leave this at 1")
    p_submit.add_argument("--experiment", default=tracking.DEFAULT_EXPERIMENT)
    p_submit.add_argument("--name", default=None, help="sweep name")
    p_status = sub.add_parser("status", help="status of runs (default: the 50 most recent)")
    p_status.add_argument("run_ids", nargs="*")
    p_stop = sub.add_parser("stop", help="stop runs (queued or running)")
    p_stop.add_argument("run_ids", nargs="+")
    p_logs = sub.add_parser("logs", help="the process output of a run")
    p_logs.add_argument("run_id")
    sub.add_parser("scheduler", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.command == "scheduler":
            scheduler_loop()
            return 0
        launcher = get_launcher()
        if args.command == "submit":
            overrides = dict(parse_assignment(s) for s in args.set)
            run_ids = launcher.submit(args.preset, overrides, parse_sweep(args.sweep), args.seeds,
                                      experiment=args.experiment, sweep_name=args.name)
            print("\n".join(run_ids))
        elif args.command == "status":
            for state in launcher.status(args.run_ids or None):
                print(state.line())
        elif args.command == "stop":
            launcher.stop(args.run_ids)
        elif args.command == "logs":
            print(launcher.logs(args.run_id), end="")
    except LaunchError as exc:
        print(f"error: {exc.worded(CLI_WORDS)}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - an unknown run id, an unreachable store or cluster
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: {type(exc).__name__}: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # Run main() of the imported engine.launch, not of this __main__ copy: a backend module (engine.ray_backend)
    # imports engine.launch, and the LaunchError it raises must be the class that main() catches.
    from engine.launch import main as _main

    sys.exit(_main())
