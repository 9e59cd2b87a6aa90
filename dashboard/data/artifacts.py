"""A run's files: the artifact tree, reading and downloading one listed file, .npz arrays.

Artifacts are read only through MlflowClient.list_artifacts / download_artifacts, so the pages work the same on the
embedded store and on a tracking server; only paths that list_artifacts returned for the chosen run are ever
downloaded (`check_artifact_path`). Listings live ARTIFACT_TTL_S (store.py), because a running run keeps adding
files. Every failure reaches the pages as an ArtifactError (a StoreError) with a one-line message.
The exceptions to "through the client" are `read_run_artifact` and `list_run_artifacts`, which read a run's
artifact location directly, for what the pages read of many runs at once: curve summaries (curve_reads.py) and
snapshots (snapshots.py), at paths they build themselves.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard.data import store

PREVIEW_MAX_BYTES = 5_000_000  # previews read at most this much; the download button still gets any size


class ArtifactError(store.StoreError):
    """A missing, unreadable, oversized or forbidden artifact; the message is one line for the page."""


def artifact_error(exc: BaseException, what: str, uri: str) -> ArtifactError:
    return ArtifactError(str(store.store_error(exc, what, uri)))


@st.cache_data(ttl=store.ARTIFACT_TTL_S, show_spinner=False, max_entries=512)
def _tree_cached(uri: str, run_id: str) -> list[dict[str, Any]]:
    client = store.client(uri)
    out: list[dict[str, Any]] = []

    def walk(folder: str | None, depth: int) -> None:
        for info in sorted(client.list_artifacts(run_id, folder), key=lambda f: (not f.is_dir, f.path)):
            out.append({"path": info.path, "is_dir": bool(info.is_dir), "size": info.file_size, "depth": depth})
            if info.is_dir:
                walk(info.path, depth + 1)

    try:
        walk(None, 0)
    except Exception as exc:  # noqa: BLE001 - an unknown run, a vanished folder, a server that is down
        raise artifact_error(exc, f"Could not list the artifacts of run {run_id}", uri) from None
    return out


def artifact_tree(run_id: str) -> list[dict[str, Any]]:
    """Every artifact of a run, folders before files, depth first: dicts {path, is_dir, size, depth}."""
    return _tree_cached(store.store_uri(), run_id)


def check_artifact_path(path: str, listed: Collection[str]) -> str:
    """`path` when it is one of `listed` (the run's own files), else ArtifactError.

    Relative paths only: no leading '/', no drive or scheme, no '.', '..' or empty component; and whatever it
    looks like, it must be a path that list_artifacts returned for this run.
    """
    p = str(path)
    parts = p.replace("\\", "/").split("/")
    if not p or p.startswith(("/", "\\")) or ":" in parts[0] or any(part in ("", ".", "..") for part in parts):
        raise ArtifactError(f"'{path}' is not an artifact path of this run (relative paths without '..' only)")
    if p not in set(listed):
        raise ArtifactError(f"'{path}' is not among this run's artifacts")
    return p


def listed_entry(uri: str, run_id: str, path: str) -> dict[str, Any]:
    """The tree entry of one of the run's files; ArtifactError when `path` is not one (check_artifact_path)."""
    tree = _tree_cached(uri, run_id)
    check_artifact_path(path, [e["path"] for e in tree if not e["is_dir"]])
    return next(e for e in tree if e["path"] == path)


def download(uri: str, run_id: str, path: str, dst: str) -> Path:
    """One artifact of the run into folder `dst`, through the client; its local path."""
    try:
        return Path(store.client(uri).download_artifacts(run_id, path, dst))
    except Exception as exc:  # noqa: BLE001
        raise artifact_error(exc, f"Could not download {path}", uri) from None


@st.cache_data(ttl=store.ARTIFACT_TTL_S, show_spinner=False, max_entries=32)
def _bytes_cached(uri: str, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ganboard-art-") as tmp:
        return download(uri, run_id, path, tmp).read_bytes()


def read_artifact(run_id: str, path: str, capped: bool = True) -> bytes:
    """The bytes of one listed artifact of `run_id`; ArtifactError when it is not listed, or over
    PREVIEW_MAX_BYTES when `capped` (previews). Uncapped reads (downloads) are not kept in the cache."""
    uri = store.store_uri()
    entry = listed_entry(uri, run_id, path)
    if capped and entry["size"] is not None and entry["size"] > PREVIEW_MAX_BYTES:
        raise ArtifactError(f"{path} is {entry['size'] / 1e6:.1f} MB; previews stop at "
                            f"{PREVIEW_MAX_BYTES / 1e6:g} MB (the download button gets the whole file)")
    if not capped:
        with tempfile.TemporaryDirectory(prefix="ganboard-art-") as tmp:
            return download(uri, run_id, path, tmp).read_bytes()
    return _bytes_cached(uri, run_id, path)


def artifact_download(run_id: str, path: str):
    """A callable for st.download_button's deferred `data`: the whole file, or a one-line error text."""

    def fetch() -> bytes:
        try:
            return read_artifact(run_id, path, capped=False)
        except store.StoreError as exc:
            return f"GANboard could not read {path}: {exc}\n".encode()

    return fetch


def npz_arrays(raw: bytes, path: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz file's bytes (no pickled objects); ArtifactError naming `path` when unreadable."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad header, pickled object arrays
        raise ArtifactError(f"{path}: not a readable .npz ({store.one_line(exc)})") from None


def _is_local(location: str) -> bool:
    from urllib.parse import urlparse

    scheme = urlparse(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a path, file:///path, or a Windows drive


def _local_path(location: str) -> Path:
    from urllib.parse import urlparse

    parsed = urlparse(location)
    return Path(parsed.path if parsed.scheme == "file" else location)


@st.cache_resource(show_spinner=False, max_entries=20_000)
def _repository(location: str):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(location)


def _served_from(location: str) -> Path | None:
    """The folder on this machine that a tracking server serves an mlflow-artifacts: location from, when
    GANBOARD_READ_ARTIFACTS_DIR names the server's artifacts destination."""
    from urllib.parse import urlparse

    root = store.read_artifacts_dir() if location.startswith("mlflow-artifacts:") else None
    return root / urlparse(location).path.lstrip("/") if root is not None else None


def reads_from_disk(artifact_uri: str) -> bool:
    """Whether read_run_artifact reads this location's files from this machine's disk (no request to wait on)."""
    return _is_local(artifact_uri) or _served_from(artifact_uri) is not None


def read_run_artifact(artifact_uri: str, path: str) -> bytes:
    """One file of a run, straight from the run's artifact location: a local folder (or the server's own folder,
    GANBOARD_READ_ARTIFACTS_DIR) is read from disk, the tracking server's mlflow-artifacts: otherwise with one
    GET of MLflow's HTTP artifact repository, any other location (s3:, ...) through its repository's download.
    Unlike MlflowClient.download_artifacts this asks the tracking store nothing (that costs two get_run calls and
    a temp folder per file), which matters when a chart reads a thousand runs' summaries or a gallery 64 runs'
    snapshots."""
    if _is_local(artifact_uri):
        return (_local_path(artifact_uri) / path).read_bytes()
    served = _served_from(artifact_uri)
    if served is not None and (served / path).is_file():  # else (not written there yet?) ask the server
        return (served / path).read_bytes()
    repo = _repository(artifact_uri)
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    if isinstance(repo, HttpArtifactRepository):
        from mlflow.utils.rest_utils import augmented_raise_for_status, http_request

        resp = http_request(repo._host_creds, "/" + path.lstrip("/"), "GET")  # what its _download_file does
        augmented_raise_for_status(resp)
        return resp.content
    with tempfile.TemporaryDirectory(prefix="ganboard-art-") as tmp:
        return Path(repo.download_artifacts(path, tmp)).read_bytes()


def list_run_artifacts(artifact_uri: str, folder: str) -> list[str]:
    """The file names directly in `folder` of a run's artifact location ([] when it has none), read like
    read_run_artifact: from disk, or one listing request to the location's repository."""
    served = _served_from(artifact_uri)
    if _is_local(artifact_uri) or (served is not None and served.is_dir()):
        where = (served if served is not None else _local_path(artifact_uri)) / folder
        return sorted(p.name for p in where.iterdir() if p.is_file()) if where.is_dir() else []
    return sorted(Path(f.path).name for f in _repository(artifact_uri).list_artifacts(folder) if not f.is_dir)
