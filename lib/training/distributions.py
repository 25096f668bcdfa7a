"""Training-time distribution of every feature: the reference for charts and drift."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.model.schema import FeatureSchema

HISTOGRAM_BINS = 20
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


def _numeric(values: pd.Series) -> dict[str, Any]:
    present = values.dropna().to_numpy(dtype=float)
    unique = np.unique(present)
    if len(unique) <= HISTOGRAM_BINS:  # few distinct values (flags, counts): one bin each
        edges = np.append(unique - 0.5, unique[-1] + 0.5) if len(unique) else np.array([0.0, 1.0])
    else:
        edges = np.histogram_bin_edges(present, bins=HISTOGRAM_BINS)
    counts, edges = np.histogram(present, bins=edges)
    return {
        "kind": "numeric",
        "count": len(present),
        "missing": int(values.isna().sum()),
        "mean": float(present.mean()) if len(present) else None,
        "std": float(present.std()) if len(present) else None,
        "quantiles": {str(q): float(np.quantile(present, q)) for q in QUANTILES} if len(present) else {},
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }


def _categorical(values: pd.Series) -> dict[str, Any]:
    counts = values.value_counts(dropna=True)
    total = int(counts.sum())
    return {
        "kind": "categorical",
        "count": total,
        "missing": int(values.isna().sum()),
        "frequencies": {str(k): int(v) for k, v in counts.items()},
        "shares": {str(k): float(v / total) for k, v in counts.items()} if total else {},
    }


def feature_distributions(features: pd.DataFrame, schema: FeatureSchema) -> dict[str, Any]:
    """Histogram and quantiles per numeric feature, frequencies per categorical one."""
    return {
        spec.name: _numeric(features[spec.name]) if spec.is_numeric else _categorical(features[spec.name])
        for spec in schema.features
    }
