"""Config validation, presets as data, the data sets' ground truth, and the nets' shapes."""

import math

import numpy as np
import pytest
import torch

from engine.config import FIELDS, ConfigError, TrainConfig, build_config, schema
from engine.data import DATASETS, get_dataset
from engine.data.stream import DataStream
from engine.data.toy import grid, ring
from engine.evaluation import EVAL_CHUNK, d_at
from engine.nets import ARCHS, build_nets, pack
from engine.nets.mlp import Discriminator, Generator, MinibatchDiscrimination
from engine.presets import PRESETS, describe_presets


def test_every_field_is_documented_and_typed():
    for name, spec in FIELDS.items():
        assert spec.metadata["doc"].strip(), name
        assert spec.type in ("int", "float", "bool", "str", int, float, bool, str), name
    assert {f["name"] for f in schema()} == set(FIELDS)
    for key in ("z_dim", "g_width", "g_depth", "d_width", "d_depth", "lr_g", "lr_d", "batch_size", "steps", "seed"):
        assert key in FIELDS


@pytest.mark.parametrize("overrides,field", [
    ({"nonsense": 1}, "nonsense"),
    ({"steps": "ten"}, "steps"),
    ({"steps": 0}, "steps"),
    ({"lr_d": "-1"}, "lr_d"),
    ({"loss": "bogus"}, "loss"),
    ({"spectral_norm": "maybe"}, "spectral_norm"),
    ({"batch_size": 10, "pack": 4}, "batch_size"),
    ({"loss": "wgan", "label_smoothing": 0.1}, "label_smoothing"),
    ({"unrolled_steps": 5, "spectral_norm": True}, "unrolled_steps"),
    ({"lr_g": "nan"}, "lr_g"),
])
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises(ConfigError) as err:
        build_config(None, overrides)
    message = str(err.value)
    assert message.startswith(f"{field}:") and "\n" not in message


def test_unknown_preset():
    with pytest.raises(ConfigError, match=r"^preset: unknown 'nope', allowed: vanilla"):
        build_config("nope")


def test_precedence_defaults_file_preset_overrides():
    cfg = build_config("wgan-gp", {"seed": "3", "steps": "20_000"}, base={"dataset": "grid", "n_critic": 2})
    assert (cfg.dataset, cfg.loss, cfg.penalty, cfg.n_critic, cfg.seed, cfg.steps) == ("grid", "wgan", "wgan_gp", 5, 3, 20000)
    assert build_config(None, {"g_bn": "true", "clip": "0.5"}).g_bn is True


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_documented(name):
    cfg = build_config(name)
    assert isinstance(cfg, TrainConfig)
    assert PRESETS[name]["doc"] and PRESETS[name]["source"]


def test_preset_listing_is_name_first():
    lines = describe_presets()
    assert [line.split()[0] for line in lines] == list(PRESETS)


def test_protocols_match_the_reference_text():
    a, b = build_config("protocol-a"), build_config("protocol-b")
    assert (a.z_dim, a.g_depth, a.g_width, a.g_bn, a.g_bias, a.d_depth, a.d_width, a.d_maxout) == (2, 4, 400, True, False, 3, 200, 5)
    assert (a.lr_g, a.beta1_g, a.beta2_g, a.batch_size, a.n_data, a.simultaneous, a.steps, a.init_std) == \
        (1e-4, 0.8, 0.999, 100, 100_000, True, 400_000, 0.02)
    assert (b.z_dim, b.g_depth, b.g_width, b.g_act, b.g_init, b.init_gain, b.d_depth, b.d_act) == \
        (256, 2, 128, "tanh", "orthogonal", 1.4, 2, "tanh")
    assert (b.lr_g, b.lr_d, b.beta1_g, b.batch_size, b.n_data, b.steps, b.loss) == (1e-3, 1e-4, 0.5, 512, 0, 25_000, "ns")
    assert build_config("unrolled").unrolled_steps == 5


def test_best_grid_is_exactly_the_recipe_the_search_measured():
    """The best-grid preset cites bench/search_grid.py's evidence: it must train what that candidate trained."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from search_grid import CANDIDATES

    searched = build_config(None, {**CANDIDATES["pack2-r1-ema-lr10"][0], "dataset": "grid", "steps": 20_000,
                                   "eval_every": 2_000})
    assert build_config("best-grid") == searched


def test_ring_and_grid_ground_truth():
    r, g = ring(), grid()
    assert r.n_modes == 8 and r.sigma == 0.01
    angles = np.sort(np.mod(np.arctan2(r.means[:, 1], r.means[:, 0]), 2 * np.pi))
    assert np.allclose(np.diff(angles), 2 * np.pi / 8)  # no repeated mode
    assert np.allclose(np.linalg.norm(r.means, axis=1), 1.0)
    assert g.n_modes == 25 and g.sigma == 0.05
    assert sorted(set(g.means[:, 0])) == [-4, -2, 0, 2, 4]


POINTS = sorted(n for n, e in DATASETS.items() if e.modality == "points")


@pytest.mark.parametrize("name", POINTS)
def test_log_density_is_normalised_and_matches_samples(name):
    m = get_dataset(name)
    assert m.weights.sum() == pytest.approx(1.0)
    # log p at a mode mean of a well-separated mixture: log(w_k / (2 pi sigma^2)) up to other components' tails
    if m.has_modes:
        expected = math.log(m.weights[0] / (2 * math.pi * m.sigma**2))
        assert m.log_prob(m.means[:1])[0] == pytest.approx(expected, rel=1e-6)
    # integrates to 1: importance sampling with the mixture itself
    x = m.sample(4000, torch.Generator().manual_seed(0)).x.numpy()
    lo_x, hi_x, lo_y, hi_y = m.bounds()
    xs, ys = np.linspace(lo_x, hi_x, 300), np.linspace(lo_y, hi_y, 300)  # spacing <= sigma
    gx, gy = np.meshgrid(xs, ys)
    mass = np.exp(m.log_prob(np.stack([gx.ravel(), gy.ravel()], 1))).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert mass == pytest.approx(1.0, abs=0.02)
    assert np.all(x >= [lo_x, lo_y]) and np.all(x <= [hi_x, hi_y])


def test_fixed_dataset_reshuffles_every_epoch():
    m = ring()
    stream = DataStream(m, 10, 30, torch.Generator().manual_seed(0))
    batches = [stream.next() for _ in range(6)]
    epoch1, epoch2 = (torch.cat([b.x for b in batches[i:i + 3]]) for i in (0, 3))
    key = lambda t: sorted(map(tuple, t.numpy().round(6).tolist()))
    assert key(epoch1) == key(epoch2) == key(stream.fixed.x)
    assert not torch.equal(epoch1, epoch2)
    # each sample keeps its label (its mode) through the reshuffles
    for b in batches:
        assert np.array_equal(b.y.numpy(), ((m.means[None] - b.x.double().numpy()[:, None]) ** 2).sum(-1).argmin(1))


@pytest.mark.parametrize("name", ["ring", "grid", "spiral", "moons"])
def test_a_batch_carries_the_modes_as_classes(name):
    m = get_dataset(name)
    assert (m.modality, m.shape) == ("points", (2,))
    batch = m.sample(500, torch.Generator().manual_seed(1))
    assert batch.x.shape == (500, 2) and batch.x.dtype == torch.float32
    if not m.has_modes:
        assert m.n_classes == 0 and batch.y is None
        return
    assert m.n_classes == m.n_modes and batch.y.dtype == torch.int64
    # sigma is far below the distance between modes: each sample's label is its nearest mode
    nearest = ((m.means[None] - batch.x.double().numpy()[:, None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(batch.y.numpy(), nearest)


@pytest.mark.parametrize("overrides", [
    {}, {"g_bn": True, "g_bias": False}, {"d_maxout": 5}, {"spectral_norm": True}, {"mbd_kernels": 4},
    {"pack": 3, "batch_size": 12}, {"g_depth": 0, "d_depth": 0}, {"latent": "uniform", "g_init": "orthogonal"},
])
@pytest.mark.parametrize("dataset", POINTS)
def test_net_shapes(overrides, dataset):
    # the points' architecture (ARCHS; dcgan's in test_images.py): G yields the data's shape, D one score per row
    cfg = build_config(None, {"batch_size": 12, **overrides, "dataset": dataset})
    G, D = build_nets(cfg, get_dataset(dataset))
    assert set(ARCHS) >= {"mlp"} and isinstance(G, Generator) and isinstance(D, Discriminator)
    x = G(torch.randn(12, cfg.z_dim))
    assert x.shape == (12, *get_dataset(dataset).shape)
    logits = D(pack(x, cfg.pack))
    assert logits.shape == (12 // cfg.pack,)


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).view(6, 2)
    assert torch.equal(pack(x, 3), torch.tensor([[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11.0]]))


def test_minibatch_discrimination_closed_form():
    layer = MinibatchDiscrimination(2, 1, 1)
    with torch.no_grad():
        layer.T.copy_(torch.tensor([[1.0], [0.0]]))  # M_i = first feature
    h = torch.tensor([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]])
    out = layer(h)
    expected = [math.exp(-1) + math.exp(-3), math.exp(-1) + math.exp(-2), math.exp(-3) + math.exp(-2)]
    assert out[:, 2].tolist() == pytest.approx(expected, rel=1e-6)



def naive_minibatch_features(layer: MinibatchDiscrimination, h: torch.Tensor) -> torch.Tensor:
    """The definition literally: o(x_i)_b = sum over j != i of exp(-|M_i,b - M_j,b|_1), via the 4-D differences."""
    m = (h @ layer.T).view(len(h), layer.kernels, layer.kernel_dim)
    l1 = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(-1)  # (N, N, B): [i, j, b]
    others = ~torch.eye(len(h), dtype=torch.bool).unsqueeze(-1)
    return torch.cat([h, (torch.exp(-l1) * others).sum(1)], dim=1)


def test_minibatch_discrimination_matches_the_definition_in_values_and_gradients():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, 4, 3).double()
    h = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(9, 10, dtype=torch.float64)
    out, expected = layer(h), naive_minibatch_features(layer, h)
    assert torch.allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert 1 < expected[:, 6:].min() < expected[:, 6:].max() < 8  # neither 0 nor all 8 others at distance 0
    wrt = (h, layer.T)
    grads_naive = torch.autograd.grad((expected * w).sum(), wrt, create_graph=True)
    plain = torch.autograd.grad((out * w).sum(), wrt, retain_graph=True)  # the in-place backward
    again = torch.autograd.grad((out * w).sum(), wrt, retain_graph=True)  # its saved tensors are left intact
    grads = torch.autograd.grad((out * w).sum(), wrt, create_graph=True)  # the differentiable backward
    for computed in (plain, again, grads):
        for g, g_naive in zip(computed, grads_naive):
            assert torch.allclose(g, g_naive, rtol=1e-12, atol=1e-12)
    # second order, as a gradient penalty or unrolling takes it: the gradient of |grad_h|^2 w.r.t. T
    (gg,) = torch.autograd.grad(grads[0].pow(2).sum(), layer.T)
    (gg_naive,) = torch.autograd.grad(grads_naive[0].pow(2).sum(), layer.T)
    assert torch.allclose(gg, gg_naive, rtol=1e-10, atol=1e-10) and gg.abs().max() > 1e-3
    assert torch.autograd.gradcheck(layer, (h,)) and torch.autograd.gradgradcheck(layer, (h,))


def test_minibatch_discrimination_with_a_reference_scores_each_row_as_one_new_member():
    torch.manual_seed(1)
    cfg = build_config("mbdisc", {"batch_size": 8})
    D = Discriminator(cfg, 2).double()
    x, ref = torch.randn(5, 2, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    with_ref = D(x, ref)
    as_new_member = torch.stack([D(torch.cat([ref, row[None]]))[-1] for row in x])
    assert torch.allclose(with_ref, as_new_member, rtol=1e-12, atol=1e-12)
    split = torch.cat([D(x[:2], ref), D(x[2:], ref)])
    assert torch.allclose(split, with_ref, rtol=1e-12, atol=1e-12)  # the rest of x plays no part
    assert not torch.allclose(D(x), with_ref)  # without a reference the other rows of x count
    prob = d_at(D, cfg, x, ref)
    assert torch.allclose(prob, torch.sigmoid(as_new_member), rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(d_at(D, cfg, x.requires_grad_(True), ref).sum(), x)
    (own,) = torch.autograd.grad(d_at(D, cfg, x[2:3], ref).sum(), x)
    assert torch.allclose(grad[2], own[2], rtol=1e-12, atol=1e-12)  # each point's grad D is its own


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as training sets it; with more, BLAS splits rows between threads by the call's size
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("n", [2 * EVAL_CHUNK + 77, 2 * EVAL_CHUNK + 1])
@pytest.mark.parametrize("overrides", [{"loss": "wgan"}, {"loss": "wgan", "pack": 2}, {"spectral_norm": True}])
def test_d_at_in_chunks_is_one_call_of_d_without_minibatch_discrimination(overrides, n, one_thread):
    cfg = build_config(None, overrides)
    points = torch.randn(n, 2, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(2)
    D = Discriminator(cfg, 2)
    whole = D(pack(points.repeat_interleave(cfg.pack, dim=0), cfg.pack))
    after_one_call = [b.clone() for b in D.buffers()]  # spectral norm's power-iteration vectors
    torch.manual_seed(2)
    D = Discriminator(cfg, 2)  # the same D again, before its call
    with torch.no_grad():
        chunked = d_at(D, cfg, points, torch.randn(7, 2 * cfg.pack))  # a reference is ignored without mbd
    expected = whole if cfg.loss == "wgan" else torch.sigmoid(whole)
    assert torch.equal(chunked, expected.detach())
    assert all(torch.equal(a, b) for a, b in zip(D.buffers(), after_one_call))  # one power iteration, not three


def test_normal_init_and_zero_bias():
    cfg = build_config("protocol-a")
    D = Discriminator(cfg, 2)
    w = torch.cat([p.flatten() for n, p in D.named_parameters() if n.endswith("weight")])
    assert w.std().item() == pytest.approx(0.02, rel=0.05)
    assert all(p.abs().max() == 0 for n, p in D.named_parameters() if n.endswith("bias"))
    linears = [m for m in Generator(cfg, 2).net if isinstance(m, torch.nn.Linear)]
    assert [m.bias is None for m in linears] == [True] * 4 + [False]  # PacGAN's hidden layers have no bias
