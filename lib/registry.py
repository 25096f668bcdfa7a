"""The model registry: versions, the served pointer, promote and roll back, an audit log.

The same operations on a local folder (default) or under an S3 prefix (plain boto3).
Layout, either way: one folder (prefix) per version holding a complete bundle, the
pointer `current.json` naming the served version, and the audit log. A version is
complete once its metadata.json exists: it is written (uploaded) last. Every switch
replaces the pointer in one operation (os.replace locally, one PUT in S3), so readers
see the old version or the new one, never a mix; the audit line is appended after.

Status of a version: serving (the pointer names it), archived (it was served before),
candidate (never served: a retrain that did not pass the gate, or not promoted yet).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from lib.bundle import BUNDLE_FILES, METADATA_FILE, POINTER_FILE, SCORER_FILE, list_versions, point_to, read_pointer

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


def _info(version: str, metadata: dict[str, Any], status: str) -> VersionInfo:
    dataset = metadata.get("dataset") or {}
    return VersionInfo(
        version=version,
        created_at=metadata.get("created_at"),
        family=(metadata.get("model") or {}).get("family"),
        metrics=metadata.get("test_metrics") or {},
        dataset_name=dataset.get("name"),
        dataset_sha256=dataset.get("sha256"),
        rows_used=dataset.get("rows_used"),
        status=status,
        comparison=metadata.get("comparison"),
    )


class Registry:
    """Operations common to both storages; subclasses read and write the bytes."""

    uri: str

    # storage-specific ----------------------------------------------------------------
    def served(self) -> str | None:
        raise NotImplementedError

    def version_names(self) -> list[str]:
        raise NotImplementedError

    def metadata(self, version: str) -> dict[str, Any]:
        raise NotImplementedError

    def audit(self) -> list[AuditEvent]:
        raise NotImplementedError

    def _check_complete(self, version: str) -> None:
        raise NotImplementedError

    def _write_pointer(self, version: str) -> None:
        raise NotImplementedError

    def _append_audit(self, event: AuditEvent) -> None:
        raise NotImplementedError

    # common --------------------------------------------------------------------------
    def overview(self) -> RegistryView:
        """Served, previous, every version and the audit log from one read of the pointer
        and one of the log (each is a request on S3)."""
        served, history = self.served(), self.audit()
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

    def promote(self, version: str, actor: str, reason: str, action: str = "promote") -> AuditEvent:
        """Serve `version` from now on (one atomic pointer switch), and record who and why."""
        check_version_name(version)
        if version not in self.version_names():
            raise RegistryError(f"no complete version {version!r} in the registry", "unknown")
        self._check_complete(version)
        previous = self.served()
        if previous == version:
            raise RegistryError(f"{version} is already the served version", "conflict")
        self._write_pointer(version)
        event = AuditEvent(_now(), actor, action, previous, version, reason.strip() or "(no reason given)")
        self._append_audit(event)
        return event

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
        from lib.model_loader import ModelNotAvailable, read_bundle

        try:
            read_bundle(self.root / version)  # checksums, schema, versions: the same checks as serving
        except ModelNotAvailable as exc:
            raise RegistryError(f"{version} cannot be served: {exc.reason}", "broken") from None

    def _write_pointer(self, version: str) -> None:
        point_to(self.root, version)

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


class S3Registry(Registry):
    def __init__(self, uri: str) -> None:
        from lib.model_loader import _split_s3

        self.uri = uri.rstrip("/")
        self.bucket, prefix = _split_s3(uri)
        self.base = f"{prefix}/" if prefix else ""
        self._metadata_cache: dict[str, dict[str, Any]] = {}
        self._audit_cache: dict[str, AuditEvent | None] = {}  # an audit object never changes either
        self._s3: Any = None

    def _client(self) -> Any:
        """One boto3 client per registry object (making one costs tens of ms; they are thread-safe)."""
        if self._s3 is None:
            from lib.model_loader import _s3_client

            self._s3 = _s3_client()
        return self._s3

    def _call(self, action: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action(self._client())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise RegistryUnavailable(f"S3 refused the request on {self.uri} ({code})") from None
        except BotoCoreError as exc:
            raise RegistryUnavailable(f"S3 cannot be reached for {self.uri}: {type(exc).__name__}") from None

    def _keys(self, prefix: str) -> list[str]:
        def listing(client: Any) -> list[str]:
            keys = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
            return keys

        return self._call(listing)

    def _get_json(self, key: str) -> Any | None:
        """The object as JSON, or None when there is no such key."""
        from lib.model_loader import _s3_json

        try:
            return self._call(lambda client: _s3_json(client, self.bucket, key))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"s3://{self.bucket}/{key} is not JSON: {exc}") from None

    def _put_json(self, key: str, payload: Any) -> None:
        body = json.dumps(payload, allow_nan=False).encode()
        self._call(lambda client: client.put_object(Bucket=self.bucket, Key=key, Body=body))

    def served(self) -> str | None:
        from lib.bundle import version_from_pointer

        pointer = self._get_json(f"{self.base}{POINTER_FILE}")
        if pointer is None:
            return None
        try:
            return version_from_pointer(pointer, f"{self.uri}/{POINTER_FILE}")
        except ValueError as exc:
            raise RegistryError(str(exc)) from None

    def version_names(self) -> list[str]:
        suffix = f"/{METADATA_FILE}"
        names = []
        for key in self._keys(self.base):
            rest = key[len(self.base) :]
            if rest.endswith(suffix) and rest.count("/") == 1 and not rest.startswith("."):
                names.append(rest[: -len(suffix)])
        return sorted(names)

    def metadata(self, version: str) -> dict[str, Any]:
        if version not in self._metadata_cache:  # a published version never changes
            metadata = self._get_json(f"{self.base}{version}/{METADATA_FILE}")
            if metadata is None:
                raise RegistryError(f"no metadata for {version} in {self.uri}")
            self._metadata_cache[version] = metadata
        return self._metadata_cache[version]

    def _check_complete(self, version: str) -> None:
        present = {key.rsplit("/", 1)[-1] for key in self._keys(f"{self.base}{version}/")}
        missing = [name for name in BUNDLE_FILES if name not in present]
        if missing:
            raise RegistryError(f"{version} in {self.uri} is incomplete (missing {', '.join(missing)})", "broken")

    def _write_pointer(self, version: str) -> None:
        self._put_json(f"{self.base}{POINTER_FILE}", {"version": version, "updated_at": _now()})

    def audit(self) -> list[AuditEvent]:
        """One listing, then a GET only for events not read before."""
        for key in sorted(self._keys(f"{self.base}{AUDIT_PREFIX}")):
            if key not in self._audit_cache:
                record = self._get_json(key)
                if record is not None:  # gone since the listing: look again next time
                    self._audit_cache[key] = _event(record)
        return [event for _, event in sorted(self._audit_cache.items()) if event is not None]

    def _append_audit(self, event: AuditEvent) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._put_json(f"{self.base}{AUDIT_PREFIX}{stamp}-{secrets.token_hex(3)}.json", asdict(event))

    def publish(self, folder: Path) -> str:
        """Upload a complete local bundle folder; metadata.json goes last (the completeness mark)."""
        version = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))["version"]
        names = [name for name in (*BUNDLE_FILES, SCORER_FILE) if name != METADATA_FILE and (folder / name).is_file()]
        for name in [*names, METADATA_FILE]:
            self._call(
                lambda client, name=name: client.upload_file(
                    str(folder / name), self.bucket, f"{self.base}{version}/{name}"
                )
            )
        return version


@lru_cache(maxsize=8)
def open_registry(model_uri: str) -> Registry:
    """The registry MODEL_URI names: s3://bucket/prefix, or a local folder.

    One object per URI and process, so an S3 registry keeps its client and what it has
    read that never changes (version metadata, audit events) across pages and requests.
    """
    if model_uri.startswith("s3://"):
        return S3Registry(model_uri)
    return LocalRegistry(Path(model_uri))


def main(argv: list[str] | None = None) -> int:
    """`python -m lib.registry list|publish|promote|rollback`: the registry from a shell,
    e.g. to put the committed model into an S3 registry before the first deployment."""
    import argparse
    import sys

    from lib.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m lib.registry", description=main.__doc__.splitlines()[0])
    parser.add_argument("--registry", help="local folder or s3://bucket/prefix (default: MODEL_URI)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions, newest first, with their status")
    publish = commands.add_parser("publish", help="upload a bundle folder to an S3 registry")
    publish.add_argument("folder", type=Path)
    publish.add_argument("--serve", action="store_true", help="and serve it")
    promote = commands.add_parser("promote", help="serve a version")
    promote.add_argument("version")
    promote.add_argument("--reason", default="")
    rollback = commands.add_parser("rollback", help="serve the previously served version again")
    rollback.add_argument("--reason", default="")
    args = parser.parse_args(argv)
    registry = open_registry(args.registry or get_settings().model_uri)
    actor = "command line"
    try:
        if args.command == "list":
            for info in registry.versions():
                roc = info.metrics.get("roc_auc")
                shown = "n/a" if roc is None else f"{roc:.4f}"
                print(f"{info.version}  {info.status:9}  {info.created_at}  ROC AUC {shown}")
        elif args.command == "publish":
            if not isinstance(registry, S3Registry):
                raise RegistryError("publish uploads to an S3 registry: pass --registry s3://bucket/prefix")
            version = registry.publish(args.folder)
            print(f"published {version} to {registry.uri}")
            if args.serve:
                registry.promote(version, actor, "published from the command line")
                print(f"now serving {version}")
        else:
            event = (
                registry.promote(args.version, actor, args.reason)
                if args.command == "promote"
                else registry.rollback(actor, args.reason)
            )
            print(f"now serving {event.to_version} (was {event.from_version})")
    except (RegistryError, OSError, KeyError, json.JSONDecodeError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
