"""The `biggan` architecture (Brock et al. 2019) at the sizes of small images: residual G and D, class-conditional
BatchNorm fed by a shared embedding and a hierarchical latent, self-attention, projection D.

G: z is split into conv_stages + 1 chunks: the first goes through a linear layer to the base side's maps; each
residual block gets its own chunk, concatenated with the shared embedding of the condition (a linear map without
bias of the one-hot label, or of any condition a variant appends to z: InfoGAN's codes), and feeds it to its two
conditional BatchNorms (gain and bias linear in that vector). A block: CBN, ReLU, upsample, 3 x 3 conv, CBN, ReLU,
3 x 3 conv, plus the upsampled input through a 1 x 1 conv. Self-attention after block `attention_stage`; then
BatchNorm, ReLU, a 3 x 3 conv to the image's channels and tanh.

D: residual blocks (ReLU, 3 x 3 conv, ReLU, 3 x 3 conv, average pooling; a 1 x 1 conv and pooling on the skip),
the first at the image's side without downsampling, then one per stage down to the base side; self-attention at
the side of G's; ReLU and a sum over the positions; a linear head. The class projection (D(x, y) = head(h) +
embed(y) . h) is cGAN's with `projection` (engine/variants/cgan.py), as the biggan preset sets.

The rest of BigGAN is the config's: spectral norm in both nets (`spectral_norm`, `g_spectral_norm`), orthogonal
regularisation of G's weights (`ortho_reg`), truncated latents at sampling (`truncation`), orthogonal init.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.config import TrainConfig
from engine.nets.blocks import ConditionalBatchNorm, SelfAttention, side_at, spectral_norm_all, widths
from engine.nets.layers import ScoringD, init_weights


class GBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm(c_in, cond_dim), ConditionalBatchNorm(c_out, cond_dim)
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        x = F.interpolate(F.relu(self.bn1(h, c)), scale_factor=2, mode="nearest")
        x = self.conv2(F.relu(self.bn2(self.conv1(x), c)))
        return x + self.skip(F.interpolate(h, scale_factor=2, mode="nearest"))


def z_chunks(z_dim: int, stages: int) -> list[int]:
    """The sizes of z's chunks: one for the linear layer (it takes what does not divide) and one per block."""
    chunk = z_dim // (stages + 1)
    return [z_dim - chunk * stages] + [chunk] * stages


class Generator(nn.Module):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], g_in: int | None = None):
        super().__init__()
        channels, height, width = shape
        s = cfg.conv_stages
        ch = widths(cfg.g_channels, s)
        self.base, self.chunks = side_at((height, width), s, 0), z_chunks(cfg.z_dim, s)
        n_condition = (g_in or cfg.z_dim) - cfg.z_dim
        self.shared = nn.Linear(n_condition, cfg.shared_dim, bias=False) if n_condition else None
        cond_dim = self.chunks[1] + (cfg.shared_dim if n_condition else 0)
        self.linear = nn.Linear(self.chunks[0], ch[0] * math.prod(self.base))
        self.blocks = nn.ModuleList(GBlock(ch[level - 1], ch[level], cond_dim) for level in range(1, s + 1))
        self.attention = nn.ModuleDict({str(cfg.attention_stage): SelfAttention(ch[cfg.attention_stage])}
                                       if cfg.attention_stage else {})
        self.out = nn.Sequential(nn.BatchNorm2d(ch[s]), nn.ReLU(), nn.Conv2d(ch[s], channels, 3, padding=1), nn.Tanh())
        init_weights(self, cfg.g_init, cfg.init_std, cfg.init_gain)
        if cfg.g_spectral_norm:
            spectral_norm_all(self)

    def forward(self, g_in: Tensor) -> Tensor:
        z, condition = g_in[:, :sum(self.chunks)], g_in[:, sum(self.chunks):]
        first, *per_block = torch.split(z, self.chunks, dim=1)
        shared = [self.shared(condition)] if self.shared is not None else []
        h = self.linear(first).view(z.shape[0], -1, *self.base)
        for level, (block, chunk) in enumerate(zip(self.blocks, per_block), start=1):
            h = block(h, torch.cat([chunk, *shared], 1))
            if str(level) in self.attention:
                h = self.attention[str(level)](h)
        return self.out(h)


class DBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool, preactivation: bool):
        super().__init__()
        self.down, self.preactivation = down, preactivation
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if (c_in != c_out or down) else None

    def forward(self, h: Tensor) -> Tensor:
        x = self.conv2(F.relu(self.conv1(F.relu(h) if self.preactivation else h)))
        skip = h if self.skip is None else self.skip(h)
        if self.down:
            x, skip = F.avg_pool2d(x, 2), F.avg_pool2d(skip, 2)
        return x + skip


class Body(nn.Module):
    def __init__(self, cfg: TrainConfig, c_in: int):
        super().__init__()
        s = cfg.conv_stages
        ch = widths(cfg.d_channels, s)
        layers: list[nn.Module] = [DBlock(c_in, ch[s], down=False, preactivation=False)]
        for level in range(s, -1, -1):
            if cfg.attention_stage and level == cfg.attention_stage:
                layers.append(SelfAttention(ch[level]))
            if level > 0:
                layers.append(DBlock(ch[level], ch[level - 1], down=True, preactivation=True))
        self.blocks = nn.Sequential(*layers)
        self.n_features = ch[0]

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))


class Discriminator(ScoringD):
    def __init__(self, cfg: TrainConfig, shape: tuple[int, int, int], d_in_extra: int = 0):
        super().__init__()
        self.body = Body(cfg, shape[0] * cfg.pack + d_in_extra)
        self.attach_head(cfg, self.body.n_features)


def build(cfg: TrainConfig, shape: tuple[int, ...], g_in: int | None = None,
          d_in_extra: int = 0) -> tuple[Generator, Discriminator]:
    return Generator(cfg, shape, g_in), Discriminator(cfg, shape, d_in_extra)
