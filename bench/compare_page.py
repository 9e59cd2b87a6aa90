"""How fast the Compare page is with 100 finished runs of 10,000 steps x 8 metrics each, in a real browser.

    python bench/compare_page.py [--repeats 5] [--store /tmp/ganboard-bench/v1]

1. Builds (once, cached under --store) an embedded MLflow store of 100 finished runs: 5 presets x 2 data sets x
   10 seeds, every run with its full config as params, the usual tags, and 8 metrics (loss/d, loss/g, d/real,
   d/fake, grad/d, grad/g, metric/modes, metric/fid) logged at every one of its 10,000 steps: 8 million metric
   rows. Runs and params go through MLflow's client (engine.tracking.create_run, as the launcher makes them);
   the metric rows are bulk-inserted into MLflow's `metrics` / `latest_metrics` tables in one transaction,
   which is what log_batch would write, minus a few hours.
   Then, as the engine's RunLogger does when a run ends, it logs each run's curve summaries
   (tracking.log_curve_summaries, from exactly the rows inserted).
2. Per repeat: starts `streamlit run dashboard/app.py` on a free port against that store, opens the Runs page
   (which imports the libraries and warms the run list, as a user arriving there would), then times, from the
   action to "complete" (the script has finished: no running indicator; every Plotly chart has drawn its
   traces; the final-metrics table is there):
   - baselines measured in the same run: `empty`, a load of the Compare page with nothing selected (Streamlit's
     own floor for a page load), and `first_1run`, the Compare page with one run;
   - `first`: the first render, a load of the Compare page with the whole 100-run sweep (`?sweep=<id>`) in a
     new session, cold curve caches;
   - re-renders in the same session: `toggle`, flipping log-y (done when the redrawn chart has a log axis), and
     `return`, coming back to Compare from the Runs page through the sidebar;
   - `reload`: a browser reload of the page (a new session on warm caches, paying the page load again).
   Prints each timing, the medians over the repeats and the ratios to the baselines; the targets are 3 s for
   the first render and 1 s for a re-render.

Uses the Debian chromium (/usr/bin/chromium) through Playwright; no network.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.services import CHROMIUM_ARGS, free_port, start_app, stop, timed  # noqa: E402
from bench.synthetic import METRICS, synthetic_curves  # noqa: E402

PRESETS = ("ns", "vanilla", "hinge", "lsgan", "wgan-gp")
DATASETS = ("ring", "grid")
SEEDS = 10
STEPS = 10_000
SWEEP_ID = "bench100"
STORE_VERSION = "v3"  # v3: finished runs carry their curve summaries, as the engine logs them


# ------------------------------------------------------------------------------------------- the store
def build_store(folder: Path) -> str:
    """The bench store under `folder` (built once; a `done` marker says it is complete); returns its URI."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "mlflow.db"
    uri = f"sqlite:///{db}"
    if (folder / "done").exists():
        return uri
    db.unlink(missing_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from engine import tracking
    from engine.config import build_config
    from engine.data import get_dataset

    t0 = time.perf_counter()
    runs = []
    for preset in PRESETS:
        for dataset in DATASETS:
            for seed in range(SEEDS):
                cfg = build_config(preset, {"dataset": dataset, "seed": seed, "steps": STEPS, "log_every": 1})
                tags = {"ganboard.preset": preset, "ganboard.sweep": SWEEP_ID, "ganboard.sweep_name": "bench 100",
                        "ganboard.step": str(STEPS), "ganboard.health": "healthy"}
                run_id = tracking.create_run(cfg.to_dict(), experiment="bench", tags=tags,
                                             run_name=f"{preset} dataset={dataset} s{seed}")
                runs.append((run_id, dataset))
    print(f"created {len(runs)} runs in {time.perf_counter() - t0:.0f} s", flush=True)

    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    steps = np.arange(1, STEPS + 1)
    t_start = int(time.time() * 1000) - 3_600_000
    histories = {}
    with con:
        for i, (run_id, dataset) in enumerate(runs):
            rng = np.random.default_rng(i)
            mixture = get_dataset(dataset)
            curves = synthetic_curves(rng, mixture.n_modes if mixture.has_modes else 0, steps)
            stamps = t_start + steps * 20 + rng.integers(0, 5, steps.size)
            histories[run_id] = {k: (steps, stamps, curves[k]) for k in METRICS}
            # Step-major, as the training loop's log_batch calls write them: all metrics of a step together.
            keys = np.tile(np.array(METRICS, dtype=object), STEPS)
            values = np.stack([curves[k] for k in METRICS], axis=1).ravel()
            rows = zip(keys.tolist(), values.tolist(), np.repeat(stamps, len(METRICS)).tolist(),
                       [run_id] * values.size, np.repeat(steps, len(METRICS)).tolist(), [0] * values.size)
            con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                            "VALUES (?, ?, ?, ?, ?, ?)", rows)
            con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                            "VALUES (?, ?, ?, ?, 0, ?)",
                            [(k, float(curves[k][-1]), int(stamps[-1]), STEPS, run_id) for k in METRICS])
            con.execute("UPDATE runs SET status = 'FINISHED', start_time = ?, end_time = ? WHERE run_uuid = ?",
                        (t_start, int(stamps[-1]), run_id))
    con.execute("ANALYZE")
    con.close()
    # What the engine's RunLogger does when a run ends: one summary per metric, from exactly these rows.
    t1 = time.perf_counter()
    for i, (run_id, dataset) in enumerate(runs):
        tracking.log_curve_summaries(run_id, histories[run_id])
    print(f"logged curve summaries in {time.perf_counter() - t1:.0f} s", flush=True)
    (folder / "done").write_text(json.dumps({"runs": len(runs), "rows": len(runs) * STEPS * len(METRICS)}))
    print(f"built {db} ({db.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f} s", flush=True)
    return uri


# ------------------------------------------------------------------------------------------ the browser
# A page is complete when Streamlit's script has finished (the status widget shows no running state) and
# every Plotly chart on it has drawn (its SVG layer holds trace groups).
COMPLETE_JS = """([want, logY]) => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const charts = document.querySelectorAll('.js-plotly-plot');
  if (charts.length < want) return false;
  for (const c of charts) {
    if (!c.querySelector('.main-svg') || !c._fullData || !c._fullData.length) return false;
  }
  if (logY && charts[0]._fullLayout.yaxis.type !== 'log') return false;
  return document.body.innerText.includes('Final metrics');
}"""


def wait_complete(page, want_charts: int, log_y: bool = False, timeout_s: float = 120.0) -> None:
    page.wait_for_function(COMPLETE_JS, arg=[want_charts, log_y], timeout=timeout_s * 1000, polling=25)


IDLE_JS = """(text) => !document.querySelector('[data-testid="stStatusWidget"]') &&
  document.body.innerText.includes(text)"""


def one_run_id(uri: str) -> str:
    con = sqlite3.connect(uri[len("sqlite:///"):])
    try:
        return con.execute("SELECT run_uuid FROM tags WHERE key = 'ganboard.sweep' AND value = ? LIMIT 1",
                           (SWEEP_ID,)).fetchone()[0]
    finally:
        con.close()


def measure(uri: str, repeats: int, shots: Path | None) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    single = one_run_id(uri)
    out: dict[str, list[float]] = {k: [] for k in ("first", "toggle", "return", "reload", "first_new_browser",
                                                   "empty", "first_1run", "empty_new_browser")}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        def fresh_page():  # a new browser context: its own empty HTTP cache, as on a first visit
            return browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()

        def idle(page, text):
            page.wait_for_function(IDLE_JS, arg=text, timeout=60_000, polling=25)

        def serve():
            """A new server process (cold caches), warmed as by an earlier visitor of the Runs page."""
            port = free_port()
            proc = start_app(uri, port, Path("/tmp") / f"ganboard-bench-streamlit-{port}.log")
            base = f"http://127.0.0.1:{port}"
            page = fresh_page()
            page.goto(f"{base}/runs")
            page.get_by_text("Runs 1–").first.wait_for(timeout=60_000)
            return proc, base, page

        for r in range(repeats):
            # A user on the Runs page of a running server (the browser has the app's scripts cached) ...
            proc, base, page = serve()
            try:
                # ... baselines in the same browser: Streamlit's own floor (a page load with nothing to draw)
                # and the Compare page with one run;
                out["empty"].append(timed(lambda: page.goto(f"{base}/compare"),
                                          lambda: idle(page, "No runs selected")))
                out["first_1run"].append(timed(lambda: page.goto(f"{base}/compare?runs={single}"),
                                               lambda: wait_complete(page, 1)))
                # the first render of the 100-run sweep (new session, cold curve caches);
                out["first"].append(timed(lambda: page.goto(f"{base}/compare?sweep={SWEEP_ID}"),
                                          lambda: wait_complete(page, 1)))
                if shots is not None and r == 0:
                    page.screenshot(path=str(shots / "compare-first.png"), full_page=True)
                # re-renders in the session: a widget (done when the redrawn chart has a log axis) ...
                out["toggle"].append(timed(lambda: page.get_by_text("log y", exact=True).click(),
                                           lambda: wait_complete(page, 1, log_y=True)))
                # ... and coming back to the page from another one, as a user does;
                page.get_by_role("link", name="Runs").first.click()
                page.get_by_text("Runs 1–").first.wait_for(timeout=60_000)
                out["return"].append(timed(lambda: page.get_by_role("link", name="Compare").first.click(),
                                           lambda: wait_complete(page, 1, log_y=True)))
                # a browser reload: a new session on warm caches, paying Streamlit's page load again.
                out["reload"].append(timed(page.reload, lambda: wait_complete(page, 1)))  # new session: linear y
            finally:
                stop(proc)
            # A first visit from a new browser (nothing cached) to a new server: the worst first render, and its
            # baseline, a first visit to a page with nothing to draw.
            proc, base, warm = serve()
            try:
                warm.context.close()
                page = fresh_page()
                out["empty_new_browser"].append(timed(lambda: page.goto(f"{base}/compare"),
                                                      lambda: idle(page, "No runs selected")))
                page.context.close()
                page = fresh_page()
                out["first_new_browser"].append(timed(lambda: page.goto(f"{base}/compare?sweep={SWEEP_ID}"),
                                                      lambda: wait_complete(page, 1)))
                page.context.close()
            finally:
                stop(proc)
            print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in out.items()), flush=True)
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=f"/tmp/ganboard-bench/{STORE_VERSION}", help="where the store is cached")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--screenshots", default=None, help="folder for a screenshot of the first render")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args(argv)
    uri = build_store(Path(args.store))
    if args.build_only:
        return 0
    shots = Path(args.screenshots) if args.screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    res = measure(uri, args.repeats, shots)
    med = {k: round(statistics.median(v), 3) for k, v in res.items()}
    ratios = {"first / first_1run": round(med["first"] / med["first_1run"], 2),
              "first_new_browser / empty_new_browser": round(med["first_new_browser"] / med["empty_new_browser"], 2),
              "reload / empty": round(med["reload"] / med["empty"], 2)}
    print(json.dumps({"median_s": med, "ratios": ratios,
                      "targets_s": {"first": 3.0, "toggle": 1.0, "return": 1.0},
                      "runs": len(PRESETS) * len(DATASETS) * SEEDS, "steps": STEPS, "metrics": len(METRICS)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
