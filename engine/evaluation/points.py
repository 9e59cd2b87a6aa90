"""The evaluation of a run on 2-D points, and the one place that evaluates D on points and on the data plane's
grid: the training loop and the dashboard's checkpoint sampling both come here.

It draws the run's fixed evaluation batches once, from their own generator (seed + EVAL_SEED_OFFSET): the latent
batch, the real batch, and, for a D with minibatch discrimination, D's reference minibatch (`eval_stream`). The
snapshot: the samples; D on a grid_size x grid_size grid over the data set's bounds and D* = p_data / (p_data + p_g)
on the same grid. The metrics: every registered one that applies, with D at the real and fake samples for the
theory ones.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from engine import metrics
from engine.config import TrainConfig
from engine.evaluation.base import EVAL_SEED_OFFSET, Evaluated
from engine.losses import LOSSES, d_probability
from engine.nets import pack, sample_latent

EVAL_CHUNK = 1024  # points per D call in d_at: bounds evaluation memory whatever the number of points


def eval_stream(cfg: TrainConfig, dataset, device: torch.device) -> tuple[Tensor, np.ndarray, Tensor | None]:
    """The run's fixed evaluation draws, from their own generator (seed + EVAL_SEED_OFFSET): the latent batch,
    the real batch and, with minibatch discrimination, D's reference minibatch: real data, one packed row short
    of a training batch, so that D scores each evaluated point as the one new member of a training-sized batch
    of real data (d_at). A function of the config alone: the dashboard redraws it for a checkpoint."""
    gen = torch.Generator().manual_seed(cfg.seed + EVAL_SEED_OFFSET)
    z = sample_latent(cfg.eval_samples, cfg, gen, device)
    real = dataset.sample(cfg.eval_samples, gen).x.numpy()
    if not cfg.mbd_kernels:
        return z, real, None
    n_ref = cfg.batch_size - cfg.pack
    ref = dataset.sample(n_ref, gen).x if n_ref else torch.empty(0, *dataset.shape)
    return z, real, pack(ref, cfg.pack).to(device)


def reference_note(cfg: TrainConfig) -> str:
    """What eval_stream's reference minibatch is, in words, for field snapshots and captions."""
    rows = cfg.batch_size // cfg.pack - 1
    return f"{rows} real samples" if cfg.pack == 1 else f"{rows} packs of {cfg.pack} real samples"


def d_at(D: nn.Module, cfg: TrainConfig, points: Tensor, reference: Tensor | None = None) -> Tensor:
    """D at single points (N, d), each replicated m times to fill a pack: a probability where cfg.loss has one,
    the raw score for critics. EVAL_CHUNK points per call, so memory is bounded for any N.

    With minibatch discrimination pass a reference minibatch (packed rows, eval_stream's): each point is then
    scored as the one new member of a batch made of the reference, so its value is its own (autograd gives each
    point's own grad D) and the chunking changes nothing. Spectral norm's weights are computed once for all
    chunks (in training mode: one power iteration, as one call of D on all the points would do).
    """
    chunks = list(points.split(EVAL_CHUNK))
    if len(chunks) > 1 and len(chunks[-1]) == 1:  # one row takes BLAS's matrix-vector path: other bits than one call
        chunks[-2:] = [torch.cat(chunks[-2:])]
    with parametrize.cached():
        logits = torch.cat([D(pack(x.repeat_interleave(cfg.pack, dim=0), cfg.pack), reference) for x in chunks])
    prob = d_probability(cfg.loss, logits)
    return logits if prob is None else prob


class PointsEvaluation:
    """The evaluation of a run on 2-D points (the module docstring)."""

    def __init__(self, cfg: TrainConfig, dataset, device: torch.device):
        self.cfg, self.dataset, self.device = cfg, dataset, device
        self.z, self.real, self.reference = eval_stream(cfg, dataset, device)
        lo_x, hi_x, lo_y, hi_y = dataset.bounds()
        self.xs = np.linspace(lo_x, hi_x, cfg.grid_size, dtype=np.float32)
        self.ys = np.linspace(lo_y, hi_y, cfg.grid_size, dtype=np.float32)
        gx, gy = np.meshgrid(self.xs, self.ys)  # row i is y = ys[i]
        self.grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
        self.d_is_prob = LOSSES[cfg.loss].probability

    @torch.no_grad()
    def d(self, D: nn.Module, points: np.ndarray) -> np.ndarray:
        """D at points, against the run's reference minibatch (d_at), as numpy."""
        x = torch.as_tensor(points, dtype=torch.float32, device=self.device)
        return d_at(D, self.cfg, x, self.reference).cpu().numpy()

    def field(self, D: nn.Module, fake: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """D on the grid (d[i, j] at (xs[j], ys[i])), what kind of output it is, what it was scored against with
        minibatch discrimination, and D* of `fake` on the same grid when `fake` is given and finite."""
        shape = (len(self.ys), len(self.xs))
        out = {"xs": self.xs, "ys": self.ys, "d": self.d(D, self.grid).reshape(shape),
               "d_is_prob": np.array(self.d_is_prob)}
        if self.reference is not None:
            out["d_reference"] = np.array(reference_note(self.cfg))
        if fake is not None and np.isfinite(fake).all():
            out["d_star"] = metrics.optimal_discriminator(self.dataset, fake, self.grid).reshape(shape)
        return out

    def baseline(self) -> tuple[dict[str, float], dict[str, str]]:
        """Nothing to log once: the truth of points is the mixture itself."""
        return {}, {}

    def run(self, D: nn.Module, sample: Callable[[Tensor], np.ndarray]) -> Evaluated:
        """Metrics of G's samples at self.z (`sample(z)`: G's, or its EMA's, as numpy) and the snapshot, by artifact
        folder. A diverged G (samples not finite) gets no metrics and no D*, but D's field is still kept."""
        fake = sample(self.z)
        values: dict[str, float] = {}
        if np.isfinite(fake).all():
            values = metrics.evaluate(self.dataset, fake, self.real, d_real=self.d(D, self.real), d_fake=self.d(D, fake),
                                      d_is_prob=self.d_is_prob)
        return Evaluated(values, {"samples": {"x": fake}, "field": self.field(D, fake)})
