"""Model performance: test-split metrics, curves, importance, and a threshold slider; or
the live view: realised figures on the predictions whose outcome came back, and an
upload to record outcomes."""

import pandas as pd
import streamlit as st

from lib.business.portfolio import business_optimal_threshold, threshold_row
from lib.model_loader import LoadedModel, ModelNotAvailable
from lib.monitoring.decay import decay_watcher
from lib.monitoring.live import LIVE_WINDOWS
from lib.monitoring.log import prediction_log
from lib.monitoring.outcomes import OutcomeFileError, csv_items
from lib.monitoring.store import StoreUnavailable
from lib.registry import RegistryError
from lib.serving.shadow import registry_version
from lib.settings import get_settings
from lib.ui import charts
from lib.ui.helpers import admin_gate, candidates_table, money, served_model
from lib.ui.wording import wording

st.title("Model performance")
model = served_model()
kpis, schema = model.kpis, model.schema
NAMES = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC (average precision)",
    "brier": "Brier score (lower is better)",
    "log_loss": "Log loss (lower is better)",
}


def record_outcomes_form() -> None:
    """Upload real outcomes (a CSV, as POST /outcomes takes it): an admin action."""
    settings = get_settings()
    with st.expander("Record real outcomes (CSV)"):
        st.caption(
            "One row per outcome: `prediction_id` (or the dataset's id columns: "
            f"{', '.join(f'`{name}`' for name in schema.id_columns) or 'none in this config'}), `outcome` "
            f"({schema.positive_label} or {schema.negative_label}, true/false, 1/0) and optionally `observed_at` "
            f"(ISO 8601 or epoch seconds). At most {settings.max_outcomes:,} rows a file."
        )
        access = admin_gate("outcomes_admin_token")
        upload = st.file_uploader("Outcomes CSV", type=["csv"], key="outcomes_file")
        if not access.allowed:
            st.warning(f"Recording outcomes is an admin action: {access.why_not}.")
            return
        if upload is None or not st.button("Record these outcomes", key="record_outcomes"):
            return
        try:
            items = csv_items(upload.getvalue(), settings.max_outcomes)
            report = prediction_log().record_outcomes(model, items, first_position=1)
        except OutcomeFileError as exc:
            st.error(f"The file cannot be read: {exc}")
            return
        except StoreUnavailable as exc:
            st.error(f"The outcomes cannot be recorded now: {exc}")
            return
        if report.new or report.corrected:
            decay_watcher().request_check()  # the realised figures moved
        st.success(
            f"{report.recorded:,} of {report.received:,} rows recorded: {report.new:,} new, "
            f"{report.unchanged:,} unchanged, {report.corrected:,} corrected; {len(report.refused):,} refused."
        )
        if report.refused:
            shown = [refusal.to_dict() for refusal in report.refused[:1000]]
            st.dataframe(pd.DataFrame(shown), hide_index=True, key="refused_outcomes")


def shown_version() -> LoadedModel:
    """The served version, or another one with recorded outcomes (a version before the
    last promotion, say), picked on the page."""
    versions = [model.version, *(v for v in prediction_log().store.labelled_versions() if v != model.version)]
    if len(versions) == 1:
        return model
    picked = st.selectbox("Model version", versions, key="live_version", help="Versions with recorded outcomes.")
    if picked == model.version:
        return model
    settings = get_settings()
    try:
        return registry_version(settings.model_uri, picked, settings.model_cache_dir)
    except (RegistryError, ModelNotAvailable) as exc:
        st.warning(f"{picked} cannot be read from the registry ({getattr(exc, 'reason', exc)}): the served one shown.")
        return model


def live_view() -> None:
    """How a model version (the served one by default) did on the predictions whose real outcome came back."""
    window = st.radio("Predictions made in the last", list(LIVE_WINDOWS), index=1, horizontal=True, key="live_window")
    record_outcomes_form()
    try:
        shown = shown_version()
        report = prediction_log().live(shown, window)
    except StoreUnavailable as exc:
        st.warning(f"The monitoring store cannot be read: {exc}")
        return
    coverage = report["coverage"]
    share = f" ({coverage['share']:.1%})" if coverage["share"] is not None else ""
    st.caption(
        f"Model {shown.version}: of the {coverage['predictions']:,} predictions made since {report['since']} (UTC), "
        f"{coverage['labelled']:,}{share} have a recorded outcome. Threshold {report['threshold']:.2f}."
    )
    if report["withheld"] is not None:
        st.info(f"No realised figures yet: {report['withheld']}.", icon=":material/hourglass_empty:")
    else:
        live, test = report["metrics"], report["test"]
        cards = st.columns(4)
        for card, name in zip(cards, ("roc_auc", "precision", "recall", "brier"), strict=True):
            figure = live[name]
            card.metric(
                NAMES[name].split(" (")[0],
                f"{figure['value']:.3f}",
                delta=f"{figure['value'] - test[name]:+.3f} vs test" if name in test else None,
                delta_color="inverse" if name == "brier" else "normal",
                help=f"95 % interval {figure['low']:.3f} to {figure['high']:.3f}"
                if figure["low"] is not None
                else None,
            )
        table = pd.DataFrame(
            {
                "metric": [NAMES[name] for name in live],
                "live": [round(figure["value"], 4) for figure in live.values()],
                "95 % interval": [
                    f"{figure['low']:.3f} to {figure['high']:.3f}" if figure["low"] is not None else ""
                    for figure in live.values()
                ],
                "test split": [round(test[name], 4) if name in test else None for name in live],
            }
        )
        st.dataframe(table, hide_index=True, key="live_metrics_table")
        value = report["campaign_value"]
        if value is not None:
            test_per = value["test_per_prediction"]
            st.metric(
                "Realised campaign value",
                money(value["realised"], value["currency"]),
                delta=(
                    f"{money(value['per_prediction'], value['currency'])} per labelled prediction vs "
                    f"{money(test_per, value['currency'])} on the test split"
                    if test_per is not None
                    else None
                ),
                delta_color="off",
                help=f"Contacting the {value['contacted']:,} labelled predictions at or above the threshold.",
            )
    st.plotly_chart(charts.live_series_chart(report["series"], shown.kpis.metrics["roc_auc"]), key="live_series")
    if report["withheld"] is None:
        row = st.columns(2)
        row[0].plotly_chart(
            charts.live_calibration_chart(report["calibration"], shown.kpis.curves), key="live_calibration"
        )
        row[1].plotly_chart(
            charts.confusion_heatmap(report["confusion_matrix"], schema.negative_label, schema.positive_label, "live"),
            key="live_confusion",
        )
    if report["computed_from"] != "rows":
        st.caption("Computed from daily tallies: the two AUCs count predictions within 0.001 of each other as ties.")


view = st.radio(
    "View",
    ["Test split", "Live (real outcomes)"],
    horizontal=True,
    key="performance_view",
    label_visibility="collapsed",
)
if view != "Test split":
    live_view()
    st.stop()
metrics = kpis.metrics
st.caption(f"All figures are on the untouched test split ({metrics['rows']:,} rows) of model {model.version}.")

names = NAMES
left, right = st.columns([1, 1])
left.dataframe(
    pd.DataFrame({"metric": list(names.values()), "value": [round(metrics[key], 4) for key in names]}),
    hide_index=True,
    key="metrics_table",
)
right.plotly_chart(
    charts.confusion_heatmap(metrics["confusion_matrix"], schema.negative_label, schema.positive_label), key="confusion"
)

curves = kpis.curves
row = st.columns(2)
row[0].plotly_chart(charts.roc_chart(curves, metrics["roc_auc"]), key="roc")
row[1].plotly_chart(charts.pr_chart(curves, metrics["pr_auc"], kpis.base_rate), key="pr")
row = st.columns(2)
row[0].plotly_chart(charts.calibration_chart(curves), key="calibration")
row[1].plotly_chart(charts.gain_chart(curves, wording(model).ranked), key="gain")
st.plotly_chart(charts.importance_chart(kpis.feature_importance), key="importance")
st.markdown(f"**Families compared at training** (the served one: {model.metadata.model.family.replace('_', ' ')})")
st.dataframe(candidates_table(kpis.candidates), hide_index=True, key="candidates")

st.subheader("Threshold")
table = kpis.threshold_table
optimal = business_optimal_threshold(table)
has_profit = optimal is not None
marks = {"chosen": model.threshold, **({"business-optimal": optimal} if has_profit else {})}
threshold = st.slider("Decision threshold", 0.01, 0.99, float(model.threshold), 0.01, key="threshold")
at, chosen = threshold_row(table, threshold), threshold_row(table, model.threshold)
cards = st.columns(4)
for card, (name, label) in zip(cards, (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")), strict=False):
    card.metric(label, f"{at[name]:.3f}", delta=f"{at[name] - chosen[name]:+.3f}")
if has_profit:
    currency = model.metadata.business.currency
    delta = f"{at['profit'] - chosen['profit']:+,.0f} vs chosen"
    cards[3].metric("Expected profit", money(at["profit"], currency), delta=delta)
else:
    cards[3].metric("Expected profit", "n/a", help="The dataset config has no [business] section.")
st.caption(
    f"Chosen threshold {model.threshold:.2f} ({model.metadata.threshold_criterion.replace('_', ' ')} on the "
    "validation split)" + (f"; business-optimal on the test split {optimal:.2f}." if has_profit else ".")
)
row = st.columns(2)
row[0].plotly_chart(
    charts.confusion_heatmap(
        {k: at[k] for k in ("tp", "fp", "tn", "fn")}, schema.negative_label, schema.positive_label
    ),
    key="confusion_at",
)
row[1].plotly_chart(charts.threshold_chart(table, {**marks, "selected": threshold}), key="threshold_chart")
if has_profit:
    st.plotly_chart(charts.profit_chart(table, {**marks, "selected": threshold}, currency), key="profit")
