"""InfoGAN (Chen et al. 2016): G(z, c) with a categorical code (info_cat values, one-hot; 0 means as many as the
data's classes) and info_cont continuous codes uniform on [-1, 1]; a head Q on D's body predicts c from x. The
variational bound L_I = E log Q(c | G(z, c)) + H(c) <= I(c; G(z, c)) is maximised by Q (and D's body) in D's step
and by G in G's step: both add lambda * (-E log Q) to their loss, the categorical code's cross-entropy weighted by
info_cat_weight and the continuous codes' Gaussian negative log-likelihood with unit variance (1/2 |c - mu|^2, up
to a constant) by info_cont_weight."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.nets import build_nets, sample_latent
from engine.variants.base import Judged, JudgedByHeads, Latent, Unconditional, draw_labels
from engine.variants.measures import info_measures


def n_codes(cfg: Any, dataset) -> int:
    """Values of the categorical code: info_cat, or the data's classes when it is 0."""
    return cfg.info_cat or dataset.n_classes


class QHeadD(nn.Module):
    """The architecture's D with Q's head on the features its own head reads: categorical logits, continuous means."""

    def __init__(self, core: nn.Module, n_cat: int, n_cont: int):
        super().__init__()
        self.core, self.n_cat = core, n_cat
        self.q = nn.Linear(core.head.in_features, n_cat + n_cont)

    def judge(self, x: Tensor, reference: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h = self.core.hidden(x, reference)
        q = self.q(h)
        return self.core.head(h).squeeze(-1), (q[:, :self.n_cat], q[:, self.n_cat:])

    def forward(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        return self.judge(x, reference)[0]


def info_loss(q: tuple[Tensor, Tensor], latent: Latent, cat_weight: float, cont_weight: float) -> Tensor:
    """-E log Q(c | x) weighted: cross-entropy of the categorical code plus 1/2 |c - mu|^2 of the continuous ones."""
    logits, mean = q
    loss = cat_weight * F.cross_entropy(logits, latent.cat)
    if latent.cont is not None and latent.cont.shape[1]:
        loss = loss + cont_weight * 0.5 * (latent.cont - mean).pow(2).sum(1).mean()
    return loss


class InfoGAN(JudgedByHeads, Unconditional):
    """G(z, c) against D(x) with Q's head (the module docstring)."""

    def __init__(self, cfg: Any, dataset):
        super().__init__(cfg, dataset)
        self.n_cat, self.n_cont = n_codes(cfg, dataset), cfg.info_cont

    def nets(self) -> tuple[nn.Module, nn.Module]:
        G, D = build_nets(self.cfg, self.dataset, g_in=self.cfg.z_dim + self.n_cat + self.n_cont)
        return G, QHeadD(D, self.n_cat, self.n_cont)

    def latent(self, n: int, generator: torch.Generator | None, device: torch.device,
               balanced: bool = False) -> Latent:
        z = sample_latent(n, self.cfg, generator, device)
        cat = draw_labels(n, torch.full((self.n_cat,), 1.0 / self.n_cat).numpy(), generator, balanced).to(device)
        cont = (torch.rand(n, self.n_cont, generator=generator) * 2 - 1).to(device)
        g_in = torch.cat([z, F.one_hot(cat, self.n_cat).float(), cont], 1)
        return Latent(g_in, z, cat=cat, cont=cont)

    def conditions(self, latent: Latent, n: int) -> dict[str, Any]:
        return {"codes": latent.cat[:n].cpu().numpy()}

    def d_extra(self, real: Judged, fake: Judged, batch, latent: Latent) -> Tensor:
        return info_loss(fake.aux, latent, self.cfg.info_cat_weight, self.cfg.info_cont_weight)

    def g_extra(self, fake: Judged, latent: Latent, D, G, batch, d_input, samples: Tensor) -> Tensor:
        return info_loss(fake.aux, latent, self.cfg.info_cat_weight, self.cfg.info_cont_weight)

    def measure(self, sample, D, G, context) -> tuple[dict[str, float], dict[str, Any]]:
        return info_measures(D, self.n_cat, context)
