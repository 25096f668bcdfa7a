"""Model performance: test-split metrics, curves, importance, and a threshold slider."""

import pandas as pd
import streamlit as st

from lib import charts
from lib.ui import money, served_model

st.title("Model performance")
model = served_model()
kpis, schema = model.kpis, model.schema
metrics = kpis["metrics"]
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

curves = kpis["curves"]
row = st.columns(2)
row[0].plotly_chart(charts.roc_chart(curves, metrics["roc_auc"]), key="roc")
row[1].plotly_chart(charts.pr_chart(curves, metrics["pr_auc"], kpis["base_rate"]), key="pr")
row = st.columns(2)
row[0].plotly_chart(charts.calibration_chart(curves), key="calibration")
row[1].plotly_chart(charts.gain_chart(curves), key="gain")
st.plotly_chart(charts.importance_chart(kpis["feature_importance"]), key="importance")

st.subheader("Threshold")
table = kpis["threshold_table"]
has_profit = table["profit"][0] is not None
marks = {"chosen": model.threshold}
if has_profit:
    best = max(range(len(table["threshold"])), key=lambda i: table["profit"][i])
    marks["business-optimal"] = table["threshold"][best]
threshold = st.slider("Decision threshold", 0.01, 0.99, float(model.threshold), 0.01, key="threshold")
position = min(range(len(table["threshold"])), key=lambda i: abs(table["threshold"][i] - threshold))
at = {name: values[position] for name, values in table.items()}
cards = st.columns(4)
cards[0].metric("Precision", f"{at['precision']:.3f}", delta=f"{at['precision'] - metrics['precision']:+.3f}")
cards[1].metric("Recall", f"{at['recall']:.3f}", delta=f"{at['recall'] - metrics['recall']:+.3f}")
cards[2].metric("F1", f"{at['f1']:.3f}", delta=f"{at['f1'] - metrics['f1']:+.3f}")
if has_profit:
    currency = model.metadata["business"]["currency"]
    chosen_profit = table["profit"][table["threshold"].index(model.threshold)]
    cards[3].metric(
        "Expected profit", money(at["profit"], currency), delta=f"{at['profit'] - chosen_profit:+,.0f} vs chosen"
    )
else:
    cards[3].metric("Expected profit", "n/a", help="The dataset config has no [business] section.")
st.caption(
    f"Chosen threshold {model.threshold:.2f} ({model.metadata['threshold_criterion'].replace('_', ' ')} on the "
    "validation split)"
    + (f"; business-optimal on the test split {marks['business-optimal']:.2f}." if has_profit else ".")
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
