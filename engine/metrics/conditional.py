"""The measures of the conditional and inference GANs (engine/variants), pure numpy on labels and scores:

- `confusion`: the label x found-class table of a conditional G's samples (a last column for samples of no class:
  on points, those farther than 3 sigma from every mode), and `label_accuracy`, each label's share found as itself;
- `info_bound`: InfoGAN's variational lower bound on I(c; G(z, c)), H(c) - CE(c, Q), in nats;
- `matched_accuracy`: the share of samples whose code maps to their class under the best one-to-one matching of
  codes to classes (the Hungarian method, scipy), so that InfoGAN's arbitrary numbering of codes does not count;
- `auroc`: the area under the ROC curve of an anomaly score (scikit-learn), anomalies the positive class.
Nothing here imports torch.
"""

from __future__ import annotations

import math

import numpy as np

# The possible values of the variants' metric keys (engine/variants/measures.py), read by metrics.value_range: the
# bound is at most H(c) = ln K, which depends on the run's code, so it is left open.
CONDITIONAL_RANGES = {"metric/label_accuracy": (0.0, 1.0), "metric/code_accuracy": (0.0, 1.0),
                      "metric/info_bound": (None, None), "metric/info_entropy": (0.0, None),
                      "metric/recon_error": (0.0, None), "metric/recon_same_class": (0.0, 1.0),
                      "anomaly/d_auroc": (0.0, 1.0), "anomaly/recon_auroc": (0.0, 1.0)}


def confusion(labels: np.ndarray, found: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K + 1) counts: row the label G was given, column the class found in its sample (K: none)."""
    labels, found = np.asarray(labels, dtype=np.int64), np.asarray(found, dtype=np.int64)
    if labels.shape != found.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and found classes {found.shape} must be two equal 1-D arrays")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes or found.min() < 0 or found.max() > n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1} and found classes in 0..{n_classes}")
    table = np.zeros((n_classes, n_classes + 1), dtype=np.int64)
    np.add.at(table, (labels, found), 1)
    return table


def label_accuracy(table: np.ndarray) -> np.ndarray:
    """Each label's share of samples found as that label (NaN for a label with no samples)."""
    rows = table.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(table[:, :table.shape[0]]) / np.maximum(rows, 1), math.nan)


def info_bound(log_q: np.ndarray, codes: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
    """(H(c) - E[-log Q(c | x)], H(c)) in nats, for codes drawn from `prior` and Q's log-probabilities log_q
    (n, K) of the samples made from them. The bound is <= I(c; x) <= H(c), with equality when Q is the posterior
    and the code is recoverable: a perfect Q (log Q(c | x) = 0) gives H(c)."""
    prior = np.asarray(prior, dtype=np.float64)
    p = prior[prior > 0]
    entropy = float(-(p * np.log(p)).sum())
    cross_entropy = float(-np.asarray(log_q, dtype=np.float64)[np.arange(len(codes)), codes].mean())
    return entropy - cross_entropy, entropy


def matched_accuracy(codes: np.ndarray, found: np.ndarray, n_codes: int, n_classes: int) -> float:
    """The share of samples whose code is matched to their found class under the best one-to-one matching of
    codes to classes; found = n_classes (no class) never matches. With more codes than classes the extra codes
    stay unmatched (and count as wrong), and likewise classes."""
    from scipy.optimize import linear_sum_assignment  # here: the ranges above are read without scipy

    table = np.zeros((n_codes, n_classes + 1), dtype=np.int64)
    np.add.at(table, (np.asarray(codes, dtype=np.int64), np.asarray(found, dtype=np.int64)), 1)
    rows, cols = linear_sum_assignment(table[:, :n_classes], maximize=True)
    return float(table[rows, cols].sum() / max(len(codes), 1))


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """P(score of an anomaly > score of a normal sample), ties counting half: 1 when the scores separate them."""
    from sklearn.metrics import roc_auc_score  # here: the ranges above are read without scikit-learn

    normal, anomalous = np.asarray(normal, dtype=np.float64), np.asarray(anomalous, dtype=np.float64)
    if not (np.isfinite(normal).all() and np.isfinite(anomalous).all()):
        return math.nan
    y = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return float(roc_auc_score(y, np.r_[normal, anomalous]))
