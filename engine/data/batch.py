"""A labelled batch: what every data set's `sample` returns and what the training loop passes around."""

from __future__ import annotations

from typing import Any, NamedTuple


class Batch(NamedTuple):
    x: Any  # (n, *shape) float32 tensor
    y: Any = None  # (n,) int64 class labels, None where the data set has no classes
    source: Any = None  # (n, *shape) a domain pair's source-domain samples (engine/data/pairs.py): x's own, mapped
    # into x by the pair's known map (a paired draw), or drawn independently of x (an unpaired draw); else None

    def to(self, device) -> "Batch":
        """Every part on `device` (the parts that are there)."""
        return Batch(*(None if part is None else part.to(device) for part in self))
