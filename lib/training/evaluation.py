"""Model evaluation at training time: metrics, curves, threshold choice, business value,
feature importance and serving latency."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from lib.model.confidence import CONFIDENCE_EDGES, CONFIDENCE_NAMES, confidence_codes
from lib.model.contract import BusinessSettings
from lib.model.inference import score_batch, score_record
from lib.model.loaded import LoadedModel

THRESHOLD_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)
MAX_CURVE_POINTS = 200


def classification_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, Any]:
    """Every metric the dashboards and `GET /metrics/model` show, at one threshold."""
    predicted = (probability >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, probability)),
        "pr_auc": float(average_precision_score(y_true, probability)),
        "brier": float(brier_score_loss(y_true, probability)),
        "log_loss": float(log_loss(y_true, np.clip(probability, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "threshold": float(threshold),
        "rows": len(y_true),
    }


def threshold_table(
    y_true: np.ndarray, probability: np.ndarray, value: np.ndarray | None, business: BusinessSettings | None
) -> dict[str, list[float | None]]:
    """Confusion counts, precision, recall, F1 (and profit) at every grid threshold.

    The performance page's threshold slider reads this table: no model call per move.
    """
    table: dict[str, list[float | None]] = {
        name: [] for name in ("threshold", "tp", "fp", "tn", "fn", "precision", "recall", "f1", "profit")
    }
    positives = y_true == 1
    for t in THRESHOLD_GRID:
        flagged = probability >= t
        tp = int(np.sum(flagged & positives))
        fp = int(np.sum(flagged & ~positives))
        fn = int(np.sum(~flagged & positives))
        tn = int(len(y_true) - tp - fp - fn)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        profit = campaign_profit(y_true, probability, value, t, business) if business and value is not None else None
        for name, number in zip(table, (float(t), tp, fp, tn, fn, precision, recall, f1, profit), strict=True):
            table[name].append(number)
    return table


def campaign_profit(
    y_true: np.ndarray, probability: np.ndarray, value: np.ndarray, threshold: float, business: BusinessSettings
) -> float:
    """Realised profit of contacting everyone at or above the threshold (BusinessSettings.profit)."""
    contacted = probability >= threshold
    return business.profit(int(contacted.sum()), float(np.sum(value[contacted] * y_true[contacted])))


def choose_threshold(
    y_true: np.ndarray, probability: np.ndarray, value: np.ndarray | None, business: BusinessSettings | None
) -> dict[str, Any]:
    """Maximum expected profit when business settings exist, else maximum F1 (on validation)."""
    if business is not None and value is not None:
        scores = [campaign_profit(y_true, probability, value, t, business) for t in THRESHOLD_GRID]
        criterion = "max_expected_profit"
    else:
        scores = [f1_score(y_true, (probability >= t).astype(int), zero_division=0) for t in THRESHOLD_GRID]
        criterion = "max_f1"
    best = int(np.argmax(scores))
    return {"threshold": float(THRESHOLD_GRID[best]), "criterion": criterion, "validation_score": float(scores[best])}


def _thin(*columns: np.ndarray) -> list[list[float]]:
    """At most MAX_CURVE_POINTS evenly spaced points, always keeping both ends."""
    length = len(columns[0])
    keep = np.unique(np.linspace(0, length - 1, min(length, MAX_CURVE_POINTS)).round().astype(int))
    return [[float(round(c[i], 6)) for i in keep] for c in columns]


def curves(y_true: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """ROC, precision-recall, calibration and cumulative gain / lift points for the charts."""
    fpr, tpr, roc_thresholds = roc_curve(y_true, probability)
    roc_thresholds = np.minimum(roc_thresholds, 1.0)
    precision, recall, pr_thresholds = precision_recall_curve(y_true, probability)
    observed, predicted = calibration_curve(y_true, probability, n_bins=10, strategy="quantile")
    order = np.argsort(-probability, kind="stable")
    captured = np.cumsum(y_true[order]) / max(int(y_true.sum()), 1)
    share = np.arange(1, len(order) + 1) / len(order)
    roc = _thin(fpr, tpr, roc_thresholds)
    pr = _thin(precision[:-1], recall[:-1], pr_thresholds)
    gain = _thin(share, captured, captured / share)
    return {
        "roc": {"fpr": roc[0], "tpr": roc[1], "threshold": roc[2]},
        "pr": {"precision": pr[0], "recall": pr[1], "threshold": pr[2]},
        "calibration": {"predicted": [float(v) for v in predicted], "observed": [float(v) for v in observed]},
        "gain": {"population_share": gain[0], "positives_captured": gain[1], "lift": gain[2]},
    }


def confidence_bands(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, Any]:
    """How often predictions in each band were right on the test split: a band means a rate."""
    predicted = (probability >= threshold).astype(int)
    names = np.asarray(CONFIDENCE_NAMES)[confidence_codes(probability, threshold)]
    bands = {}
    for name in CONFIDENCE_NAMES:
        mask = names == name
        bands[name] = {
            "rows": int(mask.sum()),
            "accuracy": float((predicted[mask] == y_true[mask]).mean()) if mask.any() else None,
        }
    return {"edges": list(CONFIDENCE_EDGES), "bands": bands}


def business_kpis(
    y_true: np.ndarray,
    probability: np.ndarray,
    value: np.ndarray,
    threshold: float,
    business: BusinessSettings,
    base_rate: float,
) -> dict[str, Any]:
    """Campaign view of the test split, in the dataset's currency."""
    contacted = probability >= threshold
    horizon_value = value * business.horizon_months
    return {
        "currency": business.currency,
        "horizon_months": business.horizon_months,
        "base_rate": base_rate,
        "customers": len(y_true),
        "value_at_stake": float(np.sum(probability * horizon_value)),
        "value_at_stake_actual": float(np.sum(horizon_value[y_true == 1])),
        "contacted": int(contacted.sum()),
        "expected_profit": campaign_profit(y_true, probability, value, threshold, business),
        "profit_contact_everyone": campaign_profit(y_true, probability, value, 0.0, business),
        "scope": "test split",
    }


def feature_importance(pipeline: Any, features: pd.DataFrame, target: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """Permutation importance on the test part: drop in ROC AUC when a feature is shuffled."""
    result = permutation_importance(
        pipeline, features, target, scoring="roc_auc", n_repeats=5, random_state=seed, n_jobs=1
    )
    ranked = sorted(
        zip(features.columns, result.importances_mean, result.importances_std, strict=True), key=lambda r: -r[1]
    )
    return [{"feature": name, "importance": float(mean), "std": float(std)} for name, mean, std in ranked]


def _median_ms(action: Callable[[], Any], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def estimate_latency(model: LoadedModel, test_features: pd.DataFrame) -> dict[str, Any]:
    """Median latencies of the scoring function on this machine, for capacity planning."""
    record = {name: (None if pd.isna(v) else v) for name, v in test_features.iloc[0].items()}
    batch = test_features.reset_index(drop=True)
    batch_ms = _median_ms(lambda: score_batch(batch, model), 3)
    return {
        "single_record_ms": round(_median_ms(lambda: score_record(record, model), 30), 3),
        "single_record_no_reasons_ms": round(_median_ms(lambda: score_record(record, model, explain=False), 30), 3),
        "batch_rows": len(batch),
        "batch_ms": round(batch_ms, 3),
        "batch_rows_per_s": round(len(batch) / (batch_ms / 1000), 1),
        "measured_on": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
    }
