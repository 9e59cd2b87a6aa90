"""The engine's DCGAN against a hand-written PyTorch DCGAN loop, and the image evaluation's share of training time.

    python bench/image_throughput.py [--steps 1000] [--repeats 3] [--device cpu|cuda]

`plain`: the same nets (engine/nets/dcgan.py at the `dcgan` preset's settings: mnist, batch 128, z 100, 64
channels), the non-saturating loss and Adam 2e-4 (0.5, 0.999), written as the textbook loop, nothing logged.
`engine`: `engine.train.train` at the preset's defaults: buffered MLflow logging into a throw-away SQLite store,
the fixed-latent grid (PNG + arrays), every image metric and a checkpoint at step 0 and every eval_every = 1000
steps, and the final evaluation. Each measurement runs in a fresh subprocess, the two sides alternate, medians over
the repeats are printed with the ratio engine / plain, and the engine's peak resident memory (VmHWM) is stated.
The classifier and the decoded data are cached (GANBOARD_CACHE) before anything is timed: training them is a
once-per-machine cost, not a per-run one.

Then, for every image preset at its own defaults (its data set, its eval_every), the time of one evaluation over the
time of the eval_every steps around it: the share of a run that evaluation costs (target <= 5 %).
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
CACHE = Path(tempfile.gettempdir()) / "ganboard-bench-cache"
IMAGE_PRESETS = ("dcgan", "dcgan-wgan-gp", "dcgan-sngan", "pacdcgan2")


def _cfg(steps: int, device: str):
    from engine.config import build_config

    return build_config("dcgan", {"steps": steps, "device": device})


def _peak_mb() -> int:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024


def plain_loop(steps: int, device: str) -> dict:
    """The baseline: the engine's nets, trained by the textbook loop."""
    import torch
    import torch.nn.functional as F

    from engine.data import get_dataset
    from engine.nets.dcgan import build

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = _cfg(steps, device)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    data = get_dataset(cfg.dataset)
    gen = torch.Generator().manual_seed(0)
    G, D = (net.to(dev) for net in build(cfg, data.shape))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    start = time.perf_counter()
    for _ in range(steps):
        real = data.sample(cfg.batch_size, gen).x.to(dev)
        fake = G(torch.randn(cfg.batch_size, cfg.z_dim, generator=gen).to(dev)).detach()
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(cfg.batch_size, cfg.z_dim, generator=gen).to(dev)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    if not torch.isfinite(d_loss + g_loss):
        raise RuntimeError("diverged")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return {"value": steps / (time.perf_counter() - start), "peak_mb": _peak_mb()}


def engine_loop(steps: int, device: str) -> dict:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    from engine import tracking
    from engine.train import train

    cfg = _cfg(steps, device)
    run_id = tracking.create_run(cfg.to_dict(), run_name="bench")
    logger = tracking.RunLogger(run_id)
    start = time.perf_counter()
    result = train(cfg, logger)
    elapsed = time.perf_counter() - start
    logger.close(result.status)
    if result.status != "FINISHED":
        raise RuntimeError(f"engine run ended {result.status}: {result.reason}")
    return {"value": steps / elapsed, "peak_mb": _peak_mb()}


def eval_share(preset: str, device: str) -> dict:
    """One evaluation over (that + eval_every training steps), at the preset's defaults."""
    import torch

    from engine.config import build_config
    from engine.train import Trainer

    torch.set_num_threads(1)
    cfg = build_config(preset, {"device": device})
    trainer = Trainer(cfg, torch.device("cuda" if device == "cuda" else "cpu"))
    trainer.evaluate()  # the held-out features and the classifier, loaded once per run
    for _ in range(3):
        trainer.train_step()
    n = 20
    start = time.perf_counter()
    for _ in range(n):
        trainer.train_step()
    step_s = (time.perf_counter() - start) / n
    times = []
    for _ in range(3):
        start = time.perf_counter()
        trainer.evaluate()
        times.append(time.perf_counter() - start)
    e = statistics.median(times)
    return {"value": e / (e + cfg.eval_every * step_s), "eval_s": e, "steps_per_s": 1 / step_s,
            "eval_every": cfg.eval_every, "dataset": cfg.dataset}


def warm_cache() -> None:
    """Decode every preset's data set and train its classifier once, outside every timing."""
    from engine.classifier import load
    from engine.config import build_config
    from engine.data import get_dataset
    from engine.evaluation.images import reference_scores

    for preset in IMAGE_PRESETS:
        dataset = get_dataset(build_config(preset).dataset)
        load(dataset.classifier_data or dataset.name)
        reference_scores(dataset)


def measure(kind: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GANBOARD_CACHE": os.environ.get("GANBOARD_CACHE", str(CACHE))}
    out = subprocess.run([sys.executable, __file__, "--child", kind, *args], cwd=REPO, capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "warm":
            warm_cache()
            print(json.dumps({}))
        elif kind == "eval_share":
            print(json.dumps(eval_share(rest[0], args.device)))
        else:
            print(json.dumps({"plain": plain_loop, "engine": engine_loop}[kind](args.steps, args.device)))
        return
    common = ["--steps", str(args.steps), "--device", args.device]
    measure("warm")
    plain, engine = [], []
    for _ in range(args.repeats):
        plain.append(measure("plain", *common))
        engine.append(measure("engine", *common))
    p = statistics.median(r["value"] for r in plain)
    e = statistics.median(r["value"] for r in engine)
    def listed(results: list[dict]) -> str:
        return ", ".join(f"{r['value']:.2f}" for r in results)

    print(f"device {args.device}, dcgan preset on mnist, {args.steps} steps a measurement")
    print(f"plain loop      : {p:7.2f} steps/s (median of {args.repeats}: {listed(plain)}), "
          f"peak {max(r['peak_mb'] for r in plain)} MB")
    print(f"engine (logged) : {e:7.2f} steps/s (median of {args.repeats}: {listed(engine)}), "
          f"peak {max(r['peak_mb'] for r in engine)} MB")
    print(f"ratio engine/plain: {e / p:.3f}  (target >= 0.95)")
    for preset in IMAGE_PRESETS:
        r = measure("eval_share", preset, "--device", args.device)
        print(f"evaluation share, {preset:<14} on {r['dataset']:<13}: {100 * r['value']:4.1f} % at eval_every "
              f"{r['eval_every']} ({r['eval_s']:.1f} s an evaluation, {r['steps_per_s']:.2f} steps/s)  (target <= 5 %)")


if __name__ == "__main__":
    main()
