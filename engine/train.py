"""Train one GAN and log it to MLflow: `python -m engine.train --preset wgan-gp --set seed=3`.

The loop reads top to bottom in labelled blocks: D step(s), G step, log, evaluate + snapshot. The loss owns the
math (engine/losses), the penalty table the regularisers (engine/penalties), tricks.py each trick (noise, flips,
replay, historical averaging, EMA, unrolling, feature matching), evaluation.py what an evaluation holds; this file
owns the schedule: which piece runs when. Logged training scalars are means over the last `log_every` steps;
`grad/d` and `grad/g` are the gradient norms of the last update before each log.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from engine import losses as losses_lib
from engine import penalties as penalties_lib
from engine import tracking, tricks, variants
from engine.config import ConfigError, TrainConfig, build_config, load_json, parse_assignment
from engine.data import Batch, get_dataset
from engine.data.stream import DataStream
from engine.evaluation import Evaluated, evaluation_for
from engine.health import classify
from engine.losses.functions import LossTerms
from engine import nets as nets_lib
from engine.nets import pack
from engine.penalties.functions import clip_weights


@dataclass
class TrainResult:
    status: str  # FINISHED, FAILED or KILLED
    step: int  # iterations completed
    last_scalars: dict[str, float] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""


class NullLogger:
    """Stands in for RunLogger when nothing is tracked (tests, benchmarks of the bare loop)."""

    errors: list[str] = []

    def log_metrics(self, values, step): ...
    def set_tags(self, tags): ...
    def log_npz(self, name, **arrays): ...
    def log_bytes(self, name, data): ...
    def log_torch(self, name, state): ...


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but no CUDA device is available, use auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def make_optimizer(name: str, params, lr: float, beta1: float, beta2: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=beta2)
    return torch.optim.SGD(params, lr=lr, momentum=beta1)


def grad_norm(params) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))) if grads else 0.0


def _grads(total: Tensor, params, retain_graph: bool = False):
    """d total / d params; None for a parameter the step did not use (a growing net's levels not yet reached), which
    its optimiser then leaves alone."""
    return torch.autograd.grad(total, params, retain_graph=retain_graph, allow_unused=True)


def _set_grads(params, grads) -> None:
    for p, g in zip(params, grads):
        p.grad = g


class Trainer:
    """One run: its state and the schedule of one iteration (D step(s), G step, the tricks' updates).

    The state a step changes, all here: the nets and their optimisers (G, D, opt_g, opt_d), the tricks' state
    (ema and hist: None when off; replay: an empty buffer), the data stream's position, the run's one random
    generator (gen: data, latents, noise, flips, replay draws, penalty points; torch's global one only seeds the
    nets' initialisation) and the iteration count.
    """

    def __init__(self, cfg: TrainConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)
        self.dataset = get_dataset(cfg.dataset)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.variant = variants.build(cfg, self.dataset)
        self.data = DataStream(self.dataset, cfg.batch_size, cfg.n_data, self.gen, self.variant.draw)
        G, D = self.variant.nets()
        self.G, self.D = G.to(device), D.to(device)
        self.g_params, self.d_params = list(self.G.parameters()), list(self.D.parameters())
        self.opt_g = make_optimizer(cfg.optimizer_g, self.g_params, cfg.lr_g, cfg.beta1_g, cfg.beta2_g)
        self.opt_d = make_optimizer(cfg.optimizer_d, self.d_params, cfg.lr_d, cfg.beta1_d, cfg.beta2_d)
        self.loss_fn = losses_lib.LOSSES[cfg.loss].fn
        self.penalty_fn = penalties_lib.penalty_fn(cfg.penalty)
        self.real_target = 1.0 - cfg.label_smoothing  # one-sided label smoothing
        self.ema = tricks.EMA(self.G, cfg.ema) if cfg.ema else None
        self.hist = tricks.HistoricalAverage(cfg.hist_avg, self.g_params, self.d_params) if cfg.hist_avg else None
        self.replay = tricks.ReplayBuffer(cfg.replay, cfg.replay_size, self.dataset.shape, device)
        self.step = 0
        self.progress: dict[str, float] = {}  # what the growing nets say of where they are (progan), logged
        self.evaluation = evaluation_for(cfg, self.dataset, device)

    def set_progress(self, step: int) -> None:
        """Tell the nets (and G's moving average) the step they train or are evaluated at: step t is the update that
        makes t steps done, and the evaluation after it, so what is logged at step t is what both saw."""
        models = [self.G, self.D] + ([self.ema.model] if self.ema is not None else [])
        self.progress = nets_lib.set_progress(models, step, self.cfg.steps)

    # ----- what D sees and the objectives -----
    def d_input(self, x: Tensor) -> Tensor:
        """Instance noise (annealed to 0 over training), then packing."""
        if self.cfg.instance_noise:
            x = tricks.instance_noise(x, self.cfg.instance_noise, self.step, self.cfg.steps, self.gen)
        return pack(x, self.cfg.pack)

    def d_loss(self, d: Callable[[Tensor], Tensor], real_in: Tensor, fake_in: Tensor) -> Tensor:
        """D's loss with its penalty, for any callable d (D itself, or D unrolled: the plain GAN only)."""
        loss = self.loss_fn(d(real_in), d(fake_in), self.real_target).d
        if self.cfg.penalty != "none":
            loss = loss + self.cfg.penalty_weight * self.penalty_fn(d, real_in, fake_in, self.gen)
        return loss

    def d_objective(self, real: Batch, fake: Tensor, latent: variants.base.Latent) -> tuple[Tensor, LossTerms]:
        """D's loss on a real batch and G's batch made from `latent`: the adversarial loss on the variant's
        judgements (weighted by its source weight), the variant's own terms, the penalty, historical averaging."""
        real_in, fake_in = self.d_input(real.x), self.d_input(fake)
        real_j = self.variant.judge_real(self.D, self.G, real_in, real)
        fake_j = self.variant.judge_fake(self.D, fake_in, latent)
        real_out, fake_out = real_j.score, fake_j.score
        if self.cfg.label_flip:
            real_out, fake_out = tricks.flip_labels(real_out, fake_out, self.cfg.label_flip, self.gen)
        terms = self.loss_fn(real_out, fake_out, self.real_target)
        total = self.variant.source_weight * terms.d + self.variant.d_extra(real_j, fake_j, real, latent)
        if self.cfg.penalty != "none":
            critic = self.variant.critic(self.D, real)
            total = total + self.cfg.penalty_weight * self.penalty_fn(critic, real_in, fake_in, self.gen)
        if self.hist is not None:
            total = total + self.hist.penalty(self.d_params, self.hist.d_means)
        return total, terms

    def g_objective(self, real: Batch, fake: Tensor, latent: variants.base.Latent,
                    d: Callable[[Tensor], Tensor]) -> Tensor:
        fake_in = self.d_input(fake)
        if self.cfg.feature_matching:
            total = tricks.feature_matching(self.D, self.d_input(real.x), fake_in)
        else:
            fake_j = self.variant.judge_fake(d, fake_in, latent)
            total = self.variant.source_weight * self.loss_fn(fake_j.score.detach(), fake_j.score, self.real_target).g
            total = total + self.variant.g_extra(fake_j, latent, self.D, self.G, real, self.d_input, fake)
        if self.hist is not None:
            total = total + self.hist.penalty(self.g_params, self.hist.g_means)
        if self.cfg.ortho_reg:
            total = total + self.cfg.ortho_reg * tricks.orthogonal_regularisation(self.G)
        return total

    # ----- one iteration -----
    def train_step(self) -> LossTerms:
        self.set_progress(self.step + 1)
        if self.cfg.simultaneous:
            terms = self.simultaneous_step()
        else:
            for _ in range(self.cfg.n_critic):
                terms, real = self.d_step()
            terms.g = self.g_step(real)
        self.after_updates()
        self.step += 1
        return terms

    def real_batch(self) -> Batch:
        return self.variant.real(self.data.next().to(self.device))

    def d_step(self) -> tuple[LossTerms, Batch]:
        """One D update on a fresh real batch and a detached fake batch; returns the terms and the real batch."""
        cfg = self.cfg
        real = self.real_batch()
        latent = self.variant.latent_for(real, self.gen, self.device)
        with torch.no_grad():
            fake = self.G(latent.g_in)
        if cfg.replay:  # the plain GAN only: a replayed fake has no latent of this batch
            fake = self.replay.mix(fake, self.gen)
        d_total, terms = self.d_objective(real, fake, latent)
        _set_grads(self.d_params, _grads(d_total, self.d_params))
        self.opt_d.step()
        if cfg.clip:
            clip_weights(self.D, cfg.clip)
        return terms, real

    def g_step(self, real: Batch) -> Tensor:
        """One G update against the current D (or D unrolled k steps on this real batch); returns G's loss."""
        cfg = self.cfg
        latent = self.variant.latent_for(real, self.gen, self.device)
        fake = self.G(latent.g_in)
        d = self.D
        if cfg.unrolled_steps:
            real_in, fake_in = self.d_input(real.x), self.d_input(fake)
            d = tricks.unrolled_d(self.D, self.opt_d, cfg.unrolled_steps, lambda d_k: self.d_loss(d_k, real_in, fake_in),
                                  cfg.lr_d, (cfg.beta1_d, cfg.beta2_d), sgd=cfg.optimizer_d == "sgd")
        g_total = self.g_objective(real, fake, latent, d)
        _set_grads(self.g_params, _grads(g_total, self.g_params))
        self.opt_g.step()
        return g_total.detach()

    def simultaneous_step(self) -> LossTerms:
        """G and D gradients taken at the same parameters, then both applied (PacGAN's code)."""
        real = self.real_batch()
        latent = self.variant.latent_for(real, self.gen, self.device)
        fake = self.G(latent.g_in)
        d_total, terms = self.d_objective(real, fake, latent)
        g_total = self.g_objective(real, fake, latent, self.D)
        d_grads = _grads(d_total, self.d_params, retain_graph=True)
        g_grads = _grads(g_total, self.g_params)
        _set_grads(self.d_params, d_grads)
        _set_grads(self.g_params, g_grads)
        self.opt_d.step()
        self.opt_g.step()
        if self.cfg.clip:
            clip_weights(self.D, self.cfg.clip)
        terms.g = g_total.detach()
        return terms

    def after_updates(self) -> None:
        if self.ema is not None:
            self.ema.update(self.G)
        if self.hist is not None:
            self.hist.update(self.step, self.g_params, self.d_params)

    # ----- evaluation -----
    @torch.no_grad()
    def sample(self, z: Tensor) -> np.ndarray:
        g = self.ema.model if self.ema is not None else self.G
        was_training = g.training
        g.eval()
        x = g(nets_lib.truncated(z, self.cfg)).cpu().numpy().astype(np.float32)
        g.train(was_training)
        return x

    def evaluate(self) -> Evaluated:
        """Metrics of the fixed evaluation latents and the snapshot by artifact folder (engine.evaluation)."""
        self.set_progress(self.step)
        return self.evaluation.run(self.D, self.sample, self.ema.model if self.ema is not None else self.G)

    # ----- checkpoints -----
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step, "config": self.cfg.to_dict(), "G": self.G.state_dict(), "D": self.D.state_dict(),
            "G_ema": self.ema.model.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "hist_g": self.hist.g_means if self.hist is not None else None,
            "hist_d": self.hist.d_means if self.hist is not None else None,
            "replay": self.replay.state.cpu(),
            "data_order": (self.data._order, self.data._pos),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = state["step"]
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.ema is not None and state["G_ema"] is not None:
            self.ema.model.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        if self.hist is not None:
            self.hist.g_means, self.hist.d_means = state["hist_g"], state["hist_d"]
        self.replay.state = state["replay"].to(self.device)
        self.data._order, self.data._pos = state["data_order"]


def train(cfg: TrainConfig, logger=None, *, resume_state: dict[str, Any] | None = None,
          should_stop: Callable[[], bool] = lambda: False,
          callbacks: tuple[Callable[[int, dict[str, float]], None], ...] = ()) -> TrainResult:
    """Run the loop to cfg.steps. `should_stop` is polled every step; `callbacks` see every logged scalar dict."""
    logger = logger or NullLogger()
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # small nets: one thread per process is fastest; use processes for the cores
    trainer = Trainer(cfg, device)
    if resume_state is not None:
        trainer.load_state_dict(resume_state)
    history: dict[str, list[tuple[int, float]]] = {}
    sums = {"loss/d": 0.0, "loss/g": 0.0, "d/real": 0.0, "d/fake": 0.0}
    window, t_window = 0, time.perf_counter()
    scalars: dict[str, float] = {}
    last_metrics: dict[str, float] = {}

    def evaluate_and_snapshot() -> None:
        nonlocal last_metrics
        values, snapshot, snapshot_pictures = trainer.evaluate()
        values = {**values, **trainer.progress}  # a growing net's side with its snapshot (step 0 too)
        step = trainer.step
        logger.log_metrics(values, step)
        for folder, arrays in snapshot.items():
            logger.log_npz(tracking.snapshot_path(folder, step), **arrays, step=np.array(step))
        for folder, picture in snapshot_pictures.items():
            logger.log_bytes(tracking.snapshot_path(folder, step, "png"), picture)
        logger.log_torch("checkpoints/last.pt", trainer.state_dict())
        for k, v in values.items():
            history.setdefault(k, []).append((step, v))
        label, reason = classify(history, cfg.loss, trainer.dataset.n_classes or None)
        logger.set_tags({"ganboard.health": label, "ganboard.health_reason": reason})
        last_metrics = values

    def end(status: str, reason: str = "") -> TrainResult:
        return TrainResult(status, trainer.step, scalars, last_metrics, reason)

    if trainer.step == 0:  # what the run is read against, once: the image classifier, the real data's own scores
        baseline_values, baseline_tags = trainer.evaluation.baseline()
        logger.log_metrics(baseline_values, 0)
        logger.set_tags(baseline_tags)
    if cfg.eval_every and trainer.step == 0:
        evaluate_and_snapshot()
    while trainer.step < cfg.steps:
        if should_stop():
            logger.log_torch("checkpoints/last.pt", trainer.state_dict())
            return end("KILLED", "stopped")
        terms = trainer.train_step()
        # --- divergence check: every step, so a NaN stops the run at once ---
        values = (terms.d.item(), terms.g.item(), terms.d_real.item(), terms.d_fake.item())
        if not all(math.isfinite(v) for v in values):
            logger.set_tags({"ganboard.diverged": f"step {trainer.step}", "ganboard.health": "diverged",
                             "ganboard.health_reason": f"non-finite loss at step {trainer.step}"})
            return end("FAILED", f"diverged at step {trainer.step}")
        for key, v in zip(sums, values):
            sums[key] += v
        window += 1
        # --- log ---
        if trainer.step % cfg.log_every == 0 or trainer.step == cfg.steps:
            elapsed = time.perf_counter() - t_window
            scalars = {k: s / window for k, s in sums.items()}
            scalars.update({"grad/d": grad_norm(trainer.d_params), "grad/g": grad_norm(trainer.g_params),
                            "perf/steps_per_s": window / max(elapsed, 1e-9), **trainer.progress})
            logger.log_metrics(scalars, trainer.step)
            logger.set_tags({"ganboard.step": trainer.step})
            for k, v in scalars.items():
                history.setdefault(k, []).append((trainer.step, v))
            for callback in callbacks:
                callback(trainer.step, scalars)
            sums = dict.fromkeys(sums, 0.0)
            window, t_window = 0, time.perf_counter()
            if logger.errors:
                return end("FAILED", "tracking store: " + logger.errors[-1])
        # --- evaluate + snapshot ---
        if cfg.eval_every and trainer.step % cfg.eval_every == 0 and trainer.step != cfg.steps:
            evaluate_and_snapshot()
    evaluate_and_snapshot()
    logger.log_torch("checkpoints/final.pt", trainer.state_dict())
    return end("FINISHED")


# ---------------------------------------------------------------- CLI
def config_help() -> str:
    from engine.config import FIELDS, allowed

    lines = ["config fields (set with --set key=value):"]
    for name, spec in FIELDS.items():
        type_name = spec.type if isinstance(spec.type, str) else spec.type.__name__
        lines.append(f"  {name} ({type_name}, default {spec.default!r}; {allowed(name)})\n      {spec.metadata['doc']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.train", description="Train one GAN and log it to MLflow.",
                                     epilog=config_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", help="named preset (see --list-presets)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config field")
    parser.add_argument("--config", help="JSON file of config fields (e.g. a run's config.json)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="shortcut for --set device=...")
    parser.add_argument("--experiment", default=None, help="MLflow experiment name (default: ganboard)")
    parser.add_argument("--run-name", default=None, help="MLflow run name")
    parser.add_argument("--run-id", default=None, help="train into an existing (queued) MLflow run")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue a run from its last checkpoint")
    parser.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    return parser


def resolve_cli_config(args: argparse.Namespace) -> TrainConfig:
    overrides = dict(parse_assignment(s) for s in args.set)
    if args.device:
        overrides["device"] = args.device
    base = load_json(args.config) if args.config else None
    return build_config(args.preset, overrides, base)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_presets:
        from engine.presets import describe_presets

        print("\n".join(describe_presets()))
        return 0
    resume_state = None
    try:
        if args.resume:
            resume_state = tracking.load_checkpoint(args.resume, "last")
            overrides = dict(parse_assignment(s) for s in args.set)
            cfg = build_config(None, overrides, resume_state["config"])
            if resume_state["step"] >= cfg.steps:
                raise ConfigError(f"steps: the last checkpoint is at step {resume_state['step']}; "
                                  f"set --set steps=N above it to train on")
        elif args.run_id and tracking.get_run(args.run_id).info.status not in (tracking.QUEUED, tracking.RUNNING):
            # A run stopped or ended while its job waited (a Ray job placed late, a stop racing the scheduler)
            # must not come back to life; --resume is the way to continue an ended run.
            raise ConfigError(f"--run-id: run {args.run_id} is not queued, use --resume to continue it")
        elif args.run_id and not (args.preset or args.config or args.set):
            cfg = build_config(None, None, tracking.load_run_config(args.run_id))  # a queued run carries its config
        else:
            cfg = resolve_cli_config(args)
        device = resolve_device(cfg.device)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an unknown run id, an unreachable store, no credentials: nothing was created
        line = tracking.hide_passwords(str(exc).splitlines()[0]) if str(exc) else ""
        if "401" in line or "Unauthorized" in line or "credentials" in line.lower():
            line += (" (this process signs in with MLFLOW_TRACKING_USERNAME/PASSWORD or, on a Ray node, with "
                     "~/.mlflow/credentials: README, Team deployment)")
        print(f"error: {type(exc).__name__}: {line}", file=sys.stderr)
        return 2

    run_id = args.resume or args.run_id
    if run_id is None:
        tags = {"ganboard.preset": args.preset or "custom"}
        run_id = tracking.create_run(cfg.to_dict(), experiment=args.experiment or tracking.DEFAULT_EXPERIMENT,
                                     run_name=args.run_name, tags=tags)
    logger = tracking.RunLogger(run_id)
    logger.set_tags({"ganboard.device": str(device), "ganboard.pid": os.getpid()})
    print(f"run {run_id}", flush=True)

    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    status = "FAILED"
    try:
        result = train(cfg, logger, resume_state=resume_state, should_stop=lambda: stop["requested"])
        status = result.status
        if result.reason:
            logger.set_tags({"ganboard.end_reason": result.reason})
        print(f"{status.lower()} at step {result.step}" + (f": {result.reason}" if result.reason else ""), flush=True)
    except Exception as exc:
        logger.set_tags({"ganboard.end_reason": f"crashed: {type(exc).__name__}: {exc}"[:500]})
        raise
    finally:
        logger.close(status)
    return 0 if status == "FINISHED" else 1


if __name__ == "__main__":
    sys.exit(main())
