"""The champion/challenger gate, and the checks on data uploaded for retraining."""

import pandas as pd
import pytest

from lib.retraining.upload import read_training_csv
from lib.settings import PROJECT_ROOT
from lib.training.comparison import compare_with_champion, gate
from lib.training.config import load_config

CONFIG = load_config(PROJECT_ROOT / "data" / "telco.toml")
RAW = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes()


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


def test_the_bundled_data_passes_and_comes_back_as_a_table(telco_model):
    table, problems = read_training_csv(RAW, CONFIG, telco_model.schema.names)
    assert problems == [] and len(table) == 7043


def test_another_separator_is_read_too(telco_model):
    frame = pd.read_csv(PROJECT_ROOT / "data" / "telco-customer-churn.csv", dtype=str)
    table, problems = read_training_csv(frame.to_csv(sep=";", index=False).encode(), CONFIG, telco_model.schema.names)
    assert problems == [] and table.shape == frame.shape


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "the file is empty"),
        ("Churn,tenure\nYes,1\n".encode("utf-16"), "not UTF-8"),
        (b"customerID,Churn,Churn\n1,Yes,No\n", "more than once: Churn"),
        (b"customerID,tenure\n1,2\n", "the target column 'Churn' is missing"),
    ],
)
def test_each_problem_is_named(telco_model, raw, expected):
    table, problems = read_training_csv(raw, CONFIG, telco_model.schema.names)
    assert table is None and any(expected in p for p in problems), problems


def test_every_problem_of_a_file_is_listed_at_once(telco_model):
    frame = pd.read_csv(PROJECT_ROOT / "data" / "telco-customer-churn.csv", dtype=str, nrows=300)
    frame.loc[:5, "Churn"] = "Maybe"
    frame = frame.drop(columns=["Contract"])
    _, problems = read_training_csv(frame.to_csv(index=False).encode(), CONFIG, telco_model.schema.names)
    text = " | ".join(problems)
    assert "missing feature columns (1): Contract" in text
    assert "exactly two values, not 3" in text
    assert len(problems) == 2
