"""Training steps per second of each image-era architecture's preset, against DCGAN at the same sizes, in one run.

    python bench/arch_throughput.py [--steps 30] [--repeats 3] [--device cpu|cuda] [--dataset fashion-mnist]

Each architecture trains at its preset (progan, stylegan, sagan, biggan: its paper's loss, penalty, D steps and
optimiser) on the same data set with the presets' shared sizes (batch 64, z 128, 32 channels at the image's side,
2 stages); the baseline is the `dcgan` preset at those same sizes. A measurement is `Trainer.train_step()` timed
over --steps steps after 3 warm-up steps (no logging, no evaluation: the loop and the nets alone), in a fresh
subprocess with one intra-op thread on the CPU; the architectures alternate, and the medians over --repeats are
printed with the ratio to DCGAN's and the peak resident memory. ProGAN is timed at its last phase (full side, as
the run ends; its earlier phases are faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCHS = ("dcgan", "progan", "stylegan", "sagan", "biggan")


def _peak_mb() -> int:
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) // 1024


def steps_per_s(preset: str, steps: int, device: str, dataset: str) -> dict:
    import torch

    from engine.config import build_config
    from engine.presets import IMAGE_ERA
    from engine.train import Trainer

    torch.set_num_threads(1)
    sizes = {k: IMAGE_ERA[k] for k in ("z_dim", "g_channels", "d_channels", "conv_stages", "batch_size")}
    cfg = build_config(preset, {**sizes, "dataset": dataset, "device": device, "steps": 10 * steps})
    trainer = Trainer(cfg, torch.device(device))
    trainer.step = cfg.steps - steps - 3  # ProGAN grown: the side and cost it ends at
    for _ in range(3):
        trainer.train_step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        terms = trainer.train_step()
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if not torch.isfinite(terms.d + terms.g):
        raise RuntimeError(f"{preset} diverged")
    return {"value": steps / elapsed, "peak_mb": _peak_mb()}


def measure(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], cwd=REPO, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(steps_per_s(args.child[0], args.steps, args.device, args.dataset)))
        return
    results: dict[str, list[dict]] = {a: [] for a in ARCHS}
    for _ in range(args.repeats):
        for arch in ARCHS:
            results[arch].append(measure(arch, "--steps", str(args.steps), "--device", args.device,
                                         "--dataset", args.dataset))
    base = statistics.median(r["value"] for r in results["dcgan"])
    print(f"device {args.device}, {args.dataset}, each preset at batch 64, z 128, 32 channels at the image's side; "
          f"{args.steps} steps a measurement, median of {args.repeats}")
    for arch, rs in results.items():
        median = statistics.median(r["value"] for r in rs)
        each = ", ".join(f"{r['value']:.2f}" for r in rs)
        print(f"{arch:<9}: {median:7.2f} steps/s ({each}), "
              f"ratio to dcgan {median / base:.3f}, peak {max(r['peak_mb'] for r in rs)} MB")


if __name__ == "__main__":
    main()
