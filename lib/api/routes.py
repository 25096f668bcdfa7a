"""The REST API: thin Starlette handlers over the same lib functions as the pages.

Every route accepts every method and answers a wrong one itself (405 JSON with Allow),
because under st.App a GET on a POST-only path would otherwise fall through to the
Streamlit page. Every response is JSON without NaN or Infinity; every /predict request,
scored or refused, goes to the prediction log; no stack trace ever leaves the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lib.api.openapi import MAX_PAGE
from lib.monitoring.drift import ALERT, MIN_RECENT_ROWS, WATCH
from lib.monitoring.log import SOURCES
from lib.monitoring.store import WINDOWS
from lib.redact import ECHO_CHARS, LISTED, error_body, listed, to_json_bytes
from lib.server.access import check_admin, cross_site_reason, resolve_caller
from lib.server.health import health_report, uptime_s  # imported with the app: uptime counts from here
from lib.settings import Settings, get_settings

# The model, pandas and numpy are imported by the first request (or the warm-up thread),
# not here: app.py imports this module, and the server should answer within a second.
if TYPE_CHECKING:
    from lib.model.inference import RecordError
    from lib.model.loaded import LoadedModel

logger = logging.getLogger(__name__)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}

Handler = Callable[[Request], Awaitable[Response]]
# How a refused /predict request is logged, by status.
ERROR_KINDS = {
    400: "malformed_json",
    405: "method_not_allowed",
    413: "too_large",
    415: "not_json",
    422: "invalid_input",
    503: "no_model",
}


class ApiError(Exception):
    """A request the API refuses: status, a sentence, and details a program can read."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        logged: bool = False,  # the scoring service has logged this refusal already
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.details, self.headers = status, message, details or [], headers or {}
        self.logged = logged


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json_bytes(payload), status, headers, media_type="application/json")


def error_response(
    status: int, message: str, details: list[Any] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """Every refusal: a sentence and details, never a server path (lib.redact)."""
    return Response(error_body(message, details), status, headers, media_type="application/json")


def _check_request(request: Request) -> None:
    """What every route refuses before its handler runs: a state-changing request sent by a
    page of another site (CSRF), a compressed body, a repeated query parameter."""
    headers = request.headers
    if request.method not in SAFE_METHODS:
        reason = cross_site_reason(headers)
        if reason is not None:
            raise ApiError(403, reason, [{"code": "cross_site"}])
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise ApiError(
                415,
                f"Content-Encoding {encoding[:30]!r} is not accepted: send the body uncompressed",
                [{"code": "content_encoding"}],
            )
    query = request.query_params
    if query and len(query.multi_items()) != len(query):
        repeated = sorted({name for name, _ in query.multi_items() if len(query.getlist(name)) > 1})
        raise ApiError(
            400,
            f"query parameter given more than once: {', '.join(name[:40] for name in repeated[:5])}",
            [{"field": name[:40], "code": "repeated"} for name in repeated[:20]],
        )


def _route(
    path: str,
    methods: tuple[str, ...],
    handler: Handler,
    name: str,
    on_refused: Callable[[int, float], None] | None = None,
) -> Route:
    """A route that answers every method: its own, or 405 with Allow."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
    allow_header = ", ".join(sorted(allowed))

    async def dispatch(request: Request) -> Response:
        started = time.perf_counter()
        logged = False
        try:
            if request.method not in allowed:
                raise ApiError(
                    405,
                    f"{request.method} is not allowed on {path}: use {allow_header}",
                    headers={"Allow": allow_header},
                )
            _check_request(request)
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.message, exc.details, exc.headers)
            logged = exc.logged
        except Exception:  # never a stack trace to the caller; the log keeps it
            logger.exception("unexpected error on %s %s", request.method, path)
            response = error_response(500, "internal error: the server log has the details")
        if on_refused is not None and response.status_code >= 400 and not logged:
            on_refused(response.status_code, started)
        return response

    return Route(path, dispatch, methods=ALL_METHODS, name=name)


def _log_refused_prediction(status: int, started: float) -> None:
    """A /predict request refused before scoring (malformed, too large, no model...)."""
    from lib.model_loader import loaded_model
    from lib.serving.scoring import log_refusal

    model = loaded_model()
    kind = ERROR_KINDS.get(status, "internal" if status >= 500 else f"http_{status}")
    log_refusal("api", model.version if model else None, started, kind)


async def _model() -> LoadedModel:
    """The shared model; loading (only the first time) runs off the event loop."""
    from lib.model_loader import ModelNotAvailable, get_model, loaded_model

    model = loaded_model()
    try:
        return get_model() if model is not None else await run_in_threadpool(get_model)
    except ModelNotAvailable as exc:
        raise ApiError(503, f"no model loaded: {exc.reason}", [{"kind": exc.kind}]) from None


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in TRUE | FALSE:
        return raw.lower() in TRUE
    raise ApiError(
        422, f"query parameter {name} must be true or false, not {raw!r}", [{"field": name, "code": "wrong_type"}]
    )


def _positive_int(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(
            422,
            f"query parameter {name} must be a whole number from 1 to {maximum}, not {raw!r}",
            [{"field": name, "code": "out_of_bounds"}],
        )
    return int(raw)


def _window(request: Request, default: str = "1h") -> str:
    window = request.query_params.get("window", default)
    if window not in WINDOWS:
        raise ApiError(
            422,
            f"window must be one of {', '.join(WINDOWS)}, not {window!r}",
            [{"field": "window", "code": "unknown_value"}],
        )
    return window


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large for a float")
    return value


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def media_type(request: Request) -> str:
    """The body's media type, lower case; 415 when a charset other than UTF-8 is declared."""
    media, _, parameters = request.headers.get("content-type", "").partition(";")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ApiError(415, f"charset {value.strip()[:20]!r} is not accepted: send UTF-8", [{"code": "charset"}])
    return media.strip().lower()


def _require_json_type(request: Request) -> None:
    content_type = media_type(request)
    if content_type != "application/json":
        raise ApiError(415, f"the body must be application/json, not {content_type[:60] or 'unspecified'}")


class _DuplicateKey(ValueError):
    pass


def _add(seen: set[str], key: str) -> bool:
    """Record `key`; False, so it reads as "not seen before" inside a condition."""
    seen.add(key)
    return False


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or _add(seen, key))
        raise _DuplicateKey(f"the key {twice[:60]!r} appears twice in one object")
    return obj


BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 without a byte-order mark, no NaN or infinities, no key twice."""
    if raw.startswith(BYTE_ORDER_MARKS):
        raise ApiError(400, "malformed JSON: the body starts with a byte-order mark; send UTF-8 without one")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON: the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, _DuplicateKey and _finite_float's are ValueErrors
        raise ApiError(400, f"malformed JSON: {str(exc)[:200]}") from None


def _record_errors(errors: list[RecordError]) -> list[dict[str, Any]]:
    return [
        {"index": e.index, "field": p.field, "code": p.code, "message": p.message} for e in errors for p in e.problems
    ]


# A body up to this size is scored on the event loop (a single record: tens of µs); a
# bigger one (a batch) in a worker thread, so it never stalls the other requests.
INLINE_BODY_BYTES = 32_000
# Predictions serialised per json.dumps call: the C encoder holds the GIL for a whole
# call, so a 10,000-record answer is written in slices the event loop can run between.
SERIALISE_SLICE = 250
MAX_DETAILS = 1_000  # problems listed for one refused batch
_batch_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _batch_limiter() -> anyio.CapacityLimiter:
    """One batch scored at a time per event loop: Python threads share one interpreter lock,
    so a second batch thread would not score faster, only take the lock from the event loop
    more often. Batches queue; single records never wait behind them."""
    return _batch_limiters.setdefault(asyncio.get_running_loop(), anyio.CapacityLimiter(1))


async def predict(request: Request) -> Response:
    started = time.perf_counter()
    settings = get_settings()
    explain = _flag(request, "explain", True)
    _require_json_type(request)
    raw = await _read_limited(request, settings.max_body_mb, "MAX_BODY_MB")
    model = await _model()
    if len(raw) <= INLINE_BODY_BYTES:
        return _predict_body(raw, model, settings, explain, started)
    return await anyio.to_thread.run_sync(
        _predict_body, raw, model, settings, explain, started, limiter=_batch_limiter()
    )


def _predict_body(raw: bytes, model: LoadedModel, settings: Settings, explain: bool, started: float) -> Response:
    """Parse, check, score, log and serialise one /predict body (no await: runs anywhere)."""
    from lib.model.inference import InvalidInput
    from lib.serving.scoring import score_and_log, score_and_log_records

    payload = _parse_json(raw)
    if not isinstance(payload, dict) or len(payload.keys() & {"record", "records"}) != 1:
        raise ApiError(
            422, 'the body must be {"record": {...}} or {"records": [...]}', [{"field": "", "code": "wrong_shape"}]
        )
    unexpected = sorted(set(payload) - {"record", "records"})
    if unexpected:
        raise ApiError(
            422,
            f"unexpected top-level fields: {listed(unexpected)}",
            [{"field": str(name)[:ECHO_CHARS], "code": "unexpected_field"} for name in unexpected[:LISTED]],
        )
    if "record" in payload:
        try:
            prediction = score_and_log(payload["record"], model, "api", explain=explain, started=started)
        except InvalidInput as exc:
            raise ApiError(
                422, f"the record cannot be scored: {exc}", _record_errors(exc.errors), logged=True
            ) from None
        return json_response({"prediction": prediction.to_dict(), "model_version": model.version})
    records = payload["records"]
    if not isinstance(records, list) or not records:
        raise ApiError(422, "records must be a non-empty list of objects", [{"field": "records", "code": "wrong_type"}])
    if len(records) > settings.max_batch:
        raise ApiError(
            422,
            f"at most {settings.max_batch} records per request (MAX_BATCH), got {len(records)}",
            [{"field": "records", "code": "too_many"}],
        )
    try:
        predictions = score_and_log_records(records, model, "api", explain=explain, started=started)
    except InvalidInput as exc:
        details = _record_errors(exc.errors)
        listed_note = f" (the first {MAX_DETAILS:,} problems are listed)" if len(details) > MAX_DETAILS else ""
        raise ApiError(
            422,
            f"{len(exc.errors)} of {len(records)} records cannot be scored; nothing was scored{listed_note}",
            details[:MAX_DETAILS],
            logged=True,
        ) from None
    head = to_json_bytes({"model_version": model.version, "count": len(predictions)})
    return Response(
        b'{"predictions":' + _json_list([p.to_dict() for p in predictions]) + b"," + head[1:],
        200,
        media_type="application/json",
    )


def _json_list(items: list[Any]) -> bytes:
    """A JSON array written SERIALISE_SLICE items at a time, the GIL given back between."""
    parts = []
    for start in range(0, len(items), SERIALISE_SLICE):
        parts.append(to_json_bytes(items[start : start + SERIALISE_SLICE])[1:-1])
        time.sleep(0)
    return b"[" + b",".join(part for part in parts if part) + b"]"


async def health(request: Request) -> Response:
    """200 ok or degraded (still serving), 503 unavailable (no model): see lib.health."""
    try:
        report = health_report(await _model(), None)
    except ApiError as exc:
        report = health_report(None, exc.message)
    return json_response(report, 503 if report["status"] == "unavailable" else 200)


async def live(request: Request) -> Response:
    return json_response({"status": "alive", "uptime_s": uptime_s()})


async def ready(request: Request) -> Response:
    from lib.model.inference import score_record

    model = await _model()
    typical = {spec.name: spec.default for spec in model.schema.features}
    try:
        probability = score_record(typical, model, explain=False).probability
    except Exception as exc:  # a model that cannot score its own typical record is not ready
        raise ApiError(503, f"the smoke prediction failed: {type(exc).__name__}") from None
    return json_response({"status": "ready", "model_version": model.version, "smoke_probability": probability})


def _admin(request: Request) -> str:
    """Who is acting, for the audit log; 401 / 403 / 429 when not allowed (lib.server.access)."""
    settings = get_settings()
    peer = request.client.host if request.client else None
    caller = resolve_caller(peer, request.headers, settings.trusted_proxies)
    decision = check_admin(request.headers.get("authorization"), caller, settings.admin_token)
    if not decision.allowed:
        headers = {"WWW-Authenticate": "Bearer"} if decision.status == 401 else None
        if decision.retry_after_s is not None:
            headers = {"Retry-After": str(decision.retry_after_s)}
        raise ApiError(decision.status, decision.reason, headers=headers)
    return f"api ({'admin token' if settings.admin_token else 'this machine'}, {caller.address})"


async def _read_limited(request: Request, limit_mb: int, setting: str) -> bytes:
    limit = limit_mb * 1_000_000
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, f"the body is larger than the {limit_mb} MB limit ({setting})")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is larger than the {limit_mb} MB limit ({setting})")
        chunks.append(chunk)
    return b"".join(chunks)


async def _optional_json_object(request: Request, fields: set[str]) -> dict[str, Any]:
    """A JSON object body with only `fields` (strings); {} when the body is empty.

    Content-Type application/json is required even for an empty body: a page of another
    site can send a form or text/plain without asking, never JSON (CSRF).
    """
    _require_json_type(request)
    raw = await _read_limited(request, get_settings().max_body_mb, "MAX_BODY_MB")
    if not raw.strip():
        return {}
    payload = _parse_json(raw)
    if not isinstance(payload, dict):
        raise ApiError(422, "the body must be a JSON object", [{"field": "", "code": "wrong_shape"}])
    unexpected = sorted(set(payload) - fields)
    if unexpected:
        raise ApiError(
            422,
            f"unexpected fields: {listed(unexpected)} (allowed: {', '.join(sorted(fields))})",
            [{"field": name[:ECHO_CHARS], "code": "unexpected_field"} for name in unexpected[:LISTED]],
        )
    wrong = [name for name, value in payload.items() if not isinstance(value, str)]
    if wrong:
        raise ApiError(422, f"{', '.join(wrong)} must be text", [{"field": n, "code": "wrong_type"} for n in wrong])
    return payload


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

    actor = _admin(request)
    settings = get_settings()
    content_type = media_type(request)
    table, data_name = None, "bundled dataset"
    try:
        config = load_config(settings.data_config)
    except ConfigError as exc:
        raise ApiError(503, f"the dataset config cannot be read: {exc}") from None
    if content_type == "text/csv":
        raw = await _read_limited(request, settings.max_upload_mb, "MAX_UPLOAD_MB")
        features = await run_in_threadpool(_training_features, config)
        table, problems = await run_in_threadpool(read_training_csv, raw, config, features)
        if problems:
            raise ApiError(
                422, "the uploaded data cannot train a model; nothing was started", [{"problem": p} for p in problems]
            )
        data_name = request.query_params.get("name", "upload.csv")[:100]
    else:
        body = await _optional_json_object(request, {"data"})
        if body.get("data", "bundled") != "bundled":
            raise ApiError(
                422,
                'data must be "bundled"; send a CSV with Content-Type: text/csv to train on other data',
                [{"field": "data", "code": "unknown_value"}],
            )
    state, started = await run_in_threadpool(start_retrain, actor, table, data_name, settings)
    location = {"Location": f"/train/{state['id']}"}
    if not started:
        raise ApiError(
            409,
            f"a retraining job is already running ({state['id']}, {state['progress']:.0%} done): "
            f"follow it at /train/{state['id']}",
            [{"job_id": state["id"], "status": state["status"], "progress": state["progress"]}],
            headers=location,
        )
    return json_response({"job": state}, 202, location)


async def train_job(request: Request) -> Response:
    """GET: the job's state. DELETE: cancel it (409 when it has already finished)."""
    from lib.retraining.jobs import FINAL, cancel_job, job_state

    actor = _admin(request)
    job_id = request.path_params["job_id"]
    if request.method == "DELETE":
        before = job_state(job_id)
        if before is not None and before["status"] in FINAL:
            raise ApiError(409, f"job {job_id} has already finished ({before['status']})", [{"job_id": job_id}])
        state = await run_in_threadpool(cancel_job, job_id, actor)
    else:
        state = job_state(job_id)
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


async def promote(request: Request) -> Response:
    actor = _admin(request)
    body = await _optional_json_object(request, {"reason"})
    version = request.path_params["version"]
    event = await _registry_call(lambda registry: registry.promote(version, actor, body.get("reason", "")))
    return await _after_switch(event)


async def rollback(request: Request) -> Response:
    actor = _admin(request)
    body = await _optional_json_object(request, {"reason", "version"})
    event = await _registry_call(
        lambda registry: registry.rollback(actor, body.get("reason", ""), to=body.get("version"))
    )
    return await _after_switch(event)


def _model_metrics(model: LoadedModel) -> dict[str, Any]:
    metrics = model.kpis["metrics"]
    return {
        **metrics,
        "version": model.version,
        "threshold": model.threshold,
        "threshold_criterion": model.metadata.get("threshold_criterion"),
        "scope": "test split",
    }


def _store_read(read: Callable[[], Any]) -> Any:
    """A read from the monitoring store, or 503 saying why it cannot be read."""
    from lib.monitoring.store import StoreUnavailable

    try:
        return read()
    except StoreUnavailable as exc:
        raise ApiError(503, f"the monitoring store is unavailable: {exc}", [{"kind": "store"}]) from None


def _kpis(model: LoadedModel) -> dict[str, Any]:
    from lib.monitoring.log import prediction_log

    business = model.kpis.get("business")
    totals = _store_read(prediction_log().totals)
    return {
        "base_rate": model.kpis.get("base_rate"),
        "business": business,
        "business_available": business is not None,
        "predictions_made": {source: totals.get(source, 0) for source in SOURCES},
        "model_version": model.version,
    }


def _system(window: str) -> dict[str, Any]:
    from lib.monitoring.log import prediction_log

    return _store_read(lambda: prediction_log().system(window))


async def metrics(request: Request) -> Response:
    window = _window(request)
    model = await _model()
    return json_response({"model": _model_metrics(model), "system": _system(window), "kpis": _kpis(model)})


async def metrics_model(request: Request) -> Response:
    return json_response(_model_metrics(await _model()))


async def metrics_system(request: Request) -> Response:
    return json_response(_system(_window(request)))


async def metrics_kpis(request: Request) -> Response:
    return json_response(_kpis(await _model()))


async def feature_distribution(request: Request) -> Response:
    """Training distribution, recent counts, PSI and status per feature; probability drift."""
    from lib.monitoring.log import prediction_log

    model = await _model()
    window = _window(request, default="24h")
    page = _positive_int(request, "page", 1, MAX_PAGE)
    page_size = _positive_int(request, "page_size", 10, 100)
    names = model.schema.names
    wanted = request.query_params.get("feature")
    if wanted is not None and wanted not in names:
        raise ApiError(404, f"unknown feature {wanted!r}", [{"field": "feature", "known": names}])
    chosen = [wanted] if wanted is not None else names[(page - 1) * page_size : page * page_size]
    drift = _store_read(lambda: prediction_log().drift(model, window, chosen))
    distributions = model.kpis["distributions"]
    return json_response(
        {
            "features": [
                {"feature": name, "training": distributions[name], **drift["features"][name]} for name in chosen
            ],
            "probability": drift["probability"],
            "window": window,
            "thresholds": {"watch": WATCH, "alert": ALERT, "min_recent_rows": MIN_RECENT_ROWS},
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
        model = await _model()
    except ApiError:  # still a document: /predict then takes any object and answers 503
        model = None
    settings = get_settings()
    return json_response(
        document(model.schema if model else None, settings.max_batch, model.version if model else None)
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
        ("/metrics", ("GET",), metrics),
        ("/metrics/model", ("GET",), metrics_model),
        ("/metrics/system", ("GET",), metrics_system),
        ("/metrics/kpis", ("GET",), metrics_kpis),
        ("/metrics/feature-distribution", ("GET",), feature_distribution),
        ("/openapi.json", ("GET",), openapi),
    ]
    refusals = {"/predict": _log_refused_prediction}  # every refused prediction request is logged
    built: list[BaseRoute] = [
        _route(path, methods, handler, handler.__name__, refusals.get(path)) for path, methods, handler in table
    ]
    for prefix in ("/health", "/predict", "/train", "/metrics", "/models"):
        built.append(_route(f"{prefix}/{{rest:path}}", ("GET", "POST"), _not_found(prefix), f"{prefix[1:]}_unknown"))
    return built
