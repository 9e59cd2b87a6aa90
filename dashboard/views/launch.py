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

from dashboard import data
from engine.config import FIELDS, ConfigError, allowed, build_config, check_value, schema
from engine.data import DATASETS
from engine.launch import LaunchError, parse_sweep
from engine.nets import arch_name
from engine.presets import FIRST_SWEEP, PRESETS
from engine.tracking import DEFAULT_EXPERIMENT

K = "keep.launch."  # widget keys: app.py keeps "keep." widgets alive across page visits
STARTER_KEY = "launch.first_sweep_axes"  # the first sweep's boxes as it filled them, until a preset is picked
NO_PRESET = "(defaults)"
GROUPS = ("data", "generator", "discriminator", "objective", "variant", "optimisation", "tricks", "sampling",
          "logging")
# The value a trick takes when a sweep turns it on (its sources' settings), when the form has it off.
TRICK_ON: dict[str, Any] = {"spectral_norm": True, "feature_matching": True, "pack": 2, "mbd_kernels": 50,
                            "label_smoothing": 0.1, "label_flip": 0.05, "instance_noise": 0.1, "unrolled_steps": 5,
                            "hist_avg": 1.0, "replay": 0.5, "ema": 0.999}
MAX_SEEDS = 100
SEEDS_LABEL, AXES_LABEL = "Seeds per combination", "More axes"
FORM_WORDS = {"seeds": SEEDS_LABEL}  # the engine's names of inputs that the form labels otherwise


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fill(preset: str) -> None:
    """Put a preset's full config into the form's widgets (a callback: runs before the widgets are drawn)."""
    cfg = build_config(None if preset == NO_PRESET else preset).to_dict()
    for name, value in cfg.items():
        st.session_state[K + name] = _fmt(value) if FIELDS[name].type in (float, "float") else value


def _on_preset() -> None:
    _fill(st.session_state[K + "preset"])
    # The first sweep's axes belong to its preset: a user who picks another preset before touching them means
    # that preset alone (a sweep of the ring's losses would otherwise ride along onto, say, a DCGAN on mnist).
    starter = st.session_state.pop(STARTER_KEY, None)
    if starter and all(st.session_state.get(K + box) == value for box, value in starter.items()):
        for box, value in starter.items():  # emptied, not deleted: a deleted key leaves the browser's box as it was
            st.session_state[K + box] = type(value)()


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
        # No min/max here: the browser keeps an out-of-range number in the box without sending it, and the last
        # accepted value would be launched. The range is checked below, with the error under the box.
        return st.number_input(name, step=1, key=key, help=help_text)
    return st.text_input(name, key=key, help=help_text)  # floats as text: 1e-4 and 0.0001 both work


def _field_error(name: str, raw: Any) -> str | None:
    """The field on its own: its type and range (cross-field rules are checked on the whole config)."""
    try:
        check_value(name, raw)
    except ConfigError as exc:
        return str(exc)
    return None


def _applies(spec: dict[str, Any], arch: str, modality: str, variant: str) -> bool:
    """Whether a field means something for the chosen data set's architecture and modality and the variant."""
    return ((not spec["archs"] or arch in spec["archs"]) and (not spec["modalities"] or modality in spec["modalities"])
            and (not spec["variants"] or variant in spec["variants"]))


def _chosen_arch() -> tuple[str, str, str]:
    """(architecture, modality, variant) the form holds now (the defaults before it is drawn)."""
    dataset = st.session_state.get(K + "dataset", FIELDS["dataset"].default)
    entry = DATASETS.get(dataset, DATASETS[FIELDS["dataset"].default])
    arch = arch_name(st.session_state.get(K + "arch", FIELDS["arch"].default), entry.modality)
    return arch, entry.modality, st.session_state.get(K + "variant", FIELDS["variant"].default)


def _form() -> tuple[dict[str, Any], dict[str, Any]]:
    """Draw the fields by group, a tab each: GROUPS in their order, then any other group (a field added to the
    config under a group of its own) in the order of its first field, so every field is on the form. A field of
    another architecture, modality or variant than the chosen ones (the MLP's widths for images, the plane's grid,
    InfoGAN's codes for a cGAN) is not drawn and goes at its default, which is what the engine asks of it. Return the raw values and an
    error slot per field."""
    values, slots = {}, {}
    by_group: dict[str, list[dict]] = {}
    arch, modality, variant = _chosen_arch()
    for spec in schema():
        if not _applies(spec, arch, modality, variant):
            values[spec["name"]] = spec["default"]
            continue
        by_group.setdefault(spec["group"], []).append(spec)
    order = [g for g in GROUPS if g in by_group] + [g for g in by_group if g not in GROUPS]
    tabs = st.tabs([g.capitalize() for g in order])
    for tab, group in zip(tabs, order):
        with tab:
            cols = st.columns(3)
            for i, spec in enumerate(by_group[group]):
                with cols[i % 3]:
                    values[spec["name"]] = _widget(spec)
                    slots[spec["name"]] = st.empty()
    return values, slots


class Sweep:
    """What the sweep builder asks for: the axes (field -> values), the seeds per combination, where each axis was
    typed (to show an error under that box) and the errors of its own boxes, by box."""

    def __init__(self) -> None:
        self.axes: dict[str, list[Any]] = {}
        self.seeds = 1
        self.slot_of: dict[str, Any] = {}
        self.errors: dict[str, str] = {}  # box label -> message


def _sweep_builder() -> tuple[Sweep, dict[str, Any]]:
    """The sweep's inputs, and an error slot under each of its boxes (by label)."""
    st.subheader("Sweep")
    sweep, slots = Sweep(), {}
    c1, c2, c3 = st.columns(3)
    presets = c1.multiselect("Presets", list(PRESETS), key=K + "sweep.presets",
                             help="One run per preset (times everything else); the form's edits apply on top.")
    slots["Presets"] = c1.empty()
    losses = c2.multiselect("Losses", list(FIELDS["loss"].metadata["choices"]), key=K + "sweep.losses")
    slots["Losses"] = c2.empty()
    penalties = c3.multiselect("Penalties", list(FIELDS["penalty"].metadata["choices"]), key=K + "sweep.penalties")
    slots["Penalties"] = c3.empty()
    c4, c5 = st.columns([2, 1])
    tricks = c4.multiselect("Tricks (each off and on)", list(TRICK_ON), key=K + "sweep.tricks",
                            help="Each trick doubles the runs: off (its default) and on (the form's value when the "
                                 "form turns it on, else " + ", ".join(f"{k}={_fmt(v)}" for k, v in TRICK_ON.items())
                                 + ").")
    slots["Tricks"] = c4.empty()
    seeds = c5.number_input(SEEDS_LABEL, step=1, key=K + "sweep.seeds",
                            help=f"Seeds seed, seed+1, ... (seed from the Optimisation tab) for every combination, 1 "
                                 f"to {MAX_SEEDS}. To pick the seeds yourself, list them in More axes (seed=3,7) and "
                                 f"leave this at 1.")
    slots[SEEDS_LABEL] = c5.empty()
    extra = st.text_input(AXES_LABEL, key=K + "sweep.extra", placeholder="lr_d=1e-4,2e-4; n_critic=1,5",
                          help="Any config field: field=v1,v2 separated by ';'. Each field once, each value once.")
    slots[AXES_LABEL] = st.empty()
    for label, key, chosen in (("Presets", "preset", presets), ("Losses", "loss", losses),
                               ("Penalties", "penalty", penalties)):
        if chosen:
            sweep.axes[key], sweep.slot_of[key] = list(chosen), label
    for trick in tricks:
        off = FIELDS[trick].default
        try:
            on = check_value(trick, st.session_state.get(K + trick))
        except ConfigError:
            on = None
        sweep.axes[trick] = [off, on if on not in (None, off) else TRICK_ON[trick]]
        sweep.slot_of[trick] = "Tricks"
    if not 1 <= int(seeds) <= MAX_SEEDS:
        sweep.errors[SEEDS_LABEL] = f"{SEEDS_LABEL}: {int(seeds)} is out of range, allowed 1 to {MAX_SEEDS}"
    sweep.seeds = int(seeds)
    items = [s.strip() for s in (extra or "").split(";") if s.strip()]
    try:
        typed = parse_sweep(items, flag=AXES_LABEL)
    except (ConfigError, LaunchError) as exc:
        sweep.errors[AXES_LABEL] = str(exc)
    else:
        taken = [k for k in typed if k in sweep.axes]
        if taken:
            sweep.errors[AXES_LABEL] = (f"{AXES_LABEL}: {taken[0]} is already swept in {sweep.slot_of[taken[0]]}; "
                                        "give it in one place")
        for key, values in typed.items():
            sweep.axes[key], sweep.slot_of[key] = values, AXES_LABEL
    return sweep, slots


def _plan(preset: str | None, values: dict[str, Any], sweep: Sweep
          ) -> tuple[list, dict[str, Any], tuple[str, str] | None]:
    """The runs the form asks for, the fields it changes from the preset, and (box label or field, message) when
    the plan is refused. The form's seed is the first seed; a changed one goes with the overrides."""
    base = build_config(preset).to_dict()
    typed = {n: check_value(n, raw) for n, raw in values.items()}
    overrides = {k: v for k, v in typed.items() if v != base[k]}
    try:
        return data.plan(preset, overrides, sweep.axes or None, sweep.seeds), overrides, None
    except LaunchError as exc:
        where = SEEDS_LABEL if exc.field == "seeds" else sweep.slot_of.get(exc.field or "", exc.field)
        return [], overrides, (where, exc.worded(FORM_WORDS))
    except ConfigError as exc:
        field = str(exc).split(":", 1)[0]
        return [], overrides, (sweep.slot_of.get(field, field), str(exc))


def _start_from(first: dict[str, Any]) -> None:
    """A new session's form: the first sweep's preset filled in and its axes in the sweep builder's boxes."""
    st.session_state[K + "preset"] = first["preset"]
    st.session_state[K + "experiment"] = DEFAULT_EXPERIMENT
    _fill(first["preset"])
    st.session_state[K + "sweep.seeds"] = first["seeds"]
    boxes = {"preset": "sweep.presets", "loss": "sweep.losses", "penalty": "sweep.penalties"}
    extra = []
    for key, values in first["sweep"].items():
        if key in boxes:
            st.session_state[K + boxes[key]] = list(values)
        else:
            extra.append(f"{key}={','.join(_fmt(v) for v in values)}")
    st.session_state[K + "sweep.extra"] = "; ".join(extra)
    st.session_state[STARTER_KEY] = {box: st.session_state[K + box] for box in
                                     ("sweep.presets", "sweep.losses", "sweep.penalties", "sweep.extra")
                                     if K + box in st.session_state}


def render() -> None:
    st.title("Launch")
    if data.readonly():
        st.info("This dashboard is read-only (GANBOARD_READONLY=1): launching is off.")
        return
    if K + "loss" not in st.session_state:
        _start_from(FIRST_SWEEP)

    names = [NO_PRESET, *PRESETS]
    st.selectbox("Preset", names, key=K + "preset", on_change=_on_preset,
                 format_func=lambda n: n if n == NO_PRESET else f"{n} — {PRESETS[n]['doc']}",
                 help="Fills the whole form with the preset's config; edit any field afterwards.")
    preset = st.session_state[K + "preset"]
    if preset != NO_PRESET:
        st.caption(f"Source: {PRESETS[preset]['source']}")
    if preset == FIRST_SWEEP["preset"]:
        st.info("A first sweep to start from: three losses on the ring, two seeds each, about a minute on a "
                "laptop's CPU, and the losses already differ (modes and HQ % on the Compare page). Change anything.",
                icon=":material/lightbulb:")
    values, slots = _form()
    sweep, sweep_slots = _sweep_builder()
    slots.update(sweep_slots)

    # --- validate: each field alone, the sweep's own boxes, then the whole planned set of runs ---
    errors = {n: e for n, raw in values.items() if (e := _field_error(n, raw))}
    errors.update(sweep.errors)
    base_preset = None if preset == NO_PRESET else preset
    planned, overrides = [], {}
    if not errors:
        planned, overrides, refused = _plan(base_preset, values, sweep)
        if refused:
            errors[refused[0]] = refused[1]
    for where, msg in errors.items():
        if where in slots:
            slots[where].error(msg)

    if overrides:
        st.caption("Changed from the preset: " + ", ".join(f"{k}={_fmt(v)}" for k, v in overrides.items()))
    st.divider()
    c1, c2, c3 = st.columns([1, 2, 2])
    c1.metric("Runs to start", len(planned))
    experiment = c2.text_input("Experiment", key=K + "experiment")
    sweep_name = c3.text_input("Sweep name", key=K + "sweep.name", placeholder="optional")
    if errors:
        shown = list(errors.values())
        st.error(shown[0] if len(shown) == 1 else f"{len(shown)} fields need fixing: " + "; ".join(shown))
    clicked = st.button(f"Launch {len(planned)} run{'s' if len(planned) != 1 else ''}", type="primary",
                        disabled=not planned or bool(errors), key="launch.submit")
    # A click can arrive in the same rerun as an edit that made the form invalid (the box is left by clicking
    # the button): launch only what this very run validated.
    if clicked and planned and not errors:
        try:
            ids = data.launch(base_preset, overrides, sweep.axes or None, sweep.seeds,
                              experiment=experiment.strip() or DEFAULT_EXPERIMENT,
                              sweep_name=sweep_name.strip() or None)
        except (data.StoreError, ConfigError) as exc:
            st.error(str(exc))
            return
        except LaunchError as exc:
            st.error(exc.worded(FORM_WORDS))
            return
        st.session_state["runs.notice"] = f"Queued {len(ids)} run{'s' if len(ids) != 1 else ''}."
        st.switch_page("views/runs.py")


render()
