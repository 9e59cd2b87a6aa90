"""Peak memory of one evaluation, for every preset at its default settings, measured in a process of its own.

Minibatch discrimination used to score the 64 x 64 grid as one batch: a (4096, 4096, 50, 5) float32 difference
tensor, 16.8 GB, and 6.25 GB for the 2,500-sample evaluation batch. D is now evaluated in chunks of
evaluation.EVAL_CHUNK points against a fixed reference minibatch, (50, 1024, 511) float32 or ~105 MB per temporary.
Measured peak of the whole process on the 2-core CPU machine: ~570 MB (Python + torch ~270 MB, the metrics
~90 MB, minibatch discrimination's chunk ~210 MB). The bound, 2 GB, leaves room for other allocators and BLAS
builds and is still a third of the smallest tensor the old code built. Image presets are measured on their own data
set: stacked-mnist's evaluation scores 26,000 samples, its largest array the (26,000, 1,000) class log-probabilities
(pacdcgan2: ~1.1 GB, the Inception Score's softmax temporaries on them most of it).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.presets import PRESETS

REPO = Path(__file__).resolve().parents[1]
PEAK_RSS_BOUND_MB = 2048
ADDRESS_SPACE_GUARD_MB = 2 * PEAK_RSS_BOUND_MB  # an over-large tensor fails to allocate, instead of filling RAM

CHILD = f"""
import json, resource, sys  # resource: the address-space guard
resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_GUARD_MB} << 20, resource.RLIM_INFINITY))
import torch
from engine.config import build_config
from engine.presets import PRESETS
from engine.train import Trainer
torch.set_num_threads(1)
from engine.data import DATASETS
peaks = {{}}
for name in PRESETS:
    own = PRESETS[name]["set"].get("dataset", "ring")
    single = DATASETS[own].modality == "points" and not DATASETS[own].source  # a translation keeps its pair
    for dataset in (("ring", "grid") if single else (own,)):
        try:
            Trainer(build_config(name, {{"dataset": dataset}}), torch.device("cpu")).evaluate()
        except (MemoryError, RuntimeError) as exc:
            sys.exit(f"{{name}} on {{dataset}}: {{str(exc).splitlines()[0]}}")
        # VmHWM is this process image's own peak; ru_maxrss would also hold the forking parent's (Linux keeps
        # the larger of the two across exec), and pytest's own process is large by the end of a suite
        hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        peaks[f"{{name}}/{{dataset}}"] = hwm_kb // 1024
print(json.dumps(peaks))
"""


def test_one_evaluation_of_every_preset_stays_in_bounded_memory():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "GANBOARD_CACHE": os.environ["GANBOARD_CACHE"]}  # the session's classifiers (tests/conftest.py)
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "mbdisc/grid" in peaks and "pacdcgan2/stacked-mnist" in peaks and "dcgan/mnist" in peaks
    over = {k: v for k, v in peaks.items() if v > PEAK_RSS_BOUND_MB}
    # the peak only grows: the first entry over the bound is the evaluation that crossed it
    assert not over, f"peak RSS {max(peaks.values())} MB > {PEAK_RSS_BOUND_MB} MB, first at {next(iter(over))}"
