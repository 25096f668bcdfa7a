"""Predict: score one customer from a form generated from the model's feature schema."""

import time
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.model.explain import default_what_if_feature, what_if
from lib.model.inference import InvalidInput, Prediction
from lib.model.schema import FeatureSpec
from lib.serving.scoring import score_and_log
from lib.ui import charts
from lib.ui.helpers import feature_titles, served_model
from lib.ui.i18n import number, percent, t
from lib.ui.wording import wording

st.title(t("Predict one customer"))
model = served_model()
schema = model.schema
words = wording(model)
st.caption(
    t(
        "Fill in the customer's details (defaults are the training median or most frequent value) and press "
        "**Predict**. Model {version}; decision threshold {threshold}.",
        version=model.version,
        threshold=number(model.threshold, 2),
    )
)


def feature_input(box: DeltaGenerator, spec: FeatureSpec) -> Any:
    """One form field: a bounded number input, or a select box of the training categories."""
    described = f"{spec.description}. " if spec.description else ""
    if not spec.is_numeric:
        return box.selectbox(
            spec.title,
            spec.categories,
            index=spec.categories.index(spec.default),
            help=described
            + t("{count} categories seen in training; default: the most frequent.", count=len(spec.categories)),
            key=f"field_{spec.name}",
        )
    whole = spec.dtype == "int64"
    cast = int if whole else float
    special = spec.special_values
    if special:  # a sentinel ("never contacted") is a case of its own, not a number to type
        a_number = t("a number")
        options = [a_number, *special.values()]
        default_case = special.get(float(spec.default), a_number)
        case = box.selectbox(spec.title, options, index=options.index(default_case), key=f"case_{spec.name}")
    number = box.number_input(
        spec.title if not special else t("{title}: the number", title=spec.title),
        value=cast(spec.min if float(spec.default) in special else spec.default),
        min_value=None if spec.hard_min is None else cast(spec.hard_min),
        max_value=None if spec.hard_max is None else cast(spec.hard_max),
        step=1 if whole else 0.01,
        format=spec.number_format or (None if whole else "%.2f"),
        help=described
        + t("Training range {low} to {high}; default: the median.", low=f"{spec.min:g}", high=f"{spec.max:g}"),
        key=f"field_{spec.name}",
    )
    if special and case != a_number:
        return next(value for value, label in special.items() if label == case)
    return number


def show_prediction(prediction: Prediction) -> None:
    """The label, probability, confidence and quality, the gauge, warnings and reasons."""
    left, right = st.columns([1, 2])
    with left:
        named = model.outcome
        said = named.positive if prediction.label == schema.positive_label else named.negative
        st.metric(
            t("Prediction"),
            said,
            help=t(
                "{positive} ({outcome}) when the probability is at least the threshold ({threshold}); the data's "
                "own label: {label}.",
                positive=named.positive,
                outcome=named.name,
                threshold=number(prediction.threshold, 2),
                label=prediction.label,
            ),
        )
        st.metric(t("Probability"), percent(prediction.probability))
        st.metric(
            t("Confidence"),
            t(prediction.confidence),
            help=t(
                "Predictions in this band were right {share} of the time on the test split.",
                share=percent(prediction.confidence_accuracy),
            ),
        )
        st.metric(t("Input quality"), number(prediction.quality_score, 2))
        st.caption(t("Prediction id `{id}`: quote it when the real outcome is known.", id=prediction.prediction_id))
    with right:
        st.plotly_chart(
            charts.probability_gauge(prediction.probability, prediction.threshold, words.colours), key="gauge"
        )
    for warning in prediction.warnings:
        st.warning(f"**{warning['field']}**: {warning['message']}", icon=":material/warning:")
    if prediction.reasons:
        st.plotly_chart(
            charts.reasons_bar(prediction.reasons, words.colours, feature_titles(model)),
            key="reasons",
        )
        st.caption(
            t(
                "Each bar is how much this feature moves the probability: the probability as it is, minus the "
                "probability with only that feature set to the typical value (the training median, or the most "
                "frequent category), every other feature unchanged. The same definition for every model family."
            )
        )
    else:
        st.info(t("Every value equals the typical customer's: no feature stands out."))


def show_what_if(record: dict[str, Any], prediction: Prediction) -> None:
    """The probability as one feature varies, the others held at this customer's values."""
    st.subheader(t("What if?"))
    names = schema.names
    first = names.index(default_what_if_feature(model, prediction.reasons))
    feature = st.selectbox(
        t("Feature to vary"), names, index=first, format_func=feature_titles(model).get, key="what_if_feature"
    )
    spec = next(s for s in schema.features if s.name == feature)
    curve = what_if(model, {name: record[name] for name in names}, feature)
    st.plotly_chart(
        charts.what_if_chart(curve, spec.title, prediction.threshold, spec.is_numeric, words.colours), key="what_if"
    )


@st.fragment
def predictor() -> None:
    """The form and its result: a submit reruns only this part of the page."""
    with st.form("predict_form"):
        columns = st.columns(3)
        record = {spec.name: feature_input(columns[i % 3], spec) for i, spec in enumerate(schema.features)}
        for name in schema.id_columns:  # logged with the prediction: an outcome can name it by this
            value = st.text_input(t("{name} (optional)", name=name), key=f"id_{name}", max_chars=100).strip()
            if value:
                record[name] = value
        if st.form_submit_button(t("Predict"), type="primary"):
            started = time.perf_counter()
            try:
                st.session_state["prediction"] = (record, score_and_log(record, model, "ui", started=started))
            except InvalidInput as exc:  # logged as refused by the scoring service
                st.session_state.pop("prediction", None)
                st.error(t("This customer cannot be scored: {reason}", reason=exc))

    shown = st.session_state.get("prediction")
    if shown is None or shown[1].model_version != model.version:
        st.info(t("Submit the form to see the prediction, its reasons, and a what-if analysis."))
        return
    record, prediction = shown
    show_prediction(prediction)
    show_what_if(record, prediction)


predictor()
