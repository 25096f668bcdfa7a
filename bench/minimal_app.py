"""The floor for the first-render benchmark: a minimal `st.App` with one page (a title, a
caption and a metric card), served by the same server with the same options as the product."""

from pathlib import Path

import streamlit as st

PAGE = Path(__file__).resolve().parent / "minimal_page.py"

app = st.App(PAGE)
