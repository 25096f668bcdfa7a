"""Realised ("live") performance of a model version over a window, next to its test
split: what `GET /metrics/model?source=live`, the Model performance page's live view and
the decay alert read (issue 18).

The window counts predictions by the day they were made (UTC days; the current one
included): "of the predictions made in the last 30 days whose outcome came back, how
many were right". Up to EXACT_MAX_ROWS labelled predictions, the figures come from the
rows themselves (equal to scikit-learn's); above, from the daily tallies, so the cost
stays flat however many predictions were logged (lib.monitoring.tally says what is
approximate then: the two AUCs, to within one 0.001 bin).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lib.monitoring.matching import DAY
from lib.monitoring.realised import MIN_OUTCOMES, MIN_PER_CLASS, Realised, realised_from_tally, realised_metrics
from lib.monitoring.tally import Tally

if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel

LIVE_WINDOWS = {"7d": 7, "30d": 30, "90d": 90}  # days, the current one included
DEFAULT_LIVE_WINDOW = "30d"
EXACT_MAX_ROWS = 20_000
COMPARED = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier")


class LiveSource(Protocol):
    """What the report reads from a store (lib.monitoring.store.RollupReader has it)."""

    def outcome_tallies(self, version: str, since: float) -> dict[int, Tally]: ...
    def labelled_rows(self, version: str, since: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def predictions_by_day(self, version: str, since: float) -> dict[int, int]: ...


class ShadowSource(Protocol):
    def shadow_pairs(
        self, champion: str, challenger: str, since: float, limit: int = ...
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def window_start(window: str, now: float) -> float:
    """The first day (UTC midnight) a window counts."""
    today = now // DAY * DAY
    return today - (LIVE_WINDOWS[window] - 1) * DAY


def live_realised(
    source: LiveSource, version: str, threshold: float, window: str, now: float | None = None
) -> tuple[Realised, dict[int, Tally], str]:
    """The window's realised figures, its daily tallies, and what they were computed from."""
    since = window_start(window, time.time() if now is None else now)
    tallies = source.outcome_tallies(version, since)
    labelled = sum(tally.rows for tally in tallies.values())
    if labelled <= EXACT_MAX_ROWS:
        outcome, probability, value = source.labelled_rows(version, since)
        return realised_metrics(outcome, probability, threshold, value), tallies, "rows"
    total = sum(tallies.values(), Tally.empty())
    return realised_from_tally(total, threshold), tallies, "daily tallies"


def live_report(source: LiveSource, model: LoadedModel, window: str, now: float | None = None) -> dict[str, Any]:
    """Realised figures of the served version over the window, coverage, campaign value,
    a daily series, and the test split's figures to compare with."""
    now = time.time() if now is None else now
    since = window_start(window, now)
    realised, tallies, computed_from = live_realised(source, model.version, model.threshold, window, now)
    made = source.predictions_by_day(model.version, since)
    predictions = sum(made.values())
    test = model.kpis.metrics
    return {
        "scope": "live",
        "version": model.version,
        "window": window,
        "since": _day_text(since),
        "threshold": model.threshold,
        "computed_from": computed_from,
        "minimum": {"outcomes": MIN_OUTCOMES, "per_class": MIN_PER_CLASS},
        "coverage": {
            "labelled": realised.rows,
            "predictions": predictions,
            "share": realised.rows / predictions if predictions else None,
        },
        **realised.to_dict(),
        "test": {name: test[name] for name in COMPARED if name in test},
        "campaign_value": _campaign_value(model, realised),
        "series": _series(tallies, made, model.threshold, since, now),
    }


def _campaign_value(model: LoadedModel, realised: Realised) -> dict[str, Any] | None:
    """Realised profit of contacting every labelled prediction at or above the threshold,
    per prediction next to the test split's: None without a business config or figures."""
    business, test = model.metadata.business, model.kpis.business
    if business is None or realised.withheld is not None:
        return None
    contacted = realised.confusion["tp"] + realised.confusion["fp"]
    profit = business.profit(contacted, realised.flagged_positive_value)
    test_per = test["expected_profit"] / test["customers"] if test and test.get("customers") else None
    return {
        "currency": business.currency,
        "contacted": contacted,
        "realised": profit,
        "per_prediction": profit / realised.rows,
        "test_per_prediction": test_per,
    }


def _series(
    tallies: dict[int, Tally], made: dict[int, int], threshold: float, since: float, now: float
) -> list[dict[str, Any]]:
    """One point per day of the window: predictions, labelled, observed and predicted
    positive rates, and ROC AUC (None below the minimum counts)."""
    return [
        _point(day, tallies.get(day), made.get(day, 0), threshold)
        for day in range(int(since), int(now // DAY * DAY) + 1, DAY)
    ]


def _point(day: int, tally: Tally | None, made: int, threshold: float) -> dict[str, Any]:
    labelled = 0 if tally is None else tally.rows
    point: dict[str, Any] = {"day": _day_text(day), "predictions": made, "labelled": labelled,
                             "observed_rate": None, "mean_probability": None, "roc_auc": None}  # fmt: skip
    if tally is None or not labelled:
        return point
    auc = realised_from_tally(tally, threshold).figures.get("roc_auc")
    return point | {
        "observed_rate": int(tally.counts[1].sum()) / labelled,
        "mean_probability": float(tally.powers[:, 0].sum() / labelled),
        "roc_auc": None if auc is None else auc.value,
    }


def _day_text(day: float) -> str:
    return datetime.fromtimestamp(day, UTC).date().isoformat()


def shadow_comparison(
    source: ShadowSource,
    champion: tuple[str, float],
    challenger: tuple[str, float],
    window: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The served version (name, threshold) and a challenger in shadow, each judged on the
    same labelled predictions of the window: those both scored (the newest 200,000)."""
    since = window_start(window, time.time() if now is None else now)
    outcome, served, shadowed = source.shadow_pairs(champion[0], challenger[0], since)
    return {
        "window": window,
        "rows": len(outcome),
        "champion": {"version": champion[0], **realised_metrics(outcome, served, champion[1]).to_dict()},
        "challenger": {"version": challenger[0], **realised_metrics(outcome, shadowed, challenger[1]).to_dict()},
    }
