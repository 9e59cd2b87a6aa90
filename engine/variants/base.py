"""The plain GAN, G(z) against D(x), as the variant every other one extends; and what they all pass around.

A variant holds no state that training changes: its nets are built once by `nets()` and live in the Trainer (their
parameters in G's and D's optimisers, their weights in the checkpoint), so a variant is a function of the config
and the data set alone, and the dashboard rebuilds it to sample a checkpoint.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.data import Batch
from engine.losses import LOSSES
from engine.nets import build_nets, sample_latent


class Latent(NamedTuple):
    """What G takes for one batch, and its parts."""

    g_in: Tensor  # G's input: z, then the one-hot label or the codes
    z: Tensor  # the noise
    y: Tensor | None = None  # (n,) labels G is conditioned on (cgan, acgan)
    cat: Tensor | None = None  # (n,) InfoGAN's categorical code
    cont: Tensor | None = None  # (n, k) InfoGAN's continuous codes
    source: Tensor | None = None  # (n, *shape) what a translation G translates (pix2pix, cyclegan)
    truth: Tensor | None = None  # (n, *shape) its true translation, where the draw was paired; else None


class Judged(NamedTuple):
    """D's raw scores of a batch (higher is more real, engine/losses) and what its extra head says."""

    score: Tensor
    aux: Any = None


class JudgedByHeads:
    """For a variant whose D judges x alone and has a second head (AC-GAN's classes, InfoGAN's Q): D.judge(x) gives
    (scores, what the head says) in one pass."""

    def judge_real(self, D, G, x_in: Tensor, batch: Batch, for_g: bool = False) -> Judged:
        return Judged(*D.judge(x_in))

    def judge_fake(self, D, x_in: Tensor, latent: Latent) -> Judged:
        return Judged(*D.judge(x_in))


def draw_labels(n: int, shares: np.ndarray, generator: torch.Generator | None, balanced: bool) -> Tensor:
    """n labels: drawn from the data's class shares, or, balanced, 0, 1, ..., K-1 over and over (the evaluation's:
    every label gets the same number of samples)."""
    k = len(shares)
    if balanced:
        return torch.arange(n) % k
    return torch.multinomial(torch.as_tensor(shares, dtype=torch.float64), n, replacement=True, generator=generator)


def broadcast_condition(x: Tensor, condition: Tensor) -> Tensor:
    """x with a (n, k) condition appended along axis 1: k more numbers of a flat sample, k more constant channels
    of an image."""
    trailing = x.shape[2:]
    c = condition.to(x.dtype).view(*condition.shape, *[1] * len(trailing)).expand(*condition.shape, *trailing)
    return torch.cat([x, c], dim=1)


def opposite(d_output: str, outputs: Tensor) -> Tensor:
    """D's outputs as those of the opposite class: a loss's G term on them pushes a pair towards "fake" (BiGAN's
    encoder side). A logit or a score changes sign; a probability p becomes 1 - p."""
    return 1.0 - outputs if d_output == "probability" else -outputs


class Unconditional:
    """G(z) against D(x): the catalog's GAN; every loss, penalty and trick applies."""

    def __init__(self, cfg: Any, dataset):
        self.cfg, self.dataset = cfg, dataset
        self.loss = LOSSES[cfg.loss]
        self.n_classes = dataset.n_classes
        self.source_weight = 1.0  # of the adversarial loss in both nets' objectives (AC-GAN's w_S)

    # ----- nets and inputs -----
    def nets(self) -> tuple[nn.Module, nn.Module]:
        return build_nets(self.cfg, self.dataset)

    def latent(self, n: int, generator: torch.Generator | None, device: torch.device,
               balanced: bool = False) -> Latent:
        z = sample_latent(n, self.cfg, generator, device)
        return Latent(z, z)

    def latent_for(self, real: Batch, generator: torch.Generator | None, device: torch.device) -> Latent:
        """G's input for a training step on this real batch: a fresh latent, which a translation variant makes of
        the batch's sources instead."""
        return self.latent(self.cfg.batch_size, generator, device)

    # ----- what a real batch is -----
    def draw(self, n: int, generator: torch.Generator | None) -> Batch:
        """n real rows for training: the data set's own draw (a domain pair's: paired)."""
        return self.dataset.sample(n, generator)

    def real(self, batch: Batch) -> Batch:
        """The drawn batch as D takes it (CycleGAN stacks its two domains)."""
        return batch

    def one_hot(self, y: Tensor, device: torch.device) -> Tensor:
        return F.one_hot(y.to(device), self.n_classes).float()

    # ----- D's judgements -----
    def judge_real(self, D: nn.Module, G: nn.Module, x_in: Tensor, batch: Batch, for_g: bool = False) -> Judged:
        """D on a real batch as D sees it (x_in: noised, packed); for_g when G's step asks (BiGAN's encoder)."""
        return Judged(D(x_in))

    def judge_fake(self, D, x_in: Tensor, latent: Latent) -> Judged:
        """D (or D unrolled: any callable) on G's batch made from `latent`."""
        return Judged(D(x_in))

    def critic(self, D: nn.Module, batch: Batch):
        """D as a function of x alone, for a gradient penalty on this step's real batch."""
        return D

    # ----- the variant's terms -----
    def d_extra(self, real: Judged, fake: Judged, batch: Batch, latent: Latent) -> Tensor | float:
        return 0.0

    def g_extra(self, fake: Judged, latent: Latent, D: nn.Module, G: nn.Module, batch: Batch,
                d_input: Callable[[Tensor], Tensor], samples: Tensor) -> Tensor | float:
        """G's extra terms; d_input(x) is what D sees of a real x (noised, packed), called only by a variant that
        needs the real batch (BiGAN's encoder side), so that the others draw no extra noise; samples is G's batch
        (the translations that pix2pix's L1 and CycleGAN's cycle compare with the truth and the sources)."""
        return 0.0

    # ----- what it logs and measures at every evaluation -----
    def conditions(self, latent: Latent, n: int) -> dict[str, np.ndarray]:
        """What the first n rows of a latent condition G's samples on, for the samples snapshot (the Gallery's view
        by label or code): cgan's and acgan's `labels`, infogan's `codes`; nothing for the plain GAN."""
        return {}

    def measure(self, G_sample, D: nn.Module, G: nn.Module, context) -> tuple[dict[str, float], dict[str, dict]]:
        """(metrics, arrays by artifact folder) of the variant's own; the plain GAN has none."""
        return {}, {}
