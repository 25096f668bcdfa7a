"""The REST API: thin Starlette handlers over the same lib functions as the pages.

Every route accepts every method and answers a wrong one itself (405 JSON with Allow),
because under st.App a GET on a POST-only path would otherwise fall through to the
Streamlit page. Every response is JSON without NaN or Infinity; every /predict request,
scored or refused, goes to the prediction log; no stack trace ever leaves the process.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from lib.api.admin import models, models_audit, promote, put_in_shadow, rollback, shadow_view, train, train_job
from lib.api.common import (
    ApiError,
    Handler,
    route,
)
from lib.api.docs import docs_asset, docs_page
from lib.api.downloads import download
from lib.api.outcomes import record_outcomes
from lib.api.predict import log_refused_prediction, predict
from lib.api.status import (
    feature_distribution,
    health,
    live,
    metrics,
    metrics_kpis,
    metrics_model,
    metrics_prometheus,
    metrics_system,
    openapi,
    ready,
)

# Admin actions and a browser session's downloads: never called from a page of another
# origin, whatever CORS_ORIGINS lists (their preflight is refused, their requests too).
SAME_ORIGIN_ONLY = frozenset(
    {
        "/train",
        "/train/{job_id}",
        "/models/rollback",
        "/models/{version}/promote",
        "/models/shadow",
        "/models/{version}/shadow",
        "/outcomes",
        "/downloads/{token}",
    }
)


def _not_found(prefix: str) -> Handler:
    async def handler(request: Request) -> Response:
        raise ApiError(404, f"no such endpoint: {request.url.path} (see /openapi.json for {prefix} routes)")

    return handler


def routes() -> list[BaseRoute]:
    """Every API route, for st.App(routes=...)."""
    table: list[tuple[str, tuple[str, ...], Handler]] = [
        ("/health", ("GET",), health),
        ("/health/live", ("GET",), live),
        ("/health/ready", ("GET",), ready),
        ("/predict", ("POST",), predict),
        ("/train", ("POST",), train),
        ("/train/{job_id}", ("GET", "DELETE"), train_job),
        ("/models", ("GET",), models),
        ("/models/audit", ("GET",), models_audit),
        ("/models/rollback", ("POST",), rollback),
        ("/models/{version}/promote", ("POST",), promote),
        ("/models/shadow", ("GET", "DELETE"), shadow_view),
        ("/models/{version}/shadow", ("POST",), put_in_shadow),
        ("/metrics", ("GET",), metrics),
        ("/metrics/model", ("GET",), metrics_model),
        ("/metrics/system", ("GET",), metrics_system),
        ("/metrics/kpis", ("GET",), metrics_kpis),
        ("/metrics/prometheus", ("GET",), metrics_prometheus),
        ("/metrics/feature-distribution", ("GET",), feature_distribution),
        ("/openapi.json", ("GET",), openapi),
        ("/downloads/{token}", ("GET",), download),
        ("/outcomes", ("POST",), record_outcomes),
        ("/docs", ("GET",), docs_page),
        ("/docs/{asset}", ("GET",), docs_asset),
    ]
    refusals = {"/predict": log_refused_prediction}  # every refused prediction request is logged
    built: list[BaseRoute] = [
        route(path, methods, handler, handler.__name__, refusals.get(path), cross_origin=path not in SAME_ORIGIN_ONLY)
        for path, methods, handler in table
    ]
    for prefix in ("/health", "/predict", "/train", "/metrics", "/models"):
        built.append(route(f"{prefix}/{{rest:path}}", ("GET", "POST"), _not_found(prefix), f"{prefix[1:]}_unknown"))
    return built
