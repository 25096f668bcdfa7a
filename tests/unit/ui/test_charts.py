"""Every figure the pages show is a valid plotly figure (validated here, not at run time)."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from lib.model.explain import what_if
from lib.model.inference import score_record
from lib.monitoring.drift import feature_report
from lib.ui import charts


def validated(figure: go.Figure) -> dict:
    """Rebuild the figure with plotly's full validation: raises on any invalid property."""
    spec = figure.to_dict()
    go.Figure(spec)
    return spec


@pytest.fixture(scope="module")
def prediction(telco_model):
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    record["tenure"] = 2
    return record, score_record(record, telco_model)


def test_predict_page_figures(telco_model, prediction):
    record, result = prediction
    gauge = validated(charts.probability_gauge(result.probability, result.threshold))
    assert gauge["data"][0]["value"] == pytest.approx(result.probability * 100)
    assert gauge["data"][0]["gauge"]["threshold"]["value"] == pytest.approx(result.threshold * 100)
    reasons = validated(charts.reasons_bar(result.reasons))
    assert reasons["data"][0]["y"][-1] == "tenure = 2"  # the biggest reason on top, written as typed
    for feature in ("tenure", "Contract"):
        spec = next(s for s in telco_model.schema.features if s.name == feature)
        curve = what_if(telco_model, record, feature)
        figure = validated(charts.what_if_chart(curve, feature, result.threshold, spec.is_numeric))
        assert figure["layout"]["shapes"][0]["y0"] == pytest.approx(result.threshold * 100)
        assert figure["data"][1]["x"], "the customer's own value is marked"


def test_performance_page_figures(telco_model):
    kpis = telco_model.kpis
    validated(charts.confusion_heatmap(kpis.metrics["confusion_matrix"], "No", "Yes"))
    validated(charts.roc_chart(kpis.curves, kpis.metrics["roc_auc"]))
    validated(charts.pr_chart(kpis.curves, kpis.metrics["pr_auc"], kpis.base_rate))
    validated(charts.calibration_chart(kpis.curves))
    validated(charts.gain_chart(kpis.curves))
    importance = validated(charts.importance_chart(kpis.feature_importance))
    assert importance["data"][0]["y"][-1] == kpis.feature_importance[0]["feature"]
    marks = {"chosen": 0.24, "business-optimal": 0.27, "selected": 0.5}
    threshold = validated(charts.threshold_chart(kpis.threshold_table, marks))
    assert [shape["x0"] for shape in threshold["layout"]["shapes"]] == list(marks.values())
    validated(charts.profit_chart(kpis.threshold_table, marks, "$"))


def test_batch_business_and_distribution_figures(telco_model):
    validated(charts.probability_histogram(np.linspace(0, 1, 50), 0.3))
    table = pd.DataFrame({"segment": ["a", "b"], "revenue_at_risk": [10.0, 5.0]})
    validated(charts.segment_chart(table, "plan", "revenue_at_risk", "Revenue at risk"))
    curve = pd.DataFrame({"targeted": [0, 1, 2], "cutoff": [1.0, 0.9, 0.5], "expected_profit": [0.0, 5.0, 3.0]})
    validated(charts.campaign_chart(curve, curve.loc[1], "$"))
    numeric = telco_model.kpis.distributions["tenure"]
    recent = {i: 1 for i in range(len(numeric["histogram"]["counts"]))}
    figure = validated(charts.drift_chart(feature_report(numeric, [], recent), "tenure"))
    assert [trace["name"] for trace in figure["data"]] == ["training", "recent"]
    assert "missing" not in figure["data"][0]["x"]  # empty on both sides: left out
    categorical = telco_model.kpis.distributions["Contract"]
    spec = next(s for s in telco_model.schema.features if s.name == "Contract")
    figure = validated(charts.drift_chart(feature_report(categorical, spec.categories, {3: 5}), "Contract"))
    assert sum(figure["data"][0]["y"]) == pytest.approx(1.0)
    assert figure["data"][1]["x"][-1] == "(unseen)" and figure["data"][1]["y"][-1] == 1.0
    series = [
        {
            "start": 1_800_000_000 + 60 * i,
            "requests": i,
            "errors": i // 2,
            "by_source": {"api": i},
            "p50": 1.0,
            "p95": 2.0,
            "p99": None,
        }
        for i in range(3)
    ]
    assert validated(charts.throughput_chart(series, 60))["data"][0]["y"] == [0, 1 / 60, 2 / 60]
    assert validated(charts.error_rate_chart(series))["data"][0]["y"] == [None, 0.0, 0.5]
    assert len(validated(charts.latency_chart(series))["data"]) == 3
    roc = telco_model.kpis.curves["roc"]
    figure = validated(charts.roc_comparison_chart({"challenger": roc, "champion": roc}, 0.84, 0.83))
    assert [trace["name"] for trace in figure["data"]][:2] == ["new model (AUC 0.840)", "served model (AUC 0.830)"]
