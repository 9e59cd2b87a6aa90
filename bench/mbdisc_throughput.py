"""Training speed of the mbdisc preset against the plain ns preset, and against the old 4-D formulation.

Issue 13, bug 6: minibatch discrimination built the (N, N, kernels, kernel_dim) difference tensor on every D call,
so mbdisc at batch 512 trained at a fraction of a step per second. Both presets at their defaults (2-D ring,
3x128 MLPs, batch 512, Adam), one thread, `Trainer.train_step` only (no logging, no evaluation). Each measurement
runs in a fresh subprocess, the kinds alternate, and medians over the repeats are printed:

    python bench/mbdisc_throughput.py [--steps 100] [--old-steps 5] [--repeats 3]

`mbdisc (4-D)` is the same preset with the layer's forward swapped for the literal formula the engine used before
(kept here only, as a baseline). The layer alone, forward + backward at N = 512, 50 kernels of dimension 5 on 128
features, is timed for the engine's formulation, the old one and plain `torch.cdist` under autograd.
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
KINDS = {"ns": "ns", "mbdisc": "mbdisc", "mbdisc-4d": "mbdisc"}  # kind -> preset


def old_forward(self, h, h_ref=None):
    """MinibatchDiscrimination.forward before issue 13: every pair's differences at once, (N, N, B, C)."""
    import torch

    m = (h @ self.T).view(-1, self.kernels, self.kernel_dim)
    l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)  # (N, N, B)
    return torch.cat([h, torch.exp(-l1).sum(0) - 1], dim=1)


def cdist_forward(self, h, h_ref=None):
    """The first alternative tried: torch.cdist over the kernels as a batch dimension, autograd's backward."""
    import torch

    m = self.project(h)
    return torch.cat([h, (torch.exp(-torch.cdist(m, m, p=1)).sum(-1) - 1).T], dim=1)


def train_speed(kind: str, steps: int) -> float:
    import torch

    from engine.config import build_config
    from engine.nets.mlp import MinibatchDiscrimination
    from engine.train import Trainer

    if kind == "mbdisc-4d":
        MinibatchDiscrimination.forward = old_forward
    torch.set_num_threads(1)
    trainer = Trainer(build_config(KINDS[kind], {"device": "cpu"}), torch.device("cpu"))
    trainer.train_step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return steps / (time.perf_counter() - start)


def layer_ms(kind: str, repeats: int) -> float:
    import torch

    from engine.nets.mlp import MinibatchDiscrimination

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(128, 50, 5)
    forward = {"engine": MinibatchDiscrimination.forward, "old-4d": old_forward, "cdist": cdist_forward}[kind]
    h = torch.randn(512, 128, requires_grad=True)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        torch.autograd.grad(forward(layer, h).sum(), (h, layer.T))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times[1:])


def child(kind: str, steps: int) -> None:
    value = layer_ms(kind.removeprefix("layer:"), steps) if kind.startswith("layer:") else train_speed(kind, steps)
    print(json.dumps({"value": value}))


def measure(kind: str, steps: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--steps", str(steps)], cwd=REPO,
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="timed steps of ns and mbdisc")
    parser.add_argument("--old-steps", type=int, default=5, help="timed steps of the old 4-D formulation")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.steps)
    speed: dict[str, list[float]] = {kind: [] for kind in KINDS}
    layer: dict[str, list[float]] = {kind: [] for kind in ("engine", "cdist", "old-4d")}
    for _ in range(args.repeats):
        for kind in KINDS:
            speed[kind].append(measure(kind, args.old_steps if kind == "mbdisc-4d" else args.steps))
        for kind in layer:
            layer[kind].append(measure(f"layer:{kind}", 10))
    med = {k: statistics.median(v) for k, v in speed.items()}
    for kind, values in speed.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"{kind:12s}: {med[kind]:8.2f} steps/s (median of {args.repeats}: {runs})")
    print(f"ratio mbdisc/ns: {med['mbdisc'] / med['ns']:.3f}; "
          f"mbdisc/mbdisc (4-D): {med['mbdisc'] / med['mbdisc-4d']:.1f}x")
    lay = {k: statistics.median(v) for k, v in layer.items()}
    print("layer forward + backward, N 512, 50 x 5 kernels: "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in lay.items())
          + f"; old-4d/engine {lay['old-4d'] / lay['engine']:.1f}x, cdist/engine {lay['cdist'] / lay['engine']:.1f}x")


if __name__ == "__main__":
    main()
