"""Overview: is the model healthy, and what is it telling us? Each block links to its page."""

import streamlit as st

from lib.business.portfolio import campaign_defaults, revenue_at_risk
from lib.monitoring.log import prediction_log
from lib.monitoring.store import StoreUnavailable
from lib.server.health import health_report
from lib.ui.helpers import feature_titles, outcome, reference_customers, served_model
from lib.ui.i18n import N_, date_time, money, number, percent, t
from lib.ui.overview import (
    Alert,
    activity_chart,
    markdown_table,
    open_alerts,
    probability_chart,
    worst_drift,
)
from lib.ui.wording import value_title

WINDOW = "7d"  # what the Overview looks back over

st.title(t("Prediction dashboard"))
model = served_model()
metadata, metrics = model.metadata, model.kpis.metrics
st.caption(
    t(
        "Model {version} ({family}), trained {date} on {dataset}.",
        version=model.version,
        family=t(metadata.model.family.replace("_", " ")),
        date=date_time(metadata.created_at),
        dataset=metadata.dataset.name,
    )
)

try:
    activity = prediction_log().system(WINDOW)
    drift = prediction_log().drift(model, WINDOW)
    store_problem = None
except StoreUnavailable as exc:
    activity = drift = None
    store_problem = str(exc)

# --- open alerts ----------------------------------------------------------------------------
titles = feature_titles(model)
alerts: list[Alert] = open_alerts(health_report(model, None), drift, titles)
if alerts:
    for alert in alerts:
        box = st.error if alert.severity == "error" else st.warning
        box(f"**{t(alert.title, **alert.values)}** {alert.detail}", icon=":material/warning:")
        st.page_link(alert.page, label=t("Open {page}", page=t(alert.page_title)), icon=":material/arrow_forward:")
else:
    st.success(t("No open alerts: the service, the model and its inputs look as expected."), icon=":material/check:")

# --- headline figures -------------------------------------------------------------------------
campaign = campaign_defaults(model)
portfolio = reference_customers(model)
cards = st.columns(4)
cards[0].metric(
    t("Base rate"),
    percent(model.kpis.base_rate),
    help=t("Share of the dataset with {outcome}.", outcome=outcome(model)),
)
if campaign and portfolio is not None and portfolio.has_value:
    at_stake = revenue_at_risk(portfolio, campaign)
    cards[1].metric(
        t(value_title(metadata.business)),
        money(at_stake, metadata.business.currency, compact=True),
        help=t(
            "Sum of probability x value over the reference customers: {amount}.",
            amount=money(at_stake, metadata.business.currency),
        ),
    )
else:  # no money to show: what the model flags instead
    counts = metrics["confusion_matrix"]
    cards[1].metric(
        t("Flagged at the threshold"),
        percent((counts["tp"] + counts["fp"]) / max(1, sum(counts.values()))),
        help=t(
            "Share of the test split with a probability of at least {threshold}.", threshold=number(model.threshold, 2)
        ),
    )
if activity is None:
    cards[2].metric(t("Predictions, last 7 days"), t("n/a"), help=t("The monitoring store is unavailable."))
else:
    by_source = activity["by_source"]
    cards[2].metric(
        t("Predictions, last 7 days"),
        number(activity["requests"]),
        help=t(
            "Form {ui}, batch {batch}, API {api}.",
            **{s: number(by_source.get(s, {}).get("requests", 0)) for s in ("ui", "batch", "api")},
        ),
    )
cards[3].metric(t("Open alerts"), number(len(alerts)), help=t("Listed above, each with the page to open."))

# --- what the model is doing ----------------------------------------------------------------
left, right = st.columns(2)
with left:
    if activity is not None:
        st.markdown(activity_chart(activity["series"], t("Predictions per hour, by source")), unsafe_allow_html=True)
    else:
        st.warning(t("The monitoring store is unavailable: {reason}.", reason=store_problem))
    st.page_link("pages/health.py", label=t("Service health"), icon=":material/monitor_heart:")
with right:
    if drift is not None:
        st.markdown(
            probability_chart(drift["probability"], t("Predicted probability: last 7 days and test split")),
            unsafe_allow_html=True,
        )
    st.page_link("pages/performance.py", label=t("Model performance"), icon=":material/monitoring:")

left, right = st.columns(2)
with left:
    st.subheader(t("Drift, last 7 days"))
    if drift is not None:
        st.markdown(markdown_table(worst_drift(drift, titles, limit=6)))
        st.caption(t("Population stability index against training; the worst features first."))
    st.page_link("pages/distributions.py", label=t("Feature distributions"), icon=":material/bar_chart:")
with right, st.container(border=True, key="model_card"):
    st.subheader(t("Served model"))
    st.markdown(f"{t('Version')}: `{model.version}`")
    st.markdown(
        t(
            "{family}, trained {date}",
            family=t(metadata.model.family.replace("_", " ")).capitalize(),
            date=date_time(metadata.created_at),
        )
    )
    st.markdown(
        t("Data: {dataset}, {rows} rows", dataset=metadata.dataset.name, rows=number(metadata.dataset.rows_used))
    )
    st.caption(f"sha256 `{metadata.dataset.sha256}`")
    figures = [*st.columns(2), *st.columns(2)]  # two by two: French titles are longer
    figures[0].metric(t("Test ROC AUC"), number(metrics["roc_auc"], 3))
    figures[1].metric(t("Test F1"), number(metrics["f1"], 3))
    figures[2].metric(t("Test recall"), percent(metrics["recall"]), help=t("At the threshold."))
    figures[3].metric(
        t("Threshold"), number(model.threshold, 2), help=t(metadata.threshold_criterion.replace("_", " "))
    )
    st.page_link("pages/retrain.py", label=t("Retrain or roll back"), icon=":material/model_training:")

PURPOSES = (
    ("Predict", N_("score one record from a form, see why, and explore what-if changes.")),
    ("Batch scoring", N_("upload a CSV, score every valid row, see the refused ones, download the result.")),
    (
        "Model performance",
        N_(
            "metrics, curves, feature importance, a threshold slider, and the live view: how the model did on the "
            "predictions whose real outcome came back."
        ),
    ),
    (
        "Business KPIs",
        N_("predicted rate and value at stake by segment, who to act on first, a campaign simulator."),
    ),
    ("Feature distributions", N_("what training saw for each feature, the recent inputs overlaid, and drift (PSI).")),
    ("Health", N_("the service's state, latency, error rate and throughput, and the recent errors.")),
    ("Retrain", N_("retrain on the bundled data or an upload, compare with the served model, promote or roll back.")),
)
with st.expander(t("What each page is for")):
    st.markdown("\n".join(f"- **{t(title)}**: {t(purpose)}" for title, purpose in PURPOSES))
    st.markdown(t("Programs use the same process over HTTP: [API documentation](/docs)."))
