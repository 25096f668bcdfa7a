"""How the model did on the predictions whose real outcome came back (issue 18): the
training split's metrics, computed the same way on live rows, each with a 95 % interval,
and withheld, with the reason, while too few outcomes are known to say anything.

Plain numpy: serving has no scikit-learn dependency for this, and a million labelled
rows take one sort (tests hold every figure equal to scikit-learn's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lib.monitoring.tally import Tally, bin_of

MIN_OUTCOMES = 100  # labelled predictions below which no figure is given
MIN_PER_CLASS = 10  # and of each outcome (AUC, recall and precision need both)
Z95 = 1.959963984540054
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Figure:
    """One metric with its 95 % interval (None when the interval is not defined)."""

    value: float
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Realised:
    """The figures over a set of labelled predictions, or why they are withheld."""

    rows: int  # labelled predictions
    positives: int
    threshold: float
    withheld: str | None = None  # the reason, when there are too few outcomes
    figures: dict[str, Figure] = field(default_factory=dict)
    confusion: dict[str, int] = field(default_factory=dict)
    calibration: list[dict[str, float]] = field(default_factory=list)
    flagged_positive_value: float = 0.0  # business value of the positives at or above the threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "positives": self.positives,
            "threshold": self.threshold,
            "withheld": self.withheld,
            "metrics": {name: figure.to_dict() for name, figure in self.figures.items()},
            "confusion_matrix": self.confusion,
            "calibration": self.calibration,
        }


def realised_metrics(
    outcome: np.ndarray,
    probability: np.ndarray,
    threshold: float,
    value: np.ndarray | None = None,
    min_outcomes: int = MIN_OUTCOMES,
    min_per_class: int = MIN_PER_CLASS,
) -> Realised:
    """outcome: 1 for the positive label, 0 for the other; probability: the one logged;
    value: each prediction's business value (NaN or None when unknown)."""
    y = np.asarray(outcome, dtype=np.int8)
    p = np.asarray(probability, dtype=np.float64)
    rows, positives = len(y), int(y.sum())
    reason = _too_few(rows, positives, min_outcomes, min_per_class)
    if reason is not None:
        return Realised(rows, positives, threshold, withheld=reason)
    flagged = p >= threshold
    tp = int(np.count_nonzero(flagged & (y == 1)))
    fp = int(np.count_nonzero(flagged)) - tp
    hit_value = 0.0 if value is None else float(np.nansum(np.asarray(value, np.float64)[flagged & (y == 1)]))
    return _assembled(
        rows,
        positives,
        tp,
        fp,
        threshold,
        roc_auc(y, p),
        average_precision(y, p),
        _mean_interval((p - y) ** 2),
        calibration_bins(y, p),
        hit_value,
    )


def realised_from_tally(
    tally: Tally, threshold: float, min_outcomes: int = MIN_OUTCOMES, min_per_class: int = MIN_PER_CLASS
) -> Realised:
    """The same figures from a tally (lib.monitoring.tally): exact but for the two AUCs,
    which count predictions within one 0.001 bin as ties."""
    counts = tally.counts
    negatives_by_bin, positives_by_bin = counts[0], counts[1]
    rows, positives = int(counts.sum()), int(positives_by_bin.sum())
    reason = _too_few(rows, positives, min_outcomes, min_per_class)
    if reason is not None:
        return Realised(rows, positives, threshold, withheld=reason)
    first = int(bin_of(np.array([threshold]))[0])  # the first bin at or above the threshold
    tp, fp = int(positives_by_bin[first:].sum()), int(negatives_by_bin[first:].sum())
    negatives = rows - positives
    below = np.cumsum(negatives_by_bin) - negatives_by_bin
    auc = float(np.sum(positives_by_bin * (below + negatives_by_bin / 2)) / (positives * negatives))
    occupied = np.flatnonzero(counts.sum(axis=0))[::-1]  # each bin one distinct score, highest first
    hits = np.cumsum(positives_by_bin[occupied])
    flagged = np.cumsum(counts.sum(axis=0)[occupied])
    pr_auc = float(np.sum(positives_by_bin[occupied] / positives * hits / flagged))
    return _assembled(
        rows,
        positives,
        tp,
        fp,
        threshold,
        auc,
        pr_auc,
        _brier_from_powers(tally.powers, rows, positives),
        _calibration_from_tally(tally),
        float(tally.positive_value[first:].sum()),
    )


def _assembled(
    rows: int,
    positives: int,
    tp: int,
    fp: int,
    threshold: float,
    auc: float,
    pr_auc: float,
    brier: Figure,
    calibration: list[dict[str, float]],
    hit_value: float,
) -> Realised:
    fn = positives - tp
    tn = rows - tp - fp - fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, positives)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    figures = {
        "accuracy": _wilson(tp + tn, rows),
        "precision": _wilson(tp, tp + fp),
        "recall": _wilson(tp, positives),
        "f1": Figure(f1, None, None),
        "roc_auc": _auc_interval(auc, positives, rows - positives),
        "pr_auc": Figure(pr_auc, None, None),
        "brier": brier,
    }
    return Realised(
        rows,
        positives,
        threshold,
        figures=figures,
        confusion={"tn": tn, "fp": fp, "fn": fn, "tp": tp},
        calibration=calibration,
        flagged_positive_value=hit_value,
    )


def _brier_from_powers(powers: np.ndarray, rows: int, positives: int) -> Figure:
    """Mean and interval of (p - y)², from each class's sums of p..p⁴: for y = 1,
    (1 - p)² = 1 - 2p + p² and (1 - p)⁴ = 1 - 4p + 6p² - 4p³ + p⁴."""
    (_, n2, _, n4), (p1, p2, p3, p4) = powers
    squares = n2 + positives - 2 * p1 + p2
    fourths = n4 + positives - 4 * p1 + 6 * p2 - 4 * p3 + p4
    mean = squares / rows
    variance = max((fourths - rows * mean**2) / (rows - 1), 0.0) if rows > 1 else 0.0
    half = Z95 * math.sqrt(variance / rows)
    return Figure(float(mean), max(0.0, mean - half), mean + half)


def _calibration_from_tally(tally: Tally) -> list[dict[str, float]]:
    counts = tally.counts.reshape(2, CALIBRATION_BINS, -1).sum(axis=2)  # (class, tenth)
    rows = counts.sum(axis=0)
    return [
        {"low": b / CALIBRATION_BINS, "high": (b + 1) / CALIBRATION_BINS, "rows": int(rows[b]),
         "predicted": float(tally.tenth_probability[b] / rows[b]), "observed": float(counts[1, b] / rows[b])}
        for b in range(CALIBRATION_BINS)
        if rows[b]
    ]  # fmt: skip


def _too_few(rows: int, positives: int, min_outcomes: int, min_per_class: int) -> str | None:
    if rows < min_outcomes:
        return f"{rows:,} labelled prediction{'' if rows == 1 else 's'}; at least {min_outcomes:,} are needed"
    if min(positives, rows - positives) < min_per_class:
        return (
            f"{positives:,} positive and {rows - positives:,} negative outcomes; "
            f"at least {min_per_class:,} of each are needed"
        )
    return None


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The probability that a positive is ranked above a negative, ties counting half
    (Mann-Whitney from average ranks: what scikit-learn's roc_auc_score gives)."""
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    ranks = np.empty(len(p), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(p)]
    average = (starts + ends + 1) / 2.0  # ranks from 1; a tie shares its mean
    ranks[order] = np.repeat(average, ends - starts)
    positives = int(y.sum())
    negatives = len(y) - positives
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """The precision at each distinct score, weighted by the recall it adds (scikit-learn's
    average_precision_score)."""
    order = np.argsort(-p, kind="mergesort")
    ranked, hits = p[order], y[order].astype(np.int64)
    last = np.r_[ranked[1:] != ranked[:-1], True]  # the last row of each distinct score
    tp = np.cumsum(hits)[last]
    flagged = (np.flatnonzero(last) + 1).astype(np.float64)
    recall_gain = np.diff(np.r_[0, tp]) / tp[-1]
    return float(np.sum(recall_gain * tp / flagged))


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, float]]:
    """Mean predicted against observed rate, per probability tenth that holds rows; a
    probability on an edge goes to the tenth below it (as the test split's calibration,
    from scikit-learn's calibration_curve)."""
    index = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p)
    counts = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
    return [
        {"low": b / bins, "high": (b + 1) / bins, "rows": int(counts[b]), "predicted": predicted[b] / counts[b],
         "observed": observed[b] / counts[b]}
        for b in range(bins)
        if counts[b]
    ]  # fmt: skip


def _wilson(successes: int, trials: int) -> Figure:
    """A proportion with Wilson's score interval (sound near 0 and 1, unlike the normal one)."""
    if not trials:
        return Figure(0.0, None, None)
    share = successes / trials
    denominator = 1 + Z95**2 / trials
    centre = (share + Z95**2 / (2 * trials)) / denominator
    half = Z95 * math.sqrt(share * (1 - share) / trials + Z95**2 / (4 * trials**2)) / denominator
    return Figure(share, max(0.0, centre - half), min(1.0, centre + half))


def _auc_interval(auc: float, positives: int, negatives: int) -> Figure:
    """Hanley and McNeil's (1982) standard error of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)) / (
        positives * negatives
    )
    half = Z95 * math.sqrt(max(variance, 0.0))
    return Figure(auc, max(0.0, auc - half), min(1.0, auc + half))


def _mean_interval(values: np.ndarray) -> Figure:
    mean = float(values.mean())
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return Figure(mean, max(0.0, mean - half), mean + half)
