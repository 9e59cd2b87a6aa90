"""The `mlp` architecture: MLP generator and discriminator for flat samples (the points modality), from a TrainConfig.

D takes packed inputs: m samples concatenated into one row of 2m numbers (PacGAN), and returns one raw logit
per row (see engine/losses for the sign convention). `D.features` exposes the last hidden layer for feature
matching; minibatch discrimination appends its cross-sample statistics to those features before the head.
Such a D is not a function of a row alone: `D(x, reference)` takes each row's statistics against a fixed
reference minibatch instead (engine.evaluation.d_at evaluates D on any number of points that way, in chunks).
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engine.config import TrainConfig
from engine.nets.layers import Maxout, MinibatchDiscrimination, ScoringD, activation, init_weights


class Generator(nn.Module):
    """z -> a flat sample of `data_dim` numbers."""

    def __init__(self, cfg: TrainConfig, data_dim: int, g_in: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = g_in or cfg.z_dim  # z, and a variant's label or codes
        for _ in range(cfg.g_depth):
            layers.append(nn.Linear(width_in, cfg.g_width, bias=cfg.g_bias))
            if cfg.g_bn:
                layers.append(nn.BatchNorm1d(cfg.g_width))
            layers.append(activation(cfg.g_act))
            width_in = cfg.g_width
        layers.append(nn.Linear(width_in, data_dim))
        self.net = nn.Sequential(*layers)
        init_weights(self, cfg.g_init, cfg.init_std, cfg.init_gain)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Discriminator(ScoringD):
    """A pack of cfg.pack flat samples (one row of pack * data_dim numbers, and d_in_extra numbers of a condition)
    -> one raw output."""

    def __init__(self, cfg: TrainConfig, data_dim: int, d_in_extra: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = data_dim * cfg.pack + d_in_extra
        for _ in range(cfg.d_depth):
            if cfg.d_maxout:
                layers.append(Maxout(width_in, cfg.d_width, cfg.d_maxout))
            else:
                layers += [nn.Linear(width_in, cfg.d_width), activation(cfg.d_act)]
            width_in = cfg.d_width
        self.body = nn.Sequential(*layers)
        self.mbd = MinibatchDiscrimination(width_in, cfg.mbd_kernels, cfg.mbd_dim) if cfg.mbd_kernels else None
        self.head = nn.Linear(width_in + cfg.mbd_kernels, 1)
        init_weights(self, cfg.d_init, cfg.init_std, cfg.init_gain)
        if cfg.spectral_norm:  # after the init: the parametrisation then normalises the initialised weights
            for layer in [m for m in self.modules() if isinstance(m, nn.Linear)]:
                spectral_norm(layer)



def build(cfg: TrainConfig, shape: tuple[int, ...], g_in: int | None = None,
          d_in_extra: int = 0) -> tuple[Generator, Discriminator]:
    """G and D for samples of `shape`, flattened (the points modality: shape (2,)); G takes g_in numbers (z_dim
    unless a variant adds a condition), D takes d_in_extra numbers of a condition after each row."""
    data_dim = math.prod(shape)
    return Generator(cfg, data_dim, g_in), Discriminator(cfg, data_dim, d_in_extra)
