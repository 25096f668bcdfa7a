"""Layout of a model bundle on disk and the atomic way to write one and to point at it.

A registry folder holds one sub-folder per version and `current.json`, the pointer to
the served version. A version folder is written under a hidden temporary name, renamed
when complete, and only then is the pointer replaced: a crash at any point leaves the
previous pointer naming a complete bundle.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.checksums import file_sha256

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "features_order.json"
METADATA_FILE = "metadata.json"
KPIS_FILE = "kpis.json"
BUNDLE_FILES = (MODEL_FILE, SCHEMA_FILE, METADATA_FILE, KPIS_FILE)
# Optional: the compiled scorer, verified against the pipeline at training time.
SCORER_FILE = "scorer.json"
POINTER_FILE = "current.json"
PARTIAL_PREFIX = ".partial-"


def new_version_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across processes: 20261126T033105Z-3fa1c2."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON through a temporary file and os.replace, so readers never see half a file.

    The temporary name is unique per call: two threads (or processes) writing the same
    file at once each replace it whole, and neither loses its temporary file.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_bundle(
    registry: Path,
    version: str,
    pipeline: Any,
    schema: dict[str, Any],
    metadata: dict[str, Any],
    kpis: dict[str, Any],
    scorer: dict[str, Any] | None = None,
) -> Path:
    """Write a complete version folder; the files' sha256 go into its metadata, written last."""
    registry.mkdir(parents=True, exist_ok=True)
    partial = registry / f"{PARTIAL_PREFIX}{version}"
    partial.mkdir()
    import joblib  # imported here: serving reads bundles without paying for the writer

    model_path = partial / MODEL_FILE
    with open(model_path, "wb") as handle:
        joblib.dump(pipeline, handle, compress=3)
        handle.flush()
        os.fsync(handle.fileno())
    write_json(partial / SCHEMA_FILE, schema)
    write_json(partial / KPIS_FILE, kpis)
    checksums = {"model_sha256": file_sha256(model_path)}
    if scorer is not None:
        write_json(partial / SCORER_FILE, scorer)
        checksums["scorer_sha256"] = file_sha256(partial / SCORER_FILE)
    write_json(partial / METADATA_FILE, {**metadata, "version": version, **checksums})
    _fsync_dir(partial)
    final = registry / version
    os.rename(partial, final)
    _fsync_dir(registry)
    return final


def version_from_pointer(pointer: Any, where: str) -> str:
    """The version a pointer's JSON names; refuses anything that is not a plain folder name."""
    version = pointer.get("version") if isinstance(pointer, dict) else None
    if not isinstance(version, str) or not version or "/" in version or "\\" in version or version.startswith("."):
        raise ValueError(f"{where} does not name a version")
    return version


def read_pointer(registry: Path) -> str | None:
    """The served version named by the pointer, or None when there is no pointer yet."""
    try:
        raw = json.loads((registry / POINTER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return version_from_pointer(raw, str(registry / POINTER_FILE))


def point_to(registry: Path, version: str) -> None:
    """Serve `version` from now on: one os.replace, so the switch is atomic."""
    if not (registry / version / METADATA_FILE).is_file():
        raise FileNotFoundError(f"version {version} is not a complete bundle in {registry}")
    write_json(registry / POINTER_FILE, {"version": version, "updated_at": datetime.now(UTC).isoformat()})
    _fsync_dir(registry)


def remove_partials(registry: Path, older_than_s: float = 600.0) -> list[str]:
    """Delete folders left by runs that died while writing; they were never served.

    Writing a bundle takes well under a second, so a partial folder older than
    `older_than_s` cannot belong to a run still in progress.
    """
    removed = []
    if registry.is_dir():
        for folder in registry.glob(f"{PARTIAL_PREFIX}*"):
            if time.time() - folder.stat().st_mtime >= older_than_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
    return removed


def list_versions(registry: Path) -> list[str]:
    """Complete versions, oldest first."""
    if not registry.is_dir():
        return []
    return sorted(
        entry.name
        for entry in registry.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and (entry / METADATA_FILE).is_file()
    )
