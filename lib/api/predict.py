"""POST /predict: one record or a list, scored by the scoring service; big bodies are
parsed, scored and serialised off the event loop, one at a time."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from lib.api.common import (
    ApiError,
    flag,
    json_response,
    parse_json,
    read_limited,
    require_json_type,
    served_model,
)
from lib.redact import ECHO_CHARS, LISTED, listed, to_json_bytes
from lib.server.request_context import note_predictions
from lib.settings import Settings, get_settings

# The model, pandas and numpy are imported by the first request (or the warm-up thread),
# not here: app.py imports this module, and the server should answer within a second.
if TYPE_CHECKING:
    from lib.model.inference import InvalidInput, RecordError
    from lib.model.loaded import LoadedModel
    from lib.model.validation import JsonColumns

# How a refused /predict request is logged, by status.
ERROR_KINDS = {
    400: "malformed_json",
    405: "method_not_allowed",
    413: "too_large",
    415: "not_json",
    422: "invalid_input",
    503: "no_model",
}


def log_refused_prediction(status: int, started: float) -> None:
    """A /predict request refused before scoring (malformed, too large, no model...)."""
    from lib.model_loader import loaded_model
    from lib.serving.scoring import log_refusal

    model = loaded_model()
    kind = ERROR_KINDS.get(status, "internal" if status >= 500 else f"http_{status}")
    log_refusal("api", model.version if model else None, started, kind)


def _record_errors(errors: list[RecordError]) -> list[dict[str, Any]]:
    return [
        {"index": e.index, "field": p.field, "code": p.code, "message": p.message} for e in errors for p in e.problems
    ]


# A body up to this size is scored on the event loop (a single record: tens of µs); a
# bigger one (a batch) in a worker thread, so it never stalls the other requests.
INLINE_BODY_BYTES = 32_000


# Predictions serialised per encoder call: the encoder holds the GIL for a whole call (about
# 1.3 ms for 1,000 predictions with reasons), and between calls the interpreter hands it
# to the event loop when it asks, so a 10,000-record answer never stalls other requests long.
SERIALISE_SLICE = 1_000


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
    explain = flag(request, "explain", True)
    require_json_type(request)
    raw = await read_limited(request, settings.max_body_mb, "MAX_BODY_MB")
    model = await served_model()
    if len(raw) <= INLINE_BODY_BYTES:
        return _predict_body(raw, model, settings, explain, started)
    return await anyio.to_thread.run_sync(
        _predict_body, raw, model, settings, explain, started, limiter=_batch_limiter()
    )


def _predict_body(raw: bytes, model: LoadedModel, settings: Settings, explain: bool, started: float) -> Response:
    """Parse, check, score, log and serialise one /predict body (no await: runs anywhere)."""
    from lib.model.inference import InvalidInput
    from lib.serving.scoring import score_and_log, score_and_log_records

    if len(raw) > INLINE_BODY_BYTES:  # a batch: as columns when it is a plain one
        from lib.api.batch_body import decode_batch

        batch = decode_batch(raw, model.schema, settings.max_batch)
        if batch is not None:
            return _predict_columns(batch, model, explain, started)
    payload = parse_json(raw)
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
        note_predictions((prediction.prediction_id,))
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
        raise _batch_refused(exc, len(records)) from None
    note_predictions([p.prediction_id for p in predictions])
    return _predictions_response([p.to_dict() for p in predictions], model.version)


def _predict_columns(batch: JsonColumns, model: LoadedModel, explain: bool, started: float) -> Response:
    """A plain batch: validated, scored, logged and written column by column."""
    from lib.api.batch_body import Reason, answer_rows
    from lib.model.inference import InvalidInput
    from lib.serving.scoring import score_and_log_columns

    try:
        scored = score_and_log_columns(batch, model, "api", explain=explain, started=started, make_reason=Reason)
    except InvalidInput as exc:
        raise _batch_refused(exc, batch.rows) from None
    if scored.prediction_ids is not None:
        note_predictions(scored.prediction_ids)
    return _predictions_response(answer_rows(scored), model.version)


def _batch_refused(exc: InvalidInput, rows: int) -> ApiError:
    details = _record_errors(exc.errors)
    listed_note = f" (the first {MAX_DETAILS:,} problems are listed)" if len(details) > MAX_DETAILS else ""
    return ApiError(
        422,
        f"{len(exc.errors)} of {rows} records cannot be scored; nothing was scored{listed_note}",
        details[:MAX_DETAILS],
        logged=True,
    )


def _predictions_response(predictions: list[Any], version: str) -> Response:
    head = to_json_bytes({"model_version": version, "count": len(predictions)})
    return Response(b'{"predictions":' + _json_list(predictions) + b"," + head[1:], 200, media_type="application/json")


def _json_list(items: list[Any]) -> bytes:
    """A JSON array written SERIALISE_SLICE items at a time (see SERIALISE_SLICE)."""
    parts = [
        to_json_bytes(items[start : start + SERIALISE_SLICE])[1:-1] for start in range(0, len(items), SERIALISE_SLICE)
    ]
    return b"[" + b",".join(part for part in parts if part) + b"]"
