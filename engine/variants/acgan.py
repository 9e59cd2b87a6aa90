"""AC-GAN (Odena et al. 2017): G(z, y) with a one-hot label; D(x) with a second head that classifies x. With the
source log-likelihood L_S = E log P(S = real | x_real) + E log P(S = fake | x_fake) and the class one
L_C = E log P(C = y | x_real) + E log P(C = y | x_fake), D maximises L_S + L_C and G maximises L_C - L_S.

Here, in the catalog's convention (every loss minimised): D minimises w_S * (the adversarial loss's D term) +
w_C * (cross-entropy of the class head on the real batch's labels and on the fake batch's); G minimises
w_S * (its G term) + w_C * (cross-entropy on the fakes' labels), with w_S = ac_source_weight and
w_C = ac_class_weight. Under the minimax loss the D and G terms are -L_S and L_S exactly; the other losses put
their own source term in its place."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from engine.nets import build_nets
from engine.variants.base import Judged, JudgedByHeads, Latent
from engine.variants.cgan import ConditionalGAN
from engine.variants.measures import d_anomaly, label_measures


class ClassHeadD(nn.Module):
    """The architecture's D with a class head on the features its own head reads."""

    def __init__(self, core: nn.Module, n_classes: int):
        super().__init__()
        self.core = core
        self.classes = nn.Linear(core.head.in_features, n_classes)

    def judge(self, x: Tensor, reference: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(source scores, class logits) of the rows of x."""
        h = self.core.hidden(x, reference)
        return self.core.head(h).squeeze(-1), self.classes(h)

    def forward(self, x: Tensor, reference: Tensor | None = None) -> Tensor:
        return self.judge(x, reference)[0]


class AuxiliaryClassifierGAN(JudgedByHeads, ConditionalGAN):
    """G(z, y) against D(x) and its class head (the module docstring)."""

    def __init__(self, cfg: Any, dataset):
        super().__init__(cfg, dataset)
        self.source_weight = cfg.ac_source_weight  # the loop weights the adversarial loss by it

    def nets(self) -> tuple[nn.Module, nn.Module]:
        G, D = build_nets(self.cfg, self.dataset, g_in=self.cfg.z_dim + self.n_classes)
        return G, ClassHeadD(D, self.n_classes)

    def critic(self, D, batch):
        return D

    def d_extra(self, real: Judged, fake: Judged, batch, latent: Latent) -> Tensor:
        return self.cfg.ac_class_weight * (F.cross_entropy(real.aux, batch.y) + F.cross_entropy(fake.aux, latent.y))

    def g_extra(self, fake: Judged, latent: Latent, D, G, batch, d_input, samples: Tensor) -> Tensor:
        return self.cfg.ac_class_weight * F.cross_entropy(fake.aux, latent.y)

    def measure(self, sample, D, G, context) -> tuple[dict[str, float], dict[str, Any]]:
        values, arrays = label_measures(context)
        return {**values, **d_anomaly(D, context)}, arrays
