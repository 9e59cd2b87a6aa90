"""The launcher interface: submit (create the runs queued, hand them to the backend), status, stop, logs.
Backends (local.py, ray_jobs.py) implement enqueue, _stop_started and logs."""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

from engine import tracking
from engine.config import TrainConfig
from engine.launch.base import (
    BACKEND_TAG,
    HOST_TAG,
    JOB_TAG,
    LOST_AFTER_S,
    MAX_NAME,
    REASON_TAG,
    SEQ_TAG,
    STATUS_WORDS,
    STOP_TAG,
    SWEEP_NAME_TAG,
    SWEEP_TAG,
    LaunchError,
    RunState,
    end_gone_run,
)
from engine.launch.sweeps import expand, new_sweep_id, run_name


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
        try:
            tracking.index_sweep(experiment, sweep_id, sweep_name or f"sweep {sweep_id}", len(run_ids))
        except Exception as exc:  # noqa: BLE001 - the runs are launched; only the picker's list lacks the sweep
            print(f"ganboard: sweep {sweep_id} not listed in the sweep index ({type(exc).__name__}: "
                  f"{str(exc).splitlines()[0] if str(exc) else ''}); `python -m engine.launch index-sweeps` lists "
                  f"it", file=sys.stderr)
        return run_ids

    def check_ready(self, configs: list[TrainConfig]) -> None:
        """Refuse before anything is created when this backend cannot run these configs."""

    def enqueue(self, run_ids: list[str], configs: list[TrainConfig]) -> None:
        raise NotImplementedError

    def status(self, run_ids: list[str] | None = None) -> list[RunState]:
        runs = [tracking.get_run(r) for r in run_ids] if run_ids else self.recent_runs()
        return [self.state_of(run) for run in runs]

    def recent_runs(self, limit: int = 50):
        return list(tracking.search_runs(limit=limit))

    def state_of(self, run) -> RunState:
        tags, status = run.data.tags, run.info.status
        reason = tags.get(REASON_TAG, "")
        if status == tracking.RUNNING:
            lost = self.lost_reason(run)
            if lost:
                status, reason = end_gone_run(run.info.run_id, tags, lost)
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


def reindex_sweeps() -> int:
    """Write every experiment's sweep index afresh from its runs' sweep tags, in one pass over the store; returns
    how many sweeps it lists. For stores with sweeps launched before the index existed (submit keeps it since)."""
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    for run in tracking.search_runs(order_by=["attributes.start_time ASC"]):  # a sweep is named by its first run
        sweep = run.data.tags.get(SWEEP_TAG)
        if not sweep:
            continue
        entry = entries.setdefault((run.info.experiment_id, sweep), {
            "name": run.data.tags.get(SWEEP_NAME_TAG) or f"sweep {sweep}", "runs": 0, "start": run.info.start_time})
        entry["runs"] += 1
    c = tracking.client()
    for (exp_id, sweep), entry in entries.items():
        c.set_experiment_tag(exp_id, *tracking.sweep_index_tag(sweep, **entry))
    return len(entries)
