"""Business KPIs: predicted rate and value at stake by segment, who to act on first, a campaign simulator."""

import streamlit as st

from lib.business.portfolio import (
    Campaign,
    best_cutoff,
    campaign_curve,
    campaign_defaults,
    default_segment_feature,
    segment_table,
    top_risk,
)
from lib.ui import charts
from lib.ui.helpers import money, outcome, percent, reference_customers, served_model
from lib.ui.wording import wording

st.title("Business KPIs")
model = served_model()
portfolio = reference_customers(model)
if portfolio is None:
    st.stop()
defaults = campaign_defaults(model)
business = model.metadata.business
st.caption(f"Customers: {portfolio.source}, scored by model {model.version}.")

st.subheader("By segment")
feature = st.selectbox(
    "Segment by",
    model.schema.names,
    index=model.schema.names.index(default_segment_feature(model)),
    help="Any feature: categories as they are, numbers in five bands of equal size.",
    key="segment_feature",
)
segments = segment_table(portfolio, model, feature, defaults)
measure = "revenue_at_risk" if "revenue_at_risk" in segments else "predicted_rate"
title = (
    "Revenue at risk by segment" if measure == "revenue_at_risk" else f"Predicted rate ({outcome(model)}) by segment"
)
st.plotly_chart(charts.segment_chart(segments, feature, measure, title), key="segments_chart")
config = {
    "share": st.column_config.NumberColumn(format="percent"),
    "predicted_rate": st.column_config.NumberColumn("predicted rate", format="percent"),
    "actual_rate": st.column_config.NumberColumn("actual rate", format="percent"),
    "revenue_at_risk": st.column_config.NumberColumn("revenue at risk", format="%.0f"),
}
st.dataframe(segments, hide_index=True, column_config=config, key="segments_table")
if not portfolio.has_value or defaults is None:
    st.info(
        "Revenue at risk and the campaign simulator need a [business] section (value column, costs) in the "
        "dataset config: this model's config has none."
    )

st.subheader(wording(model).top)
st.dataframe(
    top_risk(portfolio, model),
    hide_index=True,
    key="top_risk",
    column_config={"probability": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
)

if defaults is not None and portfolio.has_value:
    st.subheader("Campaign simulator")
    st.caption(
        f"Contact {wording(model).contact_order}. Each contact costs the contact and the offer; a contacted "
        "customer who would have left stays with the success rate, keeping their value for the horizon."
    )
    inputs = st.columns(4)
    campaign = Campaign(
        contact_cost=inputs[0].number_input("Contact cost", 0.0, 1e6, defaults.contact_cost, key="contact_cost"),
        offer_cost=inputs[1].number_input("Offer cost", 0.0, 1e6, defaults.offer_cost, key="offer_cost"),
        offer_success_rate=inputs[2].slider(
            "Success rate", 0.0, 1.0, defaults.offer_success_rate, 0.01, key="success_rate"
        ),
        horizon_months=inputs[3].number_input("Horizon (months)", 1.0, 120.0, defaults.horizon_months, key="horizon"),
    )
    curve = campaign_curve(portfolio, campaign)
    best = best_cutoff(curve)
    cards = st.columns(3)
    currency = business.currency
    cards[0].metric(
        "Best number to contact",
        f"{int(best['targeted']):,}",
        help=f"Share of customers: {percent(best['targeted'] / len(portfolio.frame))}.",
    )
    cards[1].metric("Probability cut-off", f"{best['cutoff']:.2f}")
    cards[2].metric("Expected profit", money(best["expected_profit"], currency))
    st.plotly_chart(charts.campaign_chart(curve, best, currency), key="campaign_chart")
