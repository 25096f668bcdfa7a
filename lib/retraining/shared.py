"""Retraining jobs shared by replicas, in PostgreSQL (when MONITORING_DB names one).

One row per job (its state as JSON, the tail of its log, the replica running it and a
lease), and a one-row table `job_slot` naming the job that holds the slot. Starting a
job takes the slot under an advisory lock: on any replica, a second start while a job
runs gets that job back (POST /train answers 409 with its id). Any replica reads any job.

The job's own process writes its state here as it goes and renews its lease every
lease / 3 seconds. A job whose lease ran out without a final state is reported failed,
by whichever replica reads it first: its process, or the machine running it, is gone.
A cancel asked on another replica is recorded here; the job reads it at its next step.

Short-lived connections (a job is started or read a few times a second at most).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lib.storage.postgres import SchemaTooNew, failure_reason, migrate

T = TypeVar("T")

JOB_SLOT_LOCK = 0x70646D03
FINAL = ("succeeded", "failed", "cancelled")
# A new job's first lease: its process writes (and so renews) within a second or two of
# starting, but a busy machine may take longer to start it than one lease.
FIRST_LEASE_S = 60.0
CONNECT_TIMEOUT_S = 3


class SharedJobsUnavailable(Exception):
    """The shared job board cannot be reached; the message says why."""


class SharedJobs:
    def __init__(self, url: str, replica: str, lease_s: float) -> None:
        self.url, self.replica, self.lease_s = url, replica, lease_s
        self._migrated = False

    def _run(self, action: str, work: Callable[[Any], T]) -> T:
        """work(connection) in one transaction."""
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
                if not self._migrated:
                    migrate(connection)
                    connection.commit()
                    self._migrated = True
                return work(connection)
        except psycopg.Error as exc:
            raise SharedJobsUnavailable(failure_reason(action, exc)) from None
        except SchemaTooNew as exc:
            raise SharedJobsUnavailable(str(exc)) from None

    # --- starting --------------------------------------------------------------------

    def claim(self, state: dict[str, Any]) -> dict[str, Any] | None:
        """Record the new job and give it the slot; or, when a live job holds the slot,
        change nothing and return that job's state."""

        def work(connection: Any) -> dict[str, Any] | None:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (JOB_SLOT_LOCK,))
            holder = connection.execute("SELECT job_id FROM job_slot").fetchone()
            if holder is not None:
                running = _read(connection, holder[0])
                if running is not None and running["status"] not in FINAL:
                    return running
                connection.execute("DELETE FROM job_slot")
            connection.execute(
                "INSERT INTO jobs (id, replica, state, lease_until) VALUES (%s, %s, %s, %s)",
                (state["id"], self.replica, json.dumps(state), time.time() + max(self.lease_s, FIRST_LEASE_S)),
            )
            connection.execute("INSERT INTO job_slot VALUES (1, %s)", (state["id"],))
            return None

        return self._run("starting a job in", work)

    # --- the job's own writes ----------------------------------------------------------

    def write(self, state: dict[str, Any], log: list[str] | None = None) -> None:
        """The job's state (and log tail) as the job process or its replica knows it; renews
        the lease. A final state frees the slot."""

        def work(connection: Any) -> None:
            connection.execute(
                "UPDATE jobs SET state = %s, lease_until = %s, log = coalesce(%s, log) WHERE id = %s",
                (
                    json.dumps(state),
                    time.time() + self.lease_s,
                    None if log is None else json.dumps(log),
                    state["id"],
                ),
            )
            if state.get("status") in FINAL:
                connection.execute("DELETE FROM job_slot WHERE job_id = %s", (state["id"],))

        self._run("recording a job in", work)

    def renew(self, job_id: str) -> None:
        self._run(
            "renewing a job's lease in",
            lambda c: c.execute("UPDATE jobs SET lease_until = %s WHERE id = %s", (time.time() + self.lease_s, job_id)),
        )

    # --- reading ---------------------------------------------------------------------

    def read(self, job_id: str) -> dict[str, Any] | None:
        """The job's state with its log tail; a lapsed lease is recorded as a failure."""
        return self._run("reading a job from", lambda connection: _read(connection, job_id))

    def active(self) -> dict[str, Any] | None:
        """The job holding the slot, if it still runs."""

        def work(connection: Any) -> dict[str, Any] | None:
            holder = connection.execute("SELECT job_id FROM job_slot").fetchone()
            state = _read(connection, holder[0]) if holder is not None else None
            return state if state is not None and state["status"] not in FINAL else None

        return self._run("reading jobs from", work)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        def work(connection: Any) -> list[dict[str, Any]]:
            ids = [row[0] for row in connection.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT %s", (limit,))]
            return [state for state in (_read(connection, job_id) for job_id in ids) if state is not None]

        return self._run("reading jobs from", work)

    # --- cancelling ------------------------------------------------------------------

    def request_cancel(self, job_id: str, requested_by: str) -> None:
        self._run(
            "cancelling a job in",
            lambda c: c.execute(
                "UPDATE jobs SET cancel_requested_by = coalesce(cancel_requested_by, %s) WHERE id = %s",
                (requested_by, job_id),
            ),
        )

    def cancel_requested_by(self, job_id: str) -> str | None:
        def work(connection: Any) -> str | None:
            row = connection.execute("SELECT cancel_requested_by FROM jobs WHERE id = %s", (job_id,)).fetchone()
            return row[0] if row else None

        return self._run("reading a job from", work)


def _read(connection: Any, job_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        "SELECT state, log, lease_until, replica, cancel_requested_by FROM jobs WHERE id = %s", (job_id,)
    ).fetchone()
    if row is None:
        return None
    state, log, lease_until, replica, cancel = row
    if state["status"] not in FINAL and lease_until < time.time():
        state = {
            **state,
            "status": "cancelled" if cancel else "failed",
            "finished_at": _now(),
            "error": f"cancelled by {cancel}"
            if cancel
            else f"the job's lease ran out: its process, or replica {replica}, stopped before finishing",
        }
        updated = connection.execute(
            "UPDATE jobs SET state = %s WHERE id = %s AND lease_until < %s AND state->>'status' = %s",
            (json.dumps(state), job_id, time.time(), row[0]["status"]),
        ).rowcount
        if updated:
            connection.execute("DELETE FROM job_slot WHERE job_id = %s", (job_id,))
        else:  # the job wrote meanwhile: read what it wrote
            return _read(connection, job_id)
    elif state["status"] not in FINAL and cancel:
        state = {**state, "status": "cancelling"}
    return {**state, "replica": replica, "log": log}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
