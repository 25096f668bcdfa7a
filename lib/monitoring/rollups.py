"""What the monitoring store keeps, and the rollups it merges at write time, in plain
Python and numpy (no SQL): the raw row, the windows a dashboard can ask for, and the
latency and probability histograms behind every count and percentile.

Latency percentiles come from the histogram: log-spaced buckets from 1 µs to 60 s, each edge
1.174x the previous, so a percentile is exact to within one bucket (about 17 %).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import numpy as np

LATENCY_EDGES_MS = np.geomspace(0.001, 60_000, 113)  # 1 µs to 60 s: 112 buckets, plus under and over
LATENCY_BUCKETS = len(LATENCY_EDGES_MS) + 1
PROBABILITY_EDGES = np.arange(21) / 20  # exact k/20, as the threshold grid has them
PROBABILITY_BUCKETS = len(PROBABILITY_EDGES) - 1
MINUTE, HOUR = 60, 3600

# Windows a dashboard can ask for, and the rollup that serves each with its chart step.
WINDOWS = {"5m": 300, "1h": 3600, "24h": 86_400, "7d": 604_800}
SERIES_STEP_S = {"5m": MINUTE, "1h": MINUTE, "24h": 15 * MINUTE, "7d": HOUR}


class LoggedRow(NamedTuple):
    """One prediction or failed request, as the raw table keeps it."""

    ts: float
    source: str  # "ui", "batch" or "api"
    version: str  # "none" when no model was loaded
    latency_ms: float
    outcome: str  # "ok" or "error"
    error_kind: str | None
    probability: float | None
    label: str | None
    features: str | None  # JSON object of the scored inputs (features_json)
    prediction_id: int | None = None  # a scored prediction's (lib.monitoring.ids)
    entity: str | None = None  # the dataset's id columns' values, when the input had them
    value: float | None = None  # the business value column's, for the realised campaign value


_encode = msgspec.json.Encoder(enc_hook=str).encode


def features_json(values: dict[str, Any]) -> str:
    """The features column of a raw row: compact JSON (msgspec, about 1 µs a record)."""
    return _encode(values).decode()


class CountedRows(NamedTuple):
    """Predictions of one batch that count in every rollup and counter but are not kept
    as raw rows (LOG_BATCH_RAW_ROWS): one time, source, version and latency each."""

    ts: float
    source: str
    version: str
    latency_ms: float
    probabilities: np.ndarray
    labels: np.ndarray  # object array of the predicted labels
    ids: np.ndarray | None = None  # their prediction ids (int64)
    entities: list[str | None] | None = None
    values: np.ndarray | None = None  # the business value column's (float64, NaN when unknown)


def latency_histogram(latencies_ms: Iterable[float]) -> np.ndarray:
    values = np.fromiter(latencies_ms, dtype=float)
    return np.bincount(np.searchsorted(LATENCY_EDGES_MS, values, side="right"), minlength=LATENCY_BUCKETS)


def latency_histogram_of(latency_ms: float, count: int) -> np.ndarray:
    """The latency histogram of `count` rows that share one latency (a batch's rows)."""
    histogram = np.zeros(LATENCY_BUCKETS, np.int64)
    histogram[np.searchsorted(LATENCY_EDGES_MS, latency_ms, side="right")] = count
    return histogram


def probability_histogram(probabilities: Iterable[float]) -> np.ndarray:
    values = np.fromiter(probabilities, dtype=float)
    buckets = np.clip(np.searchsorted(PROBABILITY_EDGES, values, side="right") - 1, 0, PROBABILITY_BUCKETS - 1)
    return np.bincount(buckets, minlength=PROBABILITY_BUCKETS)


def percentile_from_histogram(counts: np.ndarray, q: float) -> float | None:
    """The upper edge of the latency bucket holding the q-th percentile (ms)."""
    total = counts.sum()
    if total == 0:
        return None
    bucket = int(np.searchsorted(np.cumsum(counts), q / 100 * total, side="left"))
    return float(LATENCY_EDGES_MS[min(bucket, len(LATENCY_EDGES_MS) - 1)])


@dataclass(frozen=True)
class Rollup:
    count: int
    errors: int
    latency: np.ndarray
    probability: np.ndarray

    def __add__(self, other: Rollup) -> Rollup:
        return Rollup(
            self.count + other.count,
            self.errors + other.errors,
            self.latency + other.latency,
            self.probability + other.probability,
        )


def rollups(rows: Iterable[LoggedRow], counted: Iterable[CountedRows] = ()) -> dict[tuple[int, int, str, str], Rollup]:
    """Minute and hour rollups of the rows and of the counted-only rows, keyed by
    (resolution, start, source, version)."""
    result = _row_rollups(rows)
    for part in counted:
        latency = latency_histogram_of(part.latency_ms, len(part.probabilities))
        minute = Rollup(len(part.probabilities), 0, latency, probability_histogram(part.probabilities))
        start = int(part.ts // MINUTE) * MINUTE
        for key in (
            (MINUTE, start, part.source, part.version),
            (HOUR, start // HOUR * HOUR, part.source, part.version),
        ):
            result[key] = result[key] + minute if key in result else minute
    return result


def _row_rollups(rows: Iterable[LoggedRow]) -> dict[tuple[int, int, str, str], Rollup]:
    groups: dict[tuple[int, str, str], tuple[list[float], list[float], list[int]]] = {}
    for row in rows:
        key = (int(row.ts // MINUTE) * MINUTE, row.source, row.version)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ([], [], [0])
        group[0].append(row.latency_ms)
        if row.probability is not None:
            group[1].append(row.probability)
        if row.outcome != "ok":
            group[2][0] += 1
    result: dict[tuple[int, int, str, str], Rollup] = {}
    for (start, source, version), (latencies, probabilities, errors) in groups.items():
        minute = Rollup(len(latencies), errors[0], latency_histogram(latencies), probability_histogram(probabilities))
        result[(MINUTE, start, source, version)] = minute
        hour_key = (HOUR, start // HOUR * HOUR, source, version)
        result[hour_key] = result[hour_key] + minute if hour_key in result else minute
    return result


def summary(count: int, errors: int, latency: np.ndarray, seconds: float) -> dict[str, Any]:
    return {
        "requests": count,
        "errors": errors,
        "error_rate": round(errors / count, 6) if count else 0.0,
        "throughput_rps": count / seconds,
        "latency_ms": {f"p{q}": percentile_from_histogram(latency, q) for q in (50, 95, 99)},
    }


@dataclass(frozen=True)
class StatsRows:
    """Rollup rows of one resolution as a store reads them: one entry per (start, source,
    version, replica), the latency histograms stacked in one array."""

    starts: np.ndarray  # int64
    sources: list[str]
    versions: list[str]
    replicas: list[str]
    counts: np.ndarray  # int64
    errors: np.ndarray  # int64
    latency: np.ndarray  # (rows, LATENCY_BUCKETS) int64

    @classmethod
    def from_tuples(cls, rows: list[tuple[Any, ...]]) -> StatsRows:
        """(start, source, version, replica, count, errors, latency histogram as int64 bytes)."""
        latency = (
            np.frombuffer(b"".join(bytes(r[6]) for r in rows), np.int64).reshape(len(rows), LATENCY_BUCKETS)
            if rows
            else np.zeros((0, LATENCY_BUCKETS), np.int64)
        )
        return cls(
            np.array([r[0] for r in rows], np.int64),
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            np.array([r[4] for r in rows], np.int64),
            np.array([r[5] for r in rows], np.int64),
            latency,
        )


def stats_query_range(window: str, now: float) -> tuple[int, int]:
    """(resolution, first start) of the rollups a window's report reads."""
    resolution = HOUR if SERIES_STEP_S[window] >= HOUR else MINUTE
    return resolution, int((now - WINDOWS[window]) // resolution * resolution)


def system_report(stats: StatsRows, window: str, now: float) -> dict[str, Any]:
    """Throughput, error rate and latency percentiles over a window, overall, by source,
    by model version and by replica, with a chart series; from rollups only."""
    seconds, step = WINDOWS[window], SERIES_STEP_S[window]
    counts, errors, latency = stats.counts, stats.errors, stats.latency

    def group(labels: list[str]) -> dict[str, dict[str, Any]]:
        result = {}
        for label in sorted(set(labels)):
            mask = np.array([value == label for value in labels], bool)
            result[label] = summary(
                int(counts[mask].sum()), int(errors[mask].sum()), latency[mask].sum(axis=0), seconds
            )
        return result

    first_point = int((now - seconds) // step * step)
    points = int(math.floor(now / step) * step - first_point) // step + 1
    slot = np.clip((stats.starts - first_point) // step, 0, points - 1)
    slot_counts = np.bincount(slot, weights=counts, minlength=points).astype(np.int64)
    slot_errors = np.bincount(slot, weights=errors, minlength=points).astype(np.int64)
    slot_latency = np.zeros((points, LATENCY_BUCKETS), np.int64)
    np.add.at(slot_latency, slot, latency)
    row_sources = np.array(stats.sources, dtype=object)
    per_source = {
        s: np.bincount(slot[row_sources == s], weights=counts[row_sources == s], minlength=points).astype(np.int64)
        for s in sorted(set(stats.sources))
    }
    series = [
        {
            "start": first_point + i * step,
            "requests": int(slot_counts[i]),
            "errors": int(slot_errors[i]),
            "by_source": {s: int(c[i]) for s, c in per_source.items()},
            **{f"p{q}": percentile_from_histogram(slot_latency[i], q) for q in (50, 95, 99)},
        }
        for i in range(points)
    ]
    return {
        "window": window,
        "window_seconds": seconds,
        **summary(int(counts.sum()), int(errors.sum()), latency.sum(axis=0), seconds),
        "by_source": group(stats.sources),
        "by_version": group(stats.versions),
        "by_replica": group(stats.replicas),
        "series_step_seconds": step,
        "series": series,
    }


# prediction_id, ts, version, source, entity, probability, value
ScoreRow = tuple[int, float, str, str, str | None, float, float | None]


def score_rows(rows: Iterable[LoggedRow], counted: Iterable[CountedRows] = ()) -> list[ScoreRow]:
    """Every scored prediction with an id, kept raw or only counted: what an outcome is
    matched to (the `scores` table)."""
    found: list[ScoreRow] = [
        (row.prediction_id, row.ts, row.version, row.source, row.entity, row.probability, row.value)
        for row in rows
        if row.prediction_id is not None and row.probability is not None
    ]
    for part in counted:
        if part.ids is None:
            continue
        entities = part.entities if part.entities is not None else [None] * len(part.ids)
        values = (
            [None] * len(part.ids) if part.values is None else [None if v != v else v for v in part.values.tolist()]
        )  # NaN: unknown
        found += zip(
            part.ids.tolist(),
            [part.ts] * len(part.ids),
            [part.version] * len(part.ids),
            [part.source] * len(part.ids),
            entities,
            part.probabilities.tolist(),
            values,
            strict=True,
        )
    return found
