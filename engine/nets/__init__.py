"""The networks: one registry, ARCHS, name -> the builder of G and D from the config and the data set's sample
shape, and the modalities it serves; and what every architecture shares: the latent prior and packing (D on
points: engine/evaluation).

Architectures: `mlp` (mlp.py, points: flat samples), `dcgan` (dcgan.py, images: strided convolutions) and the
image-era ones on the same pyramid of sides (blocks.py holds their layers): `progan` (growing, faded in), `stylegan`
(mapping network, AdaIN, noise), `sagan` (self-attention), `biggan` (residual, conditional BatchNorm). The config's
`arch` names one, or `auto` takes the data set's modality's default (ARCH_OF_MODALITY). A new architecture is its
file plus a row here. A net that changes as training goes on (progan's resolution and fade-in) has
`set_progress(step, steps) -> what it logs`, which the trainer calls through `set_progress` below. The sign
convention of D's outputs is engine/losses' (raw, higher is more real). The table is read without importing torch
(the config's allowed values); the functions import it when called.
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
    source: str = ""
    own_init: bool = False  # its layers set their own weights (equalised learning rate): g_init / d_init do not apply
    views: tuple[str, ...] = ()  # what the Gallery can draw of its G beyond samples: "style_mixing" (G.mix)


ARCHS: dict[str, ArchEntry] = {
    "mlp": ArchEntry("engine.nets.mlp:build", ("points",), "MLPs on flat samples (maxout, BatchNorm, packing)"),
    "dcgan": ArchEntry("engine.nets.dcgan:build", ("images",),
                       "DCGAN: transposed convolutions up to the image, strided convolutions down", "Radford et al. 2016"),
    "progan": ArchEntry("engine.nets.progan:build", ("images",),
                        "Progressive GAN: G and D grow from the base side, each level faded in; equalised learning "
                        "rate, pixel norm, minibatch standard deviation", "Karras et al. 2018", own_init=True),
    "stylegan": ArchEntry("engine.nets.stylegan:build", ("images",),
                          "Style-based G: mapping network z -> w, AdaIN styles per layer, noise inputs, style mixing, "
                          "truncation psi; ProGAN's D", "Karras et al. 2019", own_init=True, views=("style_mixing",)),
    "sagan": ArchEntry("engine.nets.sagan:build", ("images",),
                       "Self-attention GAN: DCGAN-shaped nets with a self-attention block in G and D",
                       "Zhang et al. 2019"),
    "biggan": ArchEntry("engine.nets.biggan:build", ("images",),
                        "BigGAN: residual nets, class-conditional BatchNorm from a shared embedding and chunks of z, "
                        "self-attention", "Brock et al. 2019"),
}
CONV_ARCHS = ("dcgan", "progan", "stylegan", "sagan", "biggan")  # the nets on the pyramid of sides (conv_stages)
ARCH_OF_MODALITY = {"points": "mlp", "images": "dcgan"}


def arch_name(cfg_arch: str, modality: str) -> str:
    """The architecture a config's `arch` means for data of this modality (`auto`: the modality's default)."""
    return ARCH_OF_MODALITY[modality] if cfg_arch == "auto" else cfg_arch


def build_nets(cfg: TrainConfig, dataset, g_in: int | None = None, d_in_extra: int = 0) -> tuple[nn.Module, nn.Module]:
    """(G, D) of the config's architecture for the data set's sample shape: G from g_in numbers (z_dim by
    default), D from a sample and d_in_extra numbers (points) or channels (images) of a condition. The variant
    (engine/variants) says how many and wraps the pair."""
    return resolve(ARCHS[arch_name(cfg.arch, dataset.modality)].builder)(cfg, dataset.shape, g_in, d_in_extra)


def set_progress(nets, step: int, steps: int) -> dict[str, float]:
    """Tell every part of these nets that changes as training goes on where training is (step of steps); return
    what they log (progan: grow/resolution, grow/alpha). Nothing for the nets that do not change."""
    logged: dict[str, float] = {}
    for net in nets:
        for part in net.modules():
            if hasattr(part, "set_progress"):
                logged.update(part.set_progress(step, steps))
    return logged


def truncated(g_in: Tensor, cfg: TrainConfig, threshold: float | None = None) -> Tensor:
    """G's input with its noise (the first z_dim numbers) drawn from the normal truncated to [-t, t] instead
    (Brock et al. 2019, sec. 3.1), t = `threshold` or cfg.truncation; 0 leaves it as it is. Each number goes through
    the normal's CDF, is rescaled into [Phi(-t), Phi(t)] and back: the truncated normal exactly, and the same
    latent at every threshold, so a slider of t moves each sample smoothly."""
    import torch

    t = cfg.truncation if threshold is None else threshold
    if not t:
        return g_in
    normal = torch.distributions.Normal(0.0, 1.0)
    low = normal.cdf(torch.tensor(-t, dtype=torch.float64))
    u = normal.cdf(g_in[:, :cfg.z_dim].double())
    z = normal.icdf((low + u * (1 - 2 * low)).clamp(1e-12, 1 - 1e-12)).to(g_in.dtype).clamp(-t, t)
    return torch.cat([z, g_in[:, cfg.z_dim:]], dim=1)


def sample_latent(n: int, cfg: TrainConfig, generator: torch.Generator | None, device: torch.device) -> Tensor:
    import torch

    if cfg.latent == "uniform":
        return (torch.rand(n, cfg.z_dim, generator=generator) * 2 - 1).to(device)
    return torch.randn(n, cfg.z_dim, generator=generator).to(device)


def pack(x: Tensor, m: int) -> Tensor:
    """(B, d) samples to (B / m, d m) packs, (B, C, H, W) images to (B / m, C m, H, W): consecutive samples share a
    pack, concatenated along the first axis of a sample (PacGAN; its channels for PacDCGAN)."""
    return x if m == 1 else x.reshape(-1, x.shape[1] * m, *x.shape[2:])
