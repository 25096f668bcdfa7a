"""What this process has scored so far: counts by source and the scored inputs' distribution.

Kept in memory, per process, on the training bins of each feature, so the Overview and
Feature distributions pages can compare recent inputs with training without storing rows.
The monitoring store (prediction log and rollups on disk) replaces this with history.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
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
        self._plans: dict[str, list[tuple[str, list[float] | None, dict[str, int], np.ndarray]]] = {}

    def _bins_for(self, model: LoadedModel, name: str, size: int) -> np.ndarray:
        key = (model.version, name)
        if key not in self._bins:
            self._bins[key] = np.zeros(size, dtype=np.int64)
        return self._bins[key]

    def record_values(self, model: LoadedModel, source: str, values: dict[str, Any]) -> None:
        """One scored record (validated values, None for missing): a few µs, on every prediction."""
        plan = self._plan(model)
        with self._lock:
            self._predictions[source] += 1
            for name, edges, positions, counts in plan:
                value = values.get(name)
                if edges is not None:  # numeric: training bin, values outside go to the end bins
                    slot = len(edges) if value is None else min(max(bisect_right(edges, value) - 1, 0), len(edges) - 2)
                else:  # categorical: its index, then unseen, then missing
                    slot = len(counts) - 1 if value is None else positions.get(value, len(counts) - 2)
                counts[slot] += 1

    def _plan(self, model: LoadedModel) -> list[tuple[str, list[float] | None, dict[str, int], np.ndarray]]:
        """Per feature: its bin edges or category positions, and its counts (built once per model)."""
        plan = self._plans.get(model.version)
        if plan is None:
            plan = []
            for spec in model.schema.features:
                if spec.is_numeric:
                    edges = _edges(model, spec.name).tolist()
                    plan.append((spec.name, edges, {}, self._bins_for(model, spec.name, len(edges) + 1)))
                else:
                    positions = {category: i for i, category in enumerate(spec.categories)}
                    counts = self._bins_for(model, spec.name, len(spec.categories) + 2)
                    plan.append((spec.name, None, positions, counts))
            self._plans[model.version] = plan
        return plan

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
            self._plans.clear()


def _edges(model: LoadedModel, name: str) -> np.ndarray:
    return np.asarray(model.kpis["distributions"][name]["histogram"]["edges"], dtype=float)


activity = Activity()
