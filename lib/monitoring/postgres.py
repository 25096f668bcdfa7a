"""The monitoring store on PostgreSQL (MONITORING_DB=postgresql://...), shared by replicas.

The same tables and the same write-time rollups as the SQLite store (lib.monitoring.store),
each row and rollup carrying the replica that served it: a replica only ever merges its
own rollup rows, so replicas never wait on each other's writes, and every reader sums
over all of them, so every replica gives the same answer. Raw rows go in by COPY.

psycopg 3 with a small connection pool: the log's writer takes one connection, dashboard
readers the others. Each failure (server down, refused, timeout) becomes StoreUnavailable
with a reason that names no credentials; the log keeps its rows in memory meanwhile.

The schema (lib.storage.postgres) is created and migrated on open, under a
transaction-scoped advisory lock: replicas starting at the same moment run the
migrations once, the others wait and find them done. A database whose schema is newer
than this code is refused.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from lib.monitoring.matching import Transaction
from lib.monitoring.rollups import (
    HOUR,
    LATENCY_BUCKETS,
    MINUTE,
    PROBABILITY_BUCKETS,
    CountedRows,
    LoggedRow,
    Rollup,
    rollups,
    score_rows,
)
from lib.monitoring.store import (
    MINUTE_ROLLUP_MAX_AGE_S,
    RAW_COLUMNS,
    RAW_MAX_AGE_S,
    RAW_MAX_ROWS,
    ROLLUP_MAX_AGE_S,
    SCORE_COLUMNS,
    TRIM_TO_SHARE,
    OutcomeWriter,
    RollupReader,
    StoreUnavailable,
    backfill_tallies,
    prune_outcomes_sql,
    prune_scores_sql,
)
from lib.monitoring.tally import Tally
from lib.storage.postgres import MIGRATION_LOCK, SchemaTooNew, describe, failure_reason, migrate

T = TypeVar("T")

# pg_advisory_xact_lock keys: "pdm" + a number, so they do not meet another application's.
PRUNE_LOCK = 0x70646D02
CONNECT_TIMEOUT_S = 3
WAIT_FOR_CONNECTION_S = 3.0
STATEMENT_TIMEOUT_MS = 15_000
PING_EVERY_S = 2.0  # an idle writer still notices the server going away, for /health
TRIM_EVERY_S = 5.0  # the byte cap is checked this often (a size query, not per flush)
POOL_MAX = 4

COLUMNS = RAW_COLUMNS


class PostgresStore(RollupReader, OutcomeWriter):
    """The shared store: the same interface as the SQLite MonitoringStore."""

    backend = "postgresql"

    def __init__(self, url: str, replica: str) -> None:
        self.url = url
        self.name = describe(url)
        self.replica = replica
        self._pool_lock = threading.Lock()
        self._pool: Any = None
        self._migrated = False
        self._next_ping = 0.0
        self._next_trim = 0.0

    # --- connections ---------------------------------------------------------------

    def _connections(self) -> Any:
        with self._pool_lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=POOL_MAX,
                    open=False,
                    timeout=WAIT_FOR_CONNECTION_S,
                    check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
                    kwargs={
                        "connect_timeout": CONNECT_TIMEOUT_S,
                        "application_name": f"prediction-dashboard {self.replica}"[:63],
                        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                    },
                    name="monitoring",
                )
                self._pool.open(wait=False)
            return self._pool

    def _run(self, action: str, work: Callable[[Any], T]) -> T:
        """work(connection) in one transaction; every failure becomes StoreUnavailable."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._connections().connection() as connection:
                return work(connection)
        except PoolTimeout:
            raise StoreUnavailable(
                f"{action} PostgreSQL failed: no connection to {self.name} within {WAIT_FOR_CONNECTION_S:g} s"
            ) from None
        except psycopg.Error as exc:
            raise StoreUnavailable(failure_reason(action, exc)) from None

    def open(self) -> None:
        """Connect, and create or migrate the schema (once per process)."""
        if not self._migrated:
            try:
                self._run("migrating", migrate)
                self._run("tallying outcomes in", _backfill_tallies)
            except SchemaTooNew as exc:
                raise StoreUnavailable(str(exc)) from None
            self._migrated = True

    def readable(self) -> bool:
        return self._migrated

    def check_writable(self) -> None:
        """A cheap round trip every PING_EVERY_S, so an idle replica's /health still says
        when the server is gone."""
        if time.monotonic() < self._next_ping:
            return
        self._next_ping = time.monotonic() + PING_EVERY_S
        self.open()
        self._run("reaching", lambda connection: connection.execute("SELECT 1"))

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close(timeout=5)
                self._pool = None

    # --- writing ---------------------------------------------------------------------

    def write(
        self,
        rows: list[LoggedRow],
        feature_counts: Mapping[tuple[int, str, str, int], int],
        counted: Sequence[CountedRows] = (),
    ) -> None:
        """Raw rows (COPY) and this replica's rollups, in one transaction."""
        if not rows and not counted:
            return
        self.open()
        merged = rollups(rows, counted)
        replica = self.replica

        def work(connection: Any) -> None:
            with connection.cursor() as cursor:
                with cursor.copy(f"COPY predictions ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row((*row, replica))
                scores = score_rows(rows, counted)
                if scores:  # through a temporary table: an id met twice keeps its first, as on SQLite
                    cursor.execute(
                        "CREATE TEMPORARY TABLE IF NOT EXISTS new_scores (LIKE scores) ON COMMIT DELETE ROWS"
                    )
                    with cursor.copy(f"COPY new_scores ({SCORE_COLUMNS}) FROM STDIN") as copy:
                        for score in scores:
                            copy.write_row((*score, replica))
                    cursor.execute("INSERT INTO scores SELECT * FROM new_scores ON CONFLICT DO NOTHING")
                for key in sorted(merged):  # one order: two writers with one REPLICA_ID cannot deadlock
                    _merge_stats(cursor, (*key, replica), merged[key])
                cursor.executemany(
                    "INSERT INTO feature_counts AS f VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (hour, version, feature, bin, replica) DO UPDATE SET count = f.count + excluded.count",
                    [(*key, replica, count) for key, count in sorted(feature_counts.items())],
                )

        self._run("writing to", work)

    def _transact(self, action: str, work: Callable[[Transaction], T]) -> T:
        self.open()
        return self._run(f"{action} in", lambda connection: work(_PgTransaction(connection)))

    def prune(
        self,
        now: float | None = None,
        raw_max_age_s: float = RAW_MAX_AGE_S,
        raw_max_rows: int = RAW_MAX_ROWS,
        rollup_max_age_s: float = ROLLUP_MAX_AGE_S,
    ) -> dict[str, int]:
        """Bound the tables: raw rows by age and count, rollups by age; one replica at a
        time (the others skip: the work would be the same)."""
        now = time.time() if now is None else now
        self.open()

        def work(connection: Any) -> dict[str, int]:
            if not connection.execute("SELECT pg_try_advisory_xact_lock(%s)", (PRUNE_LOCK,)).fetchone()[0]:
                return {}
            too_old = (now - raw_max_age_s,)
            removed = {"raw_by_age": connection.execute("DELETE FROM predictions WHERE ts < %s", too_old).rowcount}
            excess = connection.execute("SELECT count(*) FROM predictions").fetchone()[0] - raw_max_rows
            removed["raw_by_count"] = _delete_oldest(connection, excess) if excess > 0 else 0
            removed["rollups"] = connection.execute(
                "DELETE FROM stats WHERE (resolution = %s AND start < %s) OR (resolution = %s AND start < %s)",
                (HOUR, now - rollup_max_age_s, MINUTE, now - min(MINUTE_ROLLUP_MAX_AGE_S, rollup_max_age_s)),
            ).rowcount
            connection.execute("DELETE FROM feature_counts WHERE hour < %s", (now - rollup_max_age_s,))
            sql, parameters = prune_scores_sql(now - rollup_max_age_s)
            removed["scores"] = connection.execute(sql.replace("?", "%s"), parameters).rowcount
            for statement, values in prune_outcomes_sql(now - rollup_max_age_s):
                connection.execute(statement.replace("?", "%s"), values)
            return removed

        return self._run("pruning", work)

    def trim_to_bytes(self, max_bytes: int) -> int:
        """Delete the oldest raw rows while the live data exceeds max_bytes (checked every
        TRIM_EVERY_S). Deleted rows leave dead space that autovacuum hands back to new
        rows, so the live share is estimated from the table's live and dead tuple counts."""
        if time.monotonic() < self._next_trim:
            return 0
        self._next_trim = time.monotonic() + TRIM_EVERY_S
        self.open()

        def work(connection: Any) -> int:
            if not connection.execute("SELECT pg_try_advisory_xact_lock(%s)", (PRUNE_LOCK,)).fetchone()[0]:
                return 0
            size, live, dead = connection.execute(
                "SELECT pg_total_relation_size('predictions'), n_live_tup, n_dead_tup "
                "FROM pg_stat_user_tables WHERE relname = 'predictions'"
            ).fetchone()
            used = size * live / (live + dead) if live + dead else size
            if used <= max_bytes * TRIM_TO_SHARE or not live:
                return 0
            return _delete_oldest(connection, math.ceil((used - max_bytes * TRIM_TO_SHARE) / (used / live)))

        return self._run("trimming", work)

    # --- reading ---------------------------------------------------------------------

    def _read(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A reader's query (written with SQLite's `?` placeholders, which no query here
        uses otherwise)."""
        self.open()
        query = sql.replace("?", "%s")
        return self._run("reading", lambda connection: connection.execute(query, parameters).fetchall())

    def size_bytes(self) -> int:
        return int(
            self._read(
                "SELECT pg_total_relation_size('predictions') + pg_total_relation_size('stats') "
                "+ pg_total_relation_size('feature_counts')"
            )[0][0]
        )


def _merge_stats(cursor: Any, key: tuple[Any, ...], delta: Rollup) -> None:
    """Add one rollup to its row: create it empty if new, lock it, write the sum."""
    where = "resolution = %s AND start = %s AND source = %s AND version = %s AND replica = %s"
    locked = f"SELECT count, errors, latency, probability FROM stats WHERE {where} FOR UPDATE"
    old = cursor.execute(locked, key).fetchone()
    if old is None:
        empty_latency = np.zeros(LATENCY_BUCKETS, np.int64).tobytes()
        empty_probability = np.zeros(PROBABILITY_BUCKETS, np.int64).tobytes()
        cursor.execute(
            "INSERT INTO stats VALUES (%s, %s, %s, %s, %s, 0, 0, %s, %s) ON CONFLICT DO NOTHING",
            (*key, empty_latency, empty_probability),
        )
        old = cursor.execute(locked, key).fetchone()
    total = delta + Rollup(
        old[0], old[1], np.frombuffer(bytes(old[2]), np.int64), np.frombuffer(bytes(old[3]), np.int64)
    )
    cursor.execute(
        f"UPDATE stats SET count = %s, errors = %s, latency = %s, probability = %s WHERE {where}",
        (
            total.count,
            total.errors,
            total.latency.astype(np.int64).tobytes(),
            total.probability.astype(np.int64).tobytes(),
            *key,
        ),
    )


def _delete_oldest(connection: Any, rows: int) -> int:
    return connection.execute(
        "DELETE FROM predictions WHERE id IN (SELECT id FROM predictions ORDER BY ts LIMIT %s)", (rows,)
    ).rowcount


def _backfill_tallies(connection: Any) -> None:
    """Outcomes recorded under schema 3 have no tallies: make them once (a replica that
    finds outcomes and no tallies does it under the migration lock; the others then find
    tallies)."""
    if connection.execute("SELECT EXISTS (SELECT 1 FROM outcome_stats)").fetchone()[0]:
        return
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    if not connection.execute("SELECT EXISTS (SELECT 1 FROM outcome_stats)").fetchone()[0]:
        backfill_tallies(_PgTransaction(connection))


class _PgTransaction:
    """The matching's queries on one connection (its `?` placeholders made psycopg's)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql.replace("?", "%s"), parameters).fetchall()

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)

    def execute(self, sql: str, parameters: Sequence[Any]) -> int:
        return int(self.connection.execute(sql.replace("?", "%s"), parameters).rowcount)

    def merge_tallies(self, deltas: Mapping[tuple[int, str], Tally], replica: str) -> None:
        """Create each row empty if new, lock it, write the sum (in one key order: two
        writers with one REPLICA_ID cannot deadlock)."""
        for (day, version), delta in sorted(deltas.items()):
            key = (day, version, replica)
            self.connection.execute(
                "INSERT INTO outcome_stats VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (*key, Tally.empty().to_bytes()),
            )
            (old,) = self.connection.execute(
                "SELECT tally FROM outcome_stats WHERE day = %s AND version = %s AND replica = %s FOR UPDATE", key
            ).fetchone()
            self.connection.execute(
                "UPDATE outcome_stats SET tally = %s WHERE day = %s AND version = %s AND replica = %s",
                ((Tally.from_bytes(old) + delta).to_bytes(), *key),
            )
