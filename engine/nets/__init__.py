"""The networks: one registry, ARCHS, name -> the builder of G and D from the config and the data set's sample
shape; and what every architecture shares: the latent prior and packing (D on points: engine/evaluation.py).

Architectures and the modalities they serve: `mlp` (mlp.py, points). `arch_for` picks a data set's architecture
from its modality; a new architecture is its file plus a row here. The sign convention of D's outputs is
engine/losses' (raw, higher is more real).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.config import TrainConfig
from engine.lazy import resolve

ARCHS: dict[str, str] = {"mlp": "engine.nets.mlp:build"}  # name -> build(cfg, shape) -> (G, D)
ARCH_OF_MODALITY = {"points": "mlp"}


def arch_for(dataset) -> str:
    return ARCH_OF_MODALITY[dataset.modality]


def build_nets(cfg: TrainConfig, dataset) -> tuple[nn.Module, nn.Module]:
    """(G, D) of the data set's architecture for its sample shape."""
    return resolve(ARCHS[arch_for(dataset)])(cfg, dataset.shape)


def sample_latent(n: int, cfg: TrainConfig, generator: torch.Generator | None, device: torch.device) -> Tensor:
    if cfg.latent == "uniform":
        return (torch.rand(n, cfg.z_dim, generator=generator) * 2 - 1).to(device)
    return torch.randn(n, cfg.z_dim, generator=generator).to(device)


def pack(x: Tensor, m: int) -> Tensor:
    """(B, d) samples to (B / m, d m) packs: consecutive samples share a pack (PacGAN)."""
    return x if m == 1 else x.reshape(-1, x.shape[-1] * m)
