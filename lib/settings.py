"""One typed settings object, read from environment variables, with no side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def _path(value: str) -> Path:
    """Relative paths are taken from the project root, so the app runs from any folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings now (not at import), so tests and processes can change them."""
    env = os.environ if environ is None else environ
    log_level = env.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
    try:
        max_upload_mb = int(env.get("MAX_UPLOAD_MB", "50"))
    except ValueError:
        raise SettingsError(
            f"MAX_UPLOAD_MB must be a whole number of megabytes, not {env['MAX_UPLOAD_MB']!r}"
        ) from None
    if not 1 <= max_upload_mb <= 2000:
        raise SettingsError(f"MAX_UPLOAD_MB must be between 1 and 2000, not {max_upload_mb}")
    model_uri = env.get("MODEL_URI", "models").strip() or "models"
    if not model_uri.startswith("s3://"):
        model_uri = str(_path(model_uri))
    return Settings(
        data_config=_path(env.get("DATA_CONFIG", "data/telco.toml")),
        model_uri=model_uri,
        kpi_dir=_path(env.get("KPI_DIR", "kpis")),
        model_cache_dir=_path(env.get("MODEL_CACHE_DIR", ".cache/models")),
        admin_token=env.get("ADMIN_TOKEN") or None,
        log_level=log_level,
        max_upload_mb=max_upload_mb,
    )
