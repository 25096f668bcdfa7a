"""The registry in a local folder: os.replace switches the pointer under a file lock
(processes of one machine promote one at a time), the audit log is a JSON-lines file
appended with fsync."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lib.model.bundle import METADATA_FILE, POINTER_FILE, list_versions, read_bundle
from lib.model.loaded import ModelNotAvailable
from lib.registry.base import (
    AUDIT_FILE,
    AuditEvent,
    PointerState,
    Registry,
    RegistryError,
    _parse_audit_lines,
    check_version_name,
    pointer_payload,
    pointer_state,
)
from lib.storage.files import fsync_dir, write_json

LOCK_FILE = ".registry.lock"


class LocalRegistry(Registry):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = str(root)

    def _read_pointer(self) -> PointerState:
        path = self.root / POINTER_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return PointerState(None, None, None)
        except OSError as exc:
            raise RegistryError(f"the pointer in {self.root} cannot be read: {exc.strerror or exc}") from None
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"the pointer in {self.root} cannot be read: {exc}") from None
        return pointer_state(raw, hashlib.sha256(data).hexdigest(), str(path))

    def _swap_pointer(self, expected: PointerState, event: AuditEvent) -> None:
        with self._locked():
            if self._read_pointer().token != expected.token:
                raise self._conflict(expected)
            if not (self.root / event.to_version / METADATA_FILE).is_file():
                raise RegistryError(f"{event.to_version} is not a complete bundle in {self.uri}", "broken")
            write_json(self.root / POINTER_FILE, pointer_payload(event.to_version, event))
            fsync_dir(self.root)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the registry folder, held for one read-check-write."""
        descriptor = os.open(self.root / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

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

    def staging(self, cache_dir: Path) -> Path:
        return self.root

    def publish(self, folder: Path) -> str:
        """Training writes a local registry's versions in place (see `staging`): a version
        folder of this registry is published already; nothing else is taken."""
        if folder.parent.resolve() != self.root.resolve():
            raise RegistryError(f"{folder.name} is not a version of {self.uri}: train into the registry", "invalid")
        check_version_name(folder.name)
        return folder.name

    def _stored_audit(self) -> list[AuditEvent]:
        return _parse_audit_lines(_read_lines(self.root / AUDIT_FILE))

    def _append_audit(self, event: AuditEvent) -> None:
        line = json.dumps(asdict(event)) + "\n"
        with self._locked():
            if event.id and any(e.id == event.id for e in self._stored_audit()):
                return
            with open(self.root / AUDIT_FILE, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
