"""The registry in a local folder: os.replace switches the pointer, the audit log is a
JSON-lines file appended with fsync."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lib.model.bundle import METADATA_FILE, PARTIAL_PREFIX, list_versions, point_to, read_bundle, read_pointer
from lib.model.loaded import ModelNotAvailable
from lib.registry.base import (
    AUDIT_FILE,
    AuditEvent,
    Registry,
    RegistryError,
    _parse_audit_lines,
    check_version_name,
)


class LocalRegistry(Registry):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def served(self) -> str | None:
        try:
            return read_pointer(self.root)
        except (ValueError, OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"the pointer in {self.root} cannot be read: {exc}") from None

    def version_names(self) -> list[str]:
        return list_versions(self.root)

    def metadata(self, version: str) -> dict[str, Any]:
        try:
            return json.loads((self.root / version / METADATA_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"the metadata of {version} cannot be read: {exc}") from None

    def _check_complete(self, version: str) -> None:
        try:
            read_bundle(self.root / version)  # checksums, schema, versions: the same checks as serving
        except ModelNotAvailable as exc:
            raise RegistryError(f"{version} cannot be served: {exc.reason}", "broken") from None

    def _write_pointer(self, version: str) -> None:
        point_to(self.root, version)

    def staging(self, cache_dir: Path) -> Path:
        return self.root

    def publish(self, folder: Path) -> str:
        """A bundle written in this registry (see `staging`) is a version already; one
        from elsewhere is copied in under a hidden name and renamed when complete."""
        version = read_bundle(folder).version
        check_version_name(version)
        if folder.resolve() == (self.root / version).resolve():
            return version
        if (self.root / version).exists():
            raise RegistryError(f"{version} is already in the registry", "conflict")
        partial = self.root / f"{PARTIAL_PREFIX}{version}-{secrets.token_hex(3)}"
        shutil.copytree(folder, partial)
        os.rename(partial, self.root / version)
        return version

    def audit(self) -> list[AuditEvent]:
        return _parse_audit_lines(_read_lines(self.root / AUDIT_FILE))

    def _append_audit(self, event: AuditEvent) -> None:
        line = json.dumps(asdict(event)) + "\n"
        with open(self.root / AUDIT_FILE, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
