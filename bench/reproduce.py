"""Reproduce the literature's toy-mixture tables (toy-protocol.md) through the launcher, and write docs/results.md.

    python bench/reproduce.py --protocol b --presets protocol-b,unrolled,pacgan2 --datasets ring,grid --seeds 5
    python bench/reproduce.py --protocol b --budget 0.2 ...      # a quick look: 20 % of the steps, and says so

Every run goes through `engine.launch` (local queue or Ray, as configured), so the runs execute in parallel and
appear in the dashboard as one sweep. The protocol preset gives the networks and optimiser; a preset named next to
it adds its own differences on top (e.g. `unrolled`, `pacgan2`), keeping the protocol's nets. The table holds, per
preset and data set, the mean ± standard error over seeds (SD/sqrt(n)) of the final logged values of modes captured,
high-quality %, rkl_hq, rkl_all and FID: the same numbers the Compare page shows as final metrics. rkl_hq is
undefined for a seed with no high-quality sample; such seeds are counted in the `rkl_hq n` column, not averaged.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine import tracking  # noqa: E402
from engine.launch import get_launcher, new_sweep_id  # noqa: E402
from engine.presets import PRESETS  # noqa: E402

METRICS = [("metric/modes", "modes"), ("metric/hq", "HQ %"), ("metric/rkl_hq", "rKL (HQ)"),
           ("metric/rkl_all", "rKL (all)"), ("metric/fid", "FID")]
PROTOCOL_PRESET = {"a": "protocol-a", "b": "protocol-b"}


def overrides_for(protocol: str, preset: str, dataset: str, budget: float) -> tuple[str, dict]:
    """The protocol's preset plus what `preset` changes relative to plain non-saturating training."""
    base = PROTOCOL_PRESET[protocol]
    extra = {} if preset == base else {k: v for k, v in PRESETS[preset]["set"].items()
                                       if k not in PRESETS[base]["set"] or PRESETS[base]["set"][k] != v}
    if preset not in (base, "unrolled"):
        # presets written for the default nets carry no net settings; only their trick applies
        extra = {k: v for k, v in extra.items() if not k.startswith(("g_", "d_", "z_", "lr_", "beta"))}
    steps = max(1, int(PRESETS[base]["set"]["steps"] * budget))
    extra.update({"dataset": dataset, "steps": steps, "eval_every": max(1, steps // 10)})
    return base, extra


def mean_se(values: list[float]) -> tuple[float, float, int]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    se = statistics.stdev(finite) / math.sqrt(len(finite)) if len(finite) > 1 else math.nan
    return statistics.fmean(finite), se, len(finite)


def wait(run_ids: list[str], poll_s: float = 10.0) -> None:
    launcher = get_launcher()
    while True:
        states = launcher.status(run_ids)
        active = [s for s in states if s.status in ("queued", "running")]
        done = len(states) - len(active)
        print(f"  {done}/{len(states)} done", flush=True)
        if not active:
            return
        time.sleep(poll_s)


def table(rows: list[dict]) -> str:
    head = "| preset | dataset | seeds | " + " | ".join(label for _, label in METRICS) + " | rKL (HQ) n | diverged |"
    sep = "|" + "---|" * (len(METRICS) + 5)
    lines = [head, sep]
    for row in rows:
        cells = []
        for key, _ in METRICS:
            m, se, n = row[key]
            cells.append("n/a" if n == 0 else f"{m:.3g} ± {se:.2g}" if math.isfinite(se) else f"{m:.3g}")
        lines.append(f"| {row['preset']} | {row['dataset']} | {row['seeds']} | " + " | ".join(cells)
                     + f" | {row['metric/rkl_hq'][2]}/{row['seeds']} | {row['diverged']} |")
    return "\n".join(lines)


def collect(run_ids: list[str]) -> dict[str, list]:
    runs = [tracking.get_run(r) for r in run_ids]
    return {
        "metrics": {key: [r.data.metrics.get(key, math.nan) for r in runs] for key, _ in METRICS},
        "diverged": sum(1 for r in runs if "ganboard.diverged" in r.data.tags or r.info.status == "FAILED"),
    }


def dashboard_agreement(plan: list[tuple[str, list[str]]]) -> float:
    """The largest difference between this table's numbers (mean, SE, n per metric and row) and the Compare
    page's final-metrics summary of the same runs, grouped as the page groups them by default (everything
    except the seed): the page's own calls (dashboard.data.runs_by_id, data.groups, stats.summarise_final).
    Raises when a row of the table is not exactly one group on the page."""
    import numpy as np
    import pandas as pd

    from dashboard import data, stats

    df = data.runs_by_id([r for _, ids in plan for r in ids])
    group_of = {r: g for g, members in data.groups(df).items() for r in members}
    keys = [key for key, _ in METRICS]
    runs_df = pd.DataFrame({"group": df["run_id"].map(group_of),
                            **{k: df[f"metrics.{k}"].to_numpy(dtype=np.float64) for k in keys}})
    page = stats.summarise_final(runs_df, "group", keys).set_index("group")
    worst = 0.0
    for name, ids in plan:
        shown = {group_of.get(r) for r in ids}
        if len(shown) != 1 or None in shown:
            raise RuntimeError(f"{name}: its runs are not one group on the Compare page")
        row = page.loc[shown.pop()]
        if row["runs"] != len(ids):
            raise RuntimeError(f"{name}: the Compare page groups {row['runs']} runs with it, the table {len(ids)}")
        got = collect(ids)["metrics"]
        for key in keys:
            for ours, theirs in zip(mean_se(got[key]), (row[f"{key} mean"], row[f"{key} se"], row[f"{key} n"])):
                if not (math.isnan(ours) and math.isnan(theirs)):
                    worst = max(worst, abs(ours - theirs))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=("a", "b"), required=True)
    parser.add_argument("--presets", default=None, help="comma-separated; default: the protocol's own preset")
    parser.add_argument("--datasets", default="ring,grid")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=1.0, help="fraction of the protocol's steps (0 < b <= 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for all")
    parser.add_argument("--extra-metrics", default="", metavar="KEY,KEY",
                        help="more columns, e.g. metric/label_accuracy,metric/recon_error (a variant's measures)")
    parser.add_argument("--title", default=None)
    parser.add_argument("--out", default=str(REPO / "docs" / "results.md"))
    args = parser.parse_args()
    if not 0 < args.budget <= 1:
        parser.error("--budget: must be in (0, 1]")
    METRICS.extend((key, key.split("/", 1)[1]) for key in args.extra_metrics.split(",") if key)
    presets = (args.presets or PROTOCOL_PRESET[args.protocol]).split(",")
    datasets = args.datasets.split(",")
    extra_set = dict(s.split("=", 1) for s in args.set)
    launcher = get_launcher()
    start = time.time()
    plan = []
    sweep_name = args.title or f"reproduce protocol {args.protocol} ({date.today()})"
    sweep_id = new_sweep_id()  # every preset x data set joins one sweep, so the Runs page selects them together
    for preset in presets:
        for dataset in datasets:
            base, overrides = overrides_for(args.protocol, preset, dataset, args.budget)
            overrides.update(extra_set)
            ids = launcher.submit(base, overrides, None, args.seeds, sweep_name=sweep_name, sweep_id=sweep_id)
            for seed, run_id in enumerate(ids):
                tracking.set_tags(run_id, {"ganboard.preset": preset})
                tracking.client().update_run(run_id, name=f"{preset} {dataset} s{seed}")
            plan.append((preset, dataset, ids))
            print(f"queued {preset} on {dataset}: {len(ids)} runs", flush=True)
    wait([r for *_, ids in plan for r in ids])
    wall = time.time() - start
    rows = []
    for preset, dataset, ids in plan:
        got = collect(ids)
        rows.append({"preset": preset, "dataset": dataset, "seeds": len(ids), "diverged": got["diverged"],
                     **{key: mean_se(vals) for key, vals in got["metrics"].items()}})
    text = table(rows)
    print(text)
    agree = f"{dashboard_agreement([(f'{p} {d}', ids) for p, d, ids in plan]):.2g}"
    print(f"largest difference from the Compare page's final-metrics summary: {agree}")
    steps = overrides_for(args.protocol, presets[0], datasets[0], args.budget)[1]["steps"]
    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} cores, 1 intra-op thread per run"
    device = "CUDA " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    section = [f"## {sweep_name}", "",
               f"- command: `python bench/reproduce.py {shlex.join(sys.argv[1:])}`",
               f"- date: {date.today()}; machine: {machine}, {device}; wall time {wall / 60:.1f} min",
               f"- steps per run: {steps}" + (f" (BUDGET {args.budget:g} of the protocol's "
                                              f"{PRESETS[PROTOCOL_PRESET[args.protocol]]['set']['steps']}: a quick "
                                              "look, not the protocol)" if args.budget < 1 else " (the full protocol)"),
               f"- sweep name in the dashboard: `{sweep_name}`; the Compare page's final-metrics summary of the "
               f"sweep (grouped by everything except the seed) differs from this table by at most {agree}", "",
               text, ""]
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    previous = out.read_text() if out.exists() else "# Results on the toy mixtures\n\n"
    out.write_text(previous.rstrip() + "\n\n" + "\n".join(section))
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
