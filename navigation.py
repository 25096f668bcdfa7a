"""Navigation script: page config, the session's language and the explicit list of pages
(no folder auto-discovery).

Page url paths never clash with the REST API's paths (/health, /predict, /train, /metrics).
"""

import streamlit as st

from lib.settings import get_settings
from lib.ui.i18n import LANGUAGES, t, use

# The session's language: its pick in the sidebar, else UI_LANGUAGE; set before anything
# is written, for this run of the script. Kept under its own key: Streamlit forgets a
# widget's state when the page changes.
if "language" not in st.session_state:
    st.session_state["language"] = get_settings().ui_language
use(st.session_state["language"])


def _language_picked() -> None:
    st.session_state["language"] = {name: code for code, name in LANGUAGES.items()}[st.session_state["ui_language"]]


st.set_page_config(page_title=t("Prediction dashboard"), page_icon=":material/insights:", layout="wide")

PAGES = {
    t("Dashboard"): [
        st.Page("pages/overview.py", title=t("Overview"), icon=":material/home:", default=True),  # served at /
        st.Page("pages/predict.py", title=t("Predict"), icon=":material/person_search:", url_path="score-customer"),
        st.Page("pages/batch.py", title=t("Batch scoring"), icon=":material/upload_file:", url_path="batch-scoring"),
        st.Page(
            "pages/performance.py",
            title=t("Model performance"),
            icon=":material/monitoring:",
            url_path="model-performance",
        ),
        st.Page("pages/business.py", title=t("Business KPIs"), icon=":material/payments:", url_path="business-kpis"),
        st.Page(
            "pages/distributions.py",
            title=t("Feature distributions"),
            icon=":material/bar_chart:",
            url_path="feature-distributions",
        ),
    ],
    t("Operations"): [
        st.Page("pages/health.py", title=t("Health"), icon=":material/monitor_heart:", url_path="service-health"),
        st.Page("pages/retrain.py", title=t("Retrain"), icon=":material/model_training:", url_path="retrain"),
    ],
}
page = st.navigation(PAGES)
st.sidebar.selectbox(
    t("Language"),
    list(LANGUAGES.values()),  # shown in their own language
    index=list(LANGUAGES).index(st.session_state["language"]),
    key="ui_language",
    on_change=_language_picked,
    help=t("For this browser session; the server's default is UI_LANGUAGE."),
)
page.run()
