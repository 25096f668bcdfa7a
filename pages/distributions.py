"""Feature distributions: training against recent inputs, per feature, with drift (PSI)."""

import pandas as pd
import streamlit as st

from lib.monitoring.drift import ALERT, MIN_RECENT_ROWS, WATCH, feature_report
from lib.monitoring.log import prediction_log
from lib.monitoring.store import WINDOWS, StoreUnavailable
from lib.ui import charts
from lib.ui.helpers import feature_titles, served_model
from lib.ui.i18n import number, t

st.title(t("Feature distributions"))
STATUS_LABELS = {"ok": t("ok"), "watch": t("watch"), "alert": t("ALERT"), "too_few": t("too few")}
model = served_model()
distributions = model.kpis.distributions
window = st.segmented_control(t("Recent window"), list(WINDOWS), default="24h", key="drift_window") or "24h"
st.caption(
    t(
        "Drift is the population stability index (PSI) between training and the inputs scored in the last {window} "
        "by model {version}: **ok** below {watch}, **watch** from {watch}, **alert** from {alert}; **too few** under "
        "{rows} recent inputs (PSI shown, status withheld).",
        window=window,
        version=model.version,
        watch=number(WATCH, 2),
        alert=number(ALERT, 2),
        rows=MIN_RECENT_ROWS,
    )
)
try:
    drift = prediction_log().drift(model, window)
except StoreUnavailable as exc:
    drift = None
    st.warning(t("The monitoring store is unavailable, so recent inputs cannot be shown: {reason}.", reason=exc))

if drift is not None:
    rows = [{"feature": t("predicted probability"), **drift["probability"]}] + [
        {"feature": name, **report} for name, report in drift["features"].items()
    ]
    table = pd.DataFrame(
        {
            t("feature"): [r["feature"] for r in rows],
            t("status"): [STATUS_LABELS[r["status"]] for r in rows],
            "PSI": [r["psi"] for r in rows],
            t("recent inputs"): [r["recent_rows"] for r in rows],
        }
    ).sort_values("PSI", ascending=False, na_position="last")
    alerts = int((table[t("status")] == STATUS_LABELS["alert"]).sum())
    watch = int((table[t("status")] == STATUS_LABELS["watch"]).sum())
    cards = st.columns(3)
    cards[0].metric(t("Recent inputs"), number(drift["probability"]["recent_rows"]))
    cards[1].metric(t("Features on alert"), alerts)
    cards[2].metric(t("Features to watch"), watch)
    st.dataframe(table, hide_index=True, key="drift_table")
    st.plotly_chart(
        charts.drift_chart(drift["probability"], t("Predicted probability: test split and recent"), t("test split")),
        key="probability",
    )

feature = st.selectbox(
    t("Feature"), model.schema.names, format_func=feature_titles(model).get, key="distribution_feature"
)
reference = distributions[feature]
spec = next(s for s in model.schema.features if s.name == feature)
report = drift["features"][feature] if drift else feature_report(reference, spec.categories, None)
st.plotly_chart(charts.drift_chart(report, t("Distribution of {feature}", feature=feature)), key="distribution")
if drift is not None:
    if report["recent_rows"]:
        st.caption(
            t(
                "PSI {psi} ({status}) over {rows} recent inputs.",
                psi=number(report["psi"], 3),
                status=STATUS_LABELS[report["status"]],
                rows=number(report["recent_rows"]),
            )
        )
    else:
        st.caption(
            t(
                "Nothing scored in the last {window}: score a customer or a file to overlay what the model sees.",
                window=window,
            )
        )

if reference["kind"] == "numeric":
    summary = {
        t("count"): reference["count"],
        t("missing"): reference["missing"],
        t("mean"): reference["mean"],
        t("standard deviation"): reference["std"],
        **{t("quantile {q}", q=q): v for q, v in reference["quantiles"].items()},
    }
else:
    summary = {
        t("count"): reference["count"],
        t("missing"): reference["missing"],
        t("categories"): len(reference["shares"]),
        **{t("share of {category}", category=k): v for k, v in reference["shares"].items()},
    }
st.dataframe(
    pd.DataFrame(
        {
            t("statistic"): list(summary),
            t("training"): [round(v, 4) if isinstance(v, float) else v for v in summary.values()],
        }
    ),
    hide_index=True,
    key="summary",
)
