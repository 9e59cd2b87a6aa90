"""Search the catalog for the best recipe on grid-25 (issue: reproduce and find the best recipe), through the launcher.

    python bench/search_grid.py --seeds 1                      # stage 1: screen every candidate on one seed
    python bench/search_grid.py --only ns-r1-ema,pack2-ema --seeds 5 --seed-offset 0   # stage 2: the best, 5 seeds
    python bench/search_grid.py --collect SWEEP_ID             # the table of an earlier sweep's finished runs

The candidates are data (CANDIDATES below): each is a set of config overrides on top of the engine's default
nets (3 x 128 ReLU MLPs, z 16, batch 512, Adam), combining a loss, a penalty and the tricks of the catalog. Every
run trains `--steps` (default 20,000, the target's budget) on grid-25 and goes through the launcher, so runs go in
parallel (GANBOARD_MAX_PARALLEL, or Ray) and appear in the dashboard as one sweep. The table (mean ± standard
error over seeds of the final logged metrics, as in bench/reproduce.py, plus the target check) is printed and
appended to docs/results.md with the command, date, machine and wall time.

The target (toy-protocol.md's grid-25): all 25 modes in every seed, high-quality >= 95 % and rkl_hq <= 0.02
(the means over seeds), within 20,000 steps.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from reproduce import collect, dashboard_agreement, mean_se, table, wait  # noqa: E402

from engine import tracking  # noqa: E402
from engine.launch import get_launcher, new_sweep_id  # noqa: E402

EMA = {"ema": 0.999}
R1 = {"penalty": "r1", "penalty_weight": 1.0}
PACK2_R1_EMA = {"loss": "ns", "pack": 2, **R1, **EMA}


def lrs(lr: float) -> dict[str, float]:
    return {"lr_g": lr, "lr_d": lr}


# name: (overrides on the default nets, why it is a candidate)
CANDIDATES: dict[str, tuple[dict, str]] = {
    "ns": ({"loss": "ns"}, "the baseline: non-saturating GAN"),
    "ns-ema": ({"loss": "ns", **EMA}, "EMA of G's weights averages out G's oscillation around the modes"),
    "pack2-ema": ({"loss": "ns", "pack": 2, **EMA}, "PacGAN's packing against collapse, with EMA for sharpness"),
    "pack4-ema": ({"loss": "ns", "pack": 4, **EMA}, "more packing: PacGAN4 had the best grid-25 table"),
    "ns-r1-ema": ({"loss": "ns", **R1, **EMA},
                  "R1 makes the game converge locally (Mescheder et al. 2018) instead of circling"),
    "pack2-r1-ema": (PACK2_R1_EMA, "packing for coverage, R1 for convergence, EMA for sharpness"),
    "sngan-ema": ({"loss": "hinge", "spectral_norm": True, **lrs(2e-4), **EMA},
                  "spectral norm + hinge, SNGAN's settings"),
    "lsgan-ema": ({"loss": "lsgan", **EMA}, "least squares: gradients that do not vanish far from the modes"),
    "ttur-pack2-ema": ({"loss": "ns", "pack": 2, "lr_g": 1e-4, "lr_d": 4e-4, **EMA},
                       "two time-scales (D 4x faster) with packing"),
    # stage 1 found every mode with R1 + packing but blurred modes (HQ ~10 %): faster learning to sharpen them
    "pack2-r1-ema-lr5": ({**PACK2_R1_EMA, **lrs(5e-4)}, "pack2-r1-ema at 5x the learning rates"),
    "pack2-r1-ema-lr10": ({**PACK2_R1_EMA, **lrs(1e-3)}, "pack2-r1-ema at 10x the learning rates"),
    "pack4-r1-ema-lr5": ({**PACK2_R1_EMA, "pack": 4, **lrs(5e-4)}, "more packing, 5x the learning rates"),
    "pack2-r1-ema-lr5-wide": ({**PACK2_R1_EMA, **lrs(5e-4), "g_width": 256, "d_width": 256},
                              "pack2-r1-ema-lr5 with nets twice as wide, for sharper modes"),
    "pack2-r1-ema-ttur": ({**PACK2_R1_EMA, "lr_g": 1e-4, "lr_d": 4e-4},
                          "a faster D sharpened ttur-pack2-ema's modes; R1 to keep them all"),
    "lsgan-pack2-r1-ema": ({**PACK2_R1_EMA, "loss": "lsgan"},
                           "least squares gave the sharpest modes of stage 1; packing and R1 for coverage"),
    # stage 1b: 5x the learning rates gave HQ 88 %, 10x 94 %, all 25 modes: push on
    "pack2-r1-ema-lr20": ({**PACK2_R1_EMA, **lrs(2e-3)}, "pack2-r1-ema at 20x the learning rates"),
    "pack2-r1w03-ema-lr10": ({**PACK2_R1_EMA, "penalty_weight": 0.3, **lrs(1e-3)},
                             "a lighter R1, so D can resolve the modes' 0.05 width"),
    "pack2-r1-ema9995-lr10": ({**PACK2_R1_EMA, **lrs(1e-3), "ema": 0.9995}, "a longer EMA window over the faster G"),
}
TARGET = {"modes": 25, "hq": 95.0, "rkl_hq": 0.02}


def verdict(values: dict[str, list[float]]) -> str:
    """Whether the candidate meets the target: every seed all 25 modes, mean HQ >= 95 %, mean rkl_hq <= 0.02."""
    modes, hq, rkl = values["metric/modes"], values["metric/hq"], values["metric/rkl_hq"]
    ok = (all(m == TARGET["modes"] for m in modes) and mean_se(hq)[0] >= TARGET["hq"]
          and math.isfinite(mean_se(rkl)[0]) and mean_se(rkl)[0] <= TARGET["rkl_hq"] and
          all(math.isfinite(v) for v in rkl))
    return "yes" if ok else "no"


def rank_key(row: dict) -> tuple:
    """Better first: more modes, then higher HQ %, then lower rkl_hq (an undefined rkl_hq ranks last)."""
    rkl = row["metric/rkl_hq"][0]
    return (-row["metric/modes"][0], -row["metric/hq"][0], rkl if math.isfinite(rkl) else math.inf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated candidate names; default: all")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seed-offset", type=int, default=0, help="first seed (stage 2 may reuse stage 1's)")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--title", default=None)
    parser.add_argument("--out", default=str(REPO / "docs" / "results.md"))
    parser.add_argument("--list", action="store_true", help="print the candidates and exit")
    parser.add_argument("--collect", default=None, metavar="SWEEP_ID",
                        help="no training: the table of the finished runs of an earlier search sweep")
    args = parser.parse_args()
    if args.list:
        for name, (overrides, why) in CANDIDATES.items():
            print(f"{name:<16} {overrides}  ({why})")
        return
    if args.collect:
        return report(args, finished_runs_of(args.collect), wall=None)
    names = args.only.split(",") if args.only else list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"--only: unknown candidate(s) {', '.join(unknown)}; allowed: {', '.join(CANDIDATES)}")
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    launcher = get_launcher()
    sweep_name = args.title or f"grid-25 recipe search, {len(seeds)} seed(s) ({date.today()})"
    sweep_id = new_sweep_id()
    start = time.time()
    plan = []
    for name in names:
        overrides = {**CANDIDATES[name][0], "dataset": "grid", "steps": args.steps,
                     "eval_every": max(1, args.steps // 10)}
        ids = launcher.submit(None, overrides, None, seeds, sweep_name=sweep_name, sweep_id=sweep_id)
        for seed, run_id in zip(seeds, ids):  # the launcher names runs by loss; the table names candidates
            tracking.client().update_run(run_id, name=f"{name} s{seed}")
            tracking.set_tags(run_id, {"ganboard.candidate": name})
        plan.append((name, ids))
        print(f"queued {name}: {len(ids)} runs", flush=True)
    wait([r for _, ids in plan for r in ids], poll_s=30.0)
    report(args, plan, wall=time.time() - start)


def finished_runs_of(sweep_id: str) -> list[tuple[str, list[str]]]:
    """(candidate, finished run ids) of a search sweep, in CANDIDATES order; stopped runs are left out."""
    found: dict[str, list[str]] = {}
    for run in tracking.search_runs(f"tags.`ganboard.sweep` = '{sweep_id}' and attributes.status = 'FINISHED'"):
        found.setdefault(run.data.tags.get("ganboard.candidate", "?"), []).append(run.info.run_id)
    return [(n, found[n]) for n in [*CANDIDATES, *sorted(set(found) - set(CANDIDATES))] if n in found]


def report(args: argparse.Namespace, plan: list[tuple[str, list[str]]], wall: float | None) -> None:
    """Print the ranked table of `plan` and append it, with how it was made, to --out."""
    names = [n for n, _ in plan]
    seeds = sorted({int(tracking.get_run(r).data.params["seed"]) for _, ids in plan for r in ids})
    sweep_name = args.title or tracking.get_run(plan[0][1][0]).data.tags.get("ganboard.sweep_name", "search")
    rows = []
    for name, ids in plan:
        got = collect(ids)
        rows.append({"preset": name, "dataset": "grid", "seeds": len(ids), "diverged": got["diverged"],
                     "target": verdict(got["metrics"]),
                     **{key: mean_se(vals) for key, vals in got["metrics"].items()}})
    rows.sort(key=rank_key)
    text = table(rows)
    lines = text.splitlines()
    # the target column, appended to the shared table's rows
    lines[0] += " target met |"
    lines[1] += "---|"
    lines[2:] = [f"{line} {row['target']} |" for line, row in zip(lines[2:], rows)]
    text = "\n".join(lines)
    print(text)
    agree = f"{dashboard_agreement(plan):.2g}"
    print(f"largest difference from the Compare page's final-metrics summary: {agree}")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, 1 intra-op thread per run, CPU only"
    legend = "\n".join(f"- `{n}`: `{CANDIDATES[n][0]}` ({CANDIDATES[n][1]})" for n in names if n in CANDIDATES)
    section = [f"## {sweep_name}", "",
               f"- command: `python bench/search_grid.py {shlex.join(sys.argv[1:])}`",
               f"- date: {date.today()}; machine: {machine}"
               + (f"; wall time {wall / 60:.1f} min" if wall is not None else " (table collected afterwards)"),
               f"- steps per run: {args.steps}; seeds {seeds[0]}..{seeds[-1]}; default nets (3 x 128 ReLU, z 16, "
               "batch 512, Adam 1e-4) plus each candidate's overrides; ranked by modes, then HQ %, then rKL (HQ)",
               f"- target: all {TARGET['modes']} modes in every seed, HQ >= {TARGET['hq']:g} %, rKL (HQ) <= "
               f"{TARGET['rkl_hq']:g}", f"- sweep name in the dashboard: `{sweep_name}`; the Compare page's final-metrics "
               f"summary of these runs (grouped by everything except the seed) differs from this table by at most "
               f"{agree}", "", legend, "", text, ""]
    out = Path(args.out)
    previous = out.read_text() if out.exists() else "# Results on the toy mixtures\n\n"
    out.write_text(previous.rstrip() + "\n\n" + "\n".join(section))
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
