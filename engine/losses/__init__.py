"""The adversarial losses: one table, name -> Loss. The functions themselves (torch) are in functions.py.

Sign convention, used everywhere in GANboard: D returns raw outputs, higher means "more real". What those
outputs are is the loss's `d_output`:
- "logit": sigmoid(D) estimates P(real | x) (the BCE losses, minimax and ns); the logged d/real and d/fake are
  sigmoid means, so probabilities, and the D loss is log 4 at the equilibrium D = 1/2;
- "probability": D itself estimates P(real | x) (least squares with targets 0 / 1, whose optimum is
  p_data / (p_data + p_g), Mao et al. 2017, Prop. 1); its logged outputs are raw means;
- "score": an unbounded critic (hinge, Wasserstein), no probability at all.
Adding a loss is one function in functions.py, one row here and one row of tests/test_losses.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.lazy import resolve

D_OUTPUTS = ("logit", "probability", "score")


@dataclass(frozen=True)
class Loss:
    """One adversarial loss: its function (a name in functions.py, resolved on first use) and what D outputs."""

    function: Any
    d_output: str  # one of D_OUTPUTS
    real_target: bool  # D has a target for real data, so one-sided label smoothing applies

    @property
    def fn(self):
        """(real outputs, fake outputs, real_target) -> functions.LossTerms."""
        return resolve(self.function if callable(self.function) else f"engine.losses.functions:{self.function}")

    @property
    def probability(self) -> bool:
        """D estimates P(real | x), so that it can be set beside D* = p_data / (p_data + p_g)."""
        return self.d_output != "score"

    @property
    def sigmoid(self) -> bool:
        """D outputs a logit: the logged D outputs are probabilities and the BCE D loss is log 4 at equilibrium."""
        return self.d_output == "logit"


LOSSES: dict[str, Loss] = {
    "minimax": Loss("minimax", "logit", True),
    "ns": Loss("non_saturating", "logit", True),
    "hinge": Loss("hinge", "score", False),
    "wgan": Loss("wasserstein", "score", False),
    "lsgan": Loss("least_squares", "probability", True),
}

PROBABILITY_D = tuple(name for name, loss in LOSSES.items() if loss.probability)  # minimax, ns, lsgan
SIGMOID_D = tuple(name for name, loss in LOSSES.items() if loss.sigmoid)  # minimax, ns
REAL_TARGET = tuple(name for name, loss in LOSSES.items() if loss.real_target)  # minimax, ns, lsgan


def d_probability(loss: str, outputs):
    """D's outputs as an estimate of P(real | x), comparable with D*, or None where D is not a probability."""
    from engine.losses.functions import as_probability

    return as_probability(LOSSES[loss].d_output, outputs)
