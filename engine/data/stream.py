"""Real minibatches for training: fresh draws each step, or a fixed set reshuffled every epoch."""

from __future__ import annotations

import torch

from engine.data.batch import Batch


class DataStream:
    """Real minibatches: fresh draws each step (n_data = 0) or a fixed set reshuffled every epoch."""

    def __init__(self, dataset, batch_size: int, n_data: int, generator: torch.Generator):
        self.dataset, self.batch_size, self.generator = dataset, batch_size, generator
        self.fixed = dataset.sample(n_data, generator) if n_data else None
        self._order, self._pos = None, 0

    def next(self) -> Batch:
        if self.fixed is None:
            return self.dataset.sample(self.batch_size, self.generator)
        if self._order is None or self._pos + self.batch_size > len(self.fixed.x):
            self._order, self._pos = torch.randperm(len(self.fixed.x), generator=self.generator), 0
        rows = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return Batch(self.fixed.x[rows], None if self.fixed.y is None else self.fixed.y[rows])
