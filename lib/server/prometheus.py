"""GET /metrics/prometheus: this replica's metrics in Prometheus's text format.

Nothing here runs on a prediction's path. Counters come from the prediction log's writer
(rows that landed in the store, lib.monitoring.counters), so summed over replicas they
equal the store's counts. Drift and job counts, which need queries, are refreshed by a
background thread every REFRESH_S once the endpoint has been scraped; a scrape only
reads what is there.

Names follow Prometheus's conventions: one prefix, base units (seconds), `_total` on
counters, `_info` on info metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from lib.monitoring.rollups import LATENCY_EDGES_MS

logger = logging.getLogger(__name__)

PREFIX = "prediction_dashboard"
REFRESH_S = 10.0
DRIFT_WINDOW = "24h"
LIVE_WINDOW = "30d"  # realised performance: predictions of the last 30 days with an outcome
DRIFT_STATUSES = ("ok", "watch", "alert", "too_few")
JOB_STATES = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
RECENT_JOBS = 100
# Every 7th edge of the log's latency buckets (each 1.174x the previous): 17 Prometheus
# buckets from 10 µs to 60 s, each about 3x the previous, exact sums of the finer ones.
BUCKET_INDEXES = list(range(28, len(LATENCY_EDGES_MS), 7))


@dataclass
class Slow:
    """What the refresher computes: drift of the served model and jobs by state."""

    model_version: str | None = None
    psi: dict[str, float | None] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    probability_psi: float | None = None
    jobs: Counter[str] = field(default_factory=Counter)
    live_labelled: int | None = None  # labelled predictions of the served version, LIVE_WINDOW
    live_coverage: float | None = None
    live: dict[str, float] = field(default_factory=dict)  # realised figures, when not withheld
    refreshed_at: float | None = None
    problem: str | None = None


class _Refresher:
    def __init__(self) -> None:
        self.slow = Slow()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prometheus-refresh", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.slow = compute_slow()
            except Exception:  # never let the thread die: the next round tries again
                logger.exception("refreshing the Prometheus metrics failed")
            time.sleep(REFRESH_S)


def compute_slow() -> Slow:
    """Drift from the shared store for the served model, and recent jobs by state."""
    from lib.model_loader import loaded_model
    from lib.monitoring.log import prediction_log
    from lib.monitoring.store import StoreUnavailable
    from lib.retraining.jobs import recent_jobs

    slow = Slow(refreshed_at=time.time())
    slow.jobs = Counter(job["status"] for job in recent_jobs(RECENT_JOBS))
    model = loaded_model()
    if model is not None:
        slow.model_version = model.version
        try:
            drift = prediction_log().drift(model, DRIFT_WINDOW)
        except StoreUnavailable as exc:
            slow.problem = str(exc)
            return slow
        for name, report in drift["features"].items():
            slow.psi[name], slow.status[name] = report["psi"], report["status"]
        slow.probability_psi = drift["probability"]["psi"]
        try:
            live = prediction_log().live(model, LIVE_WINDOW)
        except StoreUnavailable as exc:
            slow.problem = str(exc)
            return slow
        slow.live_labelled, slow.live_coverage = live["coverage"]["labelled"], live["coverage"]["share"]
        slow.live = {name: figure["value"] for name, figure in live["metrics"].items()}
    return slow


_refresher = _Refresher()


class DashboardCollector:
    """Builds every metric family at scrape time from values already computed."""

    def collect(self) -> Iterator[Metric]:
        from lib.model_loader import loaded_model
        from lib.monitoring.log import prediction_log

        log = prediction_log()
        counters = log.counters.snapshot()
        yield from _prediction_metrics(counters)
        status = log.status()
        queue = GaugeMetricFamily(f"{PREFIX}_store_queue_rows", "Rows logged and not yet written to the store.")
        queue.add_metric([], status["pending_rows"])
        yield queue
        dropped = CounterMetricFamily(
            f"{PREFIX}_store_dropped_rows", "Rows dropped because the store stayed unavailable (queue bound)."
        )
        dropped.add_metric([], status["dropped_rows"])
        yield dropped
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 when the monitoring store can be written.", labels=["backend"])
        up.add_metric([status["backend"]], 1 if status["ok"] else 0)
        yield up
        replica = InfoMetricFamily(f"{PREFIX}_replica", "The replica answering this scrape.")
        replica.add_metric([], {"replica": status["replica"]})
        yield replica
        model = loaded_model()
        if model is not None:
            info = InfoMetricFamily(f"{PREFIX}_model", "The model version this replica serves.")
            info.add_metric([], {"version": model.version, "family": model.metadata.model.family})
            yield info
        yield from _slow_metrics(_refresher.slow)


def _prediction_metrics(counters: Any) -> Iterator[Metric]:
    predictions = CounterMetricFamily(
        f"{PREFIX}_predictions",
        "Predictions written to the store by this replica, by source, model version and predicted outcome.",
        labels=["source", "model_version", "outcome"],
    )
    for (source, version, label), count in sorted(counters.predictions.items()):
        predictions.add_metric([source, version, label], count)
    yield predictions
    refused = CounterMetricFamily(
        f"{PREFIX}_refused",
        "Requests or inputs refused (no prediction), by source and error kind.",
        labels=["source", "kind"],
    )
    for (source, kind), count in sorted(counters.refusals.items()):
        refused.add_metric([source, kind], count)
    yield refused
    latency = HistogramMetricFamily(
        f"{PREFIX}_prediction_latency_seconds",
        "Time to answer, per logged input (a batch's time shared by its rows), by source.",
        labels=["source"],
    )
    for source, histogram in sorted(counters.latency.items()):
        cumulative = histogram.cumsum()
        buckets = [(_le(index), float(cumulative[index])) for index in BUCKET_INDEXES]
        buckets.append(("+Inf", float(cumulative[-1])))
        latency.add_metric([source], buckets, sum_value=counters.latency_sum_ms[source] / 1000)
    yield latency


def _le(index: int) -> str:
    """The upper bound of the log's latency buckets 0..index, in seconds."""
    return f"{LATENCY_EDGES_MS[index] / 1000:.6g}"


def _slow_metrics(slow: Slow) -> Iterator[Metric]:
    psi = GaugeMetricFamily(
        f"{PREFIX}_feature_psi", f"Population stability index of each feature over {DRIFT_WINDOW}.", labels=["feature"]
    )
    drift = GaugeMetricFamily(
        f"{PREFIX}_feature_drift_status", "1 for each feature's current drift status.", labels=["feature", "status"]
    )
    for name, value in sorted(slow.psi.items()):
        if value is not None:
            psi.add_metric([name], value)
        for status in DRIFT_STATUSES:
            drift.add_metric([name, status], 1 if slow.status.get(name) == status else 0)
    yield psi
    yield drift
    if slow.probability_psi is not None:
        probability = GaugeMetricFamily(
            f"{PREFIX}_probability_psi", f"PSI of the predicted probabilities against the test split, {DRIFT_WINDOW}."
        )
        probability.add_metric([], slow.probability_psi)
        yield probability
    yield from _live_metrics(slow)
    jobs = GaugeMetricFamily(
        f"{PREFIX}_training_jobs", f"Retraining jobs among the last {RECENT_JOBS}, by state.", labels=["state"]
    )
    for state in JOB_STATES:
        jobs.add_metric([state], slow.jobs.get(state, 0))
    yield jobs
    if slow.refreshed_at is not None:
        refreshed = GaugeMetricFamily(
            f"{PREFIX}_slow_metrics_refreshed_timestamp_seconds", "When drift and job counts were last computed."
        )
        refreshed.add_metric([], slow.refreshed_at)
        yield refreshed


_registry = CollectorRegistry(auto_describe=False)
_registry.register(DashboardCollector())


def exposition() -> bytes:
    """The text exposition; starts the refresher on first use."""
    _refresher.ensure_running()
    return generate_latest(_registry)


def _live_metrics(slow: Slow) -> Iterator[Metric]:
    if slow.live_labelled is None:
        return
    labelled = GaugeMetricFamily(
        f"{PREFIX}_live_labelled_predictions",
        f"Predictions of the served version made over the last {LIVE_WINDOW} whose real outcome was recorded.",
    )
    labelled.add_metric([], slow.live_labelled)
    yield labelled
    if slow.live_coverage is not None:
        coverage = GaugeMetricFamily(
            f"{PREFIX}_live_coverage_ratio",
            f"Share of the served version's predictions of the last {LIVE_WINDOW} with a recorded outcome.",
        )
        coverage.add_metric([], slow.live_coverage)
        yield coverage
    realised = GaugeMetricFamily(
        f"{PREFIX}_live_metric",
        f"Realised performance of the served version over {LIVE_WINDOW} (absent while too few outcomes are known).",
        labels=["metric"],
    )
    for name, value in sorted(slow.live.items()):
        realised.add_metric([name], value)
    yield realised
