"""A labelled batch: what every data set's `sample` returns and what the training loop passes around."""

from __future__ import annotations

from typing import Any, NamedTuple


class Batch(NamedTuple):
    x: Any  # (n, *shape) float32 tensor
    y: Any = None  # (n,) int64 class labels, None where the data set has no classes
