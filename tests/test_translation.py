"""The translation GANs (pix2pix, cyclegan) and their domain pairs, held to known answers: a point pair's target is
its source under the map, with the change-of-variables density; an image pair's target is the pixel map of its
source, row for row; paired draws carry their truth and unpaired ones do not; the translation errors and the kept
class against hand computations; translators that are the true map (and its inverse) measured with error 0, and a
CycleGAN that turns the ring one mode too far measured with the chord between neighbouring modes; the losses'
terms by hand; the refusals; and a Pix2Pix that learns the ring's rotation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_train import RecordingLogger

from engine.config import ConfigError, build_config
from engine.data import DATASETS, PAIRS, get_dataset
from engine.data.stream import DataStream
from engine.metrics.translation import class_kept, translation_errors
from engine.train import Trainer, train
from engine.variants.cyclegan import BACKWARD, FORWARD, led

CPU = torch.device("cpu")
TINY = {"steps": 4, "eval_every": 4, "batch_size": 32, "log_every": 2, "eval_samples": 400, "grid_size": 16}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------------ the pairs
@pytest.mark.parametrize("name", [n for n in PAIRS if DATASETS[n].modality == "points"])
def test_a_point_pair_is_its_source_under_the_map_with_the_change_of_variables_density(name):
    pair, source = get_dataset(name), get_dataset(DATASETS[name].source)
    batch = pair.sample(500, _gen())
    torch.testing.assert_close(batch.x, batch.source @ torch.as_tensor(pair.matrix.T, dtype=torch.float32))
    torch.testing.assert_close(pair.untranslate(batch.x), batch.source, atol=1e-6, rtol=0)
    # p_Y(T(s)) = p_X(s) / |det A|: the target mixture's exact density is the source's moved by the map
    log_det = math.log(abs(np.linalg.det(pair.matrix)))
    np.testing.assert_allclose(pair.log_prob(batch.x.double()), source.log_prob(batch.source.double()) - log_det,
                               atol=1e-4)
    # and the target is the same mixture drawn directly: same modes in the same order, the map's scale on sigma
    np.testing.assert_allclose(pair.means, source.means @ pair.matrix.T)
    assert pair.sigma == pytest.approx(source.sigma * math.sqrt(abs(np.linalg.det(pair.matrix))))


def test_the_ring_pair_turns_by_half_a_mode_and_keeps_each_draws_mode_as_its_label():
    pair = get_dataset("ring-rotated")
    angles = np.degrees(np.arctan2(pair.means[:, 1], pair.means[:, 0])) % 360
    np.testing.assert_allclose(angles, 22.5 + 45 * np.arange(8), atol=1e-9)
    batch = pair.sample(400, _gen(1))
    nearest = torch.cdist(batch.x.double(), torch.as_tensor(pair.means)).argmin(1)
    assert (nearest == batch.y).float().mean() == 1.0


def test_unpaired_draws_are_independent_and_paired_ones_are_not():
    pair = get_dataset("ring-rotated")
    source_modes = get_dataset("ring").means

    def agreement(batch) -> float:
        found = torch.cdist(batch.source.double(), torch.as_tensor(source_modes)).argmin(1)
        return float((found == batch.y).float().mean())

    assert agreement(pair.sample(4000, _gen(2))) == 1.0
    assert agreement(pair.sample_unpaired(4000, _gen(2))) == pytest.approx(1 / 8, abs=0.02)  # chance: 8 modes


@pytest.mark.parametrize("name, pixel_map", [("mnist-negative", lambda s: -s),
                                              ("mnist-rot90", lambda s: torch.rot90(s, 1, dims=(2, 3)))])
def test_an_image_pair_is_the_pixel_map_of_its_source_row_for_row(name, pixel_map):
    pair, mnist = get_dataset(name), get_dataset("mnist")
    batch = pair.sample(64, _gen(3))
    torch.testing.assert_close(batch.x, pixel_map(batch.source), atol=1e-6, rtol=0)
    held = pair.heldout(50)
    torch.testing.assert_close(held.source, mnist.heldout(50).x)
    torch.testing.assert_close(held.x, pixel_map(held.source), atol=1e-6, rtol=0)
    torch.testing.assert_close(held.y, mnist.heldout(50).y)
    unpaired = pair.sample_unpaired(256, _gen(3))
    assert not torch.allclose(unpaired.x, pixel_map(unpaired.source), atol=1e-3)


def test_the_edges_pair_is_the_sobel_magnitude_of_its_source_by_scipy():
    from scipy import ndimage

    pair, mnist = get_dataset("mnist-edges"), get_dataset("mnist")
    digits = mnist.train_x[:50, 0].numpy().astype(np.float64)
    gx = np.stack([ndimage.sobel(d, axis=1, mode="constant") for d in digits])  # d/dx: along the columns
    gy = np.stack([ndimage.sobel(d, axis=0, mode="constant") for d in digits])
    by_scipy = np.clip(np.round(np.hypot(gx, gy) / (4 * 255) * 255), 0, 255)
    np.testing.assert_array_equal(pair.train_x[:50, 0].numpy(), by_scipy.astype(np.uint8))
    torch.testing.assert_close(pair.sample(8, _gen(5)).source, mnist.sample(8, _gen(5)).x)  # the same rows drawn


def test_a_fixed_training_set_keeps_each_rows_source_with_it():
    pair = get_dataset("grid-scaled")
    stream = DataStream(pair, 16, 48, _gen(4))
    for _ in range(5):  # past the first epoch's reshuffle
        batch = stream.next()
        torch.testing.assert_close(batch.x, pair.translate(batch.source))


# ------------------------------------------------------------------------------------------------ the metrics
def test_translation_errors_and_kept_class_by_hand():
    truth = np.zeros((2, 1, 2, 2))
    pred = truth.copy()
    pred[0, 0, 0, 0], pred[1] = 3.0, 1.0  # first image: one pixel off by 3; second: every pixel off by 1
    l1, l2 = translation_errors(pred, truth)
    assert l1 == pytest.approx((3 + 4) / 8)  # 8 pixels in all
    assert l2 == pytest.approx((3 + 2) / 2)  # distances 3 and sqrt(4) = 2
    assert class_kept(np.array([0, 1, 2, 3]), np.array([0, 1, 5, 3])) == 0.75
    with pytest.raises(ValueError):
        translation_errors(pred, truth[:1])


class Exact(torch.nn.Module):
    """A translator made of maps: each row of G's input translated by `fn(row's input)` (no parameters to train)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, g_in: torch.Tensor) -> torch.Tensor:
        return self.fn(g_in)


def _evaluate_with(cfg, G):
    trainer = Trainer(cfg, CPU)
    trainer.G = G
    return trainer.evaluate()


def test_pix2pix_with_the_true_map_for_g_measures_error_zero_and_keeps_every_class_within_3_sigma():
    cfg = build_config(None, {"dataset": "ring-rotated", "variant": "pix2pix", **TINY})
    pair = get_dataset("ring-rotated")
    values = _evaluate_with(cfg, Exact(lambda g_in: pair.translate(g_in[:, cfg.z_dim:]))).values
    assert values["translation/l1_xy"] == pytest.approx(0.0, abs=1e-6)
    assert values["translation/l2_xy"] == pytest.approx(0.0, abs=1e-6)
    # kept where the found class (the mode within 3 sigma) is the source's: exactly the held-out sources within
    # 3 sigma of their own mode, as a rotation keeps distances
    held = Trainer(cfg, CPU).evaluation.heldout
    ring = get_dataset("ring")
    near = (held.source.double() - torch.as_tensor(ring.means)[held.y]).norm(dim=1) < 3 * ring.sigma
    assert values["translation/class_kept"] == pytest.approx(float(near.double().mean()))
    assert values["metric/hq"] > 95  # the target domain's own metrics see the translations as Y's samples


def test_pix2pix_on_images_is_scored_on_the_held_out_split_where_the_true_map_keeps_what_the_classifier_finds():
    """G = the true map (the negative) on mnist-negative: error 0 on the 500 held-out pairs, and the kept class is
    exactly the share of held-out negatives the target's classifier calls by their label."""
    cfg = build_config("pix2pix-mnist", {"steps": 1, "eval_every": 0})
    trainer = Trainer(cfg, CPU)
    pixels = math.prod(trainer.dataset.shape)
    trainer.G = Exact(lambda g_in: -g_in[:, cfg.z_dim:].view(-1, *trainer.dataset.shape))
    values, arrays, _ = trainer.evaluate()
    held = trainer.evaluation.heldout
    assert len(held.x) == 500 and pixels == 784
    assert values["translation/l1_xy"] == pytest.approx(0.0, abs=1e-6)
    by_hand = float((trainer.evaluation.classify(held.x) == held.y.numpy()).mean())
    assert values["translation/class_kept"] == pytest.approx(by_hand) and by_hand > 0.9
    np.testing.assert_allclose(arrays["translations"]["source"], held.source[:64].numpy())


def _two_way(forward, backward):
    def fn(g_in: torch.Tensor) -> torch.Tensor:
        way, s = g_in[:, :1], g_in[:, 1:]
        return torch.where(way > 0.5, backward(s), forward(s))
    return Exact(fn)


def test_cyclegan_with_the_map_and_its_inverse_measures_zero_both_ways_and_round_trip():
    cfg = build_config(None, {"dataset": "ring-rotated", "variant": "cyclegan", **TINY})
    pair = get_dataset("ring-rotated")
    values, arrays, _ = _evaluate_with(cfg, _two_way(pair.translate, pair.untranslate))
    for key in ("l1_xy", "l2_xy", "l1_yx", "l2_yx", "l1_cycle_x", "l2_cycle_x", "l1_cycle_y", "l2_cycle_y"):
        assert values[f"translation/{key}"] == pytest.approx(0.0, abs=1e-5), key
    # the Gallery's snapshot: the first 64 sources with their translations both ways and their truths
    shown = arrays["translations"]
    held = Trainer(cfg, CPU).evaluation.heldout
    np.testing.assert_allclose(shown["source"], held.source[:64].numpy())
    np.testing.assert_allclose(shown["truth"], held.x[:64].numpy())
    np.testing.assert_allclose(shown["translated"], shown["truth"], atol=1e-6)
    np.testing.assert_allclose(shown["back"], shown["source"], atol=1e-6)


def test_a_cyclegan_one_mode_too_far_is_measured_with_the_chord_between_neighbouring_modes():
    """F turns by 22.5 + 45 degrees and G turns back by as much: every mode lands on a mode (the target metrics
    cannot tell) and the cycle is exact, but each translation is one mode off: |R(45) y - y| = 2 sin(22.5) |y|."""
    cfg = build_config(None, {"dataset": "ring-rotated", "variant": "cyclegan", **TINY})
    a = math.radians(67.5)
    turn = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])  # R(67.5): s -> s R^T
    values = _evaluate_with(cfg, _two_way(lambda s: s @ turn.T, lambda s: s @ turn)).values
    held = Trainer(cfg, CPU).evaluation.heldout
    chord = 2 * math.sin(math.radians(22.5)) * held.x.double().norm(dim=1).mean().item()
    assert values["translation/l2_xy"] == pytest.approx(chord, rel=1e-5)
    assert values["translation/l2_yx"] == pytest.approx(chord, rel=1e-5)
    assert values["translation/l2_cycle_x"] == pytest.approx(0.0, abs=1e-5)
    assert values["translation/class_kept"] == 0.0
    assert values["metric/modes"] == 8  # every mode covered: only the truth shows the map is wrong


# ------------------------------------------------------------------------------------------------ the losses
def test_pix2pix_g_takes_each_rows_own_source_and_adds_lambda_l1_to_the_paired_truth():
    cfg = build_config(None, {"dataset": "ring-rotated", "variant": "pix2pix", "l1_weight": 7.0, **TINY})
    t = Trainer(cfg, CPU)
    real = t.real_batch()
    latent = t.variant.latent_for(real, t.gen, CPU)
    torch.testing.assert_close(latent.g_in[:, cfg.z_dim:], real.source)
    torch.testing.assert_close(latent.truth, t.dataset.translate(real.source))
    fake = t.G(latent.g_in)
    extra = t.variant.g_extra(None, latent, t.D, t.G, real, t.d_input, fake)
    assert extra.item() == pytest.approx(7.0 * (fake - real.x).abs().mean().item(), rel=1e-6)
    # D judges (x, source): the same scores as its core on the two side by side
    torch.testing.assert_close(t.D(real.x, real.source), t.D.core(torch.cat([real.x, real.source], 1)))


def test_cyclegan_trains_on_unpaired_draws_with_y_over_x_for_its_two_ds_and_the_cycle_and_identity_terms():
    cfg = build_config(None, {"dataset": "ring-rotated", "variant": "cyclegan", "cycle_weight": 3.0,
                              "identity_weight": 0.5, **TINY})
    t = Trainer(cfg, CPU)
    real = t.real_batch()
    n = cfg.batch_size
    assert len(real.x) == 2 * n
    assert not torch.allclose(real.x[:n], t.dataset.translate(real.x[n:]), atol=0.1)  # two independent draws
    torch.testing.assert_close(real.source, torch.cat([real.x[n:], real.x[:n]]))  # X over Y: what F and G take
    torch.testing.assert_close(t.D(real.x), torch.cat([t.D.d_target(real.x[:n]), t.D.d_source(real.x[n:])]))
    latent = t.variant.latent_for(real, t.gen, CPU)
    fake = t.G(latent.g_in)
    F_, G_ = t.G.forward_net, t.G.backward_net
    torch.testing.assert_close(fake, torch.cat([F_(real.source[:n]), G_(real.source[n:])]))
    x, y = real.source[:n], real.source[n:]
    cycle = (G_(F_(x)) - x).abs().mean() + (F_(G_(y)) - y).abs().mean()
    identity = (F_(y) - y).abs().mean() + (G_(x) - x).abs().mean()
    extra = t.variant.g_extra(None, latent, t.D, t.G, real, t.d_input, fake)
    assert extra.item() == pytest.approx((3.0 * cycle + 0.5 * identity).item(), rel=1e-5)
    assert t.variant.source_weight == 2.0  # the mean over both halves times 2: the paper's sum of the two


def test_g_leads_each_row_with_its_direction():
    g_in = led(BACKWARD, torch.ones(3, 2))
    assert g_in.shape == (3, 3) and (g_in[:, 0] == BACKWARD).all() and FORWARD != BACKWARD


@pytest.mark.parametrize("overrides, message", [
    ({"variant": "pix2pix", "dataset": "ring"}, "variant: pix2pix translates between the two domains"),
    ({"variant": "cyclegan", "dataset": "mnist"}, "variant: cyclegan translates"),
    ({"variant": "gan", "dataset": "ring-rotated", "l1_weight": 5.0}, "l1_weight: only for the pix2pix variant"),
    ({"variant": "pix2pix", "dataset": "ring-rotated", "cycle_weight": 1.0}, "cycle_weight: only for the cyclegan"),
    # CycleGAN's nets take no z: no size, prior or truncation of one (a truncation would cut into the sources)
    ({"variant": "cyclegan", "dataset": "ring-rotated", "truncation": 1.0}, "truncation: only for the gan, cgan"),
    ({"variant": "cyclegan", "dataset": "ring-rotated", "z_dim": 8}, "z_dim: only for the gan, cgan"),
])
def test_translation_settings_that_mean_nothing_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        build_config(None, overrides)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_plain_gan_on_a_pair_learns_the_target_domain_alone():
    cfg = build_config(None, {"dataset": "ring-rotated", **TINY})
    result = train(cfg, RecordingLogger())
    assert result.status == "FINISHED" and not any(k.startswith("translation/") for k in result.last_metrics)


# ------------------------------------------------------------------------------------------------ learning
def test_pix2pix_learns_the_rings_rotation():
    """A known answer of training: after 1,500 steps of the pix2pix-ring preset, G's translations of the evaluation's
    sources lie within 0.05 of their truths on average (seeds 0-2: 0.012, 0.013, 0.012 on an AMD EPYC; an
    untrained G: about 1, the ring's radius)."""
    cfg = build_config("pix2pix-ring", {"steps": 1500, "eval_every": 0, "eval_samples": 1000})
    result = train(cfg, RecordingLogger())
    assert result.last_metrics["translation/l2_xy"] < 0.05
