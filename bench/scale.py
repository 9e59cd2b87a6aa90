"""A team's store at scale: 10,000 runs, and how fast every page answers in a real browser.

    python bench/scale.py [--configs postgres,postgres-rest,sqlite] [--repeats 5] [--mlflow-repeats 3]
                          [--runs 10000] [--folder /tmp/ganboard-scale] [--screenshots DIR] [--build-only]

1. Fills (once, cached under --folder; bench/scale_store.py says what and how) a store of N runs in 200 sweeps:
   PostgreSQL behind the MLflow tracking server started as the Procfile starts it, or the embedded SQLite store.
2. For each configuration (CONFIGS: the server with the dashboard on its machine, reading its database and
   artifact folder directly as the Procfile's web process does; the server through its REST API alone; SQLite)
   starts a new dashboard server (read-only, as a viewer) and, in Chromium, times from the action until the page
   has finished (no running indicator, the expected caption, tables and charts drawn), as medians over the
   repeats. Each repeat is a new server and a browser that has visited it once (the app's and Plotly's scripts
   in its cache; `first_visit_1run`, that visit, Compare with one run of another sweep, is the baseline: its
   time is mostly the server's first imports and the browser's first fetch of the scripts); every page then
   opens in a new tab, a new Streamlit session:
   - Runs page: the first render, a filter change (status = failed), a sort change (by FID), the next page, and
     in a new tab a search filter in MLflow's syntax (params.loss = 'hinge');
   - Compare: the first render with the big sweep's 1,000 runs selected (`?sweep=`, seeds grouped: 100 groups;
     nothing of the sweep read before), a widget change (log y), a change of metric (new data);
   - Gallery: a step change with 64 runs on the page (the first 64 of the big sweep), three in a row;
   - the dashboard server's peak memory (its VmHWM) after all of that.
3. The anchor, measured in the same run on the same store: MLflow's own UI (the tracking server's; for SQLite a
   tracking server on the same file), in the same browser with its scripts cached: its experiment page (until
   the runs table shows rows) and its compare view of the same 1,000 runs (until its title counts them, its
   chart has drawn and its table is there).
Prints every repeat, then the medians, the ratios to MLflow's UI and the targets of issue 17.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import scale_store, services  # noqa: E402

PG_DSN = "host=127.0.0.1 port=5432 user=postgres"


def postgres_store(folder: Path, shape: scale_store.Shape, log_dir: Path):
    """The tracking server on the bench's PostgreSQL database (created and filled on the first call): (its
    process, its URL, the store's facts)."""
    import psycopg2

    db = scale_store.postgres_database(shape)
    artifacts = folder / f"postgres-{shape.name()}" / "artifacts"
    done = (folder / f"postgres-{shape.name()}" / "done.json").exists()
    admin = psycopg2.connect(PG_DSN + " dbname=postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
        exists = cur.fetchone() is not None
        if not (done and exists):
            cur.execute(f'DROP DATABASE IF EXISTS "{db}"')
            cur.execute(f'CREATE DATABASE "{db}"')
            (folder / f"postgres-{shape.name()}" / "done.json").unlink(missing_ok=True)
    admin.close()
    artifacts.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    server = services.start_tracking_server(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db}", artifacts, port,
                                            log_dir / "tracking-server.log")
    uri = f"http://127.0.0.1:{port}"
    info = scale_store.build_postgres(folder, shape, uri, artifacts, f"{PG_DSN} dbname={db}")
    return server, uri, info


# ------------------------------------------------------------------------------------------ the measures
def store_facts(kind: str, where: str, info: dict) -> dict:
    """What the timings wait for, read from the store itself: how many runs failed and how many trained with the
    hinge loss (the captions' counts), the big sweep's runs newest first, one finished run of another sweep."""
    if kind == "sqlite":
        import sqlite3

        con, p = sqlite3.connect(where), "?"
    else:
        import psycopg2

        con, p = psycopg2.connect(where), "%s"
    cur = con.cursor()

    def rows(query: str, *args) -> list:
        cur.execute(query.format(p=p), args)
        return cur.fetchall()

    big_sweep = ("FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid WHERE t.key = 'ganboard.sweep' AND t.value {op} "
                 "{p}")
    facts = {
        "failed": rows("SELECT COUNT(*) FROM runs WHERE status = 'FAILED' AND lifecycle_stage = 'active'")[0][0],
        "hinge": rows("SELECT COUNT(*) FROM params WHERE key = 'loss' AND value = 'hinge'")[0][0],
        "big_runs": [r for (r,) in rows(f"SELECT r.run_uuid {big_sweep.format(op='=', p='{p}')} "
                                        "ORDER BY r.start_time DESC, r.run_uuid", info["big_sweep"])],
        "other_run": rows(f"SELECT r.run_uuid {big_sweep.format(op='<>', p='{p}')} AND r.status = 'FINISHED' "
                          "ORDER BY r.run_uuid LIMIT 1", info["big_sweep"])[0][0]}
    con.close()
    return {**facts, "gallery_runs": facts["big_runs"][:64]}


# A page is done when Streamlit's script has finished (no running indicator), the page shows every one of
# `texts` and every table on it has drawn (its canvas is there).
DONE_JS = """(texts) => !document.querySelector('[data-testid="stStatusWidget"]') &&
  texts.every(t => document.body.innerText.includes(t)) &&
  [...document.querySelectorAll('[data-testid="stDataFrame"]')].every(t => t.querySelector('canvas'))"""
RUNS_DONE = "Clear selection"  # the Runs page's last row of buttons, drawn after its table and page picker
# Compare is done when, besides, every Plotly chart has drawn its traces (and the y axis is what was asked).
CHARTS_JS = """([text, yTitle, logY]) => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (!document.body.innerText.includes(text)) return false;
  const charts = document.querySelectorAll('.js-plotly-plot');
  if (!charts.length) return false;
  for (const c of charts) {
    if (!c.querySelector('.main-svg') || !c._fullData || !c._fullData.length) return false;
  }
  const y = charts[0]._fullLayout.yaxis;
  if (yTitle && !(y.title && y.title.text === yTitle)) return false;
  return !logY || y.type === 'log';
}"""
# The Gallery is done when every panel's caption names the step and every chart has drawn.
GALLERY_JS = """([needle, count]) => {
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const n = document.body.innerText.split(needle).length - 1;
  if (n < count) return false;
  for (const c of document.querySelectorAll('.js-plotly-plot')) {
    if (!c._fullData || !c._fullData.length) return false;
  }
  return true;
}"""


def measure_dashboard(uri: str, env: dict, facts: dict, info: dict, repeats: int, shots: Path | None,
                      log_dir: Path) -> dict:
    """The dashboard's pages in Chromium (see the module docstring); medians over `repeats`, and peak memory."""
    from playwright.sync_api import sync_playwright

    n_runs, big = info["runs"], info["big_sweep"]
    out: dict[str, list[float]] = {k: [] for k in ("first_visit_1run", "runs_first", "runs_filter", "runs_sort",
                                                   "runs_next_page", "runs_search",
                                                   "compare_first", "compare_log_y", "compare_metric",
                                                   "gallery_step", "peak_rss_mb")}
    gallery = ",".join(facts["gallery_runs"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=services.CHROMIUM_ARGS)

        context = None

        def fresh_page():  # a new tab: a new Streamlit session, in a browser that has the app's scripts cached
            return context.new_page()

        def wait(page, *texts, timeout_s=180):
            page.wait_for_function(DONE_JS, arg=list(texts), timeout=timeout_s * 1000, polling=25)

        for r in range(repeats):
            port = services.free_port()
            app = services.start_app(uri, port, log_dir / f"dashboard-{port}.log", env)
            base = f"http://127.0.0.1:{port}"
            context = browser.new_context(viewport={"width": 1600, "height": 1200})
            try:
                # a running server and a browser that has visited it (the app's and Plotly's scripts are in its
                # cache): the baseline, Compare with one run of another sweep, nothing of the big sweep read
                page = fresh_page()
                out["first_visit_1run"].append(services.timed(
                    lambda: page.goto(f"{base}/compare?runs={facts['other_run']}"),
                    lambda: page.wait_for_function(CHARTS_JS, arg=["Final metrics", None, False], timeout=300_000,
                                                   polling=25)))
                page.close()
                # ... Runs: first render in a new session, then a filter, an order and a page change
                page = fresh_page()
                out["runs_first"].append(services.timed(lambda: page.goto(f"{base}/runs"), lambda: wait(
                    page, f"Runs 1–50 of {n_runs:,} · by started, descending", RUNS_DONE)))
                if shots and r == 0:
                    page.screenshot(path=str(shots / "runs.png"), full_page=True)

                def pick(label, option):  # type into the select box and take the one option left
                    page.get_by_role("combobox", name=label).first.click()
                    page.keyboard.type(option)
                    page.get_by_role("option", name=option, exact=True).click()
                    page.keyboard.press("Escape")

                out["runs_filter"].append(services.timed(lambda: pick("Status", "failed"), lambda: wait(
                    page, f"of {facts['failed']:,} · by started", RUNS_DONE)))
                out["runs_sort"].append(services.timed(lambda: pick("Sort by", "fid"), lambda: wait(
                    page, f"of {facts['failed']:,} · by fid, descending", RUNS_DONE)))
                out["runs_next_page"].append(services.timed(
                    lambda: page.get_by_role("button", name="Page 2", exact=True).first.click(),
                    lambda: wait(page, f"Runs 51–100 of {facts['failed']:,}", RUNS_DONE)))
                if shots and r == 0:
                    page.screenshot(path=str(shots / "runs-failed-by-fid.png"), full_page=True)
                page.close()
                # ... and a search filter in MLflow's syntax, in a new tab (counted by probing the store's pages)
                page = fresh_page()
                page.goto(f"{base}/runs")
                wait(page, f"Runs 1–50 of {n_runs:,}", RUNS_DONE)
                box = page.get_by_role("textbox", name="Search filter")

                def search():
                    box.fill("params.loss = 'hinge'")
                    box.press("Enter")

                out["runs_search"].append(services.timed(search, lambda: wait(
                    page, f"Runs 1–50 of {facts['hinge']:,} · by started", RUNS_DONE)))
                page.close()
                # Compare: the big sweep, nothing of it cached
                page = fresh_page()
                out["compare_first"].append(services.timed(lambda: page.goto(f"{base}/compare?sweep={big}"),
                                                           lambda: page.wait_for_function(
                    CHARTS_JS, arg=["Final metrics", None, False], timeout=300_000, polling=25)))
                if shots and r == 0:
                    page.screenshot(path=str(shots / "compare.png"), full_page=True)
                out["compare_log_y"].append(services.timed(lambda: page.get_by_text("log y", exact=True).click(),
                                                           lambda: page.wait_for_function(
                    CHARTS_JS, arg=["Final metrics", None, True], timeout=120_000, polling=25)))

                def metric(name):
                    page.get_by_role("combobox", name="Metric").first.click()
                    page.keyboard.type(name)
                    page.get_by_role("option", name=name, exact=True).click()

                out["compare_metric"].append(services.timed(lambda: metric("loss/g"), lambda: page.wait_for_function(
                    CHARTS_JS, arg=["Final metrics", "loss/g", True], timeout=120_000, polling=25)))
                page.close()
                # Gallery: 64 runs on the page, a step back and forth
                page = fresh_page()
                page.goto(f"{base}/gallery?runs={gallery}")
                last = info["shape"]["long_steps"]
                page.wait_for_function(GALLERY_JS, arg=[f"step {last}", 16], timeout=300_000, polling=50)
                slider = page.get_by_role("slider").nth(1)  # "Runs a page" (the step slider comes later)
                slider.focus()
                page.keyboard.press("ArrowRight")
                page.keyboard.press("ArrowRight")  # 16 -> 32 -> 64
                page.wait_for_function(GALLERY_JS, arg=[f"— step {last}", 64], timeout=300_000, polling=50)
                step_slider = page.get_by_role("slider").nth(2)
                for k in range(1, 4):
                    step = last - k * last // 10
                    step_slider.focus()
                    out["gallery_step"].append(services.timed(
                        lambda: page.keyboard.press("ArrowLeft"),
                        lambda: page.wait_for_function(GALLERY_JS, arg=[f"— step {step}", 64], timeout=120_000,
                                                       polling=25)))
                if shots and r == 0:
                    page.screenshot(path=str(shots / "gallery-64.png"), full_page=True)
                page.close()
                out["peak_rss_mb"].append(services.peak_rss_mb(app.pid))
            finally:
                context.close()
                services.stop(app)
            print(f"  repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in out.items() if v), flush=True)
        browser.close()
    return out


# MLflow's own UI: the experiment page is done when its runs table shows rows, the compare view when its title
# counts the runs, its parallel-coordinates chart has drawn and its table of the runs is there.
MLFLOW_EXPERIMENT_JS = """() => document.querySelectorAll('.ag-row').length >= 10 &&
  document.body.innerText.includes('matching runs')"""
MLFLOW_COMPARE_JS = """(n) => {
  if (!document.body.innerText.includes(`Comparing ${n} Runs`)) return false;
  const c = document.querySelector('.js-plotly-plot');
  return !!(c && c._fullData && c._fullData.length) && document.querySelectorAll('tr').length > 10;
}"""


def measure_mlflow_ui(ui: str, experiment: str, run_ids: list[str], repeats: int, shots: Path | None) -> dict:
    """MLflow's UI on the same store: the experiment's runs page and the compare view of `run_ids`."""
    import urllib.parse

    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"mlflow_experiment": [], "mlflow_compare": []}
    compare = (f"{ui}/#/compare-runs?runs={urllib.parse.quote(json.dumps(run_ids))}"
               f"&experiments={urllib.parse.quote(json.dumps([experiment]))}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=services.CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1200})
        warm = context.new_page()  # its scripts in the browser's cache, as for the dashboard
        warm.goto(f"{ui}/#/experiments/{experiment}/runs")
        warm.wait_for_function(MLFLOW_EXPERIMENT_JS, timeout=300_000, polling=100)
        warm.close()
        for r in range(repeats):
            page = context.new_page()
            out["mlflow_experiment"].append(services.timed(
                lambda: page.goto(f"{ui}/#/experiments/{experiment}/runs"),
                lambda: page.wait_for_function(MLFLOW_EXPERIMENT_JS, timeout=300_000, polling=25)))
            if shots and r == 0:
                page.screenshot(path=str(shots / "mlflow-experiment.png"))
            page.close()
            page = context.new_page()
            out["mlflow_compare"].append(services.timed(
                lambda: page.goto(compare),
                lambda: page.wait_for_function(MLFLOW_COMPARE_JS, arg=len(run_ids), timeout=600_000, polling=100)))
            if shots and r == 0:
                page.screenshot(path=str(shots / "mlflow-compare.png"))
            page.close()
            print(f"  MLflow UI repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in out.items()), flush=True)
        browser.close()
    return out


CONFIGS = {  # what the dashboard reads: the store, and for a server whether it may read the database directly
    "postgres": "the tracking server on PostgreSQL, the dashboard on its machine (GANBOARD_READ_DATABASE_URI and "
                "GANBOARD_READ_ARTIFACTS_DIR set, as the Procfile's web process sets them)",
    "postgres-rest": "the tracking server on PostgreSQL, everything through its REST API",
    "sqlite": "the embedded SQLite store",
}


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--folder", default="/tmp/ganboard-scale", help="where the stores are built and cached")
    parser.add_argument("--runs", type=int, default=scale_store.Shape.runs)
    parser.add_argument("--sweeps", type=int, default=scale_store.Shape.sweeps)
    parser.add_argument("--big", type=int, default=scale_store.Shape.big)
    parser.add_argument("--long-steps", type=int, default=scale_store.Shape.long_steps)
    parser.add_argument("--short-steps", type=int, default=scale_store.Shape.short_steps)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mlflow-repeats", type=int, default=3, help="repeats of MLflow's UI (its compare view of "
                                                                        "1,000 runs takes about half a minute)")
    parser.add_argument("--screenshots", default=None, help="folder for screenshots of the first repeat")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"--configs: '{unknown[0]}' is not one of {', '.join(CONFIGS)}")
    shape = scale_store.Shape(args.runs, args.sweeps, args.big, args.long_steps, args.short_steps)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    shots = Path(args.screenshots) if args.screenshots else None
    results: dict[str, dict] = {}
    for kind in dict.fromkeys("sqlite" if c == "sqlite" else "postgres" for c in configs):
        t0 = time.perf_counter()
        if kind == "postgres":
            server, uri, info = postgres_store(folder, shape, folder)
            dsn = f"{PG_DSN} dbname={scale_store.postgres_database(shape)}"
            ui = uri
        else:
            uri, info = scale_store.build_sqlite(folder, shape)
            dsn = uri[len("sqlite:///"):]
            port = services.free_port()
            server = None if args.build_only else services.start_tracking_server(
                uri, Path(dsn).parent / "artifacts", port, folder / "mlflow-ui-sqlite.log")
            ui = f"http://127.0.0.1:{port}"
        print(f"{kind} store ready in {time.perf_counter() - t0:.0f} s: {info['runs']} runs, "
              f"{info['metric_rows'] / 1e6:.1f} M metric rows", flush=True)
        try:
            if args.build_only:
                continue
            facts = store_facts(kind, dsn, info)
            for config in [c for c in configs if ("sqlite" if c == "sqlite" else "postgres") == kind]:
                env = {"GANBOARD_READ_DATABASE_URI": "", "GANBOARD_READ_ARTIFACTS_DIR": ""}
                if config == "postgres":  # the dashboard on the tracking server's machine
                    env = {"GANBOARD_READ_DATABASE_URI": f"postgresql+psycopg2://postgres@127.0.0.1:5432/"
                                                         f"{scale_store.postgres_database(shape)}",
                           "GANBOARD_READ_ARTIFACTS_DIR": str(folder / f"postgres-{shape.name()}" / "artifacts")}
                print(f"{config}: {CONFIGS[config]}", flush=True)
                config_shots = shots / config if shots else None
                if config_shots:
                    config_shots.mkdir(parents=True, exist_ok=True)
                times = measure_dashboard(uri, env, facts, info, args.repeats, config_shots, folder)
                results[config] = {k: median(v) for k, v in times.items()}
            if args.mlflow_repeats:
                print(f"MLflow UI on the {kind} store", flush=True)
                times = measure_mlflow_ui(ui, info["big_experiment"], facts["big_runs"], args.mlflow_repeats,
                                          shots / kind if shots else None)
                results[f"mlflow-ui-{kind}"] = {k: median(v) for k, v in times.items()}
        finally:
            if server is not None:
                services.stop(server)
    if results:
        for config, figures in results.items():
            print(f"{config}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        ratios = {config: {"compare_first / mlflow_compare": round(r["compare_first"] / results[
            f"mlflow-ui-{'sqlite' if config == 'sqlite' else 'postgres'}"]["mlflow_compare"], 3),
                           "runs_first / mlflow_experiment": round(r["runs_first"] / results[
            f"mlflow-ui-{'sqlite' if config == 'sqlite' else 'postgres'}"]["mlflow_experiment"], 3)}
                  for config, r in results.items() if config in CONFIGS and
                  f"mlflow-ui-{'sqlite' if config == 'sqlite' else 'postgres'}" in results}
        print(json.dumps({"median_s": results, "ratios_to_mlflow_ui": ratios,
                          "targets_s": {"runs_first": 2.0, "runs_filter": 2.0, "compare_first": 5.0,
                                        "compare_log_y": 1.0, "gallery_step": 1.0, "peak_rss_mb": 2000},
                          "shape": info["shape"], "metric_rows": info["metric_rows"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
