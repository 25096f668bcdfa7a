"""A model bundle on disk: its layout, the atomic way to write one and to point at it,
and the checks that read one back (every failure names its cause).

A registry folder holds one sub-folder per version and `current.json`, the pointer to
the served version. A version folder is written under a hidden temporary name, renamed
when complete, and only then is the pointer replaced: a crash at any point leaves the
previous pointer naming a complete bundle.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from lib.model.compiled import Scorer, scorer_from_json
from lib.model.contract import FORMAT_VERSION, BundleMetadata, ContractError, TrainingKpis
from lib.model.loaded import LoadedModel, ModelNotAvailable
from lib.model.schema import FeatureSchema
from lib.storage.files import file_sha256, fsync_dir, write_json

MODEL_FILE = "model.joblib"
SCHEMA_FILE = "features_order.json"
METADATA_FILE = "metadata.json"
KPIS_FILE = "kpis.json"
BUNDLE_FILES = (MODEL_FILE, SCHEMA_FILE, METADATA_FILE, KPIS_FILE)
# Optional: the compiled scorer, verified against the pipeline at training time.
SCORER_FILE = "scorer.json"
POINTER_FILE = "current.json"
PARTIAL_PREFIX = ".partial-"

logger = logging.getLogger(__name__)


def new_version_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across processes: 20261126T033105Z-3fa1c2."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


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
    write_json(partial / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata, "version": version, **checksums})
    fsync_dir(partial)
    final = registry / version
    os.rename(partial, final)
    fsync_dir(registry)
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
    fsync_dir(registry)


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


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelNotAvailable("unreadable", f"{what} ({path.name}) cannot be read: {exc}") from None


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def read_bundle(folder: Path, source: str | None = None) -> LoadedModel:
    """Check and load one version folder; every failure names its cause."""
    source = source or str(folder)
    if not folder.is_dir():
        raise ModelNotAvailable("missing", f"no model bundle at {source}: train one with `python -m lib.training`")
    absent = [name for name in BUNDLE_FILES if not (folder / name).is_file()]
    if absent:
        raise ModelNotAvailable(
            "incomplete", f"the bundle at {source} is incomplete (missing {', '.join(absent)}): retrain or restore it"
        )
    metadata = _read_metadata(folder, source)
    trained_with, installed = metadata.sklearn_version, package_version("scikit-learn")
    if _minor(trained_with) != _minor(installed):
        raise ModelNotAvailable(
            "incompatible",
            f"the model was trained with scikit-learn {trained_with} but {installed} is installed: "
            "retrain it or install the version it was trained with",
        )
    actual = file_sha256(folder / MODEL_FILE)
    if actual != metadata.model_sha256:
        raise ModelNotAvailable(
            "checksum_mismatch",
            f"{MODEL_FILE} at {source} does not match the checksum in its metadata (file changed or truncated): "
            "restore the bundle or retrain",
        )
    try:
        schema = FeatureSchema.from_json(_read_json(folder / SCHEMA_FILE, "the feature schema"))
    except (TypeError, KeyError) as exc:
        raise ModelNotAvailable("unreadable", f"{SCHEMA_FILE} at {source} is not a feature schema: {exc}") from None
    kpis = _read_kpis(folder, source, schema.names)

    def load_pipeline() -> Any:
        return _load_pipeline(folder, source, metadata.model_sha256, schema)

    scorer = _stored_scorer(folder, metadata, schema)
    if scorer is None:
        return LoadedModel(schema, metadata, kpis, source, folder, pipeline=load_pipeline())
    return LoadedModel(schema, metadata, kpis, source, folder, load_pipeline=load_pipeline, scorer=scorer)


@dataclass(frozen=True)
class Contract:
    """What training hands to serving besides the pipeline (lib.model.contract)."""

    metadata: BundleMetadata
    kpis: TrainingKpis


def read_contract(folder: Path, feature_names: list[str]) -> Contract:
    """metadata.json and kpis.json of a version folder, checked against the contract."""
    return Contract(_read_metadata(folder, str(folder)), _read_kpis(folder, str(folder), feature_names))


def _read_metadata(folder: Path, source: str) -> BundleMetadata:
    try:
        return BundleMetadata.from_json(_read_json(folder / METADATA_FILE, "the bundle metadata"))
    except ContractError as exc:
        raise ModelNotAvailable("unreadable", f"the bundle at {source} is refused: {exc}") from None


def _read_kpis(folder: Path, source: str, feature_names: list[str]) -> TrainingKpis:
    try:
        return TrainingKpis.from_json(_read_json(folder / KPIS_FILE, "the training KPIs"), feature_names)
    except ContractError as exc:
        raise ModelNotAvailable("unreadable", f"the bundle at {source} is refused: {exc}") from None


def _load_pipeline(folder: Path, source: str, sha256: str, schema: FeatureSchema) -> Any:
    """Unpickle model.joblib after checking it is still the file the metadata names."""
    if file_sha256(folder / MODEL_FILE) != sha256:
        raise ModelNotAvailable("checksum_mismatch", f"{MODEL_FILE} at {source} changed after the bundle was loaded")
    import joblib  # imported here, not when the app starts: it brings in scikit-learn

    try:
        pipeline = joblib.load(folder / MODEL_FILE)
    except Exception as exc:  # a pickle can fail in many ways; all mean the same to the user
        raise ModelNotAvailable(
            "unreadable", f"{MODEL_FILE} at {source} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None
    expected = list(getattr(pipeline, "feature_names_in_", []))
    if not hasattr(pipeline, "predict_proba") or expected != schema.names:
        raise ModelNotAvailable("unreadable", f"{MODEL_FILE} at {source} does not fit its feature schema")
    return pipeline


def _stored_scorer(folder: Path, metadata: BundleMetadata, schema: FeatureSchema) -> Scorer | None:
    """The compiled scorer training verified and saved, if present and intact; else None."""
    path = folder / SCORER_FILE
    if not path.is_file() or file_sha256(path) != metadata.scorer_sha256:
        return None  # older bundle, other family, or a file that changed: compile from the pipeline
    try:
        return scorer_from_json(schema, json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("%s at %s is unusable (%s): compiling from the pipeline", SCORER_FILE, folder, exc)
        return None
