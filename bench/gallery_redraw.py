"""Gallery redraw time for a new slider position with 16 runs selected, against the uncached first load.

Builds 16 short real runs with the engine (ring / grid, four losses, 40 steps, a snapshot every 10 steps with the
default 2,500 samples and 64 x 64 D grid) in a temp store, then times what the gallery's scrubber fragment does
when the slider moves (dashboard/views/gallery.py, `scrubber`): per run the snapshot lookup with the
nearest-earlier fallback, the D(x) underlay, the panel figure with the p_data contours, and the loss chart with
its cursor; every figure serialised the way st.plotly_chart does (to_dict + plotly.io.to_json).

    python bench/gallery_redraw.py [--runs 16] [--repeats 5] [--store DIR]

- baseline: the uncached first load of a position (every Streamlit cache cleared first, so the listings and
  snapshots come from the store through the MLflow client);
- cached: the same position drawn again right after, its snapshots now cached; no figure is cached, so this
  is what any new slider position costs once its snapshots are (also with D* / |D - D*| beside and the
  grad-D arrows on). Baseline and cached alternate, so both see the same load on a shared machine, and the
  ratio is taken pair by pair; medians over positions x repeats;
- page: slider moves through AppTest with every snapshot cached; AppTest reruns the whole page script (the
  run list, the selection, every run's snapshot list), more than the fragment a browser reruns: an upper bound.

`--store DIR` reuses (or fills once) a store there, so repeated runs skip the training.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
VARIANTS = [("ns", "ring"), ("wgan-gp", "ring"), ("hinge", "grid"), ("lsgan", "grid")]
RUN = {"steps": 40, "eval_every": 10, "batch_size": 64, "log_every": 5}


def build_store(n_runs: int) -> list[str]:
    from engine import tracking
    from engine.config import build_config
    from engine.train import train

    ids = []
    for i in range(n_runs):
        preset, dataset = VARIANTS[i % len(VARIANTS)]
        cfg = build_config(preset, {**RUN, "dataset": dataset, "seed": i})
        run_id = tracking.create_run(cfg.to_dict(), run_name=f"bench-{preset}-{dataset}-{i}",
                                     tags={"ganboard.preset": preset})
        logger = tracking.RunLogger(run_id)
        result = train(cfg, logger)
        logger.close(result.status)
        ids.append(run_id)
        print(f"  run {i + 1}/{n_runs}: {preset} on {dataset} {result.status.lower()}", flush=True)
    return ids


def redraw(run_ids: list[str], step: int, *, beside: bool = False, arrows: bool = False) -> int:
    """One slider position, as the scrubber draws it; returns the bytes of plotly JSON sent."""
    import plotly.io as pio

    from dashboard import data, figures

    df = data.runs_by_id(run_ids)
    sent = 0

    def send(fig) -> None:
        nonlocal sent
        sent += len(pio.to_json(fig.to_dict(), validate=False))

    curves = data.curves(run_ids, "loss/d", points=200)
    send(figures.cursor_curves_figure([{"name": r, "x": c.step, "y": c.mean} for r, c in curves.items()], step))
    for row in df.to_dict("records"):
        m = data.mixture(row["dataset"])
        frame = data.gallery_frame(row["run_id"], step, with_field=True, live=row["active"])
        f = frame.field
        prob = f["d_is_prob"]
        heat = {"xs": f["xs"], "ys": f["ys"], "z": f["d"], "title": "D", "zmin": 0.0 if prob else None,
                "zmax": 1.0 if prob else None}
        quiver = None
        if arrows:
            pts = frame.x[:150]
            quiver = (pts, data.field_gradient(f["xs"], f["ys"], f["d"], pts))
        common = dict(means=m.means, sigma=m.sigma, bounds=m.bounds(), height=280)
        send(figures.gallery_panel_figure(frame.x, field=heat, contours=data.density_contours(row["dataset"]),
                                          arrows=quiver, colorbar=False, **common))
        if beside and f["d_star"] is not None:
            send(figures.gallery_panel_figure(None, field={**heat, "z": f["d_star"]}, colorbar=False, **common))
            if prob:
                send(figures.gallery_panel_figure(None, field={**heat, "z": abs(f["d"] - f["d_star"])},
                                                  colorbar=False, **common))
    return sent


def quiet() -> None:
    """Streamlit warns on every cache call outside a server ("No runtime found"); keep the output readable."""
    for name in [n for n in logging.root.manager.loggerDict if n.startswith(("streamlit", "mlflow", "alembic"))]:
        logging.getLogger(name).setLevel(logging.ERROR)


def timed(fn, *args, **kwargs) -> float:
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


def page_rerun(run_ids: list[str], steps: list[int], repeats: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    from dashboard import data

    quiet()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=300)
    at.session_state[data.SELECTION_KEY] = run_ids
    at.run()
    at.switch_page("views/gallery.py")
    at.run()
    times = []
    for _ in range(repeats):
        for s in steps:
            at.select_slider(key="keep.gallery.step").set_value(s)
            times.append(timed(at.run))
            assert not at.exception, at.exception
            assert len(at.get("plotly_chart")) == len(run_ids) + 1  # every panel and the loss chart
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--store", help="folder of a store to fill once and reuse")
    args = ap.parse_args()
    folder = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="ganboard-gallery-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    import streamlit as st

    from dashboard import data

    quiet()

    existing = data.runs()
    run_ids = existing["run_id"].tolist()[: args.runs] if len(existing) >= args.runs else []
    if not run_ids:
        print(f"training {args.runs} runs into {folder} ...", flush=True)
        t = time.perf_counter()
        run_ids = build_store(args.runs)
        print(f"  {time.perf_counter() - t:.0f} s", flush=True)
    steps = data.snapshot_steps(run_ids[0])
    print(f"{len(run_ids)} runs, snapshot steps {steps}, store {folder}")

    # Interleaved, so that both sides of each ratio see the same machine load: per position, clear every
    # cache and draw it (the baseline), then draw it again with its snapshots cached (nothing of the figures is
    # cached, so this costs what any new position costs once its snapshots are in the cache).
    cold, warm, full, ratios = [], [], [], []
    for _ in range(args.repeats):
        for s in steps:
            st.cache_data.clear()
            cold.append(timed(redraw, run_ids, s))
            warm.append(timed(redraw, run_ids, s))
            full.append(timed(redraw, run_ids, s, beside=True, arrows=True))
            ratios.append(cold[-1] / warm[-1])
    size = redraw(run_ids, steps[-1])
    for s in steps:  # every position's snapshots cached, as above
        redraw(run_ids, s, beside=True)
    page = page_rerun(run_ids, steps, max(1, args.repeats // 2))

    med = statistics.median
    print(f"\nnew slider position, {len(run_ids)} runs ({size / 1e6:.1f} MB of figure JSON):")
    print(f"  baseline, uncached first load       median {med(cold) * 1000:7.0f} ms   (n={len(cold)})")
    print(f"  snapshots cached                    median {med(warm) * 1000:7.0f} ms   (n={len(warm)}, "
          f"max {max(warm) * 1000:.0f} ms)   ratio baseline / cached: median {med(ratios):.1f}x")
    print(f"  cached, D* / |D-D*| beside + arrows median {med(full) * 1000:7.0f} ms   (n={len(full)})")
    print(f"  whole page through AppTest          median {med(page) * 1000:7.0f} ms   (n={len(page)})")
    print(f"  under 1 s once cached: {'yes' if med(warm) < 1.0 else 'NO'}")


if __name__ == "__main__":
    main()
