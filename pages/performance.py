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
from lib.ui.helpers import admin_gate, candidates_table, download_report, served_model
from lib.ui.i18n import date_time, money, number, percent, t
from lib.ui.report import Report, model_facts
from lib.ui.wording import wording

st.title(t("Model performance"))
model = served_model()
report = Report(t("Model performance"), model_facts(model))
download_report(report, "model-performance", model.version)
kpis, schema = model.kpis, model.schema
NAMES = {
    "accuracy": t("Accuracy"),
    "precision": t("Precision"),
    "recall": t("Recall"),
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "pr_auc": t("PR AUC (average precision)"),
    "brier": t("Brier score (lower is better)"),
    "log_loss": t("Log loss (lower is better)"),
}


def record_outcomes_form() -> None:
    """Upload real outcomes (a CSV, as POST /outcomes takes it): an admin action."""
    settings = get_settings()
    with st.expander(t("Record real outcomes (CSV)")):
        st.caption(
            t(
                "One row per outcome: `prediction_id` (or the dataset's id columns: {ids}), `outcome` ({positive} or "
                "{negative}, true/false, 1/0) and optionally `observed_at` (ISO 8601 or epoch seconds). At most "
                "{limit} rows a file.",
                ids=", ".join(f"`{name}`" for name in schema.id_columns) or t("none in this config"),
                positive=schema.positive_label,
                negative=schema.negative_label,
                limit=number(settings.max_outcomes),
            )
        )
        access = admin_gate("outcomes_admin_token")
        upload = st.file_uploader(t("Outcomes CSV"), type=["csv"], key="outcomes_file")
        if not access.allowed:
            st.warning(t("Recording outcomes is an admin action: {why}.", why=access.why_not))
            return
        if upload is None or not st.button(t("Record these outcomes"), key="record_outcomes"):
            return
        try:
            items = csv_items(upload.getvalue(), settings.max_outcomes)
            report = prediction_log().record_outcomes(model, items, first_position=1)
        except OutcomeFileError as exc:
            st.error(t("The file cannot be read: {reason}", reason=exc))
            return
        except StoreUnavailable as exc:
            st.error(t("The outcomes cannot be recorded now: {reason}", reason=exc))
            return
        if report.new or report.corrected:
            decay_watcher().request_check()  # the realised figures moved
        st.success(
            t(
                "{recorded} of {received} rows recorded: {new} new, {unchanged} unchanged, {corrected} corrected; "
                "{refused} refused.",
                recorded=number(report.recorded),
                received=number(report.received),
                new=number(report.new),
                unchanged=number(report.unchanged),
                corrected=number(report.corrected),
                refused=number(len(report.refused)),
            )
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
    picked = st.selectbox(t("Model version"), versions, key="live_version", help=t("Versions with recorded outcomes."))
    if picked == model.version:
        return model
    settings = get_settings()
    try:
        return registry_version(settings.model_uri, picked, settings.model_cache_dir)
    except (RegistryError, ModelNotAvailable) as exc:
        st.warning(
            t(
                "{version} cannot be read from the registry ({reason}): the served one shown.",
                version=picked,
                reason=getattr(exc, "reason", exc),
            )
        )
        return model


def live_view() -> None:
    """How a model version (the served one by default) did on the predictions whose real outcome came back."""
    window = st.radio(
        t("Predictions made in the last"), list(LIVE_WINDOWS), index=1, horizontal=True, key="live_window"
    )
    record_outcomes_form()
    try:
        shown = shown_version()
        live = prediction_log().live(shown, window)
    except StoreUnavailable as exc:
        st.warning(t("The monitoring store cannot be read: {reason}", reason=exc))
        return
    coverage = live["coverage"]
    share = f" ({percent(coverage['share'])})" if coverage["share"] is not None else ""
    st.caption(
        t(
            "Model {version}: of the {predictions} predictions made since {since}, {labelled}{share} have a "
            "recorded outcome. Threshold {threshold}.",
            version=shown.version,
            predictions=number(coverage["predictions"]),
            since=date_time(live["since"], with_time=False),
            labelled=number(coverage["labelled"]),
            share=share,
            threshold=number(live["threshold"], 2),
        )
    )
    if live["withheld"] is not None:
        st.info(t("No realised figures yet: {why}.", why=live["withheld"]), icon=":material/hourglass_empty:")
    else:
        realised, test = live["metrics"], live["test"]
        cards = st.columns(4)
        for card, name in zip(cards, ("roc_auc", "precision", "recall", "brier"), strict=True):
            figure = realised[name]
            card.metric(
                NAMES[name].split(" (")[0],
                number(figure["value"], 3),
                delta=t("{delta} vs test", delta=f"{figure['value'] - test[name]:+.3f}") if name in test else None,
                delta_color="inverse" if name == "brier" else "normal",
                help=t("95 % interval {low} to {high}", low=number(figure["low"], 3), high=number(figure["high"], 3))
                if figure["low"] is not None
                else None,
            )
        table = pd.DataFrame(
            {
                t("metric"): [NAMES[name] for name in realised],
                t("live"): [round(figure["value"], 4) for figure in realised.values()],
                t("95 % interval"): [
                    t("{low} to {high}", low=number(figure["low"], 3), high=number(figure["high"], 3))
                    if figure["low"] is not None
                    else ""
                    for figure in realised.values()
                ],
                t("test split"): [round(test[name], 4) if name in test else None for name in realised],
            }
        )
        st.dataframe(table, hide_index=True, key="live_metrics_table")
        report.heading(t("Live: realised on recorded outcomes"))
        report.text(t("Model {version}, predictions of the last {window}.", version=shown.version, window=window))
        report.table(table)
        value = live["campaign_value"]
        if value is not None:
            test_per = value["test_per_prediction"]
            st.metric(
                t("Realised campaign value"),
                money(value["realised"], value["currency"]),
                delta=(
                    t(
                        "{live} per labelled prediction vs {test} on the test split",
                        live=money(value["per_prediction"], value["currency"]),
                        test=money(test_per, value["currency"]),
                    )
                    if test_per is not None
                    else None
                ),
                delta_color="off",
                help=t(
                    "Contacting the {count} labelled predictions at or above the threshold.",
                    count=number(value["contacted"]),
                ),
            )
    report.chart(st, charts.live_series_chart(live["series"], shown.kpis.metrics["roc_auc"]), "live_series")
    if live["withheld"] is None:
        row = st.columns(2)
        report.chart(row[0], charts.live_calibration_chart(live["calibration"], shown.kpis.curves), "live_calibration")
        report.chart(
            row[1],
            charts.confusion_heatmap(live["confusion_matrix"], schema.negative_label, schema.positive_label, "live"),
            "live_confusion",
        )
    if live["computed_from"] != "rows":
        st.caption(t("Computed from daily tallies: the two AUCs count predictions within 0.001 of each other as ties."))


view = st.radio(
    t("View"),
    ["test", "live"],
    format_func={"test": t("Test split"), "live": t("Live (real outcomes)")}.get,
    horizontal=True,
    key="performance_view",
    label_visibility="collapsed",
)
if view != "test":
    live_view()
    st.stop()
metrics = kpis.metrics
st.caption(
    t(
        "All figures are on the untouched test split ({rows} rows) of model {version}.",
        rows=number(metrics["rows"]),
        version=model.version,
    )
)

names = NAMES
left, right = st.columns([1, 1])
metrics_table = pd.DataFrame({t("metric"): list(names.values()), t("value"): [round(metrics[key], 4) for key in names]})
left.dataframe(metrics_table, hide_index=True, key="metrics_table")
report.heading(t("Test split"))
report.text(t("All figures are on the untouched test split ({rows} rows).", rows=number(metrics["rows"])))
report.table(metrics_table)
report.chart(
    right,
    charts.confusion_heatmap(metrics["confusion_matrix"], schema.negative_label, schema.positive_label),
    "confusion",
)

curves = kpis.curves
row = st.columns(2)
report.chart(row[0], charts.roc_chart(curves, metrics["roc_auc"]), "roc")
report.chart(row[1], charts.pr_chart(curves, metrics["pr_auc"], kpis.base_rate), "pr")
row = st.columns(2)
report.chart(row[0], charts.calibration_chart(curves), "calibration")
report.chart(row[1], charts.gain_chart(curves, wording(model).ranked), "gain")
report.chart(st, charts.importance_chart(kpis.feature_importance), "importance")
st.markdown(
    t(
        "**Families compared at training** (the served one: {family})",
        family=t(model.metadata.model.family.replace("_", " ")),
    )
)
candidates = candidates_table(kpis.candidates)
st.dataframe(candidates, hide_index=True, key="candidates")
report.heading(t("Families compared at training"))
report.table(pd.DataFrame(candidates))

st.subheader(t("Threshold"))
table = kpis.threshold_table
optimal = business_optimal_threshold(table)
has_profit = optimal is not None
marks = {t("chosen"): model.threshold, **({t("business-optimal"): optimal} if has_profit else {})}
threshold = st.slider(t("Decision threshold"), 0.01, 0.99, float(model.threshold), 0.01, key="threshold")
at, chosen = threshold_row(table, threshold), threshold_row(table, model.threshold)
cards = st.columns(4)
for card, name in zip(cards, ("precision", "recall", "f1"), strict=False):
    card.metric(NAMES[name], number(at[name], 3), delta=f"{at[name] - chosen[name]:+.3f}")
if has_profit:
    currency = model.metadata.business.currency
    delta = t("{delta} vs chosen", delta=f"{at['profit'] - chosen['profit']:+,.0f}")
    cards[3].metric(t("Expected profit"), money(at["profit"], currency), delta=delta)
else:
    cards[3].metric(t("Expected profit"), t("n/a"), help=t("The dataset config has no [business] section."))
st.caption(
    t(
        "Chosen threshold {threshold} ({criterion} on the validation split).",
        threshold=number(model.threshold, 2),
        criterion=t(model.metadata.threshold_criterion.replace("_", " ")),
    )
    + (" " + t("Business-optimal on the test split: {optimal}.", optimal=number(optimal, 2)) if has_profit else "")
)
report.heading(t("Threshold {threshold}", threshold=f"{threshold:.2f}"))
row = st.columns(2)
report.chart(
    row[0],
    charts.confusion_heatmap(
        {k: at[k] for k in ("tp", "fp", "tn", "fn")}, schema.negative_label, schema.positive_label
    ),
    "confusion_at",
)
report.chart(row[1], charts.threshold_chart(table, {**marks, t("selected"): threshold}), "threshold_chart")
if has_profit:
    report.chart(st, charts.profit_chart(table, {**marks, t("selected"): threshold}, currency), "profit")
