"""A local spool of logged predictions, so a process killed between answering and writing
loses none of the predictions it answered.

The request path appends one JSON line per logged input to the current segment file
(one write(2) on an O_APPEND descriptor, no fsync: when the process dies, the kernel
still has the bytes; a crash of the whole machine can lose the last seconds). The
writer rotates the segment before it drains the queue, and deletes segments once all
they hold is in the store. A process holds a lock (flock) on its own token for its whole
life: a process starting later replays the segments whose owner's lock is free (a dead
process) into the store, then deletes them.

Only single inputs are spooled (the Predict form, POST /predict, refusals): a batch
upload's rows are answered as one download to a page session, which dies with the
process anyway. Replayed rows carry no drift bin counts (the bins belong to a model the
new process may not serve): the raw rows and every count and latency rollup come back.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from lib.monitoring.rollups import LoggedRow

logger = logging.getLogger(__name__)

SUFFIX = ".spool"
MAX_BYTES = 256 * 1024 * 1024  # past this (the store down for long), inputs are no longer spooled
_to_json = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=True).encode


class Spool:
    """This process's segments in one folder, and the leftovers of dead processes.

    A process owns a token, held by an flock on `<token>.lock` for its whole life; its
    segments are `<token>-<number>.spool`. The caller serialises append() against rotate().
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock_descriptor = os.open(folder / f"{self.token}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock_descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._number = 0
        self._sealed: list[Path] = []
        self._sealed_bytes = 0
        self._path, self._descriptor, self._bytes = self._open_segment()
        self.skipped_rows = 0  # not spooled: the spool was full

    def _open_segment(self) -> tuple[Path, int, int]:
        self._number += 1
        path = self.folder / f"{self.token}-{self._number:06d}{SUFFIX}"
        return path, os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600), 0

    # --- the request path ------------------------------------------------------------

    def append_line(self, line: bytes, rows: int = 1) -> None:
        if self._bytes + self._sealed_bytes > MAX_BYTES:
            self.skipped_rows += rows
            return
        os.write(self._descriptor, line)
        self._bytes += len(line)

    # --- the writer --------------------------------------------------------------------

    def rotate(self) -> None:
        """Seal the current segment (what is queued now is in it) and start a new one."""
        if self._bytes:
            os.close(self._descriptor)
            self._sealed.append(self._path)
            self._sealed_bytes += self._bytes
            self._path, self._descriptor, self._bytes = self._open_segment()

    def written(self) -> None:
        """Everything sealed so far is in the store: delete it."""
        for path in self._sealed:
            path.unlink(missing_ok=True)
        self._sealed, self._sealed_bytes = [], 0

    def close(self, keep: bool) -> None:
        """At a stop: keep=False once everything is in the store; keep=True leaves the
        segments for the next process to replay (the store could not be written)."""
        os.close(self._descriptor)
        if not keep:
            self.written()
            self._path.unlink(missing_ok=True)
            (self.folder / f"{self.token}.lock").unlink(missing_ok=True)
        os.close(self._lock_descriptor)

    # --- a new process ---------------------------------------------------------------

    def orphans(self) -> list[tuple[str, list[Path]]]:
        """(token, segments) of processes that are gone (their lock can be taken)."""
        by_token: dict[str, list[Path]] = {}
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            token = path.name.rsplit("-", 1)[0]
            if token != self.token:
                by_token.setdefault(token, []).append(path)
        gone = []
        for token, paths in by_token.items():
            descriptor = os.open(self.folder / f"{token}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process lives
                continue
            finally:
                os.close(descriptor)
            gone.append((token, paths))
        return gone

    def forget(self, token: str, path: Path) -> None:
        """A replayed segment (and, with the last one, its process's lock file)."""
        path.unlink(missing_ok=True)
        if not any(self.folder.glob(f"{token}-*{SUFFIX}")):
            (self.folder / f"{token}.lock").unlink(missing_ok=True)


def record_lines(
    at: float, source: str, version: str, latency_ms: float, records: Any, predictions: Any, names: list[str]
) -> bytes:
    """One line per scored record, holding the model's features only (as the log keeps them)."""
    return b"".join(
        _to_json(["ok", at, source, version, latency_ms, p.probability, p.label, {n: r.get(n) for n in names}]).encode()
        + b"\n"
        for r, p in zip(records, predictions, strict=True)
    )


def failure_line(at: float, source: str, version: str, latency_ms: float, kind: str, inputs: int) -> bytes:
    return _to_json(["error", at, source, version, latency_ms, kind, inputs]).encode() + b"\n"


def rows_of(text: str) -> list[LoggedRow]:
    """The rows a segment holds; a line cut short by the crash is skipped."""
    rows: list[LoggedRow] = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
            if item[0] == "ok":
                _, at, source, version, latency, probability, label, record = item
                features = _to_json(record) if isinstance(record, dict) else None
                rows.append(LoggedRow(at, source, version, latency, "ok", None, probability, label, features))
            else:
                _, at, source, version, latency, kind, inputs = item
                rows.extend([LoggedRow(at, source, version, latency, "error", kind, None, None, None)] * int(inputs))
        except (ValueError, TypeError):
            logger.warning("skipping a spooled line that cannot be read (cut short by a crash?)")
    return rows
