"""The model registry: versions, the served pointer, promote and roll back, an audit log;
the same interface on a local folder (`LocalRegistry`) and under an S3 prefix (`S3Registry`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lib.registry.base import (
    VERSION_NAME,
    AuditEvent,
    Registry,
    RegistryError,
    RegistryUnavailable,
    RegistryView,
    VersionInfo,
    check_version_name,
)
from lib.registry.local import LocalRegistry
from lib.registry.s3 import S3Registry

__all__ = [
    "VERSION_NAME",
    "AuditEvent",
    "LocalRegistry",
    "Registry",
    "RegistryError",
    "RegistryUnavailable",
    "RegistryView",
    "S3Registry",
    "VersionInfo",
    "check_version_name",
    "open_registry",
]


@lru_cache(maxsize=8)
def open_registry(model_uri: str) -> Registry:
    """The registry MODEL_URI names: s3://bucket/prefix, or a local folder.

    One object per URI and process, so an S3 registry keeps its client and what it has
    read that never changes (version metadata, audit events) across pages and requests.
    """
    if model_uri.startswith("s3://"):
        return S3Registry(model_uri)
    return LocalRegistry(Path(model_uri))
