"""One typed settings object, read from environment variables, with no side effects."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """An environment variable holds a value the product cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set; see the README's Settings table."""

    data_config: Path
    model_uri: str
    kpi_dir: Path
    model_cache_dir: Path
    admin_token: str | None
    log_level: str
    max_upload_mb: int
    max_batch: int
    max_outcomes: int
    max_body_mb: int
    monitoring_db: Path  # the SQLite file (unused when monitoring_postgres is set)
    monitoring_postgres: str | None  # MONITORING_DB when it is a postgresql:// URL
    replica_id: str
    monitoring_raw_max_days: int
    monitoring_raw_max_rows: int
    log_batch_raw_rows: int  # raw rows kept per batch; every row counts in the rollups
    promotion_metric: str
    promotion_tolerance: float
    trusted_proxies: tuple[str, ...]
    monitoring_max_mb: int
    header_timeout_s: float
    session_reconnect_s: float
    job_lease_s: float
    decay_metric: str  # the realised metric the decay alert compares with the test split's
    decay_tolerance: float
    decay_window: str
    decay_check_s: float
    alert_webhook_url: str | None
    alert_webhook_timeout_s: float
    alert_webhook_retries: int
    log_format: str  # "text" (human lines) or "json" (one JSON object per line)
    cors_origins: tuple[str, ...]  # origins whose pages may call the non-admin API
    ui_language: str  # the pages' default language ("en" or "fr"); each session may pick another


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
REPLICA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


def _path(value: str) -> Path:
    """Relative paths are taken from the project root, so the app runs from any folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _bounded(env: Mapping[str, str], name: str, default: float, low: float, high: float, kind: type = int) -> Any:
    """A number from the environment within [low, high]; `kind` int or float."""
    raw = env.get(name, str(default))
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {'a whole number' if kind is int else 'a number'}, not {raw!r}") from None
    if not low <= value <= high:  # NaN fails this too
        raise SettingsError(f"{name} must be between {low} and {high}, not {raw}")
    return value


ENV_KEYS = (
    "DATA_CONFIG",
    "MODEL_URI",
    "KPI_DIR",
    "MODEL_CACHE_DIR",
    "ADMIN_TOKEN",
    "LOG_LEVEL",
    "MAX_UPLOAD_MB",
    "MAX_BATCH",
    "MAX_OUTCOMES",
    "MAX_BODY_MB",
    "MONITORING_DB",
    "MONITORING_RAW_MAX_DAYS",
    "MONITORING_RAW_MAX_ROWS",
    "LOG_BATCH_RAW_ROWS",
    "PROMOTION_METRIC",
    "PROMOTION_TOLERANCE",
    "TRUSTED_PROXIES",
    "MONITORING_MAX_MB",
    "HEADER_TIMEOUT_S",
    "SESSION_RECONNECT_S",
    "REPLICA_ID",
    "JOB_LEASE_S",
    "DECAY_METRIC",
    "DECAY_TOLERANCE",
    "DECAY_WINDOW",
    "DECAY_CHECK_S",
    "ALERT_WEBHOOK_URL",
    "ALERT_WEBHOOK_TIMEOUT_S",
    "ALERT_WEBHOOK_RETRIES",
    "LOG_FORMAT",
    "CORS_ORIGINS",
    "UI_LANGUAGE",
)
LOG_FORMATS = ("text", "json")
UI_LANGUAGES = ("en", "fr")
PROMOTION_METRICS = ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "brier", "log_loss")
DECAY_METRICS = ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "brier")
DECAY_WINDOWS = ("7d", "30d", "90d")  # lib.monitoring.live.LIVE_WINDOWS


_current: Settings | None = None


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The process's settings, read from its environment once (the first time anything
    asks); with `environ`, the settings those values describe (not remembered)."""
    if environ is not None:
        return _parse(_values(environ))
    return _current if _current is not None else reload_settings()


def reload_settings() -> Settings:
    """Read the process environment again. Tests call it after changing a variable; a
    running server never needs to (its environment is fixed when it starts)."""
    global _current
    _current = _parse(_values(os.environ))
    return _current


def _values(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name in ENV_KEYS if (value := environ.get(name)) is not None)


def _trusted_proxies(raw: str) -> tuple[str, ...]:
    """Addresses or networks (CIDR) of the reverse proxies whose forwarding headers are
    believed; "*" trusts every peer (only when nothing but the proxy can reach the app)."""
    import ipaddress

    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingsError(f"TRUSTED_PROXIES must list IP addresses or networks, not {entry[:60]!r}") from None
    return entries


def _registry_of(data_config: Path) -> Path:
    """The models folder a dataset config names ([dataset].registry, relative to it): where
    MODEL_URI points when it is not set, so DATA_CONFIG alone switches examples. Without
    one, or when the config cannot be read (training says why), the project's models/."""
    import tomllib

    try:
        registry = tomllib.loads(data_config.read_text(encoding="utf-8"))["dataset"]["registry"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return PROJECT_ROOT / "models"
    return (data_config.parent / registry).resolve() if isinstance(registry, str) else PROJECT_ROOT / "models"


def _monitoring_db(raw: str | None, kpi_dir: Path) -> tuple[Path, str | None]:
    """(SQLite file, PostgreSQL URL or None): a postgresql:// URL selects PostgreSQL, a
    path (or nothing) keeps the embedded SQLite file."""
    if raw and raw.strip().lower().startswith(POSTGRES_SCHEMES):
        url = raw.strip()
        if len(url) > 1000 or any(c.isspace() for c in url):
            raise SettingsError("MONITORING_DB must be a postgresql:// URL of at most 1000 characters, without spaces")
        return kpi_dir / "monitoring.sqlite3", url
    return (_path(raw) if raw else kpi_dir / "monitoring.sqlite3"), None


def _replica_id(raw: str | None) -> str:
    """Who served a row: REPLICA_ID, or this host and process (hostname:pid)."""
    value = (raw or "").strip() or f"{socket.gethostname()[:50]}:{os.getpid()}"
    if not REPLICA_ID.match(value):
        raise SettingsError(
            "REPLICA_ID must be 1 to 64 letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit"
        )
    return value


@lru_cache(maxsize=32)
def _parse(values: tuple[tuple[str, str], ...]) -> Settings:
    env = dict(values)
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    max_upload_mb = _bounded(env, "MAX_UPLOAD_MB", 50, 1, 2000)
    max_batch = _bounded(env, "MAX_BATCH", 10_000, 1, 1_000_000)
    max_body_mb = _bounded(env, "MAX_BODY_MB", 32, 1, 2000)
    data_config = _path(env.get("DATA_CONFIG", "data/telco.toml"))
    model_uri = env.get("MODEL_URI", "").strip() or str(_registry_of(data_config))
    if not model_uri.startswith("s3://"):
        model_uri = str(_path(model_uri))
    kpi_dir = _path(env.get("KPI_DIR", "kpis"))
    monitoring_db, monitoring_postgres = _monitoring_db(env.get("MONITORING_DB"), kpi_dir)
    promotion_metric = env.get("PROMOTION_METRIC", "roc_auc").strip().lower()
    if promotion_metric not in PROMOTION_METRICS:
        raise SettingsError(f"PROMOTION_METRIC must be one of {', '.join(PROMOTION_METRICS)}, not {promotion_metric!r}")
    decay_metric = _choice(env, "DECAY_METRIC", "roc_auc", DECAY_METRICS)
    decay_window = _choice(env, "DECAY_WINDOW", "30d", DECAY_WINDOWS)
    return Settings(
        data_config=data_config,
        model_uri=model_uri,
        kpi_dir=kpi_dir,
        model_cache_dir=_path(env.get("MODEL_CACHE_DIR", ".cache/models")),
        admin_token=env.get("ADMIN_TOKEN") or None,
        log_level=log_level,
        max_upload_mb=max_upload_mb,
        max_batch=max_batch,
        max_outcomes=_bounded(env, "MAX_OUTCOMES", 100_000, 1, 1_000_000),
        max_body_mb=max_body_mb,
        monitoring_db=monitoring_db,
        monitoring_postgres=monitoring_postgres,
        replica_id=_replica_id(env.get("REPLICA_ID")),
        monitoring_raw_max_days=_bounded(env, "MONITORING_RAW_MAX_DAYS", 30, 1, 3650),
        monitoring_raw_max_rows=_bounded(env, "MONITORING_RAW_MAX_ROWS", 1_000_000, 1_000, 100_000_000),
        log_batch_raw_rows=_bounded(env, "LOG_BATCH_RAW_ROWS", 1_000, 0, 100_000_000),
        promotion_metric=promotion_metric,
        promotion_tolerance=_bounded(env, "PROMOTION_TOLERANCE", 0.005, 0.0, 1.0, float),
        trusted_proxies=_trusted_proxies(env.get("TRUSTED_PROXIES", "")),
        monitoring_max_mb=_bounded(env, "MONITORING_MAX_MB", 1024, 1, 1_000_000),
        header_timeout_s=_bounded(env, "HEADER_TIMEOUT_S", 30.0, 0.1, 3600.0, float),
        session_reconnect_s=_bounded(env, "SESSION_RECONNECT_S", 120.0, 1.0, 86_400.0, float),
        job_lease_s=_bounded(env, "JOB_LEASE_S", 30.0, 2.0, 3600.0, float),
        decay_metric=decay_metric,
        decay_tolerance=_bounded(env, "DECAY_TOLERANCE", 0.05, 0.0, 1.0, float),
        decay_window=decay_window,
        decay_check_s=_bounded(env, "DECAY_CHECK_S", 60.0, 1.0, 86_400.0, float),
        alert_webhook_url=_webhook_url(env.get("ALERT_WEBHOOK_URL", "")),
        alert_webhook_timeout_s=_bounded(env, "ALERT_WEBHOOK_TIMEOUT_S", 5.0, 0.1, 60.0, float),
        alert_webhook_retries=_bounded(env, "ALERT_WEBHOOK_RETRIES", 3, 0, 10),
        log_format=_choice(env, "LOG_FORMAT", "text", LOG_FORMATS),
        cors_origins=_cors_origins(env.get("CORS_ORIGINS", "")),
        ui_language=_choice(env, "UI_LANGUAGE", "en", UI_LANGUAGES),
    )


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


def _webhook_url(raw: str) -> str | None:
    """An http(s) URL with a host, or None when unset; never echoed (it may hold a secret)."""
    from urllib.parse import urlsplit

    raw = raw.strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c in raw for c in "\r\n "):
        raise SettingsError("ALERT_WEBHOOK_URL must be an http:// or https:// URL with a host")
    return raw


MAX_CORS_ORIGINS = 50


def _cors_origins(raw: str) -> tuple[str, ...]:
    """Origins (scheme://host[:port], compared exactly as browsers send them) allowed to
    call the non-admin API from their pages; "*" allows any. Empty: no CORS at all."""
    from urllib.parse import urlsplit

    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    if len(entries) > MAX_CORS_ORIGINS:
        raise SettingsError(f"CORS_ORIGINS may list at most {MAX_CORS_ORIGINS} origins")
    for entry in entries:
        if entry == "*":
            continue
        try:
            parts = urlsplit(entry)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or any(not c.isprintable() or c.isspace() for c in entry)
        ):
            raise SettingsError(f"CORS_ORIGINS must list origins like https://app.example.com:8443, not {entry[:60]!r}")
    return tuple(entry if entry == "*" else entry.lower() for entry in entries)
