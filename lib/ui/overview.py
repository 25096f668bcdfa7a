"""What the Overview shows, from plain reports: open alerts and the worst drift."""

from __future__ import annotations

from typing import Any, NamedTuple

from lib.ui import svg_charts
from lib.ui.i18n import N_, date_time, day, number, range_label, t
from lib.ui.palette import SOURCE_NAMES

DRIFT_STATUS = {"ok": N_("ok"), "watch": N_("watch"), "alert": N_("alert"), "too_few": N_("too few")}


class Alert(NamedTuple):
    severity: str  # "error" or "warning"
    title: str  # catalogue text, with {fields} from values
    values: dict[str, Any]
    detail: str  # the report's own words (the API's, in English)
    page: str
    page_title: str


def open_alerts(health: dict[str, Any], drift: dict[str, Any] | None, titles: dict[str, str]) -> list[Alert]:
    """What needs someone's attention, worst first: the health report's problems, then
    features (and the predicted probability) whose drift is on alert."""
    checks = health["checks"]
    alerts: list[Alert] = []
    performance = checks["performance"]
    if not performance["ok"]:
        alerts.append(Alert("error", N_("Model performance degraded."), {}, performance.get("reason") or "",
                            "pages/performance.py", N_("Model performance")))  # fmt: skip
    if not checks["store"]["ok"]:
        alerts.append(Alert("error", N_("Monitoring store unavailable."), {}, checks["store"].get("reason") or "",
                            "pages/health.py", N_("Health")))  # fmt: skip
    if not checks["registry"]["ok"]:
        alerts.append(Alert("warning", N_("Model registry unreachable."), {}, checks["registry"].get("reason") or "",
                            "pages/health.py", N_("Health")))  # fmt: skip
    if not checks["kpis"]["ok"]:
        alerts.append(Alert("warning", N_("The model bundle has no KPIs."), {}, "", "pages/retrain.py", N_("Retrain")))
    if drift is not None:
        drifting = [name for name, report in _by_psi(drift) if report["status"] == "alert"]
        if drift["probability"]["status"] == "alert":
            alerts.append(Alert("warning", N_("The predicted probabilities drifted from the test split."), {},
                                f"PSI {number(drift['probability']['psi'], 3)}", "pages/distributions.py",
                                N_("Feature distributions")))  # fmt: skip
        if drifting:
            named = ", ".join(titles.get(name, name) for name in drifting[:5]) + ("…" if len(drifting) > 5 else "")
            alerts.append(Alert("warning", N_("Drift alert on {count} features."), {"count": len(drifting)}, named,
                                "pages/distributions.py", N_("Feature distributions")))  # fmt: skip
    return alerts


def worst_drift(drift: dict[str, Any], titles: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """The features that moved most (highest PSI first), for a small table."""
    return [
        {
            t("feature"): titles.get(name, name),
            t("status"): t(DRIFT_STATUS[report["status"]]),
            "PSI": number(report["psi"], 3),
            t("recent inputs"): number(report["recent_rows"]),
        }
        for name, report in _by_psi(drift)[:limit]
    ]


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-.!|~"})


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a Markdown table, every cell escaped (a config's title may hold Markdown)."""
    if not rows:
        return ""
    header = list(rows[0])
    lines = [
        "| " + " | ".join(str(name).translate(_MARKDOWN) for name in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(str(row[name]).translate(_MARKDOWN) for name in header) + " |" for row in rows]
    return "\n".join(lines)


def activity_chart(series: list[dict[str, Any]], title: str) -> str:
    """Predictions per hour of the window, stacked by source, a date under each midnight."""
    sources = sorted({source for point in series for source in point["by_source"]})
    names = {source: t(SOURCE_NAMES.get(source, source)) for source in sources}
    points = [
        (date_time(point["start"]), {names[s]: count for s, count in point["by_source"].items()}) for point in series
    ]
    ticks = [(i, day(point["start"])) for i, point in enumerate(series) if point["start"] % 86_400 == 0]
    return svg_charts.stacked_bars(title, "activity", points, [names[s] for s in sources], ticks)


def probability_chart(report: dict[str, Any], title: str) -> str:
    """The recent predicted probabilities against the test split's, per bin."""
    reference = [count / max(1, sum(report["training_counts"])) for count in report["training_counts"]]
    recent = [count / max(1, sum(report["recent_counts"])) for count in report["recent_counts"]]
    bins = [range_label(label) for label in report["bins"]]
    return svg_charts.overlaid_shares(
        title, "probabilities", bins, (t("test split"), reference), (t("last 7 days"), recent)
    )


def _by_psi(drift: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Feature reports, highest PSI first (no PSI last)."""
    return sorted(
        drift["features"].items(), key=lambda item: -1.0 if item[1]["psi"] is None else item[1]["psi"], reverse=True
    )
