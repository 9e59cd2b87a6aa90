"""The networks: one registry, ARCHS, name -> the builder of G and D from the config and the data set's sample
shape, and the modalities it serves; and what every architecture shares: the latent prior and packing (D on
points: engine/evaluation).

Architectures: `mlp` (mlp.py, points: flat samples), `dcgan` (dcgan.py, images: strided convolutions). The config's
`arch` names one, or `auto` takes the data set's modality's default (ARCH_OF_MODALITY). A new architecture is its
file plus a row here. The sign convention of D's outputs is engine/losses' (raw, higher is more real). The table is
read without importing torch (the config's allowed values); the functions import it when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.lazy import resolve

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

TrainConfig = Any  # engine.config.TrainConfig: not imported, as the config reads this table


@dataclass(frozen=True)
class ArchEntry:
    builder: str  # "module:function": build(cfg, shape, g_in, d_in_extra) -> (G, D), D with .hidden and .head
    modalities: tuple[str, ...]  # the data it is built for
    doc: str


ARCHS: dict[str, ArchEntry] = {
    "mlp": ArchEntry("engine.nets.mlp:build", ("points",), "MLPs on flat samples (maxout, BatchNorm, packing)"),
    "dcgan": ArchEntry("engine.nets.dcgan:build", ("images",),
                       "DCGAN: transposed convolutions up to the image, strided convolutions down (Radford et al. 2016)"),
}
ARCH_OF_MODALITY = {"points": "mlp", "images": "dcgan"}


def arch_name(cfg_arch: str, modality: str) -> str:
    """The architecture a config's `arch` means for data of this modality (`auto`: the modality's default)."""
    return ARCH_OF_MODALITY[modality] if cfg_arch == "auto" else cfg_arch


def build_nets(cfg: TrainConfig, dataset, g_in: int | None = None, d_in_extra: int = 0) -> tuple[nn.Module, nn.Module]:
    """(G, D) of the config's architecture for the data set's sample shape: G from g_in numbers (z_dim by
    default), D from a sample and d_in_extra numbers (points) or channels (images) of a condition. The variant
    (engine/variants) says how many and wraps the pair."""
    return resolve(ARCHS[arch_name(cfg.arch, dataset.modality)].builder)(cfg, dataset.shape, g_in, d_in_extra)


def sample_latent(n: int, cfg: TrainConfig, generator: torch.Generator | None, device: torch.device) -> Tensor:
    import torch

    if cfg.latent == "uniform":
        return (torch.rand(n, cfg.z_dim, generator=generator) * 2 - 1).to(device)
    return torch.randn(n, cfg.z_dim, generator=generator).to(device)


def pack(x: Tensor, m: int) -> Tensor:
    """(B, d) samples to (B / m, d m) packs, (B, C, H, W) images to (B / m, C m, H, W): consecutive samples share a
    pack, concatenated along the first axis of a sample (PacGAN; its channels for PacDCGAN)."""
    return x if m == 1 else x.reshape(-1, x.shape[1] * m, *x.shape[2:])
