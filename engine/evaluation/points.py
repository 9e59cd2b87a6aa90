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

from engine import metrics, variants
from engine.config import TrainConfig
from engine.data import Batch
from engine.evaluation.base import EVAL_SEED_OFFSET, Evaluated
from engine.losses import LOSSES, d_probability
from engine.metrics.modes import hq_mode
from engine.nets import pack
from engine.variants.base import Latent
from engine.variants.measures import Context

EVAL_CHUNK = 1024  # points per D call in d_at: bounds evaluation memory whatever the number of points
OUTLIER_SIGMAS = 6.0  # anomalies lie farther than this from every mode
N_OUTLIERS = 500


def eval_stream(cfg: TrainConfig, dataset, device: torch.device) -> tuple[Latent, Batch, Tensor | None]:
    """The run's fixed evaluation draws, from their own generator (seed + EVAL_SEED_OFFSET): the latent batch (the
    variant's: with balanced labels or codes where G takes them), the real batch with its labels and, with
    minibatch discrimination, D's reference minibatch: real data, one packed row short of a training batch, so that
    D scores each evaluated point as the one new member of a training-sized batch of real data (d_at). A function
    of the config alone: the dashboard redraws it for a checkpoint."""
    gen = torch.Generator().manual_seed(cfg.seed + EVAL_SEED_OFFSET)
    latent = variants.build(cfg, dataset).latent(cfg.eval_samples, gen, device, balanced=True)
    real = dataset.sample(cfg.eval_samples, gen)
    if not cfg.mbd_kernels:
        return latent, real, None
    n_ref = cfg.batch_size - cfg.pack
    ref = dataset.sample(n_ref, gen).x if n_ref else torch.empty(0, *dataset.shape)
    return latent, real, pack(ref, cfg.pack).to(device)


def far_points(dataset, n: int, generator: torch.Generator) -> Tensor:
    """n points of the data's view, uniform, each farther than OUTLIER_SIGMAS sigma from every component mean:
    the anomalies of the anomaly scores' AUROC (a density there is below e^-18 of a mode's peak)."""
    lo_x, hi_x, lo_y, hi_y = dataset.bounds()
    kept: list[Tensor] = []
    while sum(len(k) for k in kept) < n:
        u = torch.rand(4 * n, 2, generator=generator, dtype=torch.float64)
        pts = torch.stack([lo_x + u[:, 0] * (hi_x - lo_x), lo_y + u[:, 1] * (hi_y - lo_y)], 1)
        dist = torch.cdist(pts, torch.as_tensor(dataset.means)).min(1).values
        kept.append(pts[dist > OUTLIER_SIGMAS * dataset.sigma].float())
    return torch.cat(kept)[:n]


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
        self.variant = variants.build(cfg, dataset)
        self.judges_x = variants.VARIANTS[cfg.variant].judges_x
        self.latent, heldout, self.reference = eval_stream(cfg, dataset, device)
        self.z, self.real = self.latent.g_in, heldout.x.numpy()
        self.heldout = heldout.to(device)
        gen = torch.Generator().manual_seed(cfg.seed + 2 * EVAL_SEED_OFFSET)
        self.outliers = far_points(dataset, N_OUTLIERS, gen).to(device)
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

    def classify(self, x: Tensor | np.ndarray) -> np.ndarray:
        """The mode within 3 sigma of each point (toy-protocol.md's high quality), n_modes where none is."""
        return hq_mode(self.dataset, x)

    def run(self, D: nn.Module, sample: Callable[[Tensor], np.ndarray], G: nn.Module | None = None) -> Evaluated:
        """Metrics of G's samples at self.z (`sample(z)`: G's, or its EMA's, as numpy, and G that module) and the
        snapshot, by artifact folder; the variant's own measures. D's field and the theory metrics need a D that
        judges a point alone (not cGAN's D(x, y) nor BiGAN's D(x, z)). A diverged G (samples not finite) gets no
        metrics and no D*, but D's field is still kept."""
        fake = sample(self.z)
        values: dict[str, float] = {}
        arrays: dict[str, dict[str, np.ndarray]] = {"samples": {"x": fake, **self.variant.conditions(self.latent,
                                                                                                     len(fake))}}
        finite = bool(np.isfinite(fake).all())
        if finite:
            d = dict(d_real=self.d(D, self.real), d_fake=self.d(D, fake)) if self.judges_x else {}
            values = metrics.evaluate(self.dataset, fake, self.real, d_is_prob=self.d_is_prob, **d)
        if self.judges_x:
            arrays["field"] = self.field(D, fake)
        if finite:  # the variant's own measures (the plain GAN has none)
            context = Context(self.latent, self.classify(fake) if self.dataset.n_classes else None,
                              torch.from_numpy(fake).to(self.device), self.dataset.n_classes, self.classify,
                              self.heldout, self.outliers, self.device)
            extra, extra_arrays = self.variant.measure(sample, D, G, context)
            values.update(extra)
            arrays.update(extra_arrays)
        return Evaluated(values, arrays)
