"""Navigation script: page config and the explicit list of pages (no folder auto-discovery).

Page url paths never clash with the REST API's paths (/health, /predict, /train, /metrics).
"""

import streamlit as st

st.set_page_config(page_title="Prediction dashboard", page_icon=":material/insights:", layout="wide")

PAGES = {
    "Dashboard": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),  # served at /
        st.Page("pages/predict.py", title="Predict", icon=":material/person_search:", url_path="score-customer"),
        st.Page("pages/batch.py", title="Batch scoring", icon=":material/upload_file:", url_path="batch-scoring"),
        st.Page(
            "pages/performance.py",
            title="Model performance",
            icon=":material/monitoring:",
            url_path="model-performance",
        ),
        st.Page("pages/business.py", title="Business KPIs", icon=":material/payments:", url_path="business-kpis"),
        st.Page(
            "pages/distributions.py",
            title="Feature distributions",
            icon=":material/bar_chart:",
            url_path="feature-distributions",
        ),
    ],
    "Operations": [
        st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:", url_path="service-health"),
        st.Page("pages/retrain.py", title="Retrain", icon=":material/model_training:", url_path="retrain"),
    ],
}
st.navigation(PAGES).run()
