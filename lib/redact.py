"""What the product says back to callers: no server path, nothing long, one error shape.

An error or a health reason may name a file (a bundle that fails its checks, a store
that cannot be written). A caller needs to know which setting to look at, not where the
server keeps its files: the folders the settings name become the setting's name
(`MODEL_URI/20261126T042239Z-e8a02d/model.joblib`), the project folder disappears, and
any other absolute path keeps only its last part. A value or a field name a caller sent
is quoted cut short (ECHO_CHARS), and at most LISTED names are listed, so no request can
make the server echo much of itself. Every refusal, from the API, the middleware or the
HTTP protocol, is the same JSON: {"error": sentence, "details": [...]}.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import msgspec

from lib.settings import PROJECT_ROOT, Settings, get_settings

ECHO_CHARS = 40  # characters of a sent value or name quoted back
LISTED = 20  # names listed in one message or details list


def _fallback(value: object) -> object:
    """What the encoder does not know: a float subclass (numpy's float64) is a number,
    anything else (a path, a date) its text."""
    return float(value) if isinstance(value, float) else str(value)


_encode = msgspec.json.Encoder(enc_hook=_fallback).encode


def to_json_bytes(payload: object) -> bytes:
    """Compact JSON, written by msgspec (a fifth of the standard encoder's time). A NaN
    or an infinity becomes null, as JavaScript's JSON.stringify writes it: never a token
    a strict JSON parser refuses."""
    return _encode(payload)


def error_body(message: str, details: list[object] | None = None) -> bytes:
    """The body of every refusal, its sentence without server paths."""
    return to_json_bytes({"error": redact_paths(message), "details": details or []})


def shown(value: object) -> str:
    """A sent value as a message quotes it: repr, cut to ECHO_CHARS characters."""
    text = repr(value if not isinstance(value, str) else value[: ECHO_CHARS + 1])
    return f"{text[:ECHO_CHARS]}..." if len(text) > ECHO_CHARS else text


def listed(names: Sequence[object]) -> str:
    """Names for a message, each cut short, at most LISTED of them (and how many more)."""
    text = ", ".join(str(name)[:ECHO_CHARS] for name in names[:LISTED])
    return text + (f" (and {len(names) - LISTED} more)" if len(names) > LISTED else "")


# An absolute path under a usual filesystem root (never one of the API's URL paths).
FILESYSTEM_ROOTS = (
    "app", "data", "dev", "etc", "home", "media", "mnt", "nix", "opt", "private",
    "proc", "root", "run", "srv", "sys", "tmp", "Users", "usr", "var", "work",
)  # fmt: skip
_ABSOLUTE = re.compile(r"(?<![\w.:/-])/(?:" + "|".join(FILESYSTEM_ROOTS) + r")(?:/[^\s/'\"(),;]*)*")


@lru_cache(maxsize=8)
def _labels(settings: Settings) -> tuple[tuple[str, str], ...]:
    """(folder, label) pairs, longest folder first so the most specific label wins."""
    pairs = {
        str(settings.monitoring_db): "MONITORING_DB",
        str(settings.kpi_dir): "KPI_DIR",
        str(settings.model_cache_dir): "MODEL_CACHE_DIR",
        str(settings.data_config): "DATA_CONFIG",
        str(settings.data_config.parent): "the DATA_CONFIG folder",
    }
    if settings.monitoring_postgres:
        pairs[settings.monitoring_postgres] = "MONITORING_DB"
    if not settings.model_uri.startswith("s3://"):
        pairs[settings.model_uri] = "MODEL_URI"
    pairs.setdefault(str(PROJECT_ROOT), "")
    return tuple(sorted(pairs.items(), key=lambda pair: -len(pair[0])))


def redact_paths(text: str, settings: Settings | None = None) -> str:
    """`text` with every server path replaced by the setting that names it (or its last part)."""
    if "/" not in text:
        return text
    settings = settings or get_settings()
    for folder, label in _labels(settings):
        if folder not in text:
            continue
        if label:  # the folder itself, not a longer name that starts like it
            text = re.sub(re.escape(folder) + r"(?![\w.-])", label, text)
        else:
            text = text.replace(f"{folder}/", "").replace(folder, "the project folder")
    return _ABSOLUTE.sub(lambda match: Path(match.group(0)).name or "(a server path)", text)
