"""Image metrics, exactly as image-protocol.md defines them, on what the data set's classifier (engine/classifier.py)
reads off the images: log p(y | x) and penultimate features. Pure functions of numpy arrays; torch (through
torchmetrics) is imported only inside the two that use it.

- Inception Score (Salimans et al. 2016): torchmetrics' InceptionScore, fed the classifier's log-probabilities:
  the N samples are shuffled (with a fixed seed), cut into 10 splits, exp(E KL(p(y|x) || p(y))) computed on each
  with p(y) that split's mean, and the mean and std over splits reported (the reference code's convention; the mean
  of exp over splits is slightly biased against the exp of a mean).
- FID (Heusel et al. 2017): frechet.py's Frechet distance on the features, with the same N real and generated.
- KID (Binkowski et al. 2018): torchmetrics' KernelInceptionDistance: the unbiased MMD^2 with the kernel
  (a.b / d + 1)^3, d the feature dimension, averaged over 100 random subsets (fixed seed); mean and std.
- precision / recall (k = 3) and density / coverage (k = 5): knn.py's, in the feature space.
- classes: the histogram of argmax p(y | x); classes covered (at least one sample) and KL(p_hat || p_data) of the
  class shares, in nats. On stacked-mnist the classes are the 1,000 (d0, d1, d2) modes and p_data is uniform, so
  these are the papers' modes covered and KL to uniform.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from engine.metrics.frechet import frechet_of
from engine.metrics.knn import (
    K_DC,
    K_PR,
    feature_density_coverage,
    feature_precision_recall,
)

IS_SPLITS = 10
KID_SUBSETS = 100
METRIC_SEED = 0  # the shuffles of IS's splits and KID's subsets


def _identity_metric(metric_class, **kwargs):
    """A torchmetrics image metric whose "feature network" passes its input through: our classifier has already
    produced the features. Its notice that it keeps features in memory is no news here and is silenced."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        return metric_class(feature=torch.nn.Identity(), **kwargs)


def inception_score(log_probs: np.ndarray, splits: int = IS_SPLITS) -> tuple[float, float]:
    """(mean, std over splits) of exp(E_x KL(p(y|x) || p(y))) from per-sample log-probabilities (N, K)."""
    import torch
    from torchmetrics.image.inception import InceptionScore

    metric = _identity_metric(InceptionScore, splits=splits)
    # log-probabilities are logits of the same softmax; float32 as they come: stacked-mnist's are 26,000 x 1,000
    # a class no sample gives any float32 mass makes torchmetrics' p (log p - log p(y)) 0 * inf = NaN: floor the
    # log-probabilities at -80 (a share of 1.8e-35, invisible in the score) so that 0 log 0 counts as 0
    metric.update(torch.as_tensor(log_probs).clamp_min(-80.0))
    with torch.random.fork_rng():
        torch.manual_seed(METRIC_SEED)
        mean, std = metric.compute()
    return float(mean), float(std)


def kernel_distance(real: np.ndarray, fake: np.ndarray, subset_size: int, subsets: int = KID_SUBSETS
                    ) -> tuple[float, float]:
    """(mean, std over subsets) of the unbiased MMD^2 with kernel (a.b / d + 1)^3 between feature sets."""
    import torch
    from torchmetrics.image.kid import KernelInceptionDistance

    metric = _identity_metric(KernelInceptionDistance, subsets=subsets, subset_size=subset_size)
    metric.update(torch.as_tensor(real, dtype=torch.float64), real=True)
    metric.update(torch.as_tensor(fake, dtype=torch.float64), real=False)
    with torch.random.fork_rng():
        torch.manual_seed(METRIC_SEED)
        mean, std = metric.compute()
    return float(mean), float(std)


def class_stats(log_probs: np.ndarray, data_shares: np.ndarray) -> dict[str, float]:
    """Classes covered by argmax p(y|x) and KL(p_hat || p_data) in nats."""
    counts = np.bincount(np.asarray(log_probs).argmax(1), minlength=len(data_shares))
    p_hat = counts / counts.sum()
    seen = p_hat > 0
    return {"metric/classes": float(seen.sum()),
            "metric/class_kl": float((p_hat[seen] * np.log(p_hat[seen] / data_shares[seen])).sum())}


def image_metrics(log_probs: np.ndarray, features: np.ndarray, real_features: np.ndarray,
                  data_shares: np.ndarray, kid_subset: int) -> dict[str, float]:
    """Every image metric of generated samples: IS and classes on all of `log_probs`; FID, KID and the k-NN metrics
    on the first len(real_features) of `features` against `real_features` (the same N on both sides)."""
    n = len(real_features)
    if len(features) < n:
        raise ValueError(f"image metrics: {len(features)} generated feature rows for {n} real ones")
    fake = np.asarray(features[:n], np.float64)
    real = np.asarray(real_features, np.float64)
    is_mean, is_std = inception_score(log_probs)
    kid_mean, kid_std = kernel_distance(real, fake, kid_subset)
    precision, recall = feature_precision_recall(real, fake, K_PR)
    density, coverage = feature_density_coverage(real, fake, K_DC)
    return {"metric/is": is_mean, "metric/is_std": is_std, "metric/fid": frechet_of(real, fake),
            "metric/kid": kid_mean, "metric/kid_std": kid_std, "metric/precision": precision,
            "metric/recall": recall, "metric/density": density, "metric/coverage": coverage,
            **class_stats(log_probs, data_shares)}


def _n_classes(dataset) -> float:
    return float(dataset.n_classes)


def _ln_inverse_smallest_share(dataset) -> float:
    return -math.log(float(np.min(dataset.class_shares())))  # KL(p_hat || p) is largest with all mass on the rarest


IMAGE_KEYS = ("metric/is", "metric/is_std", "metric/fid", "metric/kid", "metric/kid_std", "metric/precision",
              "metric/recall", "metric/density", "metric/coverage", "metric/classes", "metric/class_kl")
# KID's unbiased estimate can dip below 0 when the sets are alike: its range is not clipped at 0
IMAGE_RANGES = {"metric/is": (1.0, _n_classes), "metric/is_std": (0.0, None), "metric/fid": (0.0, None),
                "metric/kid": (None, None), "metric/kid_std": (0.0, None), "metric/precision": (0.0, 1.0),
                "metric/recall": (0.0, 1.0), "metric/density": (0.0, None), "metric/coverage": (0.0, 1.0),
                "metric/classes": (0.0, _n_classes), "metric/class_kl": (0.0, _ln_inverse_smallest_share)}
