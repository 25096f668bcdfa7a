"""The model registry: versions, the served pointer, promote and roll back, an audit log.

The same operations on a local folder (default) or under an S3 prefix (plain boto3).
Layout, either way: one folder (prefix) per version holding a complete bundle, the
pointer `current.json` naming the served version, and the audit log. A version is
complete once its metadata.json exists: it is written (uploaded) last. Every switch
replaces the pointer in one operation (os.replace locally, one PUT in S3), so readers
see the old version or the new one, never a mix.

A switch is a compare-and-swap: the pointer is replaced only if it is still the one the
promotion read (locally under a file lock; on S3 a PUT with If-Match on its ETag), so of
two promotions at once exactly one wins and the other gets a `conflict`. The audit event
travels inside the new pointer, then is appended to the log; a crash between the two
cannot lose it: readers and the next promotion take it from the pointer.

Status of a version: serving (the pointer names it), archived (it was served before),
candidate (never served: a retrain that did not pass the gate, or not promoted yet).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lib.model.bundle import version_from_pointer
from lib.model.contract import BundleMetadata, ContractError

AUDIT_FILE = "audit.jsonl"
AUDIT_PREFIX = "audit/"
# What a version may be called: new_version_id's names (20261126T042239Z-3fa1c2), and any
# plain name of letters, digits, dots, dashes and underscores; never a path.
VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why.

    kind: invalid (not a version name), unknown (no such version), conflict (already served, nothing to roll back to),
    broken (the bundle fails its checks), unreadable (a registry file is damaged),
    unavailable (the storage cannot be reached).
    """

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind


class RegistryUnavailable(RegistryError):
    """The storage cannot be reached (S3 down, credentials refused)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unavailable")


@dataclass(frozen=True)
class AuditEvent:
    at: str
    actor: str
    action: str  # promote, rollback, auto_promote
    from_version: str | None
    to_version: str
    reason: str
    id: str = ""  # unique, time-sortable; events written before ids existed have none


@dataclass(frozen=True)
class PointerState:
    """The pointer as a promotion read it: what it names, the token a conditional write
    must still find (an ETag on S3, the bytes' digest locally; None when there is no
    pointer), and the audit event written with it."""

    version: str | None
    token: str | None
    event: AuditEvent | None


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created_at: str | None
    family: str | None
    metrics: dict[str, Any]
    dataset_name: str | None
    dataset_sha256: str | None
    rows_used: int | None
    status: str
    comparison: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegistryView:
    served: str | None
    previous: str | None  # what a rollback serves
    versions: list[VersionInfo]
    audit: list[AuditEvent]


def _previous(served: str | None, history: list[AuditEvent]) -> str | None:
    for event in reversed(history):
        if event.to_version == served and event.from_version and event.from_version != served:
            return event.from_version
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_event_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


def pointer_payload(version: str, event: AuditEvent | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"version": version, "updated_at": _now()}
    if event is not None:
        payload["event"] = asdict(event)
    return payload


def _info(version: str, raw: dict[str, Any], status: str) -> VersionInfo:
    """One line of the version list; a version whose metadata breaks the contract is
    listed as "unreadable" (it cannot be promoted either) instead of hiding the others."""
    try:
        metadata = BundleMetadata.from_json(raw)
    except ContractError:
        return VersionInfo(version, None, None, {}, None, None, None, "unreadable", None)
    return VersionInfo(
        version=version,
        created_at=metadata.created_at,
        family=metadata.model.family,
        metrics=metadata.test_metrics,
        dataset_name=metadata.dataset.name,
        dataset_sha256=metadata.dataset.sha256,
        rows_used=metadata.dataset.rows_used,
        status=status,
        comparison=metadata.comparison,
    )


class Registry:
    """Operations common to both storages; subclasses read and write the bytes."""

    uri: str
    remote = False  # True when publishing means uploading (S3)

    # storage-specific ----------------------------------------------------------------
    def _read_pointer(self) -> PointerState:
        raise NotImplementedError

    def _swap_pointer(self, expected: PointerState, event: AuditEvent) -> None:
        """Point at event.to_version, carrying the event, only if the pointer is still
        `expected`; else RegistryError(kind="conflict")."""
        raise NotImplementedError

    def version_names(self) -> list[str]:
        raise NotImplementedError

    def metadata(self, version: str) -> dict[str, Any]:
        raise NotImplementedError

    def _stored_audit(self) -> list[AuditEvent]:
        raise NotImplementedError

    def _check_complete(self, version: str) -> None:
        raise NotImplementedError

    def _append_audit(self, event: AuditEvent) -> None:
        """Record the event; appending one already recorded (same id) does nothing."""
        raise NotImplementedError

    def staging(self, cache_dir: Path) -> Path:
        """Where training writes a new version before `publish` (the registry itself when local)."""
        raise NotImplementedError

    def publish(self, folder: Path) -> str:
        """Make a complete bundle folder a version of this registry; returns its name."""
        raise NotImplementedError

    # common --------------------------------------------------------------------------
    def served(self) -> str | None:
        return self._read_pointer().version

    def audit(self) -> list[AuditEvent]:
        """The log, with the event the pointer carries if a crash kept it out of the log."""
        return _with_pending(self._stored_audit(), self._read_pointer())

    def overview(self) -> RegistryView:
        """Served, previous, every version and the audit log from one read of the pointer
        and one of the log (each is a request on S3)."""
        pointer = self._read_pointer()
        served, history = pointer.version, _with_pending(self._stored_audit(), pointer)
        once_served = {e.to_version for e in history} | {e.from_version for e in history if e.from_version}
        versions = [
            _info(
                version,
                self.metadata(version),
                "serving" if version == served else "archived" if version in once_served else "candidate",
            )
            for version in sorted(self.version_names(), reverse=True)
        ]
        return RegistryView(served, _previous(served, history), versions, history)

    def versions(self) -> list[VersionInfo]:
        """Every complete version, newest first, with its status."""
        return self.overview().versions

    def promote(
        self, version: str, actor: str, reason: str, action: str = "promote", expected: str | None = None
    ) -> AuditEvent:
        """Serve `version` from now on (one atomic compare-and-swap of the pointer), and
        record who and why. RegistryError "conflict" if another promotion switched the
        pointer since this one read it, or if `expected` is given and is no longer the
        served version (what a person saw when they asked): nothing changed."""
        check_version_name(version)
        if expected is not None:
            check_version_name(expected)
        if version not in self.version_names():
            raise RegistryError(f"no complete version {version!r} in the registry", "unknown")
        self._check_complete(version)
        pointer = self._read_pointer()
        self._record_pending(pointer)
        if pointer.version == version:
            raise RegistryError(f"{version} is already the served version", "conflict")
        if expected is not None and pointer.version != expected:
            raise RegistryError(
                f"{expected} is no longer the served version ({pointer.version} is): someone promoted meanwhile; "
                "nothing was changed",
                "conflict",
            )
        event = AuditEvent(
            _now(), actor, action, pointer.version, version, reason.strip() or "(no reason given)", new_event_id()
        )
        self._swap_pointer(pointer, event)
        self._append_audit(event)
        return event

    def _record_pending(self, pointer: PointerState) -> None:
        """Append the pointer's event if a crash after the last switch kept it out of the log."""
        if pointer.event is not None and pointer.event.id not in {e.id for e in self._stored_audit()}:
            self._append_audit(pointer.event)

    def _conflict(self, expected: PointerState) -> RegistryError:
        try:
            now = self._read_pointer().version
        except RegistryError:
            now = None
        return RegistryError(
            f"another promotion switched the served version (from {expected.version} to {now}) while this one "
            "was in progress; nothing was changed: look at the registry and promote again if needed",
            "conflict",
        )

    def rollback(self, actor: str, reason: str, to: str | None = None) -> AuditEvent:
        """Serve the previous version again (or `to`)."""
        if to is not None:
            check_version_name(to)
        target = to or _previous(self.served(), self.audit())
        if target is None:
            raise RegistryError("nothing to roll back to: no earlier served version is recorded", "conflict")
        return self.promote(target, actor, reason, action="rollback")


def check_version_name(version: str) -> None:
    """Refuse anything that is not a version name before it comes near a path or a key."""
    if not isinstance(version, str) or not VERSION_NAME.match(version) or ".." in version:
        shown = repr(version[:40]) if isinstance(version, str) else "that"
        raise RegistryError(f"{shown} is not a version name (letters, digits, '.', '-' and '_', up to 100)", "invalid")


def _parse_audit_lines(lines: Iterable[str]) -> list[AuditEvent]:
    """Events in order; a torn or foreign line (a crash mid-append) is skipped, not fatal."""
    events = []
    for line in lines:
        try:
            event = _event(json.loads(line))
        except json.JSONDecodeError:
            continue
        if event is not None:
            events.append(event)
    return events


def _event(record: Any) -> AuditEvent | None:
    try:
        return AuditEvent(**record)
    except TypeError:  # not an object, or not these fields
        return None


def _with_pending(history: list[AuditEvent], pointer: PointerState) -> list[AuditEvent]:
    event = pointer.event
    if event is None or any(e.id == event.id for e in history):
        return history
    return [*history, event]


def pointer_state(raw: Any, token: str | None, where: str) -> PointerState:
    """A pointer's JSON read back (RegistryError if it names no version)."""
    if raw is None:
        return PointerState(None, None, None)
    try:
        version = version_from_pointer(raw, where)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None
    event = _event(raw.get("event")) if isinstance(raw.get("event"), dict) else None
    return PointerState(version, token, event if event is not None and event.id else None)
