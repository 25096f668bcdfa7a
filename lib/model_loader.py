"""Load a model bundle from a local folder or from S3, check it, and share one per process.

`load_model(uri)` always reads storage; `get_model()` returns the process-wide instance
and never reloads per request; `refresh_model()` swaps it when the pointer names
another version.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from lib.bundle import (
    BUNDLE_FILES,
    KPIS_FILE,
    METADATA_FILE,
    MODEL_FILE,
    POINTER_FILE,
    SCHEMA_FILE,
    SCORER_FILE,
    read_pointer,
    version_from_pointer,
)
from lib.checksums import file_sha256
from lib.compiled import LinearScorer, Scorer, compile_scorer
from lib.schema import FeatureSchema
from lib.settings import Settings, get_settings

logger = logging.getLogger(__name__)

# After a failed load, callers get the same error for this long before storage is read again.
RETRY_AFTER_S = 5.0
# How often a local registry's pointer is looked at (one stat) for a newly served version.
POINTER_CHECK_S = 2.0
# How often a background thread reads an S3 registry's pointer: every process on one
# registry serves a newly promoted version within this delay plus its download.
S3_POLL_S = 5.0
LAST_SERVED_FILE = "last-served.json"


class ModelNotAvailable(Exception):
    """No usable model: `reason` says what a person can do about it; `kind` is for programs."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class LoadedModel:
    """A checked bundle in memory: its scorer, schema, metadata and KPIs.

    The fitted pipeline is loaded on first use when the bundle carries a verified
    compiled scorer (scorer.json): serving a linear model then never imports
    scikit-learn, which makes the app start about a second sooner.
    """

    def __init__(
        self,
        schema: FeatureSchema,
        metadata: dict[str, Any],
        kpis: dict[str, Any],
        source: str,
        folder: Path,
        *,
        pipeline: Any = None,
        load_pipeline: Callable[[], Any] | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        if pipeline is None and load_pipeline is None:
            raise ValueError("a LoadedModel needs a pipeline or a way to load it")
        self.schema, self.metadata, self.kpis, self.source, self.folder = schema, metadata, kpis, source, folder
        self._pipeline, self._load_pipeline = pipeline, load_pipeline
        self._pipeline_lock = threading.Lock()
        # Compiled once per load: every request and rerun shares it.
        self.scorer: Scorer = scorer if scorer is not None else compile_scorer(self.pipeline, schema)

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            with self._pipeline_lock:
                if self._pipeline is None:
                    self._pipeline = self._load_pipeline()
        return self._pipeline

    @property
    def version(self) -> str:
        return self.metadata["version"]

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])


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
    metadata = _read_json(folder / METADATA_FILE, "the bundle metadata")
    if not isinstance(metadata, dict) or not {"version", "model_sha256", "sklearn_version", "threshold"} <= set(
        metadata
    ):
        raise ModelNotAvailable("unreadable", f"the bundle metadata at {source} lacks version, checksum or threshold")
    trained_with, installed = str(metadata["sklearn_version"]), package_version("scikit-learn")
    if _minor(trained_with) != _minor(installed):
        raise ModelNotAvailable(
            "incompatible",
            f"the model was trained with scikit-learn {trained_with} but {installed} is installed: "
            "retrain it or install the version it was trained with",
        )
    actual = file_sha256(folder / MODEL_FILE)
    if actual != metadata["model_sha256"]:
        raise ModelNotAvailable(
            "checksum_mismatch",
            f"{MODEL_FILE} at {source} does not match the checksum in its metadata (file changed or truncated): "
            "restore the bundle or retrain",
        )
    try:
        schema = FeatureSchema.from_json(_read_json(folder / SCHEMA_FILE, "the feature schema"))
    except (TypeError, KeyError) as exc:
        raise ModelNotAvailable("unreadable", f"{SCHEMA_FILE} at {source} is not a feature schema: {exc}") from None
    kpis = _read_json(folder / KPIS_FILE, "the training KPIs")

    def load_pipeline() -> Any:
        return _load_pipeline(folder, source, metadata["model_sha256"], schema)

    scorer = _stored_scorer(folder, metadata, schema)
    if scorer is None:
        return LoadedModel(schema, metadata, kpis, source, folder, pipeline=load_pipeline())
    return LoadedModel(schema, metadata, kpis, source, folder, load_pipeline=load_pipeline, scorer=scorer)


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


def _stored_scorer(folder: Path, metadata: dict[str, Any], schema: FeatureSchema) -> Scorer | None:
    """The compiled scorer training verified and saved, if present and intact; else None."""
    path = folder / SCORER_FILE
    if not path.is_file() or file_sha256(path) != metadata.get("scorer_sha256"):
        return None  # older bundle, other family, or a file that changed: compile from the pipeline
    try:
        return LinearScorer.from_json(schema, json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("%s at %s is unusable (%s): compiling from the pipeline", SCORER_FILE, folder, exc)
        return None


def resolve_local(uri: str) -> Path:
    """A registry folder (with a pointer) resolves to its served version; a bundle folder to itself."""
    root = Path(uri)
    if (root / METADATA_FILE).is_file():
        return root
    try:
        version = read_pointer(root)
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise ModelNotAvailable("unreadable", f"the pointer {root / POINTER_FILE} cannot be read: {exc}") from None
    if version is None:
        raise ModelNotAvailable(
            "missing", f"no model at {uri} (no {POINTER_FILE}): train one with `python -m lib.training`"
        )
    return root / version


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ModelNotAvailable("missing", f"{uri} names no bucket: use s3://bucket/prefix")
    return bucket, prefix.strip("/")


def _s3_client() -> Any:
    import boto3  # imported here: local-only deployments never pay for it

    return boto3.client("s3")


def _s3_error(exc: Exception, uri: str) -> ModelNotAvailable:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            return ModelNotAvailable("missing", f"no model bundle at {uri} ({code}): publish one there first")
        return ModelNotAvailable("storage_unreachable", f"S3 refused access to {uri} ({code}): check the credentials")
    return ModelNotAvailable("storage_unreachable", f"S3 cannot be reached for {uri}: {type(exc).__name__}: {exc}")


def _s3_json(client: Any, bucket: str, key: str) -> Any | None:
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)


def _download_s3(uri: str, cache_dir: Path) -> Path:
    """Fetch the served version into the local cache once; later loads reuse the copy."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split_s3(uri)
    base = f"{prefix}/" if prefix else ""
    client = _s3_client()
    try:
        pointer = _s3_json(client, bucket, f"{base}{POINTER_FILE}")
        if pointer is not None:
            try:
                version = version_from_pointer(pointer, f"the pointer at {uri}/{POINTER_FILE}")
            except ValueError as exc:
                raise ModelNotAvailable("unreadable", str(exc)) from None
            key_prefix = f"{base}{version}/"
        else:
            metadata = _s3_json(client, bucket, f"{base}{METADATA_FILE}")
            if metadata is None:
                raise ModelNotAvailable("missing", f"no model at {uri}: neither {POINTER_FILE} nor a bundle is there")
            version, key_prefix = str(metadata.get("version", "bundle")), base
        target = cache_dir / bucket / (prefix or "_root") / version
        if (target / METADATA_FILE).is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".partial-{version}-{secrets.token_hex(4)}"
        partial.mkdir()
        try:
            for name in (*BUNDLE_FILES, SCORER_FILE):
                try:
                    client.download_file(bucket, f"{key_prefix}{name}", str(partial / name))
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                        continue  # read_bundle reports the incomplete bundle by name
                    raise
            os.rename(partial, target)
        except OSError:
            if (target / METADATA_FILE).is_file():  # another process finished the same download first
                return target
            raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return target
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(exc, uri) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelNotAvailable("unreadable", f"a JSON file at {uri} cannot be read: {exc}") from None


def _last_served_path(uri: str, cache_dir: Path) -> Path:
    bucket, prefix = _split_s3(uri)
    return cache_dir / bucket / (prefix or "_root") / LAST_SERVED_FILE


def load_model(uri: str, cache_dir: Path | None = None) -> LoadedModel:
    """Read and check a bundle from a local path or s3://bucket/prefix (always hits storage)."""
    if uri.startswith("s3://"):
        cache_dir = cache_dir or get_settings().model_cache_dir
        folder = _download_s3(uri, cache_dir)
        try:
            model = read_bundle(folder, source=f"{uri.rstrip('/')}/{folder.name}")
        except ModelNotAvailable:
            shutil.rmtree(folder, ignore_errors=True)  # a bad copy must not outlive a fix in S3
            raise
        from lib.bundle import write_json

        write_json(_last_served_path(uri, cache_dir), {"version": model.version, "folder": folder.name})
        return model
    return read_bundle(resolve_local(uri))


def load_cached(uri: str, cache_dir: Path) -> LoadedModel | None:
    """The copy of the version last served from this S3 registry, for when S3 is down."""
    try:
        record = json.loads(_last_served_path(uri, cache_dir).read_text(encoding="utf-8"))
        folder = _last_served_path(uri, cache_dir).parent / version_from_pointer(record, "last-served")
        return read_bundle(folder, source=f"{uri.rstrip('/')}/{folder.name} (local copy: S3 unreachable)")
    except (OSError, ValueError, json.JSONDecodeError, ModelNotAvailable):
        return None


class _ModelCache:
    """The process-wide model: loaded once, swapped atomically when the served version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._failure: tuple[float, ModelNotAvailable] | None = None
        self._pointer_stamp: int | None = None
        self._checked_at = 0.0
        # Why the registry cannot be read now (S3 down...), while a model is still served.
        self.registry_problem: str | None = None
        self._watcher: threading.Thread | None = None

    def get(self, settings: Settings) -> LoadedModel:
        model = self._model
        if model is not None:
            if self._pointer_moved(settings):
                return self.refresh(settings)
            return model
        with self._lock:
            if self._model is not None:
                return self._model
            if self._failure and time.monotonic() - self._failure[0] < RETRY_AFTER_S:
                raise self._failure[1]
            return self._load(settings)

    def refresh(self, settings: Settings) -> LoadedModel:
        """Load the version the pointer names now; keep the current one if loading fails."""
        with self._lock:
            return self._load(settings)

    def _pointer_stamp_now(self, settings: Settings) -> int | None:
        if settings.model_uri.startswith("s3://"):
            return None  # S3 registries are polled by the registry's own refresh
        try:
            return (Path(settings.model_uri) / POINTER_FILE).stat().st_mtime_ns
        except OSError:
            return None

    def _pointer_moved(self, settings: Settings) -> bool:
        """True at most every POINTER_CHECK_S, when the local pointer file was replaced."""
        now = time.monotonic()
        if now - self._checked_at < POINTER_CHECK_S:
            return False
        self._checked_at = now
        stamp = self._pointer_stamp_now(settings)
        return stamp is not None and stamp != self._pointer_stamp

    def _load(self, settings: Settings) -> LoadedModel:
        self._pointer_stamp = self._pointer_stamp_now(settings)
        try:
            model = load_model(settings.model_uri, settings.model_cache_dir)
        except ModelNotAvailable as exc:
            self._failure = (time.monotonic(), exc)
            logger.warning("model not available: %s", exc.reason)
            if exc.kind == "storage_unreachable":
                self.registry_problem = exc.reason
            if self._model is not None:
                return self._model
            cached = None
            if exc.kind == "storage_unreachable":
                cached = load_cached(settings.model_uri, settings.model_cache_dir)
            if cached is None:
                raise
            logger.warning("S3 unreachable: serving the local copy of %s", cached.version)
            model = cached
        else:
            self.registry_problem = None
        if self._model is None or self._model.version != model.version:
            logger.info("serving model version %s from %s", model.version, model.source)
        self._model, self._failure = model, None
        self._ensure_watch(settings)
        return model

    def _ensure_watch(self, settings: Settings) -> None:
        """For an S3 registry, a thread that follows its pointer (requests never wait on S3)."""
        if settings.model_uri.startswith("s3://") and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, args=(settings,), name="registry-watch", daemon=True)
            self._watcher.start()

    def _watch(self, settings: Settings) -> None:
        from lib.registry import RegistryError, S3Registry

        registry = S3Registry(settings.model_uri)
        while self._watcher is threading.current_thread():
            time.sleep(S3_POLL_S)
            try:
                served = registry.served()
            except RegistryError as exc:
                if self.registry_problem != str(exc):
                    logger.warning(
                        "registry unreachable, still serving %s: %s", self._model and self._model.version, exc
                    )
                self.registry_problem = str(exc)
                continue
            self.registry_problem = None
            current = self._model
            if served is not None and (current is None or current.version != served):
                self.refresh(settings)

    def clear(self) -> None:
        with self._lock:
            self._model, self._failure, self.registry_problem, self._watcher = None, None, None, None


_cache = _ModelCache()


def loaded_model() -> LoadedModel | None:
    """The shared model if one is loaded already; never reads storage (safe on an event loop)."""
    return _cache._model


def get_model(settings: Settings | None = None) -> LoadedModel:
    """The one shared model of this process; raises ModelNotAvailable with the reason."""
    return _cache.get(settings or get_settings())


def registry_problem() -> str | None:
    """Why the model registry cannot be read now, if it cannot (the served model stays)."""
    return _cache.registry_problem


def refresh_model(settings: Settings | None = None) -> LoadedModel:
    """Another version may be served now: load what the pointer names and swap atomically."""
    return _cache.refresh(settings or get_settings())


def forget_model() -> None:
    """Drop the shared model (tests, or after settings change in this process)."""
    _cache.clear()
