"""What every API handler shares: the error shape, JSON in and out, request checks,
the route wrapper (every method answered, nothing but JSON), admin access."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lib.monitoring.store import WINDOWS
from lib.redact import ECHO_CHARS, LISTED, error_body, listed, to_json_bytes
from lib.server import request_context
from lib.server.access import check_admin, cross_site_reason, resolve_caller
from lib.server.cors import cors_headers, origin_allowed, preflight_headers, preflight_refusal
from lib.server.logs import REQUEST_FIELDS, REQUEST_LOGGER, request_logged
from lib.settings import get_settings

T = TypeVar("T")

# The model, pandas and numpy are imported by the first request (or the warm-up thread),
# not here: app.py imports this module, and the server should answer within a second.
if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel

logger = logging.getLogger(__name__)
request_logger = logging.getLogger(REQUEST_LOGGER)


ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


MAX_PAGE = 1_000_000  # the highest ?page= of a paged answer


Handler = Callable[[Request], Awaitable[Response]]


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


def check_request(request: Request, cross_origin_allowed: bool = False) -> None:
    """What every route refuses before its handler runs: a state-changing request sent by a
    page of another site (CSRF) unless CORS_ORIGINS lets that site call this route, a
    compressed body, a repeated query parameter."""
    headers = request.headers
    if request.method not in SAFE_METHODS:
        reason = None if cross_origin_allowed else cross_site_reason(headers)
        if reason is not None:
            raise ApiError(403, reason, [{"code": "cross_site"}])
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise ApiError(
                415,
                f"Content-Encoding {encoding[:30]!r} is not accepted: send the body uncompressed",
                [{"code": "content_encoding"}],
            )
    if not request.scope.get("query_string"):
        return  # most requests: nothing to parse
    query = request.query_params
    if query and len(query.multi_items()) != len(query):
        repeated = sorted({name for name, _ in query.multi_items() if len(query.getlist(name)) > 1})
        raise ApiError(
            400,
            f"query parameter given more than once: {', '.join(name[:40] for name in repeated[:5])}",
            [{"field": name[:40], "code": "repeated"} for name in repeated[:20]],
        )


def route(
    path: str,
    methods: tuple[str, ...],
    handler: Handler,
    name: str,
    on_refused: Callable[[int, float], None] | None = None,
    *,
    cross_origin: bool = True,
) -> Route:
    """A route that answers every method: its own, or 405 with Allow. Every answer carries
    the request's X-Request-ID; `cross_origin`: pages of CORS_ORIGINS may call it (never
    an admin action)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())
    allow_header = ", ".join(sorted(allowed))

    async def dispatch(request: Request) -> Response:
        started = time.perf_counter()
        context = request_context.RequestContext(request_context.request_id_of(request.scope["headers"]))
        request_context.begin(context)
        origin = request.headers.get("origin")
        cors = cross_origin and origin is not None and origin_allowed(origin, get_settings())
        logged = False
        try:
            if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
                response = _preflight(request, cors, allowed)
            else:
                if request.method not in allowed:
                    raise ApiError(
                        405,
                        f"{request.method} is not allowed on {path}: use {allow_header}",
                        headers={"Allow": allow_header},
                    )
                check_request(request, cors)
                response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.message, exc.details, exc.headers)
            logged = exc.logged
        except Exception:  # never a stack trace to the caller; the log keeps it
            logger.exception("unexpected error on %s %s", request.method, path)
            response = error_response(500, "internal error: the server log has the details")
        if on_refused is not None and response.status_code >= 400 and not logged:
            try:
                on_refused(response.status_code, started)
            except Exception:  # the refusal is answered even if it cannot be recorded
                logger.exception("could not log a refused request on %s", path)
        # Appended to the raw list: a handler never sets this header, and going through
        # MutableHeaders costs more than the rest of this wrapper (measured per request).
        response.raw_headers.append((b"x-request-id", context.request_id.encode()))
        if cors and origin is not None and "access-control-allow-origin" not in response.headers:
            response.headers.update(cors_headers(origin))
        if request_logged():
            _log_request(request, path, response.status_code, started, context)
        return response

    return Route(path, dispatch, methods=ALL_METHODS, name=name)


def _preflight(request: Request, cors: bool, allowed: set[str]) -> Response:
    """A browser asking whether its page may call this route (CORS preflight)."""
    origin = request.headers.get("origin", "")
    if not cors:
        raise ApiError(
            403,
            "cross-origin calls to this endpoint are not allowed (CORS_ORIGINS; admin actions never are)",
            [{"code": "cross_origin"}],
        )
    reason = preflight_refusal(
        request.headers.get("access-control-request-method", ""),
        request.headers.get("access-control-request-headers", ""),
        allowed,
    )
    if reason is not None:
        raise ApiError(403, reason, [{"code": "cross_origin"}])
    return Response(status_code=204, headers=preflight_headers(origin, allowed))


def _log_request(
    request: Request, path: str, status: int, started: float, context: request_context.RequestContext
) -> None:
    """The request's JSON log line (LOG_FORMAT=json): who, what, how it ended, how long."""
    peer = request.client.host if request.client else None
    client = resolve_caller(peer, request.headers, get_settings().trusted_proxies).address
    fields: dict[str, Any] = {
        "method": request.method,
        "route": path,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "client": client,
        "request_id": context.request_id,
    }
    if context.predictions:
        fields["prediction_ids"] = context.prediction_ids
        fields["predictions"] = context.predictions
    request_logger.info("%s %s %d", request.method, path, status, extra={REQUEST_FIELDS: fields})


async def served_model() -> LoadedModel:
    """The shared model; loading (only the first time) runs off the event loop."""
    from lib.model_loader import ModelNotAvailable, get_model, loaded_model

    model = loaded_model()
    try:
        return get_model() if model is not None else await run_in_threadpool(get_model)
    except ModelNotAvailable as exc:
        raise ApiError(503, f"no model loaded: {exc.reason}", [{"kind": exc.kind}]) from None


def flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name) if request.scope.get("query_string") else None
    if raw is None:
        return default
    if raw.lower() in TRUE | FALSE:
        return raw.lower() in TRUE
    raise ApiError(
        422, f"query parameter {name} must be true or false, not {raw!r}", [{"field": name, "code": "wrong_type"}]
    )


def positive_int(request: Request, name: str, default: int, maximum: int) -> int:
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


def window_param(request: Request, default: str = "1h") -> str:
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


def require_json_type(request: Request) -> None:
    content_type = media_type(request)
    if content_type != "application/json":
        raise ApiError(415, f"the body must be application/json, not {content_type[:60] or 'unspecified'}")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        twice = next(key for key, _ in pairs if counts[key] > 1)
        raise _DuplicateKey(f"the key {twice[:60]!r} appears twice in one object")
    return obj


BYTE_ORDER_MARKS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def _strict_parse(raw: bytes) -> Any:
    """The standard library's parser with every check as a callback: slow, but its
    messages are the API's (and it alone sees a key twice)."""
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


_fast_decode = msgspec.json.Decoder().decode


def key_count(value: Any, containers: int) -> int:
    """How many keys the objects of a parsed document hold, level by level; `containers`
    (the text's count of '{' and '[') stops the walk once every container is seen, so a
    batch of flat records costs one pass over the list, not one over every value."""
    level, seen, keys = [value] if isinstance(value, dict | list) else [], 0, 0
    while level and seen < containers:
        seen += len(level)
        below: list[Any] = []
        for item in level:
            if type(item) is dict:
                keys += len(item)
                if seen < containers:
                    below += [v for v in item.values() if isinstance(v, dict | list)]
            elif seen < containers:
                below += [v for v in item if isinstance(v, dict | list)]
        level = below
    return keys


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 without a byte-order mark, no NaN or infinities, no key twice.

    msgspec parses (it refuses NaN, infinities, a byte-order mark and numbers out of a
    float's range itself, and keeps big integers whole) and the standard library only
    when it refuses, for the API's message. msgspec keeps the last of a repeated key, so
    the keys it returns are counted against the text's colons: a colon is either a key's
    or inside a string, so equal counts prove no key came twice; a different count (a
    repeated key, or a colon in a text value) sends the body to the strict parser.
    """
    try:
        value = _fast_decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return _strict_parse(raw)
    colons = raw.count(b":")
    if colons and key_count(value, raw.count(b"{") + raw.count(b"[")) != colons:
        return _strict_parse(raw)
    return value


def require_admin(request: Request) -> str:
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


async def read_limited(request: Request, limit_mb: int, setting: str) -> bytes:
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


async def optional_json_object(request: Request, fields: set[str]) -> dict[str, Any]:
    """A JSON object body with only `fields` (strings); {} when the body is empty.

    Content-Type application/json is required even for an empty body: a page of another
    site can send a form or text/plain without asking, never JSON (CSRF).
    """
    require_json_type(request)
    raw = await read_limited(request, get_settings().max_body_mb, "MAX_BODY_MB")
    if not raw.strip():
        return {}
    payload = parse_json(raw)
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


def store_read(read: Callable[[], T]) -> T:
    """A read from (or a write to) the monitoring store, or 503 saying why it failed."""
    from lib.monitoring.store import StoreUnavailable

    try:
        return read()
    except StoreUnavailable as exc:
        raise ApiError(503, f"the monitoring store is unavailable: {exc}", [{"kind": "store"}]) from None
