"""Every write the pages make: launch, stop, relaunch, delete, restore, and the launcher's reconcile and logs.

Each write is refused, not just hidden, for anyone who may not operate (GANBOARD_READONLY=1, or a signed-in viewer:
auth.check_operator) with a ReadOnlyError, and drops the cached run lists afterwards, so the pages show the change
at once. Bad launch input stays a `ConfigError` / `LaunchError` from the engine, whose message names the field;
any other failure is a one-line StoreError.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from dashboard import auth
from dashboard.data import runs_table, store
from engine import tracking
from engine.config import FIELDS, ConfigError


def _writable() -> None:
    """Refuse a write, not just hide its button, for anyone who may not operate."""
    try:
        auth.check_operator()
    except auth.NotOperatorError as exc:
        raise store.ReadOnlyError(str(exc)) from None


def plan(preset: str | None, overrides: dict[str, Any], sweep: dict[str, list[Any]] | None,
         seeds: int | list[int]) -> list[tuple[str | None, Any]]:
    """(preset, validated config) per run a launch would start; raises ConfigError / LaunchError naming the
    field. Touches no store."""
    from engine.launch import expand

    return expand(preset, overrides, sweep, seeds)


def launch(preset: str | None, overrides: dict[str, Any], sweep: dict[str, list[Any]] | None, seeds: int | list[int],
           *, experiment: str = tracking.DEFAULT_EXPERIMENT, sweep_name: str | None = None) -> list[str]:
    """Queue the runs through the launcher; they exist in the store (status queued) when this returns."""
    _writable()
    from engine import launch as launch_lib

    uri = store.store_uri()
    store.check_store(uri)
    try:
        ids = launch_lib.get_launcher().submit(preset, overrides, sweep, seeds, experiment=experiment or
                                               tracking.DEFAULT_EXPERIMENT, sweep_name=sweep_name or None)
    except (ConfigError, launch_lib.LaunchError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, "Launch failed", uri) from None
    finally:
        runs_table.refresh()
    return ids


def stop(run_ids: Sequence[str]) -> None:
    _writable()
    from engine import launch as launch_lib

    uri = store.store_uri()
    store.check_store(uri)
    try:
        launch_lib.get_launcher().stop(list(run_ids))
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, "Stop failed", uri) from None
    finally:
        runs_table.refresh()


def relaunch(run_ids: Sequence[str]) -> list[str]:
    """A new run with each run's config (same seed), in the same experiment, under the same preset tag, in the
    same sweep (so "Compare sweep" shows it beside its original), named "<name> (relaunch k)" and tagged with
    the run it repeats."""
    _writable()
    from engine import launch as launch_lib
    from engine.presets import PRESETS

    df = runs_table.runs_by_id(run_ids)
    new: list[str] = []
    try:
        for row, cfg in zip(df.itertuples(index=False), runs_table.configs(df).values()):
            cfg = {k: v for k, v in cfg.items() if k in FIELDS}
            preset = row.preset if row.preset in PRESETS else None
            original = row.relaunch_of or row.run_id  # a relaunch of a relaunch repeats the same original
            earlier = len(list(tracking.search_runs(runs_table.search_filter(relaunch_of=original), deleted=True)))
            name = f"{_name_of(original, row.name)} (relaunch {earlier + 1})"
            new += launch_lib.get_launcher().submit(
                preset, cfg, None, 1, experiment=row.experiment, sweep_id=row.sweep or None,
                sweep_name=(row.sweep_name or None) if row.sweep else f"relaunch of {row.name}", names=[name],
                tags={launch_lib.RELAUNCH_TAG: original})
    except (ConfigError, launch_lib.LaunchError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, "Relaunch failed", store.store_uri()) from None
    finally:
        runs_table.refresh()
    return new


def _name_of(run_id: str, fallback: str) -> str:
    names = runs_table.runs_by_id([run_id])["name"]
    return names.iloc[0] if len(names) else fallback


def delete(run_ids: Sequence[str]) -> None:
    """MLflow's soft delete: the runs leave every list and can be restored (`restore`) until purged."""
    _for_each_run(run_ids, "delete_run", "Delete failed")


def restore(run_ids: Sequence[str]) -> None:
    _for_each_run(run_ids, "restore_run", "Restore failed")


def _for_each_run(run_ids: Sequence[str], method: str, failure: str) -> None:
    """One client call per run (delete_run, restore_run), refused for viewers, with a one-line failure."""
    _writable()
    uri = store.store_uri()
    try:
        c = store.client(uri)
        for run_id in run_ids:
            getattr(c, method)(run_id)
    except store.StoreError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise store.store_error(exc, failure, uri) from None
    finally:
        runs_table.refresh()


_reconciled: dict[str, float] = {}


def reconcile(df: pd.DataFrame, every_s: float = 10.0) -> bool:
    """Let the launcher mark running runs whose process or heartbeat is gone as failed (`lost`), at most every
    `every_s`; True when it changed a status. Read-only dashboards leave the store alone."""
    if store.readonly() or df.empty:
        return False
    running = df.loc[df["status"] == "running", "run_id"].tolist()
    uri = store.store_uri()
    if not running or time.monotonic() - _reconciled.get(uri, -1e9) < every_s:
        return False
    _reconciled[uri] = time.monotonic()
    from engine import launch as launch_lib

    try:
        states = launch_lib.get_launcher().status(running)
    except Exception:  # noqa: BLE001 - a best-effort check; the table still shows what the store says
        return False
    changed = any(s.status != "running" for s in states)
    if changed:
        runs_table.refresh()
    return changed


def logs(run_id: str) -> str:
    """The run's process output (the launcher's log, else the logs/output.txt artifact); '' when none."""
    from engine import launch as launch_lib

    try:
        return launch_lib.get_launcher().logs(run_id)
    except Exception as exc:  # noqa: BLE001
        return f"(no log: {store.one_line(exc)})"
