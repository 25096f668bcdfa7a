"""Monitoring costs: logging per prediction, and dashboard queries as the log grows.

Logging is timed around the scoring function (score_and_log against score_record, the
writer thread running). Queries are timed on stores seeded with 10k, 100k and 1M logged
predictions spread over the last 7 days, next to the same figures computed from the raw
rows (what a store without rollups would do).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.inference import varied
from bench.timing import Measurement, summary
from lib.model.inference import score_record
from lib.model_loader import LoadedModel
from lib.monitoring.log import PredictionLog, close_prediction_log, numeric_bins, prediction_log
from lib.monitoring.rollups import HOUR, LoggedRow
from lib.monitoring.store import MonitoringStore, Store
from lib.serving.scoring import score_and_log
from lib.settings import reload_settings

SIZES = (10_000, 100_000, 1_000_000)
SEED_CHUNK = 50_000
SPAN_S = 7 * 86_400


def _ms(name: str, seconds: list[float], **extra: Any) -> Measurement:
    median, low, high = summary([s * 1000 for s in seconds])
    return Measurement(name=name, unit="ms", median=median, minimum=low, maximum=high, repeats=len(seconds), **extra)


def logging_overhead(
    model: LoadedModel, workdir: Path, quick: bool, database: str | None = None, label: str = ""
) -> list[Measurement]:
    """Median µs of score_and_log and of score_record, interleaved so noise hits both.

    The log is the product's own (prediction_log(), spool included), on MONITORING_DB =
    `database` (a PostgreSQL URL) or a SQLite file in workdir.
    """
    folder = workdir / f"overhead{label.replace(' ', '-').replace(',', '')}"
    with settings_changed(
        MONITORING_DB=database or str(folder / "monitoring.sqlite3"), KPI_DIR=str(folder), REPLICA_ID="bench"
    ):
        return _logging_overhead(model, quick, label)


@contextlib.contextmanager
def settings_changed(**values: str) -> Iterator[None]:
    """The process's settings with these environment variables, restored after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reload_settings()
    try:
        yield
    finally:
        close_prediction_log()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reload_settings()


def _logging_overhead(model: LoadedModel, quick: bool, label: str) -> list[Measurement]:
    log = prediction_log()  # what score_and_log logs to
    log.start()
    record = {spec.name: spec.default for spec in model.schema.features}
    repeats, inner = (5, 200) if quick else (25, 1000)
    plain, logged = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            score_record(record, model)
        plain.append((time.perf_counter() - started) / inner)
        started = time.perf_counter()
        for _ in range(inner):
            score_and_log(record, model, "api")
        logged.append((time.perf_counter() - started) / inner)
    log.flush()
    # What the writer thread spends per row, off the hot path: one flush of queued rows.
    writer = []
    for _ in range(3 if quick else 7):
        prediction = score_record(record, model)
        for _ in range(inner):
            log.log_records(model, "api", [record], [prediction], 0.02)
        started = time.perf_counter()
        log.flush()
        writer.append((time.perf_counter() - started) / inner)
    plain_us, logged_us = statistics.median(plain) * 1e6, statistics.median(logged) * 1e6
    overhead = [(b - a) * 1e6 for a, b in zip(plain, logged, strict=True)]
    return [
        Measurement(f"score_record (no logging){label}", "µs", *summary([s * 1e6 for s in plain]), repeats),
        Measurement(
            f"score_and_log (score_record + prediction log){label}",
            "µs",
            *summary([s * 1e6 for s in logged]),
            repeats,
            baseline_name="score_record (no logging)",
            baseline_median=plain_us,
        ),
        Measurement(
            f"logging overhead per prediction (hot path, writer running){label}",
            "µs",
            logged_us - plain_us,
            min(overhead),
            max(overhead),
            repeats,
            target="<= 30 µs",
        ),
        Measurement(
            f"writer: rows + rollups + drift counts written, per prediction (background){label}",
            "µs",
            *summary([s * 1e6 for s in writer]),
            len(writer),
        ),
    ]


def seed(store: Store, model: LoadedModel, rows: int, now: float) -> None:
    """`rows` logged predictions over the last 7 days: 3 sources, 2% errors, real inputs."""
    rng = np.random.default_rng(rows)
    pool = [(values, score_record(values, model)) for values in varied(model, 72)]
    texts = [json.dumps(values) for values, _ in pool]
    plan_bins = _pool_bins(model, [values for values, _ in pool])
    sources = np.array(["ui", "batch", "api"])
    for start in range(0, rows, SEED_CHUNK):
        n = min(SEED_CHUNK, rows - start)
        ts = np.sort(now - SPAN_S + rng.random(n) * SPAN_S)
        picks = rng.integers(0, len(pool), n)
        failed = rng.random(n) < 0.02
        latency = rng.lognormal(-2.5, 0.6, n)
        kinds = sources[rng.integers(0, 3, n)]
        batch = [
            LoggedRow(float(t), str(s), model.version, float(lat), "error", "invalid_input", None, None, None)
            if bad
            else LoggedRow(
                float(t),
                str(s),
                model.version,
                float(lat),
                "ok",
                None,
                pool[p][1].probability,
                pool[p][1].label,
                texts[p],
            )
            for t, s, lat, bad, p in zip(ts, kinds, latency, failed, picks, strict=True)
        ]
        hours = (ts // HOUR * HOUR).astype(np.int64)
        counts: dict[tuple[int, str, str, int], int] = {}
        ok = ~failed
        for hour in np.unique(hours[ok]):
            in_hour = np.bincount(picks[ok & (hours == hour)], minlength=len(pool))
            for name, bins in plan_bins.items():
                for bin_index, count in enumerate(np.bincount(bins, weights=in_hour)):
                    if count:
                        counts[(int(hour), model.version, name, bin_index)] = int(count)
        store.write(batch, counts)


def _pool_bins(model: LoadedModel, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    bins = {}
    for spec in model.schema.features:
        if spec.is_numeric:
            edges = np.asarray(model.kpis.distributions[spec.name]["histogram"]["edges"], float)
            bins[spec.name] = numeric_bins(edges, np.array([r[spec.name] for r in records], float))
        else:
            positions = {c: i for i, c in enumerate(spec.categories)}
            bins[spec.name] = np.array([positions.get(r[spec.name], len(spec.categories)) for r in records])
    return bins


def _timed(action, repeats: int) -> list[float]:
    action()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def _raw_system(store: MonitoringStore, since: float) -> None:
    """The no-rollup way: read the window's raw latencies and outcomes, then aggregate."""
    rows = store._read("SELECT latency_ms, outcome FROM predictions WHERE ts >= ?", (since,))
    latency = np.array([r[0] for r in rows])
    _ = (len(rows), sum(r[1] != "ok" for r in rows), np.percentile(latency, [50, 95, 99]) if len(rows) else None)


def queries_at(
    model: LoadedModel, workdir: Path, rows: int, repeats: int, store: Store | None = None, label: str = ""
) -> list[Measurement]:
    """Every dashboard query on a store seeded with `rows` logged predictions (SQLite in
    workdir by default, with the no-rollup baseline)."""
    log = PredictionLog(store or workdir / f"seeded-{rows}.sqlite3", 30 * 86_400, 1_000_000)
    store = log.store
    now = time.time()
    seed(store, model, rows, now)

    def every_window() -> None:
        for window in ("5m", "1h", "24h", "7d"):
            store.system(window)

    def health_page() -> None:
        log.status()
        store.system("1h")
        store.recent_errors()
        store.size_bytes()

    size_mb = store.size_bytes() / 1e6
    results = [Measurement(f"store size, {rows:,} logged{label}", "MB", size_mb, size_mb, size_mb, 1)]
    baseline: dict[str, Any] = {}
    if isinstance(store, MonitoringStore):
        raw_label = f"no rollups: 24 h of raw rows aggregated, {rows:,} logged"
        raw = _timed(lambda: _raw_system(store, now - 86_400), max(3, repeats // 3))
        results.append(_ms(raw_label, raw))
        baseline = {"baseline_name": raw_label, "baseline_median": statistics.median(raw) * 1000}
    results += [
        _ms(
            f"/metrics/system, all 4 windows, {rows:,} logged{label}",
            _timed(every_window, repeats),
            target="<= 100 ms",
            **baseline,
        ),
        _ms(f"Health page queries (1 h), {rows:,} logged{label}", _timed(health_page, repeats), target="<= 100 ms"),
        _ms(
            f"drift of 19 features + probability (7 d), {rows:,} logged{label}",
            _timed(lambda: log.drift(model, "7d"), repeats),
            target="<= 100 ms",
        ),
    ]
    log.stop()
    return results


def queries(model: LoadedModel, workdir: Path, quick: bool) -> list[Measurement]:
    sizes = (10_000, 50_000) if quick else SIZES
    repeats = 5 if quick else 15
    return [m for rows in sizes for m in queries_at(model, workdir, rows, repeats)]


def run(model: LoadedModel, workdir: Path, quick: bool = False) -> list[Measurement]:
    return logging_overhead(model, workdir, quick) + queries(model, workdir, quick)
