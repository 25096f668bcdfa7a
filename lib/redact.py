"""Server paths out of what the product says to callers.

An error or a health reason may name a file (a bundle that fails its checks, a store
that cannot be written). A caller needs to know which setting to look at, not where the
server keeps its files: the folders the settings name become the setting's name
(`MODEL_URI/20261126T042239Z-e8a02d/model.joblib`), the project folder disappears, and
any other absolute path keeps only its last part.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lib.settings import PROJECT_ROOT, Settings, get_settings

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
