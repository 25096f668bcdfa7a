"""Overview: the served model's card and a one-record prediction form."""

import streamlit as st

from lib.inference import InvalidInput, score_record
from lib.model_loader import ModelNotAvailable, get_model

st.title("Churn prediction dashboard")

try:
    model = get_model()
except ModelNotAvailable as exc:
    st.error(f"**Model not loaded.** {exc.reason}", icon=":material/error:")
    st.stop()

metrics = model.kpis["metrics"]
st.caption(
    f"Model **{model.version}** ({model.metadata['model']['family'].replace('_', ' ')}), "
    f"trained {model.metadata['created_at']} on {model.metadata['dataset']['name']}"
)
columns = st.columns(5)
columns[0].metric("Test ROC AUC", f"{metrics['roc_auc']:.3f}")
columns[1].metric("Test F1", f"{metrics['f1']:.3f}")
columns[2].metric("Precision", f"{metrics['precision']:.3f}")
columns[3].metric("Recall", f"{metrics['recall']:.3f}")
columns[4].metric("Threshold", f"{model.threshold:.2f}")

st.subheader("Score one customer")
with st.form("score_one"):
    record = {}
    form_columns = st.columns(3)
    for position, spec in enumerate(model.schema.features):
        box = form_columns[position % 3]
        if spec.is_numeric:
            whole = spec.dtype == "int64"
            cast = int if whole else float
            record[spec.name] = box.number_input(
                spec.name,
                value=cast(spec.default),
                min_value=None if spec.hard_min is None else cast(spec.hard_min),
                max_value=None if spec.hard_max is None else cast(spec.hard_max),
                step=1 if whole else 1.0,
                help=f"Training range {spec.min:g} to {spec.max:g}; default is the median.",
                key=f"field_{spec.name}",
            )
        else:
            record[spec.name] = box.selectbox(
                spec.name, spec.categories, index=spec.categories.index(spec.default), key=f"field_{spec.name}"
            )
    submitted = st.form_submit_button("Predict", type="primary")

if submitted:
    try:
        prediction = score_record(record, model)
    except InvalidInput as exc:
        st.error(f"This record cannot be scored: {exc}")
    else:
        verdict = st.columns(3)
        verdict[0].metric("Prediction", prediction.label)
        verdict[1].metric("Probability", f"{prediction.probability:.1%}")
        verdict[2].metric("Confidence", prediction.confidence)
        for warning in prediction.warnings:
            st.warning(f"{warning['field']}: {warning['message']}")
        if prediction.reasons:
            st.markdown("**Top reasons** (change in probability versus a typical customer)")
            st.dataframe(
                [
                    {
                        "feature": r["feature"],
                        "value": r["value"],
                        "typical": r["reference"],
                        "change": f"{r['contribution']:+.1%}",
                    }
                    for r in prediction.reasons
                ],
                hide_index=True,
            )
        else:
            st.info("Every value equals the typical customer's: no feature stands out.")
