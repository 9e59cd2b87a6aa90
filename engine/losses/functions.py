"""The adversarial losses' functions (the table is engine/losses/__init__.py): pure, with one signature.

Sign convention, used everywhere in GANboard: D returns raw logits (or critic scores), higher means "more
real". A loss takes the logits on real samples and on fake samples and returns every term (the D loss, the G
loss, and D's mean output on real and on fake data in the space the dashboard reports: a probability for the
BCE losses, the raw output otherwise), so the training loop can log them all. The G loss depends on the fake
logits only, so a G step can pass detached real logits.

`real_target` is D's target for real data (1 - s under one-sided label smoothing). It only has a meaning for
the BCE and least-squares losses; the config refuses it for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class LossTerms:
    d: Tensor  # D's loss, to minimise
    g: Tensor  # G's loss, to minimise
    d_real: Tensor  # mean D output on real data (probability for BCE losses, raw otherwise)
    d_fake: Tensor  # mean D output on fake data


def _bce_d(real: Tensor, fake: Tensor, real_target: float) -> Tensor:
    # -[t log s(r) + (1 - t) log(1 - s(r))] - log(1 - s(f)), with -log s(x) = softplus(-x), -log(1 - s(x)) = softplus(x)
    real_term = real_target * F.softplus(-real) + (1 - real_target) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def minimax(real: Tensor, fake: Tensor, real_target: float = 1.0) -> LossTerms:
    # G minimises log(1 - s(f)) = -softplus(f): the original, saturating objective.
    return LossTerms(_bce_d(real, fake, real_target), -F.softplus(fake).mean(),
                     torch.sigmoid(real).mean(), torch.sigmoid(fake).mean())


def non_saturating(real: Tensor, fake: Tensor, real_target: float = 1.0) -> LossTerms:
    # G minimises -log s(f) = softplus(-f).
    return LossTerms(_bce_d(real, fake, real_target), F.softplus(-fake).mean(),
                     torch.sigmoid(real).mean(), torch.sigmoid(fake).mean())


def hinge(real: Tensor, fake: Tensor, real_target: float = 1.0) -> LossTerms:
    # D: E[max(0, 1 - r)] + E[max(0, 1 + f)]; G: -E[f].
    return LossTerms(F.relu(1 - real).mean() + F.relu(1 + fake).mean(), -fake.mean(), real.mean(), fake.mean())


def wasserstein(real: Tensor, fake: Tensor, real_target: float = 1.0) -> LossTerms:
    # The critic maximises E[r] - E[f]; G maximises E[f].
    return LossTerms(fake.mean() - real.mean(), -fake.mean(), real.mean(), fake.mean())


def least_squares(real: Tensor, fake: Tensor, real_target: float = 1.0) -> LossTerms:
    # Mao et al. with a = 0, b = 1, c = 1: D: 1/2 E[(r - b)^2] + 1/2 E[(f - a)^2]; G: 1/2 E[(f - c)^2].
    # Its optimal D is p_data / (p_data + p_g), so the raw output is already comparable with D*.
    return LossTerms(0.5 * ((real - real_target) ** 2).mean() + 0.5 * (fake**2).mean(), 0.5 * ((fake - 1) ** 2).mean(),
                     real.mean(), fake.mean())


LossFn = Callable[..., LossTerms]


def as_probability(d_output: str, outputs: Tensor) -> Tensor | None:
    """D's outputs as P(real | x) for a loss whose D has `d_output` (engine.losses.D_OUTPUTS), None for a critic."""
    if d_output == "logit":
        return torch.sigmoid(outputs)
    if d_output == "probability":
        return outputs.clamp(0.0, 1.0)  # lsgan's raw output already targets p_data / (p_data + p_g)
    return None
