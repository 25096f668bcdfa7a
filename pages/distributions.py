"""Feature distributions: training against recent inputs, per feature, with drift (PSI)."""

import pandas as pd
import streamlit as st

from lib.monitoring.drift import ALERT, MIN_RECENT_ROWS, WATCH, feature_report
from lib.monitoring.log import prediction_log
from lib.monitoring.store import WINDOWS, StoreUnavailable
from lib.ui import charts
from lib.ui.helpers import feature_titles, served_model

STATUS_LABELS = {"ok": "ok", "watch": "watch", "alert": "ALERT", "too_few": "too few"}

st.title("Feature distributions")
model = served_model()
distributions = model.kpis.distributions
window = st.segmented_control("Recent window", list(WINDOWS), default="24h", key="drift_window") or "24h"
st.caption(
    f"Drift is the population stability index (PSI) between training and the inputs scored in the last {window} "
    f"by model {model.version}: **ok** below {WATCH}, **watch** from {WATCH}, **alert** from {ALERT}; "
    f"**too few** under {MIN_RECENT_ROWS} recent inputs (PSI shown, status withheld)."
)
try:
    drift = prediction_log().drift(model, window)
except StoreUnavailable as exc:
    drift = None
    st.warning(f"The monitoring store is unavailable, so recent inputs cannot be shown: {exc}.")

if drift is not None:
    rows = [{"feature": "predicted probability", **drift["probability"]}] + [
        {"feature": name, **report} for name, report in drift["features"].items()
    ]
    table = pd.DataFrame(
        {
            "feature": [r["feature"] for r in rows],
            "status": [STATUS_LABELS[r["status"]] for r in rows],
            "PSI": [r["psi"] for r in rows],
            "recent inputs": [r["recent_rows"] for r in rows],
        }
    ).sort_values("PSI", ascending=False, na_position="last")
    alerts = int((table["status"] == STATUS_LABELS["alert"]).sum())
    watch = int((table["status"] == STATUS_LABELS["watch"]).sum())
    cards = st.columns(3)
    cards[0].metric("Recent inputs", f"{drift['probability']['recent_rows']:,}")
    cards[1].metric("Features on alert", alerts)
    cards[2].metric("Features to watch", watch)
    st.dataframe(table, hide_index=True, key="drift_table")
    st.plotly_chart(
        charts.drift_chart(drift["probability"], "Predicted probability: test split and recent"), key="probability"
    )

feature = st.selectbox("Feature", model.schema.names, format_func=feature_titles(model).get, key="distribution_feature")
reference = distributions[feature]
spec = next(s for s in model.schema.features if s.name == feature)
report = drift["features"][feature] if drift else feature_report(reference, spec.categories, None)
st.plotly_chart(charts.drift_chart(report, f"Distribution of {feature}"), key="distribution")
if drift is not None:
    if report["recent_rows"]:
        psi = "n/a" if report["psi"] is None else f"{report['psi']:.3f}"
        st.caption(f"PSI {psi} ({STATUS_LABELS[report['status']]}) over {report['recent_rows']:,} recent inputs.")
    else:
        st.caption(f"Nothing scored in the last {window}: score a customer or a file to overlay what the model sees.")

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
