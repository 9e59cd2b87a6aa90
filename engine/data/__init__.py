"""The data sets: one registry, name -> DatasetEntry. Each data set is an object that knows its modality
("points" today), the shape of one sample, its classes, its exact density where it has one, and
`sample(n, generator) -> Batch(x, y)`.

Modalities and their members: points, toy.py (ring-8 and grid-25 of toy-protocol.md, spiral, moons). A new data set
is its builder in the file of its modality plus a row here. The registry is read without importing torch (the
config's allowed values, the dashboard); `get_dataset` builds a data set once and keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from engine.data.batch import Batch
from engine.lazy import resolve

MODALITIES = ("points",)


@dataclass(frozen=True)
class DatasetEntry:
    builder: str  # "module:function" returning the data set
    modality: str  # one of MODALITIES


DATASETS: dict[str, DatasetEntry] = {
    "ring": DatasetEntry("engine.data.toy:ring", "points"),
    "grid": DatasetEntry("engine.data.toy:grid", "points"),
    "spiral": DatasetEntry("engine.data.toy:spiral", "points"),
    "moons": DatasetEntry("engine.data.toy:moons", "points"),
}


@lru_cache(maxsize=None)
def get_dataset(name: str):
    """The data set called `name` (built on first use; every builder is deterministic)."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown '{name}', allowed: {', '.join(DATASETS)}")
    return resolve(DATASETS[name].builder)()


__all__ = ["Batch", "DATASETS", "DatasetEntry", "MODALITIES", "get_dataset"]
