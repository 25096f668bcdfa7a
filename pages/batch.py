"""Batch scoring: upload a CSV, score every valid row, list the refused ones, download."""

import streamlit as st

from lib.model.inference import InvalidInput
from lib.serving.batch import (
    download_csv_bytes,
    filter_scored,
    refused_rows,
    sample_upload,
    scored_table,
    upload_revenue_at_risk,
)
from lib.serving.csv_io import CsvError
from lib.serving.scoring import score_and_log_upload
from lib.settings import get_settings
from lib.training.config import ConfigError, load_config
from lib.ui import charts
from lib.ui.helpers import column_headers, money, served_model
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
    source = (f"upload:{uploaded.file_id}", uploaded.name, uploaded.getvalue)
elif use_sample:
    try:
        config = load_config(get_settings().data_config)
    except ConfigError as exc:
        st.error(f"The bundled data cannot be read: {exc}")
        st.stop()
    source = ("sample", "sample.csv", lambda: sample_upload(config.csv_path, config.separator))

if source is not None and st.session_state.get("batch_key") != source[0]:
    bar = st.progress(0.0, text="Scoring...")
    try:
        upload = score_and_log_upload(source[2](), model, limit_mb * 1_000_000, lambda done: bar.progress(done))
    except (CsvError, InvalidInput) as exc:
        bar.empty()
        st.error(f"**{source[1]}** cannot be scored: {exc}")
        st.stop()
    bar.empty()
    # The sorted table is built once per upload, not on every filter change.
    st.session_state.update(
        batch_key=source[0], batch_name=source[1], batch_upload=upload, batch_scored=scored_table(upload)
    )

upload = st.session_state.get("batch_upload")
if upload is None or upload.batch.model_version != model.version:
    st.info("Upload a file, or use the sample, to see the scores.")
    st.stop()

batch = upload.batch
scored = st.session_state["batch_scored"]
flagged = int(batch.table["predicted_positive"].sum())
cards = st.columns(4)
cards[0].metric("Rows read", f"{batch.rows_in:,}")
cards[1].metric("Scored", f"{len(batch.table):,}")
cards[2].metric("Refused", f"{len(batch.errors):,}")
cards[3].metric(f"At or above threshold ({model.threshold:.2f})", f"{flagged:,}")
at_risk = upload_revenue_at_risk(upload, model)
if at_risk is not None:
    business = model.metadata.business
    over = "" if business.is_conversion else f" over {business.horizon_months:g} months"
    st.metric(f"{value_title(business)}{over}", money(at_risk, business.currency))
elif model.metadata.business is not None:
    business = model.metadata.business
    st.caption(f"{value_title(business)} needs the `{business.value_column}` column in the file.")

if batch.errors:
    st.subheader(f"Refused rows ({len(batch.errors):,})")
    st.dataframe(refused_rows(batch.errors), hide_index=True, key="refused")

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
shown = filter_scored(scored, labels, minimum, bands)
st.caption(f"{len(shown):,} of {len(scored):,} scored rows match the filters.")
st.dataframe(
    shown,
    hide_index=True,
    key="scored",
    column_config={
        **column_headers(model),
        "probability": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
    },
)
st.download_button(
    "Download the scored rows (CSV)",
    data=lambda: download_csv_bytes(scored),
    file_name=f"scored-{st.session_state['batch_name']}",
    mime="text/csv",
    key="download",
)
st.plotly_chart(charts.probability_histogram(batch.table["probability"].to_numpy(), model.threshold), key="hist")
