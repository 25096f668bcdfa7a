"""The champion/challenger comparison and the gate that promotes automatically."""

import pandas as pd
import pytest

from lib.training.comparison import compare_with_champion, gate


def comparison(new: float, old: float, metric: str = "roc_auc") -> dict:
    return {"champion_version": "v1", "comparable": True, "challenger": {metric: new}, "champion": {metric: old}}


@pytest.mark.parametrize(
    ("new", "old", "metric", "promoted"),
    [
        (0.84, 0.84, "roc_auc", True),
        (0.836, 0.84, "roc_auc", True),  # worse by 0.004: within the 0.005 tolerance
        (0.834, 0.84, "roc_auc", False),  # worse by 0.006
        (0.90, 0.84, "roc_auc", True),
        (0.140, 0.137, "brier", True),  # lower is better: worse by 0.003
        (0.145, 0.137, "brier", False),
    ],
)
def test_the_gate_allows_the_tolerance_and_no_more(new, old, metric, promoted):
    decision, reason = gate(comparison(new, old, metric), metric, 0.005)
    assert decision is promoted
    assert f"{metric} {new:.4f} against {old:.4f} for v1" in reason


def test_the_gate_without_a_champion_or_a_comparison():
    assert gate(None, "roc_auc", 0.005) == (True, "no model was being served")
    promoted, reason = gate({"champion_version": "v1", "comparable": False, "reason": "no column x"}, "roc_auc", 0.1)
    assert not promoted and "no column x" in reason


def test_a_champion_needing_columns_the_data_lacks_is_not_comparable(telco_model):
    rows = pd.DataFrame({"tenure": [1.0, 2.0]})
    result = compare_with_champion(telco_model, rows, None, None, 0.5)
    assert not result["comparable"] and "Contract" in result["reason"]
