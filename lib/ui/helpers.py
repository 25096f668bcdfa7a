"""The one lib module that imports Streamlit: shared getters and messages for the pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import streamlit as st

from lib.model.inference import InvalidInput
from lib.model_loader import LoadedModel, ModelNotAvailable, get_model
from lib.server.access import AccessDecision, check_admin, resolve_caller
from lib.settings import get_settings
from lib.training.config import ConfigError
from lib.ui.i18n import N_, t

if TYPE_CHECKING:  # plotly, pandas and the report writer load when a page needs them, not before
    from lib.business.portfolio import Portfolio
    from lib.ui.report import Report


def served_model() -> LoadedModel:
    """The process-wide model, or a clear message and the end of this page's run."""
    try:
        return get_model()
    except ModelNotAvailable as exc:
        st.error(f"**{t('Model not loaded.')}** {exc.reason}", icon=":material/error:")
        st.caption(
            t("The app keeps running: once a model is available (for example after `make train`), reload this page.")
        )
        st.stop()
        raise  # st.stop() raises; this line only reassures type checkers


def session_id() -> str:
    """This browser session's id: what the files made for it are kept under (the session
    janitor drops them when the session ends)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    return context.session_id if context is not None else "no-session"


def reference_customers(model: LoadedModel) -> Portfolio | None:
    """The dataset of DATA_CONFIG scored by the served model, once per version and process."""
    from lib.business.portfolio import cached_reference_portfolio
    from lib.serving.csv_io import CsvError

    try:
        return cached_reference_portfolio(model, get_settings().data_config)
    except (ConfigError, CsvError, InvalidInput, OSError) as exc:
        st.warning(t("The reference customers cannot be scored: {reason}. Check DATA_CONFIG.", reason=exc))
        return None


def outcome(model: LoadedModel) -> str:
    """What the model predicts, in the dataset's own words: "Churn: Churned" (the config's
    [outcome] section; else the target column and its positive label)."""
    return f"{model.outcome.name}: {model.outcome.positive}"


def column_headers(model: LoadedModel) -> dict[str, Any]:
    """Table headers in the config's words; the data keeps its column names (and a
    download its CSV header)."""
    headers: dict[str, Any] = {
        spec.name: st.column_config.NumberColumn(spec.title, format=spec.number_format)
        if spec.number_format
        else st.column_config.Column(spec.title)
        for spec in model.schema.features
        if spec.title != spec.name or spec.number_format
    }
    headers["label"] = st.column_config.Column(t("predicted {outcome}", outcome=model.outcome.name.lower()))
    headers["probability"] = st.column_config.ProgressColumn(
        t("probability"), format="percent", min_value=0, max_value=1
    )
    headers["confidence"] = st.column_config.Column(t("confidence"))
    headers["quality_score"] = st.column_config.NumberColumn(t("input quality"))
    headers["value"] = st.column_config.Column(t("value"))
    return headers


def feature_titles(model: LoadedModel) -> dict[str, str]:
    return {spec.name: spec.title for spec in model.schema.features}


SCORER_NAMES = {"compiled_linear": N_("compiled (linear)"), "compiled_trees": N_("compiled (trees)")}


def candidates_table(candidates: list[dict]) -> list[dict]:
    """The families training compared, each with its scores and how it would be served."""
    return [
        {
            t("family"): t(str(c.get("family", "")).replace("_", " ")),
            t("CV ROC AUC"): f"{c['cv_roc_auc_mean']:.4f} ± {c['cv_roc_auc_std']:.4f}"
            if "cv_roc_auc_mean" in c
            else "",
            t("test ROC AUC"): round(c["test_roc_auc"], 4) if "test_roc_auc" in c else None,
            t("served by"): t(SCORER_NAMES.get(c.get("scorer", ""), N_("scikit-learn pipeline")))
            if "scorer" in c
            else t("not recorded"),
        }
        for c in candidates
    ]


def download_report(report: Report, page: str, version: str) -> None:
    """The page's "Download report" button: the file is written when it is clicked."""
    from lib.ui.report import file_name

    st.download_button(
        t("Download report"),
        data=report.html,
        file_name=file_name(page, version),
        mime="text/html",
        icon=":material/download:",
        on_click="ignore",
        key=f"report_{page}",
        help=t("One HTML file with this page's figures and tables, interactive, readable offline."),
    )


def admin_access(typed_token: str | None) -> AccessDecision:
    """The same rule as the API (lib.server.access): the token when ADMIN_TOKEN is set, else only
    a browser on this machine, never through a proxy."""
    settings = get_settings()
    authorization = f"Bearer {typed_token}" if typed_token else None
    headers = {name.lower(): value for name, value in st.context.headers.items()}
    caller = resolve_caller(_browser_address(), headers, settings.trusted_proxies)
    # A wrong token counts once when typed, not again on every rerun that shows it.
    counted = st.session_state.get("_admin_token_counted")
    decision = check_admin(authorization, caller, settings.admin_token, count_failure=typed_token != counted)
    if decision.status == 403 and typed_token:
        st.session_state["_admin_token_counted"] = typed_token
    return decision


class AdminGate(NamedTuple):
    allowed: bool
    why_not: str | None  # what the user can do about it, when not allowed


def admin_gate(key: str) -> AdminGate:
    """The admin token field (when ADMIN_TOKEN is set) and whether this browser may take
    admin actions, with what to do when it may not (the Retrain page, recording outcomes)."""
    settings = get_settings()
    token = (
        st.text_input(t("Admin token"), type="password", key=key, help=t("ADMIN_TOKEN of the server."))
        if settings.admin_token
        else None
    )
    access = admin_access(token)
    if access.allowed:
        return AdminGate(True, None)
    if settings.admin_token:
        return AdminGate(False, t("type the admin token above") if not token else access.reason)
    return AdminGate(
        False,
        t(
            "without ADMIN_TOKEN they are allowed only from a browser on the server's own machine; "
            "set ADMIN_TOKEN on the server to allow them from elsewhere, with the token"
        ),
    )


def _browser_address() -> str | None:
    """The browser connection's IP address, loopback included.

    st.context.ip_address answers None for 127.0.0.1 and ::1, the same as for "unknown",
    and the admin rule must tell them apart: read the session's client context instead
    (Streamlit 1.67; the browser test of the Retrain page covers it). That function is
    private: if a Streamlit upgrade moves or changes it, the answer is None, which fails
    closed (no address is loopback, so no admin action without the token).
    """
    try:
        from streamlit.runtime.context import _get_client_context

        address = getattr(_get_client_context(), "remote_ip", None)
    except Exception:  # the private API changed: deny rather than guess
        return None
    return address if isinstance(address, str) else None  # AppTest gives a stand-in object
