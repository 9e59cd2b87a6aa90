"""Engine throughput against a plain hand-written PyTorch loop of the same model, and the evaluation's share.

Reference config (issue 2): 2-D ring data, G and D with 3 hidden layers of 128 (ReLU), z_dim 16, batch 512,
non-saturating loss, Adam, one thread. Each measurement runs in a fresh subprocess (so neither side inherits the
other's allocator or thread state), the two sides alternate, and medians over the repeats are printed:

    python bench/engine_throughput.py [--steps 3000] [--repeats 3]

`engine` is `engine.train.train` with its defaults: buffered MLflow logging into a throw-away SQLite store,
snapshots, metrics and checkpoints every eval_every = 1000 steps. The evaluation share is the time of one
`Trainer.evaluate()` (all metrics + D and D* on the grid) over the time of the eval_every steps around it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = {"dataset": "ring", "z_dim": 16, "g_width": 128, "g_depth": 3, "d_width": 128, "d_depth": 3,
             "batch_size": 512, "loss": "ns", "device": "cpu"}


def plain_loop(steps: int) -> float:
    """The baseline: the same nets and losses written by hand, nothing logged."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from engine.data.toy import ring

    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    mixture = ring()

    def mlp(d_in, d_out):
        return nn.Sequential(nn.Linear(d_in, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, d_out))

    G, D = mlp(16, 2), mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))
    start = time.perf_counter()
    for _ in range(steps):
        real = mixture.sample(512, gen).x
        fake = G(torch.randn(512, 16, generator=gen)).detach()
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(512, 16, generator=gen)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if not torch.isfinite(d_loss + g_loss):
            raise RuntimeError("diverged")
    return steps / (time.perf_counter() - start)


def engine_loop(steps: int) -> float:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    from engine import tracking
    from engine.config import build_config
    from engine.train import train

    cfg = build_config(None, {**REFERENCE, "steps": steps})
    run_id = tracking.create_run(cfg.to_dict(), run_name="bench")
    logger = tracking.RunLogger(run_id)
    start = time.perf_counter()
    result = train(cfg, logger)
    elapsed = time.perf_counter() - start
    logger.close(result.status)
    return steps / elapsed


def eval_share(steps: int) -> float:
    import torch

    from engine.config import build_config
    from engine.train import Trainer

    torch.set_num_threads(1)
    cfg = build_config(None, {**REFERENCE, "steps": steps})
    trainer = Trainer(cfg, torch.device("cpu"))
    start = time.perf_counter()
    for _ in range(200):
        trainer.train_step()
    step_s = (time.perf_counter() - start) / 200
    times = []
    for _ in range(3):
        start = time.perf_counter()
        trainer.evaluate()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / (statistics.median(times) + cfg.eval_every * step_s)


def child(kind: str, steps: int) -> None:
    fn = {"plain": plain_loop, "engine": engine_loop, "eval_share": eval_share}[kind]
    print(json.dumps({"value": fn(steps)}))


def measure(kind: str, steps: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--steps", str(steps)], cwd=REPO,
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.steps)
    plain, engine = [], []
    for _ in range(args.repeats):
        plain.append(measure("plain", args.steps))
        engine.append(measure("engine", args.steps))
    share = measure("eval_share", args.steps)
    p, e = statistics.median(plain), statistics.median(engine)
    print(f"plain loop      : {p:8.1f} steps/s (median of {args.repeats}: {', '.join(f'{v:.1f}' for v in plain)})")
    print(f"engine (logged) : {e:8.1f} steps/s (median of {args.repeats}: {', '.join(f'{v:.1f}' for v in engine)})")
    print(f"ratio engine/plain: {e / p:.3f}  (target >= 0.90)")
    print(f"evaluation share of training time at eval_every=1000: {100 * share:.1f} %  (target <= 10 %)")


if __name__ == "__main__":
    main()
