"""The process-wide model: `get_model()` and `load_model(path)`.

`load_model(uri)` always reads storage (a local folder or registry, or s3://bucket/prefix);
`get_model()` returns the process-wide instance and never reloads per request;
`refresh_model()` swaps it when the pointer names another version. Reading and checking
a bundle is `lib.model.bundle`; fetching one from S3 is `lib.serving.sources`; following
an S3 registry's pointer is `lib.serving.watcher`.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from lib.model.bundle import POINTER_FILE, read_bundle
from lib.model.loaded import LoadedModel, ModelNotAvailable
from lib.serving.sources import load_cached, load_model
from lib.serving.watcher import S3_POLL_S, RegistryWatcher
from lib.settings import Settings, get_settings

__all__ = [
    "S3_POLL_S",
    "LoadedModel",
    "ModelNotAvailable",
    "forget_model",
    "get_model",
    "load_model",
    "loaded_model",
    "read_bundle",
    "refresh_model",
    "registry_problem",
]

logger = logging.getLogger(__name__)

# After a failed load, callers get the same error for this long before storage is read again.
RETRY_AFTER_S = 5.0
# How often a local registry's pointer is looked at (one stat) for a newly served version.
POINTER_CHECK_S = 2.0


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
        self._watcher: RegistryWatcher | None = None

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
            self._watcher = RegistryWatcher(
                settings.model_uri,
                serving=lambda: self._model.version if self._model is not None else None,
                switch=lambda: self.refresh(settings),
                report=self._report_registry,
            )

    def _report_registry(self, problem: str | None) -> None:
        if problem is not None and self.registry_problem != problem:
            logger.warning("registry unreachable, still serving %s: %s", self._model and self._model.version, problem)
        self.registry_problem = problem

    def clear(self) -> None:
        with self._lock:
            if self._watcher is not None:
                self._watcher.stop()
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
