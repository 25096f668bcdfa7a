"""What the Overview shows, from plain reports: open alerts and the worst drift."""

from __future__ import annotations

from typing import Any, NamedTuple

from lib.ui.i18n import N_, number, t

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
            t("recent inputs"): report["recent_rows"],
        }
        for name, report in _by_psi(drift)[:limit]
    ]


def _by_psi(drift: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Feature reports, highest PSI first (no PSI last)."""
    return sorted(
        drift["features"].items(), key=lambda item: -1.0 if item[1]["psi"] is None else item[1]["psi"], reverse=True
    )
