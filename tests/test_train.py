"""The training loop: every preset trains, updates touch only their own net, determinism, NaN handling, resume."""

import dataclasses
import math

import numpy as np
import pytest
import torch

import engine.losses as losses_lib
import engine.losses.functions as loss_functions
from engine import health
from engine.config import build_config
from engine.data import DATASETS
from engine.evaluation import eval_stream, reference_note
from engine.presets import PRESETS
from engine.train import Trainer, train

FAST = {"eval_every": 0, "eval_samples": 500, "grid_size": 16, "log_every": 5}


class RecordingLogger:
    """Keeps what the loop logs, in memory."""

    def __init__(self):
        self.errors, self.metrics, self.tags, self.npz, self.torch, self.bytes = [], [], {}, {}, {}, {}

    def log_metrics(self, values, step):
        self.metrics.append((step, dict(values)))

    def set_tags(self, tags):
        self.tags.update(tags)

    def log_npz(self, name, **arrays):
        self.npz[name] = arrays

    def log_bytes(self, name, data):
        self.bytes[name] = data

    def log_torch(self, name, state):
        self.torch[name] = state


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trains_a_few_dozen_steps(preset):
    overrides = {**FAST, "steps": 24}
    if PRESETS[preset]["set"].get("batch_size", 512) > 128:
        overrides["batch_size"] = 128  # keeps the suite quick; the loop is the same
    data = DATASETS[PRESETS[preset]["set"].get("dataset", "ring")]
    if data.modality == "images":
        # on digits, with no points-only field: the same loop and nets, the classifier trained in seconds (a
        # translation keeps its mnist pair, whose classifier trains in seconds too)
        overrides = {"eval_every": 0, "log_every": 5, "steps": 24, "batch_size": 32,
                     **({} if data.source else {"dataset": "digits"})}
    result = train(build_config(preset, overrides), RecordingLogger())
    assert result.status == "FINISHED" and result.step == 24
    assert all(math.isfinite(v) for v in result.last_scalars.values())
    assert {"loss/d", "loss/g", "d/real", "d/fake", "grad/d", "grad/g", "perf/steps_per_s"} <= set(result.last_scalars)


def params_of(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return [not torch.equal(a, b) for a, b in zip(before, module.parameters())]


@pytest.mark.parametrize("overrides", [{}, {"penalty": "wgan_gp", "loss": "wgan"}, {"feature_matching": True},
                                       {"unrolled_steps": 3}, {"hist_avg": 0.1}, {"replay": 0.5}])
def test_d_step_changes_only_d_and_g_step_only_g(overrides):
    trainer = Trainer(build_config(None, {"batch_size": 64, **FAST, **overrides}), torch.device("cpu"))
    g0, d0 = params_of(trainer.G), params_of(trainer.D)
    _, real = trainer.d_step()
    assert not any(changed(g0, trainer.G)) and any(changed(d0, trainer.D))
    g1, d1 = params_of(trainer.G), params_of(trainer.D)
    trainer.g_step(real)
    assert any(changed(g1, trainer.G)) and not any(changed(d1, trainer.D))


def test_simultaneous_step_uses_gradients_at_the_same_parameters():
    # With SGD and lr -> each update is -lr * grad at the *old* parameters of both nets.
    cfg = build_config(None, {"simultaneous": True, "optimizer_g": "sgd", "optimizer_d": "sgd", "beta1_g": 0,
                              "beta1_d": 0, "lr_g": 0.1, "lr_d": 0.1, "batch_size": 32, **FAST})
    a = Trainer(cfg, torch.device("cpu"))
    b = Trainer(cfg, torch.device("cpu"))
    a.train_step()
    # Recompute the same gradients by hand on b (same seed, same draws).
    real = b.data.next().x
    fake = b.G(torch.randn(32, cfg.z_dim, generator=b.gen))
    terms = loss_functions.non_saturating(b.D(real), b.D(fake))
    gd = torch.autograd.grad(terms.d, b.d_params, retain_graph=True)
    gg = torch.autograd.grad(terms.g, b.g_params)
    for p_after, p_before, g in zip(a.d_params, b.d_params, gd):
        assert torch.allclose(p_after, p_before - 0.1 * g, atol=1e-6)
    for p_after, p_before, g in zip(a.g_params, b.g_params, gg):
        assert torch.allclose(p_after, p_before - 0.1 * g, atol=1e-6)


def collect(cfg, **kwargs):
    seen = []
    result = train(cfg, RecordingLogger(), callbacks=(lambda step, s: seen.append((step, dict(s))),), **kwargs)
    return result, [(step, {k: v for k, v in s.items() if k != "perf/steps_per_s"}) for step, s in seen]


def test_same_config_and_seed_give_identical_losses_bit_for_bit():
    cfg = build_config(None, {"steps": 60, "batch_size": 64, **FAST})
    _, first = collect(cfg)
    _, second = collect(cfg)
    assert first == second and len(first) == 12
    _, other_seed = collect(build_config(None, {"steps": 60, "batch_size": 64, "seed": 1, **FAST}))
    assert other_seed != first


def test_nan_stops_the_run_at_once(monkeypatch):
    calls = {"n": 0}
    original = losses_lib.LOSSES["ns"].fn

    def poisoned(real, fake, real_target=1.0):
        calls["n"] += 1
        terms = original(real, fake, real_target)
        if calls["n"] >= 7:  # the 4th D step (D and G steps alternate, one loss call each)
            terms.d = terms.d * float("nan")
        return terms

    monkeypatch.setitem(losses_lib.LOSSES, "ns", dataclasses.replace(losses_lib.LOSSES["ns"], function=poisoned))
    logger = RecordingLogger()
    result = train(build_config(None, {"steps": 100, "batch_size": 32, **FAST}), logger)
    assert result.status == "FAILED" and result.step == 4
    assert logger.tags["ganboard.diverged"] == "step 4" and logger.tags["ganboard.health"] == "diverged"


def test_resume_continues_bit_for_bit():
    cfg = build_config(None, {"steps": 40, "batch_size": 32, **FAST, "replay": 0.25, "ema": 0.9, "hist_avg": 0.01,
                              "n_data": 64})
    _, straight = collect(cfg)
    logger = RecordingLogger()
    stop_at = {"n": 0}

    def stop():
        stop_at["n"] += 1
        return stop_at["n"] > 20

    first = train(cfg, logger, should_stop=stop)
    assert first.status == "KILLED" and first.step == 20
    state = logger.torch["checkpoints/last.pt"]
    _, resumed = collect(cfg, resume_state=state)
    assert resumed == [entry for entry in straight if entry[0] > 20]


def test_evaluation_snapshots_and_field():
    logger = RecordingLogger()
    cfg = build_config(None, {"steps": 20, "batch_size": 32, "eval_every": 10, "eval_samples": 400, "grid_size": 12})
    train(cfg, logger)
    assert sorted(logger.npz) == ["field/step_0000000.npz", "field/step_0000010.npz", "field/step_0000020.npz",
                                  "samples/step_0000000.npz", "samples/step_0000010.npz", "samples/step_0000020.npz"]
    x = logger.npz["samples/step_0000020.npz"]["x"]
    assert x.shape == (400, 2) and x.dtype == np.float32
    f = logger.npz["field/step_0000010.npz"]
    assert f["d"].shape == f["d_star"].shape == (12, 12) and f["xs"].shape == (12,)
    assert ((f["d"] >= 0) & (f["d"] <= 1)).all() and ((f["d_star"] >= 0) & (f["d_star"] <= 1)).all()
    steps_with_modes = [s for s, m in logger.metrics if "metric/modes" in m]
    assert steps_with_modes == [0, 10, 20]
    assert {"checkpoints/last.pt", "checkpoints/final.pt"} <= set(logger.torch)
    assert logger.tags["ganboard.health"] in health.LABELS


def test_minibatch_discrimination_is_evaluated_against_one_fixed_minibatch_of_real_data():
    cpu = torch.device("cpu")
    cfg = build_config("mbdisc", {"batch_size": 32, "eval_samples": 400, "grid_size": 12, "eval_every": 0})
    trainer = Trainer(cfg, cpu)
    ref = trainer.evaluation.reference
    assert ref.shape == (31, 2)  # a training batch less the one row being scored
    assert torch.equal(eval_stream(cfg, trainer.dataset, cpu)[2], ref)  # redrawn from the config alone
    assert not np.isin(ref.numpy(), trainer.evaluation.real).any()  # its own draw, not rows of the evaluation batch
    m = trainer.dataset  # real data: every row within 6 sigma of a mode of the ring
    assert (np.linalg.norm(ref.numpy()[:, None] - m.means[None], axis=-1).min(1) < 6 * m.sigma).all()
    values, arrays, _ = trainer.evaluate()
    f = arrays["field"]
    assert str(f["d_reference"]) == reference_note(cfg) == "31 real samples"
    point = torch.tensor([[f["xs"][3], f["ys"][5]]])
    with torch.no_grad():
        new_member = torch.sigmoid(trainer.D(torch.cat([ref, point]))[-1]).item()
    assert f["d"][5, 3] == pytest.approx(new_member, rel=1e-5)
    assert math.isfinite(values["theory/d_err"]) and math.isfinite(values["theory/v"])
    assert reference_note(build_config("mbdisc", {"batch_size": 32, "pack": 2})) == "15 packs of 2 real samples"
    plain = Trainer(build_config("ns", FAST), cpu)
    assert plain.evaluation.reference is None
    assert sorted(plain.evaluate()[1]["field"]) == ["d", "d_is_prob", "d_star", "xs", "ys"]  # as before


def test_fixed_evaluation_batch_is_the_same_across_steps_and_seeded():
    a = Trainer(build_config(None, {"seed": 5, **FAST}), torch.device("cpu"))
    b = Trainer(build_config(None, {"seed": 5, "lr_g": 0.5, **FAST}), torch.device("cpu"))
    assert torch.equal(a.evaluation.z, b.evaluation.z) and np.array_equal(a.evaluation.real, b.evaluation.real)
    c = Trainer(build_config(None, {"seed": 6, **FAST}), torch.device("cpu"))
    assert not torch.equal(a.evaluation.z, c.evaluation.z)


def test_continuous_dataset_logs_no_mode_metrics():
    logger = RecordingLogger()
    train(build_config(None, {"dataset": "moons", "steps": 10, "batch_size": 32, **FAST}), logger)
    final = logger.metrics[-1][1]
    assert "metric/fid" in final and not any(k.startswith("metric/modes") or k == "metric/hq" for k in final)
