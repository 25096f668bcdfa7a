"""POST /outcomes: real outcomes for earlier predictions (issue 18).

The body is a JSON list of rows, or a CSV (Content-Type text/csv) with one column per
field: `prediction_id` or the dataset's id columns, `outcome`, and optionally
`observed_at` (lib.monitoring.outcomes says what each may hold). Admin access, as for
retraining: outcomes decide what the live figures say and what a retrain learns from.
The answer counts what was recorded (new, unchanged, corrected) and lists every refused
row (the first 1,000) with its position and why; 200 even when some rows are refused.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lib.api.common import ApiError, json_response, media_type, parse_json, read_limited, require_admin, served_model
from lib.settings import get_settings

LISTED_REFUSALS = 1000


async def record_outcomes(request: Request) -> Response:
    from lib.monitoring.decay import decay_watcher
    from lib.monitoring.log import prediction_log
    from lib.monitoring.outcomes import OutcomeFileError, csv_items
    from lib.monitoring.store import StoreUnavailable

    require_admin(request)
    settings = get_settings()
    content_type = media_type(request)
    if content_type not in ("application/json", "text/csv"):
        raise ApiError(415, f"send a JSON list or a CSV (text/csv), not {content_type[:60] or 'unspecified'}")
    raw = await read_limited(request, settings.max_body_mb, "MAX_BODY_MB")
    model = await served_model()
    limit = settings.max_outcomes
    if content_type == "text/csv":
        try:
            items = await run_in_threadpool(csv_items, raw, limit)
        except OutcomeFileError as exc:
            raise ApiError(422, f"the CSV cannot be read: {exc}", [{"code": "unreadable_csv"}]) from None
        first_position = 1
    else:
        items = parse_json(raw)
        if not isinstance(items, list):
            raise ApiError(422, "the body must be a JSON list of outcome rows", [{"code": "wrong_shape"}])
        if len(items) > limit:
            raise ApiError(
                422,
                f"at most {limit:,} outcome rows per request (MAX_OUTCOMES), got {len(items):,}",
                [{"code": "too_many"}],
            )
        first_position = 0
    log = prediction_log()
    try:
        report = await run_in_threadpool(log.record_outcomes, model, items, first_position)
    except StoreUnavailable as exc:
        raise ApiError(503, f"the outcomes cannot be recorded now: {exc}") from None
    if report.new or report.corrected:
        decay_watcher().request_check()  # the realised figures moved
    return json_response(report.to_dict(LISTED_REFUSALS))
