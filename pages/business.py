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
from lib.ui.helpers import (
    column_headers,
    feature_titles,
    money,
    outcome,
    percent,
    reference_customers,
    served_model,
)
from lib.ui.wording import campaign_story, value_title, wording

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
    format_func=feature_titles(model).get,
    help="Any feature: categories as they are, numbers in five bands of equal size.",
    key="segment_feature",
)
segments = segment_table(portfolio, model, feature, defaults)
measure = "revenue_at_risk" if "revenue_at_risk" in segments else "predicted_rate"
value_name = value_title(business) if business is not None else ""
title = f"{value_name} by segment" if measure == "revenue_at_risk" else f"Predicted rate ({outcome(model)}) by segment"
st.plotly_chart(charts.segment_chart(segments, feature_titles(model)[feature], measure, title), key="segments_chart")
config = {
    "share": st.column_config.NumberColumn(format="percent"),
    "predicted_rate": st.column_config.NumberColumn("predicted rate", format="percent"),
    "actual_rate": st.column_config.NumberColumn("actual rate", format="percent"),
    "revenue_at_risk": st.column_config.NumberColumn(value_name.lower(), format="%.0f"),
}
st.dataframe(segments, hide_index=True, column_config=config, key="segments_table")
if not portfolio.has_value or defaults is None:
    st.info(
        "The value at stake and the campaign simulator need a [business] section (value column, costs) in the "
        "dataset config: this model's config has none."
    )

st.subheader(wording(model).top)
st.dataframe(
    top_risk(portfolio, model),
    hide_index=True,
    key="top_risk",
    column_config={
        **column_headers(model),
        "probability": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
    },
)

if defaults is not None and portfolio.has_value:
    st.subheader("Campaign simulator")
    conversion = business is not None and business.is_conversion
    st.caption(f"Contact {wording(model).contact_order}. {campaign_story(business)}")
    inputs = st.columns(3 if conversion else 4)
    campaign = Campaign(
        contact_cost=inputs[0].number_input("Contact cost", 0.0, 1e6, defaults.contact_cost, key="contact_cost"),
        offer_cost=inputs[1].number_input("Offer cost", 0.0, 1e6, defaults.offer_cost, key="offer_cost"),
        offer_success_rate=inputs[2].slider(
            "Uplift" if conversion else "Success rate", 0.0, 1.0, defaults.offer_success_rate, 0.01, key="success_rate"
        ),
        horizon_months=1.0
        if conversion
        else inputs[3].number_input("Horizon (months)", 1.0, 120.0, defaults.horizon_months, key="horizon"),
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
    st.plotly_chart(charts.campaign_chart(curve, best, currency, wording(model).ranked), key="campaign_chart")
