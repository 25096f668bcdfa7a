"""PostgreSQL as the shared store of replicas: the database schema, its migrations, and
what a failure may say.

One schema for everything replicas share (the prediction log, its rollups, retraining
jobs and their slot), versioned in `schema_version`. `migrate` runs in one transaction
under an advisory lock: replicas starting at once migrate it once; the others wait, then
find it done. psycopg is imported by the callers, only when PostgreSQL is configured.
"""

from __future__ import annotations

from typing import Any

# pg_advisory_xact_lock keys: "pdm" + a number, so they do not meet another application's.
MIGRATION_LOCK = 0x70646D01


class SchemaTooNew(Exception):
    """The database was migrated by a newer version of the product."""


# From version n - 1 to n. Version 1: the monitoring store (the SQLite store's schema 2);
# version 2: retraining jobs and the one job slot shared by replicas; version 3: prediction
# ids and entities on raw rows, and the scores outcomes are matched to; version 4: business
# values on raw rows and scores, the tallies of labelled predictions, state shared by
# replicas, a shadow challenger's scores.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE predictions (
    id bigserial PRIMARY KEY, ts double precision NOT NULL, source text NOT NULL, version text NOT NULL,
    latency_ms double precision NOT NULL, outcome text NOT NULL, error_kind text, probability double precision,
    label text, features text, replica text NOT NULL);
CREATE INDEX predictions_ts ON predictions (ts);
CREATE INDEX predictions_errors ON predictions (ts) WHERE outcome <> 'ok';
CREATE TABLE stats (
    resolution integer NOT NULL, start bigint NOT NULL, source text NOT NULL, version text NOT NULL,
    replica text NOT NULL, count bigint NOT NULL, errors bigint NOT NULL, latency bytea NOT NULL,
    probability bytea NOT NULL, PRIMARY KEY (resolution, start, source, version, replica));
CREATE TABLE feature_counts (
    hour bigint NOT NULL, version text NOT NULL, feature text NOT NULL, bin integer NOT NULL,
    replica text NOT NULL, count bigint NOT NULL, PRIMARY KEY (hour, version, feature, bin, replica));
""",
    2: """
CREATE TABLE jobs (
    id text PRIMARY KEY, replica text NOT NULL, state jsonb NOT NULL, log jsonb NOT NULL DEFAULT '[]',
    lease_until double precision NOT NULL, cancel_requested_by text);
CREATE TABLE job_slot (slot integer PRIMARY KEY CHECK (slot = 1), job_id text NOT NULL);
""",
    3: """
ALTER TABLE predictions ADD COLUMN prediction_id bigint;
ALTER TABLE predictions ADD COLUMN entity text;
CREATE INDEX predictions_prediction_id ON predictions (prediction_id) WHERE prediction_id IS NOT NULL;
CREATE TABLE scores (
    prediction_id bigint PRIMARY KEY, ts double precision NOT NULL, version text NOT NULL, source text NOT NULL,
    entity text, probability double precision NOT NULL, replica text NOT NULL);
CREATE INDEX scores_entity ON scores (entity, ts) WHERE entity IS NOT NULL;
CREATE TABLE outcomes (
    prediction_id bigint PRIMARY KEY, outcome integer NOT NULL, observed_at double precision NOT NULL,
    received_at double precision NOT NULL, corrections integer NOT NULL DEFAULT 0, previous integer,
    replica text NOT NULL);
""",
    4: """
ALTER TABLE predictions ADD COLUMN value double precision;
ALTER TABLE scores ADD COLUMN value double precision;
CREATE TABLE outcome_stats (
    day bigint NOT NULL, version text NOT NULL, replica text NOT NULL, tally bytea NOT NULL,
    PRIMARY KEY (day, version, replica));
CREATE TABLE shared_state (
    name text PRIMARY KEY, state text NOT NULL, version text NOT NULL, reason text,
    changed_at double precision NOT NULL);
CREATE TABLE shadow_scores (
    prediction_id bigint PRIMARY KEY, version text NOT NULL, probability double precision NOT NULL);
""",
}
SCHEMA_VERSION = max(MIGRATIONS)


def describe(url: str) -> str:
    """postgresql://host:port/db, without user or password: what /health may show."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "postgresql (unreadable URL)"
    return f"postgresql://{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def failure_reason(action: str, exc: Exception) -> str:
    """One line about a failure; psycopg's messages name host and port, never the password."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return f"{action} PostgreSQL failed: {first}"


def migrate(connection: Any) -> None:
    """Bring the schema to SCHEMA_VERSION under the migration lock (one transaction)."""
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
    row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the PostgreSQL store has schema {current}, newer than this version knows ({SCHEMA_VERSION}): "
            "upgrade this replica"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        connection.execute(MIGRATIONS[version])
        connection.execute("INSERT INTO schema_version VALUES (%s)", (version,))
