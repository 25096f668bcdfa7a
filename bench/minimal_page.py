"""The minimal st.App's only page (bench/minimal_app.py)."""

import streamlit as st

st.title("Minimal page")
st.caption("The least a Streamlit app renders.")
st.metric("Rendered", "1")
