"""What every modality's evaluation shares: its own random stream and the shape of its result."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EVAL_SEED_OFFSET = 1_000_003  # the evaluation latents and real samples use their own stream, fixed per seed


class Evaluated(NamedTuple):
    """One evaluation: the metrics, the snapshot's arrays by artifact folder (one .npz each) and its pictures by
    artifact folder (one .png each)."""

    values: dict[str, float]
    arrays: dict[str, dict[str, np.ndarray]]
    pictures: dict[str, bytes] = {}
