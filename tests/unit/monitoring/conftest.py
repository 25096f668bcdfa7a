"""The monitoring store under test, once on SQLite and once on PostgreSQL."""

import pytest

from lib.monitoring.store import MonitoringStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An opened store written as replica r1 (test_store.py has its own, for two replicas)."""
    if request.param == "sqlite":
        made = MonitoringStore(tmp_path / "monitoring.sqlite3", "r1")
    else:
        from lib.monitoring.postgres import PostgresStore

        made = PostgresStore(request.getfixturevalue("postgres_url"), "r1")
    made.open()
    yield made
    made.close()
