"""What this process has scored so far: counts by source and the scored inputs' distribution.

Kept in memory, per process, on the training bins of each feature, so the Overview and
Feature distributions pages can compare recent inputs with training without storing rows.
The monitoring store (prediction log and rollups on disk) replaces this with history.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np

from lib.model_loader import LoadedModel
from lib.validation import EncodedColumns

SOURCES = ("ui", "batch", "api")


class Activity:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._predictions: Counter[str] = Counter()
        # (model version, feature) -> counts per training bin (numeric) or per category code
        self._bins: dict[tuple[str, str], np.ndarray] = {}

    def _bins_for(self, model: LoadedModel, name: str, size: int) -> np.ndarray:
        key = (model.version, name)
        if key not in self._bins:
            self._bins[key] = np.zeros(size, dtype=np.int64)
        return self._bins[key]

    def record_values(self, model: LoadedModel, source: str, values: dict[str, Any]) -> None:
        """One scored record (validated values, None for missing)."""
        with self._lock:
            self._predictions[source] += 1
            for spec in model.schema.features:
                value = values.get(spec.name)
                if spec.is_numeric:
                    edges = _edges(model, spec.name)
                    counts = self._bins_for(model, spec.name, len(edges) + 1)  # last slot: missing
                    counts[len(edges) if value is None else _bin(edges, value)] += 1
                else:
                    counts = self._bins_for(model, spec.name, len(spec.categories) + 2)
                    if value is None:
                        counts[-1] += 1
                    else:
                        counts[spec.categories.index(value) if value in spec.category_set else -2] += 1

    def record_columns(self, model: LoadedModel, source: str, columns: EncodedColumns) -> None:
        """Many scored rows at once, vectorised."""
        with self._lock:
            self._predictions[source] += columns.rows
            for spec in model.schema.features:
                if spec.is_numeric:
                    edges = _edges(model, spec.name)
                    x = columns.numbers[spec.name]
                    missing = np.isnan(x)
                    bins = np.clip(np.searchsorted(edges, x[~missing], side="right") - 1, 0, len(edges) - 2)
                    counts = self._bins_for(model, spec.name, len(edges) + 1)
                    counts[: len(edges) - 1] += np.bincount(bins, minlength=len(edges) - 1)
                    counts[-1] += int(missing.sum())
                else:
                    counts = self._bins_for(model, spec.name, len(spec.categories) + 2)
                    counts += np.bincount(columns.codes[spec.name], minlength=len(spec.categories) + 2)

    def predictions(self) -> dict[str, int]:
        with self._lock:
            return {source: self._predictions[source] for source in SOURCES}

    def scored_counts(self, model: LoadedModel, name: str) -> np.ndarray | None:
        """Counts of scored inputs for one feature, or None when nothing was scored yet.

        Numeric: one count per training histogram bin (values outside fall in the end
        bins), then missing. Categorical: one per training category, then unseen, missing.
        """
        with self._lock:
            counts = self._bins.get((model.version, name))
            return None if counts is None or not counts.any() else counts.copy()

    def clear(self) -> None:
        with self._lock:
            self._predictions.clear()
            self._bins.clear()


def _edges(model: LoadedModel, name: str) -> np.ndarray:
    return np.asarray(model.kpis["distributions"][name]["histogram"]["edges"], dtype=float)


def _bin(edges: np.ndarray, value: float) -> int:
    return int(min(max(np.searchsorted(edges, value, side="right") - 1, 0), len(edges) - 2))


activity = Activity()
