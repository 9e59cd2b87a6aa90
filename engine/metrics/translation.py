"""The measures of the translation GANs (pix2pix, cyclegan) against the known map of a domain pair, pure numpy:

- `translation_errors(pred, truth)`: the L1 error, the mean absolute difference per number (a point's coordinate, an
  image's pixel, in the data's units: [-1, 1] pixels), and the L2 error, the mean over samples of the Euclidean
  distance ||pred - truth||_2 of a sample as a whole;
- `class_kept(source_classes, found)`: the share of translations in which the target domain's classifier (on points:
  the mode within 3 sigma) finds the source's class; a translation of no class counts as not kept.
Nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

# The possible values of the keys engine/variants/measures.py logs, per direction (xy: X -> Y, yx: Y -> X) and for
# both cycles (x -> y -> x and y -> x -> y), read by metrics.value_range.
TRANSLATION_RANGES = {f"translation/{kind}_{way}": (0.0, None) for kind in ("l1", "l2")
                      for way in ("xy", "yx", "cycle_x", "cycle_y")} | {"translation/class_kept": (0.0, 1.0)}


def translation_errors(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(L1 per number, mean L2 distance per sample) of predictions against the truth, row for row."""
    pred, truth = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape or pred.ndim < 2 or not len(pred):
        raise ValueError(f"predictions {pred.shape} and truths {truth.shape} must be two equal (n, ...) arrays")
    diff = (pred - truth).reshape(len(pred), -1)
    return float(np.abs(diff).mean()), float(np.sqrt((diff**2).sum(1)).mean())


def class_kept(source_classes: np.ndarray, found: np.ndarray) -> float:
    """The share of rows whose found class is the source's."""
    source_classes, found = np.asarray(source_classes), np.asarray(found)
    if source_classes.shape != found.shape or not len(found):
        raise ValueError(f"source classes {source_classes.shape} and found classes {found.shape} must be two equal "
                         "non-empty arrays")
    return float((source_classes == found).mean())
