"""GAN-aware health labels for one run, read off its logged history.

`classify(history, loss, n_modes)` returns (label, reason) (n_modes: the data's K modes or classes, None without): label is one of LABELS, reason one line with the
numbers that decided it. history maps a metric name to its logged (step, value) pairs. The rules are checked in
this order and the first that fires wins; the "last window" of a series is its points logged in the last 20 % of
its step range, at least the last 5 points (all of them when fewer).

1. diverged: any NaN or inf, or a magnitude above 1e6, in any `loss/...` series, anywhere in the run.
2. mode_collapse, either of
   a. with K = n_modes known and `metric/modes` logged: the last count is below K/2 and either below its peak
      (modes were found, then lost) or `metric/hq` is at least 50 % (G draws good samples of only a few modes);
      on images the same with `metric/classes`, the classes (stacked-mnist: modes) the classifier finds among G's
      samples, and `metric/precision` at least 0.5 for the good samples (a collapsed class histogram);
   b. with `metric/recall` logged (the only signal on continuous data): the last recall is below 0.2 while the
      last precision is at least 0.5 (real-looking samples, little of the data covered) or recall had reached
      0.4 before.
3. d_overpowers, for losses whose logged D outputs are probabilities (losses.SIGMOID_D: minimax, ns), where
   `d/real` and `d/fake` are the batch means of sigmoid(D): over the last window, mean d/real > 0.9 and mean
   d/fake < 0.1, i.e. D separates real from fake almost perfectly. The reason adds grad/g against its peak:
   under minimax it vanishes with D's win (the saturation of Goodfellow et al. 2014, sec. 3); under ns it does
   not, by design, so a vanished gradient corroborates the label but is not required for it. The critics
   (wgan, hinge) log raw scores, and lsgan logs its raw outputs (its D estimates a probability, but its logged
   means are not sigmoid means, and its win shows differently), so this rule does not apply to them.
4. oscillating: over the last window (at least 5 points) of `loss/g`, with a least-squares line removed (a trend
   is not an oscillation), the 10-90 % percentile spread exceeds the level max(|median|, 0.5) of the loss.
   Minibatch noise of a settled ns run gives ~0.1-0.3; G and D taking turns to win gives well above 1. The 0.5
   floor keeps a loss that hovers near 0 (critics) from turning noise into a swing.
5. stalled, with the real data's own FID logged (`reference/fid`, image runs): over the last window (at least 5
   evaluations) `metric/fid` moves by less than 2 % of its median and stays above 3 x the real data's own: training
   goes on but G no longer improves, far from the data (a frozen FID).
6. blurry, with `metric/hq` logged (data with modes): the last HQ % is below half of what samples of the data
   itself score, 100 (1 - e^(-9/2)) = 98.89 % (the share of an isotropic 2-D Gaussian within 3 sigma of its mean,
   toy-protocol.md). G has found where the modes are, or some of them, but most of its samples fall between
   them; the mode count alone would call such a run a success. Checked after the dynamics rules, which name a
   cause where one shows; at the first evaluations of any run it fires too, and truly so.
7. unfaithful, with `translation/class_kept` logged (a translation GAN on a domain pair with classes): the last share
   of held-out translations whose class is their source's is below 1/2, where the pair's known map keeps nearly
   all (the target's classifier, or 3 sigma on points). G's outputs may look like the target domain in every other
   metric (CycleGAN on ring-rotated covers every mode with its cycles closed while sending each point to the wrong
   one), but they are not translations of their sources. Checked after blurry: a G whose outputs are not yet in
   the target domain is that first.
8. healthy: none of the above. For the BCE losses the reason quotes the equilibrium signs: loss/d near
   log 4 = 1.386 and D outputs near 1/2.

The training loop labels a run at every evaluation. When these rules change, `python -m engine.health RUN_ID ...`
(or `--sweep SWEEP_ID`) labels ended runs again from the history the store holds, so that old and new runs are
judged alike.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from engine.losses import LOSSES
from engine.metrics import HQ_SIGMAS

LABELS = ("healthy", "mode_collapse", "d_overpowers", "diverged", "oscillating", "stalled", "blurry", "unfaithful")
WINDOW_FRACTION = 0.2  # the last window: this share of a series' step range...
WINDOW_MIN_POINTS = 5  # ...and at least this many points
EXPLODED = 1e6  # a loss this large on toy data has diverged even if still finite
MODES_FRACTION = 0.5  # collapse below this share of the K modes...
HQ_FEW_MODES = 50.0  # ...when lost from the peak, or with at least this HQ % (good samples, few modes)
RECALL_LOW = 0.2
KEPT_FRACTION = 0.5  # a translation GAN that keeps its sources' classes less often than this is unfaithful
PRECISION_OK = 0.5
RECALL_PEAK = 0.4
D_REAL_HIGH = 0.9
D_FAKE_LOW = 0.1
OSC_RATIO = 1.0
OSC_LEVEL_FLOOR = 0.5
DATA_HQ = 100.0 * (1.0 - math.exp(-HQ_SIGMAS**2 / 2))  # HQ % of the data's own samples: the Rayleigh tail
BLURRY_FRACTION = 0.5  # blurry below this share of DATA_HQ
FROZEN_SPREAD = 0.02  # stalled: the last window's FID within this share of its median...
STALLED_RATIO = 3.0  # ...and above this multiple of the real data's own FID

History = dict[str, list[tuple[int, float]]]


def _values(history: History, name: str) -> np.ndarray:
    return np.array([v for _, v in history.get(name, [])], dtype=np.float64)


def _window(history: History, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the series' last window (module docstring)."""
    series = sorted(history.get(name, []), key=lambda sv: sv[0])
    if not series:
        return np.empty(0), np.empty(0)
    steps = np.array([s for s, _ in series], dtype=np.float64)
    values = np.array([v for _, v in series], dtype=np.float64)
    start = steps[-1] - WINDOW_FRACTION * (steps[-1] - steps[0])
    keep = max(int((steps >= start).sum()), min(WINDOW_MIN_POINTS, len(steps)))
    return steps[-keep:], values[-keep:]


def _last(history: History, name: str) -> float | None:
    series = history.get(name, [])
    return float(max(series, key=lambda sv: sv[0])[1]) if series else None


def _diverged(history: History) -> str | None:
    for name in sorted(k for k in history if k.startswith("loss/")):
        for step, value in history[name]:
            if not math.isfinite(value):
                return f"{name} is {value} at step {step}"
            if abs(value) > EXPLODED:
                return f"{name} reached {value:.3g} at step {step} (|loss| > {EXPLODED:.0e})"
    return None


def _mode_collapse(history: History, n_modes: int | None) -> str | None:
    # points count modes and their high-quality share; images count classes and the precision of the samples
    kind, count_key, good = ("modes", "metric/modes", "hq") if "metric/modes" in history else \
        ("classes", "metric/classes", "precision")
    modes = _values(history, count_key)
    modes = modes[np.isfinite(modes)]
    if n_modes and len(modes):
        last, peak, quality = _last(history, count_key), modes.max(), _last(history, f"metric/{good}")
        if last is not None and last < MODES_FRACTION * n_modes:
            if last < peak:
                return f"{last:.0f} of {n_modes} {kind} at the last evaluation, down from a peak of {peak:.0f}"
            if good == "hq" and quality is not None and quality >= HQ_FEW_MODES:
                return f"{last:.0f} of {n_modes} modes while {quality:.0f} % of samples are high quality"
            if good == "precision" and quality is not None and quality >= PRECISION_OK:
                return f"{last:.0f} of {n_modes} classes while precision is {quality:.2f}: good samples of few classes"
    recall, precision = _last(history, "metric/recall"), _last(history, "metric/precision")
    if recall is not None and math.isfinite(recall) and recall < RECALL_LOW:
        if precision is not None and precision >= PRECISION_OK:
            return f"recall {recall:.2f} with precision {precision:.2f}: real-looking samples of little of the data"
        peak = np.nanmax(_values(history, "metric/recall"))
        if peak >= RECALL_PEAK:
            return f"recall fell to {recall:.2f} from a peak of {peak:.2f}"
    return None


def _d_overpowers(history: History, loss: str) -> str | None:
    if loss not in LOSSES or not LOSSES[loss].sigmoid:
        return None
    _, d_real = _window(history, "d/real")
    _, d_fake = _window(history, "d/fake")
    if not len(d_real) or not len(d_fake):
        return None
    real, fake = float(np.mean(d_real)), float(np.mean(d_fake))
    if not (real > D_REAL_HIGH and fake < D_FAKE_LOW):
        return None
    reason = f"D(x) = {real:.2f} and D(G(z)) = {fake:.2f} over the last window"
    grad = _values(history, "grad/g")
    if len(grad) and np.nanmax(grad) > 0:
        _, recent = _window(history, "grad/g")
        reason += f"; grad/g at {100 * np.nanmean(recent) / np.nanmax(grad):.0f} % of its peak"
    return reason


def _stalled(history: History) -> str | None:
    reference = _last(history, "reference/fid")
    steps, fid = _window(history, "metric/fid")
    if reference is None or len(fid) < WINDOW_MIN_POINTS or not np.isfinite(fid).all():
        return None
    median = float(np.median(fid))
    spread = float(fid.max() - fid.min()) / max(median, 1e-12)
    if spread >= FROZEN_SPREAD or fid[-1] <= STALLED_RATIO * reference:
        return None
    return (f"FID frozen at {fid[-1]:.3g} over steps {steps[0]:.0f}-{steps[-1]:.0f} (within {100 * spread:.1f} %), "
            f"{fid[-1] / max(reference, 1e-12):.1f} x the real data's own {reference:.3g}")


def _blurry(history: History) -> str | None:
    hq = _last(history, "metric/hq")
    if hq is None or not math.isfinite(hq) or hq >= BLURRY_FRACTION * DATA_HQ:
        return None
    return (f"{hq:.1f} % of samples are high quality, under half of the data's own {DATA_HQ:.2f} %: "
            "most samples fall between the modes")


def _unfaithful(history: History) -> str | None:
    kept = _last(history, "translation/class_kept")
    if kept is None or not math.isfinite(kept) or kept >= KEPT_FRACTION:
        return None
    error = _last(history, "translation/l2_xy")
    return (f"{100 * kept:.0f} % of held-out translations keep their source's class (under "
            f"{100 * KEPT_FRACTION:.0f} %)"
            + (f", {error:.3g} from their truths on average" if error is not None else "")
            + ": G's outputs may look like the target domain, but they are not the translations of their sources")


def oscillation(history: History) -> float | None:
    """The swing statistic of rule 4 for loss/g, or None with fewer than WINDOW_MIN_POINTS points."""
    steps, values = _window(history, "loss/g")
    if len(values) < WINDOW_MIN_POINTS:
        return None
    # least-squares line through the window: a steady trend is not an oscillation
    x = steps - steps.mean()
    slope = (x * (values - values.mean())).sum() / max((x * x).sum(), 1e-300)
    residual = values - values.mean() - slope * x
    spread = np.percentile(residual, 90) - np.percentile(residual, 10)
    return float(spread / max(abs(float(np.median(values))), OSC_LEVEL_FLOOR))


def _equilibrium(history: History, loss: str) -> str:
    parts = []
    for name, label in (("loss/d", "loss/d"), ("d/real", "D(x)"), ("d/fake", "D(G(z))")):
        _, window = _window(history, name)
        if len(window):
            parts.append(f"{label} {np.mean(window):.3g}")
    if loss in LOSSES and LOSSES[loss].sigmoid and parts:
        parts.append(f"(equilibrium: loss/d = log 4 = {math.log(4):.3f}, D = 1/2)")
    modes, recall = _last(history, "metric/modes"), _last(history, "metric/recall")
    classes, fid = _last(history, "metric/classes"), _last(history, "metric/fid")
    if modes is not None:
        parts.append(f"modes {modes:.0f}")
    if classes is not None:
        parts.append(f"classes {classes:.0f}, FID {fid:.3g}")
    if recall is not None:
        parts.append(f"recall {recall:.2f}")
    return "no rule fired: " + ", ".join(parts) if parts else "no rule fired (nothing logged yet)"


def classify(history: History, loss: str, n_modes: int | None) -> tuple[str, str]:
    """(label, reason) for a run's history by the rules of the module docstring, checked in order."""
    reason = _diverged(history)
    if reason:
        return "diverged", reason
    reason = _mode_collapse(history, n_modes)
    if reason:
        return "mode_collapse", reason
    reason = _d_overpowers(history, loss)
    if reason:
        return "d_overpowers", reason
    swing = oscillation(history)
    if swing is not None and swing > OSC_RATIO:
        return "oscillating", (f"loss/g swings {swing:.2f} x its level over the last window "
                               f"(detrended 10-90 % spread / max(|median|, {OSC_LEVEL_FLOOR}) > {OSC_RATIO})")
    reason = _stalled(history)
    if reason:
        return "stalled", reason
    reason = _blurry(history)
    if reason:
        return "blurry", reason
    reason = _unfaithful(history)
    if reason:
        return "unfaithful", reason
    return "healthy", _equilibrium(history, loss)


# ---------------------------------------------------------------- labelling ended runs again
# Labels that come from facts outside the logged history: the loop's non-finite check stops a run before the
# value reaches the store, and the launcher marks a run whose process vanished.
KEPT_LABELS = ("diverged", "lost")


def relabel(run_id: str) -> tuple[str, str] | None:
    """Classify an ended run again from its history in the store and tag it; (label, reason), or None for a run
    that is still queued or running (its own process labels it) or whose label is one of KEPT_LABELS."""
    from engine import tracking
    from engine.data import get_dataset

    run = tracking.get_run(run_id)
    if run.info.status in (tracking.QUEUED, tracking.RUNNING) or run.data.tags.get("ganboard.health") in KEPT_LABELS:
        return None
    history = {key: list(zip(steps.astype(int).tolist(), values.tolist()))
               for key, (steps, _, values) in tracking.metric_histories(run_id).items()}
    dataset = get_dataset(run.data.params["dataset"])
    label, reason = classify(history, run.data.params["loss"], dataset.n_classes or None)
    tracking.set_tags(run_id, {"ganboard.health": label, "ganboard.health_reason": reason})
    return label, reason


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.health",
                                     description="Label ended runs again with this version's health rules.")
    parser.add_argument("run_ids", nargs="*", metavar="RUN_ID")
    parser.add_argument("--sweep", help="every run of this sweep (the ganboard.sweep tag)")
    args = parser.parse_args(argv)
    from engine import tracking
    from engine.launch import SWEEP_TAG

    run_ids = list(args.run_ids)
    if args.sweep:
        if "'" in args.sweep or "\\" in args.sweep:
            parser.exit(2, "--sweep: a sweep id has no quotes or backslashes (see the Runs page's sweep column)\n")
        found = tracking.search_run_ids(f"tags.`{SWEEP_TAG}` = '{args.sweep}'")
        if not found:
            parser.exit(2, f"--sweep: no run of sweep '{args.sweep}' in {tracking.tracking_uri()}\n")
        run_ids += found
    if not run_ids:
        parser.exit(2, "RUN_ID: give one or more run ids, or --sweep SWEEP_ID\n")
    failed = 0
    for run_id in run_ids:
        try:
            got = relabel(run_id)
        except Exception as exc:  # an unknown id or an unreachable store: say which, go on with the others
            failed += 1
            print(f"{run_id}: not relabelled: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                  file=sys.stderr)
            continue
        print(f"{run_id}: kept (still active, or diverged / lost)" if got is None else f"{run_id}: {got[0]}: {got[1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
