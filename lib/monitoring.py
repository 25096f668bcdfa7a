"""The monitoring store: every prediction logged, with rollups kept at write time.

SQLite in WAL mode (synchronous=NORMAL). Each write adds the raw rows and merges
per-minute rollups (count, errors, a latency histogram and a probability histogram per
source and model version; per-feature counts on the training bins), so dashboards read
O(minutes) rows, never O(predictions). Latency percentiles come from the histogram:
log-spaced buckets, each edge 1.17x the previous, so a percentile is exact to within one
bucket (about 17 %). Retention: raw rows pruned by age or count, rollups by age.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LATENCY_EDGES_MS = np.geomspace(0.01, 60_000, 97)  # 96 buckets, plus under and over
PROBABILITY_EDGES = np.linspace(0.0, 1.0, 21)
RAW_MAX_AGE_S = 30 * 86_400
RAW_MAX_ROWS = 1_000_000
ROLLUP_MAX_AGE_S = 90 * 86_400

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    ts REAL NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL, error_kind TEXT, probability REAL, label TEXT, features TEXT);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE TABLE IF NOT EXISTS minute_stats (
    minute INTEGER NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,
    count INTEGER NOT NULL, errors INTEGER NOT NULL, latency_hist TEXT NOT NULL, probability_hist TEXT NOT NULL,
    PRIMARY KEY (minute, source, version));
CREATE TABLE IF NOT EXISTS feature_counts (
    minute INTEGER NOT NULL, version TEXT NOT NULL, feature TEXT NOT NULL, bin INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (minute, version, feature, bin));
"""


@dataclass(frozen=True)
class LoggedPrediction:
    """One prediction or failed request, as the store keeps it."""

    ts: float
    source: str  # "ui", "batch" or "api"
    version: str
    latency_ms: float
    outcome: str = "ok"  # or "error"
    error_kind: str | None = None
    probability: float | None = None
    label: str | None = None
    features: dict[str, Any] | None = None
    feature_bins: dict[str, int] = field(default_factory=dict)  # training bin or category index


def latency_bucket(latency_ms: float) -> int:
    return int(np.searchsorted(LATENCY_EDGES_MS, latency_ms, side="right"))


def probability_bucket(probability: float) -> int:
    return int(min(np.searchsorted(PROBABILITY_EDGES, probability, side="right") - 1, len(PROBABILITY_EDGES) - 2))


def percentile_from_histogram(counts: np.ndarray, q: float) -> float | None:
    """The upper edge of the latency bucket holding the q-th percentile (ms)."""
    total = counts.sum()
    if total == 0:
        return None
    bucket = int(np.searchsorted(np.cumsum(counts), q / 100 * total, side="left"))
    return float(LATENCY_EDGES_MS[min(bucket, len(LATENCY_EDGES_MS) - 1)])


class MonitoringStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(SCHEMA)
            self._connection = connection
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def write(self, rows: list[LoggedPrediction]) -> None:
        """Raw rows and their rollups in one transaction: all of it lands, or none."""
        if not rows:
            return
        stats: dict[tuple[int, str, str], list[Any]] = {}
        features: dict[tuple[int, str, str, int], int] = defaultdict(int)
        for row in rows:
            minute = int(row.ts // 60)
            key = (minute, row.source, row.version)
            if key not in stats:
                stats[key] = [0, 0, np.zeros(len(LATENCY_EDGES_MS) + 1, np.int64), np.zeros(20, np.int64)]
            entry = stats[key]
            entry[0] += 1
            entry[1] += row.outcome != "ok"
            entry[2][latency_bucket(row.latency_ms)] += 1
            if row.probability is not None:
                entry[3][probability_bucket(row.probability)] += 1
            for name, bin_index in row.feature_bins.items():
                features[(minute, row.version, name, bin_index)] += 1
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            r.ts,
                            r.source,
                            r.version,
                            r.latency_ms,
                            r.outcome,
                            r.error_kind,
                            r.probability,
                            r.label,
                            None if r.features is None else json.dumps(r.features, default=str),
                        )
                        for r in rows
                    ],
                )
                for (minute, source, version), (count, errors, latency, probability) in stats.items():
                    old = connection.execute(
                        "SELECT count, errors, latency_hist, probability_hist FROM minute_stats "
                        "WHERE minute = ? AND source = ? AND version = ?",
                        (minute, source, version),
                    ).fetchone()
                    if old is not None:
                        count, errors = count + old[0], errors + old[1]
                        latency = latency + np.asarray(json.loads(old[2]), np.int64)
                        probability = probability + np.asarray(json.loads(old[3]), np.int64)
                    connection.execute(
                        "INSERT OR REPLACE INTO minute_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            minute,
                            source,
                            version,
                            count,
                            errors,
                            json.dumps(latency.tolist()),
                            json.dumps(probability.tolist()),
                        ),
                    )
                connection.executemany(
                    "INSERT INTO feature_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT (minute, version, feature, bin) "
                    "DO UPDATE SET count = count + excluded.count",
                    [(*key, count) for key, count in features.items()],
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise

    def system(self, window_s: float, now: float | None = None) -> dict[str, Any]:
        """Throughput, error rate and latency percentiles over the window, from rollups only."""
        now = time.time() if now is None else now
        first_minute = int((now - window_s) // 60)
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT source, version, count, errors, latency_hist FROM minute_stats WHERE minute >= ?",
                    (first_minute,),
                )
                .fetchall()
            )
        latency = np.zeros(len(LATENCY_EDGES_MS) + 1, np.int64)
        count = errors = 0
        by_source: dict[str, int] = defaultdict(int)
        for source, _version, row_count, row_errors, histogram in rows:
            count += row_count
            errors += row_errors
            by_source[source] += row_count
            latency += np.asarray(json.loads(histogram), np.int64)
        return {
            "requests": count,
            "errors": errors,
            "error_rate": errors / count if count else 0.0,
            "throughput_rps": count / window_s,
            "latency_ms": {f"p{q}": percentile_from_histogram(latency, q) for q in (50, 95, 99)},
            "by_source": dict(by_source),
        }

    def raw_count(self) -> int:
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

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
            removed = {
                "raw_by_age": connection.execute(
                    "DELETE FROM predictions WHERE ts < ?", (now - raw_max_age_s,)
                ).rowcount
            }
            excess = connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] - raw_max_rows
            removed["raw_by_count"] = (
                connection.execute(
                    "DELETE FROM predictions WHERE rowid IN (SELECT rowid FROM predictions ORDER BY ts LIMIT ?)",
                    (max(excess, 0),),
                ).rowcount
                if excess > 0
                else 0
            )
            cutoff = int((now - rollup_max_age_s) // 60)
            removed["rollup_minutes"] = connection.execute(
                "DELETE FROM minute_stats WHERE minute < ?", (cutoff,)
            ).rowcount
            connection.execute("DELETE FROM feature_counts WHERE minute < ?", (cutoff,))
        return removed
