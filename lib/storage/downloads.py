"""Files made for one browser session (a scored upload), served by an unguessable link.

A page writes the file as it is produced and shows its link; the server's route
(`GET /downloads/<token>`) sends it from disk. Streamlit's own download button would hold
the whole file in the process's memory for as long as the session lives. A file goes
when its session ends (the session janitor), when the session makes its next one, when
more than MAX_KEPT are kept (oldest first) and when the server stops: nothing a session
made stays after it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MAX_KEPT = 32  # files kept across all sessions; the oldest goes first
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


@dataclass(frozen=True)
class Download:
    token: str
    owner: str  # the browser session it was made for
    path: Path
    file_name: str  # what the browser saves it as
    media_type: str
    created: float


class Downloads:
    """The kept files, in a private folder made on first use (one per process)."""

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._kept: dict[str, Download] = {}
        self._folder: Path | None = None

    def new(self, owner: str, file_name: str, media_type: str) -> Download:
        """A file to write for `owner`, whose earlier files go (a session keeps its last)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="dashboard-downloads-"))
            suffix = Path(file_name).suffix.lower()  # the writer reads the format from it
            name = token + suffix if SUFFIX.fullmatch(suffix) else token
            made = Download(token, owner, self._folder / name, file_name, media_type, time.time())
            gone = [kept for kept in self._kept.values() if kept.owner == owner]
            self._kept[token] = made
            oldest = sorted(self._kept.values(), key=lambda kept: kept.created)
            gone += oldest[: max(0, len(oldest) - self.limit)]
            for kept in gone:
                self._kept.pop(kept.token, None)
        _remove(gone)
        return made

    def get(self, token: str) -> Download | None:
        if not TOKEN.fullmatch(token):
            return None
        with self._lock:
            return self._kept.get(token)

    def drop(self, download: Download) -> None:
        with self._lock:
            self._kept.pop(download.token, None)
        _remove([download])

    def keep_only(self, owners: set[str]) -> int:
        """Drop the files of sessions that are not in `owners` (they ended); returns how many."""
        with self._lock:
            gone = [kept for kept in self._kept.values() if kept.owner not in owners]
            for kept in gone:
                del self._kept[kept.token]
        _remove(gone)
        return len(gone)

    def clear(self) -> None:
        """Every file and the folder (the server stops)."""
        with self._lock:
            self._kept.clear()
            folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def count(self) -> int:
        with self._lock:
            return len(self._kept)


def _remove(gone: list[Download]) -> None:
    for kept in gone:
        with contextlib.suppress(OSError):
            kept.path.unlink(missing_ok=True)


downloads = Downloads()
