"""Feature distributions: what training saw for each feature, and what was scored here."""

import pandas as pd
import streamlit as st

from lib import charts
from lib.activity import activity
from lib.ui import served_model

st.title("Feature distributions")
model = served_model()
distributions = model.kpis["distributions"]
feature = st.selectbox("Feature", model.schema.names, key="distribution_feature")
reference = distributions[feature]
scored = activity.scored_counts(model, feature)
st.plotly_chart(charts.distribution_chart(reference, scored, feature), key="distribution")
if scored is None:
    st.caption("Nothing scored in this process yet: score a customer or a file to overlay what the model sees.")
else:
    st.caption(f"Overlaid: {int(scored.sum()):,} inputs scored by this process since it started.")

if reference["kind"] == "numeric":
    summary = {
        "count": reference["count"],
        "missing": reference["missing"],
        "mean": reference["mean"],
        "std": reference["std"],
        **{f"quantile {q}": v for q, v in reference["quantiles"].items()},
    }
else:
    summary = {
        "count": reference["count"],
        "missing": reference["missing"],
        "categories": len(reference["shares"]),
        **{f"share of {k}": v for k, v in reference["shares"].items()},
    }
st.dataframe(
    pd.DataFrame(
        {"statistic": list(summary), "training": [round(v, 4) if isinstance(v, float) else v for v in summary.values()]}
    ),
    hide_index=True,
    key="summary",
)
