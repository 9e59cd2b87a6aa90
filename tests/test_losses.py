"""The loss and penalty registries against closed forms at known logits."""

import math

import pytest
import torch

from engine.config import LOSSES as CONFIG_LOSSES, PENALTIES as CONFIG_PENALTIES
from engine.losses import D_OUTPUTS, LOSSES, PROBABILITY_D, REAL_TARGET, SIGMOID_D, d_probability
from engine.penalties import PENALTIES, penalty_fn
from engine.penalties.functions import clip_weights


def sig(x):
    return 1 / (1 + math.exp(-x))


# (real logit r, fake logit f) -> closed forms of (d, g, d_real, d_fake), written from the papers' formulas.
CLOSED_FORMS = {
    "minimax": lambda r, f: (-math.log(sig(r)) - math.log(1 - sig(f)), math.log(1 - sig(f)), sig(r), sig(f)),
    "ns": lambda r, f: (-math.log(sig(r)) - math.log(1 - sig(f)), -math.log(sig(f)), sig(r), sig(f)),
    "hinge": lambda r, f: (max(0, 1 - r) + max(0, 1 + f), -f, r, f),
    "wgan": lambda r, f: (f - r, -f, r, f),
    "lsgan": lambda r, f: (0.5 * (r - 1) ** 2 + 0.5 * f**2, 0.5 * (f - 1) ** 2, r, f),
}


# What each loss's D outputs, from the papers: sigmoid(D) = P(real) for the BCE losses, D itself for least squares
# with targets 0 / 1 (Mao et al. 2017, Prop. 1), an unbounded critic for hinge and Wasserstein.
D_OUTPUT = {"minimax": "logit", "ns": "logit", "lsgan": "probability", "hinge": "score", "wgan": "score"}


def test_registry_matches_config_choices():
    assert set(LOSSES) == set(CONFIG_LOSSES) == set(CLOSED_FORMS) == set(D_OUTPUT)
    assert set(PENALTIES) == set(CONFIG_PENALTIES)


def test_one_table_says_what_each_d_outputs_and_the_lists_follow_from_it():
    assert {name: loss.d_output for name, loss in LOSSES.items()} == D_OUTPUT
    assert set(D_OUTPUT.values()) <= set(D_OUTPUTS)
    assert PROBABILITY_D == ("minimax", "ns", "lsgan") and SIGMOID_D == ("minimax", "ns")
    assert REAL_TARGET == ("minimax", "ns", "lsgan")  # the losses whose D has a target for real data



@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("r,f", [(0.0, 0.0), (2.0, -1.5), (-3.0, 4.0), (0.3, 0.7)])
def test_loss_closed_forms(name, r, f):
    terms = LOSSES[name].fn(torch.tensor([r], dtype=torch.float64), torch.tensor([f], dtype=torch.float64))
    expected = CLOSED_FORMS[name](r, f)
    got = (terms.d.item(), terms.g.item(), terms.d_real.item(), terms.d_fake.item())
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_bce_at_equilibrium_is_log4():
    # D(x) = 1/2 everywhere (logit 0): the BCE D loss is log 4, the value the dashboard draws as a reference.
    terms = LOSSES["ns"].fn(torch.zeros(5), torch.zeros(5))
    assert terms.d.item() == pytest.approx(math.log(4), rel=1e-6)


def test_bce_stable_at_extreme_logits():
    terms = LOSSES["ns"].fn(torch.tensor([200.0]), torch.tensor([-200.0]))
    assert terms.d.item() == pytest.approx(0.0, abs=1e-30) and terms.g.item() == pytest.approx(200.0)
    terms = LOSSES["minimax"].fn(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert terms.d.item() == pytest.approx(400.0) and terms.g.item() == pytest.approx(-200.0)


@pytest.mark.parametrize("name", ["minimax", "ns", "lsgan"])
def test_one_sided_label_smoothing(name):
    r, f, t = 1.2, -0.4, 0.9
    terms = LOSSES[name].fn(torch.tensor([r], dtype=torch.float64), torch.tensor([f], dtype=torch.float64), t)
    if name == "lsgan":
        expected = 0.5 * (r - t) ** 2 + 0.5 * f**2
    else:
        expected = -(t * math.log(sig(r)) + (1 - t) * math.log(1 - sig(r))) - math.log(1 - sig(f))
    assert terms.d.item() == pytest.approx(expected, rel=1e-9)


def test_d_probability():
    x = torch.tensor([0.0, 2.0])
    assert torch.allclose(d_probability("ns", x), torch.sigmoid(x))
    assert torch.allclose(d_probability("lsgan", torch.tensor([-0.5, 0.3, 1.7])), torch.tensor([0.0, 0.3, 1.0]))
    assert d_probability("wgan", x) is None and d_probability("hinge", x) is None


def linear_critic(w):
    """D(x) = w . x: its input gradient is w everywhere, so every penalty has a closed form."""
    return lambda x: x.flatten(1) @ w


def test_penalties_closed_forms_on_linear_critic():
    w = torch.tensor([3.0, 4.0])  # |w| = 5
    real, fake = torch.randn(64, 2), torch.randn(64, 2)
    d = linear_critic(w)
    assert penalty_fn("none")(d, real, fake).item() == 0.0
    assert penalty_fn("r1")(d, real, fake).item() == pytest.approx(25.0, rel=1e-5)  # |grad|^2
    assert penalty_fn("wgan_gp")(d, real, fake).item() == pytest.approx(16.0, rel=1e-5)  # (|grad| - 1)^2
    assert penalty_fn("dragan")(d, real, fake).item() == pytest.approx(16.0, rel=1e-5)


def test_penalties_any_shape_and_differentiable():
    # Packed inputs (B, 2m) and an image-like (B, 1, 2, 2) shape: the gradient is taken per row.
    w = torch.tensor([1.0, 0.0, 0.0, 2.0], requires_grad=True)
    for shape in [(16, 4), (16, 1, 2, 2)]:
        real, fake = torch.randn(shape), torch.randn(shape)
        pen = penalty_fn("r1")(lambda x: x.flatten(1) @ w, real, fake)
        assert pen.item() == pytest.approx(5.0, rel=1e-5)
        (g,) = torch.autograd.grad(pen, w)
        assert torch.allclose(g, 2 * w.detach())  # d|w|^2/dw


def test_wgan_gp_zero_for_unit_gradient():
    w = torch.tensor([0.6, 0.8])
    assert penalty_fn("wgan_gp")(linear_critic(w), torch.randn(8, 2), torch.randn(8, 2)).item() == pytest.approx(0, abs=1e-6)


def test_clip_weights():
    layer = torch.nn.Linear(3, 3)
    with torch.no_grad():
        layer.weight.mul_(100)
    clip_weights(layer, 0.01)
    assert layer.weight.abs().max().item() <= 0.01 and layer.bias.abs().max().item() <= 0.01
