"""The prediction log: every prediction and failed request, written off the hot path.

A prediction only appends a tuple to a queue (about a microsecond); a background thread
turns the queue into rows and rollups and writes them to the monitoring store every
FLUSH_INTERVAL_S, in one transaction. If the store cannot be written (file deleted,
read-only, disk full...), predictions go on, the state says `degraded` with the reason,
up to MAX_BACKLOG_ROWS rows wait in memory (older ones are dropped and counted), and
the writer tries again every RETRY_S until the store can be written again.

With a spool folder (the process-wide log has KPI_DIR/spool), each single input is also
appended to a local file (lib.monitoring.spool), deleted once written: a process killed
between answering and writing leaves it, and the next process on that folder replays it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib.monitoring.counters import WrittenCounters
from lib.monitoring.drift import feature_report, probability_report
from lib.monitoring.rows import (
    SOURCES,
    BuiltRows,
    Failures,
    QueuedItem,
    RowBuilder,
    ScoredRecords,
    ScoredTable,
    Source,
    numeric_bins,
)
from lib.monitoring.spool import Spool, failure_frame, record_frames, rows_of, table_frame, values_getter
from lib.monitoring.store import (
    WINDOWS,
    MonitoringStore,
    Store,
    StoreUnavailable,
)
from lib.settings import Settings, get_settings

__all__ = ["SOURCES", "Failures", "PredictionLog", "ScoredRecords", "ScoredTable", "Source", "numeric_bins"]

if TYPE_CHECKING:
    from lib.model.inference import Prediction
    from lib.model.loaded import LoadedModel
    from lib.model.validation import EncodedColumns
    from lib.monitoring.matching import OutcomeReport

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.25
RETRY_S = 1.0
PRUNE_EVERY_S = 600.0
MAX_BACKLOG_ROWS = 200_000
# Rows turned into Python objects and written per transaction. Small on purpose: a few
# thousand short-lived objects reuse the same allocator pools transaction after
# transaction, where 20,000 at once spread over new arenas that other, longer-lived
# objects then pin (a big upload left ~25 MB more resident after its session ended).
# With WAL and synchronous=NORMAL a commit costs no fsync: 2,000 is not slower than 20,000.
WRITE_MAX_ROWS = 2_000
NO_MODEL = "none"


class PredictionLog:
    """One per process (see prediction_log()): a queue, a writer thread and a store."""

    def __init__(
        self,
        store: Store | Path,
        raw_max_age_s: float,
        raw_max_rows: int,
        max_bytes: int | None = None,
        spool_dir: Path | None = None,
        batch_raw_rows: int | None = None,
    ) -> None:
        """store: a Store, or the path of a SQLite file; spool_dir: where single inputs are
        spooled until written (None: not spooled); batch_raw_rows: raw rows kept of each
        batch (LOG_BATCH_RAW_ROWS; None: every row)."""
        self.batch_raw_rows = batch_raw_rows
        self.store: Store = MonitoringStore(store) if isinstance(store, Path) else store
        self._spool: Spool | None = None
        if spool_dir is not None:
            try:
                self._spool = Spool(spool_dir)
            except OSError as exc:  # predictions go on, only without the crash guarantee
                logger.warning("the prediction spool cannot be used (%s): a crash may lose queued rows", exc)
        self._spool_lock = threading.Lock()
        self._orphans_replayed = False
        self._values: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {}  # per model version
        self.replayed_rows = 0
        self.key: tuple[str, str] | None = None  # the settings it was made for (see prediction_log)
        self.raw_max_age_s, self.raw_max_rows = raw_max_age_s, raw_max_rows
        self.max_bytes = max_bytes
        self.trimmed_rows = 0
        self._queue: deque[QueuedItem] = deque()
        self._backlog: list[QueuedItem] = []
        self._flush_lock = threading.Lock()
        self._builder = RowBuilder()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._retry_at = 0.0
        self._next_prune = 0.0
        self.state = "ok"  # or "degraded": the store cannot be written, rows wait in memory
        self.reason: str | None = None
        self.since = time.time()
        self.written_rows = self.dropped_rows = 0
        self.counted_rows = 0  # batch rows in the rollups only (LOG_BATCH_RAW_ROWS)
        self.counters = WrittenCounters()  # what landed in the store, for Prometheus
        self.last_write_at: float | None = None

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for PostgreSQL)."""
        return getattr(self.store, "path", None)

    # --- the hot path: append and return ----------------------------------------------

    def log_records(
        self,
        model: LoadedModel,
        source: Source,
        records: Sequence[dict[str, Any]],
        predictions: Sequence[Prediction],
        latency_ms: float,
        ids: Sequence[int] = (),
        entities: Sequence[str | None] = (),
    ) -> None:
        """Scored records (dicts as submitted); latency_ms is each one's share of the call;
        ids and entities: each one's prediction id and entity (lib.monitoring.ids)."""
        item = ScoredRecords(time.time(), source, model, latency_ms, records, predictions, ids, entities)
        if self._spool is None:
            self._queue.append(item)
        else:
            getter = self._values.get(model.version)
            if getter is None:
                getter = self._values[model.version] = values_getter(model.schema.names)
            frames = record_frames(
                item.at, source, model.version, latency_ms, records, predictions, getter, ids, entities
            )
            self._append_spooled(self._spool, item, frames, model.version, model.schema.names)
        self._ensure_thread()

    def _append_spooled(
        self, spool: Spool, item: QueuedItem, frames: bytes, version: str | None = None, names: list[str] | None = None
    ) -> None:
        """Queue and spool together: the writer rotates the spool and drains the queue
        under the same lock, so a spooled line and its queued item go to the same write."""
        with self._spool_lock:
            self._queue.append(item)
            try:
                spool.append(frames, item.rows, version, names)
            except OSError:  # a full disk must not fail a prediction
                spool.skipped_rows += item.rows

    def log_columns(
        self,
        model: LoadedModel,
        source: Source,
        columns: EncodedColumns,
        probabilities: np.ndarray,
        labels: Sequence[str] | np.ndarray,
        latency_ms: float,
        texts: dict[str, list[Any]] | None = None,
        *,
        batch_rows: int | None = None,
        batch_offset: int = 0,
        ids: np.ndarray | None = None,
        entities: list[str | None] | None = None,
    ) -> None:
        """A scored table (validated columns), one logged row per scored row; queued in
        slices of WRITE_MAX_ROWS, so the writer turns a big upload into rows a slice at a time.

        texts: the categories as sent, per feature (an API batch): logged as they are, and
        the batch spooled (one frame) like single API records. Without them (an upload) a
        category training never saw is logged as "(unseen)" and nothing is spooled.
        batch_rows, batch_offset: the table is the part from `batch_offset` of a batch of
        (at most) `batch_rows` rows, logged chunk by chunk as it is scored; the batch rule
        (keep_every) applies to the whole batch. ids, entities: each row's prediction id and
        entity (kept in the scores, whether the row is kept raw or not).
        """
        now = time.time()
        spool = self._spool if texts is not None else None
        keep_every = self.keep_every(columns.rows if batch_rows is None else batch_rows)
        step = WRITE_MAX_ROWS * max(keep_every, 1)  # a slice keeps WRITE_MAX_ROWS raw rows at most
        for start in range(0, columns.rows, step):
            stop = min(start + step, columns.rows)
            part = columns.slice(start, stop) if (start, stop) != (0, columns.rows) else columns
            part_texts = None if texts is None else {name: values[start:stop] for name, values in texts.items()}
            first_kept = -(batch_offset + start) % keep_every if keep_every else 0
            item = ScoredTable(
                now, source, model, latency_ms, part, probabilities[start:stop], labels[start:stop], part_texts,
                keep_every, first_kept, None if ids is None else ids[start:stop],
                None if entities is None else entities[start:stop],
            )  # fmt: skip
            if spool is None or part_texts is None:
                self._queue.append(item)
                continue
            values = [part.numbers[s.name] if s.is_numeric else part_texts[s.name] for s in model.schema.features]
            frame = table_frame(
                now,
                source,
                model.version,
                latency_ms,
                item.probabilities,
                list(item.labels),
                model.schema.names,
                values,
                item.ids,
                item.entities,
            )
            self._append_spooled(spool, item, frame)
        self._ensure_thread()

    def keep_every(self, rows: int) -> int:
        """The batch rule: a batch of up to LOG_BATCH_RAW_ROWS rows is kept whole as raw
        rows; a bigger one keeps every k-th row (k = rows / LOG_BATCH_RAW_ROWS, rounded up),
        at most LOG_BATCH_RAW_ROWS of them (0: none). Every row, kept or not, counts in the
        rollups, the drift counts and the Prometheus counters."""
        cap = self.batch_raw_rows
        if cap is None or rows <= cap:
            return 1
        return -(-rows // cap) if cap else 0

    def log_failure(self, source: Source, version: str | None, latency_ms: float, kind: str, rows: int = 1) -> None:
        """A request (or `rows` inputs) that produced no prediction, and why, as a short code."""
        item = Failures(time.time(), source, version or NO_MODEL, latency_ms, kind, rows)
        if self._spool is None:
            self._queue.append(item)
        else:
            self._append_spooled(
                self._spool, item, failure_frame(item.at, source, item.version, latency_ms, kind, rows)
            )
        self._ensure_thread()

    # --- the writer -------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self.start()

    def start(self) -> None:
        """Open (create) the store and start the writer; idempotent."""
        with self._thread_lock:
            if self._thread is not None:
                return
            self._try_open()
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Write what is queued and stop the writer (tests, shutdown, a changed setting)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self.flush(force=True)
        if self._spool is not None:  # what could not be written stays for the next process
            self._spool.close(keep=bool(self._backlog or self._queue))
            self._spool = None
        self.store.close()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            try:
                self.flush()
                if time.time() >= self._next_prune and self.state == "ok":
                    self.prune()
            except Exception:  # the writer must never die: log it and carry on
                logger.exception("the prediction log writer failed")

    def _try_open(self) -> bool:
        try:
            self.store.open()
        except StoreUnavailable as exc:
            self._degrade(str(exc))
            return False
        self._recover()
        return True

    def _degrade(self, reason: str) -> None:
        if self.state != "degraded" or self.reason != reason:
            logger.warning("monitoring store unavailable: %s (predictions continue)", reason)
            self.state, self.reason, self.since = "degraded", reason, time.time()
        self._retry_at = time.time() + RETRY_S

    def _recover(self) -> None:
        if self.state != "ok":
            logger.info("monitoring store available again after: %s", self.reason)
            self.state, self.reason, self.since = "ok", None, time.time()

    def flush(self, force: bool = False) -> None:
        """Write everything queued so far (tests call this to read their own writes)."""
        with self._flush_lock:
            if self.state == "degraded" and time.time() < self._retry_at and not force:
                return  # rows wait in the queue until the next attempt (bounded then)
            self._drain_queue()
            try:
                self.store.check_writable()
                self._replay_orphans()
            except StoreUnavailable as exc:
                self._degrade(str(exc))
                self._bound_backlog()
                return
            if not self._backlog:
                if self.state == "degraded":
                    self._try_open()
                if self._spool is not None:
                    self._spool.written()
                return
            while self._backlog:  # a transaction per WRITE_MAX_ROWS rows: a big upload never
                group = self._leading_items()  # becomes a million Python objects at once
                rows, feature_counts, counted = self._rows_or_drop_bad_items(group)
                try:
                    self.store.write(rows, feature_counts, counted)
                except StoreUnavailable as exc:
                    self._degrade(str(exc))
                    self._bound_backlog()
                    return
                del self._backlog[: len(group)]
                self.counters.add(rows, counted)
                self.written_rows += len(rows)
                self.counted_rows += sum(len(part.probabilities) for part in counted)
                self.last_write_at = time.time()
                self._recover()
            if self._spool is not None:  # everything drained so far is in the store
                self._spool.written()
            if self.max_bytes is not None:  # checked at every write: a flood fills a disk in seconds
                try:
                    self.trimmed_rows += self.store.trim_to_bytes(self.max_bytes)
                except StoreUnavailable as exc:
                    self._degrade(str(exc))

    def _drain_queue(self) -> None:
        if self._spool is None:
            while self._queue:
                self._backlog.append(self._queue.popleft())
            return
        with self._spool_lock:
            self._spool.rotate()
            self._backlog.extend(self._queue)
            self._queue.clear()

    def _replay_orphans(self) -> None:
        """Once per process: write what dead processes spooled and never wrote, one
        segment per transaction (raises StoreUnavailable: tried again at the next flush)."""
        if self._spool is None or self._orphans_replayed:
            return
        for token, paths in self._spool.orphans():
            for path in paths:
                rows = rows_of(path.read_bytes())
                if rows:
                    self.store.write(rows, {})
                    self.counters.add(rows)
                    self.replayed_rows += len(rows)
                    logger.info("wrote %d predictions a stopped process had spooled", len(rows))
                self._spool.forget(token, path)
        self._orphans_replayed = True

    def _leading_items(self) -> list[QueuedItem]:
        """The first backlog items, up to WRITE_MAX_ROWS rows (at least one item; a batch
        slice holds at most WRITE_MAX_ROWS raw rows, and more counted only)."""
        group: list[QueuedItem] = []
        rows = 0
        for item in self._backlog:
            if group and rows + item.rows > WRITE_MAX_ROWS:
                break
            group.append(item)
            rows += item.rows
        return group

    def _rows_or_drop_bad_items(self, items: list[QueuedItem]) -> BuiltRows:
        """Rows of the items; an item that cannot become rows (a bug) is dropped and
        counted, so one bad item never blocks the log."""
        try:
            return self._builder.rows(items)
        except Exception:
            logger.exception("a logged prediction cannot be written; dropping it")
        good = []
        for item in items:
            try:
                self._builder.rows([item])
                good.append(item)
            except Exception:
                self.dropped_rows += item.rows
        return self._builder.rows(good)

    def _bound_backlog(self) -> None:
        total = sum(item.rows for item in self._backlog)
        while total > MAX_BACKLOG_ROWS and len(self._backlog) > 1:
            dropped = self._backlog.pop(0).rows
            total -= dropped
            self.dropped_rows += dropped

    def prune(self, now: float | None = None) -> dict[str, int]:
        self._next_prune = time.time() + PRUNE_EVERY_S
        try:
            return self.store.prune(now, self.raw_max_age_s, self.raw_max_rows)
        except StoreUnavailable as exc:
            self._degrade(str(exc))
            return {}

    # --- reading (each raises StoreUnavailable with the reason) ------------------------

    def _readable(self) -> Store:
        if self.state == "ok" and not self.store.readable():  # nothing logged yet: an empty store reads as zeros
            self._try_open()
        return self.store

    def system(self, window: str) -> dict[str, Any]:
        return self._readable().system(window)

    def totals(self) -> dict[str, int]:
        return self._readable().totals()

    def recent_errors(self, limit: int = 20) -> list[dict[str, Any]]:
        return self._readable().recent_errors(limit)

    def drift(self, model: LoadedModel, window: str, features: Sequence[str] | None = None) -> dict[str, Any]:
        """PSI per feature and for the predicted probability, served version, recent window."""
        since = time.time() - WINDOWS[window]
        store = self._readable()
        recent = store.feature_counts(model.version, since)
        distributions = model.kpis.distributions
        specs = {spec.name: spec for spec in model.schema.features}
        return {
            "window": window,
            "model_version": model.version,
            "features": {
                name: feature_report(distributions[name], specs[name].categories or [], recent.get(name))
                for name in (features if features is not None else model.schema.names)
            },
            "probability": probability_report(
                model.kpis.threshold_table, store.probability_counts(model.version, since)
            ),
        }

    def record_outcomes(self, model: LoadedModel, items: list[Any], first_position: int = 0) -> OutcomeReport:
        """Check outcome rows (a JSON list's objects, or csv_items' with first_position 1)
        against the served model's dataset, match and record them (raises StoreUnavailable)."""
        from lib.monitoring.outcomes import OutcomeChecker

        received_at = time.time()
        checked = OutcomeChecker(model.schema, received_at).check(items, first_position)
        return self.store.record_outcomes(checked.rows, checked.refused, received_at)

    def live(self, model: LoadedModel, window: str) -> dict[str, Any]:
        """Realised performance of the served version over a window (lib.monitoring.live)."""
        from lib.monitoring.live import live_report

        return live_report(self._readable(), model, window)

    def pending_rows(self) -> int:
        """Rows logged and not written yet (in the queue or waiting for the store)."""
        return sum(item.rows for item in [*self._queue, *self._backlog])

    def status(self) -> dict[str, Any]:
        """The store's state as /health reports it (starting the writer, which opens the store)."""
        self._ensure_thread()
        return {
            "ok": self.state == "ok",
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "backend": self.store.backend,
            "path": self.store.name,
            "replica": self.store.replica,
            "pending_rows": self.pending_rows(),
            "written_rows": self.written_rows,
            "counted_rows": self.counted_rows,
            "batch_raw_rows": self.batch_raw_rows,
            "dropped_rows": self.dropped_rows,
            "trimmed_rows": self.trimmed_rows,
            "replayed_rows": self.replayed_rows,
            "unspooled_rows": self._spool.skipped_rows if self._spool is not None else None,
            "max_bytes": self.max_bytes,
            "last_write_at": self.last_write_at,
        }


def open_store(settings: Settings) -> Store:
    """The store MONITORING_DB names (not opened yet: the log's writer opens it)."""
    if settings.monitoring_postgres:
        from lib.monitoring.postgres import PostgresStore

        return PostgresStore(settings.monitoring_postgres, settings.replica_id)
    return MonitoringStore(settings.monitoring_db, settings.replica_id)


def store_key(settings: Settings) -> tuple[str, str]:
    """What identifies the configured store: a changed setting means a new one."""
    return settings.monitoring_postgres or str(settings.monitoring_db), settings.replica_id


_current: PredictionLog | None = None
_current_lock = threading.Lock()


def prediction_log(settings: Settings | None = None) -> PredictionLog:
    """The process-wide log for the configured store (a new one if the setting changed)."""
    global _current
    settings = settings or get_settings()
    key, max_bytes, batch_raw_rows = wanted = (
        store_key(settings),
        settings.monitoring_max_mb * 1_000_000,
        settings.log_batch_raw_rows,
    )
    log = _current
    if log is not None and (log.key, log.max_bytes, log.batch_raw_rows) == wanted:
        return log
    with _current_lock:
        log = _current
        if log is not None and (log.key, log.max_bytes, log.batch_raw_rows) == wanted:
            return log
        if _current is not None:
            _current.stop()
        _current = PredictionLog(
            open_store(settings),
            settings.monitoring_raw_max_days * 86_400,
            settings.monitoring_raw_max_rows,
            max_bytes,
            settings.kpi_dir / "spool",
            batch_raw_rows,
        )
        _current.key = key
        return _current


def pending_rows() -> int:
    """Rows this process's log has not written yet (0 when nothing was logged)."""
    log = _current
    return log.pending_rows() if log is not None else 0


def close_prediction_log() -> None:
    """Write what is queued and stop this process's log (before its folder goes away)."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.stop()
            _current = None


def _flush_at_exit() -> None:
    if _current is not None:
        _current.stop()


atexit.register(_flush_at_exit)
