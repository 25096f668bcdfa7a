"""What this process's prediction log has written, as monotonic counters for Prometheus.

The log's writer adds each committed batch of rows here, off the request path. A counter
counts rows that landed in the store (not rows still queued), so across replicas the
sums equal the store's counts. They start at zero with the process, as Prometheus
counters do (its rate() and increase() handle the reset).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from lib.monitoring.rollups import CountedRows, LoggedRow, latency_histogram, latency_histogram_of


@dataclass
class WrittenCounters:
    """Rows written, by (source, model version, predicted label) for predictions and by
    (source, error kind) for refusals, and a latency histogram per source."""

    predictions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    refusals: Counter[tuple[str, str]] = field(default_factory=Counter)
    latency: dict[str, np.ndarray] = field(default_factory=dict)  # source -> LATENCY_BUCKETS counts
    latency_sum_ms: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rows: list[LoggedRow], counted: list[CountedRows] | None = None) -> None:
        """Rows written raw, and rows written only into the rollups (a batch's unkept rows)."""
        predictions: Counter[tuple[str, str, str]] = Counter()
        refusals: Counter[tuple[str, str]] = Counter()
        latencies: dict[str, list[float]] = {}
        for row in rows:
            if row.outcome == "ok":
                predictions[(row.source, row.version, row.label or "")] += 1
            else:
                refusals[(row.source, row.error_kind or "unknown")] += 1
            latencies.setdefault(row.source, []).append(row.latency_ms)
        histograms = {source: latency_histogram(values) for source, values in latencies.items()}
        sums = {source: float(np.sum(values)) for source, values in latencies.items()}
        for part in counted or ():
            rows_in = len(part.probabilities)
            labels, counts = np.unique(part.labels.astype(str), return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                predictions[(part.source, part.version, label)] += count
            latency = latency_histogram_of(part.latency_ms, rows_in)
            histograms[part.source] = histograms[part.source] + latency if part.source in histograms else latency
            sums[part.source] = sums.get(part.source, 0.0) + part.latency_ms * rows_in
        with self._lock:
            self.predictions.update(predictions)
            self.refusals.update(refusals)
            for source, histogram in histograms.items():
                before = self.latency.get(source)
                self.latency[source] = histogram if before is None else histogram + before
                self.latency_sum_ms[source] = self.latency_sum_ms.get(source, 0.0) + sums[source]

    def snapshot(self) -> WrittenCounters:
        """A copy to read while the writer goes on."""
        with self._lock:
            return WrittenCounters(
                Counter(self.predictions),
                Counter(self.refusals),
                {source: counts.copy() for source, counts in self.latency.items()},
                dict(self.latency_sum_ms),
            )
