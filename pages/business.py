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
    download_report,
    feature_titles,
    outcome,
    reference_customers,
    served_model,
)
from lib.ui.i18n import money, number, percent, t
from lib.ui.report import Report, model_facts
from lib.ui.wording import campaign_story, value_title, wording

st.title(t("Business KPIs"))
model = served_model()
portfolio = reference_customers(model)
if portfolio is None:
    st.stop()
defaults = campaign_defaults(model)
business = model.metadata.business
st.caption(t("Customers: {source}, scored by model {version}.", source=portfolio.source, version=model.version))
report = Report(t("Business KPIs"), model_facts(model))
download_report(report, "business-kpis", model.version)

st.subheader(t("By segment"))
feature = st.selectbox(
    t("Segment by"),
    model.schema.names,
    index=model.schema.names.index(default_segment_feature(model)),
    format_func=feature_titles(model).get,
    help=t("Any feature: categories as they are, numbers in five bands of equal size."),
    key="segment_feature",
)
segments = segment_table(portfolio, model, feature, defaults)
measure = "revenue_at_risk" if "revenue_at_risk" in segments else "predicted_rate"
value_name = t(value_title(business)) if business is not None else ""
title = (
    t("{value} by segment", value=value_name)
    if measure == "revenue_at_risk"
    else t("Predicted rate ({outcome}) by segment", outcome=outcome(model))
)
report.heading(t("By segment"))
report.chart(st, charts.segment_chart(segments, feature_titles(model)[feature], measure, title), "segments_chart")
report.table(segments)
config = {
    "share": st.column_config.NumberColumn(t("share"), format="percent"),
    "predicted_rate": st.column_config.NumberColumn(t("predicted rate"), format="percent"),
    "actual_rate": st.column_config.NumberColumn(t("actual rate"), format="percent"),
    "customers": st.column_config.NumberColumn(t("customers")),
    "segment": st.column_config.TextColumn(t("segment")),
    "flagged": st.column_config.NumberColumn(t("flagged")),
    "revenue_at_risk": st.column_config.NumberColumn(value_name.lower(), format="%.0f"),
}
st.dataframe(segments, hide_index=True, column_config=config, key="segments_table")
if not portfolio.has_value or defaults is None:
    st.info(
        t(
            "The value at stake and the campaign simulator need a [business] section (value column, costs) in the "
            "dataset config: this model's config has none."
        )
    )

st.subheader(t(wording(model).top))
top = top_risk(portfolio, model)
report.heading(t(wording(model).top))
report.table(top)
st.dataframe(
    top,
    hide_index=True,
    key="top_risk",
    column_config=column_headers(model),
)

if defaults is not None and portfolio.has_value:
    st.subheader(t("Campaign simulator"))
    conversion = business is not None and business.is_conversion
    st.caption(t("Contact {order}.", order=t(wording(model).contact_order)) + " " + t(campaign_story(business)))
    inputs = st.columns(3 if conversion else 4)
    campaign = Campaign(
        contact_cost=inputs[0].number_input(t("Contact cost"), 0.0, 1e6, defaults.contact_cost, key="contact_cost"),
        offer_cost=inputs[1].number_input(t("Offer cost"), 0.0, 1e6, defaults.offer_cost, key="offer_cost"),
        offer_success_rate=inputs[2].slider(
            t("Uplift") if conversion else t("Success rate"),
            0.0,
            1.0,
            defaults.offer_success_rate,
            0.01,
            key="success_rate",
        ),
        horizon_months=1.0
        if conversion
        else inputs[3].number_input(t("Horizon (months)"), 1.0, 120.0, defaults.horizon_months, key="horizon"),
    )
    curve = campaign_curve(portfolio, campaign)
    best = best_cutoff(curve)
    cards = st.columns(3)
    currency = business.currency
    cards[0].metric(
        t("Best number to contact"),
        number(int(best["targeted"])),
        help=t("Share of customers: {share}.", share=percent(best["targeted"] / len(portfolio.frame))),
    )
    cards[1].metric(t("Probability cut-off"), number(best["cutoff"], 2))
    cards[2].metric(t("Expected profit"), money(best["expected_profit"], currency))
    report.heading(t("Campaign simulator"))
    report.text(
        t(
            "Contact cost {contact}, offer cost {offer}, success rate {rate}: contact {best} customers "
            "(probability at least {cutoff}) for an expected profit of {profit}.",
            contact=money(campaign.contact_cost, currency),
            offer=money(campaign.offer_cost, currency),
            rate=percent(campaign.offer_success_rate),
            best=number(int(best["targeted"])),
            cutoff=number(best["cutoff"], 2),
            profit=money(best["expected_profit"], currency),
        )
    )
    report.chart(st, charts.campaign_chart(curve, best, currency, wording(model).ranked), "campaign_chart")
