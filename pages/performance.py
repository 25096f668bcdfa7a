"""Model performance: test-split metrics, curves, importance, and a threshold slider."""

import pandas as pd
import streamlit as st

from lib.business.portfolio import business_optimal_threshold, threshold_row
from lib.ui import charts
from lib.ui.helpers import candidates_table, money, served_model
from lib.ui.wording import wording

st.title("Model performance")
model = served_model()
kpis, schema = model.kpis, model.schema
metrics = kpis.metrics
st.caption(f"All figures are on the untouched test split ({metrics['rows']:,} rows) of model {model.version}.")

names = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC (average precision)",
    "brier": "Brier score (lower is better)",
    "log_loss": "Log loss (lower is better)",
}
left, right = st.columns([1, 1])
left.dataframe(
    pd.DataFrame({"metric": list(names.values()), "value": [round(metrics[key], 4) for key in names]}),
    hide_index=True,
    key="metrics_table",
)
right.plotly_chart(
    charts.confusion_heatmap(metrics["confusion_matrix"], schema.negative_label, schema.positive_label), key="confusion"
)

curves = kpis.curves
row = st.columns(2)
row[0].plotly_chart(charts.roc_chart(curves, metrics["roc_auc"]), key="roc")
row[1].plotly_chart(charts.pr_chart(curves, metrics["pr_auc"], kpis.base_rate), key="pr")
row = st.columns(2)
row[0].plotly_chart(charts.calibration_chart(curves), key="calibration")
row[1].plotly_chart(charts.gain_chart(curves, wording(model).ranked), key="gain")
st.plotly_chart(charts.importance_chart(kpis.feature_importance), key="importance")
st.markdown(f"**Families compared at training** (the served one: {model.metadata.model.family.replace('_', ' ')})")
st.dataframe(candidates_table(kpis.candidates), hide_index=True, key="candidates")

st.subheader("Threshold")
table = kpis.threshold_table
optimal = business_optimal_threshold(table)
has_profit = optimal is not None
marks = {"chosen": model.threshold, **({"business-optimal": optimal} if has_profit else {})}
threshold = st.slider("Decision threshold", 0.01, 0.99, float(model.threshold), 0.01, key="threshold")
at, chosen = threshold_row(table, threshold), threshold_row(table, model.threshold)
cards = st.columns(4)
for card, (name, label) in zip(cards, (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")), strict=False):
    card.metric(label, f"{at[name]:.3f}", delta=f"{at[name] - chosen[name]:+.3f}")
if has_profit:
    currency = model.metadata.business.currency
    delta = f"{at['profit'] - chosen['profit']:+,.0f} vs chosen"
    cards[3].metric("Expected profit", money(at["profit"], currency), delta=delta)
else:
    cards[3].metric("Expected profit", "n/a", help="The dataset config has no [business] section.")
st.caption(
    f"Chosen threshold {model.threshold:.2f} ({model.metadata.threshold_criterion.replace('_', ' ')} on the "
    "validation split)" + (f"; business-optimal on the test split {optimal:.2f}." if has_profit else ".")
)
row = st.columns(2)
row[0].plotly_chart(
    charts.confusion_heatmap(
        {k: at[k] for k in ("tp", "fp", "tn", "fn")}, schema.negative_label, schema.positive_label
    ),
    key="confusion_at",
)
row[1].plotly_chart(charts.threshold_chart(table, {**marks, "selected": threshold}), key="threshold_chart")
if has_profit:
    st.plotly_chart(charts.profit_chart(table, {**marks, "selected": threshold}, currency), key="profit")
