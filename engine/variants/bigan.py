"""BiGAN (Donahue et al. 2017) / ALI (Dumoulin et al. 2017): an encoder E maps data to latents, and D judges
joint pairs: (x, E(x)) for real data against (G(z), z) for generated. D minimises the adversarial loss's D term
with (x, E(x)) as "real"; G and E minimise its G term from either side: G's fakes towards "real", E's pairs towards
"fake" (the term on D's opposite outputs, base.opposite), which for the minimax loss is -(D's term) exactly.

E is the architecture's D body with a linear map to z_dim; it lives inside G's module (G.encode), so that it
trains with G's optimiser, is averaged with G under EMA and is saved with G in the checkpoint. D's x path is the
architecture's D body; z goes through one hidden layer; a joint layer reads both (D(x, z) must judge the pairing,
which a sum of a score of x and one of z could not)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engine.nets import build_nets
from engine.variants.base import Judged, Latent, Unconditional, opposite
from engine.variants.measures import bigan_measures

JOINT_WIDTH = 256  # units of D's z path and of its joint layer


def _headless(core: nn.Module) -> int:
    """Drop the architecture's D head (a head nothing reads would leave parameters without gradients); its width."""
    width = core.head.in_features
    core.head = nn.Identity()
    return width


class EncodedG(nn.Module):
    """G (z -> x) and the encoder E (x -> z) as one module."""

    def __init__(self, G: nn.Module, body: nn.Module, z_dim: int):
        super().__init__()
        self.G, self.body = G, body
        self.to_z = nn.Linear(_headless(body), z_dim)

    def forward(self, z: Tensor) -> Tensor:
        return self.G(z)

    def encode(self, x: Tensor) -> Tensor:
        return self.to_z(self.body.hidden(x))


class JointD(nn.Module):
    """D(x, z): the architecture's D body on x, a hidden layer on z, a joint hidden layer on both, one score."""

    def __init__(self, core: nn.Module, z_dim: int, spectral: bool):
        super().__init__()
        self.core = core
        width = _headless(core)
        self.z_path = nn.Sequential(nn.Linear(z_dim, JOINT_WIDTH), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(nn.Linear(width + JOINT_WIDTH, JOINT_WIDTH), nn.LeakyReLU(0.2),
                                   nn.Linear(JOINT_WIDTH, 1))
        if spectral:  # D's own layers are already normalised by the architecture
            for layer in [*self.z_path, *self.joint]:
                if isinstance(layer, nn.Linear):
                    spectral_norm(layer)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.joint(torch.cat([self.core.hidden(x), self.z_path(z)], 1)).squeeze(-1)


class BiGAN(Unconditional):
    """G(z) and E(x) against D(x, z) (the module docstring)."""

    def nets(self) -> tuple[nn.Module, nn.Module]:
        G, D = build_nets(self.cfg, self.dataset)
        _, body = build_nets(self.cfg, self.dataset)  # E: a second D body of its own
        return EncodedG(G, body, self.cfg.z_dim), JointD(D, self.cfg.z_dim, self.cfg.spectral_norm)

    def judge_real(self, D, G, x_in: Tensor, batch, for_g: bool = False) -> Judged:
        z = G.encode(x_in)
        return Judged(D(x_in, z if for_g else z.detach()))

    def judge_fake(self, D, x_in: Tensor, latent: Latent) -> Judged:
        return Judged(D(x_in, latent.z))

    def g_extra(self, fake: Judged, latent: Latent, D, G, batch, d_input, samples: Tensor) -> Tensor:
        real = self.judge_real(D, G, d_input(batch.x), batch, for_g=True).score
        return self.loss.fn(real.detach(), opposite(self.loss.d_output, real), 1.0).g

    def measure(self, sample, D, G, context) -> tuple[dict[str, float], dict[str, Any]]:
        return bigan_measures(D, G, context)
