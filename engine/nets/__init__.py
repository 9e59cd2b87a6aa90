"""The networks: one registry, ARCHS, name -> the builder of G and D from the config and the data set's sample
shape; and what every architecture shares: the latent prior, packing, and D evaluated on any number of points.

Architectures and the modalities they serve: `mlp` (mlp.py, points). `arch_for` picks a data set's architecture
from its modality; a new architecture is its file plus a row here. The sign convention of D's outputs is
engine/losses' (raw, higher is more real).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from engine.config import TrainConfig
from engine.lazy import resolve
from engine.losses import d_probability

ARCHS: dict[str, str] = {"mlp": "engine.nets.mlp:build"}  # name -> build(cfg, shape) -> (G, D)
ARCH_OF_MODALITY = {"points": "mlp"}
EVAL_CHUNK = 1024  # points per D call in d_at: bounds evaluation memory whatever the number of points


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


def d_at(D: nn.Module, cfg: TrainConfig, points: Tensor, reference: Tensor | None = None) -> Tensor:
    """D at single points (N, d), each replicated m times to fill a pack: a probability where cfg.loss has one,
    the raw score for critics. EVAL_CHUNK points per call, so memory is bounded for any N.

    With minibatch discrimination pass a reference minibatch (packed rows, e.g. train.eval_stream's): each point
    is then scored as the one new member of a batch made of the reference, so its value is its own (autograd
    gives each point's own grad D) and the chunking changes nothing. Spectral norm's weights are computed once
    for all chunks (in training mode: one power iteration, as one call of D on all the points would do).
    """
    chunks = list(points.split(EVAL_CHUNK))
    if len(chunks) > 1 and len(chunks[-1]) == 1:  # one row takes BLAS's matrix-vector path: other bits than one call
        chunks[-2:] = [torch.cat(chunks[-2:])]
    with parametrize.cached():
        logits = torch.cat([D(pack(x.repeat_interleave(cfg.pack, dim=0), cfg.pack), reference) for x in chunks])
    prob = d_probability(cfg.loss, logits)
    return logits if prob is None else prob
