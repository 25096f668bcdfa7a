"""The registry under an S3 prefix (plain boto3): one conditional PUT switches the pointer
(If-Match on the ETag read, or If-None-Match: * for the first one), each audit event is
an object of its own, named by the event's id (S3 has no append).

AWS S3 applies conditional writes atomically (a concurrent one may get 409
ConditionalRequestConflict instead of 412); MinIO supports the same headers. Both
answers mean "someone else switched it": the promotion reports a conflict."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lib.model.bundle import BUNDLE_FILES, METADATA_FILE, POINTER_FILE, SCORER_FILE
from lib.registry.base import (
    AUDIT_PREFIX,
    AuditEvent,
    PointerState,
    Registry,
    RegistryError,
    RegistryUnavailable,
    _event,
    new_event_id,
    pointer_payload,
    pointer_state,
)
from lib.storage import s3

# What S3 answers when a conditional write finds the object changed (or created) meanwhile,
# or, for If-Match, deleted meanwhile (AWS: 404 NoSuchKey).
SWAP_LOST_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"})


class S3Registry(Registry):
    remote = True

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        try:
            self.bucket, prefix = s3.split_uri(uri)
        except ValueError as exc:
            raise RegistryError(str(exc), "invalid") from None
        self.base = f"{prefix}/" if prefix else ""
        self._metadata_cache: dict[str, dict[str, Any]] = {}
        self._audit_cache: dict[str, AuditEvent | None] = {}  # an audit object never changes either
        self._s3: Any = None

    def _client(self) -> Any:
        """One boto3 client per registry object (making one costs tens of ms; they are thread-safe)."""
        if self._s3 is None:
            self._s3 = s3.client()
        return self._s3

    def _call(self, action: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action(self._client())
        except ClientError as exc:
            raise RegistryUnavailable(f"S3 refused the request on {self.uri} ({s3.error_code(exc)})") from None
        except BotoCoreError as exc:
            raise RegistryUnavailable(f"S3 cannot be reached for {self.uri}: {type(exc).__name__}") from None

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (first deployment)."""
        from botocore.exceptions import ClientError

        def ensure(client: Any) -> None:
            try:
                client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if not s3.is_missing(exc):
                    raise
                region = client.meta.region_name
                where = (
                    {}
                    if region in (None, "us-east-1")
                    else {"CreateBucketConfiguration": {"LocationConstraint": region}}
                )
                client.create_bucket(Bucket=self.bucket, **where)

        self._call(ensure)

    def _keys(self, prefix: str) -> list[str]:
        def listing(client: Any) -> list[str]:
            keys = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
            return keys

        return self._call(listing)

    def _get_json(self, key: str) -> Any | None:
        """The object as JSON, or None when there is no such key."""
        try:
            return self._call(lambda client: s3.get_json(client, self.bucket, key))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"s3://{self.bucket}/{key} is not JSON: {exc}") from None

    def _put_json(self, key: str, payload: Any) -> None:
        self._call(lambda client: s3.put_json(client, self.bucket, key, payload))

    def _read_pointer(self) -> PointerState:
        key = f"{self.base}{POINTER_FILE}"
        try:
            raw, etag = self._call(lambda client: s3.get_json_and_etag(client, self.bucket, key))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"s3://{self.bucket}/{key} is not JSON: {exc}") from None
        return pointer_state(raw, etag, f"{self.uri}/{POINTER_FILE}")

    def _swap_pointer(self, expected: PointerState, event: AuditEvent) -> None:
        from botocore.exceptions import ClientError

        condition = {"IfMatch": expected.token} if expected.token is not None else {"IfNoneMatch": "*"}
        body = json.dumps(pointer_payload(event.to_version, event), allow_nan=False).encode()
        key = f"{self.base}{POINTER_FILE}"

        def put(client: Any) -> None:
            try:
                client.put_object(Bucket=self.bucket, Key=key, Body=body, **condition)
            except ClientError as exc:
                if s3.error_code(exc) in SWAP_LOST_CODES:
                    raise _SwapLost from None
                raise

        try:
            self._call(put)
        except _SwapLost:
            raise self._conflict(expected) from None

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

    def _stored_audit(self) -> list[AuditEvent]:
        """One listing, then a GET only for events not read before."""
        for key in sorted(self._keys(f"{self.base}{AUDIT_PREFIX}")):
            if key not in self._audit_cache:
                record = self._get_json(key)
                if record is not None:  # gone since the listing: look again next time
                    self._audit_cache[key] = _event(record)
        return [event for _, event in sorted(self._audit_cache.items()) if event is not None]

    def _append_audit(self, event: AuditEvent) -> None:
        """An object named by the event's id: writing it again (a repair) replaces it with the same bytes."""
        self._put_json(f"{self.base}{AUDIT_PREFIX}{event.id or new_event_id()}.json", asdict(event))

    def staging(self, cache_dir: Path) -> Path:
        return cache_dir / "staging"

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


class _SwapLost(Exception):
    """The conditional PUT of the pointer found it changed since it was read."""
