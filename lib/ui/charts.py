"""Plotly figures for the pages: pure functions of plain data, testable without Streamlit.

Figures are written as plain plotly specs and wrapped without plotly's per-property
validation, which costs 5-30 ms a figure and would dominate a page rerun; the tests
validate every figure once instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lib.ui.i18n import range_label, separators, t
from lib.ui.palette import MUTED, PRIMARY, RISK_COLOURS, SOURCE_NAMES

RISK, SAFE = RISK_COLOURS
# Translucent grey reads on the light and the dark theme alike; the backgrounds are
# transparent and the text colour comes from Streamlit's theme, so charts follow it.
GRID = "rgba(128, 128, 128, 0.28)"
AXIS = {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": GRID, "automargin": True}
ANNOTATION_SPOTS = (("left", "top"), ("right", "top"), ("left", "bottom"), ("right", "bottom"))


def _figure(data: list[dict[str, Any]], title: str, height: int = 340, **layout: Any) -> go.Figure:
    base: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 15}},
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "height": height,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": dict(AXIS),
        "yaxis": dict(AXIS),
        "shapes": [],
        "annotations": [],
        # The empty built-in template: plotly otherwise deep-copies its default one into
        # every figure (twice the cost of building the figure itself).
        "template": "none",
        "colorway": [PRIMARY, RISK, SAFE, MUTED],
        "separators": separators(),  # 0,5 and 1 234 in French
    }
    for key, value in layout.items():
        base[key] = {**base[key], **value} if key in ("xaxis", "yaxis") else value
    return go.Figure(data=data, layout=base, _validate=False)


def _line_at(position: float, text: str, axis: str = "x", spot: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dashed reference line across the plot, and its label."""
    side, level = ANNOTATION_SPOTS[spot % len(ANNOTATION_SPOTS)]
    line: dict[str, Any] = {"type": "line", "line": {"dash": "dash", "color": MUTED, "width": 1.5}}
    label: dict[str, Any] = {"text": text, "showarrow": False, "font": {"size": 11, "color": MUTED}}
    if axis == "x":
        line |= {"xref": "x", "yref": "paper", "x0": position, "x1": position, "y0": 0, "y1": 1}
        label |= {
            "xref": "x",
            "yref": "paper",
            "x": position,
            "y": 1 if level == "top" else 0,
            "xanchor": "left" if side == "left" else "right",
            "yanchor": level,
        }
    else:
        line |= {"xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": position, "y1": position}
        label |= {"xref": "paper", "yref": "y", "x": 1, "y": position, "xanchor": "right", "yanchor": "bottom"}
    return line, label


def _with_lines(figure: go.Figure, lines: list[tuple[dict[str, Any], dict[str, Any]]]) -> go.Figure:
    figure.layout.shapes = [line for line, _ in lines]
    figure.layout.annotations = [label for _, label in lines]
    return figure


def _show(value: Any) -> str:
    """A value as a person writes it: 2 rather than 2.0, and "(empty)" for a missing one."""
    if value is None:
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def probability_gauge(probability: float, threshold: float, colours: tuple[str, str] = RISK_COLOURS) -> go.Figure:
    """The probability on a 0-100 % dial, in the positive class's colour past the threshold."""
    gauge = {
        "type": "indicator",
        "mode": "gauge+number",
        "value": probability * 100,
        "number": {"suffix": " %", "valueformat": ".1f"},
        "gauge": {
            "axis": {"range": [0, 100]},
            "bar": {"color": colours[0] if probability >= threshold else colours[1]},
            "threshold": {"line": {"color": "black", "width": 3}, "value": threshold * 100},
        },
    }
    return _figure([gauge], "", height=260, margin={"l": 30, "r": 30, "t": 30, "b": 10})


def reasons_bar(
    reasons: list[dict[str, Any]], colours: tuple[str, str] = RISK_COLOURS, titles: dict[str, str] | None = None
) -> go.Figure:
    """Top reasons as bars: how much each feature moves the probability from the typical value."""
    ordered = list(reversed(reasons))
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": [r["contribution"] * 100 for r in ordered],
        "y": [f"{(titles or {}).get(r['feature'], r['feature'])} = {_show(r['value'])}" for r in ordered],
        "marker": {"color": [colours[0] if r["contribution"] > 0 else colours[1] for r in ordered]},
        "hovertemplate": "%{y}: %{x:+.1f} " + t("points") + "<extra></extra>",
    }
    return _figure(
        [bars],
        t("Top reasons: change in probability versus a typical customer"),
        height=80 + 45 * len(reasons),
        xaxis={"title": {"text": t("percentage points")}, "zeroline": True, "zerolinecolor": MUTED},
    )


def what_if_chart(
    frame: pd.DataFrame, feature: str, threshold: float, numeric: bool, colours: tuple[str, str] = RISK_COLOURS
) -> go.Figure:
    """This customer's probability across one feature, with the threshold and their own value."""
    values = frame["value"].tolist() if numeric else [_show(v) for v in frame["value"]]
    probability = frame["probability"].to_numpy()
    percent = (probability * 100).tolist()
    cases = [c if isinstance(c, str) else None for c in frame["case"]] if "case" in frame else [None] * len(frame)
    special = [i for i, case in enumerate(cases) if case is not None]
    extra = []
    if numeric:
        line = [i for i, case in enumerate(cases) if case is None]
        main = {
            "type": "scatter",
            "mode": "lines",
            "x": [values[i] for i in line],
            "y": [percent[i] for i in line],
            "line": {"color": PRIMARY},
            "name": t("probability"),
        }
        if special:  # sentinels ("never contacted") are cases of their own, off the line
            extra.append(
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "x": [values[i] for i in special],
                    "y": [percent[i] for i in special],
                    "text": [cases[i] for i in special],
                    "textposition": "top center",
                    "marker": {"size": 10, "symbol": "diamond", "color": MUTED},
                    "name": t("special cases"),
                }
            )
    else:
        colors = [colours[0] if p >= threshold else colours[1] for p in probability]
        main = {"type": "bar", "x": values, "y": percent, "marker": {"color": colors}, "name": t("probability")}
    current = [i for i, flag in enumerate(frame["is_current"]) if flag]
    marker = {
        "type": "scatter",
        "mode": "markers",
        "x": [values[i] for i in current],
        "y": [percent[i] for i in current],
        "marker": {"size": 12, "color": "black"},
        "name": t("this customer"),
    }
    figure = _figure(
        [main, *extra, marker],
        t("Probability as {feature} changes", feature=feature),
        xaxis={"title": {"text": feature}, **({} if numeric else {"type": "category"})},
        yaxis={"title": {"text": t("probability (%)")}, "range": [0, 100]},
    )
    return _with_lines(figure, [_line_at(threshold * 100, f"threshold {threshold:.0%}", axis="y")])


def probability_histogram(probability: np.ndarray, threshold: float) -> go.Figure:
    bins = {
        "type": "histogram",
        "x": probability,
        "xbins": {"start": 0, "end": 1, "size": 0.05},
        "marker": {"color": PRIMARY},
    }
    figure = _figure(
        [bins],
        t("Scored probabilities"),
        xaxis={"title": {"text": t("probability")}, "range": [0, 1]},
        yaxis={"title": {"text": t("customers")}},
    )
    return _with_lines(figure, [_line_at(threshold, t("threshold {value}", value=f"{threshold:.2f}"))])


def confusion_heatmap(matrix: dict[str, int], negative: str, positive: str, scope: str = "test split") -> go.Figure:
    values = [[matrix["tn"], matrix["fp"]], [matrix["fn"], matrix["tp"]]]
    heatmap = {
        "type": "heatmap",
        "z": values,
        "x": [t("predicted {label}", label=negative), t("predicted {label}", label=positive)],
        "y": [t("actual {label}", label=negative), t("actual {label}", label=positive)],
        "text": [[f"{v:,}" for v in row] for row in values],
        "texttemplate": "%{text}",
        "colorscale": "Blues",
        "showscale": False,
    }
    return _figure(
        [heatmap], t("Confusion matrix ({scope})", scope=t(scope)), height=300, yaxis={"autorange": "reversed"}
    )


def _diagonal(name: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [0, 1],
        "y": [0, 1],
        "line": {"dash": "dot", "color": MUTED},
        "name": name,
    }


def _curve(x: list[float], y: list[float], name: str | None = None, mode: str = "lines") -> dict[str, Any]:
    return {"type": "scatter", "mode": mode, "x": x, "y": y, "line": {"color": PRIMARY}, "name": name or t("model")}


def roc_chart(curves: dict[str, Any], auc: float) -> go.Figure:
    return _figure(
        [_curve(curves["roc"]["fpr"], curves["roc"]["tpr"]), _diagonal(t("chance"))],
        t("ROC curve (AUC {auc})", auc=f"{auc:.3f}"),
        xaxis={"title": {"text": t("false positive rate")}},
        yaxis={"title": {"text": t("true positive rate")}},
    )


def roc_comparison_chart(roc: dict[str, Any], new_auc: float, served_auc: float) -> go.Figure:
    """The new model's and the served model's ROC curves on the same held-out rows."""
    new = _curve(roc["challenger"]["fpr"], roc["challenger"]["tpr"], t("new model (AUC {auc})", auc=f"{new_auc:.3f}"))
    served = _curve(
        roc["champion"]["fpr"], roc["champion"]["tpr"], t("served model (AUC {auc})", auc=f"{served_auc:.3f}")
    )
    served["line"] = {"color": MUTED, "dash": "dot"}
    return _figure(
        [new, served, _diagonal(t("chance"))],
        t("ROC curves on the same test rows"),
        xaxis={"title": {"text": t("false positive rate")}},
        yaxis={"title": {"text": t("true positive rate")}},
    )


def pr_chart(curves: dict[str, Any], pr_auc: float, base_rate: float) -> go.Figure:
    figure = _figure(
        [_curve(curves["pr"]["recall"], curves["pr"]["precision"])],
        t("Precision-recall curve (average precision {value})", value=f"{pr_auc:.3f}"),
        xaxis={"title": {"text": t("recall")}},
        yaxis={"title": {"text": t("precision")}, "range": [0, 1]},
    )
    return _with_lines(figure, [_line_at(base_rate, t("base rate"), axis="y")])


def calibration_chart(curves: dict[str, Any]) -> go.Figure:
    calibration = curves["calibration"]
    return _figure(
        [_curve(calibration["predicted"], calibration["observed"], mode="lines+markers"), _diagonal(t("perfect"))],
        t("Calibration (test split, deciles)"),
        xaxis={"title": {"text": t("mean predicted probability")}},
        yaxis={"title": {"text": t("observed rate")}},
    )


def gain_chart(curves: dict[str, Any], ranked: str = "riskiest first") -> go.Figure:
    gain = curves["gain"]
    return _figure(
        [_curve(gain["population_share"], gain["positives_captured"]), _diagonal(t("random"))],
        t("Cumulative gain"),
        xaxis={"title": {"text": t("share of customers contacted ({order})", order=t(ranked))}, "tickformat": ".0%"},
        yaxis={"title": {"text": t("share of positives reached")}, "tickformat": ".0%"},
    )


def importance_chart(importance: list[dict[str, Any]], top: int = 15) -> go.Figure:
    shown = list(reversed(importance[:top]))
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": [i["importance"] for i in shown],
        "y": [i["feature"] for i in shown],
        "error_x": {"type": "data", "array": [i["std"] for i in shown]},
        "marker": {"color": PRIMARY},
    }
    return _figure([bars], t("Feature importance (drop in ROC AUC when shuffled)"), height=120 + 22 * len(shown))


def threshold_chart(table: dict[str, list[float]], marks: dict[str, float]) -> go.Figure:
    """Precision, recall and F1 against the threshold, with the thresholds worth seeing marked."""
    lines = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": table["threshold"],
            "y": table[name],
            "name": t(name),
            "line": {"color": color},
        }
        for name, color in (("precision", PRIMARY), ("recall", RISK), ("f1", SAFE))
    ]
    figure = _figure(
        lines,
        t("Metrics by threshold (test split)"),
        xaxis={"title": {"text": t("threshold")}, "range": [0, 1]},
        yaxis={"range": [0, 1]},
    )
    return _with_lines(figure, [_line_at(v, f"{k} {v:.2f}", spot=i) for i, (k, v) in enumerate(marks.items())])


def profit_chart(table: dict[str, list[float]], marks: dict[str, float], currency: str) -> go.Figure:
    figure = _figure(
        [_curve(table["threshold"], table["profit"], name=t("profit"))],
        t("Expected campaign profit by threshold (test split)"),
        xaxis={"title": {"text": t("threshold")}, "range": [0, 1]},
        yaxis={"title": {"text": t("profit ({currency})", currency=currency)}},
    )
    return _with_lines(figure, [_line_at(v, f"{k} {v:.2f}", spot=i) for i, (k, v) in enumerate(marks.items())])


def segment_chart(table: pd.DataFrame, feature: str, measure: str, title: str) -> go.Figure:
    bars = {
        "type": "bar",
        "x": [range_label(label) for label in table["segment"].astype(str)],
        "y": table[measure].tolist(),
        "marker": {"color": PRIMARY},
    }
    return _figure([bars], title, xaxis={"title": {"text": feature}, "type": "category"})


def campaign_chart(curve: pd.DataFrame, best: pd.Series, currency: str, ranked: str = "riskiest first") -> go.Figure:
    best_point = {
        "type": "scatter",
        "mode": "markers",
        "x": [best["targeted"]],
        "y": [best["expected_profit"]],
        "marker": {"size": 12, "color": RISK},
        "name": t("best: {count} customers", count=f"{int(best['targeted']):,}"),
    }
    return _figure(
        [_curve(curve["targeted"].tolist(), curve["expected_profit"].tolist(), name=t("expected profit")), best_point],
        t("Expected profit by number of customers contacted ({order})", order=t(ranked)),
        xaxis={"title": {"text": t("customers contacted")}},
        yaxis={"title": {"text": t("expected profit ({currency})", currency=currency)}},
    )


def drift_chart(
    report: dict[str, Any], title: str, reference: str | None = None, recent_name: str | None = None
) -> go.Figure:
    """Training and recent shares per bin, overlaid (a drift report from lib.monitoring.drift).

    The unseen and missing bins are left out when neither side has any.
    """
    reference = reference or t("training")
    recent_name = recent_name or t("recent")
    training = np.asarray(report["training_counts"], dtype=float)
    recent = np.asarray(report["recent_counts"], dtype=float)
    keep = [
        i for i, label in enumerate(report["bins"]) if label not in ("(unseen)", "missing") or training[i] or recent[i]
    ]
    labels = [range_label(report["bins"][i]) for i in keep]
    bars = [
        {
            "type": "bar",
            "x": labels,
            "y": (training[keep] / max(training.sum(), 1)).tolist(),
            "name": reference,
            "marker": {"color": MUTED},
            "opacity": 0.6,
        }
    ]
    if recent.sum():
        bars.append(
            {
                "type": "bar",
                "x": labels,
                "y": (recent[keep] / recent.sum()).tolist(),
                "name": recent_name,
                "marker": {"color": PRIMARY},
                "opacity": 0.6,
            }
        )
    return _figure(
        bars,
        title,
        barmode="overlay",
        xaxis={"type": "category"},
        yaxis={"title": {"text": t("share")}, "tickformat": ".0%"},
    )


def _times(series: list[dict[str, Any]]) -> list[str]:
    return [pd.Timestamp(point["start"], unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M") for point in series]


def throughput_chart(series: list[dict[str, Any]], step_s: int) -> go.Figure:
    """Predictions per second in each step, stacked by source."""
    sources = sorted({source for point in series for source in point["by_source"]})
    x = _times(series)
    bars = [
        {
            "type": "bar",
            "x": x,
            "y": [p["by_source"].get(source, 0) / step_s for p in series],
            "name": t(SOURCE_NAMES.get(source, source)),
        }
        for source in sources
    ]
    title = t("Throughput (per second)")
    return _figure(bars, title, height=280, barmode="stack", yaxis={"rangemode": "tozero"})


def error_rate_chart(series: list[dict[str, Any]]) -> go.Figure:
    x = _times(series)
    y = [p["errors"] / p["requests"] if p["requests"] else None for p in series]
    line = {"type": "scatter", "mode": "lines+markers", "x": x, "y": y, "name": t("error rate"), "connectgaps": False}
    return _figure(
        [line | {"line": {"color": RISK}}],
        t("Error rate"),
        height=280,
        yaxis={"tickformat": ".0%", "rangemode": "tozero"},
    )


def latency_chart(series: list[dict[str, Any]]) -> go.Figure:
    x = _times(series)
    lines = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": x,
            "y": [p[q] for p in series],
            "name": q,
            "connectgaps": False,
        }
        for q in ("p50", "p95", "p99")
    ]
    return _figure(lines, t("Latency (ms, log scale)"), height=280, yaxis={"type": "log", "dtick": 1})


def live_series_chart(series: list[dict[str, Any]], test_auc: float) -> go.Figure:
    """Per day: labelled predictions (bars, right axis) and realised ROC AUC (line; a gap
    where a day has too few outcomes), against the test split's AUC."""
    days = [point["day"] for point in series]
    labelled = {"type": "bar", "x": days, "y": [p["labelled"] for p in series], "name": t("labelled"),
                "yaxis": "y2", "marker": {"color": GRID}}  # fmt: skip
    auc = {"type": "scatter", "mode": "lines+markers", "x": days, "y": [p["roc_auc"] for p in series],
           "name": t("realised ROC AUC"), "line": {"color": PRIMARY}, "connectgaps": False}  # fmt: skip
    figure = _figure(
        [labelled, auc],
        t("Realised ROC AUC per day of prediction"),
        height=300,
        yaxis={"title": {"text": t("ROC AUC")}, "range": [0, 1]},
        yaxis2={"overlaying": "y", "side": "right", "showgrid": False, "title": {"text": t("labelled")}},
        legend={"orientation": "h", "y": -0.2},
    )
    return _with_lines(figure, [_line_at(test_auc, t("test split {auc}", auc=f"{test_auc:.3f}"), axis="y")])


def live_calibration_chart(calibration: list[dict[str, Any]], curves: dict[str, Any]) -> go.Figure:
    """Observed rate against mean predicted probability per tenth: live and test split."""
    live = _curve(
        [b["predicted"] for b in calibration], [b["observed"] for b in calibration], t("live"), "lines+markers"
    )
    test = _curve(curves["calibration"]["predicted"], curves["calibration"]["observed"], t("test split"), "lines")
    test["line"] = {"color": MUTED, "dash": "dot"}
    return _figure(
        [live, test, _diagonal(t("perfect"))],
        t("Calibration (live, tenths)"),
        xaxis={"title": {"text": t("mean predicted probability")}, "range": [0, 1]},
        yaxis={"title": {"text": t("observed rate")}, "range": [0, 1]},
    )
