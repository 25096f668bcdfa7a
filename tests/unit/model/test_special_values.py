"""A sentinel number ("pdays = -1": never contacted) is a case of its own: kept out of the
training range, never warned about, and a separate point of the what-if."""

import shutil

import pytest

from lib.model.explain import what_if
from lib.model.inference import score_record
from lib.model.validation import validate_record
from lib.model_loader import load_model
from lib.training.config import ConfigError, load_config
from lib.training.data import DataError, build_schema, load_dataset, split_rows


@pytest.fixture
def campaign_model(campaign_registry):
    return load_model(str(campaign_registry))


def pdays(model):
    return next(spec for spec in model.schema.features if spec.name == "pdays")


def test_the_sentinel_is_kept_out_of_the_training_range_but_scored_as_itself(campaign_model):
    spec = pdays(campaign_model)
    assert spec.special_values == {-1.0: "never contacted"} and spec.training_range[0] >= 1
    assert spec.title == "Days since last contact" and spec.default == -1.0  # most were never contacted
    record = {s.name: s.default for s in campaign_model.schema.features}
    _, errors, warnings = validate_record({**record, "pdays": -1}, campaign_model.schema)
    assert not errors and not warnings
    _, _, warnings = validate_record({**record, "pdays": 900}, campaign_model.schema)
    assert [w.code for w in warnings] == ["outside_training_range"]  # a real number out of range still warns
    never = score_record({**record, "pdays": -1}, campaign_model).probability
    recent = score_record({**record, "pdays": 5}, campaign_model).probability
    assert never != recent


def test_the_what_if_shows_the_sentinel_as_its_own_case(campaign_model):
    record = {s.name: s.default for s in campaign_model.schema.features}
    curve = what_if(campaign_model, {**record, "pdays": 30.0}, "pdays")
    special = curve[curve["case"].notna()]
    assert special["value"].tolist() == [-1.0] and special["case"].tolist() == ["never contacted"]
    ordinary = curve[curve["case"].isna()]
    assert ordinary["value"].min() >= pdays(campaign_model).training_range[0]
    assert curve.loc[curve["is_current"], "value"].tolist() == [30.0]


def config_beside(campaign_config, tmp_path, text):
    """A changed copy of the campaign config, with its CSV beside it."""
    shutil.copy(campaign_config.parent / "campaign.csv", tmp_path / "campaign.csv")
    (tmp_path / "changed.toml").write_text(text)
    return tmp_path / "changed.toml"


@pytest.mark.parametrize(
    ("special", "message"),
    [
        ('{ "never" = "x" }', "[features.pdays].special: 'never' is not a number"),
        ('{ "-1" = "" }', "a finite number labelled with 1 to 60 characters"),
        ('{ "nan" = "x" }', "a finite number"),
    ],
)
def test_a_bad_special_value_is_refused_by_its_key(campaign_config, tmp_path, special, message):
    text = campaign_config.read_text().replace('{ "-1" = "never contacted" }', special)
    with pytest.raises(ConfigError) as error:
        load_config(config_beside(campaign_config, tmp_path, text))
    assert message in str(error.value) and "[features.pdays].special" in str(error.value)


def test_a_special_value_on_a_text_column_is_refused_by_its_key(campaign_config, tmp_path):
    text = campaign_config.read_text() + '\n[features.job]\nspecial = { "0" = "none" }\n'
    config = load_config(config_beside(campaign_config, tmp_path, text))
    dataset = load_dataset(config)
    with pytest.raises(DataError, match=r"\[features.job\].special: 'job' is not a numeric column"):
        build_schema(dataset, split_rows(dataset.target, config).train, config)
