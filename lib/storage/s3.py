"""S3 as the loader and the registry use it: URIs, the client, JSON objects, error codes.

boto3 is imported on first use: deployments without S3 never pay for it.
"""

from __future__ import annotations

import json
from typing import Any

MISSING_KEY_CODES = frozenset({"NoSuchKey", "404"})
MISSING_CODES = MISSING_KEY_CODES | {"NoSuchBucket"}


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix without slashes) of s3://bucket/prefix; ValueError when no bucket."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"{uri} names no bucket: use s3://bucket/prefix")
    return bucket, prefix.strip("/")


def client() -> Any:
    """A new boto3 S3 client (tens of ms to make; thread-safe once made: keep it)."""
    import boto3

    return boto3.client("s3")


def error_code(exc: Exception) -> str:
    """S3's error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_missing(exc: Exception) -> bool:
    """The object (or bucket) is not there, as opposed to S3 refusing or failing."""
    return error_code(exc) in MISSING_CODES


def is_missing_key(exc: Exception) -> bool:
    """The bucket is there, the object is not."""
    return error_code(exc) in MISSING_KEY_CODES


def get_json(s3: Any, bucket: str, key: str) -> Any | None:
    """The object parsed as JSON, or None when there is no such key (other errors raise)."""
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing_key(exc):
            return None
        raise
    return json.loads(body)


def get_json_and_etag(s3: Any, bucket: str, key: str) -> tuple[Any | None, str | None]:
    """The object parsed as JSON and its ETag, or (None, None) when there is no such key."""
    from botocore.exceptions import ClientError

    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing_key(exc):
            return None, None
        raise
    return json.loads(response["Body"].read()), response["ETag"]


def put_json(s3: Any, bucket: str, key: str, payload: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(payload, allow_nan=False).encode())
