"""Loading a dataset: blanks, type inference, ids, target encoding and the split."""

import shutil

import numpy as np
import pytest

from lib.training.config import load_config
from lib.training.data import DataError, load_dataset, split_rows
from tests.helpers import TELCO_CONFIG


@pytest.fixture(scope="module")
def telco():
    config = load_config(TELCO_CONFIG)
    return config, load_dataset(config)


def test_telco_types_are_inferred_and_blank_totals_become_missing(telco):
    _, dataset = telco
    assert dataset.numeric == ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]
    assert "Contract" in dataset.categorical and "gender" in dataset.categorical
    assert dataset.features["TotalCharges"].isna().sum() == 11
    assert dataset.features["TotalCharges"].dtype == float
    assert dataset.integer == ["SeniorCitizen", "tenure"]


def test_id_and_target_are_never_features(telco):
    _, dataset = telco
    assert "customerID" not in dataset.features.columns
    assert "Churn" not in dataset.features.columns
    assert len(dataset.features.columns) == 19


def test_target_is_encoded_from_the_positive_label(telco):
    _, dataset = telco
    assert dataset.target.sum() == 1869 and len(dataset.target) == 7043
    assert dataset.negative_label == "No"
    assert dataset.sha256 == "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91"


def test_split_is_stratified_disjoint_and_repeatable(telco):
    config, dataset = telco
    first, second = split_rows(dataset.target, config), split_rows(dataset.target, config)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(
            (first.train, first.validation, first.test), (second.train, second.validation, second.test), strict=True
        )
    )
    everything = np.concatenate([first.train, first.validation, first.test])
    assert len(np.unique(everything)) == len(dataset.target)
    for part in (first.train, first.validation, first.test):
        assert abs(dataset.target[part].mean() - dataset.target.mean()) < 0.005
    assert len(first.test) == pytest.approx(0.2 * len(dataset.target), abs=1)


def test_synthetic_dataset_reads_with_its_own_separator_and_labels(synthetic_config):
    dataset = load_dataset(load_config(synthetic_config))
    assert list(dataset.features.columns) == ["age", "plan", "balance", "region"]
    assert dataset.numeric == ["age", "balance"] and dataset.categorical == ["plan", "region"]
    assert dataset.features["balance"].isna().sum() == 25
    assert dataset.negative_label == "stayed"


def _config_for(tmp_path, csv_text, extra=""):
    (tmp_path / "d.csv").write_text(csv_text, encoding="utf-8")
    path = tmp_path / "d.toml"
    path.write_text(f'[dataset]\ncsv = "d.csv"\ntarget = "y"\npositive_label = "1"\n{extra}', encoding="utf-8")
    return load_config(path)


@pytest.mark.parametrize(
    ("csv_text", "extra", "message"),
    [
        ("a;y\n1;1\n", "", "[dataset].target = 'y'. The header reads as one column split by ';'"),
        ("a,b\n1,1\n", "", "d.toml names columns that d.csv does not have: [dataset].target = 'y' (its columns: a, b)"),
        ("a,y\n1,1\n", "id_columns = ['key']\n", "[dataset].id_columns = 'key' (its columns: a, y)"),
        ("a,y\n1,1\n", "[features.b]\nlabel = 'B'\n", "[features.b] = 'b' (its columns: a, y)"),
        ("a,y\n1,0\n2,0\n", "", "positive label '1' never appears"),
        ("a,y\n1,1\n2,0\n3,2\n", "", "exactly 2 values"),
        ("a,y\n1,1\nx,0\n", "numeric_columns = ['a']\n", "configured as numeric but holds text such as 'x'"),
        ("a,y\n1,1\n2,0\n", "", "too few rows of one class"),
        ("y,id\n1,a\n0,b\n", "id_columns = ['id']\n", "no feature column is left"),
    ],
)
def test_unusable_data_is_refused_with_a_reason(tmp_path, csv_text, extra, message):
    with pytest.raises(DataError) as error:
        load_dataset(_config_for(tmp_path, csv_text, extra))
    assert message in str(error.value)


def test_rows_without_target_are_dropped_and_counted(tmp_path):
    rows = "".join(f"{i},{i % 2}\n" for i in range(40)) + "99,\n"
    dataset = load_dataset(_config_for(tmp_path, "a,y\n" + rows))
    assert (dataset.rows_read, dataset.rows_dropped, len(dataset.target)) == (41, 1, 40)


def test_a_value_column_with_negative_values_is_refused_with_the_reason(campaign_config, tmp_path):
    text = campaign_config.read_text().replace('value_column = "margin"', 'value_column = "balance"')
    shutil.copy(campaign_config.parent / "campaign.csv", tmp_path / "campaign.csv")
    (tmp_path / "balance.toml").write_text(text)
    with pytest.raises(DataError) as error:
        load_dataset(load_config(tmp_path / "balance.toml"))
    assert "[business].value_column 'balance' has" in str(error.value) and "negative values" in str(error.value)


def test_conversion_profit_counts_each_reached_buyer_once_with_the_uplift(campaign_config):
    from lib.training.evaluation import campaign_profit

    business = load_config(campaign_config).business
    y = np.array([1, 0, 1, 1])
    p = np.array([0.9, 0.8, 0.2, 0.7])
    value = np.array([100.0, 50.0, 80.0, 10.0])
    # contacted at 0.5: rows 0, 1, 3; buyers reached: 0 and 3 -> 0.5 x (100 + 10) - 3 x 4
    assert campaign_profit(y, p, value, 0.5, business) == pytest.approx(0.5 * 110 - 12)
