"""The outcome loop's costs (issue 18): ingesting outcomes from a CSV, and reading the
realised figures as the number of labelled predictions grows.

Ingestion is timed the way POST /outcomes runs it, minus HTTP: the CSV read, every row
checked, matched to its prediction (half by prediction id, half by entity) and recorded
with its tallies, on a store holding the predictions. Its baseline, in the same run, is
the plain way: one lookup and one insert per row.

The realised figures are read from stores where 10k, 100k and 1M logged predictions
(spread over the last 7 days) all have an outcome; the baseline is the same report
computed from the joined rows, what the store does below 20,000 outcomes.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np

from bench.monitoring import _ms, _timed
from bench.timing import Measurement, summary
from lib.model_loader import LoadedModel
from lib.monitoring import live
from lib.monitoring.ids import IdAllocator, id_texts
from lib.monitoring.live import live_report
from lib.monitoring.outcomes import OutcomeChecker, csv_items
from lib.monitoring.rollups import CountedRows
from lib.monitoring.store import MonitoringStore

SIZES = (10_000, 100_000, 1_000_000)
CHUNK = 100_000
SPAN_S = 7 * 86_400


def seeded(path: Path, model: LoadedModel, rows: int, now: float) -> tuple[MonitoringStore, np.ndarray, list[str]]:
    """A store with `rows` scored predictions (kept as scores, not raw rows): their ids and entities."""
    store = MonitoringStore(path, "bench")
    rng = np.random.default_rng(rows)
    allocator = IdAllocator(tag=7)
    all_ids, entities = [], []
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        ids = allocator.many(n)
        names = [f"E{start + i:08d}" for i in range(n)]
        probabilities = rng.beta(2, 5, n)
        ts = now - 120 - SPAN_S * (1 - (start + np.arange(n)) / rows)  # the newest two minutes ago
        labels = np.where(probabilities >= model.threshold, "Yes", "No").astype(object)
        values = rng.uniform(20, 120, n)
        for first in range(0, n, 20_000):  # in several writes, as a day's traffic would be
            part = slice(first, first + 20_000)
            counted = CountedRows(float(ts[part][0]), "api", model.version, 1.0, probabilities[part], labels[part],
                                  ids[part], names[part], values[part])  # fmt: skip
            store.write([], {}, [counted])
        all_ids.append(ids)
        entities += names
    return store, np.concatenate(all_ids), entities


def outcome_csv(model: LoadedModel, ids: np.ndarray, entities: list[str], now: float) -> bytes:
    """Half the rows by prediction id with an ISO 8601 time, half by entity with epoch
    seconds; each observed at its own second of the last minute (after every prediction)."""
    rng = np.random.default_rng(len(ids))
    labels = np.where(rng.random(len(ids)) < 0.3, model.schema.positive_label, model.schema.negative_label)
    observed = (now - rng.uniform(0, 60, len(ids))).astype(np.int64)
    iso = np.datetime_as_string(observed.astype("datetime64[s]"), unit="s")
    half = len(ids) // 2
    id_column = model.schema.id_columns[0]
    lines = [f"prediction_id,{id_column},outcome,observed_at"]
    lines += [
        f"{text},,{label},{at}Z"
        for text, label, at in zip(id_texts(ids[:half]), labels[:half], iso[:half], strict=True)
    ]
    lines += [
        f",{name},{label},{at}" for name, label, at in zip(entities[half:], labels[half:], observed[half:], strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def ingest(store: MonitoringStore, model: LoadedModel, raw: bytes, limit: int) -> int:
    """What POST /outcomes does with a CSV body."""
    received_at = time.time()
    checked = OutcomeChecker(model.schema, received_at).check(csv_items(raw, limit), 1)
    return store.record_outcomes(checked.rows, checked.refused, received_at).recorded


def row_by_row(store: MonitoringStore, model: LoadedModel, lines: list[str]) -> int:
    """The plain way: for each row (a CSV line), one lookup of its prediction and one insert."""
    connection = store._connect()
    positive = model.schema.positive_label
    recorded = 0
    connection.execute("BEGIN")
    for line in lines:
        text, entity, label, at = line.split(",")
        observed = float(at) if text == "" else datetime.fromisoformat(at).timestamp()
        if text:
            found = connection.execute("SELECT prediction_id FROM scores WHERE prediction_id = ?", (int(text[1:], 16),))
        else:
            found = connection.execute(
                "SELECT prediction_id FROM scores WHERE entity = ? AND ts <= ? ORDER BY ts DESC LIMIT 1",
                (entity, observed),
            )
        row = found.fetchone()
        if row is not None:
            connection.execute(
                "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, 0, NULL, 'bench')",
                (row[0], int(label == positive), observed, time.time()),
            )
            recorded += 1
    connection.execute("ROLLBACK")  # leave the store as the product would find it
    return recorded


def ingestion(model: LoadedModel, workdir: Path, quick: bool) -> list[Measurement]:
    rows = 10_000 if quick else 200_000
    now = time.time()
    rates, baseline = [], []
    for attempt in range(2 if quick else 5):
        store, ids, entities = seeded(workdir / f"ingest-{attempt}.sqlite3", model, rows, now)
        raw = outcome_csv(model, ids, entities, now)
        started = time.perf_counter()
        plain = row_by_row(store, model, raw.decode().splitlines()[1::10])  # a tenth: the plain way is slow
        baseline.append(plain / (time.perf_counter() - started))
        started = time.perf_counter()
        assert ingest(store, model, raw, rows) == rows
        rates.append(rows / (time.perf_counter() - started))
        store.close()
    plain_name = "outcomes ingested row by row (a lookup and an insert each)"
    return [
        Measurement(plain_name, "rows/s", *summary(baseline), len(baseline), higher_is_better=True),
        Measurement(
            f"outcomes ingested from a CSV ({rows:,} rows: read, checked, matched, recorded with tallies)",
            "rows/s",
            *summary(rates),
            len(rates),
            baseline_name=plain_name,
            baseline_median=statistics.median(baseline),
            target=">= 50,000 rows/s",
            higher_is_better=True,
        ),
    ]


def realised_queries(model: LoadedModel, workdir: Path, quick: bool) -> list[Measurement]:
    results = []
    now = time.time()
    for rows in (10_000, 25_000) if quick else SIZES:
        store, ids, entities = seeded(workdir / f"live-{rows}.sqlite3", model, rows, now)
        for start in range(0, rows, CHUNK):
            part = slice(start, start + CHUNK)
            ingest(store, model, outcome_csv(model, ids[part], entities[part], now), CHUNK)
        repeats = 5 if quick else 15
        rows_name = f"realised figures from the joined rows, {rows:,} labelled"
        exact_limit = live.EXACT_MAX_ROWS
        live.EXACT_MAX_ROWS = rows  # the baseline: every row read
        read = partial(live_report, store, model, "30d")
        from_rows = _timed(read, max(3, repeats // 3))
        live.EXACT_MAX_ROWS = exact_limit
        report = read()
        assert report["coverage"]["labelled"] == rows, report["coverage"]
        results += [
            _ms(rows_name, from_rows),
            _ms(
                f"/metrics/model?source=live (30 d), {rows:,} logged, all labelled ({report['computed_from']})",
                _timed(read, repeats),
                target="<= 100 ms",
                baseline_name=rows_name,
                baseline_median=statistics.median(from_rows) * 1000,
            ),
        ]
        store.close()
    return results


def run(model: LoadedModel, workdir: Path, quick: bool = False) -> list[Measurement]:
    return ingestion(model, workdir, quick) + realised_queries(model, workdir, quick)
