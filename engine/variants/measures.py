"""What the conditional and inference variants measure at every evaluation, on what the modality's evaluation
gives them (`Context`): the fixed evaluation latent (balanced labels or codes), the class found in each of G's
samples at it (points: the mode within 3 sigma, else none; images: the data set's classifier), a way to classify
any samples, held-out real data with its labels, and anomalies where there are any: points farther than 6 sigma
from every mode, or the held-out images of the data set registered as this one's outliers (mnist and
fashion-mnist are each other's). The numbers themselves are engine/metrics/conditional.py's.

Metric keys: metric/label_accuracy (cgan, acgan), metric/info_bound and metric/info_entropy, metric/code_accuracy
(infogan), metric/recon_error and metric/recon_same_class (bigan), anomaly/d_auroc (a D that judges x, or BiGAN's
D(x, E(x))) and anomaly/recon_auroc (bigan); translation/l1_xy, l2_xy and class_kept (pix2pix, cyclegan) and, for
cyclegan, translation/l1_yx, l2_yx and both cycles' (engine/metrics/translation.py). Arrays: confusion/ (label x
found class), reconstructions/, translations/ (source, translated, truth; cyclegan's back: G's Y -> X of the
truths).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor

from engine.metrics.conditional import auroc, confusion, info_bound, label_accuracy, matched_accuracy
from engine.metrics.translation import class_kept, translation_errors
from engine.variants.base import Latent

CHUNK = 1024  # rows per net call: memory stays bounded whatever the sample counts
RECONSTRUCTIONS_KEPT = 64  # held-out samples and their reconstructions in the snapshot
TRANSLATIONS_KEPT = 64  # sources, their translations and truths (and CycleGAN's way back) in the snapshot


class Context(NamedTuple):
    latent: Latent  # the evaluation's fixed latent
    found: np.ndarray  # (n,) the class found in G's sample at each latent row; n_classes for none
    x: Tensor  # G's samples at the first rows of the latent (all of them for points, a bounded subset for images)
    n_classes: int
    classify: Callable[[Tensor], np.ndarray]  # the class found in any samples, as `found`
    heldout: Any  # Batch of real data training never drew, with labels
    outliers: Tensor | None  # anomalies for the AUROCs; None where the modality has none
    device: torch.device


@contextlib.contextmanager
def evaluating(*modules):
    """The modules in eval mode (BatchNorm on its running statistics) for the block, then as they were."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def _chunked(fn: Callable[[Tensor], Any], x: Tensor) -> list[Any]:
    return [fn(part.to(x.device)) for part in x.split(CHUNK)]


def label_measures(ctx: Context) -> tuple[dict[str, float], dict[str, Any]]:
    """A conditional G's labels against the classes found in its samples."""
    table = confusion(ctx.latent.y.cpu().numpy(), ctx.found, ctx.n_classes)
    per_label = label_accuracy(table)
    return {"metric/label_accuracy": float(np.nanmean(per_label))}, {"confusion": {"counts": table}}


@torch.no_grad()
def d_anomaly(D, ctx: Context) -> dict[str, float]:
    """1 - D(x) as an anomaly score, ranked as -score (the same order for a probability, and defined for a critic)."""
    if ctx.outliers is None:
        return {}
    with evaluating(D):
        normal = torch.cat(_chunked(lambda x: -D(x), ctx.heldout.x)).cpu().numpy()
        odd = torch.cat(_chunked(lambda x: -D(x), ctx.outliers)).cpu().numpy()
    return {"anomaly/d_auroc": auroc(normal, odd)}


@torch.no_grad()
def info_measures(D, n_cat: int, ctx: Context) -> tuple[dict[str, float], dict[str, Any]]:
    """Q's bound on I(c; G(z, c)) on G's samples, and how well the codes map onto the data's classes."""
    n = len(ctx.x)
    with evaluating(D):
        logits = torch.cat(_chunked(lambda x: D.judge(x)[1][0], ctx.x))
    codes = ctx.latent.cat[:n].cpu().numpy()
    bound, entropy = info_bound(torch.log_softmax(logits, 1).cpu().numpy(), codes, np.full(n_cat, 1.0 / n_cat))
    values = {"metric/info_bound": bound, "metric/info_entropy": entropy}
    if ctx.n_classes:
        values["metric/code_accuracy"] = matched_accuracy(ctx.latent.cat.cpu().numpy(), ctx.found, n_cat,
                                                          ctx.n_classes)
    values.update(d_anomaly(D, ctx))
    return values, {}


@torch.no_grad()
def bigan_measures(D, G, ctx: Context) -> tuple[dict[str, float], dict[str, Any]]:
    with evaluating(D, G):
        return _bigan_measures(D, G, ctx)


def _bigan_measures(D, G, ctx: Context) -> tuple[dict[str, float], dict[str, Any]]:
    """Held-out data through G(E(x)): the error in the data's units, the share that keeps its class, and both of
    the seeds' anomaly scores, |x - G(E(x))|^2 and 1 - D(x, E(x))."""
    def recon(x: Tensor) -> Tensor:
        return G(G.encode(x))

    def sq_error(x: Tensor) -> Tensor:
        return (x - recon(x)).flatten(1).pow(2).sum(1)

    x = ctx.heldout.x
    x_hat = torch.cat(_chunked(recon, x))
    err = (x.to(x_hat.device) - x_hat).flatten(1).pow(2).sum(1)
    values = {"metric/recon_error": float(err.sqrt().mean())}
    if ctx.n_classes and ctx.heldout.y is not None:
        values["metric/recon_same_class"] = float((ctx.classify(x_hat) == ctx.heldout.y.cpu().numpy()).mean())
    if ctx.outliers is not None:
        values["anomaly/recon_auroc"] = auroc(err.cpu().numpy(), torch.cat(_chunked(sq_error, ctx.outliers)).cpu().numpy())
        joint = lambda v: -D(v, G.encode(v))  # noqa: E731
        values["anomaly/d_auroc"] = auroc(torch.cat(_chunked(joint, x)).cpu().numpy(),
                                          torch.cat(_chunked(joint, ctx.outliers)).cpu().numpy())
    kept = slice(0, RECONSTRUCTIONS_KEPT)
    return values, {"reconstructions": {"x": x[kept].cpu().numpy(), "x_hat": x_hat[kept].cpu().numpy()}}


def _errors(key: str, pred: Tensor, truth: Tensor) -> dict[str, float]:
    l1, l2 = translation_errors(pred.cpu().numpy(), truth.cpu().numpy())
    return {f"translation/l1_{key}": l1, f"translation/l2_{key}": l2}


@torch.no_grad()
def translation_measures(ctx: Context, G, forth: Callable[[Tensor], Tensor],
                         back: Callable[[Tensor], Tensor] | None = None) -> tuple[dict[str, float], dict[str, Any]]:
    """G's translations X -> Y (`forth`) of held-out paired draws (points: fresh draws; images: the held-out split,
    which neither G nor the classifier ever saw) against their truths T(s), and the share whose class the target's
    classifier (points: the mode within 3 sigma) finds to be the source's; where G translates back too (CycleGAN's
    `back`, Y -> X) also the translations of the truths against the sources, and both cycles, each against where it
    started."""
    source, truth = ctx.heldout.source, ctx.heldout.x
    with evaluating(G):
        out = torch.cat(_chunked(forth, source))
        values = _errors("xy", out, truth)
        if ctx.n_classes and ctx.heldout.y is not None:
            values["translation/class_kept"] = class_kept(ctx.heldout.y.cpu().numpy(), ctx.classify(out))
        kept = slice(0, TRANSLATIONS_KEPT)
        shown = {"source": source[kept], "translated": out[kept], "truth": truth[kept]}
        if back is not None:
            back_of_truth = torch.cat(_chunked(back, truth))
            values.update(_errors("yx", back_of_truth, source))
            values.update(_errors("cycle_x", torch.cat(_chunked(back, out)), source))
            values.update(_errors("cycle_y", torch.cat(_chunked(forth, back_of_truth)), truth))
            shown["back"] = back_of_truth[kept]  # G's translations of the truths, Y -> X, against the sources
    return values, {"translations": {k: v.cpu().numpy().astype(np.float32) for k, v in shown.items()}}
