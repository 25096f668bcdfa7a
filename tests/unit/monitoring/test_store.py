"""The monitoring store: rollups against numpy, counts per window, source and version, retention,
atomic writes, and a file from another schema refused."""

import sqlite3

import numpy as np
import pytest

from lib.monitoring.rollups import HOUR, LATENCY_EDGES_MS, MINUTE, LoggedRow
from lib.monitoring.store import SCHEMA_VERSION, MonitoringStore, StoreUnavailable

NOW = 1_800_000_000.0  # a minute and hour boundary: 1_800_000_000 % 3600 == 0


@pytest.fixture
def store(tmp_path):
    store = MonitoringStore(tmp_path / "kpis" / "monitoring.sqlite3")
    yield store
    store.close()


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
    with pytest.raises(StoreUnavailable, match="NOT NULL"):
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
