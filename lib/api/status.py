"""Read-only endpoints: health, liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lib.api.common import (
    MAX_PAGE,
    ApiError,
    json_response,
    positive_int,
    served_model,
    store_read,
    window_param,
)
from lib.server.health import health_report, uptime_s  # imported with the app: uptime counts from here
from lib.settings import get_settings

# The model, pandas and numpy are imported by the first request (or the warm-up thread),
# not here: app.py imports this module, and the server should answer within a second.
if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel


async def health(request: Request) -> Response:
    """200 ok or degraded (still serving), 503 unavailable (no model): see lib.server.health."""
    try:
        report = health_report(await served_model(), None)
    except ApiError as exc:
        report = health_report(None, exc.message)
    return json_response(report, 503 if report["status"] == "unavailable" else 200)


async def live(request: Request) -> Response:
    return json_response({"status": "alive", "uptime_s": uptime_s()})


async def ready(request: Request) -> Response:
    from lib.model.inference import score_record

    model = await served_model()
    typical = {spec.name: spec.default for spec in model.schema.features}
    try:
        probability = score_record(typical, model, explain=False).probability
    except Exception as exc:  # a model that cannot score its own typical record is not ready
        raise ApiError(503, f"the smoke prediction failed: {type(exc).__name__}") from None
    return json_response({"status": "ready", "model_version": model.version, "smoke_probability": probability})


def _model_metrics(model: LoadedModel) -> dict[str, Any]:
    metrics = model.kpis.metrics
    return {
        **metrics,
        "version": model.version,
        "threshold": model.threshold,
        "threshold_criterion": model.metadata.threshold_criterion,
        "scope": "test split",
    }


def _kpis(model: LoadedModel) -> dict[str, Any]:
    from lib.monitoring.log import SOURCES, prediction_log

    business = model.kpis.business
    totals = store_read(prediction_log().totals)
    return {
        "base_rate": model.kpis.base_rate,
        "business": business,
        "business_available": business is not None,
        "predictions_made": {source: totals.get(source, 0) for source in SOURCES},
        "model_version": model.version,
    }


def _system(window: str) -> dict[str, Any]:
    from lib.monitoring.log import prediction_log

    return store_read(lambda: prediction_log().system(window))


async def metrics(request: Request) -> Response:
    window = window_param(request)
    model = await served_model()
    return json_response({"model": _model_metrics(model), "system": _system(window), "kpis": _kpis(model)})


def _live_metrics(model: LoadedModel, window: str) -> dict[str, Any]:
    from lib.monitoring.log import prediction_log

    return store_read(lambda: prediction_log().live(model, window))


def live_window_param(request: Request) -> str:
    from lib.monitoring.live import DEFAULT_LIVE_WINDOW, LIVE_WINDOWS

    window = request.query_params.get("window", DEFAULT_LIVE_WINDOW)
    if window not in LIVE_WINDOWS:
        raise ApiError(
            422,
            f"window must be one of {', '.join(LIVE_WINDOWS)} (source=live), not {window[:20]!r}",
            [{"field": "window", "allowed": list(LIVE_WINDOWS)}],
        )
    return window


def _version_model(version: str) -> LoadedModel:
    """A registry version other than the served one (lib.serving.shadow.registry_version)."""
    from lib.model.loaded import ModelNotAvailable
    from lib.registry import RegistryError
    from lib.serving.shadow import registry_version

    settings = get_settings()
    try:
        return registry_version(settings.model_uri, version, settings.model_cache_dir)
    except RegistryError as exc:
        raise ApiError(404 if exc.kind == "unknown" else 422, str(exc), [{"field": "version"}]) from None
    except ModelNotAvailable as exc:
        raise ApiError(422, f"version {version} cannot be read: {exc.reason}", [{"field": "version"}]) from None


async def metrics_model(request: Request) -> Response:
    """The test split's figures (source=test, the default) or the realised ones
    (source=live), of the served version or of another one of the registry (version=)."""
    source = request.query_params.get("source", "test")
    if source not in ("test", "live"):
        raise ApiError(422, f"source must be test or live, not {source[:20]!r}", [{"field": "source"}])
    window = live_window_param(request)  # checked with either source: a wrong one is never ignored
    model = await served_model()
    version = request.query_params.get("version")
    if version is not None and version != model.version:
        model = await run_in_threadpool(_version_model, version)
    if source == "live":
        return json_response(await run_in_threadpool(_live_metrics, model, window))
    return json_response(_model_metrics(model))


async def metrics_system(request: Request) -> Response:
    return json_response(_system(window_param(request)))


async def metrics_prometheus(request: Request) -> Response:
    """Prometheus's text format, built from values computed off the request path."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from lib.server.prometheus import exposition

    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


async def metrics_kpis(request: Request) -> Response:
    return json_response(_kpis(await served_model()))


async def feature_distribution(request: Request) -> Response:
    """Training distribution, recent counts, PSI and status per feature; probability drift."""
    from lib.monitoring import drift as drift_rules
    from lib.monitoring.log import prediction_log

    model = await served_model()
    window = window_param(request, default="24h")
    page = positive_int(request, "page", 1, MAX_PAGE)
    page_size = positive_int(request, "page_size", 10, 100)
    names = model.schema.names
    wanted = request.query_params.get("feature")
    if wanted is not None and wanted not in names:
        raise ApiError(404, f"unknown feature {wanted!r}", [{"field": "feature", "known": names}])
    chosen = [wanted] if wanted is not None else names[(page - 1) * page_size : page * page_size]
    drift = store_read(lambda: prediction_log().drift(model, window, chosen))
    distributions = model.kpis.distributions
    return json_response(
        {
            "features": [
                {"feature": name, "training": distributions[name], **drift["features"][name]} for name in chosen
            ],
            "probability": drift["probability"],
            "window": window,
            "thresholds": {
                "watch": drift_rules.WATCH,
                "alert": drift_rules.ALERT,
                "min_recent_rows": drift_rules.MIN_RECENT_ROWS,
            },
            "page": 1 if wanted else page,
            "page_size": page_size,
            "total": 1 if wanted else len(names),
            "pages": 1 if wanted else max(1, math.ceil(len(names) / page_size)),
            "model_version": model.version,
        }
    )


async def openapi(request: Request) -> Response:
    from lib.api.openapi import document

    try:
        model = await served_model()
    except ApiError:  # still a document: /predict then takes any object and answers 503
        model = None
    settings = get_settings()
    return json_response(
        document(model.schema if model else None, settings.max_batch, model.version if model else None)
    )
