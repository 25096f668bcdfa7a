"""Dataset configs: the shipped one loads; every kind of mistake names its key."""

from pathlib import Path

import pytest

from lib.training.config import ConfigError, load_config
from tests.helpers import TELCO_CONFIG

VALID = '[dataset]\ncsv = "x.csv"\ntarget = "y"\npositive_label = "1"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_telco_config_describes_the_bundled_csv():
    config = load_config(TELCO_CONFIG)
    assert config.csv_path.is_file()
    assert (config.target, config.positive_label, config.id_columns) == ("Churn", "Yes", ("customerID",))
    assert config.business is not None and config.business.value_column == "MonthlyCharges"
    assert config.hard_bounds["tenure"] == (0.0, 1200.0)


def test_minimal_config_gets_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, VALID))
    assert config.separator == ","
    assert config.unknown_categories == "warn"
    assert config.business is None
    assert (config.training.seed, config.training.cv_folds) == (42, 5)
    assert config.csv_path == (tmp_path / "x.csv").resolve()


def test_the_outcome_defaults_to_the_target_and_its_labels_as_a_risk(tmp_path):
    words = load_config(write(tmp_path, VALID)).outcome_for("0")
    assert (words.name, words.positive, words.negative, words.positive_is) == ("y", "1", "0", "risk")
    named = load_config(write(tmp_path, VALID + "[outcome]\nname = 'Purchase'\npositive_is = 'opportunity'\n"))
    assert named.outcome_for("0").name == "Purchase" and named.outcome_for("0").positive_is == "opportunity"
    telco = load_config(TELCO_CONFIG).outcome_for("No")
    assert (telco.name, telco.positive, telco.negative, telco.positive_is) == ("Churn", "Churned", "Stayed", "risk")


def test_integer_positive_label_is_read_as_text(tmp_path):
    assert load_config(write(tmp_path, VALID.replace('"1"', "1"))).positive_label == "1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "missing the [dataset] table"),
        ("[dataset\n", "not valid TOML"),
        ('[dataset]\ncsv = "x.csv"\npositive_label = "1"\n', "missing required key 'target'"),
        (VALID + "separator = ';;'\n", "must be one character"),
        (VALID + "id_columns = 'id'\n", "[dataset].id_columns: expected a list"),
        (VALID + "unknown_categories = 'maybe'\n", "must be 'warn' or 'reject'"),
        (VALID + "numeric_columns = ['a']\ncategorical_columns = ['a']\n", "both categorical and numeric"),
        (VALID + "[dataset.bounds]\na = [5, 1]\n", "must be below high"),
        (VALID + "[dataset.bounds]\na = [1, 'x']\n", "two numbers"),
        (VALID + "[dataset.bounds]\ny = [0, 1]\n", "cannot be a feature"),
        (
            VALID + "[business]\nvalue_column = 'v'\nhorizon_months = 12\ncontact_cost = 1\noffer_cost = 1\n"
            "offer_success_rate = 1.5\n",
            "offer_success_rate: must be between 0 and 1",
        ),
        (VALID + "[business]\nvalue_column = 'v'\n", "missing required key 'horizon_months'"),
        (VALID + "[training]\ncv_folds = 1\n", "cv_folds: must be between 2 and 20"),
        (VALID + "[training]\nseed = true\n", "seed: expected a number, got a boolean"),
        (VALID + "[training]\nvalidation_fraction = 0.4\ntest_fraction = 0.4\n", "at least 30 %"),
        (VALID + "[outcome]\npositive_is = 'good'\n", "[outcome].positive_is: must be 'risk' or 'opportunity'"),
        (VALID + "[outcome]\nname = ''\n", "[outcome].name: must be 1 to 60 characters"),
        (VALID + "[outcome]\npositive = 3\n", "[outcome].positive: expected a string"),
        (VALID + "[outcome]\npolarity = 'risk'\n", "[outcome]: unknown key 'polarity'"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert message in str(error.value)


def test_missing_config_file_says_where_it_looked(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset config not found: .*nowhere\.toml"):
        load_config(tmp_path / "nowhere.toml")


def test_a_conversion_campaign_reads_its_own_keys(tmp_path):
    text = VALID + "[business]\nkind = 'conversion'\nvalue_column = 'v'\ncontact_cost = 2\nuplift = 0.4\n"
    business = load_config(write(tmp_path, text)).business
    assert business.is_conversion and (business.horizon_months, business.offer_cost) == (1.0, 0.0)
    assert business.offer_success_rate == 0.4  # the uplift, counted as the retention rate is
    with pytest.raises(ConfigError, match="'horizon_months' is not a key of a conversion campaign"):
        load_config(write(tmp_path, text + "horizon_months = 12\n"))
    with pytest.raises(ConfigError, match="must be 'retention' or 'conversion'"):
        load_config(write(tmp_path, text.replace("'conversion'", "'upsell'")))
    retention = VALID + "[business]\nvalue_column = 'v'\nhorizon_months = 1\ncontact_cost = 1\noffer_cost = 1\n"
    with pytest.raises(ConfigError, match="'uplift' is not a key of a retention campaign"):
        load_config(write(tmp_path, retention + "offer_success_rate = 0.3\nuplift = 0.2\n"))
