"""Plotly figures for the pages: pure functions of plain data, testable without Streamlit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

PRIMARY = "#0F62FE"
RISK = "#D62728"
SAFE = "#2CA02C"
MUTED = "#8D8D8D"
LAYOUT = {"template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 340}


def _figure(title: str, **layout: Any) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title={"text": title, "font": {"size": 15}}, **{**LAYOUT, **layout})
    return figure


ANNOTATION_SPOTS = ("top right", "top left", "bottom right", "bottom left")


def _threshold_line(
    figure: go.Figure,
    position: float,
    axis: str = "x",
    label: str = "threshold",
    text: str | None = None,
    spot: int = 0,
) -> None:
    line = {
        "line_dash": "dash",
        "line_color": MUTED,
        "annotation_text": text or f"{label} {position:.2f}",
        "annotation_position": ANNOTATION_SPOTS[spot % len(ANNOTATION_SPOTS)],
    }
    if axis == "x":
        figure.add_vline(x=position, **line)
    else:
        figure.add_hline(y=position, **line)


def probability_gauge(probability: float, threshold: float) -> go.Figure:
    """The probability on a 0-100 % dial, red past the threshold."""
    figure = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=probability * 100,
            number={"suffix": " %", "valueformat": ".1f"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": RISK if probability >= threshold else SAFE},
                "threshold": {"line": {"color": "black", "width": 3}, "value": threshold * 100},
            },
        )
    )
    figure.update_layout(**{**LAYOUT, "height": 260, "margin": {"l": 30, "r": 30, "t": 30, "b": 10}})
    return figure


def _show(value: Any) -> str:
    """A value as a person writes it: 2 rather than 2.0, and "(empty)" for a missing one."""
    if value is None:
        return "(empty)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def reasons_bar(reasons: list[dict[str, Any]]) -> go.Figure:
    """Top reasons as bars: how much each feature moves the probability from the typical value."""
    ordered = list(reversed(reasons))
    figure = _figure("Top reasons: change in probability versus a typical customer", height=80 + 45 * len(reasons))
    figure.add_bar(
        x=[r["contribution"] * 100 for r in ordered],
        y=[f"{r['feature']} = {_show(r['value'])}" for r in ordered],
        orientation="h",
        marker_color=[RISK if r["contribution"] > 0 else SAFE for r in ordered],
        hovertemplate="%{y}: %{x:+.1f} points<extra></extra>",
    )
    figure.update_xaxes(title="percentage points", zeroline=True)
    return figure


def what_if_chart(frame: pd.DataFrame, feature: str, threshold: float, numeric: bool) -> go.Figure:
    """This customer's probability across one feature, with the threshold and their own value."""
    figure = _figure(f"Probability as {feature} changes")
    percent = frame["probability"] * 100
    if numeric:
        figure.add_scatter(x=frame["value"], y=percent, mode="lines", line_color=PRIMARY, name="probability")
    else:
        colors = [RISK if p >= threshold else SAFE for p in frame["probability"]]
        figure.add_bar(x=frame["value"].astype(str), y=percent, marker_color=colors, name="probability")
    current = frame[frame["is_current"]]
    if len(current):
        x = current["value"] if numeric else current["value"].astype(str)
        figure.add_scatter(
            x=x,
            y=current["probability"] * 100,
            mode="markers",
            marker={"size": 12, "color": "black"},
            name="this customer",
        )
    _threshold_line(figure, threshold * 100, axis="y", text=f"threshold {threshold:.0%}")
    figure.update_yaxes(title="probability (%)", range=[0, 100])
    figure.update_xaxes(title=feature)
    return figure


def probability_histogram(probability: np.ndarray, threshold: float) -> go.Figure:
    figure = _figure("Scored probabilities")
    figure.add_histogram(x=probability, xbins={"start": 0, "end": 1, "size": 0.05}, marker_color=PRIMARY)
    _threshold_line(figure, threshold)
    figure.update_xaxes(title="probability", range=[0, 1])
    figure.update_yaxes(title="customers")
    return figure


def confusion_heatmap(matrix: dict[str, int], negative: str, positive: str) -> go.Figure:
    values = [[matrix["tn"], matrix["fp"]], [matrix["fn"], matrix["tp"]]]
    figure = _figure("Confusion matrix (test split)", height=300)
    figure.add_heatmap(
        z=values,
        x=[f"predicted {negative}", f"predicted {positive}"],
        y=[f"actual {negative}", f"actual {positive}"],
        text=[[f"{v:,}" for v in row] for row in values],
        texttemplate="%{text}",
        colorscale="Blues",
        showscale=False,
    )
    figure.update_yaxes(autorange="reversed")
    return figure


def roc_chart(curves: dict[str, Any], auc: float) -> go.Figure:
    figure = _figure(f"ROC curve (AUC {auc:.3f})")
    figure.add_scatter(x=curves["roc"]["fpr"], y=curves["roc"]["tpr"], mode="lines", line_color=PRIMARY, name="model")
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": MUTED}, name="chance")
    figure.update_xaxes(title="false positive rate")
    figure.update_yaxes(title="true positive rate")
    return figure


def pr_chart(curves: dict[str, Any], pr_auc: float, base_rate: float) -> go.Figure:
    figure = _figure(f"Precision-recall curve (average precision {pr_auc:.3f})")
    figure.add_scatter(
        x=curves["pr"]["recall"], y=curves["pr"]["precision"], mode="lines", line_color=PRIMARY, name="model"
    )
    figure.add_hline(y=base_rate, line_dash="dot", line_color=MUTED, annotation_text="base rate")
    figure.update_xaxes(title="recall")
    figure.update_yaxes(title="precision", range=[0, 1])
    return figure


def calibration_chart(curves: dict[str, Any]) -> go.Figure:
    figure = _figure("Calibration (test split, deciles)")
    calibration = curves["calibration"]
    figure.add_scatter(
        x=calibration["predicted"], y=calibration["observed"], mode="lines+markers", line_color=PRIMARY, name="model"
    )
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": MUTED}, name="perfect")
    figure.update_xaxes(title="mean predicted probability")
    figure.update_yaxes(title="observed rate")
    return figure


def gain_chart(curves: dict[str, Any]) -> go.Figure:
    figure = _figure("Cumulative gain")
    gain = curves["gain"]
    figure.add_scatter(
        x=gain["population_share"], y=gain["positives_captured"], mode="lines", line_color=PRIMARY, name="model"
    )
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": MUTED}, name="random")
    figure.update_xaxes(title="share of customers contacted (riskiest first)", tickformat=".0%")
    figure.update_yaxes(title="share of positives reached", tickformat=".0%")
    return figure


def importance_chart(importance: list[dict[str, Any]], top: int = 15) -> go.Figure:
    shown = list(reversed(importance[:top]))
    figure = _figure("Feature importance (drop in ROC AUC when shuffled)", height=120 + 22 * len(shown))
    figure.add_bar(
        x=[i["importance"] for i in shown],
        y=[i["feature"] for i in shown],
        orientation="h",
        error_x={"type": "data", "array": [i["std"] for i in shown]},
        marker_color=PRIMARY,
    )
    return figure


def threshold_chart(table: dict[str, list[float]], marks: dict[str, float]) -> go.Figure:
    """Precision, recall and F1 against the threshold, with the thresholds worth seeing marked."""
    figure = _figure("Metrics by threshold (test split)")
    for name, color in (("precision", PRIMARY), ("recall", RISK), ("f1", SAFE)):
        figure.add_scatter(x=table["threshold"], y=table[name], mode="lines", name=name, line_color=color)
    for spot, (label, value) in enumerate(marks.items()):
        _threshold_line(figure, value, label=label, spot=spot)
    figure.update_xaxes(title="threshold", range=[0, 1])
    figure.update_yaxes(range=[0, 1])
    return figure


def profit_chart(table: dict[str, list[float]], marks: dict[str, float], currency: str) -> go.Figure:
    figure = _figure("Expected campaign profit by threshold (test split)")
    figure.add_scatter(x=table["threshold"], y=table["profit"], mode="lines", line_color=PRIMARY, name="profit")
    for spot, (label, value) in enumerate(marks.items()):
        _threshold_line(figure, value, label=label, spot=spot)
    figure.update_xaxes(title="threshold", range=[0, 1])
    figure.update_yaxes(title=f"profit ({currency})")
    return figure


def segment_chart(table: pd.DataFrame, feature: str, measure: str, title: str) -> go.Figure:
    figure = _figure(title)
    figure.add_bar(x=table["segment"].astype(str), y=table[measure], marker_color=PRIMARY)
    figure.update_xaxes(title=feature, type="category")
    return figure


def campaign_chart(curve: pd.DataFrame, best: pd.Series, currency: str) -> go.Figure:
    figure = _figure("Expected profit by number of customers contacted (riskiest first)")
    figure.add_scatter(
        x=curve["targeted"], y=curve["expected_profit"], mode="lines", line_color=PRIMARY, name="expected profit"
    )
    figure.add_scatter(
        x=[best["targeted"]],
        y=[best["expected_profit"]],
        mode="markers",
        marker={"size": 12, "color": RISK},
        name=f"best: {int(best['targeted']):,} customers",
    )
    figure.update_xaxes(title="customers contacted")
    figure.update_yaxes(title=f"expected profit ({currency})")
    return figure


def distribution_chart(reference: dict[str, Any], scored: np.ndarray | None, feature: str) -> go.Figure:
    """Training distribution as shares, with scored inputs overlaid when there are any."""
    figure = _figure(f"Distribution of {feature}", barmode="overlay")
    if reference["kind"] == "numeric":
        edges = reference["histogram"]["edges"]
        counts = np.asarray(reference["histogram"]["counts"], dtype=float)
        labels = [f"{edges[i]:g} to {edges[i + 1]:g}" for i in range(len(counts))]
        scored_bins = None if scored is None else scored[: len(counts)]
    else:
        labels = list(reference["frequencies"])
        counts = np.asarray([reference["frequencies"][k] for k in labels], dtype=float)
        scored_bins = None
        if scored is not None:  # scored counts follow the schema's sorted categories; plus unseen
            categories = sorted(labels)
            by_category = dict(zip(categories, scored[: len(categories)], strict=True))
            scored_bins = np.asarray([by_category[k] for k in labels], dtype=float)
    figure.add_bar(x=labels, y=counts / max(counts.sum(), 1), name="training", marker_color=MUTED, opacity=0.6)
    if scored_bins is not None and scored_bins.sum():
        figure.add_bar(
            x=labels, y=scored_bins / scored_bins.sum(), name="scored here", marker_color=PRIMARY, opacity=0.6
        )
    figure.update_yaxes(title="share", tickformat=".0%")
    figure.update_xaxes(type="category")
    return figure
