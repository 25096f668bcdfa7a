"""The registry in a local folder: os.replace switches the pointer, the audit log is a
JSON-lines file appended with fsync."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lib.model.bundle import METADATA_FILE, list_versions, point_to, read_bundle, read_pointer
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
        """Training writes a local registry's versions in place (see `staging`): a version
        folder of this registry is published already; nothing else is taken."""
        if folder.parent.resolve() != self.root.resolve():
            raise RegistryError(f"{folder.name} is not a version of {self.uri}: train into the registry", "invalid")
        check_version_name(folder.name)
        return folder.name

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
