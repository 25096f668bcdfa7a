"""The monitoring store: every prediction logged, with rollups kept at write time.

SQLite in WAL mode (synchronous=NORMAL), one file. Each write adds the raw rows and
merges their rollups in the same transaction: per minute and per hour, per source and
model version, a count, an error count, a latency histogram and a probability histogram;
per hour and version, counts of every feature's training bins. Every dashboard query
reads rollups, so its cost grows with the window (minutes or hours), never with traffic.

The rows, windows and histograms are in lib.monitoring.rollups.

Retention: raw rows pruned by age (30 days) or count (1,000,000); hourly rollups kept
90 days; minute rollups 2 days (they only serve the windows up to 24 hours).

Every row and rollup carries the replica that served it (REPLICA_ID). This file is the
embedded default; MONITORING_DB=postgresql://... selects the shared store of
lib.monitoring.postgres, with the same tables and the same interface (`Store`).

The schema is versioned (PRAGMA user_version): a store of an older version is migrated
when it is opened (MIGRATIONS), a newer one is refused.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from lib.monitoring.ids import first_id_at
from lib.monitoring.matching import (
    DAY,
    OutcomeReport,
    Transaction,
    record_outcomes,
    scored_predictions,
    tally_deltas,
)
from lib.monitoring.outcomes import OutcomeRow, RefusedRow
from lib.monitoring.rollups import (
    HOUR,
    MINUTE,
    PROBABILITY_BUCKETS,
    WINDOWS,
    CountedRows,
    LoggedRow,
    Rollup,
    StatsRows,
    rollups,
    score_rows,
    stats_query_range,
    system_report,
)
from lib.monitoring.shared_state import SET, SharedState, claim_transition
from lib.monitoring.tally import Tally

T = TypeVar("T")

__all__ = ["HOUR", "WINDOWS", "CountedRows", "LoggedRow", "MonitoringStore", "Store", "StoreUnavailable"]

RAW_MAX_AGE_S = 30 * 86_400
RAW_MAX_ROWS = 1_000_000
WAL_LIMIT_BYTES = 16 * 1024 * 1024
# Past the byte cap, the oldest raw rows go until the data takes this share of it (the file
# keeps its size: SQLite reuses the freed pages for the next rows).
TRIM_TO_SHARE = 0.8
ROLLUP_MAX_AGE_S = 90 * 86_400  # rollups, and the scores outcomes are matched to
SCORES_MAX_ROWS = 10_000_000  # about 600 MB: the newest predictions an outcome can still find
SHADOW_COMPARED_ROWS = 200_000  # the newest labelled predictions a shadow comparison reads
MINUTE_ROLLUP_MAX_AGE_S = 2 * 86_400

# What outcomes are matched to: every scored prediction (kept raw or only counted), and
# the real outcomes, one per prediction (the newest wins; a change counts as a correction).
OUTCOME_TABLES = """
CREATE TABLE scores (
    prediction_id INTEGER PRIMARY KEY, ts REAL NOT NULL, version TEXT NOT NULL, source TEXT NOT NULL,
    entity TEXT, probability REAL NOT NULL, replica TEXT NOT NULL);
CREATE INDEX scores_entity ON scores (entity, ts) WHERE entity IS NOT NULL;
CREATE TABLE outcomes (
    prediction_id INTEGER PRIMARY KEY, outcome INTEGER NOT NULL, observed_at REAL NOT NULL,
    received_at REAL NOT NULL, corrections INTEGER NOT NULL DEFAULT 0, previous INTEGER, replica TEXT NOT NULL);
"""
# Realised performance: business values on raw rows and scores, per day of the prediction
# and version the tally of labelled predictions (lib.monitoring.tally), state shared by
# replicas (the decay alert's, the shadow challenger's), and the challenger's scores,
# keyed by the served prediction they shadow (lib.serving.shadow).
REALISED_TABLES = """
ALTER TABLE predictions ADD COLUMN value REAL;
ALTER TABLE scores ADD COLUMN value REAL;
CREATE TABLE outcome_stats (
    day INTEGER NOT NULL, version TEXT NOT NULL, replica TEXT NOT NULL, tally BLOB NOT NULL,
    PRIMARY KEY (day, version, replica));
CREATE TABLE shared_state (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, version TEXT NOT NULL, reason TEXT, changed_at REAL NOT NULL);
CREATE TABLE shadow_scores (prediction_id INTEGER PRIMARY KEY, version TEXT NOT NULL, probability REAL NOT NULL);
"""
# The schema as it is now; a new file gets it at once (version 3's tables, then 4's).
SCHEMA = (
    """
CREATE TABLE predictions (
    ts REAL NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL, error_kind TEXT, probability REAL, label TEXT, features TEXT,
    replica TEXT NOT NULL DEFAULT '', prediction_id INTEGER, entity TEXT);
CREATE INDEX predictions_ts ON predictions (ts);
CREATE INDEX predictions_id ON predictions (prediction_id) WHERE prediction_id IS NOT NULL;
CREATE INDEX predictions_errors ON predictions (ts) WHERE outcome != 'ok';
CREATE TABLE stats (
    resolution INTEGER NOT NULL, start INTEGER NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,
    replica TEXT NOT NULL, count INTEGER NOT NULL, errors INTEGER NOT NULL, latency BLOB NOT NULL,
    probability BLOB NOT NULL, PRIMARY KEY (resolution, start, source, version, replica));
CREATE TABLE feature_counts (
    hour INTEGER NOT NULL, version TEXT NOT NULL, feature TEXT NOT NULL, bin INTEGER NOT NULL,
    replica TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (hour, version, feature, bin, replica));
"""
    + OUTCOME_TABLES
    + REALISED_TABLES
)
# The raw table's columns in LoggedRow's order, then the replica; the scores' likewise.
RAW_COLUMNS = (
    "ts, source, version, latency_ms, outcome, error_kind, probability, label, features, prediction_id, entity, "
    "value, replica"
)
SCORE_COLUMNS = "prediction_id, ts, version, source, entity, probability, value, replica"
# From version n - 1 to n. Rows written before replicas were recorded keep replica ''.
MIGRATIONS = {
    2: """
ALTER TABLE predictions ADD COLUMN replica TEXT NOT NULL DEFAULT '';
CREATE TABLE stats_2 (
    resolution INTEGER NOT NULL, start INTEGER NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,
    replica TEXT NOT NULL, count INTEGER NOT NULL, errors INTEGER NOT NULL, latency BLOB NOT NULL,
    probability BLOB NOT NULL, PRIMARY KEY (resolution, start, source, version, replica));
INSERT INTO stats_2 SELECT resolution, start, source, version, '', count, errors, latency, probability FROM stats;
DROP TABLE stats;
ALTER TABLE stats_2 RENAME TO stats;
CREATE TABLE feature_counts_2 (
    hour INTEGER NOT NULL, version TEXT NOT NULL, feature TEXT NOT NULL, bin INTEGER NOT NULL,
    replica TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (hour, version, feature, bin, replica));
INSERT INTO feature_counts_2 SELECT hour, version, feature, bin, '', count FROM feature_counts;
DROP TABLE feature_counts;
ALTER TABLE feature_counts_2 RENAME TO feature_counts;
""",
    3: """
ALTER TABLE predictions ADD COLUMN prediction_id INTEGER;
ALTER TABLE predictions ADD COLUMN entity TEXT;
CREATE INDEX predictions_id ON predictions (prediction_id) WHERE prediction_id IS NOT NULL;
"""
    + OUTCOME_TABLES,
    4: REALISED_TABLES,
}
SCHEMA_VERSION = max(MIGRATIONS)


class StoreUnavailable(Exception):
    """The store cannot be written or read now; the message says why, for /health."""


class Store(Protocol):
    """What the prediction log and the dashboards need of a store (SQLite or PostgreSQL).

    Every method raises StoreUnavailable with the reason when the store cannot answer.
    """

    name: str  # what /health shows: the file's name, or postgresql://host/db
    backend: str  # "sqlite" or "postgresql"
    replica: str  # the replica whose rows this process writes

    def open(self) -> None: ...
    def check_writable(self) -> None: ...
    def close(self) -> None: ...
    def readable(self) -> bool: ...
    def write(
        self,
        rows: list[LoggedRow],
        feature_counts: Mapping[tuple[int, str, str, int], int],
        counted: Sequence[CountedRows] = (),
    ) -> None: ...
    def prune(
        self, now: float | None = None, raw_max_age_s: float = ..., raw_max_rows: int = ...
    ) -> dict[str, int]: ...
    def trim_to_bytes(self, max_bytes: int) -> int: ...
    def system(self, window: str, now: float | None = None) -> dict[str, Any]: ...
    def totals(self) -> dict[str, int]: ...
    def feature_counts(self, version: str, since: float) -> dict[str, dict[int, int]]: ...
    def probability_counts(self, version: str, since: float) -> np.ndarray: ...
    def recent_errors(self, limit: int = 20) -> list[dict[str, Any]]: ...
    def raw_count(self) -> int: ...
    def size_bytes(self) -> int: ...
    def record_outcomes(
        self, rows: Sequence[OutcomeRow], refused: list[RefusedRow], received_at: float
    ) -> OutcomeReport: ...
    def outcome_tallies(self, version: str, since: float) -> dict[int, Tally]: ...
    def labelled_rows(self, version: str, since: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def predictions_by_day(self, version: str, since: float) -> dict[int, int]: ...
    def labelled_versions(self) -> list[str]: ...
    def alert_transition(self, name: str, state: str, version: str, reason: str | None, at: float) -> str | None: ...
    def set_shared_state(self, name: str, state: str, version: str, note: str | None, at: float) -> None: ...
    def shared_state(self, name: str) -> SharedState | None: ...
    def write_shadow(self, rows: Sequence[tuple[int, str, float]]) -> None: ...
    def shadow_pairs(
        self, champion: str, challenger: str, since: float, limit: int = ...
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def shadow_scored(self, challenger: str) -> int: ...
    def labelled_features(self, limit: int) -> list[tuple[str, str | None, float, int]]: ...


def prune_scores_sql(oldest: float, max_rows: int = SCORES_MAX_ROWS) -> tuple[str, tuple[int, int]]:
    """Scores older than `oldest`, and the oldest beyond max_rows (ids are in time order)."""
    return (
        "DELETE FROM scores WHERE prediction_id < ? OR prediction_id <= "
        "(SELECT prediction_id FROM scores ORDER BY prediction_id DESC LIMIT 1 OFFSET ?)",
        (first_id_at(oldest), max_rows),
    )


def prune_outcomes_sql(oldest: float) -> list[tuple[str, tuple[int]]]:
    """Outcomes of predictions older than `oldest`, and the tallies of their days."""
    return [
        ("DELETE FROM outcomes WHERE prediction_id < ?", (first_id_at(oldest),)),
        ("DELETE FROM shadow_scores WHERE prediction_id < ?", (first_id_at(oldest),)),
        ("DELETE FROM outcome_stats WHERE day < ?", (int(oldest // DAY * DAY),)),
    ]


class _SqliteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, parameters).fetchall()

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.connection.executemany(sql, rows)

    def execute(self, sql: str, parameters: Sequence[Any]) -> int:
        return self.connection.execute(sql, parameters).rowcount

    def merge_tallies(self, deltas: Mapping[tuple[int, str], Tally], replica: str) -> None:
        """Read, add, write: the transaction is IMMEDIATE, so no other writer comes between."""
        for (day, version), delta in sorted(deltas.items()):
            old = self.connection.execute(
                "SELECT tally FROM outcome_stats WHERE day = ? AND version = ? AND replica = ?", (day, version, replica)
            ).fetchone()
            total = delta if old is None else Tally.from_bytes(old[0]) + delta
            self.connection.execute(
                "INSERT OR REPLACE INTO outcome_stats VALUES (?, ?, ?, ?)", (day, version, replica, total.to_bytes())
            )


def _arrays(rows: list[tuple[Any, ...]], dtypes: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A query's three columns as arrays (a float column's NULL becomes NaN)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(dtypes)
    first, second, third = (np.array(column, dtype) for column, dtype in zip(columns, dtypes, strict=True))
    return first, second, third


class OutcomeWriter:
    """The writes of the outcome loop, the same SQL on either store; a subclass runs each in
    one transaction (`_transact`)."""

    replica: str

    def _transact(self, action: str, work: Callable[[Transaction], T]) -> T:
        raise NotImplementedError

    def record_outcomes(
        self, rows: Sequence[OutcomeRow], refused: list[RefusedRow], received_at: float
    ) -> OutcomeReport:
        """Match checked outcome rows to their predictions and record them, in one transaction."""
        return self._transact(
            "recording outcomes",
            lambda transaction: record_outcomes(transaction, rows, received_at, self.replica, refused),
        )

    def set_shared_state(self, name: str, state: str, version: str, note: str | None, at: float) -> None:
        self._transact(
            "recording shared state", lambda transaction: transaction.execute(SET, (name, state, version, note, at))
        )

    def write_shadow(self, rows: Sequence[tuple[int, str, float]]) -> None:
        """A challenger's probabilities, each keyed by the served prediction it shadows (a
        row met twice keeps its first)."""
        self._transact(
            "writing shadow scores",
            lambda transaction: transaction.execute_many(
                "INSERT INTO shadow_scores VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows
            ),
        )

    def alert_transition(self, name: str, state: str, version: str, reason: str | None, at: float) -> str | None:
        """Record an alert's state; what it replaced when this call changed it (lib.monitoring.decay)."""
        return self._transact(
            "recording an alert",
            lambda transaction: claim_transition(transaction, name, state, version, reason, at),
        )


class RollupReader:
    """The dashboards' queries, the same SQL on either store; a subclass runs it (`_read`,
    with `?` placeholders)."""

    def _read(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def system(self, window: str, now: float | None = None) -> dict[str, Any]:
        """Throughput, error rate and latency percentiles over a window, overall, by source,
        model version and replica, with a chart series; from rollups only."""
        now = time.time() if now is None else now
        rows = self._read(
            "SELECT start, source, version, replica, count, errors, latency FROM stats "
            "WHERE resolution = ? AND start >= ?",
            stats_query_range(window, now),
        )
        return system_report(StatsRows.from_tuples(rows), window, now)

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
            total += np.frombuffer(bytes(blob), np.int64)
        return total

    def recent_errors(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT ts, source, version, latency_ms, error_kind, replica FROM predictions WHERE outcome != 'ok' "
            "ORDER BY ts DESC LIMIT ?",
            (limit,),
        )
        return [
            {"ts": ts, "source": source, "version": version, "latency_ms": latency, "error_kind": kind, "replica": r}
            for ts, source, version, latency, kind, r in rows
        ]

    def raw_count(self) -> int:
        return int(self._read("SELECT count(*) FROM predictions")[0][0])

    def outcome_tallies(self, version: str, since: float) -> dict[int, Tally]:
        """Per day from `since` (a day start), the tally of one version's labelled predictions."""
        rows = self._read("SELECT day, tally FROM outcome_stats WHERE version = ? AND day >= ?", (version, int(since)))
        days: dict[int, Tally] = {}
        for day, blob in rows:
            tally = Tally.from_bytes(blob)
            days[int(day)] = days[int(day)] + tally if int(day) in days else tally
        return days

    def labelled_rows(self, version: str, since: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outcome (1 positive), probability and business value (NaN unknown) of one
        version's labelled predictions made since `since`."""
        rows = self._read(
            "SELECT o.outcome, s.probability, s.value FROM outcomes o "
            "JOIN scores s ON s.prediction_id = o.prediction_id WHERE s.version = ? AND s.ts >= ?",
            (version, since),
        )
        return _arrays(rows, (np.int8, np.float64, np.float64))

    def predictions_by_day(self, version: str, since: float) -> dict[int, int]:
        """Predictions made (failures excluded) per day by one version, from the hourly rollups."""
        rows = self._read(
            "SELECT start, count - errors FROM stats WHERE resolution = ? AND version = ? AND start >= ?",
            (HOUR, version, int(since)),
        )
        days: dict[int, int] = defaultdict(int)
        for start, made in rows:
            days[int(start) // DAY * DAY] += int(made)
        return dict(days)

    def labelled_versions(self) -> list[str]:
        """Model versions with at least one recorded outcome (kept 90 days)."""
        return [version for (version,) in self._read("SELECT DISTINCT version FROM outcome_stats ORDER BY version")]

    def shared_state(self, name: str) -> SharedState | None:
        rows = self._read("SELECT state, version, reason, changed_at FROM shared_state WHERE name = ?", (name,))
        return SharedState(*rows[0]) if rows else None

    def shadow_pairs(
        self, champion: str, challenger: str, since: float, limit: int = SHADOW_COMPARED_ROWS
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outcome, the served model's probability and the challenger's, on the newest
        labelled predictions since `since` that both scored (at most `limit`)."""
        rows = self._read(
            "SELECT o.outcome, s.probability, h.probability FROM outcomes o "
            "JOIN scores s ON s.prediction_id = o.prediction_id "
            "JOIN shadow_scores h ON h.prediction_id = o.prediction_id "
            "WHERE s.version = ? AND h.version = ? AND s.ts >= ? ORDER BY o.prediction_id DESC LIMIT ?",
            (champion, challenger, since, limit),
        )
        return _arrays(rows, (np.int8, np.float64, np.float64))

    def labelled_features(self, limit: int) -> list[tuple[str, str | None, float, int]]:
        """Features (JSON), entity, time and outcome of the newest predictions kept as raw
        rows that got an outcome, newest first (lib.monitoring.examples)."""
        return self._read(
            "SELECT p.features, p.entity, p.ts, o.outcome FROM outcomes o "
            "JOIN predictions p ON p.prediction_id = o.prediction_id WHERE p.features IS NOT NULL "
            "ORDER BY p.ts DESC, p.prediction_id DESC LIMIT ?",
            (limit,),
        )

    def shadow_scored(self, challenger: str) -> int:
        """Predictions the challenger has scored in shadow (kept as long as the scores)."""
        return int(self._read("SELECT count(*) FROM shadow_scores WHERE version = ?", (challenger,))[0][0])


class MonitoringStore(RollupReader, OutcomeWriter):
    """The SQLite file: one writing connection, and a fresh read-only one per query."""

    backend = "sqlite"

    def __init__(self, path: Path, replica: str = "") -> None:
        self.path = path
        self.name = path.name
        self.replica = replica
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
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # the WAL shrinks back to this after a checkpoint
            connection.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            _create_or_migrate(connection, self.path.name)
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

    def write(
        self,
        rows: list[LoggedRow],
        feature_counts: Mapping[tuple[int, str, str, int], int],
        counted: Sequence[CountedRows] = (),
    ) -> None:
        """Raw rows and every rollup in one transaction: all of it lands, or none.

        feature_counts: (hour start, version, feature, bin) -> count, computed by the caller
        who knows each model's bins.
        """
        if not rows and not counted:
            return
        merged = rollups(rows, counted)

        def work(connection: sqlite3.Connection) -> None:
            connection.executemany(
                f"INSERT INTO predictions ({RAW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, self.replica) for row in rows],
            )
            connection.executemany(  # an id met twice (two processes, one tag) keeps its first
                f"INSERT OR IGNORE INTO scores ({SCORE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*score, self.replica) for score in score_rows(rows, counted)],
            )
            for key, delta in merged.items():
                old = connection.execute(
                    "SELECT count, errors, latency, probability FROM stats "
                    "WHERE resolution = ? AND start = ? AND source = ? AND version = ? AND replica = ?",
                    (*key, self.replica),
                ).fetchone()
                if old is not None:
                    stored = np.frombuffer(old[2], np.int64), np.frombuffer(old[3], np.int64)
                    delta = delta + Rollup(old[0], old[1], *stored)
                connection.execute(
                    "INSERT OR REPLACE INTO stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *key,
                        self.replica,
                        delta.count,
                        delta.errors,
                        delta.latency.astype(np.int64).tobytes(),
                        delta.probability.astype(np.int64).tobytes(),
                    ),
                )
            connection.executemany(
                "INSERT INTO feature_counts VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                "(hour, version, feature, bin, replica) DO UPDATE SET count = count + excluded.count",
                [(*key, self.replica, count) for key, count in feature_counts.items()],
            )

        self._in_transaction("writing the store", work)

    def _transact(self, action: str, work: Callable[[Transaction], T]) -> T:
        return self._in_transaction(action, lambda connection: work(_SqliteTransaction(connection)))

    def _in_transaction(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """work(connection) in one write transaction: all of it lands, or none."""
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    done = work(connection)
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._close()
                raise StoreUnavailable(f"{action} failed: {exc}") from None
        return done

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
                removed["scores"] = connection.execute(*prune_scores_sql(now - rollup_max_age_s)).rowcount
                for sql, parameters in prune_outcomes_sql(now - rollup_max_age_s):
                    connection.execute(sql, parameters)
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

    def readable(self) -> bool:
        """Whether the file exists (nothing logged yet reads as an empty store once opened)."""
        return self.path.exists()

    def size_bytes(self) -> int:
        return sum(
            os.stat(f"{self.path}{suffix}").st_size
            for suffix in ("", "-wal", "-shm")
            if os.path.exists(f"{self.path}{suffix}")
        )


def _create_or_migrate(connection: sqlite3.Connection, name: str) -> None:
    """A new file gets the schema; an older one is migrated step by step. One immediate
    transaction: a crash leaves the old version, and a second process opening the file at
    the same moment waits, then finds it done. A newer schema is refused."""
    if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and not 1 <= version <= SCHEMA_VERSION:
            raise StoreUnavailable(
                f"{name} is not a monitoring store this version can use (schema {version}, "
                f"expected {SCHEMA_VERSION} or older): move it away"
            )
        steps = [MIGRATIONS[v] for v in range(version + 1, SCHEMA_VERSION + 1)] if tables else [SCHEMA]
        for statement in "".join(steps).split(";"):
            if statement.strip():
                connection.execute(statement)
        if tables and version < 4:  # outcomes recorded before tallies existed
            backfill_tallies(_SqliteTransaction(connection))
        connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def backfill_tallies(transaction: _SqliteTransaction | Any) -> None:
    """Tally every recorded outcome (migrating from a schema that had outcomes, not tallies)."""
    outcomes = dict(transaction.query("SELECT prediction_id, outcome FROM outcomes", []))
    if outcomes:
        scored = scored_predictions(transaction, list(outcomes))
        transaction.merge_tallies(tally_deltas(scored, outcomes, {}), "")
