"""The final metrics of an experiment's runs, by preset and data set, as a markdown table for docs/results.md.

    python bench/sweep_table.py --experiment image-era-fashion-mnist --metrics metric/fid,metric/kid,metric/is
    python bench/sweep_table.py --experiment translation-ring --metrics translation/l2_xy,translation/class_kept

Reads the store MLFLOW_TRACKING_URI names. Every finished run (deleted ones are left out) of the experiments counts once; a cell is the
mean ± standard error over its seeds (SD / sqrt(n), as bench/reproduce.py and the Compare page give them) of the
run's last logged value, with the seeds counted; runs that ended otherwise (failed, stopped) are counted apart and
averaged nowhere. The last column is the median of the runs' logged training speed (perf/steps_per_s, the mean of its
logged values per run).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reproduce import mean_se  # noqa: E402

from engine import tracking  # noqa: E402


def runs_of(experiments: list[str]) -> list:
    """The experiments' runs that are not deleted."""
    ids = [e.experiment_id for name in experiments if (e := tracking.client().get_experiment_by_name(name))]
    return list(tracking.search_runs(experiment_ids=ids)) if ids else []


def mean_speed(run_id: str) -> float:
    steps_per_s = tracking.metric_histories(run_id).get("perf/steps_per_s")
    return float(np.mean(steps_per_s[2])) if steps_per_s is not None else math.nan


def cell(values: list[float]) -> str:
    m, se, n = mean_se(values)
    return "n/a" if n == 0 else f"{m:.3g} ± {se:.2g}" if math.isfinite(se) else f"{m:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", action="append", required=True)
    parser.add_argument("--metrics", required=True, help="comma-separated metric keys")
    args = parser.parse_args()
    keys = args.metrics.split(",")
    groups: dict[tuple[str, str], list] = defaultdict(list)
    others: dict[tuple[str, str], int] = defaultdict(int)
    for run in runs_of(args.experiment):
        group = (run.data.tags.get("ganboard.preset", "custom"), run.data.params.get("dataset", ""))
        if run.info.status == "FINISHED":
            groups[group].append(run)
        else:
            others[group] += 1
    print("| preset | dataset | seeds | " + " | ".join(keys) + " | not finished | steps/s |")
    print("|" + "---|" * (len(keys) + 5))
    for (preset, dataset), runs in sorted(groups.items()):
        cells = [cell([r.data.metrics.get(k, math.nan) for r in runs]) for k in keys]
        speed = statistics.median(mean_speed(r.info.run_id) for r in runs)
        print(f"| {preset} | {dataset} | {len(runs)} | " + " | ".join(cells)
              + f" | {others.get((preset, dataset), 0)} | {speed:.3g} |")


if __name__ == "__main__":
    main()
