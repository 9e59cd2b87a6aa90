"""The data sets: one registry, name -> DatasetEntry. Each data set is an object that knows its modality
("points" or "images"), the shape of one sample, its classes, its exact density where it has one, and
`sample(n, generator) -> Batch(x, y)`.

Modalities and their members: points, toy.py (ring-8 and grid-25 of toy-protocol.md, spiral, moons); images,
images.py (digits, mnist, fashion-mnist, stacked-mnist of image-protocol.md). Domain pairs, pairs.py: a data set and
its image under a known map (ring-rotated, grid-scaled, moons-mirrored; mnist-negative, mnist-rot90, mnist-edges), which are the
target domain to every reader and carry the source beside it (Batch.source) for the translation variants. A new data set is its builder in the
file of its modality plus a row here; one whose source may be missing names the files it needs and the command that
installs them, so that choosing it fails in one line before anything is built. The registry is read without importing torch (the
config's allowed values, the dashboard); `get_dataset` builds a data set once and keeps it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.data.batch import Batch
from engine.lazy import resolve

MODALITIES = ("points", "images")
FASHION_DIR = Path(os.environ.get("GANBOARD_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")


@dataclass(frozen=True)
class DatasetEntry:
    builder: str  # "module:function" returning the data set
    modality: str  # one of MODALITIES
    shape: tuple[int, ...]  # of one sample, known without building the data set (the config checks nets against it)
    n_classes: int  # its classes (the toy mixtures' modes), 0 for none: known without building it, as the shape
    needs: tuple[Path, ...] = ()  # files the builder reads, where a package outside pip provides them
    install: str = ""  # the command that installs them
    outliers: str = ""  # a data set of the same shape whose held-out images are this one's anomalies (AUROCs)
    source: str = ""  # a domain pair's source domain (the data set its known map translates), "" for a single domain


DATASETS: dict[str, DatasetEntry] = {
    "ring": DatasetEntry("engine.data.toy:ring", "points", (2,), 8),
    "grid": DatasetEntry("engine.data.toy:grid", "points", (2,), 25),
    "spiral": DatasetEntry("engine.data.toy:spiral", "points", (2,), 0),
    "moons": DatasetEntry("engine.data.toy:moons", "points", (2,), 0),
    "digits": DatasetEntry("engine.data.images:digits", "images", (1, 8, 8), 10),
    "mnist": DatasetEntry("engine.data.images:mnist", "images", (1, 28, 28), 10, outliers="fashion-mnist"),
    "fashion-mnist": DatasetEntry("engine.data.images:fashion_mnist", "images", (1, 28, 28), 10,
                                  tuple(FASHION_DIR / f for f in FASHION_FILES), "apt-get install dataset-fashion-mnist",
                                  outliers="mnist"),
    "stacked-mnist": DatasetEntry("engine.data.images:stacked_mnist", "images", (3, 28, 28), 1000),
    "ring-rotated": DatasetEntry("engine.data.pairs:ring_rotated", "points", (2,), 8, source="ring"),
    "grid-scaled": DatasetEntry("engine.data.pairs:grid_scaled", "points", (2,), 25, source="grid"),
    "moons-mirrored": DatasetEntry("engine.data.pairs:moons_mirrored", "points", (2,), 0, source="moons"),
    "mnist-negative": DatasetEntry("engine.data.pairs:mnist_negative", "images", (1, 28, 28), 10, source="mnist"),
    "mnist-rot90": DatasetEntry("engine.data.pairs:mnist_rot90", "images", (1, 28, 28), 10, source="mnist"),
    "mnist-edges": DatasetEntry("engine.data.pairs:mnist_edges", "images", (1, 28, 28), 10, source="mnist"),
}
PAIRS = tuple(name for name, entry in DATASETS.items() if entry.source)


def missing(name: str) -> str | None:
    """None when the data set's sources are installed, else one line saying what is missing and how to install it."""
    entry = DATASETS[name]
    absent = [p for p in entry.needs if not p.exists()]
    if not absent:
        return None
    return f"{name} is not installed (no {absent[0]}); install it with: {entry.install}"


@lru_cache(maxsize=None)
def get_dataset(name: str):
    """The data set called `name` (built on first use; every builder is deterministic)."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown '{name}', allowed: {', '.join(DATASETS)}")
    problem = missing(name)
    if problem:
        raise ValueError(f"dataset: {problem}")
    return resolve(DATASETS[name].builder)()


__all__ = ["Batch", "DATASETS", "PAIRS", "DatasetEntry", "MODALITIES", "get_dataset", "missing"]
