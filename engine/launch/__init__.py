"""Launch runs and sweeps: one launcher interface (base.py), a local queue (local.py, the default) and a Ray
cluster backend (ray_jobs.py, GANBOARD_LAUNCHER=ray); sweeps.py turns a submit's preset, overrides, sweep and
seeds into validated configs; cli.py is `python -m engine.launch`. Every backend imports base.py, nothing imports
a backend but `get_launcher`, so there is no import cycle.
"""

from __future__ import annotations

import os

from engine.launch.base import (BACKEND_TAG, HOST_TAG, JOB_TAG, LOST_AFTER_S, MAX_NAME, MAX_SUBMIT_DEFAULT,
                                REASON_TAG, RELAUNCH_TAG, SEQ_TAG, STATUS_WORDS, STOP_TAG, SWEEP_NAME_TAG, SWEEP_TAG,
                                LaunchError, RunState)
from engine.launch.interface import Launcher
from engine.launch.local import LocalLauncher, max_parallel, pid_alive, scheduler_loop, state_dir
from engine.launch.sweeps import expand, new_sweep_id, parse_sweep, run_name, seed_lists

BACKENDS = ("local", "ray")


def get_launcher(name: str | None = None) -> Launcher:
    """The backend GANBOARD_LAUNCHER names (default local); the Ray one at RAY_ADDRESS."""
    name = name or os.environ.get("GANBOARD_LAUNCHER", "local")
    if name == "local":
        return LocalLauncher()
    if name == "ray":
        from engine.launch.ray_jobs import RayLauncher

        return RayLauncher(os.environ.get("RAY_ADDRESS", ""))
    raise LaunchError(f"GANBOARD_LAUNCHER: unknown backend '{name}', allowed: {', '.join(BACKENDS)}")


__all__ = ["BACKEND_TAG", "HOST_TAG", "JOB_TAG", "LOST_AFTER_S", "MAX_NAME", "MAX_SUBMIT_DEFAULT", "REASON_TAG",
           "RELAUNCH_TAG", "SEQ_TAG", "STATUS_WORDS", "STOP_TAG", "SWEEP_NAME_TAG", "SWEEP_TAG", "Launcher",
           "LaunchError", "LocalLauncher", "RunState", "expand", "get_launcher", "max_parallel", "new_sweep_id",
           "parse_sweep", "pid_alive", "run_name", "scheduler_loop", "seed_lists", "state_dir"]
