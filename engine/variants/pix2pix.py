"""Pix2Pix (Isola et al. 2017): paired translation. G(s, z) maps a source-domain sample s to the target domain, D
judges (s, x) pairs, and G also minimises lambda E|x - G(s, z)|_1 against the paired truth x = T(s):
L_G = L_adv + lambda L1, L_D = the adversarial loss on (s, x) against (s, G(s, z)).

G is the architecture's G on [z, s flattened] (its input widened as cGAN's is by the one-hot label); D is the
architecture's D on the sample with the source beside it (two more numbers of a point, C more channels of an
image). The training pairs come from a domain pair's paired draw (engine/data/pairs.py); the evaluation's fixed
latent holds paired draws (the target domain's metrics of G's samples), and its held-out pairs are translated again
with a fixed z to score every translation against its truth (measures.translation_measures)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from engine.data import Batch
from engine.evaluation.base import EVAL_SEED_OFFSET
from engine.nets import build_nets, sample_latent
from engine.variants.base import Judged, Latent, Unconditional
from engine.variants.measures import translation_measures


class SourcedD(nn.Module):
    """The architecture's D judging (source, x): the source beside the sample along axis 1."""

    def __init__(self, core: nn.Module):
        super().__init__()
        self.core = core

    def forward(self, x: Tensor, source: Tensor) -> Tensor:
        return self.core(torch.cat([x, source], 1))


class Pix2Pix(Unconditional):
    """G(s, z) against D(s, x), plus lambda L1 to the paired truth (the module docstring)."""

    def nets(self) -> tuple[nn.Module, nn.Module]:
        shape = self.dataset.shape
        G, D = build_nets(self.cfg, self.dataset, g_in=self.cfg.z_dim + math.prod(shape), d_in_extra=shape[0])
        return G, SourcedD(D)

    def _latent_of(self, batch: Batch, generator: torch.Generator | None, device: torch.device) -> Latent:
        batch = batch.to(device)
        z = sample_latent(len(batch.source), self.cfg, generator, device)
        return Latent(torch.cat([z, batch.source.flatten(1)], 1), z, y=batch.y, source=batch.source, truth=batch.x)

    def latent_for(self, real: Batch, generator, device) -> Latent:
        return self._latent_of(real, generator, device)

    def latent(self, n: int, generator, device, balanced: bool = False) -> Latent:
        """n paired draws of the pair (the evaluation's fixed sources, with their truths and classes)."""
        return self._latent_of(self.dataset.sample(n, generator), generator, device)

    def judge_real(self, D, G, x_in: Tensor, batch: Batch, for_g: bool = False) -> Judged:
        return Judged(D(x_in, batch.source))

    def judge_fake(self, D, x_in: Tensor, latent: Latent) -> Judged:
        return Judged(D(x_in, latent.source))

    def critic(self, D, batch: Batch):
        return lambda x: D(x, batch.source)

    def g_extra(self, fake, latent: Latent, D, G, batch, d_input, samples: Tensor) -> Tensor:
        return self.cfg.l1_weight * (samples - latent.truth).abs().mean()

    def measure(self, sample, D, G, context) -> tuple[dict[str, float], dict[str, Any]]:
        noise = torch.Generator().manual_seed(self.cfg.seed + EVAL_SEED_OFFSET)  # the same z at every evaluation

        def forth(source: Tensor) -> Tensor:
            z = sample_latent(len(source), self.cfg, noise, source.device)
            return G(torch.cat([z, source.flatten(1)], 1))

        return translation_measures(context, G, forth)
