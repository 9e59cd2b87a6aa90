"""Launch: a form generated from the engine's config schema, a preset picker that fills it, a sweep builder.

Every field of engine.config.TrainConfig is a widget with its doc as help text and its allowed values or range;
a preset fills the whole form. The sweep builder (presets, losses, penalties, tricks, any field, seeds) says how
many runs it will start; every planned config is validated as the user types (engine.launch.expand), and an
error names its field under that field. Launch submits through the engine's launcher and opens the Runs page,
where the queued runs already are. Hidden when GANBOARD_READONLY=1 (the router drops the page as well).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import sys
from pathlib import Path

# Opened by its own URL on a fresh server, Streamlit runs this page without app.py, whose directory
# is the only one on sys.path: put the repository root there so `dashboard` and `engine` import.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dashboard import data  # noqa: E402
from dashboard.app import ensure_router  # noqa: E402
from engine.config import FIELDS, ConfigError, apply_overrides, allowed, build_config, schema  # noqa: E402
from engine.launch import LaunchError, parse_sweep  # noqa: E402
from engine.presets import PRESETS  # noqa: E402
from engine.tracking import DEFAULT_EXPERIMENT  # noqa: E402

K = "keep.launch."  # widget keys: app.py keeps "keep." widgets alive across page visits
NO_PRESET = "(defaults)"
GROUPS = ("data", "generator", "discriminator", "objective", "optimisation", "tricks", "logging")
# The value a trick takes when a sweep turns it on (its sources' settings), when the form has it off.
TRICK_ON: dict[str, Any] = {"spectral_norm": True, "feature_matching": True, "pack": 2, "mbd_kernels": 50,
                            "label_smoothing": 0.1, "label_flip": 0.05, "instance_noise": 0.1, "unrolled_steps": 5,
                            "hist_avg": 1.0, "replay": 0.5, "ema": 0.999}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fill(preset: str) -> None:
    """Put a preset's full config into the form's widgets (a callback: runs before the widgets are drawn)."""
    cfg = build_config(None if preset == NO_PRESET else preset).to_dict()
    for name, value in cfg.items():
        st.session_state[K + name] = _fmt(value) if FIELDS[name].type in (float, "float") else value


def _on_preset() -> None:
    _fill(st.session_state[K + "preset"])


def _widget(spec: dict[str, Any]) -> Any:
    name, kind = spec["name"], spec["type"]
    default = spec["default"]
    help_text = f"{spec['doc']}  \nAllowed: {allowed(name)}. Default: {_fmt(default)}."
    key = K + name
    if spec["choices"]:
        return st.selectbox(name, list(spec["choices"]), key=key, help=help_text)
    if kind == "bool":
        return st.checkbox(name, key=key, help=help_text)
    if kind == "int":
        return st.number_input(name, min_value=int(spec["lo"]), max_value=int(spec["hi"]), step=1, key=key,
                               help=help_text)
    return st.text_input(name, key=key, help=help_text)  # floats as text: 1e-4 and 0.0001 both work


def _field_error(name: str, raw: Any) -> str | None:
    """The field on its own: its type and range (cross-field rules are checked on the whole config)."""
    try:
        value = apply_overrides({}, {name: raw})[name]
    except ConfigError as exc:
        return str(exc)
    meta = FIELDS[name].metadata
    if meta["lo"] is not None and not meta["lo"] <= value <= meta["hi"]:
        return f"{name}: {_fmt(value)} is out of range, allowed {allowed(name)}"
    return None


def _form() -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw the fields by group; return the raw values and an error slot per field."""
    values, slots = {}, {}
    by_group: dict[str, list[dict]] = {}
    for spec in schema():
        by_group.setdefault(spec["group"], []).append(spec)
    tabs = st.tabs([g.capitalize() for g in GROUPS if g in by_group])
    for tab, group in zip(tabs, [g for g in GROUPS if g in by_group]):
        with tab:
            cols = st.columns(3)
            for i, spec in enumerate(by_group[group]):
                with cols[i % 3]:
                    values[spec["name"]] = _widget(spec)
                    slots[spec["name"]] = st.empty()
    return values, slots


def _sweep_builder() -> tuple[dict[str, list[Any]], list[int], list[str]]:
    """The sweep's axes (field -> values), the seeds, and the errors of the free-form lines."""
    st.subheader("Sweep")
    c1, c2, c3 = st.columns(3)
    presets = c1.multiselect("Presets", list(PRESETS), key=K + "sweep.presets",
                             help="One run per preset (times everything else); the form's edits apply on top.")
    losses = c2.multiselect("Losses", list(FIELDS["loss"].metadata["choices"]), key=K + "sweep.losses")
    penalties = c3.multiselect("Penalties", list(FIELDS["penalty"].metadata["choices"]), key=K + "sweep.penalties")
    c4, c5 = st.columns([2, 1])
    tricks = c4.multiselect("Tricks (each off and on)", list(TRICK_ON), key=K + "sweep.tricks",
                            help="Each trick doubles the runs: off (its default) and on (the form's value when the "
                                 "form turns it on, else " + ", ".join(f"{k}={_fmt(v)}" for k, v in TRICK_ON.items())
                                 + ").")
    seeds = c5.number_input("Seeds per combination", min_value=1, max_value=100, step=1, key=K + "sweep.seeds",
                            help="Seeds seed, seed+1, ... (seed from the form) for every combination.")
    extra = st.text_input("More axes", key=K + "sweep.extra", placeholder="lr_d=1e-4,2e-4; n_critic=1,5",
                          help="Any config field: field=v1,v2 separated by ';'.")
    sweep: dict[str, list[Any]] = {}
    errors: list[str] = []
    if presets:
        sweep["preset"] = presets
    if losses:
        sweep["loss"] = losses
    if penalties:
        sweep["penalty"] = penalties
    form_values = {n: st.session_state.get(K + n) for n in TRICK_ON}
    for trick in tricks:
        off = FIELDS[trick].default
        on = form_values.get(trick)
        try:
            on = apply_overrides({}, {trick: on})[trick] if on is not None else None
        except ConfigError:
            on = None
        sweep[trick] = [off, on if on not in (None, off) else TRICK_ON[trick]]
    items = [s.strip() for s in (extra or "").split(";") if s.strip()]
    try:
        for key, vals in parse_sweep(items).items():
            if key != "preset" and key not in FIELDS:
                raise ConfigError(f"{key}: unknown field in 'More axes'")
            sweep[key] = vals
    except (ConfigError, LaunchError) as exc:
        errors.append(str(exc))
    return sweep, list(range(int(seeds))), errors


def render() -> None:
    st.title("Launch")
    if data.readonly():
        st.info("This dashboard is read-only (GANBOARD_READONLY=1): launching is off.")
        return
    if K + "loss" not in st.session_state:
        st.session_state[K + "preset"] = "ns"
        st.session_state[K + "sweep.seeds"] = 1
        st.session_state[K + "experiment"] = DEFAULT_EXPERIMENT
        _fill("ns")

    names = [NO_PRESET, *PRESETS]
    st.selectbox("Preset", names, key=K + "preset", on_change=_on_preset,
                 format_func=lambda n: n if n == NO_PRESET else f"{n} — {PRESETS[n]['doc']}",
                 help="Fills the whole form with the preset's config; edit any field afterwards.")
    preset = st.session_state[K + "preset"]
    if preset != NO_PRESET:
        st.caption(f"Source: {PRESETS[preset]['source']}")
    values, slots = _form()
    sweep, seed_offsets, sweep_errors = _sweep_builder()

    # --- validate: each field alone, then the whole planned set of runs ---
    errors = {n: e for n, raw in values.items() if (e := _field_error(n, raw))}
    for name, msg in errors.items():
        slots[name].error(msg)
    base_preset = None if preset == NO_PRESET else preset
    planned, plan_error, overrides, seeds = [], None, {}, []
    if not errors and not sweep_errors:
        try:
            base = build_config(base_preset).to_dict()
            typed = apply_overrides({}, values)
            overrides = {k: v for k, v in typed.items() if v != base[k] and k != "seed"}
            seeds = [int(typed["seed"]) + i for i in seed_offsets]
            planned = data.plan(base_preset, overrides, sweep or None, seeds)
        except (ConfigError, LaunchError) as exc:
            plan_error = str(exc)
            field = plan_error.split(":", 1)[0]
            if field in slots:
                slots[field].error(plan_error)
    for msg in sweep_errors:
        st.error(msg)

    if overrides:
        st.caption("Changed from the preset: " + ", ".join(f"{k}={_fmt(v)}" for k, v in overrides.items()))
    st.divider()
    c1, c2, c3 = st.columns([1, 2, 2])
    c1.metric("Runs to start", len(planned))
    experiment = c2.text_input("Experiment", key=K + "experiment")
    sweep_name = c3.text_input("Sweep name", key=K + "sweep.name", placeholder="optional")
    if errors:
        st.error(f"{len(errors)} field(s) need fixing: " + "; ".join(errors.values()))
    elif plan_error:
        st.error(plan_error)
    if st.button(f"Launch {len(planned)} run{'s' if len(planned) != 1 else ''}", type="primary",
                 disabled=not planned or bool(errors) or bool(plan_error), key="launch.submit"):
        try:
            ids = data.launch(base_preset, overrides, sweep or None, seeds, experiment=experiment.strip() or
                              DEFAULT_EXPERIMENT, sweep_name=sweep_name.strip() or None)
        except data.StoreError as exc:
            st.error(str(exc))
            return
        except (ConfigError, LaunchError) as exc:
            st.error(str(exc))
            return
        st.session_state["runs.notice"] = f"Queued {len(ids)} run{'s' if len(ids) != 1 else ''}."
        st.switch_page("pages/runs.py")


ensure_router()
render()
