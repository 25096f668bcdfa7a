"""The monitoring store, on SQLite and on a real PostgreSQL server: rollups against numpy,
counts per window, source, version and replica, retention, atomic writes, schema
migrations, and a store from another schema refused."""

import sqlite3

import numpy as np
import pytest

from lib.monitoring.postgres import PostgresStore
from lib.monitoring.rollups import HOUR, LATENCY_EDGES_MS, MINUTE, LoggedRow
from lib.monitoring.store import SCHEMA_VERSION, MonitoringStore, StoreUnavailable
from lib.storage.postgres import MIGRATIONS
from lib.storage.postgres import SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION

NOW = 1_800_000_000.0  # a minute and hour boundary: 1_800_000_000 % 3600 == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = MonitoringStore(tmp_path / "kpis" / "monitoring.sqlite3", "replica-a")
    else:
        store = PostgresStore(request.getfixturevalue("postgres_url"), "replica-a")
    yield store
    store.close()


def other_replica(store, tmp_path):
    """A second replica's view of the same store."""
    if isinstance(store, MonitoringStore):
        return MonitoringStore(store.path, "replica-b")
    return PostgresStore(store.url, "replica-b")


def rows(latencies, start=NOW - 120, source="api", errors=0, version="v1"):
    return [
        LoggedRow(
            start + i * 0.01,
            source,
            version,
            float(latency),
            "error" if i < errors else "ok",
            "invalid_input" if i < errors else None,
            None if i < errors else 0.3,
            None if i < errors else "Yes",
            None,
        )
        for i, latency in enumerate(latencies)
    ]


def test_rollup_percentiles_agree_with_numpy_within_one_bucket(store):
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(mean=0.0, sigma=1.0, size=5000)
    for chunk in np.array_split(latencies, 7):  # several writes merge into the same minutes
        store.write(rows(chunk), {})
    for window in ("5m", "7d"):  # minute rollups, hour rollups
        summary = store.system(window, now=NOW)
        assert summary["requests"] == 5000
        for q in (50, 95, 99):
            exact = float(np.percentile(latencies, q))
            estimate = summary["latency_ms"][f"p{q}"]
            upper = LATENCY_EDGES_MS[np.searchsorted(LATENCY_EDGES_MS, exact, side="left")]
            assert exact <= estimate <= upper * 1.0000001, (q, exact, estimate)
            assert estimate / exact < 1.18  # the documented resolution: one bucket, about 17 %


def test_counts_errors_windows_sources_versions_and_series(store):
    store.write(rows([1.0] * 10, errors=3), {})
    store.write(rows([2.0] * 5, start=NOW - 7200, source="ui", version="v0"), {})
    last_hour = store.system("1h", now=NOW)
    assert (last_hour["requests"], last_hour["errors"], last_hour["error_rate"]) == (10, 3, 0.3)
    assert list(last_hour["by_source"]) == ["api"] and last_hour["by_source"]["api"]["errors"] == 3
    assert last_hour["throughput_rps"] == pytest.approx(10 / 3600)
    assert sum(point["requests"] for point in last_hour["series"]) == 10
    assert len(last_hour["series"]) == 61 and last_hour["series_step_seconds"] == MINUTE
    day = store.system("24h", now=NOW)
    assert day["requests"] == 15
    assert {v: s["requests"] for v, s in day["by_version"].items()} == {"v0": 5, "v1": 10}
    assert sum(p["by_source"].get("ui", 0) for p in day["series"]) == 5
    assert store.totals() == {"api": 7, "ui": 5}  # predictions made: failures excluded
    assert [e["error_kind"] for e in store.recent_errors()] == ["invalid_input"] * 3
    assert store.raw_count() == 15


def test_feature_and_probability_counts_are_summed_per_version_and_window(store):
    store.write(rows([1.0] * 4), {(int(NOW - HOUR), "v1", "tenure", 2): 3, (int(NOW - HOUR), "v2", "tenure", 2): 9})
    store.write(rows([1.0] * 2, start=NOW - 3 * HOUR), {(int(NOW - 3 * HOUR), "v1", "tenure", 0): 2})
    assert store.feature_counts("v1", since=NOW - 2 * HOUR) == {"tenure": {2: 3}}
    assert store.feature_counts("v1", since=NOW - 4 * HOUR) == {"tenure": {0: 2, 2: 3}}
    assert store.probability_counts("v1", since=NOW - 4 * HOUR)[6] == 6  # 0.3 falls in [0.30, 0.35)


def test_retention_prunes_raw_rows_by_age_and_count_and_rollups_by_age(store):
    store.write(rows([1.0] * 4, start=NOW - 40 * 86_400), {})  # older than 30 days
    store.write(rows([1.0] * 10, start=NOW - 60), {(int(NOW - HOUR), "v1", "tenure", 0): 10})
    removed = store.prune(now=NOW, raw_max_rows=6)
    assert removed["raw_by_age"] == 4 and removed["raw_by_count"] == 4
    assert store.raw_count() == 6
    assert sum(store.totals().values()) == 14  # hourly rollups are kept 90 days
    store.prune(now=NOW + 3 * 86_400)  # minute rollups go after 2 days, hourly ones stay
    assert store.system("24h", now=NOW + 60)["requests"] == 0
    assert sum(store.totals().values()) == 14
    store.prune(now=NOW + 100 * 86_400)
    assert store.totals() == {} and store.feature_counts("v1", since=0) == {}


def test_a_failed_write_changes_nothing(store):
    store.write(rows([1.0] * 3), {})
    bad = rows([1.0] * 2)
    bad.append(LoggedRow(NOW, None, "v1", 1.0, "ok", None, None, None, None))  # NOT NULL source
    with pytest.raises(StoreUnavailable, match=r"(?i)not[ -]null"):
        store.write(bad, {})
    assert store.raw_count() == 3
    assert store.system("1h", now=NOW)["requests"] == 3


def test_a_file_from_another_schema_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "monitoring.sqlite3"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE customers (name TEXT)")
    other.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    other.commit()
    other.close()
    with pytest.raises(StoreUnavailable, match="not a monitoring store"):
        MonitoringStore(path).open()
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]


def test_every_replica_writes_its_own_rows_and_every_reader_sees_them_all(store, tmp_path):
    second = other_replica(store, tmp_path)
    try:
        store.write(rows([1.0] * 6), {(int(NOW - HOUR), "v1", "tenure", 1): 6})
        second.write(rows([1.0] * 4, errors=1), {(int(NOW - HOUR), "v1", "tenure", 1): 4})
        for reader in (store, second):
            report = reader.system("1h", now=NOW)
            assert report["requests"] == 10
            assert {r: s["requests"] for r, s in report["by_replica"].items()} == {"replica-a": 6, "replica-b": 4}
            assert report["by_replica"]["replica-b"]["errors"] == 1
            assert reader.feature_counts("v1", since=NOW - 2 * HOUR) == {"tenure": {1: 10}}
            assert reader.totals() == {"api": 9}
    finally:
        second.close()


def test_a_version_1_sqlite_store_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "monitoring.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(VERSION_1_SCHEMA)
    latency = np.zeros(114, np.int64)
    latency[50] = 2
    old.execute("INSERT INTO predictions VALUES (?, 'api', 'v1', 1.0, 'ok', NULL, 0.3, 'Yes', NULL)", (NOW - 60,))
    old.execute(
        "INSERT INTO stats VALUES (?, ?, 'api', 'v1', 2, 0, ?, ?)",
        (MINUTE, int(NOW - 60), latency.tobytes(), np.zeros(20, np.int64).tobytes()),
    )
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    store = MonitoringStore(path, "replica-a")
    store.write(rows([1.0] * 3), {})
    report = store.system("5m", now=NOW)
    assert report["requests"] == 5 and report["by_replica"]["replica-a"]["requests"] == 3
    assert report["by_replica"][""]["requests"] == 2  # rows from before replicas were recorded
    assert store.raw_count() == 4
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


VERSION_1_SCHEMA = """
CREATE TABLE predictions (
    ts REAL NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL, latency_ms REAL NOT NULL,
    outcome TEXT NOT NULL, error_kind TEXT, probability REAL, label TEXT, features TEXT);
CREATE INDEX predictions_ts ON predictions (ts);
CREATE TABLE stats (
    resolution INTEGER NOT NULL, start INTEGER NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,
    count INTEGER NOT NULL, errors INTEGER NOT NULL, latency BLOB NOT NULL, probability BLOB NOT NULL,
    PRIMARY KEY (resolution, start, source, version));
CREATE TABLE feature_counts (
    hour INTEGER NOT NULL, version TEXT NOT NULL, feature TEXT NOT NULL, bin INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (hour, version, feature, bin));
"""


def test_replicas_starting_at_once_create_the_postgresql_schema_once(postgres_url):
    import threading

    import psycopg

    stores = [PostgresStore(postgres_url, f"replica-{i}") for i in range(4)]
    barrier, errors = threading.Barrier(len(stores)), []

    def start(store):
        barrier.wait(timeout=30)
        try:
            store.open()
            store.write(rows([1.0]), {})
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert stores[0].raw_count() == 4
        with psycopg.connect(postgres_url) as connection:
            versions = connection.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, POSTGRES_SCHEMA_VERSION + 1)]
    finally:
        for store in stores:
            store.close()


def test_a_postgresql_store_with_a_newer_schema_is_refused(postgres_url):
    import psycopg

    PostgresStore(postgres_url, "a").open()
    with psycopg.connect(postgres_url) as connection:
        connection.execute("INSERT INTO schema_version VALUES (99)")
    store = PostgresStore(postgres_url, "b")
    with pytest.raises(StoreUnavailable, match="schema 99, newer"):
        store.open()
    store.close()


def test_an_unreachable_postgresql_server_is_a_reason_not_a_crash(postgres_server):
    from tests.helpers import free_port

    store = PostgresStore(f"postgresql://someone:s3cret-pass@127.0.0.1:{free_port()}/nothing", "a")
    with pytest.raises(StoreUnavailable) as failure:
        store.open()
    store.close()
    assert "PostgreSQL failed" in str(failure.value) and "s3cret" not in str(failure.value)
    assert store.name.startswith("postgresql://127.0.0.1:") and "someone" not in store.name


def test_a_version_1_postgresql_store_is_migrated_and_keeps_its_rows(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        connection.execute(MIGRATIONS[1])
        connection.execute("INSERT INTO schema_version VALUES (1)")
        for _ in range(2):  # rows as a replica of version 1 wrote them
            connection.execute(
                "INSERT INTO predictions (ts, source, version, latency_ms, outcome, probability, label, features, "
                "replica) VALUES (1.0, 'api', 'v1', 0.1, 'ok', 0.5, 'Yes', '{}', 'a')"
            )
    store = PostgresStore(postgres_url, "b")
    store.write(rows([1.0] * 3), {})
    assert store.raw_count() == 5
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT max(version) FROM schema_version").fetchone()[0] == POSTGRES_SCHEMA_VERSION
        assert connection.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0  # the table version 2 added
        assert connection.execute("SELECT count(*) FROM scores").fetchone()[0] == 0  # version 3's
    store.close()
