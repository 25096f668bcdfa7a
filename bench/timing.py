"""Timing helpers shared by the benchmarks: medians, spread, and the machine they ran on."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One benchmark line: a median with its spread, and its baseline from the same run."""

    name: str
    unit: str
    median: float
    minimum: float
    maximum: float
    repeats: int
    baseline_name: str | None = None
    baseline_median: float | None = None
    target: str | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline (>1 is better, whatever the unit)."""
        if self.baseline_median is None or not self.median or not self.baseline_median:
            return None
        if self.higher_is_better:
            return self.median / self.baseline_median
        return self.baseline_median / self.median

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_to_baseline": self.ratio}


def sample(action: Callable[[], Any], repeats: int, inner: int = 1) -> list[float]:
    """Seconds per call of `action`, `repeats` times (each the mean of `inner` calls)."""
    action()  # warm-up: caches, lazy imports
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            action()
        timings.append((time.perf_counter() - started) / inner)
    return timings


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def machine() -> dict[str, Any]:
    packages = ["scikit-learn", "pandas", "numpy", "pyarrow", "streamlit", "uvicorn"]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": {name: version(name) for name in packages},
    }
