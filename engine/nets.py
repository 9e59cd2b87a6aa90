"""MLP generator and discriminator for 2-D data, built from a TrainConfig.

D takes packed inputs: m samples concatenated into one row of 2m numbers (PacGAN), and returns one raw logit
per row (see losses.py for the sign convention). `D.features` exposes the last hidden layer for feature
matching; minibatch discrimination appends its cross-sample statistics to those features before the head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from engine.config import TrainConfig

DATA_DIM = 2


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), "elu": nn.ELU()}[name]


class Maxout(nn.Module):
    """Goodfellow et al. 2013: `pieces` affine maps per unit, the unit outputs their maximum."""

    def __init__(self, d_in: int, d_out: int, pieces: int):
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.linear = nn.Linear(d_in, d_out * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(-1, self.d_out, self.pieces).amax(-1)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, sec. 3.2: o(x_i)_b = sum_j exp(-|M_i,b - M_j,b|_1), appended to the features."""

    def __init__(self, d_in: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(d_in, kernels * kernel_dim) * 0.1)

    def forward(self, h: Tensor) -> Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.kernel_dim)  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)  # (N, N, B)
        # Subtract the self-similarity exp(0) = 1 so a lone sample scores 0.
        return torch.cat([h, torch.exp(-l1).sum(0) - 1], dim=1)


def _init(module: nn.Module, scheme: str, std: float, gain: float) -> None:
    if scheme == "default":
        return
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            if scheme == "normal":
                nn.init.normal_(layer.weight, 0.0, std)
            else:
                nn.init.orthogonal_(layer.weight, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Generator(nn.Module):
    def __init__(self, cfg: TrainConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = cfg.z_dim
        for _ in range(cfg.g_depth):
            layers.append(nn.Linear(width_in, cfg.g_width, bias=cfg.g_bias))
            if cfg.g_bn:
                layers.append(nn.BatchNorm1d(cfg.g_width))
            layers.append(activation(cfg.g_act))
            width_in = cfg.g_width
        layers.append(nn.Linear(width_in, DATA_DIM))
        self.net = nn.Sequential(*layers)
        _init(self, cfg.g_init, cfg.init_std, cfg.init_gain)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, cfg: TrainConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = DATA_DIM * cfg.pack
        for _ in range(cfg.d_depth):
            if cfg.d_maxout:
                layers.append(Maxout(width_in, cfg.d_width, cfg.d_maxout))
            else:
                layers += [nn.Linear(width_in, cfg.d_width), activation(cfg.d_act)]
            width_in = cfg.d_width
        self.body = nn.Sequential(*layers)
        self.mbd = MinibatchDiscrimination(width_in, cfg.mbd_kernels, cfg.mbd_dim) if cfg.mbd_kernels else None
        self.head = nn.Linear(width_in + cfg.mbd_kernels, 1)
        _init(self, cfg.d_init, cfg.init_std, cfg.init_gain)
        if cfg.spectral_norm:  # after the init: the parametrisation then normalises the initialised weights
            for layer in [m for m in self.modules() if isinstance(m, nn.Linear)]:
                spectral_norm(layer)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        h = self.body(x)
        if self.mbd is not None:
            h = self.mbd(h)
        return self.head(h).squeeze(-1)


def pack(x: Tensor, m: int) -> Tensor:
    """(B, 2) samples to (B / m, 2m) packs: consecutive samples share a pack."""
    return x if m == 1 else x.reshape(-1, x.shape[-1] * m)


def sample_latent(n: int, cfg: TrainConfig, generator: torch.Generator | None, device: torch.device) -> Tensor:
    if cfg.latent == "uniform":
        return (torch.rand(n, cfg.z_dim, generator=generator) * 2 - 1).to(device)
    return torch.randn(n, cfg.z_dim, generator=generator).to(device)
