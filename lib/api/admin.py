"""Admin endpoints: start and follow retraining jobs, list, promote and roll back models."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lib.api.common import (
    ApiError,
    json_response,
    media_type,
    optional_json_object,
    read_limited,
    require_admin,
    store_read,
)
from lib.settings import get_settings

T = TypeVar("T")

logger = logging.getLogger(__name__)


def _training_features(config: Any) -> list[str]:
    from lib.model_loader import loaded_model
    from lib.retraining.upload import expected_features

    model = loaded_model()
    return model.schema.names if model is not None else expected_features(config)


async def train(request: Request) -> Response:
    """Start a retraining job: on the bundled data (no body, or {"data": "bundled"}) or on
    an uploaded CSV (Content-Type text/csv). 202 with the job; 409 while one runs."""
    from lib.retraining.jobs import start_retrain
    from lib.retraining.upload import read_training_csv
    from lib.training.config import ConfigError, load_config

    actor = require_admin(request)
    settings = get_settings()
    content_type = media_type(request)
    table, data_name, holdout = None, "bundled dataset", None
    try:
        config = load_config(settings.data_config)
    except ConfigError as exc:
        raise ApiError(503, f"the dataset config cannot be read: {exc}") from None
    if content_type == "text/csv":
        raw = await read_limited(request, settings.max_upload_mb, "MAX_UPLOAD_MB")
        features = await run_in_threadpool(_training_features, config)
        table, problems = await run_in_threadpool(read_training_csv, raw, config, features)
        if problems:
            raise ApiError(
                422, "the uploaded data cannot train a model; nothing was started", [{"problem": p} for p in problems]
            )
        data_name = request.query_params.get("name", "upload.csv")[:100]
    else:
        body = await optional_json_object(request, {"data"})
        if body.get("data", "bundled") not in ("bundled", "bundled+outcomes"):
            raise ApiError(
                422,
                'data must be "bundled" or "bundled+outcomes"; send a CSV with Content-Type: text/csv to train on '
                "other data",
                [{"field": "data", "code": "unknown_value"}],
            )
        if body.get("data") == "bundled+outcomes":
            data = await run_in_threadpool(_outcome_data, config)
            if data.problems:
                raise ApiError(
                    422, "nothing was started: " + "; ".join(data.problems), [{"problem": p} for p in data.problems]
                )
            table, data_name, holdout = data.table, data.name, data.holdout
    state, started = await run_in_threadpool(
        _shared_jobs_call, start_retrain, actor, table, data_name, settings, holdout
    )
    location = {"Location": f"/train/{state['id']}"}
    if not started:
        where = f" on replica {state['replica']}" if state.get("replica") else ""
        raise ApiError(
            409,
            f"a retraining job is already running ({state['id']}{where}, {state['progress']:.0%} done): "
            f"follow it at /train/{state['id']}",
            [
                {
                    "job_id": state["id"],
                    "status": state["status"],
                    "progress": state["progress"],
                    "replica": state.get("replica"),
                }
            ],
            headers=location,
        )
    return json_response({"job": state}, 202, location)


def _outcome_data(config: Any) -> Any:
    """The bundled data with the recorded outcomes (lib.retraining.outcomes)."""
    from lib.model_loader import ModelNotAvailable, get_model
    from lib.monitoring.log import prediction_log
    from lib.retraining.outcomes import outcome_training_data

    try:
        model = get_model()
    except ModelNotAvailable as exc:
        raise ApiError(503, f"no served model to read the outcomes with: {exc.reason}") from None
    return store_read(lambda: outcome_training_data(prediction_log().store, model, config))


def _shared_jobs_call(action: Callable[..., T], *args: Any) -> T:
    """A jobs call; 503 with the reason when the shared job board (PostgreSQL) is unreachable."""
    from lib.retraining.shared import SharedJobsUnavailable

    try:
        return action(*args)
    except SharedJobsUnavailable as exc:
        raise ApiError(503, f"the shared job store is unavailable: {exc}", [{"kind": "store"}]) from None


async def train_job(request: Request) -> Response:
    """GET: the job's state. DELETE: cancel it (409 when it has already finished)."""
    from lib.retraining.jobs import FINAL, cancel_job, job_state

    actor = require_admin(request)
    job_id = request.path_params["job_id"]
    if request.method == "DELETE":
        before = await run_in_threadpool(_shared_jobs_call, job_state, job_id)
        if before is not None and before["status"] in FINAL:
            raise ApiError(409, f"job {job_id} has already finished ({before['status']})", [{"job_id": job_id}])
        state = await run_in_threadpool(_shared_jobs_call, cancel_job, job_id, actor)
    else:
        state = await run_in_threadpool(_shared_jobs_call, job_state, job_id)
    if state is None:
        raise ApiError(404, f"no retraining job {job_id[:40]!r}")
    # 202: the cancel is recorded, but the process is not known gone yet ("cancelling")
    cancelling = request.method == "DELETE" and state["status"] not in FINAL
    return json_response({"job": state}, 202 if cancelling else 200)


REGISTRY_STATUS = {
    "invalid": 422,
    "unknown": 404,
    "conflict": 409,
    "broken": 422,
    "unreadable": 500,
    "unavailable": 503,
}


async def _registry_call(action: Callable[[Any], Any]) -> Any:
    """Run a registry operation off the event loop; its errors become statuses."""
    from lib.registry import RegistryError, open_registry

    def call() -> Any:
        return action(open_registry(get_settings().model_uri))

    try:
        return await run_in_threadpool(call)
    except RegistryError as exc:
        raise ApiError(REGISTRY_STATUS[exc.kind], str(exc), [{"kind": exc.kind}]) from None


async def _after_switch(event: Any) -> Response:
    from lib.model_loader import ModelNotAvailable, refresh_model

    try:
        served = (await run_in_threadpool(refresh_model)).version
    except ModelNotAvailable as exc:
        served = None
        logger.warning("switched to %s but it cannot be loaded here: %s", event.to_version, exc.reason)
    return json_response({"event": asdict(event), "served_here": served})


async def models(request: Request) -> Response:
    def listing(registry: Any) -> dict[str, Any]:
        view = registry.overview()
        return {"served": view.served, "previous": view.previous, "versions": [v.to_dict() for v in view.versions]}

    return json_response(await _registry_call(listing))


async def models_audit(request: Request) -> Response:
    events = await _registry_call(lambda registry: registry.audit())
    return json_response({"events": [asdict(e) for e in reversed(events)]})


def _shadow_report(registry: Any, window: str) -> dict[str, Any]:
    from lib.model_loader import loaded_model
    from lib.monitoring.log import prediction_log
    from lib.serving.shadow import shadow_report

    return store_read(lambda: shadow_report(prediction_log().store, loaded_model(), registry, window))


async def shadow_view(request: Request) -> Response:
    """GET: which version is in shadow and how it compares live. DELETE: stop the shadow."""
    from lib.api.status import live_window_param

    window = live_window_param(request)
    if request.method == "DELETE":
        actor = require_admin(request)
        await run_in_threadpool(_set_shadow, None, actor)
    return json_response(await _registry_call(lambda registry: _shadow_report(registry, window)))


def _set_shadow(version: str | None, actor: str) -> None:
    from lib.monitoring.log import prediction_log
    from lib.serving.shadow import set_shadow, shadow

    store_read(lambda: set_shadow(prediction_log().store, version, actor))
    shadow.refresh()  # this replica follows at once; the others within seconds


async def put_in_shadow(request: Request) -> Response:
    """Put a registry version in shadow: it scores what the served model scores."""
    from lib.serving.shadow import version_threshold

    actor = require_admin(request)
    version = request.path_params["version"]

    def shadow_it(registry: Any) -> dict[str, Any]:
        version_threshold(registry, version)  # 422 a bad name, 404 unknown
        if registry.served() == version:
            raise ApiError(409, f"{version} is the served version: a challenger is another one", [{"version": version}])
        _set_shadow(version, actor)
        return _shadow_report(registry, "30d")

    return json_response(await _registry_call(shadow_it))


def _live_win_problem(registry: Any, version: str) -> str | None:
    from lib.serving.shadow import live_win_problem

    settings = get_settings()
    report = _shadow_report(registry, "30d")
    return live_win_problem(report, version, settings.promotion_metric, settings.promotion_tolerance)


async def promote(request: Request) -> Response:
    actor = require_admin(request)
    body = await optional_json_object(request, {"reason", "from_version", "gate"})
    version = request.path_params["version"]
    if body.get("gate", "none") not in ("none", "live"):
        raise ApiError(422, 'gate must be "live" (promote only if it wins in shadow) or "none"', [{"field": "gate"}])
    if body.get("gate") == "live":
        problem = await _registry_call(lambda registry: _live_win_problem(registry, version))
        if problem is not None:
            raise ApiError(409, f"not promoted: {problem}", [{"version": version, "kind": "live_comparison"}])
    event = await _registry_call(
        lambda registry: registry.promote(version, actor, body.get("reason", ""), expected=body.get("from_version"))
    )
    return await _after_switch(event)


async def rollback(request: Request) -> Response:
    actor = require_admin(request)
    body = await optional_json_object(request, {"reason", "version"})
    event = await _registry_call(
        lambda registry: registry.rollback(actor, body.get("reason", ""), to=body.get("version"))
    )
    return await _after_switch(event)
