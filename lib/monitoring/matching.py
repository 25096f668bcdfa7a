"""Checked outcome rows joined to the predictions they answer, and recorded (issue 18).

A row naming a prediction id must name one the store keeps (the `scores` table: every
prediction of the last 90 days); a row naming an entity answers the latest prediction
for that entity made at or before its `observed_at`. One outcome per prediction: the
same outcome sent again counts once (unchanged), a different one replaces it and counts
as a correction (the previous value and the number of corrections are kept). The same
SQL runs on SQLite and PostgreSQL (`?` placeholders, explicit casts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lib.monitoring.outcomes import OutcomeRow, RefusedRow

LOOKUP_CHUNK = 2_000  # rows per lookup query (SQLite allows 32,766 parameters)

UPSERT = (
    "INSERT INTO outcomes (prediction_id, outcome, observed_at, received_at, corrections, previous, replica) "
    "VALUES (?, ?, ?, ?, 0, NULL, ?) ON CONFLICT (prediction_id) DO UPDATE SET "
    "corrections = outcomes.corrections + CASE WHEN outcomes.outcome <> excluded.outcome THEN 1 ELSE 0 END, "
    "previous = CASE WHEN outcomes.outcome <> excluded.outcome THEN outcomes.outcome ELSE outcomes.previous END, "
    "outcome = excluded.outcome, observed_at = excluded.observed_at, received_at = excluded.received_at, "
    "replica = excluded.replica"
)


class Transaction(Protocol):
    """What a store lends the matching for one transaction."""

    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]: ...
    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass
class OutcomeReport:
    """What a batch of outcomes did; `refused` lists every row not recorded, and why."""

    received: int = 0
    new: int = 0
    unchanged: int = 0
    corrected: int = 0
    refused: list[RefusedRow] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return self.new + self.unchanged + self.corrected

    def to_dict(self, listed: int = 1000) -> dict[str, Any]:
        return {
            "received": self.received,
            "recorded": self.recorded,
            "new": self.new,
            "unchanged": self.unchanged,
            "corrected": self.corrected,
            "refused": len(self.refused),
            "refused_rows": [row.to_dict() for row in self.refused[:listed]],
        }


def _chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _values(width: int, count: int, casts: Sequence[str]) -> str:
    row = "(" + ", ".join(f"CAST(? AS {cast})" for cast in casts[:width]) + ")"
    return ", ".join([row] * count)


def _known_ids(transaction: Transaction, ids: Sequence[int]) -> set[int]:
    known: set[int] = set()
    for part in _chunks(sorted(set(ids))):
        sql = (
            f"WITH asked(pid) AS (VALUES {_values(1, len(part), ['BIGINT'])}) "
            "SELECT s.prediction_id FROM asked JOIN scores s ON s.prediction_id = asked.pid"
        )
        known.update(pid for (pid,) in transaction.query(sql, list(part)))
    return known


def _by_entity(transaction: Transaction, rows: Sequence[OutcomeRow]) -> dict[int, int]:
    """Position -> the latest prediction for the row's entity at or before its time."""
    found: dict[int, int] = {}
    casts = ["BIGINT", "TEXT", "DOUBLE PRECISION"]
    for part in _chunks(rows):
        sql = (
            f"WITH asked(position, entity, observed_at) AS (VALUES {_values(3, len(part), casts)}) "
            "SELECT asked.position, (SELECT s.prediction_id FROM scores s WHERE s.entity = asked.entity "
            "AND s.ts <= asked.observed_at ORDER BY s.ts DESC, s.prediction_id DESC LIMIT 1) FROM asked"
        )
        parameters = [value for row in part for value in (row.position, row.entity, row.observed_at)]
        found.update({position: pid for position, pid in transaction.query(sql, parameters) if pid is not None})
    return found


def _existing(transaction: Transaction, ids: Sequence[int]) -> dict[int, int]:
    outcomes: dict[int, int] = {}
    for part in _chunks(ids):
        sql = (
            f"WITH asked(pid) AS (VALUES {_values(1, len(part), ['BIGINT'])}) "
            "SELECT o.prediction_id, o.outcome FROM asked JOIN outcomes o ON o.prediction_id = asked.pid"
        )
        outcomes.update(dict(transaction.query(sql, list(part))))
    return outcomes


def record_outcomes(
    transaction: Transaction, rows: Sequence[OutcomeRow], received_at: float, replica: str, refused: list[RefusedRow]
) -> OutcomeReport:
    """Match `rows` (checked; `refused`: those the checks refused) and record them."""
    report = OutcomeReport(received=len(rows) + len(refused), refused=list(refused))
    known = _known_ids(transaction, [row.prediction_id for row in rows if row.prediction_id is not None])
    by_entity = _by_entity(transaction, [row for row in rows if row.prediction_id is None])
    matched: dict[int, OutcomeRow] = {}  # the last row naming a prediction wins
    for row in rows:
        pid = row.prediction_id if row.prediction_id is not None else by_entity.get(row.position)
        if pid is None:
            report.refused.append(
                RefusedRow(row.position, "no_prediction", "no prediction for this entity at or before observed_at")
            )
        elif row.prediction_id is not None and pid not in known:
            report.refused.append(
                RefusedRow(row.position, "unknown_prediction", "no prediction with this id is kept (90 days)")
            )
        else:
            if pid in matched:
                report.unchanged += 1  # named twice in one batch: counted once, the last one recorded
            matched[pid] = row
    existing = _existing(transaction, list(matched))
    writes = []
    for pid, row in matched.items():
        before = existing.get(pid)
        if before is None:
            report.new += 1
        elif before == row.outcome:
            report.unchanged += 1
            continue
        else:
            report.corrected += 1
        writes.append((pid, row.outcome, row.observed_at, received_at, replica))
    if writes:
        transaction.execute_many(UPSERT, writes)
    report.refused.sort(key=lambda refusal: refusal.position)
    return report
