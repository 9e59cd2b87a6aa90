"""Real minibatches for training: fresh draws each step, or a fixed set reshuffled every epoch; what a draw is
(`draw(n, generator) -> Batch`) is the variant's to say: the data set's own `sample`, or a domain pair's unpaired
draw for CycleGAN."""

from __future__ import annotations

from typing import Callable

import torch

from engine.data.batch import Batch


class DataStream:
    """Real minibatches: fresh draws each step (n_data = 0) or a fixed set reshuffled every epoch."""

    def __init__(self, dataset, batch_size: int, n_data: int, generator: torch.Generator,
                 draw: Callable[[int, torch.Generator], Batch] | None = None):
        self.draw = draw or dataset.sample
        self.batch_size, self.generator = batch_size, generator
        self.fixed = self.draw(n_data, generator) if n_data else None
        self._order, self._pos = None, 0

    def next(self) -> Batch:
        if self.fixed is None:
            return self.draw(self.batch_size, self.generator)
        if self._order is None or self._pos + self.batch_size > len(self.fixed.x):
            self._order, self._pos = torch.randperm(len(self.fixed.x), generator=self.generator), 0
        rows = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return Batch(*(None if part is None else part[rows] for part in self.fixed))
