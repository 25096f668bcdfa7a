"""State shared by replicas through the store, one row per name: the decay alert's (a
change of state is claimed by exactly one caller, the one whose write changed it, so one
replica sends its notification) and the shadow challenger's (which version, since when,
set by whom). The same SQL on SQLite and PostgreSQL (`?` placeholders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

# Upsert a state; CLAIM only if it differs, its row count saying whether this caller changed it.
SET = (
    "INSERT INTO shared_state (name, state, version, reason, changed_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET state = excluded.state, version = excluded.version, "
    "reason = excluded.reason, changed_at = excluded.changed_at"
)
CLAIM = SET + " WHERE shared_state.state <> excluded.state"


class SharedState(NamedTuple):
    state: str
    version: str
    reason: str | None  # the decay alert's reason; who set the shadow
    changed_at: float


class StateTransaction(Protocol):
    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str, parameters: Sequence[Any]) -> int: ...


def claim_transition(
    transaction: StateTransaction, name: str, state: str, version: str, reason: str | None, at: float
) -> str | None:
    """Record `state` for the alert; the state it replaces when this call changed it (""
    when there was none), else None (already in that state, or another replica was first)."""
    before = transaction.query("SELECT state FROM shared_state WHERE name = ?", [name])
    changed = transaction.execute(CLAIM, [name, state, version, reason, at])
    if changed != 1:
        return None
    return before[0][0] if before else ""
