"""The Launch page's first sweep (engine.presets.FIRST_SWEEP) through the launcher: how long it takes on this
machine and whether its variants already differ, and the table in docs/results.md.

    python bench/first_sweep.py                 # the sweep exactly as the Launch page opens on it
    python bench/first_sweep.py --seeds 5       # more seeds for a firmer table

The figure is the sweep's wall time from submit to the last run's end, with the parallelism the launcher uses
(GANBOARD_MAX_PARALLEL, default the CPU count); the baseline, measured in the same run, is one run of the same
preset alone, so the ratio says how many runs' worth of time the whole sweep costs. The table is the one
bench/reproduce.py writes (mean ± standard error over seeds of the final logged metrics), per loss.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from reproduce import collect, dashboard_agreement, mean_se, table, wait  # noqa: E402

from engine.launch import get_launcher, new_sweep_id  # noqa: E402
from engine.presets import FIRST_SWEEP  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=FIRST_SWEEP["seeds"])
    parser.add_argument("--out", default=str(REPO / "docs" / "results.md"))
    args = parser.parse_args()
    preset, (axis, values), = FIRST_SWEEP["preset"], *FIRST_SWEEP["sweep"].items()
    launcher = get_launcher()
    sweep_name = f"first sweep, {args.seeds} seeds ({date.today()})"
    sweep_id = new_sweep_id()

    start = time.time()
    alone = launcher.submit(preset, {axis: values[0]}, None, 1, sweep_name=sweep_name + ", one run alone",
                            sweep_id=sweep_id + "-alone")
    wait(alone, poll_s=2.0)
    one_run_s = time.time() - start

    start = time.time()
    plan = [(f"{preset}, {axis}={v}",
             launcher.submit(preset, {axis: v}, None, args.seeds, sweep_name=sweep_name, sweep_id=sweep_id))
            for v in values]
    wait([r for _, ids in plan for r in ids], poll_s=2.0)
    sweep_s = time.time() - start

    rows = []
    for name, ids in plan:
        got = collect(ids)
        rows.append({"preset": name, "dataset": "ring", "seeds": len(ids), "diverged": got["diverged"],
                     **{key: mean_se(vals) for key, vals in got["metrics"].items()}})
    text = table(rows)
    runs = sum(len(ids) for _, ids in plan)
    parallel = os.environ.get("GANBOARD_MAX_PARALLEL") or str(os.cpu_count())
    figure = (f"first sweep: {runs} runs in {sweep_s:.0f} s wall time ({parallel} at once) vs one run alone "
              f"{one_run_s:.0f} s: ratio {sweep_s / one_run_s:.2f}")
    print(text)
    print(figure)
    agree = f"{dashboard_agreement(plan):.2g}"
    print(f"largest difference from the Compare page's final-metrics summary: {agree}")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, 1 intra-op thread per run"
    section = [f"## {sweep_name}", "",
               f"- command: `{shlex.join(['python', 'bench/first_sweep.py', *sys.argv[1:]])}`",
               f"- date: {date.today()}; machine: {machine}; {figure}",
               f"- the Launch page's first sweep: preset `{preset}`, {axis} over {', '.join(values)}; the Compare "
               f"page's final-metrics summary differs from this table by at most {agree}", "", text, ""]
    out = Path(args.out)
    out.write_text(out.read_text().rstrip() + "\n\n" + "\n".join(section))
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
