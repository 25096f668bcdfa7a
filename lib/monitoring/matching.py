"""Checked outcome rows joined to the predictions they answer, and recorded (issue 18).

A row naming a prediction id must name one the store keeps (the `scores` table: every
prediction of the last 90 days); a row naming an entity answers the latest prediction
for that entity made at or before its `observed_at`. One outcome per prediction: the
same outcome sent again counts once (unchanged), a different one replaces it and counts
as a correction (the previous value and the number of corrections are kept). The same
SQL runs on SQLite and PostgreSQL (`?` placeholders, explicit casts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from lib.monitoring.outcomes import OutcomeRow, RefusedRow
from lib.monitoring.tally import Tally

DAY = 86_400
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
    """What a store lends the outcome loop's writes for one transaction (`?` placeholders)."""

    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]: ...
    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def execute(self, sql: str, parameters: Sequence[Any]) -> int: ...
    def merge_tallies(self, deltas: Mapping[tuple[int, str], Tally], replica: str) -> None: ...


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


class Scored(NamedTuple):
    """What recording an outcome needs of its prediction."""

    ts: float
    version: str
    probability: float
    value: float | None
    outcome: int | None  # the outcome recorded before, if any


def scored_predictions(transaction: Transaction, ids: Sequence[int]) -> dict[int, Scored]:
    """The kept predictions among `ids`, with the outcome each already has."""
    found: dict[int, Scored] = {}
    for part in _chunks(sorted(set(ids))):
        sql = (
            f"WITH asked(pid) AS (VALUES {_values(1, len(part), ['BIGINT'])}) "
            "SELECT s.prediction_id, s.ts, s.version, s.probability, s.value, o.outcome FROM asked "
            "JOIN scores s ON s.prediction_id = asked.pid LEFT JOIN outcomes o ON o.prediction_id = s.prediction_id"
        )
        found.update({row[0]: Scored(*row[1:]) for row in transaction.query(sql, list(part))})
    return found


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


def record_outcomes(
    transaction: Transaction, rows: Sequence[OutcomeRow], received_at: float, replica: str, refused: list[RefusedRow]
) -> OutcomeReport:
    """Match `rows` (checked; `refused`: those the checks refused) and record them."""
    report = OutcomeReport(received=len(rows) + len(refused), refused=list(refused))
    scored = scored_predictions(transaction, [row.prediction_id for row in rows if row.prediction_id is not None])
    by_entity = _by_entity(transaction, [row for row in rows if row.prediction_id is None])
    scored.update(scored_predictions(transaction, [pid for pid in by_entity.values() if pid not in scored]))
    matched: dict[int, OutcomeRow] = {}  # the last row naming a prediction wins
    for row in rows:
        pid = row.prediction_id if row.prediction_id is not None else by_entity.get(row.position)
        if pid is None:
            report.refused.append(
                RefusedRow(row.position, "no_prediction", "no prediction for this entity at or before observed_at")
            )
        elif pid not in scored:
            report.refused.append(
                RefusedRow(row.position, "unknown_prediction", "no prediction with this id is kept (90 days)")
            )
        else:
            if pid in matched:
                report.unchanged += 1  # named twice in one batch: counted once, the last one recorded
            matched[pid] = row
    writes = []
    taken_back: dict[int, int] = {}  # corrected predictions: the outcome their tally counted
    for pid, row in matched.items():
        before = scored[pid].outcome
        if before is None:
            report.new += 1
        elif before == row.outcome:
            report.unchanged += 1
            continue
        else:
            report.corrected += 1
            taken_back[pid] = before
        writes.append((pid, row.outcome, row.observed_at, received_at, replica))
    if writes:
        transaction.execute_many(UPSERT, writes)
        added = {pid: outcome for pid, outcome, *_ in writes}
        transaction.merge_tallies(tally_deltas(scored, added, taken_back), replica)
    report.refused.sort(key=lambda refusal: refusal.position)
    return report


def tally_deltas(
    scored: Mapping[int, Scored], added: Mapping[int, int], taken_back: Mapping[int, int]
) -> dict[tuple[int, str], Tally]:
    """What recording outcomes changes in the tallies, per (day of the prediction, version):
    `added` prediction id -> outcome now counted; `taken_back` -> outcome counted before."""
    deltas: dict[tuple[int, str], Tally] = {}
    for outcomes, sign in ((added, 1.0), (taken_back, -1.0)):
        known = [(pid, outcome) for pid, outcome in outcomes.items() if pid in scored]
        if not known:
            continue
        predictions = [scored[pid] for pid, _ in known]
        y = np.array([outcome for _, outcome in known], dtype=np.int64)
        p = np.array([prediction.probability for prediction in predictions])
        value = np.array([np.nan if x.value is None else x.value for x in predictions])
        days = (np.array([prediction.ts for prediction in predictions]) // DAY * DAY).astype(np.int64)
        versions = np.array([prediction.version for prediction in predictions], dtype=object)
        for version in set(versions.tolist()):
            of_version = versions == version
            for day in np.unique(days[of_version]).tolist():
                rows = of_version & (days == day)
                delta = Tally.of(y[rows], p[rows], value[rows], sign)
                deltas[(day, version)] = deltas[(day, version)] + delta if (day, version) in deltas else delta
    return deltas
