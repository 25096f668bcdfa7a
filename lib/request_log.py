"""In-process request statistics for `GET /metrics/system`: counts, errors, latency.

Every API request, successful or not, is recorded. Samples are kept in a bounded ring
(the last MAX_SAMPLES requests), so memory stays flat; the monitoring store will keep
history and per-minute rollups instead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

MAX_SAMPLES = 200_000
WINDOWS = {"5m": 300, "1h": 3600, "24h": 86_400, "7d": 604_800}


class RequestLog:
    def __init__(self, max_samples: int = MAX_SAMPLES) -> None:
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, str, int, float]] = deque(maxlen=max_samples)
        self._totals: dict[str, int] = {}
        self.started = time.time()

    def record(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._samples.append((time.time(), route, status, seconds))
            self._totals[route] = self._totals.get(route, 0) + 1

    def summary(self, window: str) -> dict[str, Any]:
        """Throughput, error rate and latency percentiles over the last `window`, by route."""
        span = WINDOWS[window]
        now = time.time()
        with self._lock:
            recent = [s for s in self._samples if s[0] >= now - span]
            totals = dict(self._totals)
        elapsed = max(min(span, now - self.started), 1e-9)
        by_route: dict[str, list[tuple[float, str, int, float]]] = {}
        for sample in recent:
            by_route.setdefault(sample[1], []).append(sample)
        return {
            "window": window,
            "window_seconds": span,
            "since_start_seconds": round(now - self.started, 3),
            **_stats(recent, elapsed),
            "by_route": {route: _stats(samples, elapsed) for route, samples in sorted(by_route.items())},
            "total_since_start": sum(totals.values()),
            "source": f"in-process counters (this process, last {self._samples.maxlen} requests at most)",
        }

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()
            self._totals.clear()
            self.started = time.time()


def _stats(samples: list[tuple[float, str, int, float]], elapsed: float) -> dict[str, Any]:
    count = len(samples)
    errors = sum(1 for s in samples if s[2] >= 400)
    server_errors = sum(1 for s in samples if s[2] >= 500)
    latency = np.array([s[3] for s in samples]) * 1000 if samples else None
    percentiles = (
        {f"p{q}": round(float(np.percentile(latency, q)), 3) for q in (50, 95, 99)}
        if latency is not None
        else {"p50": None, "p95": None, "p99": None}
    )
    return {
        "requests": count,
        "errors": errors,
        "server_errors": server_errors,
        "error_rate": round(errors / count, 6) if count else 0.0,
        "throughput_rps": round(count / elapsed, 3),
        "latency_ms": percentiles,
    }


request_log = RequestLog()
