"""The launcher's command line: `python -m engine.launch submit | status | stop | logs`.

    python -m engine.launch submit --preset ns --set dataset=grid --seeds 5 --sweep loss=ns,hinge
    python -m engine.launch status [RUN_ID ...] | stop RUN_ID ... | logs RUN_ID | index-sweeps
"""

from __future__ import annotations

import argparse
import sys

from engine import tracking
from engine.config import ConfigError, parse_assignment
from engine.launch import get_launcher
from engine.launch.base import LaunchError
from engine.launch.interface import reindex_sweeps
from engine.launch.local import scheduler_loop
from engine.launch.sweeps import parse_sweep

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
    sub.add_parser("index-sweeps", help="list sweeps launched before this version in the dashboard's sweep picker "
                                        "(reads every run once)")
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
        elif args.command == "index-sweeps":
            print(f"{reindex_sweeps()} sweeps indexed")
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

