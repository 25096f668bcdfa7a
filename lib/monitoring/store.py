"""The monitoring store: every prediction logged, with rollups kept at write time.

SQLite in WAL mode (synchronous=NORMAL), one file. Each write adds the raw rows and
merges their rollups in the same transaction: per minute and per hour, per source and
model version, a count, an error count, a latency histogram and a probability histogram;
per hour and version, counts of every feature's training bins. Every dashboard query
reads rollups, so its cost grows with the window (minutes or hours), never with traffic.

The rows, windows and histograms are in lib.monitoring.rollups.

Retention: raw rows pruned by age (30 days) or count (1,000,000); hourly rollups kept
90 days; minute rollups 2 days (they only serve the windows up to 24 hours).
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lib.monitoring.rollups import (
    HOUR,
    LATENCY_BUCKETS,
    MINUTE,
    PROBABILITY_BUCKETS,
    SERIES_STEP_S,
    WINDOWS,
    LoggedRow,
    Rollup,
    percentile_from_histogram,
    rollups,
    summary,
)

RAW_MAX_AGE_S = 30 * 86_400
RAW_MAX_ROWS = 1_000_000
WAL_LIMIT_BYTES = 16 * 1024 * 1024
# Past the byte cap, the oldest raw rows go until the data takes this share of it (the file
# keeps its size: SQLite reuses the freed pages for the next rows).
TRIM_TO_SHARE = 0.8
ROLLUP_MAX_AGE_S = 90 * 86_400
MINUTE_ROLLUP_MAX_AGE_S = 2 * 86_400
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    ts REAL NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL, error_kind TEXT, probability REAL, label TEXT, features TEXT);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE INDEX IF NOT EXISTS predictions_errors ON predictions (ts) WHERE outcome != 'ok';
CREATE TABLE IF NOT EXISTS stats (
    resolution INTEGER NOT NULL, start INTEGER NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,
    count INTEGER NOT NULL, errors INTEGER NOT NULL, latency BLOB NOT NULL, probability BLOB NOT NULL,
    PRIMARY KEY (resolution, start, source, version));
CREATE TABLE IF NOT EXISTS feature_counts (
    hour INTEGER NOT NULL, version TEXT NOT NULL, feature TEXT NOT NULL, bin INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (hour, version, feature, bin));
"""


class StoreUnavailable(Exception):
    """The store cannot be written or read now; the message says why, for /health."""


class MonitoringStore:
    """The SQLite file: one writing connection, and a fresh read-only one per query."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file we write

    # --- writing ---------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise StoreUnavailable if the file was deleted, replaced or made read-only."""
        with self._lock:
            if self._connection is None:
                return
            try:
                info = os.stat(self.path)
            except FileNotFoundError:
                self._close()
                raise StoreUnavailable(f"the store file {self.path.name} was deleted") from None
            if (info.st_dev, info.st_ino) != self._identity:
                self._close()
                raise StoreUnavailable(f"the store file {self.path.name} was replaced")
            if not os.access(self.path, os.W_OK):
                self._close()
                raise StoreUnavailable(f"the store file {self.path.name} is read-only")

    def open(self) -> None:
        """Create or open the file now (raises StoreUnavailable with the reason)."""
        with self._lock:
            self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # a journal left by a deleted file must not meet the new one
                for suffix in ("-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            elif not os.access(self.path, os.W_OK):
                raise StoreUnavailable(f"the store file {self.path.name} is read-only")
            connection = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
        except OSError as exc:
            raise StoreUnavailable(f"the store folder cannot be written: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store file cannot be opened: {exc}") from None
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables and version != SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.path.name} is not a monitoring store of this version (schema {version}, "
                    f"expected {SCHEMA_VERSION}): move it away"
                )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # the WAL shrinks back to this after a checkpoint
            connection.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            connection.executescript(SCHEMA)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            connection.close()
            raise StoreUnavailable(f"the store file cannot be written: {exc}") from None
        except StoreUnavailable:
            connection.close()
            raise
        info = os.stat(self.path)
        self._identity = (info.st_dev, info.st_ino)
        self._connection = connection
        return connection

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None
            self._identity = None

    def close(self) -> None:
        with self._lock:
            self._close()

    def write(self, rows: list[LoggedRow], feature_counts: Mapping[tuple[int, str, str, int], int]) -> None:
        """Raw rows and every rollup in one transaction: all of it lands, or none.

        feature_counts: (hour start, version, feature, bin) -> count, computed by the caller
        who knows each model's bins.
        """
        if not rows:
            return
        merged = rollups(rows)
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    for key, delta in merged.items():
                        old = connection.execute(
                            "SELECT count, errors, latency, probability FROM stats "
                            "WHERE resolution = ? AND start = ? AND source = ? AND version = ?",
                            key,
                        ).fetchone()
                        if old is not None:
                            stored = np.frombuffer(old[2], np.int64), np.frombuffer(old[3], np.int64)
                            delta = delta + Rollup(old[0], old[1], *stored)
                        connection.execute(
                            "INSERT OR REPLACE INTO stats VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                *key,
                                delta.count,
                                delta.errors,
                                delta.latency.astype(np.int64).tobytes(),
                                delta.probability.astype(np.int64).tobytes(),
                            ),
                        )
                    connection.executemany(
                        "INSERT INTO feature_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour, version, feature, bin) "
                        "DO UPDATE SET count = count + excluded.count",
                        [(*key, count) for key, count in feature_counts.items()],
                    )
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._close()
                raise StoreUnavailable(f"writing the store failed: {exc}") from None

    def prune(
        self,
        now: float | None = None,
        raw_max_age_s: float = RAW_MAX_AGE_S,
        raw_max_rows: int = RAW_MAX_ROWS,
        rollup_max_age_s: float = ROLLUP_MAX_AGE_S,
    ) -> dict[str, int]:
        """Bound disk use: raw rows by age and count, rollups by age."""
        now = time.time() if now is None else now
        with self._lock:
            connection = self._connect()
            try:
                removed = {
                    "raw_by_age": connection.execute(
                        "DELETE FROM predictions WHERE ts < ?", (now - raw_max_age_s,)
                    ).rowcount
                }
                excess = connection.execute("SELECT count(*) FROM predictions").fetchone()[0] - raw_max_rows
                removed["raw_by_count"] = (
                    connection.execute(
                        "DELETE FROM predictions WHERE rowid IN (SELECT rowid FROM predictions ORDER BY ts LIMIT ?)",
                        (excess,),
                    ).rowcount
                    if excess > 0
                    else 0
                )
                removed["rollups"] = connection.execute(
                    "DELETE FROM stats WHERE (resolution = ? AND start < ?) OR (resolution = ? AND start < ?)",
                    (HOUR, now - rollup_max_age_s, MINUTE, now - min(MINUTE_ROLLUP_MAX_AGE_S, rollup_max_age_s)),
                ).rowcount
                connection.execute("DELETE FROM feature_counts WHERE hour < ?", (now - rollup_max_age_s,))
            except sqlite3.Error as exc:
                self._close()
                raise StoreUnavailable(f"pruning the store failed: {exc}") from None
        return removed

    def trim_to_bytes(self, max_bytes: int) -> int:
        """Delete the oldest raw rows while the store's data exceeds max_bytes; rows removed.

        Rollups are small and bounded by time; the raw rows are what traffic (or a hostile
        client) grows, so they are what goes.
        """
        if self.size_bytes() <= max_bytes * TRIM_TO_SHARE:
            return 0
        with self._lock:
            connection = self._connect()
            try:
                page_size = connection.execute("PRAGMA page_size").fetchone()[0]
                pages = connection.execute("PRAGMA page_count").fetchone()[0]
                free = connection.execute("PRAGMA freelist_count").fetchone()[0]
                used = (pages - free) * page_size
                if used <= max_bytes * TRIM_TO_SHARE:
                    return 0
                rows = connection.execute("SELECT count(*) FROM predictions").fetchone()[0]
                if not rows:
                    return 0
                excess = math.ceil((used - max_bytes * TRIM_TO_SHARE) / (used / rows))
                removed = connection.execute(
                    "DELETE FROM predictions WHERE rowid IN (SELECT rowid FROM predictions ORDER BY ts LIMIT ?)",
                    (min(excess, rows),),
                ).rowcount
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                self._close()
                raise StoreUnavailable(f"trimming the store failed: {exc}") from None
        return removed

    # --- reading ---------------------------------------------------------------------

    def _read(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One query on a read-only connection: a reader never creates or blocks the file."""
        if not self.path.exists():
            raise StoreUnavailable(f"the store file {self.path.name} does not exist (yet)")
        try:
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            try:
                return connection.execute(sql, parameters).fetchall()
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store cannot be read: {exc}") from None

    def system(self, window: str, now: float | None = None) -> dict[str, Any]:
        """Throughput, error rate and latency percentiles over a window, overall, by source
        and by model version, with a chart series; from rollups only."""
        now = time.time() if now is None else now
        seconds, step = WINDOWS[window], SERIES_STEP_S[window]
        resolution = HOUR if step >= HOUR else MINUTE
        first = int((now - seconds) // resolution * resolution)
        rows = self._read(
            "SELECT start, source, version, count, errors, latency FROM stats WHERE resolution = ? AND start >= ?",
            (resolution, first),
        )
        latency = (
            np.frombuffer(b"".join(r[5] for r in rows), np.int64).reshape(len(rows), LATENCY_BUCKETS)
            if rows
            else np.zeros((0, LATENCY_BUCKETS), np.int64)
        )
        counts = np.array([r[3] for r in rows], np.int64)
        errors = np.array([r[4] for r in rows], np.int64)

        def group(labels: list[Any]) -> dict[Any, dict[str, Any]]:
            result = {}
            for label in sorted(set(labels)):
                mask = np.array([value == label for value in labels], bool)
                result[label] = summary(
                    int(counts[mask].sum()), int(errors[mask].sum()), latency[mask].sum(axis=0), seconds
                )
            return result

        first_point = int((now - seconds) // step * step)
        points = int(math.floor(now / step) * step - first_point) // step + 1
        slot = np.clip((np.array([r[0] for r in rows], np.int64) - first_point) // step, 0, points - 1)
        slot_counts = np.bincount(slot, weights=counts, minlength=points).astype(np.int64)
        slot_errors = np.bincount(slot, weights=errors, minlength=points).astype(np.int64)
        slot_latency = np.zeros((points, LATENCY_BUCKETS), np.int64)
        np.add.at(slot_latency, slot, latency)
        row_sources = np.array([r[1] for r in rows], dtype=object)
        per_source = {
            s: np.bincount(slot[row_sources == s], weights=counts[row_sources == s], minlength=points).astype(np.int64)
            for s in sorted(set(row_sources))
        }
        series = [
            {
                "start": first_point + i * step,
                "requests": int(slot_counts[i]),
                "errors": int(slot_errors[i]),
                "by_source": {s: int(c[i]) for s, c in per_source.items()},
                **{f"p{q}": percentile_from_histogram(slot_latency[i], q) for q in (50, 95, 99)},
            }
            for i in range(points)
        ]
        return {
            "window": window,
            "window_seconds": seconds,
            **summary(int(counts.sum()), int(errors.sum()), latency.sum(axis=0), seconds),
            "by_source": group([r[1] for r in rows]),
            "by_version": group([r[2] for r in rows]),
            "series_step_seconds": step,
            "series": series,
        }

    def totals(self) -> dict[str, int]:
        """Predictions made (failures excluded) per source over the rollups' retention (90 days)."""
        rows = self._read(
            "SELECT source, sum(count) - sum(errors) FROM stats WHERE resolution = ? GROUP BY source", (HOUR,)
        )
        return {source: int(count) for source, count in rows if count}

    def feature_counts(self, version: str, since: float) -> dict[str, dict[int, int]]:
        """Per feature, counts per training bin for one model version, since an hour start."""
        rows = self._read(
            "SELECT feature, bin, sum(count) FROM feature_counts WHERE hour >= ? AND version = ? GROUP BY feature, bin",
            (int(since // HOUR * HOUR), version),
        )
        result: dict[str, dict[int, int]] = defaultdict(dict)
        for feature, bin_index, count in rows:
            result[feature][int(bin_index)] = int(count)
        return dict(result)

    def probability_counts(self, version: str, since: float) -> np.ndarray:
        """The predicted probabilities' histogram (20 buckets of 0.05) for one version."""
        rows = self._read(
            "SELECT probability FROM stats WHERE resolution = ? AND start >= ? AND version = ?",
            (HOUR, int(since // HOUR * HOUR), version),
        )
        total = np.zeros(PROBABILITY_BUCKETS, np.int64)
        for (blob,) in rows:
            total += np.frombuffer(blob, np.int64)
        return total

    def recent_errors(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT ts, source, version, latency_ms, error_kind FROM predictions WHERE outcome != 'ok' "
            "ORDER BY ts DESC LIMIT ?",
            (limit,),
        )
        return [
            {"ts": ts, "source": source, "version": version, "latency_ms": latency, "error_kind": kind}
            for ts, source, version, latency, kind in rows
        ]

    def raw_count(self) -> int:
        return int(self._read("SELECT count(*) FROM predictions")[0][0])

    def size_bytes(self) -> int:
        return sum(
            os.stat(f"{self.path}{suffix}").st_size
            for suffix in ("", "-wal", "-shm")
            if os.path.exists(f"{self.path}{suffix}")
        )
