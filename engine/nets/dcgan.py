"""The `dcgan` architecture (Radford et al. 2016) for images of shape (C, H, W), sized from the shape and the config.

G: z -> a linear projection to g_channels * 2^(s-1) maps of (H / 2^s) x (W / 2^s), BatchNorm, ReLU; then s transposed
convolutions (kernel 4, stride 2), each doubling the size and halving the channels, with BatchNorm and ReLU between
them, the last one to C channels and tanh (pixels in [-1, 1]). s is cfg.conv_stages (28 = 7 x 2 x 2: two stages).

D: s strided convolutions (kernel 4, stride 2) from C * pack channels (PacDCGAN packs samples as channels), d_channels
doubling each stage, LeakyReLU(0.2), BatchNorm on every layer but the first; then a linear head to one raw score.
A gradient penalty asks for the gradient of D at each sample alone, which BatchNorm's batch statistics mix, so with
a penalty D has no BatchNorm (Gulrajani et al. 2017, sec. 4); nor with spectral norm, which wraps every convolution
and the head and is the normalisation of its own (Miyato et al. 2018 use no BatchNorm in D).
`D.features` is the flattened last convolution (feature matching); minibatch discrimination appends its statistics
there, and `D(x, reference)` scores rows against a reference minibatch as the mlp's D does.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from engine.config import TrainConfig
from engine.nets.layers import ScoringD, init_weights


def base_size(size: int, stages: int) -> int:
    """The side of G's first maps: `size` halved `stages` times (the config has checked that it divides)."""
    return size // 2**stages


class Generator(nn.Module):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], g_in: int | None = None):
        super().__init__()
        channels, height, width = shape
        stages = cfg.conv_stages
        self.base = (base_size(height, stages), base_size(width, stages))
        self.top = cfg.g_channels * 2 ** (stages - 1)
        self.project = nn.Sequential(nn.Linear(g_in or cfg.z_dim, self.top * math.prod(self.base), bias=False),
                                     nn.BatchNorm1d(self.top * math.prod(self.base)), nn.ReLU())
        layers: list[nn.Module] = []
        c_in = self.top
        for stage in range(stages):
            last = stage == stages - 1
            c_out = channels if last else c_in // 2
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.net = nn.Sequential(*layers)
        init_weights(self, cfg.g_init, cfg.init_std, cfg.init_gain)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(-1, self.top, *self.base))


class Discriminator(ScoringD):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], d_in_extra: int = 0):
        super().__init__()
        channels, height, width = shape
        stages = cfg.conv_stages
        batch_norm = cfg.penalty == "none" and not cfg.spectral_norm
        layers: list[nn.Module] = []
        c_in, c_out = channels * cfg.pack + d_in_extra, cfg.d_channels
        for stage in range(stages):
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=stage == 0 or not batch_norm))
            if stage > 0 and batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in, c_out = c_out, c_out * 2
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.attach_head(cfg, c_in * base_size(height, stages) * base_size(width, stages))


def build(cfg: TrainConfig, shape: tuple[int, ...], g_in: int | None = None,
          d_in_extra: int = 0) -> tuple[Generator, Discriminator]:
    """G from g_in numbers (z_dim unless a variant adds a condition); D from the image's channels (times pack)
    and d_in_extra channels of a condition, broadcast over the image."""
    return Generator(cfg, shape, g_in), Discriminator(cfg, shape, d_in_extra)
