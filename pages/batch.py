"""Batch scoring: upload a CSV, score every valid row, list the refused ones, download."""

import streamlit as st

from lib.batch.files import BatchInputError
from lib.batch.upload import REFUSED_SHOWN, TOP_ROWS, score_uploaded_file
from lib.serving.batch import sample_upload
from lib.settings import get_settings
from lib.training.config import ConfigError, load_config
from lib.ui import charts
from lib.ui.helpers import column_headers, money, served_model, session_id
from lib.ui.wording import value_title, wording

st.title("Batch scoring")
model = served_model()
schema = model.schema
limit_mb = get_settings().max_upload_mb
st.caption(
    f"Upload a CSV (comma, semicolon or tab separated, UTF-8, **up to {limit_mb} MB**) with one column per feature. "
    "Every row is checked: valid rows are scored, invalid rows are listed with their reasons."
)
with st.expander(f"The {len(schema.features)} columns the model needs"):
    st.dataframe(
        [
            {
                "column": s.name,
                "type": "number" if s.is_numeric else "text",
                "values": f"{s.min:g} to {s.max:g}" if s.is_numeric else ", ".join(s.categories[:8]),
                "empty allowed": "yes" if s.nullable else "no",
            }
            for s in schema.features
        ],
        hide_index=True,
    )

uploaded = st.file_uploader("CSV file", type=["csv", "txt"], max_upload_size=limit_mb, key="batch_file")
use_sample = st.button("Or score a sample of 1,000 customers from the bundled data", key="batch_sample")

source = None
if uploaded is not None:
    source = (f"upload:{uploaded.file_id}", uploaded.name, uploaded.getbuffer)
elif use_sample:
    try:
        config = load_config(get_settings().data_config)
    except ConfigError as exc:
        st.error(f"The bundled data cannot be read: {exc}")
        st.stop()
    source = ("sample", "sample.csv", lambda: memoryview(sample_upload(config.csv_path, config.separator)))

if source is not None and st.session_state.get("batch_key") != source[0]:
    bar = st.progress(0.0, text="Scoring...")
    try:
        scored_file = score_uploaded_file(source[2](), source[1], session_id(), model, bar.progress)
    except BatchInputError as exc:
        bar.empty()
        st.error(f"**{source[1]}** cannot be scored: {exc}")
        st.stop()
    bar.empty()
    st.session_state.update(batch_key=source[0], batch_file_scored=scored_file)

scored_file = st.session_state.get("batch_file_scored")
if scored_file is None or scored_file.model_version != model.version:
    st.info("Upload a file, or use the sample, to see the scores.")
    st.stop()

cards = st.columns(4)
cards[0].metric("Rows read", f"{scored_file.rows_in:,}")
cards[1].metric("Scored", f"{scored_file.scored:,}")
cards[2].metric("Refused", f"{scored_file.refused:,}")
cards[3].metric(f"At or above threshold ({model.threshold:.2f})", f"{scored_file.flagged:,}")
business = model.metadata.business
if business is not None and scored_file.value_at_risk is not None:
    over = "" if business.is_conversion else f" over {business.horizon_months:g} months"
    st.metric(f"{value_title(business)}{over}", money(scored_file.value_at_risk, business.currency))
elif business is not None:
    st.caption(f"{value_title(business)} needs the `{business.value_column}` column in the file.")

st.link_button(
    "Download every row with its scores (CSV)",
    f"./downloads/{scored_file.download.token}",
    help="Every row of the file in its order: the scores of a scored row, the reason of a refused one.",
)

if scored_file.refused:
    st.subheader(f"Refused rows ({scored_file.refused:,})")
    if len(scored_file.refused_lines) >= REFUSED_SHOWN:
        st.caption(f"The first {REFUSED_SHOWN:,} problems; the download gives every refused row its reason.")
    st.dataframe(scored_file.refused_lines, hide_index=True, key="refused")

st.subheader(f"Scored rows, {wording(model).ranked}")
filters = st.columns(3)
labels = filters[0].multiselect(
    "Label",
    [schema.positive_label, schema.negative_label],
    default=[schema.positive_label, schema.negative_label],
    key="filter_label",
)
minimum = filters[1].slider("Minimum probability", 0.0, 1.0, 0.0, 0.01, key="filter_minimum")
bands = filters[2].multiselect(
    "Confidence", ["low", "medium", "high"], default=["low", "medium", "high"], key="filter_confidence"
)
matching, shown = scored_file.matching(labels, minimum, bands)
more = f" (the table shows the first {TOP_ROWS:,}; the download has them all)" if matching > TOP_ROWS else ""
st.caption(f"{matching:,} of {scored_file.scored:,} scored rows match the filters{more}.")
st.dataframe(
    shown,
    hide_index=True,
    key="scored",
    column_config={
        **column_headers(model),
        "probability": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
    },
)
st.plotly_chart(charts.probability_histogram(scored_file.probability, model.threshold), key="hist")
