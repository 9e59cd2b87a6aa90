"""A team's store for bench/scale.py: N runs in S sweeps that look like launched ones, written in bulk.

    python bench/scale_store.py --kind sqlite|postgres [--runs 10000] [--folder /tmp/ganboard-scale]

What every run gets, as the launcher and the engine write it: its full config as params (build_config of a
preset with the sweep's overrides), the launcher's and the engine's tags (preset, sweep, backend, host, health,
step, curves, ...), a status (the big sweep's runs finished; elsewhere 90 % finished, 6 % failed, 4 % killed), the
8 metrics of bench/synthetic.py at every logged step with their latest values, and artifacts: config.json, sample
and D-field snapshots at every evaluation (the arrays a points run logs: 2,500 samples, D and D* on a 64 x 64
grid; one set per data set and step, hard-linked into each run so the disk holds 10,000 runs), a process log, and
the curve summaries the engine logs when a run ends (curves/<key>.npz, computed here from the run's own rows with
engine.curves, as tracking.log_curve_summaries does). Each sweep is in its experiment's sweep index (the
experiment tags the launcher writes, engine.tracking.sweep_index_tag). No checkpoints.

Layout: one big sweep of `big` runs (100 configs x 10 seeds: 5 presets x 5 learning rates x 2 data sets x 2 batch
sizes) that log `long_steps` steps each (the Compare bench opens it); the other runs in S - 1 sweeps of about 45
(9 learning rates x 5 seeds of one preset on one data set) that log `short_steps` steps each, over 5 experiments,
started over the last 90 days.

How it is written (MLflow's client would take hours for 10^8 metric rows): experiments through MLflow's client
(so the store, or the tracking server, chooses their artifact locations), every other row straight into MLflow's
tables in bulk, i.e. the store's own bulk path: PostgreSQL's COPY (with the metrics table's primary key and
indexes dropped during the load and rebuilt after it, exactly as they were), SQLite's executemany in one
transaction; artifact files written into the artifact root the store or server reads from. At the default shape
each store takes about 9 minutes on a 2-core machine and about 25 GB (PostgreSQL's database, or the SQLite file).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.synthetic import METRICS, synthetic_curves  # noqa: E402
from engine import curves as curves_lib  # noqa: E402
from engine import tracking  # noqa: E402

DAY_MS = 86_400_000
BIG_PRESETS = ("ns", "vanilla", "hinge", "lsgan", "wgan-gp")
BIG_LRS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3)
SMALL_PRESETS = ("ns", "hinge", "lsgan", "wgan-gp", "r1", "dragan", "sngan", "pacgan2", "unrolled", "featmatch")
SMALL_LRS = (5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 7e-4, 1e-3, 2e-3, 5e-3)
HEALTH = ("healthy", "healthy", "healthy", "mode_collapse", "d_overpowers", "blurry", "oscillating")
EXPERIMENTS = ("toy-losses", "penalties", "tricks", "architectures", "seeds-study")
EVALUATIONS = 10  # snapshots after step 0 per run


@dataclass(frozen=True)
class Shape:
    """How big the store is; its fields name the cached build."""

    runs: int = 10_000
    sweeps: int = 200
    big: int = 1_000  # runs of the big sweep (100 configs x 10 seeds at the default)
    long_steps: int = 10_000  # logged steps of each big-sweep run
    short_steps: int = 200  # logged steps of every other run (log_every 10)

    def name(self) -> str:
        return f"r{self.runs}-s{self.sweeps}-b{self.big}-l{self.long_steps}-h{self.short_steps}"


@dataclass
class Plan:
    run_id: str
    experiment: int  # index into EXPERIMENTS
    sweep: str
    sweep_name: str
    preset: str
    config: dict
    name: str
    status: str
    start_ms: int
    end_ms: int
    logged: int  # logged steps
    log_every: int
    health: str


def plan_runs(shape: Shape, rng: np.random.Generator, now_ms: int) -> list[Plan]:
    """Every run of the store, sweep by sweep, the big sweep first (it is the newest)."""
    from engine.config import build_config

    configs: dict[tuple, dict] = {}

    def config(preset: str, overrides: dict) -> dict:
        key = (preset, tuple(sorted(overrides.items())))
        if key not in configs:
            configs[key] = build_config(preset, overrides).to_dict()
        return dict(configs[key])

    sweeps: list[tuple[str, list[tuple[str, dict, str]]]] = []
    big = [(p, {"lr_d": lr, "lr_g": lr, "dataset": d, "batch_size": b}, f"{p} lr={lr:g} dataset={d} batch_size={b}")
           for p in BIG_PRESETS for lr in BIG_LRS for d in ("ring", "grid") for b in (256, 512)]
    seeds = max(1, shape.big // len(big))
    sweeps.append(("big sweep: losses x lr x data x batch", [(p, o, n) for p, o, n in big for _ in range(seeds)]
                   [: shape.big]))
    rest, n_small = shape.runs - len(sweeps[0][1]), max(1, shape.sweeps - 1)
    for k in range(n_small):
        size = rest // n_small + (1 if k < rest % n_small else 0)
        preset, dataset = SMALL_PRESETS[k % len(SMALL_PRESETS)], ("ring", "grid", "spiral", "moons")[k % 4]
        runs = [(preset, {"lr_d": SMALL_LRS[i % 9], "lr_g": SMALL_LRS[i % 9], "dataset": dataset},
                 f"{preset} lr={SMALL_LRS[i % 9]:g}") for i in range(size)]
        sweeps.append((f"{preset} on {dataset}, lr sweep #{k}", runs))

    plans: list[Plan] = []
    span = 90 * DAY_MS
    for k, (sweep_name, runs) in enumerate(sweeps):
        sweep_id = f"{now_ms - (k * span) // len(sweeps):x}"
        long = k == 0
        logged, log_every = (shape.long_steps, 1) if long else (shape.short_steps, 10)
        minutes = 8 if long else 1
        t = now_ms - (k * span) // len(sweeps) - len(runs) * minutes * 30_000 - 3_600_000
        per_config: dict[str, int] = {}
        for i, (preset, overrides, label) in enumerate(runs):
            seed = per_config.get(label, 0)
            per_config[label] = seed + 1
            cfg = config(preset, {**overrides, "seed": seed, "steps": logged * log_every, "log_every": log_every,
                                  "eval_every": logged * log_every // EVALUATIONS})
            start = t + (i // 2) * minutes * 60_000
            status = "FINISHED" if long else rng.choice(["FINISHED", "FAILED", "KILLED"], p=[0.9, 0.06, 0.04])
            plans.append(Plan(uuid.uuid4().hex, k % len(EXPERIMENTS), sweep_id, sweep_name, preset, cfg,
                              f"{label} s{seed}", str(status), int(start), int(start + minutes * 60_000),
                              logged, log_every, HEALTH[int(rng.integers(len(HEALTH)))]))
    return plans


def run_tags(p: Plan) -> dict[str, str]:
    """The tags a launched run carries when it has ended (launcher, engine, MLflow's own)."""
    cfg = p.config
    tags = {"ganboard.dataset": cfg["dataset"], "ganboard.loss": cfg["loss"], "ganboard.penalty": cfg["penalty"],
            "ganboard.seed": str(cfg["seed"]), "ganboard.preset": p.preset, "ganboard.sweep": p.sweep,
            "ganboard.sweep_name": p.sweep_name, "ganboard.backend": "local", "ganboard.host": "trainer-1",
            "ganboard.queue_seq": f"{p.start_ms * 1_000_000:020d}", "ganboard.job": str(int(p.run_id[:4], 16)),
            "mlflow.runName": p.name, "mlflow.user": "bench", "mlflow.source.git.commit": "0" * 40,
            "ganboard.device": "cpu", "ganboard.pid": "4242", "ganboard.heartbeat": str(p.end_ms // 1000),
            "ganboard.step": str(cfg["steps"] if p.status == "FINISHED" else cfg["steps"] // 2),
            "ganboard.curves": "1", "ganboard.health": p.health,
            "ganboard.health_reason": "" if p.health == "healthy" else f"rule {p.health} fired at the last evaluation"}
    if p.status == "FAILED":
        tags["ganboard.end_reason"] = "RuntimeError: loss is NaN at step 731"
    elif p.status == "KILLED":
        tags["ganboard.end_reason"] = "stopped from the dashboard"
    return tags


# ------------------------------------------------------------------------------------------ the writers
class SqliteWriter:
    """Rows into an MLflow SQLite file in one transaction, secondary metric indexes rebuilt after the load."""

    def __init__(self, uri: str):
        self.con = sqlite3.connect(uri[len("sqlite:///"):])
        self.con.execute("PRAGMA journal_mode = OFF")
        self.con.execute("PRAGMA synchronous = OFF")
        self.con.execute("PRAGMA cache_size = -1000000")
        self.indexes = [sql for (sql,) in self.con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' AND sql IS NOT NULL")]
        for sql in self.indexes:
            self.con.execute(f"DROP INDEX {sql.split()[2]}")
        self.con.execute("BEGIN")

    def rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if rows:
            self.con.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                 f"({', '.join('?' * len(columns))})", rows)

    def finish(self) -> None:
        self.con.execute("COMMIT")
        for sql in self.indexes:
            self.con.execute(sql)
        self.con.execute("ANALYZE")
        self.con.close()


class PostgresWriter:
    """Rows into MLflow's PostgreSQL tables with COPY; the metrics table's key, foreign keys and indexes are
    dropped for the load and recreated from their own definitions after it."""

    def __init__(self, dsn: str):
        import psycopg2

        self.con = psycopg2.connect(dsn)
        self.cur = self.con.cursor()
        self.cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                         "WHERE conrelid = 'metrics'::regclass")
        self.constraints = self.cur.fetchall()
        self.cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'metrics' AND indexname NOT IN "
                         "(SELECT conname FROM pg_constraint WHERE conrelid = 'metrics'::regclass)")
        self.indexes = [d for (d,) in self.cur.fetchall()]
        for name, _ in self.constraints:
            self.cur.execute(f'ALTER TABLE metrics DROP CONSTRAINT "{name}"')
        for d in self.indexes:
            self.cur.execute(f"DROP INDEX {d.split()[2]}")
        self.con.commit()

    def rows(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        if not rows:
            return
        buf = io.StringIO()
        for row in rows:
            buf.write("\t".join(_pg_text(v) for v in row))
            buf.write("\n")
        buf.seek(0)
        self.cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)

    def finish(self) -> None:
        self.con.commit()
        for name, definition in self.constraints:
            self.cur.execute(f'ALTER TABLE metrics ADD CONSTRAINT "{name}" {definition}')
            self.con.commit()
        for d in self.indexes:
            self.cur.execute(d)
            self.con.commit()
        self.con.autocommit = True
        self.cur.execute("VACUUM ANALYZE")
        self.con.close()


def _pg_text(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, str):
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return repr(v)


METRIC_COLUMNS = ("key", "value", "timestamp", "run_uuid", "step", "is_nan")


# ------------------------------------------------------------------------------------------ artifacts
def snapshot_pool(folder: Path, datasets: set[str], steps_by_shape: set[tuple[int, int]]) -> dict:
    """One samples and one field snapshot per (data set, evaluation step), as a points run logs them."""
    from engine.data import get_dataset

    pool: dict[tuple[str, str, int], Path] = {}
    rng = np.random.default_rng(0)
    for dataset in sorted(datasets):
        m = get_dataset(dataset)
        x0, x1, y0, y1 = m.bounds()
        xs, ys = np.linspace(x0, x1, 64).astype(np.float32), np.linspace(y0, y1, 64).astype(np.float32)
        grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
        p_data = np.exp(m.log_prob(grid)).reshape(64, 64)
        for steps, every in sorted(steps_by_shape):
            for k in range(EVALUATIONS + 1):
                step = k * steps * every // EVALUATIONS
                spread = 0.5 * np.exp(-4 * k / EVALUATIONS) + 0.02
                real = m.sample(2500).x.numpy()
                x = (real + rng.normal(0, spread, real.shape)).astype(np.float32)
                p_g = np.exp(-((grid[:, None, :] - x[None, ::25, :]) ** 2).sum(-1) / (2 * spread ** 2)).mean(1)
                p_g = p_g.reshape(64, 64) / (2 * np.pi * spread ** 2)
                d_star = p_data / (p_data + p_g + 1e-12)
                d = (0.5 + 0.45 * np.tanh(3 * (d_star - 0.5)) + rng.normal(0, 0.02, d_star.shape)).astype(np.float32)
                for folder_name, arrays in (("samples", {"x": x, "step": np.int64(step)}),
                                            ("field", {"xs": xs, "ys": ys, "d": d, "d_is_prob": np.bool_(True),
                                                       "d_star": d_star, "step": np.int64(step)})):
                    path = folder / "pool" / dataset / folder_name / f"{steps}x{every}" / f"step_{step:07d}.npz"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(path, **arrays)
                    pool[(dataset, folder_name, steps * every, step)] = path
    log = folder / "pool" / "output.txt"
    log.write_text("".join(f"step {s}: loss/d 1.38 loss/g 0.69\n" for s in range(0, 2000, 10)))
    pool["log"] = log
    return pool


def write_artifacts(root: Path, p: Plan, pool: dict, histories: dict[str, tuple]) -> None:
    """config.json, the snapshots (hard links into the pool), the log and the curve summaries of one run."""
    art = root / p.run_id / "artifacts"
    for folder_name in ("samples", "field", "curves", "logs"):
        (art / folder_name).mkdir(parents=True, exist_ok=True)
    (art / "config.json").write_text(json.dumps(p.config, indent=2, sort_keys=True))
    total = p.logged * p.log_every
    last = total if p.status == "FINISHED" else total // 2
    for k in range(EVALUATIONS + 1):
        step = k * total // EVALUATIONS
        if step > last:
            break
        for folder_name in ("samples", "field"):
            os.link(pool[(p.config["dataset"], folder_name, total, step)], art / folder_name / f"step_{step:07d}.npz")
    os.link(pool["log"], art / "logs" / "output.txt")
    for key, (steps, stamps, values) in histories.items():
        summary = curves_lib.summarise(steps, stamps, values, curves_lib.base_width(steps.max()))
        np.savez_compressed(art / "curves" / Path(curves_lib.artifact_name(key)).name,
                            **curves_lib.to_npz_arrays(summary))


# ------------------------------------------------------------------------------------------ the build
def fill(uri: str, artifact_dir_of, writer, shape: Shape, folder: Path, seed: int = 0) -> dict:
    """Write the whole store; `artifact_dir_of(artifact_location)` maps an experiment's location to a folder."""
    from mlflow import MlflowClient

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    now_ms = int(time.time() * 1000)
    plans = plan_runs(shape, rng, now_ms)
    client = MlflowClient(tracking_uri=uri)
    exps = []
    for name in EXPERIMENTS:
        root = tracking.artifact_root(uri)
        exp_id = client.create_experiment(name, artifact_location=f"{root}/{name}" if root else None)
        exps.append((exp_id, client.get_experiment(exp_id).artifact_location))
    pool = snapshot_pool(folder, {p.config["dataset"] for p in plans},
                         {(p.logged, p.log_every) for p in plans})
    print(f"planned {len(plans)} runs, built the snapshot pool in {time.perf_counter() - t0:.0f} s", flush=True)

    index: dict[tuple[int, str], dict] = {}
    for p in plans:
        entry = index.setdefault((p.experiment, p.sweep), {"name": p.sweep_name, "runs": 0, "start": p.start_ms})
        entry["runs"] += 1
        entry["start"] = min(entry["start"], p.start_ms)
    writer.rows("experiment_tags", ("key", "value", "experiment_id"),
                [(*tracking.sweep_index_tag(sweep, **entry), int(exps[e][0])) for (e, sweep), entry in index.items()])

    rows = 0
    batches, batch, size = [], [], 0
    for p in plans:  # batches of about 2 M metric rows: the rows of a batch are held in memory as tuples
        batch.append(p)
        size += p.logged * len(METRICS)
        if size >= 2_000_000:
            batches.append(batch)
            batch, size = [], 0
    batches += [batch] if batch else []
    done = 0
    for chunk in batches:
        runs, tags, params, latest, metrics = [], [], [], [], []
        for p in chunk:
            exp_id, location = exps[p.experiment]
            runs.append((p.run_id, p.name, "UNKNOWN", "", "", "bench", p.status, p.start_ms, p.end_ms, "", "active",
                         f"{location}/{p.run_id}/artifacts", int(exp_id)))
            tags += [(k, v, p.run_id) for k, v in run_tags(p).items()]
            params += [(k, str(v), p.run_id) for k, v in sorted(p.config.items())]
            n = p.logged if p.status == "FINISHED" else p.logged // 2
            steps = np.arange(1, n + 1) * p.log_every
            stamps = p.start_ms + (np.arange(1, n + 1) * (p.end_ms - p.start_ms)) // max(p.logged, 1)
            mixture_modes = {"ring": 8, "grid": 25}.get(p.config["dataset"], 0)
            values = synthetic_curves(rng, mixture_modes, steps.astype(np.float64))
            histories = {k: (steps, stamps, values[k]) for k in METRICS}
            write_artifacts(artifact_dir_of(location), p, pool, histories)
            keys = np.repeat(np.array(METRICS, dtype=object), n)
            vals = np.concatenate([values[k] for k in METRICS])
            metrics.extend(zip(keys.tolist(), vals.tolist(), np.tile(stamps, len(METRICS)).tolist(),
                               [p.run_id] * vals.size, np.tile(steps, len(METRICS)).tolist(),
                               [False] * vals.size))
            latest += [(k, float(values[k][-1]), int(stamps[-1]), int(steps[-1]), False, p.run_id) for k in METRICS]
        writer.rows("runs", ("run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id",
                             "status", "start_time", "end_time", "source_version", "lifecycle_stage", "artifact_uri",
                             "experiment_id"), runs)
        writer.rows("tags", ("key", "value", "run_uuid"), tags)
        writer.rows("params", ("key", "value", "run_uuid"), params)
        writer.rows("latest_metrics", ("key", "value", "timestamp", "step", "is_nan", "run_uuid"), latest)
        writer.rows("metrics", METRIC_COLUMNS, metrics)
        rows += len(metrics)
        done += len(chunk)
        if done % 500 < len(chunk) or done == len(plans):
            print(f"  {done}/{len(plans)} runs, {rows / 1e6:.1f} M metric rows, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    t1 = time.perf_counter()
    writer.finish()
    print(f"rebuilt the metric indexes in {time.perf_counter() - t1:.0f} s", flush=True)
    big = plans[0].sweep
    return {"runs": len(plans), "metric_rows": rows, "big_sweep": big, "experiments": [e for e, _ in exps],
            "big_experiment": exps[plans[0].experiment][0], "shape": asdict(shape),
            "build_s": round(time.perf_counter() - t0)}


def build_sqlite(folder: Path, shape: Shape) -> tuple[str, dict]:
    """The embedded store under folder/sqlite (built once; `done.json` says it is complete)."""
    where = folder / f"sqlite-{shape.name()}"
    uri = f"sqlite:///{where / 'mlflow.db'}"
    done = where / "done.json"
    if done.exists():
        return uri, json.loads(done.read_text())
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    tracking.client()  # creates MLflow's schema
    info = fill(uri, lambda location: Path(location), SqliteWriter(uri), shape, where)
    done.write_text(json.dumps(info))
    return uri, info


def postgres_database(shape: Shape) -> str:
    return f"ganboard_scale_{shape.name().replace('-', '_')}"


def build_postgres(folder: Path, shape: Shape, server_uri: str, artifacts: Path, dsn: str) -> dict:
    """Fill the database behind a running tracking server (`server_uri`, artifacts served from `artifacts`)."""
    where = folder / f"postgres-{shape.name()}"
    done = where / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    where.mkdir(parents=True, exist_ok=True)
    # mlflow-artifacts:/<experiment id> is <artifacts>/<experiment id> on the server's disk
    info = fill(server_uri, lambda location: artifacts / location.split(":", 1)[1].lstrip("/"),
                PostgresWriter(dsn), shape, where)
    done.write_text(json.dumps(info))
    return info
