"""The engine's reference numbers: what every preset (and a few configs with every trick switched on) logs in a
few hundred steps, to the last bit, on the CPU with one thread.

    python tests/reference_numbers.py --write     # record them for this machine

tests/test_reference_numbers.py trains the same cases and compares every logged value (losses, D outputs,
gradient norms, metrics, theory) and every health tag with the recorded file, tests/data/reference_numbers.json,
as float hex, so that a refactoring that changes one rounding is caught. The wall-clock figure perf/steps_per_s
is left out. The cases keep every preset's own settings and shrink only what sets the cost (batch, steps,
evaluation size), so each code path runs as the preset runs it.

The last bits depend on the processor (MKL and oneDNN pick their kernels by CPU model and instruction set: an AMD
EPYC with AVX-512 rounds differently from the machine of the first recording, from step 0), so the file keeps one
record per machine (`machine()`), each made with the engine of a commit that matched an earlier record (first: the
commit before the engine's reshape, issue 14). On a machine with no record yet, record one with the engine of the
last commit that passed (check it out, `--write`, bring the file back), then test the change against it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FILE = Path(__file__).resolve().parent / "data" / "reference_numbers.json"
SMALL = {"steps": 120, "batch_size": 64, "eval_every": 60, "eval_samples": 300, "grid_size": 16, "log_every": 20}
# Every trick at least once beside the presets, on every data set.
TRICKS = {
    "tricks-ns-ring": ("ns", {"label_smoothing": 0.1, "label_flip": 0.05, "instance_noise": 0.1, "replay": 0.5,
                              "replay_size": 500, "ema": 0.99, "dataset": "ring"}),
    "tricks-hinge-grid": ("hinge", {"hist_avg": 0.5, "pack": 2, "penalty": "dragan", "penalty_weight": 5.0,
                                    "dataset": "grid", "latent": "uniform", "g_bn": True}),
    "tricks-lsgan-spiral": ("lsgan", {"feature_matching": True, "penalty": "r1", "penalty_weight": 1.0,
                                      "simultaneous": True, "n_data": 1000, "dataset": "spiral",
                                      "optimizer_g": "sgd", "optimizer_d": "rmsprop"}),
    "tricks-wgan-moons": ("wgan", {"clip": 0.05, "n_critic": 2, "dataset": "moons", "d_act": "leaky_relu",
                                   "g_act": "elu", "d_maxout": 3, "g_init": "orthogonal", "d_init": "normal"}),
    "tricks-unrolled-sgd": ("ns", {"unrolled_steps": 3, "optimizer_d": "sgd", "spectral_norm": False,
                                   "dataset": "grid", "mbd_kernels": 8, "mbd_dim": 3}),
}


def cases() -> dict[str, tuple[str, dict[str, Any]]]:
    """Case name -> (preset, overrides): every points preset of the plain GAN on ring and grid, then the trick
    configs. (The image presets, the variants' presets and the lp penalty came after the recording;
    tests/test_images.py and tests/test_variants.py hold them to their own known answers.)"""
    from engine.data import DATASETS
    from engine.presets import PRESETS

    points = [p for p, spec in PRESETS.items() if DATASETS[spec["set"].get("dataset", "ring")].modality == "points"
              and spec["set"].get("variant", "gan") == "gan" and spec["set"].get("penalty") != "lp"]
    out = {f"{p}-{d}": (p, {**SMALL, "dataset": d}) for p in points for d in ("ring", "grid")}
    out.update({name: (preset, {**SMALL, **extra}) for name, (preset, extra) in TRICKS.items()})
    return out


class Recorder:
    """A logger that keeps what train() logs: every value as float hex, every health tag."""

    errors: list[str] = []

    def __init__(self) -> None:
        self.values: dict[str, list[list]] = {}
        self.tags: list[list[str]] = []

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            if not key.startswith("perf/"):
                self.values.setdefault(key, []).append([int(step), float(value).hex()])

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.extend([k, str(v)] for k, v in sorted(tags.items()) if k.startswith("ganboard.health")
                         or k == "ganboard.diverged")

    def log_npz(self, name: str, **arrays) -> None: ...

    def log_bytes(self, name: str, data: bytes) -> None: ...

    def log_torch(self, name: str, state) -> None: ...


def machine() -> str:
    """What the last bits depend on: the CPU's model, the instruction set torch dispatches to and torch's version."""
    import platform

    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or platform.machine())
    return f"{model} · {torch.backends.cpu.get_cpu_capability()} · torch {torch.__version__}"


def recorded() -> dict[str, dict[str, Any]]:
    """machine -> {"commit": the engine's commit when recorded, "cases": name -> numbers}."""
    return json.loads(FILE.read_text()) if FILE.exists() else {}


def run_case(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    import torch

    from engine.config import build_config
    from engine.train import train

    torch.set_num_threads(1)
    rec = Recorder()
    result = train(build_config(preset, {**overrides, "device": "cpu"}), rec)
    return {"status": result.status, "step": result.step, "values": rec.values, "tags": rec.tags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"record the numbers into {FILE.relative_to(REPO)}")
    args = parser.parse_args()
    got = {name: run_case(*case) for name, case in cases().items()}
    if args.write:
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        records = {**recorded(), machine(): {"commit": commit, "cases": got}}
        FILE.parent.mkdir(exist_ok=True)
        FILE.write_text(json.dumps(records, indent=0, sort_keys=True) + "\n")
        print(f"wrote {len(got)} cases for {machine()} (engine at {commit[:12]}) to {FILE}")
    else:
        print(json.dumps({k: v["status"] for k, v in got.items()}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
