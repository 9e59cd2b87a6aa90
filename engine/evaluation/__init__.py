"""What an evaluation of a run is, per modality: what its snapshot holds and which metrics run. A modality's
evaluation is a registry entry (EVALUATIONS) built from the config and the data set, with

- `baseline() -> (values, tags)`: what is logged once per run, before training (the image track's classifier key
  and accuracy, the real data's own scores);
- `run(D, sample, G) -> Evaluated`: the metrics of G's samples (`sample(z)` gives G's, or its EMA's, output as
  numpy; G is that module) and the snapshot: arrays and pictures by artifact folder (tracking.SNAPSHOT_FOLDERS),
  with the variant's own measures (engine/variants/measures.py) on what the modality gives them (a Context).

points.py: the samples, D and D* on the data plane's grid, every toy metric (and the one D-on-points function the
dashboard's checkpoint sampling shares). images.py: a fixed-latent grid of samples, the class histogram, the
classifier-based metrics against held-out real images.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.config import TrainConfig
from engine.evaluation.base import EVAL_SEED_OFFSET, Evaluated
from engine.evaluation.points import (
    EVAL_CHUNK,
    PointsEvaluation,
    d_at,
    eval_stream,
    reference_note,
)
from engine.lazy import resolve

EVALUATIONS: dict[str, str] = {"points": "engine.evaluation.points:PointsEvaluation",
                               "images": "engine.evaluation.images:ImagesEvaluation"}


def evaluation_for(cfg: TrainConfig, dataset, device: torch.device) -> Any:
    """The evaluation of the data set's modality, its fixed batches drawn."""
    return resolve(EVALUATIONS[dataset.modality])(cfg, dataset, device)


__all__ = ["EVALUATIONS", "EVAL_CHUNK", "EVAL_SEED_OFFSET", "Evaluated", "PointsEvaluation", "d_at", "eval_stream",
           "evaluation_for", "reference_note"]
