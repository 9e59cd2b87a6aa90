"""Checkpoints: what a listed checkpoint holds, and fresh samples of its generator with its D around them (torch).

Checkpoints are loaded with weights_only=True, so a checkpoint from a shared store cannot run code in the
dashboard; torch is imported on first use only. Results are cached ARTIFACT_TTL_S, keyed by (store, run id, path)
and the sampling arguments.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import streamlit as st

from dashboard.data import artifacts, store

MAX_CHECKPOINT_SAMPLES = 20_000
G_CHUNK = 4096  # latents per G call when sampling a checkpoint


def _load_checkpoint(uri: str, run_id: str, path: str) -> dict[str, Any]:
    import torch

    artifacts.listed_entry(uri, run_id, path)
    with tempfile.TemporaryDirectory(prefix="ganboard-ckpt-") as tmp:
        local = artifacts.download(uri, run_id, path, tmp)
        try:
            # weights_only: a checkpoint from a shared store must not be able to run code in the dashboard
            state = torch.load(local, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, or holding arbitrary objects
            raise artifacts.ArtifactError(f"{path}: not a readable checkpoint ({store.one_line(exc)})") from None
    if not isinstance(state, dict) or not {"G", "D", "config"} <= state.keys():
        raise artifacts.ArtifactError(f"{path}: not a GANboard checkpoint (it lacks the keys G, D, config)")
    return state


@st.cache_data(show_spinner=False, max_entries=64, ttl=store.ARTIFACT_TTL_S)
def _checkpoint_summary_cached(uri: str, run_id: str, path: str) -> dict[str, Any]:
    state = _load_checkpoint(uri, run_id, path)

    def count(sd: Any) -> int:
        return int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))) if isinstance(sd, dict) else 0

    return {"step": state.get("step"), "config": state["config"], "keys": sorted(state),
            "parameters_G": count(state["G"]), "parameters_D": count(state["D"]),
            "has_G_ema": state.get("G_ema") is not None}


def checkpoint_summary(run_id: str, path: str) -> dict[str, Any]:
    """Step, config, keys and parameter counts of a listed checkpoint (loaded with weights_only=True)."""
    return _checkpoint_summary_cached(store.store_uri(), run_id, path)


def sampling_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The sampling settings (the config's "sampling" group: truncation, and psi for stylegan) that apply to a
    run of this config, with the run's values: what a Gallery slider may set when it samples the checkpoint."""
    from engine.config import FIELDS
    from engine.data import DATASETS
    from engine.nets import arch_name

    arch = arch_name(config.get("arch", "auto"), DATASETS[config["dataset"]].modality)
    variant = config.get("variant", "gan")
    usable = {name: spec for name, spec in FIELDS.items() if spec.metadata["group"] == "sampling"
              and (not spec.metadata["archs"] or arch in spec.metadata["archs"])
              and (not spec.metadata["variants"] or variant in spec.metadata["variants"])}
    if config.get("latent", "normal") != "normal":
        usable.pop("truncation", None)  # it truncates a normal latent
    return {name: config.get(name, spec.default) for name, spec in usable.items()}


def _nets_at(state: dict[str, Any], path: str, sampling: tuple[tuple[str, float], ...], use_ema: bool):
    """(cfg, variant, G, D, which G) of a loaded checkpoint: its config with the `sampling` settings over it, the
    variant's nets with its weights (G's moving average where asked and kept), set to the checkpoint's step (a
    growing run's side then) and in eval mode."""
    from engine import variants
    from engine.config import build_config
    from engine.data import get_dataset
    from engine.nets import set_progress

    try:
        cfg = build_config(None, dict(sampling), state["config"])
        variant = variants.build(cfg, get_dataset(cfg.dataset))
        G, D = variant.nets()
        which = "G_ema" if use_ema and state.get("G_ema") is not None else "G"
        G.load_state_dict(state[which])
        D.load_state_dict(state["D"])
    except Exception as exc:  # noqa: BLE001 - a config this engine rejects, or weights of other shapes
        raise artifacts.ArtifactError(
            f"{path}: does not fit the nets its config describes ({store.one_line(exc)})") from None
    set_progress([G, D], int(state.get("step") or 0), cfg.steps)
    G.eval()
    D.eval()
    return cfg, variant, G, D, which


@st.cache_data(show_spinner=False, max_entries=32, ttl=store.ARTIFACT_TTL_S)
def _sample_checkpoint_cached(uri: str, run_id: str, path: str, seed: int, n: int, use_ema: bool,
                              grad_points: int, sampling: tuple[tuple[str, float], ...] = ()) -> dict[str, Any]:
    import torch

    from engine.data import get_dataset
    from engine.nets import truncated

    state = _load_checkpoint(uri, run_id, path)
    cfg, variant, G, D, which = _nets_at(state, path, sampling, use_ema)
    # G's input as the variant draws it; labels or codes balanced, as in the run's evaluation; truncated as the
    # run's evaluation (or the slider) says
    z = variant.latent(n, torch.Generator().manual_seed(int(seed)), torch.device("cpu"), balanced=True).g_in
    z = truncated(z, cfg)
    with torch.no_grad():  # G a chunk at a time: 20,000 images' activations at once would take gigabytes
        x = torch.cat([G(chunk) for chunk in z.split(G_CHUNK)])
    dataset = get_dataset(cfg.dataset)
    return {"x": x.numpy(), "step": state.get("step"), "config": state["config"], "generator": which,
            "modality": dataset.modality, **AROUND_SAMPLES[dataset.modality](cfg, dataset, D, x, grad_points)}


@st.cache_data(show_spinner=False, max_entries=16, ttl=store.ARTIFACT_TTL_S)
def _style_mixing_cached(uri: str, run_id: str, path: str, seed: int, n: int, crossover: int,
                         sampling: tuple[tuple[str, float], ...]) -> dict[str, Any]:
    import torch

    state = _load_checkpoint(uri, run_id, path)
    cfg, variant, G, _, _ = _nets_at(state, path, sampling, use_ema=True)
    if not hasattr(G, "mix"):
        raise artifacts.ArtifactError(f"{path}: this architecture ({cfg.arch}) has no per-layer styles to mix")
    # the rows' latents give the coarse styles, the columns' the fine ones; each its own labels or codes
    latents = variant.latent(2 * n, torch.Generator().manual_seed(int(seed)), torch.device("cpu"), balanced=True).g_in
    coarse, fine = latents[:n], latents[n:]
    # every (row, column) pair in one call: row i's latent repeated over the n columns
    mixed = G.mix(coarse.repeat_interleave(n, 0), fine.repeat(n, 1), crossover, cfg.psi)
    plain_coarse, plain_fine = G.mix(coarse, coarse, 0, cfg.psi), G.mix(fine, fine, 0, cfg.psi)
    return {"mixed": mixed.view(n, n, *mixed.shape[1:]).numpy(), "coarse": plain_coarse.numpy(),
            "fine": plain_fine.numpy(), "n_styles": G.n_styles, "step": state.get("step")}


def style_mixing(run_id: str, path: str, seed: int, n: int, crossover: int,
                 sampling: dict[str, float] | None = None) -> dict[str, Any]:
    """StyleGAN's style-mixing grid from a listed checkpoint (Karras et al. 2019, Figure 3): n row latents and n
    column latents drawn with `seed`; cell (i, j) takes row i's styles in the first `crossover` layers and column
    j's in the rest. Returns {mixed (n, n, C, H, W), coarse (n, ...) the rows' own images, fine the columns',
    n_styles, step}; an ArtifactError for an architecture without per-layer styles."""
    if not 1 <= int(n) <= 8:
        raise artifacts.ArtifactError(f"count: between 1 and 8 a side, got {n}")
    return _style_mixing_cached(store.store_uri(), run_id, path, int(seed), int(n), int(crossover),
                                tuple(sorted((sampling or {}).items())))


def _d_around_points(cfg, dataset, D, x, grad_points: int) -> dict[str, Any]:
    """D on the grid exactly as the training loop's evaluation draws it (engine.evaluation): in chunks, and with
    minibatch discrimination against the run's fixed reference minibatch, redrawn from the config; grad D at the
    first samples by autograd."""
    import torch

    from engine.evaluation import d_at, evaluation_for
    from engine.variants import VARIANTS

    if not VARIANTS[cfg.variant].judges_x:  # cGAN's D(x, y), BiGAN's D(x, z): no one field of D on the plane
        return {"field": None, "grad": np.empty((0, 2), np.float32)}
    evaluation = evaluation_for(cfg, dataset, torch.device("cpu"))
    field = evaluation.field(D)
    reference = evaluation.reference
    grad = np.empty((0, 2), np.float32)
    pts = x[:grad_points].clone()
    if grad_points and torch.isfinite(pts).all():
        pts.requires_grad_(True)
        # the sum's gradient is each point's own grad D: outputs depend on their own point only (with minibatch
        # discrimination too, as each point is scored against the fixed reference, not the other points)
        (g,) = torch.autograd.grad(d_at(D, cfg, pts, reference).sum(), pts)
        grad = g.numpy()
    return {"field": {"xs": field["xs"], "ys": field["ys"], "d": field["d"], "d_is_prob": bool(field["d_is_prob"]),
                      "d_reference": str(field["d_reference"]) if "d_reference" in field else None},
            "grad": grad}


def _nothing_around_images(cfg, dataset, D, x, grad_points: int) -> dict[str, Any]:
    """Images have no plane to draw D on: the samples are the whole answer."""
    return {}


AROUND_SAMPLES = {"points": _d_around_points, "images": _nothing_around_images}  # modality -> what comes with x


def sample_checkpoint(run_id: str, path: str, seed: int, n: int, use_ema: bool = True,
                      grad_points: int = 0, sampling: dict[str, float] | None = None) -> dict[str, Any]:
    """`n` samples of a listed checkpoint's generator from latents drawn with `seed`, and its D around them;
    `sampling` overrides the run's sampling settings (sampling_fields: truncation, psi); the nets are set to the
    checkpoint's step (a growing run's side).

    Returns {x (n, 2) points or (n, C, H, W) images, step, config, generator ('G_ema' or 'G'), modality}, and for
    points field {xs, ys, d, d_is_prob, d_reference} (None where D judges no point alone: cgan, bigan): the
    checkpoint's D on the data set's grid (with minibatch
    discrimination against the run's reference minibatch, as in load_field), grad (grad_points, 2): grad D at the
    first samples by torch autograd.
    """
    if not 1 <= int(n) <= MAX_CHECKPOINT_SAMPLES:
        raise artifacts.ArtifactError(f"count: between 1 and {MAX_CHECKPOINT_SAMPLES}, got {n}")
    return _sample_checkpoint_cached(store.store_uri(), run_id, path, int(seed), int(n), bool(use_ema),
                                     int(grad_points), tuple(sorted((sampling or {}).items())))
