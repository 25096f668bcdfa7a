"""Population stability index (PSI): how far a recent distribution moved from training's.

Computed on the training bins (numeric) or categories, from counts. Empty bins are
floored at EPSILON so that a category never seen recently does not make PSI infinite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EPSILON = 1e-4
WATCH = 0.1  # common rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift
ALERT = 0.25


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
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
