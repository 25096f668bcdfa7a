"""The checks on data uploaded for retraining."""

import pandas as pd
import pytest

from lib.retraining.upload import read_training_csv
from lib.settings import PROJECT_ROOT
from lib.training.config import load_config

CONFIG = load_config(PROJECT_ROOT / "data" / "telco.toml")


RAW = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes()


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
