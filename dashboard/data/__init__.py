"""The dashboard's one door to MLflow: every read and write the pages make goes through here, with the caching.

Pages import this package only (`from dashboard import data`, then `data.runs(...)`, `data.StoreError`) and get
plain pandas / numpy values back, never MLflow objects, which they hand to the pure builders in `figures.py` and
`stats.py`. Nothing happens at import time; mlflow, sqlalchemy and torch are imported on first use.

One module per job; each module's docstring states its conventions:
- store.py       the store URI, its client and SQL engine, the server probe, StoreError and one-line messages,
                 how long cached reads live
- runs_table.py  experiments, pages of runs filtered, sorted and counted in the store, runs by id, sweeps,
                 configs, groups
- curve_reads.py curves on one shared bucket grid: logged summaries, SQL buckets, client histories
- writes.py      launch, stop, relaunch, delete, restore, reconcile, logs: each refused for viewers
- selection.py   the session's selection of runs and the page links that carry it
- artifacts.py   a run's artifact tree, reading and downloading one listed file, .npz arrays
- snapshots.py   samples and D's field by step, gallery frames, mode shares, density contours, D's gradient
- previews.py    an artifact decoded for the Artifacts page's preview
- inference.py   checkpoint summaries and sampling a checkpoint's G and D (torch)

The names below are the pages' API; anything else is reached through its module (`data.curve_reads`, ...).
"""

from dashboard.data.artifacts import (PREVIEW_MAX_BYTES, ArtifactError, artifact_download, artifact_tree,
                                      check_artifact_path, read_artifact)
from dashboard.data.curve_reads import Curve, bucket_curve, curves, grid_width, metric_at, summarised_runs
from dashboard.data.inference import (MAX_CHECKPOINT_SAMPLES, checkpoint_summary, sample_checkpoint,
                                      sampling_fields, style_mixing)
from dashboard.data.previews import Preview, array_summary, artifact_preview
from dashboard.data.runs_table import (MAX_PAGE, active_runs, configs, count_runs, experiments, groups, metric_keys,
                                       preset_configs, runs, runs_by_id, sweep_run_ids, sweeps)
from dashboard.data.selection import SELECTION_KEY, select_runs, selected_runs, selection_query
from dashboard.data.snapshots import (Frame, class_shares, density_contours, field_gradient, gallery_frame,
                                      gallery_frames, load_field, load_samples, mixture, modality, mode_shares,
                                      nearest_earlier, nearest_real, snapshot_arrays, snapshot_steps, steps_of_runs)
from dashboard.data.store import ReadOnlyError, StoreError, describe_store, one_line, readonly, store_uri
from dashboard.data.writes import delete, launch, logs, plan, reconcile, relaunch, restore, stop

__all__ = [
    # store
    "StoreError", "ReadOnlyError", "store_uri", "readonly", "describe_store", "one_line",
    # runs table
    "experiments", "runs", "count_runs", "active_runs", "MAX_PAGE", "runs_by_id", "sweep_run_ids", "configs",
    "preset_configs", "groups", "metric_keys", "sweeps",
    # curves
    "Curve", "bucket_curve", "grid_width", "curves", "summarised_runs", "metric_at",
    # writes
    "plan", "launch", "stop", "relaunch", "delete", "restore", "reconcile", "logs",
    # selection
    "SELECTION_KEY", "select_runs", "selected_runs", "selection_query",
    # artifacts, snapshots, previews, checkpoints
    "ArtifactError", "PREVIEW_MAX_BYTES", "artifact_tree", "check_artifact_path", "read_artifact", "artifact_download",
    "snapshot_steps", "steps_of_runs", "snapshot_arrays", "nearest_earlier", "load_samples", "load_field", "Frame",
    "gallery_frame", "gallery_frames", "mixture",
    "density_contours", "field_gradient", "mode_shares", "modality", "nearest_real", "class_shares",
    "Preview", "artifact_preview", "array_summary",
    "MAX_CHECKPOINT_SAMPLES", "checkpoint_summary", "sample_checkpoint", "sampling_fields", "style_mixing",
]
