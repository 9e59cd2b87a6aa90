"""Total training throughput of 2 runs at once against 1 run alone (the local launcher's parallelism).

    python bench/parallel_runs.py [--steps 3000] [--repeats 3] [--parallel 2]

Each run is the engine on the reference config of bench/engine_throughput.py (with its default logging, snapshots
and metrics into a throw-away SQLite store, one intra-op thread), in its own process, exactly as the launcher
starts them. Prints the medians and the ratio (target: 2 runs at once >= 1.7x the steps/s of one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = [sys.executable, str(REPO / "bench" / "engine_throughput.py"), "--child", "engine"]


def together(n: int, steps: int) -> float:
    """Sum of the steps/s of n engine processes started at the same time."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(CHILD + ["--steps", str(steps)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    rates = [json.loads(p.communicate()[0].strip().splitlines()[-1])["value"] for p in procs]
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    single, multi = [], []
    for _ in range(args.repeats):
        single.append(together(1, args.steps))
        multi.append(together(args.parallel, args.steps))
    s, m = statistics.median(single), statistics.median(multi)
    print(f"1 run            : {s:8.1f} steps/s (median of {args.repeats})")
    print(f"{args.parallel} runs at once  : {m:8.1f} steps/s in total (median of {args.repeats})")
    print(f"ratio            : {m / s:.2f}x  (target >= 1.7x for 2 runs on 2 cores; cores here: {os.cpu_count()})")


if __name__ == "__main__":
    main()
