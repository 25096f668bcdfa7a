"""The process's log lines: human text (the default) or, with LOG_FORMAT=json, one JSON
object per line (time, level, logger, message, and a request's fields) that a log
pipeline parses without a grok pattern.

In JSON mode every handler already set up (uvicorn's, Streamlit's, the root's) gets the
JSON formatter, and uvicorn's own access line is dropped for API paths: the API writes a
richer one itself (lib.api.common.route), with the request id and prediction ids.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from lib.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_LOGGER = "lib.api.requests"
REQUEST_FIELDS = "request"  # the attribute (logging's `extra`) holding a request's fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record; control characters in a message are escaped, so a
    hostile value can never start a line of its own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, REQUEST_FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _NotApiAccess(logging.Filter):
    """uvicorn's access line for a page or asset; API requests have their own line."""

    def __init__(self, api_prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.api_prefixes = api_prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) >= 3 else ""
        return not (isinstance(path, str) and path.startswith(self.api_prefixes))


_json_mode = False  # set by configure_logging; read on every API request


def configure_logging(settings: Settings, api_prefixes: tuple[str, ...]) -> None:
    """Apply LOG_LEVEL and LOG_FORMAT to every handler set up so far (safe to call again)."""
    global _json_mode
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    if not root.handlers:
        logging.basicConfig(level=settings.log_level, format=TEXT_FORMAT)
    _json_mode = settings.log_format == "json"
    if not _json_mode:
        return  # uvicorn's access line is the text mode's request log
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO)
    formatter = JsonFormatter()
    loggers = [root] + [item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, _NotApiAccess) for existing in access.filters):
        access.addFilter(_NotApiAccess(api_prefixes))


def request_logged() -> bool:
    """Whether the API writes its own request lines (JSON mode)."""
    return _json_mode
