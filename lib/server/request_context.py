"""Who an API request is (its X-Request-ID) and what it produced, for its response and
its log line.

A caller's X-Request-ID is kept when it is usable: at most MAX_REQUEST_ID characters
from a small safe set (letters, digits and `._:/+=@-`); anything else is removed, so a
request id can never split a log line or inject a header. A request without one (or
with nothing usable left) gets a new random one.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

MAX_REQUEST_ID = 128
LOGGED_PREDICTION_IDS = 100  # a batch's log line names its first 100 predictions and counts the rest
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/+=@-]")


def request_id(supplied: str | None) -> str:
    """The caller's id, cleaned and bounded, or a new one."""
    if supplied:
        cleaned = _UNSAFE.sub("", supplied[: MAX_REQUEST_ID * 4])[:MAX_REQUEST_ID]
        if cleaned:
            return cleaned
    # A correlation id, not a secret: 128 bits of the process's Mersenne Twister (seeded
    # from the OS at start). os.urandom, under uuid4 too, hands the interpreter lock to
    # other threads for its system call: about 15 µs a request on the served path.
    return f"{random.getrandbits(128):032x}"


def request_id_of(headers: Sequence[tuple[bytes, bytes]]) -> str:
    """request_id() from a request's raw ASGI headers."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            return request_id(value.decode("latin-1"))
    return request_id(None)


@dataclass
class RequestContext:
    request_id: str
    prediction_ids: list[str] = field(default_factory=list)
    predictions: int = 0


_current: ContextVar[RequestContext | None] = ContextVar("api_request", default=None)


def begin(context: RequestContext) -> None:
    """The request being handled in this task (and the worker threads it hands work to)."""
    _current.set(context)


def note_predictions(ids: Sequence[str]) -> None:
    """Predictions the current API request made, for its log line (bounded)."""
    context = _current.get()
    if context is None:
        return
    room = LOGGED_PREDICTION_IDS - len(context.prediction_ids)
    if room > 0:
        context.prediction_ids.extend(ids[:room])
    context.predictions += len(ids)
