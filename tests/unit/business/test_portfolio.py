"""Business views: segments add up, the campaign curve is the profit formula, defaults come
from the bundle."""

import numpy as np
import pandas as pd
import pytest

from lib.business.portfolio import (
    Campaign,
    Portfolio,
    best_cutoff,
    business_optimal_threshold,
    cached_reference_portfolio,
    campaign_curve,
    campaign_defaults,
    default_segment_feature,
    revenue_at_risk,
    segment_table,
    threshold_row,
    top_risk,
)
from tests.helpers import TELCO_CONFIG


@pytest.fixture(scope="module")
def portfolio(telco_model):
    return cached_reference_portfolio(telco_model, TELCO_CONFIG)


def test_reference_portfolio_scores_every_customer(portfolio, telco_model):
    assert len(portfolio.frame) == 7043 and portfolio.has_actual and portfolio.has_value
    assert portfolio.frame["actual"].sum() == 1869
    assert cached_reference_portfolio(telco_model, TELCO_CONFIG) is portfolio  # once per version


def test_segments_add_up_to_the_whole(portfolio, telco_model):
    campaign = campaign_defaults(telco_model)
    table = segment_table(portfolio, telco_model, "Contract", campaign)
    assert table["customers"].sum() == 7043
    assert table["revenue_at_risk"].sum() == pytest.approx(revenue_at_risk(portfolio, campaign))
    month = table.set_index("segment").loc["Month-to-month"]
    assert month["actual_rate"] > 0.4 and month["predicted_rate"] > 0.3
    bands = segment_table(portfolio, telco_model, "tenure", campaign)
    assert bands["segment"].iloc[0].startswith("0 to ")  # bands in order, from the real minimum
    assert bands["customers"].sum() == 7043


def test_campaign_curve_is_the_expected_profit_formula():
    frame = pd.DataFrame(
        {
            "probability": [0.9, 0.1, 0.5],
            "value": [100.0, 50.0, 10.0],
            "predicted_positive": [True, False, True],
            "label": ["Y", "N", "Y"],
        }
    )
    portfolio = Portfolio(frame=frame, source="test", has_actual=False, has_value=True)
    campaign = Campaign(contact_cost=1.0, offer_cost=4.0, offer_success_rate=0.5, horizon_months=2.0)
    curve = campaign_curve(portfolio, campaign)
    # riskiest first: 0.9 (value 100), then 0.5 (value 10), then 0.1 (value 50)
    gains = np.array([0.9 * 0.5 * 100 * 2, 0.5 * 0.5 * 10 * 2, 0.1 * 0.5 * 50 * 2])
    expected = np.concatenate([[0.0], np.cumsum(gains) - 5.0 * np.arange(1, 4)])
    np.testing.assert_allclose(curve["expected_profit"], expected)
    assert best_cutoff(curve)["targeted"] == 1


def test_defaults_come_from_the_bundle(telco_model, portfolio):
    assert campaign_defaults(telco_model) == Campaign(5.0, 50.0, 0.3, 12.0)
    assert default_segment_feature(telco_model) == "Contract"
    risky = top_risk(portfolio, telco_model, 5)
    assert list(risky["probability"]) == sorted(risky["probability"], reverse=True)
    assert "customerID" in risky.columns


def test_threshold_helpers_read_the_training_table(telco_model):
    table = telco_model.kpis.threshold_table
    row = threshold_row(table, 0.504)
    assert row["threshold"] == 0.5
    assert (
        row["tp"] + row["fn"]
        == telco_model.kpis.metrics["confusion_matrix"]["tp"] + telco_model.kpis.metrics["confusion_matrix"]["fn"]
    )
    optimal = business_optimal_threshold(table)
    assert table["profit"][table["threshold"].index(optimal)] == max(table["profit"])
    assert business_optimal_threshold({**table, "profit": [None] * len(table["profit"])}) is None
