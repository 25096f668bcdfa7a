"""Population stability index (PSI): how far a recent distribution moved from training's.

Computed on the training bins (numeric, plus missing) or categories (plus unseen and
missing), from counts. Empty bins are floored at EPSILON so that a category never seen
recently does not make PSI infinite. Status: ok below 0.1, watch from 0.1, alert from
0.25; too_few under MIN_RECENT_ROWS recent inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

EPSILON = 1e-4
WATCH = 0.1  # common rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift
ALERT = 0.25


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> float:
    """sum((a - e) * ln(a / e)) over bins, on shares; both inputs are counts or shares."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("PSI needs two non-empty distributions over the same bins")
    e = np.clip(e / e.sum(), EPSILON, None)
    a = np.clip(a / a.sum(), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_status(value: float, watch: float = WATCH, alert: float = ALERT) -> str:
    if value >= alert:
        return "alert"
    return "watch" if value >= watch else "ok"


MIN_RECENT_ROWS = 100  # below this, PSI is shown but too noisy for a status


def status_for(value: float | None, rows: int) -> str:
    """ok / watch / alert, or too_few when the recent window holds under MIN_RECENT_ROWS."""
    if value is None or rows < MIN_RECENT_ROWS:
        return "too_few"
    return drift_status(value)


def training_bins(distribution: dict[str, Any], categories: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Bin labels and training counts in the prediction log's bin order.

    Numeric: the training histogram's bins, then missing. Categorical: the categories,
    then unseen (never in training), then missing.
    """
    if distribution["kind"] == "numeric":
        edges = distribution["histogram"]["edges"]
        labels = [f"{edges[i]:g} to {edges[i + 1]:g}" for i in range(len(edges) - 1)]
        counts = distribution["histogram"]["counts"]
    else:
        labels = [*categories, "(unseen)"]
        counts = [*(distribution["frequencies"].get(c, 0) for c in categories), 0]
    return [*labels, "missing"], np.asarray([*counts, distribution["missing"]], dtype=float)


def probability_reference(threshold_table: dict[str, list[float]]) -> np.ndarray:
    """The test split's predicted probabilities in 20 buckets of 0.05, from the bundle's
    threshold table (how many were at or above each threshold of the 0.01 grid)."""
    columns = (threshold_table[k] for k in ("threshold", "tp", "fp"))
    at_or_above = {round(t, 2): tp + fp for t, tp, fp in zip(*columns, strict=True)}
    total = threshold_table["tp"][0] + threshold_table["fp"][0] + threshold_table["tn"][0] + threshold_table["fn"][0]
    cumulative = [total, *(at_or_above[round(0.05 * k, 2)] for k in range(1, 20)), 0]
    return np.diff(-np.asarray(cumulative, dtype=float))


def compare(labels: list[str], training: np.ndarray, recent: np.ndarray) -> dict[str, Any]:
    """Training and recent shares per bin, PSI and status."""
    rows = int(recent.sum())
    value = psi(training, recent) if rows and training.sum() > 0 else None
    return {
        "bins": labels,
        "training_counts": [int(c) for c in training],
        "recent_counts": [int(c) for c in recent],
        "recent_rows": rows,
        "psi": None if value is None else round(value, 6),
        "status": status_for(value, rows),
    }


def feature_report(
    distribution: dict[str, Any], categories: Sequence[str], recent: dict[int, int] | None
) -> dict[str, Any]:
    """One feature: training against the recent counts from the prediction log."""
    labels, training = training_bins(distribution, categories)
    counts = np.zeros(len(labels))
    for bin_index, count in (recent or {}).items():
        if 0 <= bin_index < len(labels):
            counts[bin_index] = count
    return {"kind": distribution["kind"], **compare(labels, training, counts)}


def probability_report(threshold_table: dict[str, list[float]], recent: np.ndarray) -> dict[str, Any]:
    labels = [f"{0.05 * k:.2f} to {0.05 * (k + 1):.2f}" for k in range(20)]
    reference = probability_reference(threshold_table)
    return {"kind": "probability", "reference": "test split", **compare(labels, reference, recent)}
