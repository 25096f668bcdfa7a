"""Plain-Python core of the prediction dashboard: no Streamlit imports here."""
