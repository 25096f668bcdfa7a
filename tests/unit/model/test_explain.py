"""What-if curves: the probability as one feature varies."""

import pytest

from lib.model.explain import UnknownFeature, what_if
from lib.model.inference import score_record


@pytest.fixture
def customer(telco_model):
    return {spec.name: spec.default for spec in telco_model.schema.features}


def test_what_if_spans_the_training_range_and_marks_the_customer(telco_model, customer):
    curve = what_if(telco_model, {**customer, "tenure": 5.0}, "tenure")
    assert curve["value"].min() == 0 and curve["value"].max() == 72
    assert curve.loc[curve["is_current"], "value"].tolist() == [5.0]
    own = curve.loc[curve["is_current"], "probability"].iloc[0]
    assert own == pytest.approx(score_record({**customer, "tenure": 5.0}, telco_model).probability, abs=1e-12)
    assert curve["probability"].iloc[0] > curve["probability"].iloc[-1]  # longer tenure, less churn


def test_what_if_over_categories_and_unknown_features(telco_model, customer):
    curve = what_if(telco_model, customer, "Contract")
    assert curve["value"].tolist() == ["Month-to-month", "One year", "Two year"]
    with pytest.raises(UnknownFeature):
        what_if(telco_model, customer, "nope")
