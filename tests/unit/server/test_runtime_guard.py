"""The session janitor gives memory back after sessions close, once their rows are logged."""

import lib.monitoring.log
import lib.server.runtime_guard
from lib.server.runtime_guard import RELEASE_PASSES, SessionJanitor


def test_release_passes_wait_for_the_prediction_log_to_write_the_closed_sessions_rows(monkeypatch):
    released, pending = [], [50_000]
    monkeypatch.setattr(lib.server.runtime_guard, "release_memory", lambda: released.append(pending[0]))
    monkeypatch.setattr(lib.monitoring.log, "pending_rows", lambda: pending[0])  # read when a pass runs
    janitor = SessionJanitor()
    janitor.give_memory_back()
    assert released == []  # nothing closed, nothing owed
    janitor._release_passes = RELEASE_PASSES  # as a sweep that closed a session sets it
    for _ in range(3 * RELEASE_PASSES):  # the log is slow: the passes keep coming
        janitor.give_memory_back()
    pending[0] = 0  # the log has written the rows: what they held can now go back
    for _ in range(3 * RELEASE_PASSES):
        janitor.give_memory_back()
    assert released.count(50_000) == 3 * RELEASE_PASSES and released.count(0) == RELEASE_PASSES
