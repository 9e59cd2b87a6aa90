"""Command line: every metric of one set of generated samples, one `name value` line each.

    python -m engine.evaluate --samples file.npz --dataset grid [--metric NAME ...]
    python -m engine.evaluate --samples file.npz --dataset mnist
    python -m engine.evaluate RUN_ID [--step S] [--metric NAME ...]

The first forms read the array `x` of an .npz file: N x 2 points of a toy data set, or N x C x H x W (or N x H x W)
images in [-1, 1] of an image data set; the last the snapshot `samples/step_%07d.npz` that a points run logged at
step S (the latest without --step), through engine.tracking, and prints `step S` first.

Points: the real samples are drawn from the data set with the fixed generator seed metrics.REAL_SEED, as many as the
generated ones, so two calls on the same samples print the same numbers. Without --metric, every metric that
applies to the data set is printed (no mode metrics on continuous data, no theory stats: a snapshot has no D).
Images: every image metric, exactly as a run's evaluation computes it (engine/evaluation/images.py): N must reach
the data set's feature count (the N of FID, KID and the k-NN metrics, e.g. 500 for mnist), as every run's does.
Bad input prints one line on stderr naming the problem and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Sequence

import numpy as np
import torch

from engine import metrics
from engine.data import DATASETS, get_dataset, missing


class InputError(Exception):
    """Bad input from the command line: the message is the one line printed on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's usage block would make it more than one line
        raise InputError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_id", nargs="?", help="MLflow run whose logged samples snapshot to evaluate")
    parser.add_argument("--step", type=int, help="snapshot step of RUN_ID (default: the latest)")
    parser.add_argument("--samples", help=".npz file holding the generated samples as array x: N x 2 points or "
                                          "N x C x H x W images in [-1, 1]")
    parser.add_argument("--dataset", help=f"data set of --samples: {', '.join(DATASETS)}")
    parser.add_argument("--metric", action="append", choices=list(metrics.METRICS),
                        help="only this registered metric (repeatable; default: all that apply)")
    return parser


def _load_npz(path: str) -> np.ndarray:
    try:
        with np.load(path) as data:
            if "x" not in data.files:
                raise InputError(f"--samples: {path} has no array 'x' (it holds: {', '.join(data.files) or 'nothing'})")
            x = np.asarray(data["x"], dtype=np.float64)
    except FileNotFoundError:
        raise InputError(f"--samples: file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"--samples: {path} is not a readable .npz file ({exc})") from None
    return x


def _load_run(run_id: str, step: int | None) -> tuple[int, np.ndarray, str]:
    from engine.tracking import (
        load_run_snapshot,  # lazy: mlflow is imported only on this path
    )

    try:
        step, x, config = load_run_snapshot(run_id, step)
    except Exception as exc:  # whatever the store says (no such run, no snapshot at that step), on one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"run {run_id}: {first}") from None
    if "dataset" not in config:
        raise InputError(f"run {run_id}: its config has no 'dataset'")
    return step, np.asarray(x, dtype=np.float64), config["dataset"]


def run(argv: Sequence[str] | None = None) -> list[str]:
    """The output lines for argv; raises InputError on bad input."""
    args = _parser().parse_args(argv)
    step = None
    if args.run_id and (args.samples or args.dataset):
        raise InputError("give either RUN_ID or --samples with --dataset, not both")
    if args.run_id:
        step, x, dataset = _load_run(args.run_id, args.step)
    elif args.samples:
        if args.step is not None:
            raise InputError("--step: only with RUN_ID")
        if not args.dataset:
            raise InputError("--dataset: required with --samples")
        dataset, x = args.dataset, _load_npz(args.samples)
    else:
        raise InputError("give RUN_ID or --samples FILE --dataset NAME")
    if dataset not in DATASETS:
        raise InputError(f"--dataset: unknown '{dataset}', allowed: {', '.join(DATASETS)}")
    problem = missing(dataset)
    if problem:
        raise InputError(f"--dataset: {problem}")
    modality = DATASETS[dataset].modality
    if step is not None and modality != "points":
        raise InputError(f"run {args.run_id}: an {modality} run's snapshot holds only its sample grid; save N samples "
                         f"to an .npz and pass --samples")
    values = SAMPLE_METRICS[modality](get_dataset(dataset), x, args.metric)
    lines = [] if step is None else [f"step {step}"]
    return lines + [f"{name} {value:.6g}" for name, value in values.items()]


def _points_metrics(mixture, x: np.ndarray, names: list[str] | None) -> dict[str, float]:
    if x.ndim != 2 or x.shape[1] != 2:
        raise InputError(f"samples: expected an N x 2 array, got shape {x.shape}")
    real = mixture.sample(len(x), torch.Generator().manual_seed(metrics.REAL_SEED)).x
    try:
        return metrics.evaluate(mixture, x, real, names=names)
    except ValueError as exc:  # e.g. mode metrics asked of a continuous data set
        raise InputError(str(exc)) from None


def _image_metrics(dataset, x: np.ndarray, names: list[str] | None) -> dict[str, float]:
    from engine.evaluation.images import score_samples

    if names:
        raise InputError("--metric: chooses among the points metrics; for images every image metric is printed")
    shape = tuple(dataset.shape)
    if x.ndim == 3 and shape[0] == 1:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise InputError(f"samples: {dataset.name} images are N x {' x '.join(map(str, shape))}"
                         f"{' (or N x ' + ' x '.join(map(str, shape[1:])) + ')' if shape[0] == 1 else ''}, "
                         f"got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("samples: contains NaN or inf")
    if x.min() < -1 or x.max() > 1:
        raise InputError(f"samples: pixels must lie in [-1, 1], got {x.min():.4g} to {x.max():.4g}")
    if len(x) < dataset.sizes.features:
        raise InputError(f"samples: {dataset.name}'s FID, KID and k-NN metrics use {dataset.sizes.features} samples, "
                         f"as every run's; got {len(x)}")
    return score_samples(dataset, x)


SAMPLE_METRICS = {"points": _points_metrics, "images": _image_metrics}  # modality -> (data set, x, names) -> values


def main(argv: Sequence[str] | None = None) -> int:
    torch.set_num_threads(1)  # small, latency-bound work: threads only add overhead
    try:
        lines = run(argv)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
