"""Navigation script: page config and the explicit list of pages (no folder auto-discovery)."""

import streamlit as st

st.set_page_config(page_title="Churn prediction dashboard", page_icon=":material/insights:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", url_path="overview", default=True),
]
st.navigation(pages).run()
