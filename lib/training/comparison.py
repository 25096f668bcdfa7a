"""The served model against a new one: both scored on the same held-out rows, and the
gate that decides whether the new one is promoted automatically."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.model.inference import score_batch
from lib.model.loaded import LoadedModel
from lib.settings import PROMOTION_METRICS
from lib.training.evaluation import classification_metrics, curves

# Both models are compared on every metric the gate may use (PROMOTION_METRIC).
COMPARED = PROMOTION_METRICS
LOWER_IS_BETTER = {"brier", "log_loss"}


def compare_with_champion(
    champion: LoadedModel, test_x: pd.DataFrame, test_y: np.ndarray, test_p: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Both models scored on the same held-out rows: the new model's test split (which is
    the served model's own test split when the data and the seed are the same)."""
    missing = [name for name in champion.schema.names if name not in test_x.columns]
    if missing:
        return {
            "champion_version": champion.version,
            "comparable": False,
            "reason": f"the served model needs columns the new data lacks: {', '.join(missing)}",
        }
    batch = score_batch(test_x[champion.schema.names].reset_index(drop=True), champion, explain=False)
    scored = batch.table.index.to_numpy()  # rows the served model refuses (closed categories) are left out
    if len(scored) < 2 or len(np.unique(test_y[scored])) < 2:
        return {
            "champion_version": champion.version,
            "comparable": False,
            "reason": "the served model refuses too many of the test rows to be compared",
        }
    champion_p = batch.table["probability"].to_numpy()
    mine = classification_metrics(test_y[scored], test_p[scored], threshold)
    theirs = classification_metrics(test_y[scored], champion_p, champion.threshold)
    return {
        "champion_version": champion.version,
        "comparable": True,
        "rows": len(scored),
        "split": "test split of the new model",
        "challenger": {k: mine[k] for k in COMPARED},
        "champion": {k: theirs[k] for k in COMPARED},
        "roc": {
            "challenger": curves(test_y[scored], test_p[scored])["roc"],
            "champion": curves(test_y[scored], champion_p)["roc"],
        },
    }


def compare_on_holdout(
    champion: LoadedModel, challenger: LoadedModel, holdout: pd.DataFrame, target: str, positive_label: str
) -> dict[str, Any]:
    """Both models on the newest recorded outcomes, which neither trained on (the rows the
    new model scores; compare_with_champion leaves out those the served one refuses)."""
    y = (holdout[target] == positive_label).to_numpy(dtype=int)
    mine = score_batch(holdout[challenger.schema.names].reset_index(drop=True), challenger, explain=False).table
    scored = mine.index.to_numpy()
    comparison = compare_with_champion(
        champion,
        holdout.iloc[scored].reset_index(drop=True),
        y[scored],
        mine["probability"].to_numpy(),
        challenger.threshold,
    )
    return {**comparison, "split": "newest recorded outcomes, held out from training"}


def gate(comparison: dict[str, Any] | None, metric: str, tolerance: float) -> tuple[bool, str]:
    """Promote automatically unless the new model is worse than the served one by more
    than `tolerance` on `metric`; the sentence says why, for the audit log."""
    if comparison is None:
        return True, "no model was being served"
    if not comparison["comparable"]:
        return False, f"not compared with {comparison['champion_version']}: {comparison['reason']}"
    new, old = comparison["challenger"][metric], comparison["champion"][metric]
    worse_by = (new - old) if metric in LOWER_IS_BETTER else (old - new)
    verdict = f"{metric} {new:.4f} against {old:.4f} for {comparison['champion_version']} (tolerance {tolerance:g})"
    if worse_by > tolerance:
        return False, f"kept as a candidate: {verdict}"
    return True, f"promoted automatically: {verdict}"
