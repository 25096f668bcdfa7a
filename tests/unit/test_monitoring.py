"""The monitoring store: rollup percentiles against numpy, counts, retention."""

import sqlite3

import numpy as np
import pytest

from lib.monitoring import LATENCY_EDGES_MS, LoggedPrediction, MonitoringStore

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    store = MonitoringStore(tmp_path / "kpis" / "monitoring.sqlite3")
    yield store
    store.close()


def rows(latencies, start=NOW - 120, source="api", errors=0):
    return [
        LoggedPrediction(
            ts=start + i * 0.01,
            source=source,
            version="v1",
            latency_ms=float(latency),
            outcome="error" if i < errors else "ok",
            probability=0.3,
            feature_bins={"tenure": i % 3},
        )
        for i, latency in enumerate(latencies)
    ]


def test_rollup_percentiles_agree_with_numpy_within_one_bucket(store):
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(mean=0.0, sigma=1.0, size=5000)
    for chunk in np.array_split(latencies, 7):  # several writes merge into the same minutes
        store.write(rows(chunk))
    summary = store.system(window_s=3600, now=NOW)
    assert summary["requests"] == 5000
    for q in (50, 95, 99):
        exact = float(np.percentile(latencies, q))
        estimate = summary["latency_ms"][f"p{q}"]
        upper = LATENCY_EDGES_MS[np.searchsorted(LATENCY_EDGES_MS, exact, side="left")]
        assert exact <= estimate <= upper * 1.0000001, (q, exact, estimate)
        assert estimate / exact < 1.18  # the documented resolution: one bucket, about 17 %


def test_counts_errors_and_window(store):
    store.write(rows([1.0] * 10, errors=3))
    store.write(rows([2.0] * 5, start=NOW - 7200, source="ui"))
    last_hour = store.system(window_s=3600, now=NOW)
    assert (last_hour["requests"], last_hour["errors"]) == (10, 3)
    assert last_hour["by_source"] == {"api": 10}
    assert store.system(window_s=3 * 3600, now=NOW)["requests"] == 15
    assert store.raw_count() == 15


def test_retention_prunes_raw_rows_by_age_and_count_and_rollups_by_age(store):
    store.write(rows([1.0] * 4, start=NOW - 40 * 86_400))  # older than 30 days
    store.write(rows([1.0] * 10, start=NOW - 60))
    removed = store.prune(now=NOW, raw_max_rows=6)
    assert removed["raw_by_age"] == 4 and removed["raw_by_count"] == 4
    assert store.raw_count() == 6
    assert store.system(window_s=50 * 86_400, now=NOW)["requests"] == 14  # rollups kept 90 days
    removed = store.prune(now=NOW + 100 * 86_400)
    assert removed["rollup_minutes"] >= 2
    assert store.system(window_s=200 * 86_400, now=NOW + 100 * 86_400)["requests"] == 0


def test_a_failed_write_changes_nothing(store):
    store.write(rows([1.0] * 3))
    bad = rows([1.0] * 2)
    # NOT NULL source: the insert fails inside the transaction, after other rows went in
    bad.append(LoggedPrediction(ts=NOW, source=None, version="v1", latency_ms=1.0))
    with pytest.raises(sqlite3.IntegrityError):
        store.write(bad)
    assert store.raw_count() == 3
    assert store.system(window_s=3600, now=NOW)["requests"] == 3
