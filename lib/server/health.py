"""The service's health in one place: GET /health and the Health page read the same report."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lib.redact import redact_paths

if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel

PROCESS_STARTED = time.monotonic()


def uptime_s() -> float:
    return round(time.monotonic() - PROCESS_STARTED, 3)


def duration(seconds: float) -> str:
    """45 s, 12 min, 3.5 h, 2.0 days: how a person reads an uptime."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def shown_source(source: str) -> str:
    """Where the served bundle comes from, without a server path: relative to the project
    (models/<version>) or to the setting naming it (MODEL_URI/<version>); S3 URIs as they are."""
    return redact_paths(source)


def _without_paths(value: Any) -> Any:
    """The report with every text redacted (a reason may name a file)."""
    if isinstance(value, str):
        return redact_paths(value)
    if isinstance(value, dict):
        return {key: _without_paths(item) for key, item in value.items()}
    return value


def health_report(model: LoadedModel | None, model_problem: str | None) -> dict[str, Any]:
    """ok; degraded (serving, but the bundle has no KPIs, the monitoring store cannot be
    written, the registry cannot be read, or the realised performance fell below the test
    split's: lib.monitoring.decay); unavailable (no model: nothing can be scored)."""
    from lib.monitoring.log import prediction_log
    from lib.server.access import auth_throttle
    from lib.server.runtime_guard import janitor

    admin = {"ok": True, **auth_throttle.status()}  # wrong admin tokens, and how often throttled
    sessions = {"ok": True, **janitor.status()}  # browser sessions and the uploads they hold
    store = prediction_log().status()  # state, reason, rows written, waiting and dropped
    if model is None:
        return _without_paths(
            {
                "status": "unavailable",
                "model_loaded": False,
                "model_version": None,
                "model_source": None,
                "kpis_loaded": False,
                "uptime_s": uptime_s(),
                "reason": model_problem,
                "checks": {
                    "model": {"ok": False, "reason": model_problem},
                    "store": store,
                    "admin": admin,
                    "sessions": sessions,
                },
            }
        )
    from lib.model_loader import registry_problem
    from lib.monitoring.decay import decay_watcher

    performance = decay_watcher().status(model.version)  # the last check's verdict: no query here
    kpis_loaded = bool(model.kpis.metrics)
    registry = registry_problem()
    problems = []
    if not kpis_loaded:
        problems.append("the model bundle has no KPIs")
    if not store["ok"]:
        problems.append(f"monitoring store: {store['reason']}")
    if registry:
        problems.append(f"model registry: {registry}; serving {model.version} until it is back")
    if not performance["ok"]:
        problems.append(f"model performance: {performance['reason']}")
    report = {
        "status": "degraded" if problems else "ok",
        "model_loaded": True,
        "model_version": model.version,
        "model_source": shown_source(model.source),
        "trained_at": model.metadata.created_at,
        "dataset_sha256": model.metadata.dataset.sha256,
        "kpis_loaded": kpis_loaded,
        "uptime_s": uptime_s(),
        "checks": {
            "model": {
                "ok": True,
                "version": model.version,
                "scorer": model.scorer.kind,
                "fallback_reason": getattr(model.scorer, "fallback_reason", None),
            },
            "kpis": {"ok": kpis_loaded},
            "store": store,
            "registry": {"ok": registry is None, "reason": registry},
            "performance": performance,
            "admin": admin,
            "sessions": sessions,
        },
    }
    if problems:
        report["reason"] = "; ".join(problems)
    return _without_paths(report)
