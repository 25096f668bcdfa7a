"""Batch scoring: upload a CSV, score every valid row, list the refused ones, download."""

import streamlit as st

from lib.batch.files import BatchInputError
from lib.batch.upload import REFUSED_SHOWN, TOP_ROWS, score_uploaded_file
from lib.serving.batch import sample_upload
from lib.settings import get_settings
from lib.training.config import ConfigError, load_config
from lib.ui import charts
from lib.ui.helpers import column_headers, served_model, session_id
from lib.ui.i18n import money, number, t
from lib.ui.wording import value_title, wording

st.title(t("Batch scoring"))
model = served_model()
schema = model.schema
limit_mb = get_settings().max_upload_mb
st.caption(
    t(
        "Upload a CSV (comma, semicolon or tab separated, UTF-8, **up to {limit} MB**) with one column per feature. "
        "Every row is checked: valid rows are scored, invalid rows are listed with their reasons.",
        limit=limit_mb,
    )
)
with st.expander(t("The {count} columns the model needs", count=len(schema.features))):
    st.dataframe(
        [
            {
                t("column"): s.name,
                t("type"): t("number") if s.is_numeric else t("text"),
                t("values"): t("{low} to {high}", low=f"{s.min:g}", high=f"{s.max:g}")
                if s.is_numeric
                else ", ".join(s.categories[:8]),
                t("empty allowed"): t("yes") if s.nullable else t("no"),
            }
            for s in schema.features
        ],
        hide_index=True,
    )

uploaded = st.file_uploader(t("CSV file"), type=["csv", "txt"], max_upload_size=limit_mb, key="batch_file")
use_sample = st.button(t("Or score a sample of 1,000 customers from the bundled data"), key="batch_sample")

source = None
if uploaded is not None:
    source = (f"upload:{uploaded.file_id}", uploaded.name, uploaded.getbuffer)
elif use_sample:
    try:
        config = load_config(get_settings().data_config)
    except ConfigError as exc:
        st.error(t("The bundled data cannot be read: {reason}", reason=exc))
        st.stop()
    source = ("sample", "sample.csv", lambda: memoryview(sample_upload(config.csv_path, config.separator)))

if source is not None and st.session_state.get("batch_key") != source[0]:
    bar = st.progress(0.0, text=t("Scoring..."))
    try:
        scored_file = score_uploaded_file(source[2](), source[1], session_id(), model, bar.progress)
    except BatchInputError as exc:
        bar.empty()
        st.error(t("**{file}** cannot be scored: {reason}", file=source[1], reason=exc))
        st.stop()
    bar.empty()
    st.session_state.update(batch_key=source[0], batch_file_scored=scored_file)

scored_file = st.session_state.get("batch_file_scored")
if scored_file is None or scored_file.model_version != model.version:
    st.info(t("Upload a file, or use the sample, to see the scores."))
    st.stop()

cards = st.columns(4)
cards[0].metric(t("Rows read"), number(scored_file.rows_in))
cards[1].metric(t("Scored"), number(scored_file.scored))
cards[2].metric(t("Refused"), number(scored_file.refused))
cards[3].metric(
    t("At or above threshold ({threshold})", threshold=number(model.threshold, 2)), number(scored_file.flagged)
)
business = model.metadata.business
if business is not None and scored_file.value_at_risk is not None:
    over = "" if business.is_conversion else t(" over {months} months", months=f"{business.horizon_months:g}")
    st.metric(f"{t(value_title(business))}{over}", money(scored_file.value_at_risk, business.currency))
elif business is not None:
    st.caption(
        t(
            "{value} needs the `{column}` column in the file.",
            value=t(value_title(business)),
            column=business.value_column,
        )
    )

st.link_button(
    t("Download every row with its scores (CSV)"),
    f"./downloads/{scored_file.download.token}",
    help=t("Every row of the file in its order: the scores of a scored row, the reason of a refused one."),
)

if scored_file.refused:
    st.subheader(t("Refused rows ({count})", count=number(scored_file.refused)))
    if len(scored_file.refused_lines) >= REFUSED_SHOWN:
        st.caption(
            t(
                "The first {count} problems; the download gives every refused row its reason.",
                count=number(REFUSED_SHOWN),
            )
        )
    st.dataframe(scored_file.refused_lines, hide_index=True, key="refused")

st.subheader(t("Scored rows, {order}", order=t(wording(model).ranked)))
filters = st.columns(3)
labels = filters[0].multiselect(
    t("Label"),
    [schema.positive_label, schema.negative_label],
    default=[schema.positive_label, schema.negative_label],
    key="filter_label",
)
minimum = filters[1].slider(t("Minimum probability"), 0.0, 1.0, 0.0, 0.01, key="filter_minimum")
bands = filters[2].multiselect(
    t("Confidence"),
    ["low", "medium", "high"],
    default=["low", "medium", "high"],
    format_func=t,
    key="filter_confidence",
)
matching, shown = scored_file.matching(labels, minimum, bands)
more = (
    t(" (the table shows the first {count}; the download has them all)", count=number(TOP_ROWS))
    if matching > TOP_ROWS
    else ""
)
st.caption(
    t(
        "{matching} of {scored} scored rows match the filters{more}.",
        matching=number(matching),
        scored=number(scored_file.scored),
        more=more,
    )
)
st.dataframe(
    shown,
    hide_index=True,
    key="scored",
    column_config=column_headers(model),
)
st.plotly_chart(charts.probability_histogram(scored_file.probability, model.threshold), key="hist")
