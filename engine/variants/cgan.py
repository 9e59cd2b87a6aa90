"""cGAN (Mirza & Osindero 2014): G(z, y) and D(x, y). The label y is one-hot: concatenated to z for G; for D either
concatenated to the sample (k more numbers of a point, k constant channels of an image), or, with `projection`,
projected onto D's features (Miyato & Koyama 2018): D(x, y) = head(h(x)) + embed(y) . h(x)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from engine.nets import build_nets, sample_latent
from engine.variants.base import Judged, Latent, Unconditional, broadcast_condition, draw_labels
from engine.variants.measures import label_measures


class LabelledD(nn.Module):
    """The architecture's D judging (x, y)."""

    def __init__(self, core: nn.Module, n_classes: int, projection: bool):
        super().__init__()
        self.core, self.n_classes = core, n_classes
        self.embed = nn.Embedding(n_classes, core.head.in_features) if projection else None

    def forward(self, x: Tensor, y: Tensor, reference: Tensor | None = None) -> Tensor:
        if self.embed is None:
            one_hot = nn.functional.one_hot(y, self.n_classes)
            return self.core(broadcast_condition(x, one_hot), reference)
        h = self.core.hidden(x, reference)
        return self.core.head(h).squeeze(-1) + (self.embed(y) * h).sum(1)


class ConditionalGAN(Unconditional):
    """G(z, y) against D(x, y) (the module docstring)."""

    def nets(self) -> tuple[nn.Module, nn.Module]:
        k = self.n_classes
        G, D = build_nets(self.cfg, self.dataset, g_in=self.cfg.z_dim + k,
                          d_in_extra=0 if self.cfg.projection else k)
        return G, LabelledD(D, k, self.cfg.projection)

    def latent(self, n: int, generator: torch.Generator | None, device: torch.device,
               balanced: bool = False) -> Latent:
        z = sample_latent(n, self.cfg, generator, device)
        y = draw_labels(n, self.dataset.class_shares(), generator, balanced).to(device)
        return Latent(torch.cat([z, self.one_hot(y, device)], 1), z, y=y)

    def judge_real(self, D, G, x_in: Tensor, batch, for_g: bool = False) -> Judged:
        return Judged(D(x_in, batch.y))

    def judge_fake(self, D, x_in: Tensor, latent: Latent) -> Judged:
        return Judged(D(x_in, latent.y))

    def critic(self, D, batch):
        return lambda x: D(x, batch.y)

    def conditions(self, latent: Latent, n: int) -> dict[str, Any]:
        return {"labels": latent.y[:n].cpu().numpy()}  # interpolates between real and fake rows are judged under the real label

    def measure(self, sample, D, G, context) -> tuple[dict[str, float], dict[str, Any]]:
        return label_measures(context)
