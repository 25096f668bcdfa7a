"""Overview: the served model and the business at a glance, and what each page is for."""

import streamlit as st

from lib.business.portfolio import campaign_defaults, revenue_at_risk
from lib.monitoring.decay import decay_watcher
from lib.monitoring.log import prediction_log
from lib.monitoring.store import StoreUnavailable
from lib.ui.helpers import money, outcome, percent, reference_customers, served_model
from lib.ui.wording import value_title

st.title("Prediction dashboard")
model = served_model()
metadata, metrics = model.metadata, model.kpis.metrics
st.caption(
    f"Model **{model.version}** ({metadata.model.family.replace('_', ' ')}), trained "
    f"{metadata.created_at} on {metadata.dataset.name} ({metadata.dataset.rows_used:,} rows)"
)

performance = decay_watcher().status(model.version)
if not performance["ok"]:
    st.error(f"**Model performance degraded.** {performance['reason']}.", icon=":material/trending_down:")
    st.page_link("pages/performance.py", label="See the live view on Model performance", icon=":material/insights:")

campaign = campaign_defaults(model)
portfolio = reference_customers(model)
try:
    made = prediction_log().totals()
except StoreUnavailable as exc:
    made, store_problem = None, str(exc)
cards = st.columns(4)
cards[0].metric("Base rate", percent(model.kpis.base_rate), help=f"Share of the dataset with {outcome(model)}.")
if campaign and portfolio is not None and portfolio.has_value:
    cards[1].metric(
        value_title(metadata.business),
        money(revenue_at_risk(portfolio, campaign), metadata.business.currency),
        help=f"Sum of probability x value over {portfolio.source}"
        + ("." if metadata.business.is_conversion else f", for {campaign.horizon_months:g} months."),
    )
else:  # no money to show: what the model flags instead
    counts = model.kpis.metrics["confusion_matrix"]
    flagged = (counts["tp"] + counts["fp"]) / max(1, sum(counts.values()))
    cards[1].metric(
        "Flagged at the threshold",
        percent(flagged),
        help=f"Share of the test split with a probability of at least {model.threshold:.2f}.",
    )
cards[2].metric("Model version", model.version.split("-")[0], help=model.version)
if made is None:
    cards[3].metric("Predictions made", "n/a", help=f"The monitoring store is unavailable: {store_problem}.")
else:
    cards[3].metric(
        "Predictions made",
        f"{sum(made.values()):,}",
        help=f"Logged over the last 90 days: form {made.get('ui', 0):,}, batch {made.get('batch', 0):,}, "
        f"API {made.get('api', 0):,}.",
    )
cards = st.columns(4)
cards[0].metric("Test ROC AUC", f"{metrics['roc_auc']:.3f}")
cards[1].metric("Test F1", f"{metrics['f1']:.3f}")
cards[2].metric("Threshold", f"{model.threshold:.2f}", help=metadata.threshold_criterion.replace("_", " "))
cards[3].metric("Recall at threshold", percent(metrics["recall"]))

st.subheader("Pages")
st.markdown(
    """
- **Predict**: score one customer from a form, see why, and explore what-if changes.
- **Batch scoring**: upload a CSV, score every valid row, see the refused ones, download the result.
- **Model performance**: metrics, curves, feature importance, a threshold slider, and the live view: how the model
  did on the predictions whose real outcome came back.
- **Business KPIs**: predicted rate and value at stake by segment, the customers to act on first, a campaign simulator.
- **Feature distributions**: what training saw for each feature, the recent inputs overlaid, and drift (PSI).
- **Health**: the service's state, latency, error rate and throughput, and the recent errors.
- **Retrain**: retrain on the bundled data or an upload, compare with the served model, promote or roll back.
"""
)
