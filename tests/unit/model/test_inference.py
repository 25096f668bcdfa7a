"""The one scoring function: exact probabilities, every kind of bad input, warnings, reasons."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.model.inference import InvalidInput, score_batch, score_record
from lib.model_loader import load_model
from lib.training.config import load_config
from lib.training.data import load_dataset, split_rows
from lib.training.pipeline import train
from tests.helpers import TELCO_CONFIG


@pytest.fixture(scope="module")
def telco_test_split():
    config = load_config(TELCO_CONFIG)
    dataset = load_dataset(config)
    rows = split_rows(dataset.target, config).test
    return dataset.features.iloc[rows].reset_index(drop=True)


def as_record(row: pd.Series) -> dict:
    return {name: (None if pd.isna(value) else value) for name, value in row.items()}


@pytest.fixture
def customer(telco_test_split):
    return as_record(telco_test_split.iloc[0])


def test_batch_probabilities_equal_predict_proba_on_the_whole_test_split(telco_model, telco_test_split):
    expected = telco_model.pipeline.predict_proba(telco_test_split)[:, 1]
    batch = score_batch(telco_test_split, telco_model)
    assert not batch.errors
    np.testing.assert_allclose(batch.table["probability"].to_numpy(), expected, rtol=0, atol=1e-9)


def test_record_probabilities_equal_predict_proba(telco_model, telco_test_split):
    expected = telco_model.pipeline.predict_proba(telco_test_split)[:, 1]
    records = [as_record(row) for _, row in telco_test_split.iterrows()]
    batch = score_batch(records, telco_model)
    np.testing.assert_allclose(batch.table["probability"].to_numpy(), expected, rtol=0, atol=1e-9)
    for position in (0, 17, 500):
        single = score_record(records[position], telco_model)
        assert abs(single.probability - expected[position]) <= 1e-9


def test_prediction_carries_everything_a_user_reads(telco_model, customer):
    prediction = score_record(customer, telco_model)
    assert prediction.label in ("Yes", "No")
    assert prediction.predicted_positive == (prediction.probability >= telco_model.threshold)
    assert prediction.label == ("Yes" if prediction.predicted_positive else "No")
    assert prediction.threshold == telco_model.threshold
    assert prediction.confidence in ("low", "medium", "high")
    assert prediction.confidence_accuracy is not None
    assert prediction.quality_score == 1.0 and prediction.warnings == []
    assert prediction.model_version == telco_model.version
    assert prediction.latency_ms > 0
    assert 1 <= len(prediction.reasons) <= 5
    sizes = [abs(r["contribution"]) for r in prediction.reasons]
    assert sizes == sorted(sizes, reverse=True)
    assert set(prediction.to_dict()) >= {"label", "probability", "threshold", "confidence", "reasons", "warnings"}


def test_reasons_measure_the_change_from_the_typical_value(telco_model, customer):
    prediction = score_record(customer, telco_model)
    top = prediction.reasons[0]
    typical = {**customer, top["feature"]: top["reference"]}
    moved = prediction.probability - score_record(typical, telco_model, explain=False).probability
    assert top["contribution"] == pytest.approx(moved, abs=1e-9)
    assert top["direction"] == ("raises" if moved > 0 else "lowers")
    assert score_record(customer, telco_model, explain=False).reasons == []


def expect_errors(model, record, *expected):
    with pytest.raises(InvalidInput) as error:
        score_record(record, model)
    problems = {(p.field, p.code) for p in error.value.errors[0].problems}
    for item in expected:
        assert item in problems, problems
    return error.value


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("tenure", "12", "wrong_type"),
        ("tenure", True, "wrong_type"),
        ("tenure", {"months": 3}, "wrong_type"),
        ("tenure", [1], "wrong_type"),
        ("Contract", 1, "wrong_type"),
        ("tenure", math.nan, "not_finite"),
        ("MonthlyCharges", math.inf, "not_finite"),
        ("MonthlyCharges", -math.inf, "not_finite"),
        ("tenure", -1, "out_of_bounds"),
        ("tenure", 1e308, "out_of_bounds"),
        ("tenure", 10**400, "out_of_bounds"),
        ("tenure", None, "missing"),
    ],
)
def test_each_kind_of_bad_value_is_named(telco_model, customer, field, value, code):
    error = expect_errors(telco_model, {**customer, field: value}, (field, code))
    assert field in str(error)


def test_absent_field_is_missing(telco_model, customer):
    del customer["Contract"]
    expect_errors(telco_model, customer, ("Contract", "missing"))


def test_every_bad_field_is_named_at_once(telco_model, customer):
    record = {**customer, "tenure": "x", "MonthlyCharges": math.nan}
    del record["gender"]
    expect_errors(
        telco_model, record, ("tenure", "wrong_type"), ("MonthlyCharges", "not_finite"), ("gender", "missing")
    )


def test_a_record_must_be_an_object(telco_model):
    expect_errors(telco_model, ["tenure", 3], ("", "wrong_type"))


def test_nullable_feature_is_imputed_with_a_warning(telco_model, customer):
    prediction = score_record({**customer, "TotalCharges": None}, telco_model)
    assert [w["code"] for w in prediction.warnings] == ["imputed"]
    assert prediction.quality_score == 0.75


def test_unusual_but_valid_values_are_scored_with_warnings(telco_model, customer):
    record = {**customer, "tenure": 500, "PaymentMethod": "Crypto", "customerID": "X-1", "nickname": "Bob"}
    prediction = score_record(record, telco_model)
    codes = {(w["field"], w["code"]) for w in prediction.warnings}
    assert ("tenure", "outside_training_range") in codes
    assert ("PaymentMethod", "unseen_category") in codes
    assert ("nickname", "ignored_fields") in codes  # the id column is ignored silently
    assert prediction.quality_score == 0.5


def test_fractional_value_for_a_whole_number_feature_warns(telco_model, customer):
    prediction = score_record({**customer, "tenure": 12.5}, telco_model)
    assert [w["code"] for w in prediction.warnings] == ["not_whole"]


def test_unknown_category_is_refused_when_the_schema_is_closed(synthetic_config, tmp_path):
    train(load_config(synthetic_config), tmp_path, log=lambda _line: None)
    model = load_model(str(tmp_path))
    record = {"age": 40, "plan": "gold", "balance": 1500.0, "region": "north"}
    expect_errors(model, record, ("plan", "unknown_category"))
    assert score_record({**record, "plan": "plus"}, model).label in ("gone", "stayed")


def test_batch_scores_valid_rows_and_lists_the_rest(telco_model, telco_test_split):
    frame = telco_test_split.head(6).copy().astype({"tenure": object, "MonthlyCharges": object})
    frame.loc[1, "tenure"] = "twelve"
    frame.loc[3, "MonthlyCharges"] = -5.0
    frame.loc[4, "Contract"] = None
    batch = score_batch(frame, telco_model)
    assert list(batch.table.index) == [0, 2, 5]
    assert [(e.index, e.problems[0].field, e.problems[0].code) for e in batch.errors] == [
        (1, "tenure", "wrong_type"),
        (3, "MonthlyCharges", "out_of_bounds"),
        (4, "Contract", "missing"),
    ]
    expected = telco_model.pipeline.predict_proba(telco_test_split.iloc[[0, 2, 5]])[:, 1]
    np.testing.assert_allclose(batch.table["probability"], expected, atol=1e-9)


def test_csv_text_is_parsed_like_a_file(telco_model, telco_test_split):
    text = telco_test_split.head(3).astype(str).replace("nan", "")
    batch = score_batch(text, telco_model)
    assert not batch.errors
    expected = telco_model.pipeline.predict_proba(telco_test_split.head(3))[:, 1]
    np.testing.assert_allclose(batch.table["probability"], expected, atol=1e-9)


def test_missing_columns_refuse_the_whole_table(telco_model, telco_test_split):
    with pytest.raises(InvalidInput, match="missing columns: tenure, Contract"):
        score_batch(telco_test_split.drop(columns=["tenure", "Contract"]), telco_model)


def test_list_batch_keeps_record_indices(telco_model, customer):
    batch = score_batch([customer, {**customer, "tenure": "1"}, customer], telco_model, explain=True)
    assert list(batch.table.index) == [0, 2]
    assert batch.errors[0].index == 1
    assert [p.probability for p in batch.predictions()] == pytest.approx([batch.table["probability"].iloc[0]] * 2)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**20), 10**20), st.text(max_size=3), st.none()
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tenure=numbers, monthly=numbers, contract=st.one_of(st.text(max_size=12), st.integers(), st.none()))
def test_any_input_is_scored_exactly_or_refused_cleanly(telco_model, customer, tenure, monthly, contract):
    record = {**customer, "tenure": tenure, "MonthlyCharges": monthly, "Contract": contract}
    try:
        prediction = score_record(record, telco_model, explain=False)
    except InvalidInput as error:
        assert error.errors and all(
            p.field in ("tenure", "MonthlyCharges", "Contract") for p in error.errors[0].problems
        )
        return
    frame = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in record.items()}])[telco_model.schema.names]
    frame["Contract"] = frame["Contract"].astype(object)
    expected = telco_model.pipeline.predict_proba(frame)[0, 1]
    assert 0.0 <= prediction.probability <= 1.0
    assert abs(prediction.probability - expected) <= 1e-9
