"""engine.health: every label from synthetic curves built to meet (or just miss) its documented rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import health
from engine.health import LABELS, classify

STEPS = np.arange(0, 2000, 10)  # 200 logged points; the last window is steps 1600..1990 (40 points)


def series(values, steps=STEPS) -> list[tuple[int, float]]:
    values = np.broadcast_to(np.asarray(values, dtype=float), (len(steps),))
    return [(int(s), float(v)) for s, v in zip(steps, values)]


def evals(values) -> list[tuple[int, float]]:
    return [(1000 * i, float(v)) for i, v in enumerate(values)]


def noise(scale: float, seed: int) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(len(STEPS))


def healthy_run(**overrides) -> dict[str, list[tuple[int, float]]]:
    """A settled ns run on the ring: D loss near log 4, D outputs near 1/2, all 8 modes, high recall."""
    history = {
        "loss/d": series(math.log(4) + noise(0.02, 0)),
        "loss/g": series(math.log(2) + noise(0.02, 1)),
        "d/real": series(0.5 + noise(0.01, 2)),
        "d/fake": series(0.5 + noise(0.01, 3)),
        "grad/g": series(1.0 + noise(0.05, 4)),
        "metric/modes": evals([0, 3, 8, 8]),
        "metric/hq": evals([0, 40, 85, 90]),
        "metric/precision": evals([0.0, 0.5, 0.9, 0.95]),
        "metric/recall": evals([0.0, 0.3, 0.9, 0.93]),
    }
    history.update(overrides)
    return history


def test_a_settled_run_is_healthy_and_says_why():
    label, reason = classify(healthy_run(), "ns", 8)
    assert label == "healthy"
    assert "log 4" in reason and "loss/d 1.39" in reason


def test_nothing_logged_yet_is_healthy():
    assert classify({}, "ns", 8) == ("healthy", "no rule fired (nothing logged yet)")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2e6])
@pytest.mark.parametrize("name", ["loss/d", "loss/g", "loss/penalty"])
def test_non_finite_or_exploded_loss_is_diverged(name, bad):
    values = np.full(len(STEPS), 0.7)
    values[120] = bad
    label, reason = classify(healthy_run(**{name: series(values)}), "ns", 8)
    assert label == "diverged"
    assert name in reason and "1200" in reason


def test_a_large_but_plausible_loss_is_not_diverged():
    assert classify(healthy_run(**{"loss/g": series(9e5)}), "wgan", 8)[0] != "diverged"


def test_diverged_wins_over_every_other_rule():
    history = healthy_run(**{"metric/modes": evals([0, 8, 1]), "loss/g": series([math.nan] * 200)})
    assert classify(history, "ns", 8)[0] == "diverged"


@pytest.mark.parametrize("modes, hq, label", [
    ([0, 5, 8, 6, 3], [0, 50, 90, 90, 90], "mode_collapse"),  # 3 < 8/2 and below the peak of 8
    ([0, 5, 8, 6, 4], [0, 50, 90, 90, 90], "healthy"),  # 4 is half of 8, not below it
    ([0, 1, 1, 1], [0, 60, 90, 95], "mode_collapse"),  # never more than 1 mode, but good samples of it
    ([0, 2, 3], [0, 10, 20], "blurry"),  # still rising, few good samples: not collapsed, but not good yet
    ([0, 0, 0], [0, 0, 0], "blurry"),  # nothing learnt yet: no collapse, and every sample is off the modes
])
def test_mode_collapse_by_modes(modes, hq, label):
    history = healthy_run(**{"metric/modes": evals(modes), "metric/hq": evals(hq),
                             "metric/recall": evals([0.9] * len(modes))})
    got, reason = classify(history, "ns", 8)
    assert got == label
    if label == "mode_collapse":
        assert f"{modes[-1]} of 8 modes" in reason


@pytest.mark.parametrize("recall, precision, label", [
    ([0.1, 0.5, 0.7, 0.15], [0.1, 0.3, 0.3, 0.3], "mode_collapse"),  # recall fell from 0.7
    ([0.0, 0.05, 0.1], [0.2, 0.8, 0.9], "mode_collapse"),  # precise but covering little
    ([0.0, 0.1, 0.15], [0.0, 0.2, 0.3], "healthy"),  # neither: an early, poor but not collapsed run
    ([0.1, 0.5, 0.7, 0.25], [0.9, 0.9, 0.9, 0.9], "healthy"),  # 0.25 is not below 0.2
])
def test_mode_collapse_by_recall_on_continuous_data(recall, precision, label):
    history = healthy_run(**{"metric/recall": evals(recall), "metric/precision": evals(precision)})
    del history["metric/modes"], history["metric/hq"]
    assert classify(history, "ns", None)[0] == label


def overpowered(d_real: float = 0.97, d_fake: float = 0.02) -> dict:
    # D wins in the second half: its outputs move to (d_real, d_fake) and G's gradient decays to 1 % of its peak
    ramp = np.clip((STEPS - 1000) / 500, 0, 1)
    return healthy_run(**{
        "d/real": series(0.5 + (d_real - 0.5) * ramp), "d/fake": series(0.5 + (d_fake - 0.5) * ramp),
        "loss/d": series(math.log(4) * (1 - ramp) + 0.05 * ramp),
        "loss/g": series(math.log(2) * (1 - ramp) + 4.0 * ramp),
        "grad/g": series(1.0 - 0.99 * ramp)})


@pytest.mark.parametrize("loss", ["minimax", "ns"])
def test_d_overpowers_for_probability_losses(loss):
    label, reason = classify(overpowered(), loss, 8)
    assert label == "d_overpowers"
    assert "D(x) = 0.97" in reason and "D(G(z)) = 0.02" in reason and "grad/g at 1 % of its peak" in reason


@pytest.mark.parametrize("d_real, d_fake", [(0.85, 0.02), (0.97, 0.15)])
def test_d_overpowers_needs_both_outputs_past_their_thresholds(d_real, d_fake):
    assert classify(overpowered(d_real, d_fake), "ns", 8)[0] == "healthy"


@pytest.mark.parametrize("loss", ["wgan", "hinge", "lsgan"])
def test_d_overpowers_does_not_apply_to_critics(loss):
    assert classify(overpowered(), loss, 8)[0] != "d_overpowers"


def test_d_overpowers_only_reads_the_last_window():
    early = np.where(STEPS < 1000, 0.99, 0.5)
    history = healthy_run(**{"d/real": series(early), "d/fake": series(1 - early)})
    assert classify(history, "ns", 8)[0] == "healthy"


def test_mode_collapse_wins_over_d_overpowers():
    history = overpowered()
    history["metric/modes"] = evals([0, 8, 2])
    assert classify(history, "ns", 8)[0] == "mode_collapse"


def symmetric_cosine(level: float, amplitude: float, slope: float = 0.0) -> np.ndarray:
    # 8 points a period, centred on the last window's middle (step 1795): an even signal around the centre, so the
    # least-squares line through the window has slope 0 and the 10-90 % spread of the window is exactly
    # 2 cos(pi / 8) * amplitude (its values are +-cos(pi/8) A and +-cos(3 pi/8) A, ten of each)
    return level + slope * (STEPS - 1795) + amplitude * np.cos(2 * np.pi * (STEPS - 1795) / 80)


def test_oscillation_statistic_of_a_cosine_is_its_closed_form():
    history = healthy_run(**{"loss/g": series(symmetric_cosine(1.5, 1.0))})
    assert health.oscillation(history) == pytest.approx(2 * math.cos(math.pi / 8) * 1.0 / 1.5, rel=1e-9)
    history = healthy_run(**{"loss/g": series(symmetric_cosine(0.1, 0.2))})  # level floored at 0.5
    assert health.oscillation(history) == pytest.approx(2 * math.cos(math.pi / 8) * 0.2 / 0.5, rel=1e-9)


def test_strong_swings_of_loss_g_are_oscillating():
    label, reason = classify(healthy_run(**{"loss/g": series(symmetric_cosine(1.5, 1.0))}), "ns", 8)
    assert label == "oscillating" and "1.23" in reason


@pytest.mark.parametrize("loss_g", [
    symmetric_cosine(1.5, 0.3),  # swings of 0.37 x its level: noise-like
    symmetric_cosine(1.5, 0.1, slope=0.008),  # a steady climb of 3.1 over the window is a trend, not a swing
])
def test_small_swings_or_a_trend_are_not_oscillating(loss_g):
    assert classify(healthy_run(**{"loss/g": series(loss_g)}), "ns", 8)[0] == "healthy"


def test_window_is_the_last_fifth_of_the_steps_but_at_least_five_points():
    history = {"a": series(np.arange(200.0)), "b": [(5, 1.0), (0, 0.0), (9, 2.0)],
               "c": [(s, float(s)) for s in (0, 1, 2, 3, 4, 5, 6, 7, 1000)]}
    steps, values = health._window(history, "a")
    assert steps[0] == 1600 and len(values) == 40
    np.testing.assert_array_equal(health._window(history, "b")[0], [0, 5, 9])  # sorted, all three
    assert len(health._window(history, "c")[1]) == 5


def test_every_label_is_reachable_and_declared():
    histories = {
        "healthy": healthy_run(),
        "diverged": healthy_run(**{"loss/d": series([math.nan] * 200)}),
        "mode_collapse": healthy_run(**{"metric/modes": evals([0, 8, 1])}),
        "d_overpowers": overpowered(),
        "oscillating": healthy_run(**{"loss/g": series(symmetric_cosine(1.5, 1.0))}),
        "stalled": healthy_run(**{"reference/fid": [(0, 2.0)], "metric/fid": evals([90, 30.2, 30.1, 30.0, 30.3, 30.2])}),
        "blurry": healthy_run(**{"metric/hq": evals([0, 40, 30])}),
        "unfaithful": healthy_run(**{"translation/class_kept": evals([0.0, 0.1])}),
    }
    assert {label: classify(h, "ns", 8)[0] for label, h in histories.items()} == {l: l for l in LABELS}


def test_data_hq_is_what_samples_of_the_data_score():
    # the rule's yardstick against the definition: the HQ % of a large draw from the grid itself
    from engine.data.toy import grid
    from engine.metrics import mode_stats
    import torch
    x = grid().sample(200_000, torch.Generator().manual_seed(0)).x
    assert health.DATA_HQ == pytest.approx(100 * (1 - math.exp(-9 / 2)), rel=1e-12)
    assert mode_stats(grid(), x)["metric/hq"] == pytest.approx(health.DATA_HQ, abs=0.1)


@pytest.mark.parametrize("last_hq, label", [(49.4, "blurry"), (12.0, "blurry"), (49.5, "healthy"), (90.0, "healthy")])
def test_hq_under_half_of_the_datas_own_is_blurry(last_hq, label):
    # all 8 modes found: only the quality of the samples can tell these runs apart; the threshold is 49.44 %
    got, reason = classify(healthy_run(**{"metric/hq": evals([0, 80, last_hq])}), "ns", 8)
    assert got == label
    if label == "blurry":
        assert f"{last_hq:.1f} %" in reason and "98.89 %" in reason


def test_a_cause_in_the_dynamics_wins_over_blurry():
    history = healthy_run(**{"loss/g": series(symmetric_cosine(1.5, 1.0)), "metric/hq": evals([0, 10])})
    assert classify(history, "ns", 8)[0] == "oscillating"
    # few modes, none lost, samples poor: not a collapse (G draws no good samples to collapse onto), but blurry
    assert classify(healthy_run(**{"metric/modes": evals([0, 2]), "metric/hq": evals([0, 5])}), "ns", 8)[0] == "blurry"


def test_relabel_judges_ended_runs_again_from_the_store_and_keeps_what_the_history_cannot_show(tmp_path, monkeypatch):
    from mlflow.entities import Metric

    from engine import tracking
    from engine.config import build_config

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    history = healthy_run(**{"metric/hq": evals([0, 20, 12.5])})  # all 8 modes, samples between them: blurry
    want = classify(history, "ns", 8)
    assert want[0] == "blurry"
    cfg = build_config("ns", {"dataset": "ring"}).to_dict()
    stale = {"ganboard.health": "healthy", "ganboard.health_reason": "an older rule"}
    ids = {name: tracking.create_run(cfg, tags={**stale, **extra}, status=status) for name, status, extra in (
        ("ended", tracking.FINISHED, {}), ("running", tracking.RUNNING, {}),
        ("lost", tracking.FAILED, {"ganboard.health": "lost"}))}
    c = tracking.client()
    for run_id in ids.values():
        c.log_batch(run_id, metrics=[Metric(k, v, 0, s) for k, series in history.items() for s, v in series])
    assert health.main([ids["ended"], ids["running"], ids["lost"]]) == 0
    tags = {name: tracking.get_run(run_id).data.tags for name, run_id in ids.items()}
    assert (tags["ended"]["ganboard.health"], tags["ended"]["ganboard.health_reason"]) == want
    assert tags["running"]["ganboard.health"] == "healthy" and tags["lost"]["ganboard.health"] == "lost"
    assert health.main(["no-such-run"]) == 1
    # a whole sweep at once; a sweep the store does not know is a one-line error
    tracking.set_tags(ids["ended"], {"ganboard.sweep": "sw1", **stale})
    assert health.main(["--sweep", "sw1"]) == 0
    assert tracking.get_run(ids["ended"]).data.tags["ganboard.health"] == "blurry"
    with pytest.raises(SystemExit) as stop:
        health.main(["--sweep", "nope"])
    assert stop.value.code == 2


def image_run(**overrides) -> dict[str, list[tuple[int, float]]]:
    """A settled ns run on an image set of 10 classes: no mode or HQ series, classes and FID from the classifier."""
    history = healthy_run(**{"metric/classes": evals([10] * 6), "metric/precision": evals([0.7] * 6),
                             "metric/fid": evals([90, 40, 20, 12, 8, 6]), "reference/fid": [(0, 2.0)]})
    history.pop("metric/modes", None)
    history.pop("metric/hq", None)
    history.update(overrides)
    return history


@pytest.mark.parametrize("classes, precision, label", [
    ([10, 10, 10, 10, 10, 4], 0.1, "mode_collapse"),  # 4 of 10 classes, down from all 10
    ([2, 2, 3, 3, 4, 4], 0.8, "mode_collapse"),  # never more than 4, but good samples: a collapsed histogram
    ([2, 2, 3, 3, 4, 4], 0.3, "healthy"),  # few classes of bad samples: early training, not a collapse
    ([2, 3, 4, 5, 6, 5], 0.9, "healthy"),  # 5 of 10 is not below half
])
def test_a_collapsed_class_histogram_is_mode_collapse(classes, precision, label):
    history = image_run(**{"metric/classes": evals(classes), "metric/precision": evals([precision] * 6)})
    assert classify(history, "ns", 10)[0] == label


@pytest.mark.parametrize("fid, label", [
    ([90, 30.2, 30.1, 30.0, 30.3, 30.2], "stalled"),  # within 1 % for the last 5 evaluations, 15 x the data's 2
    ([90, 30.2, 30.1, 30.0, 30.3, 29.4], "healthy"),  # still falling: 3 % over the window
    ([90, 5.0, 5.02, 5.01, 5.0, 5.03], "healthy"),  # frozen, but at 2.5 x the data's own: done, not stalled
    ([30.2, 30.1, 30.0, 30.3], "healthy"),  # fewer than 5 evaluations
])
def test_a_frozen_fid_far_from_the_data_is_stalled(fid, label):
    got, reason = classify(image_run(**{"metric/fid": evals(fid)}), "ns", 10)
    assert got == label, reason
    if label == "stalled":
        assert "frozen at 30.2" in reason and "the real data's own 2" in reason


def test_a_points_run_with_a_frozen_fid_is_not_stalled():
    # toy runs log no reference/fid: their FID near 0 may well sit still at the end
    history = healthy_run(**{"metric/fid": evals([9, 3.0, 3.01, 3.0, 3.02, 3.01])})
    assert classify(history, "ns", 8)[0] == "healthy"


@pytest.mark.parametrize("kept, label", [(0.0, "unfaithful"), (0.49, "unfaithful"), (0.5, "healthy"), (0.97, "healthy")])
def test_a_translation_that_loses_its_sources_class_is_unfaithful(kept, label):
    """CycleGAN on ring-rotated: every mode covered, HQ 99 %, cycles closed, yet no translation on its own mode."""
    history = healthy_run(**{"translation/class_kept": evals([0.0, kept]), "translation/l2_xy": evals([1.0, 0.765])})
    got, reason = classify(history, "ns", 8)
    assert got == label
    if label == "unfaithful":
        assert f"{100 * kept:.0f} % of held-out translations keep their source's class" in reason and "0.765" in reason


def test_a_translation_not_yet_in_the_target_domain_is_blurry_first():
    history = healthy_run(**{"metric/hq": evals([0, 10]), "translation/class_kept": evals([0.0, 0.0])})
    assert classify(history, "ns", 8)[0] == "blurry"
