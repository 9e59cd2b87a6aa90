"""The image-era architectures (engine/nets: progan, stylegan, sagan, biggan) against their papers' definitions.

Shapes of every net with every variant; each building block (equalised learning rate, pixel norm, minibatch
standard deviation, AdaIN, noise injection, self-attention, conditional BatchNorm) against its formula written out
here; ProGAN's schedule and fade-in; StyleGAN's truncation, fixed evaluation noise and style mixing; BigGAN's
hierarchical latent and shared embedding; orthogonal regularisation and the truncated normal against closed forms
and scipy; the config's refusals; a short training run of each architecture and preset.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from engine import tricks, variants
from engine.config import ConfigError, build_config
from engine.data import get_dataset
from engine.nets import ARCHS, pack, set_progress, truncated
from engine.nets import biggan, blocks, progan
from engine.presets import PRESETS
from engine.train import Trainer, train

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:std\\(\\):UserWarning")
IMAGE_ERA = ("progan", "stylegan", "sagan", "biggan")
SMALL = {"g_channels": 8, "d_channels": 8, "batch_size": 8, "z_dim": 16}
CPU = torch.device("cpu")


class RecordingLogger:
    def __init__(self):
        self.errors, self.metrics, self.tags, self.torch = [], [], {}, {}

    def log_metrics(self, values, step):
        self.metrics.append((step, dict(values)))

    def set_tags(self, tags):
        self.tags.update(tags)

    def log_npz(self, name, **arrays): ...
    def log_bytes(self, name, data): ...

    def log_torch(self, name, state):
        self.torch[name] = state


def nets_of(overrides: dict):
    cfg = build_config(None, {**SMALL, **overrides})
    data = get_dataset(cfg.dataset)
    variant = variants.build(cfg, data)
    return cfg, data, variant, *variant.nets()


# ---------------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("arch", IMAGE_ERA)
@pytest.mark.parametrize("dataset, extra", [
    ("mnist", {}), ("stacked-mnist", {}), ("digits", {"conv_stages": 1}), ("digits", {"conv_stages": 3}),
    ("mnist", {"variant": "cgan", "projection": True}), ("mnist", {"variant": "cgan"}), ("mnist", {"variant": "acgan"}),
    ("mnist", {"variant": "infogan"}), ("mnist", {"variant": "bigan"}), ("mnist", {"pack": 2}),
    ("mnist", {"mbd_kernels": 4}), ("mnist", {"spectral_norm": True}),
])
def test_each_g_yields_the_datas_shape_and_each_d_one_score_per_row(arch, dataset, extra):
    cfg, data, variant, G, D = nets_of({"arch": arch, "dataset": dataset, **extra})
    assert ARCHS[arch].modalities == ("images",)
    for step in (0, cfg.steps // 4, cfg.steps // 2, cfg.steps):  # every side a growing run passes through
        set_progress([G, D], step, cfg.steps)
        latent = variant.latent(8, torch.Generator().manual_seed(0), CPU)
        x = G(latent.g_in)
        assert x.shape == (8, *data.shape)
        assert variant.judge_fake(D, pack(x, cfg.pack), latent).score.shape == (8 // cfg.pack,)
        real = data.sample(8, torch.Generator().manual_seed(1))
        assert variant.judge_real(D, G, pack(real.x, cfg.pack), real).score.shape == (8 // cfg.pack,)


# ------------------------------------------------------------------------------------------ the blocks
def test_equalised_layers_scale_unit_normal_weights_by_hes_constant_at_run_time():
    torch.manual_seed(0)
    linear, conv = blocks.EqualizedLinear(400, 300), blocks.EqualizedConv2d(16, 32, 3)
    assert abs(float(linear.weight.detach().std()) - 1) < 0.01 and float(linear.bias.detach().abs().max()) == 0
    x = torch.randn(5, 400)
    torch.testing.assert_close(linear(x), x @ (linear.weight * math.sqrt(2 / 400)).T)
    img = torch.randn(2, 16, 7, 7)
    torch.testing.assert_close(conv(img), F.conv2d(img, conv.weight * math.sqrt(2 / (16 * 9)), conv.bias, padding=1))


def test_pixel_norm_gives_every_pixels_features_unit_root_mean_square():
    x = torch.randn(3, 8, 5, 5) * 7
    y = blocks.PixelNorm()(x)
    torch.testing.assert_close(y.pow(2).mean(1), torch.ones(3, 5, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))


def test_minibatch_stddev_appends_each_groups_mean_feature_std_as_a_map():
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    y = blocks.MinibatchStdDev(4)(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    arr = x.numpy()
    for i in range(8):
        group = arr[[j for j in range(8) if j % 2 == i % 2]]  # rows i, i + 2, i + 4, i + 6: the paper's grouping
        expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[i, 3].numpy(), expected, rtol=1e-12)


def test_adain_gives_each_map_the_styles_mean_and_standard_deviation():
    adain = blocks.AdaIN(4, 6)
    w = torch.randn(3, 6)
    x = torch.randn(3, 4, 5, 5) * 3 + 2
    y = adain(x, w)
    scale, shift = adain.affine(w).chunk(2, dim=1)
    torch.testing.assert_close(y.mean(dim=(2, 3)), shift, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=(2, 3), unbiased=False), scale.abs(), atol=1e-4, rtol=1e-4)
    fresh = blocks.AdaIN(4, 6)
    nn.init.zeros_(fresh.affine.weight)  # the initial style is y_s = 1, y_b = 0: plain instance normalisation
    torch.testing.assert_close(fresh(x, w), F.instance_norm(x, eps=1e-8), atol=1e-4, rtol=1e-4)


def test_noise_injection_adds_b_times_fresh_noise_in_training_and_its_fixed_map_in_evaluation():
    layer = blocks.NoiseInjection(3, (4, 4))
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x), x)  # B starts at 0
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 0.0]).view(1, 3, 1, 1))
    layer.eval()
    torch.testing.assert_close(layer(x), x + layer.weight * layer.fixed)
    layer.train()
    a, b = layer(x) - x, layer(x) - x
    assert not torch.equal(a, b) and torch.equal(a[:, 2], torch.zeros_like(a[:, 2]))
    torch.testing.assert_close(a[:, 1], 2 * a[:, 0])  # one noise map per image, scaled per channel


def test_self_attention_is_the_identity_at_gamma_0_and_its_formula_otherwise():
    torch.manual_seed(0)
    block = blocks.SelfAttention(16)
    x = torch.randn(2, 16, 3, 3)
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.gamma.fill_(0.7)
    f, g, h = (conv(x).flatten(2) for conv in (block.f, block.g, block.h))  # (n, C', N)
    expected = torch.empty(2, 8, 9)
    for n in range(2):
        for j in range(9):
            scores = torch.stack([f[n, :, i] @ g[n, :, j] for i in range(9)])  # s_ij = f(x_i)^T g(x_j)
            beta = torch.exp(scores) / torch.exp(scores).sum()  # beta_j,i over i
            expected[n, :, j] = sum(beta[i] * h[n, :, i] for i in range(9))
    torch.testing.assert_close(block(x), x + 0.7 * block.v(expected.view(2, 8, 3, 3)), atol=1e-5, rtol=1e-5)


def test_conditional_batchnorm_is_batchnorm_scaled_and_shifted_by_linear_functions_of_the_condition():
    cbn = blocks.ConditionalBatchNorm(4, 3)
    x, c = torch.randn(6, 4, 5, 5), torch.randn(6, 3)
    torch.testing.assert_close(cbn(x, c), F.batch_norm(x, None, None, training=True))  # zero-initialised
    nn.init.normal_(cbn.gain.weight)
    nn.init.normal_(cbn.bias.weight)
    gain, bias = c @ cbn.gain.weight.T, c @ cbn.bias.weight.T
    expected = F.batch_norm(x, None, None, training=True) * (1 + gain)[:, :, None, None] + bias[:, :, None, None]
    torch.testing.assert_close(cbn(x, c), expected)


# ---------------------------------------------------------------------------------------------------- progan
@pytest.mark.parametrize("step, expected", [
    (0, (0, 1.0)), (9, (0, 1.0)), (10, (1, 0.0)), (15, (1, 0.5)), (19, (1, 0.9)), (20, (1, 1.0)), (29, (1, 1.0)),
    (30, (2, 0.0)), (34, (2, 0.4)), (40, (2, 1.0)), (50, (2, 1.0)),
])
def test_progan_schedule_is_the_base_then_a_fade_in_and_a_stable_phase_per_level(step, expected):
    # 50 steps, 2 stages: 5 phases of 10 steps (7 x 7; fade to 14; 14; fade to 28; 28)
    level, alpha = progan.schedule(step, 50, 2)
    assert (level, alpha) == pytest.approx(expected)
    assert progan.schedule(step * 3, 1000, 2, phase_steps=30) == pytest.approx(expected)


def test_progan_fades_each_new_level_in_and_its_d_pools_what_g_upsampled():
    cfg, data, variant, G, D = nets_of({"arch": "progan", "dataset": "mnist", "steps": 50})
    z = torch.randn(4, cfg.z_dim)
    logged = set_progress([G, D], 15, 50)  # fading 14 x 14 in, alpha 0.5
    assert logged == {"grow/resolution": 14.0, "grow/alpha": 0.5}
    out = G(z)
    # by hand from G's parts: alpha * to_rgb_1(block_1(h)) + (1 - alpha) * upsample(to_rgb_0(h)), then up to 28
    h = G.norm(F.leaky_relu(G.project(G.norm(z)), 0.2).view(4, -1, 7, 7))
    h = G.norm(F.leaky_relu(G.base_conv(h), 0.2))
    high, low = G.to_rgb[1](G.block(1, h)), F.interpolate(G.to_rgb[0](h), scale_factor=2)
    torch.testing.assert_close(out, F.interpolate(0.5 * high + 0.5 * low, size=(28, 28)))
    # shown at 14 x 14: every 2 x 2 block of the 28 x 28 output is one pixel, which D's pooling gives back exactly
    torch.testing.assert_close(F.interpolate(F.avg_pool2d(out, 2), scale_factor=2), out)
    set_progress([G, D], 0, 50)
    base = G(z)
    torch.testing.assert_close(base, F.interpolate(F.avg_pool2d(base, 4), scale_factor=4))  # 7 x 7 at the start
    # D at 14 x 14 with alpha 0.5: the images faded from 7 x 7 and the two from_rgb paths mixed, by hand
    set_progress([G, D], 15, 50)
    x14 = F.avg_pool2d(out, 2)
    lower = F.avg_pool2d(x14, 2)
    faded = 0.5 * x14 + 0.5 * F.interpolate(lower, scale_factor=2)
    act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    h = 0.5 * D.body.block(1, act(D.body.from_rgb[1](faded))) + 0.5 * act(D.body.from_rgb[0](lower))
    torch.testing.assert_close(D(out), D.head(act(D.body.last(D.body.mbstd(h))).flatten(1)).squeeze(-1))


def test_a_progan_run_logs_its_resolution_and_alpha_and_trains_only_the_levels_it_has_reached():
    cfg = build_config("progan", {**SMALL, "dataset": "digits", "conv_stages": 2, "steps": 10, "eval_every": 0,
                                  "log_every": 1})
    logger = RecordingLogger()
    trainer = Trainer(cfg, CPU)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    result = train(cfg, logger)
    assert result.status == "FINISHED"
    seen = [(step, m["grow/resolution"], m["grow/alpha"]) for step, m in logger.metrics
            if "grow/alpha" in m and "loss/d" in m]
    # 10 steps, 5 phases of 2 (side 2 -> 4 -> 8 of 8 x 8 digits): logged after each step, as that step trained
    assert [(r, a) for _, r, a in seen] == [(2, 1), (4, 0), (4, 0.5), (4, 1), (4, 1), (8, 0), (8, 0.5), (8, 1),
                                            (8, 1), (8, 1)]
    evaluated = [(step, m["grow/resolution"]) for step, m in logger.metrics if "grow/alpha" in m and "loss/d" not in m]
    assert evaluated == [(10, 8.0)]  # the final evaluation logs the side its snapshot was drawn at
    after = logger.torch["checkpoints/final.pt"]["G"]
    assert not torch.equal(before["to_rgb.2.weight"], after["to_rgb.2.weight"])  # the last level was reached


# ---------------------------------------------------------------------------------------------------- stylegan
def test_stylegan_truncation_evaluation_noise_and_style_mixing():
    cfg, data, variant, G, D = nets_of({"arch": "stylegan", "dataset": "mnist", "psi": 0.5})
    assert G.n_styles == 2 * (cfg.conv_stages + 1)
    with torch.no_grad():
        for _ in range(5):
            G(torch.randn(16, cfg.z_dim))  # training moves w-bar towards the mean of w
    assert float(G.w_avg.abs().sum()) > 0
    G.eval()
    z, z2 = torch.randn(4, cfg.z_dim), torch.randn(4, cfg.z_dim)
    torch.testing.assert_close(G(z), G(z))  # fixed noise: a latent is one image
    w = G.mapping(z)
    torch.testing.assert_close(G(z), G.synthesize([G.w_avg + 0.5 * (w - G.w_avg)] * G.n_styles))
    G.psi = 0.0  # every sample is the mean style's
    same = G(z)
    torch.testing.assert_close(same, same[:1].expand_as(same))
    G.psi = 1.0
    torch.testing.assert_close(G.mix(z, z2, G.n_styles), G(z))  # all coarse: z's images
    torch.testing.assert_close(G.mix(z, z2, 0), G(z2))
    mixed = G.mix(z, z2, 2)
    w1, w2 = G.mapping(z), G.mapping(z2)
    torch.testing.assert_close(mixed, G.synthesize([w1, w1] + [w2] * (G.n_styles - 2)))
    # in training, style_mixing = 1 mixes every row; 0 none (the same torch seed, the same noise)
    G.train()
    G.mixing = 0.0
    torch.manual_seed(3)
    plain = G(z)
    G.mixing = 1.0
    torch.manual_seed(3)
    assert not torch.allclose(G(z), plain)


# ---------------------------------------------------------------------------------------------------- biggan
def test_biggan_splits_z_across_its_blocks_and_shares_one_class_embedding():
    assert biggan.z_chunks(128, 2) == [44, 42, 42] and biggan.z_chunks(16, 3) == [4, 4, 4, 4]
    cfg, data, variant, G, D = nets_of({"arch": "biggan", "dataset": "mnist", "variant": "cgan", "projection": True})
    assert G.shared.in_features == 10 and G.shared.out_features == cfg.shared_dim
    cond = G.chunks[1] + cfg.shared_dim
    assert all(b.bn1.gain.in_features == cond and b.bn2.bias.in_features == cond for b in G.blocks)
    for block in G.blocks:  # give the conditional BatchNorms something to say
        for cbn in (block.bn1, block.bn2):
            nn.init.normal_(cbn.gain.weight, std=0.5)
    G.eval()
    z = torch.randn(1, cfg.z_dim).expand(2, -1)
    labels = F.one_hot(torch.tensor([3, 7]), 10).float()
    x = G(torch.cat([z, labels], 1))
    assert not torch.allclose(x[0], x[1])  # one noise, two classes: two images
    nn.init.zeros_(G.shared.weight)
    x = G(torch.cat([z, labels], 1))
    torch.testing.assert_close(x[0], x[1])  # through the shared embedding alone


def test_orthogonal_regularisation_is_the_sum_of_squared_gram_deviations():
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Conv2d(2, 3, 2), nn.ConvTranspose2d(3, 2, 2))
    expected = 0.0
    for layer in net:
        w = layer.weight.detach().numpy()
        w = (w.transpose(1, 0, 2, 3) if isinstance(layer, nn.ConvTranspose2d) else w).reshape(len(w) if not isinstance(
            layer, nn.ConvTranspose2d) else w.shape[1], -1)
        expected += ((w @ w.T - np.eye(len(w))) ** 2).sum()
    assert float(tricks.orthogonal_regularisation(net).detach()) == pytest.approx(expected, rel=1e-5)
    orthogonal = nn.Linear(5, 5, bias=False)
    nn.init.orthogonal_(orthogonal.weight)
    assert float(tricks.orthogonal_regularisation(orthogonal).detach()) == pytest.approx(0, abs=1e-10)
    doubled = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        doubled.weight.copy_(2 * torch.eye(3))
    assert float(tricks.orthogonal_regularisation(doubled).detach()) == pytest.approx(3 * 9)  # ||4I - I||^2


def test_truncated_latents_follow_the_truncated_normal_and_leave_the_condition_alone():
    cfg = build_config(None, {"dataset": "mnist", "variant": "cgan", "z_dim": 8, "truncation": 0.5})
    z = torch.randn(20_000, 8, generator=torch.Generator().manual_seed(0))
    g_in = torch.cat([z, F.one_hot(torch.arange(20_000) % 10, 10).float()], 1)
    out = truncated(g_in, cfg)
    assert torch.equal(out[:, 8:], g_in[:, 8:]) and float(out[:, :8].abs().max()) <= 0.5
    assert stats.kstest(out[:, :8].flatten().numpy(), stats.truncnorm(-0.5, 0.5).cdf).pvalue > 0.01
    assert torch.equal(truncated(g_in, cfg, threshold=0.0), g_in)
    assert torch.all(torch.argsort(out[:200, 0]) == torch.argsort(z[:200, 0]))  # monotone: a slider moves samples
    wide = truncated(g_in, cfg, threshold=8.0)
    torch.testing.assert_close(wide[:, :8], z, atol=1e-4, rtol=0)


# ---------------------------------------------------------------------------------------------------- the config
@pytest.mark.parametrize("overrides, field", [
    ({"arch": "progan", "g_init": "normal"}, "g_init"), ({"arch": "stylegan", "d_init": "orthogonal"}, "d_init"),
    ({"arch": "sagan", "attention_stage": 3}, "attention_stage"), ({"arch": "biggan", "z_dim": 2}, "z_dim"),
    ({"truncation": 1.0, "latent": "uniform"}, "truncation"), ({"arch": "dcgan", "psi": 0.7}, "psi"),
    ({"arch": "dcgan", "w_dim": 32}, "w_dim"), ({"arch": "sagan", "phase_steps": 10}, "phase_steps"),
    ({"arch": "progan", "attention_stage": 2}, "attention_stage"), ({"arch": "dcgan", "g_spectral_norm": True},
                                                                     "g_spectral_norm"),
])
def test_the_config_refuses_what_an_architecture_cannot_take_naming_the_field(overrides, field):
    with pytest.raises(ConfigError) as err:
        build_config(None, {"dataset": "mnist", **overrides})
    assert str(err.value).startswith(f"{field}: ") and "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("preset", IMAGE_ERA)
def test_each_preset_trains_briefly_on_digits_and_samples_in_evaluation(preset):
    assert PRESETS[preset]["source"] and PRESETS[preset]["set"]["arch"] == preset
    cfg = build_config(preset, {**SMALL, "dataset": "digits", "conv_stages": 1, "steps": 4, "eval_every": 0,
                                "log_every": 2, "truncation": 1.0})
    before = Trainer(cfg, CPU).G.state_dict()
    logger = RecordingLogger()
    result = train(cfg, logger)
    assert result.status == "FINISHED" and result.step == 4
    assert all(math.isfinite(v) for v in result.last_scalars.values())
    assert any(k.startswith("metric/") for k in result.last_metrics)
    final = logger.torch["checkpoints/final.pt"]["G"]
    assert any(not torch.equal(before[k], final[k]) for k in before)


def test_the_gallerys_sampling_sliders_are_the_sampling_fields_a_run_takes():
    from dashboard.data.inference import sampling_fields

    def fields(overrides):
        return sampling_fields(build_config(None, {"dataset": "mnist", **overrides}).to_dict())

    assert fields({}) == {"truncation": 0.0}  # dcgan, a normal latent: the truncated normal
    assert fields({"arch": "stylegan", "psi": 0.7, "truncation": 1.5}) == {"truncation": 1.5, "psi": 0.7}
    assert fields({"latent": "uniform"}) == {}  # nothing to truncate
    assert sampling_fields(build_config(None, {"dataset": "ring"}).to_dict()) == {"truncation": 0.0}
