"""Retrain: start a retraining job, follow it, compare, and promote or roll back versions."""

import pandas as pd
import streamlit as st

from lib.model_loader import ModelNotAvailable, get_model, loaded_model, refresh_model
from lib.monitoring.log import prediction_log
from lib.monitoring.store import StoreUnavailable
from lib.redact import redact_paths
from lib.registry import RegistryError, open_registry
from lib.retraining.jobs import FINAL, active_job, cancel_job, job_state, recent_jobs, start_retrain
from lib.retraining.outcomes import outcome_training_data
from lib.retraining.shared import SharedJobsUnavailable
from lib.retraining.upload import expected_features, read_training_csv
from lib.server.health import shown_source
from lib.serving.shadow import set_shadow, shadow, shadow_report
from lib.settings import get_settings
from lib.training.config import ConfigError, load_config
from lib.ui import charts
from lib.ui.helpers import admin_gate
from lib.ui.i18n import number, t

st.title(t("Retrain and versions"))
DATA_SOURCES = {
    "bundled": t("The bundled dataset"),
    "outcomes": t("The bundled dataset + recorded outcomes"),
    "upload": t("An uploaded CSV"),
}
settings = get_settings()
registry = open_registry(settings.model_uri)
st.caption(
    t(
        "Registry `{registry}`. A new model is promoted automatically when its {metric} on the same test rows is not "
        "worse than the served model's by more than {tolerance}; otherwise it stays a candidate you may promote.",
        registry=shown_source(registry.uri),
        metric=settings.promotion_metric,
        tolerance=f"{settings.promotion_tolerance:g}",
    )
)

access = admin_gate("admin_token")
try:
    get_model()
except ModelNotAvailable as exc:
    st.warning(
        t(
            "The served model cannot be loaded: {reason}. Retrain, or promote a version that works.",
            reason=exc.reason.rstrip("."),
        )
    )
if not access.allowed:
    st.warning(t("Retraining, promoting and rolling back are not available here: {why}.", why=access.why_not))
actor = st.text_input(t("Your name, for the audit log"), value="analyst", key="actor", max_chars=60) or "analyst"
who = f"{actor} (ui)"


def switch_served(action) -> None:
    """Promote or roll back, then serve the new version in this process at once."""
    try:
        event = action()
    except RegistryError as exc:
        st.error(t("Nothing changed: {reason}", reason=exc))
        return
    try:
        refresh_model()
    except ModelNotAvailable as exc:
        st.warning(
            t("Switched, but this process cannot load {version}: {reason}", version=event.to_version, reason=exc.reason)
        )
    st.session_state["switched"] = t(
        "Now serving {version} (was {previous}).", version=event.to_version, previous=event.from_version
    )
    st.rerun()


def show_result(result: dict) -> None:
    comparison = result.get("comparison")
    verdict = st.success if result["promoted"] else st.warning
    verdict(f"**{result['version']}**: {result['reason']}")
    if comparison and comparison.get("comparable"):
        table = (
            pd.DataFrame({t("new model"): comparison["challenger"], t("served model"): comparison["champion"]})
            .rename_axis(t("metric"))
            .reset_index()
        )
        left, right = st.columns([2, 3])
        left.dataframe(table.round(4), hide_index=True, key="comparison")
        left.caption(
            t(
                "Both scored on the same {rows} held-out rows; served model: {version}.",
                rows=number(comparison["rows"]),
                version=comparison["champion_version"],
            )
        )
        right.plotly_chart(
            charts.roc_comparison_chart(
                comparison["roc"], comparison["challenger"]["roc_auc"], comparison["champion"]["roc_auc"]
            ),
            key="roc_comparison",
        )
    fresh = result.get("holdout_comparison")
    if fresh and fresh.get("comparable"):
        st.markdown(
            t("**On the {rows} newest recorded outcomes**, held out from training:", rows=number(fresh["rows"]))
        )
        st.dataframe(
            pd.DataFrame({t("new model"): fresh["challenger"], t("served model"): fresh["champion"]})
            .rename_axis(t("metric"))
            .reset_index()
            .round(4),
            hide_index=True,
            key="holdout_comparison",
        )
    promote_anyway = not result["promoted"] and access.allowed
    if promote_anyway and st.button(t("Promote {version} anyway", version=result["version"]), key="promote_candidate"):
        switch_served(lambda: registry.promote(result["version"], who, "promoted by hand after retraining"))


def show_job(job_id: str) -> None:
    job = job_state(job_id)
    if job is None:
        return
    running = job["status"] not in FINAL

    @st.fragment(run_every=1.0 if running else None)
    def progress() -> None:
        current = job_state(job_id)
        st.progress(current["progress"], text=f"{t(current['status'])}: {current['step']}")
        st.code("\n".join(current["log"][-25:]) or t("(starting)"), language=None)
        if running and current["status"] in FINAL:
            st.rerun(scope="app")  # finished: show the result and the new registry state

    st.markdown(
        t("**Job {job}** on {data}, started by {who}", job=job_id, data=job["data_name"], who=job["requested_by"])
    )
    progress()
    if running and access.allowed and st.button(t("Cancel this job"), key="cancel_job"):
        cancel_job(job_id, who)
        st.session_state["job_id"] = job_id  # keep showing it once it no longer runs
        st.rerun()
    if job["status"] == "failed":
        st.error(t("The job failed: {reason}. The served version is unchanged.", reason=job.get("error")))
    elif job["status"] == "cancelled":
        st.warning(t("The job was {reason}.", reason=job.get("error")))
    elif job["status"] == "succeeded":
        show_result(job["result"])


st.subheader(t("Retrain"))
if "switched" in st.session_state:
    st.success(st.session_state.pop("switched"))
try:
    running = active_job()
except SharedJobsUnavailable as exc:  # a PostgreSQL store that cannot be reached
    st.error(
        t(
            "Retraining jobs cannot be read now: {reason}. Predictions go on; try again later.",
            reason=redact_paths(str(exc)),
        )
    )
    st.stop()
if running is not None:
    st.info(t("A retraining job is running: its progress follows. You can leave this page and come back."))
    show_job(running["id"])
elif access.allowed:
    source = st.radio(
        t("Data"), list(DATA_SOURCES), format_func=DATA_SOURCES.get, horizontal=True, key="retrain_source"
    )
    table, name, problems, holdout = None, "bundled dataset", [], None
    if source == "outcomes":
        try:
            data = outcome_training_data(prediction_log().store, get_model(), load_config(settings.data_config))
        except (ModelNotAvailable, StoreUnavailable, ConfigError) as exc:
            problems = [str(getattr(exc, "reason", exc))]
            st.error(t("The recorded outcomes cannot be used now: {reason}", reason=problems[0]))
        else:
            table, name, problems, holdout = data.table, data.name, data.problems, data.holdout
            if problems:
                st.error(t("Nothing can start:") + "\n\n- " + "\n- ".join(problems))
            else:
                st.caption(data.summary)
    elif source == "upload":
        uploaded = st.file_uploader(
            t("Training data (CSV)"), type=["csv"], max_upload_size=settings.max_upload_mb, key="retrain_file"
        )
        if uploaded is None:
            problems = [t("choose a file")]
        else:
            try:
                config = load_config(settings.data_config)
            except ConfigError as exc:
                st.error(t("The dataset config cannot be read: {reason}", reason=exc))
                st.stop()
            model = loaded_model()
            features = model.schema.names if model is not None else expected_features(config)
            table, problems = read_training_csv(uploaded.getvalue(), config, features)
            name = uploaded.name
            if problems:
                st.error(t("This file cannot train a model; nothing was started:") + "\n\n- " + "\n- ".join(problems))
            else:
                st.success(t("{name}: {rows} rows, the columns the model needs.", name=name, rows=number(len(table))))
    if st.button(t("Start retraining"), type="primary", disabled=bool(problems), key="start_retrain"):
        state, started = start_retrain(who, table, name, holdout=holdout)
        st.session_state["job_id"] = state["id"]
        st.rerun()
if running is None and st.session_state.get("job_id"):
    show_job(st.session_state["job_id"])

st.subheader(t("Versions"))
try:
    view = registry.overview()
    versions, served, previous, events = view.versions, view.served, view.previous, view.audit
except RegistryError as exc:
    st.error(t("The registry cannot be read: {reason}", reason=exc))
    st.stop()
st.dataframe(
    pd.DataFrame(
        [
            {
                t("version"): v.version,
                t("status"): t(v.status),
                t("created"): v.created_at,
                t("family"): t((v.family or "").replace("_", " ")),
                "ROC AUC": v.metrics.get("roc_auc"),
                "F1": v.metrics.get("f1"),
                t("rows"): v.rows_used,
                t("dataset sha256"): (v.dataset_sha256 or "")[:12],
            }
            for v in versions
        ]
    ),
    hide_index=True,
    key="versions",
)
if access.allowed and versions:
    others = [v.version for v in versions if v.version != served]
    left, right = st.columns(2)
    with left:
        chosen = st.selectbox(t("Version to serve"), others, key="promote_version") if others else None
        reason = st.text_input(t("Reason"), key="promote_reason")
        if st.button(t("Promote"), disabled=chosen is None, key="promote"):
            switch_served(lambda: registry.promote(chosen, who, reason, expected=served))
    with right:
        st.markdown(
            t("Served: **{version}**", version=served)
            + (t("; previously **{version}**", version=previous) if previous else "")
        )
        if st.button(t("Roll back to the previous version"), disabled=previous is None, key="rollback"):
            switch_served(lambda: registry.rollback(who, st.session_state.get("promote_reason", "")))

st.subheader(t("Shadow"))
st.caption(
    t(
        "A version in shadow scores every prediction the served model makes (the form and the API), off the request "
        "path; once real outcomes arrive, both are judged on the same predictions."
    )
)
try:
    report = shadow_report(prediction_log().store, loaded_model(), registry, "30d")
except (StoreUnavailable, RegistryError) as exc:
    st.warning(t("The shadow cannot be shown: {reason}", reason=exc))
    report = None
if report is not None:
    in_shadow = report["shadow"]
    comparison = report["comparison"]
    if in_shadow is None:
        st.caption(t("No version is in shadow."))
    else:
        st.markdown(t("In shadow: **{version}**, by {who}", version=in_shadow["version"], who=in_shadow["by"]))
    if comparison is not None:
        sides = (comparison["champion"], comparison["challenger"])
        st.caption(
            t(
                "Scored in shadow: {scored}; with an outcome and scored by both over the last 30 days: {rows}.",
                scored=number(comparison["challenger_scored"]),
                rows=number(comparison["rows"]),
            )
        )
        if sides[1]["withheld"] is not None:
            st.info(t("No live comparison yet: {why}.", why=sides[1]["withheld"]))
        else:
            st.dataframe(
                pd.DataFrame(
                    [
                        {t("metric"): name, **{f"{side['version']}": side["metrics"][name]["value"] for side in sides}}
                        for name in sides[0]["metrics"]
                    ]
                ),
                hide_index=True,
                key="shadow_comparison",
            )
    if access.allowed:
        candidates = [v.version for v in versions if v.version != served]
        left, right = st.columns(2)
        with left:
            shadowed = (
                st.selectbox(t("Version to put in shadow"), candidates, key="shadow_version") if candidates else None
            )
            chosen_shadow = (
                shadowed if st.button(t("Put in shadow"), disabled=shadowed is None, key="shadow_start") else ""
            )
        with right:
            if st.button(t("Stop the shadow"), disabled=in_shadow is None, key="shadow_stop"):
                chosen_shadow = None
        if chosen_shadow != "":
            try:
                set_shadow(prediction_log().store, chosen_shadow, who)
            except StoreUnavailable as exc:
                st.error(t("Nothing changed: {reason}", reason=exc))
            else:
                shadow.refresh()  # this replica at once, the others within seconds
                st.rerun()

st.subheader(t("Audit log"))
if events:
    st.dataframe(
        pd.DataFrame([vars(e) for e in reversed(events)]).rename(columns=lambda column: t(column.replace("_", " "))),
        hide_index=True,
        key="audit",
    )
else:
    st.caption(t("No promotion or rollback recorded yet."))
jobs = recent_jobs(5)
if jobs:
    with st.expander(t("Recent retraining jobs")):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        t("job"): j["id"],
                        t("status"): t(j["status"]),
                        t("by"): j["requested_by"],
                        t("data"): j["data_name"],
                        t("version"): (j.get("result") or {}).get("version"),
                    }
                    for j in jobs
                ]
            ),
            hide_index=True,
        )
