"""Where a model bundle comes from: a local folder or registry, or an S3 registry whose
served version is downloaded once into a local cache (and kept as the copy to serve
while S3 cannot be reached)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from lib.model.bundle import (
    BUNDLE_FILES,
    METADATA_FILE,
    POINTER_FILE,
    SCORER_FILE,
    read_bundle,
    read_pointer,
    version_from_pointer,
)
from lib.model.loaded import LoadedModel, ModelNotAvailable
from lib.settings import get_settings
from lib.storage import s3
from lib.storage.files import write_json

LAST_SERVED_FILE = "last-served.json"


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
    try:
        return s3.split_uri(uri)
    except ValueError as exc:
        raise ModelNotAvailable("missing", str(exc)) from None


def _s3_error(exc: Exception, uri: str) -> ModelNotAvailable:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = s3.error_code(exc)
        if s3.is_missing(exc):
            return ModelNotAvailable("missing", f"no model bundle at {uri} ({code}): publish one there first")
        return ModelNotAvailable("storage_unreachable", f"S3 refused access to {uri} ({code}): check the credentials")
    return ModelNotAvailable("storage_unreachable", f"S3 cannot be reached for {uri}: {type(exc).__name__}: {exc}")


def _download_s3(uri: str, cache_dir: Path) -> Path:
    """Fetch the served version into the local cache once; later loads reuse the copy."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = _split_s3(uri)
    base = f"{prefix}/" if prefix else ""
    client = s3.client()
    try:
        pointer = s3.get_json(client, bucket, f"{base}{POINTER_FILE}")
        if pointer is not None:
            try:
                version = version_from_pointer(pointer, f"the pointer at {uri}/{POINTER_FILE}")
            except ValueError as exc:
                raise ModelNotAvailable("unreadable", str(exc)) from None
            key_prefix = f"{base}{version}/"
        else:
            metadata = s3.get_json(client, bucket, f"{base}{METADATA_FILE}")
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
                    if s3.is_missing_key(exc):
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
