"""The `sagan` architecture (Zhang et al. 2019): DCGAN-shaped nets with a self-attention block in both.

G: z -> a linear projection to the base side's maps, BatchNorm, ReLU; `conv_stages` transposed convolutions
(kernel 4, stride 2) with BatchNorm and ReLU, each doubling the side; a 3 x 3 convolution to the image's channels
and tanh. D: a 3 x 3 convolution at the image's side, then `conv_stages` strided convolutions (kernel 4, stride
2), LeakyReLU(0.1), no BatchNorm; a linear head on the flattened maps.

The self-attention block (engine/nets/blocks.py: x + gamma * attention, gamma from 0) follows G's stage
`attention_stage` (side base * 2^k: 14 x 14 of 28 x 28 images at 1) and sits at the same side in D. Spectral
normalisation: D's with `spectral_norm`, G's with `g_spectral_norm` (the paper normalises both); its preset adds
the hinge loss and TTUR.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from engine.config import TrainConfig
from engine.nets.blocks import SelfAttention, side_at, spectral_norm_all, widths
from engine.nets.layers import ScoringD, init_weights


class Generator(nn.Module):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], g_in: int | None = None):
        super().__init__()
        channels, height, width = shape
        s = cfg.conv_stages
        ch = widths(cfg.g_channels, s)
        self.base = side_at((height, width), s, 0)
        self.project = nn.Sequential(nn.Linear(g_in or cfg.z_dim, ch[0] * math.prod(self.base), bias=False),
                                     nn.BatchNorm1d(ch[0] * math.prod(self.base)), nn.ReLU())
        layers: list[nn.Module] = []
        for level in range(1, s + 1):
            layers += [nn.ConvTranspose2d(ch[level - 1], ch[level], 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(ch[level]), nn.ReLU()]
            if level == cfg.attention_stage:
                layers.append(SelfAttention(ch[level]))
        layers += [nn.Conv2d(ch[s], channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self, cfg.g_init, cfg.init_std, cfg.init_gain)
        if cfg.g_spectral_norm:
            spectral_norm_all(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(z.shape[0], -1, *self.base))


class Discriminator(ScoringD):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], d_in_extra: int = 0):
        super().__init__()
        channels, height, width = shape
        s = cfg.conv_stages
        ch = widths(cfg.d_channels, s)  # ch[s] at the image's side
        layers: list[nn.Module] = [nn.Conv2d(channels * cfg.pack + d_in_extra, ch[s], 3, padding=1),
                                   nn.LeakyReLU(0.1)]
        for level in range(s, -1, -1):  # at `level`'s side: attention, then down to the level below
            if cfg.attention_stage and level == cfg.attention_stage:
                layers.append(SelfAttention(ch[level]))
            if level > 0:
                layers += [nn.Conv2d(ch[level], ch[level - 1], 4, stride=2, padding=1), nn.LeakyReLU(0.1)]
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.attach_head(cfg, ch[0] * math.prod(side_at((height, width), s, 0)))


def build(cfg: TrainConfig, shape: tuple[int, ...], g_in: int | None = None,
          d_in_extra: int = 0) -> tuple[Generator, Discriminator]:
    return Generator(cfg, shape, g_in), Discriminator(cfg, shape, d_in_extra)
