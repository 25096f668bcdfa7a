"""Bounds on what the Streamlit runtime keeps for browser sessions, and clean API paths.

The one lib module that reaches into Streamlit's runtime (pinned 1.67; the tests in
tests/api/test_runtime_guard.py fail if an upgrade moves what it relies on):

- RequestGuard (ASGI middleware, outermost): the UI's websocket only from a page of this
  server (same origin, as every state-changing API request); an upload to
  `/_stcore/upload_file/<session>/<file>` may not exceed MAX_UPLOAD_MB, whatever the
  browser was told, and one session may not park more than UPLOADS_PER_SESSION files'
  worth of bytes (all sessions together: UPLOADS_IN_MEMORY); an API path with a `..` or
  `.` segment, `//` or a backslash gets the API's JSON 400 rather than Streamlit's
  plain-text one.
- session_janitor (a task of the app's lifespan): a browser session that stays
  disconnected past SESSION_RECONNECT_S is closed (its uploads, its state, its
  results and the files made for it freed), uploads no session owns are dropped, and
  the memory goes back to the system. Streamlit itself only forgets such sessions
  lazily, and never shuts them down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import re
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from lib.redact import error_body
from lib.server.request_context import request_id_of
from lib.settings import get_settings
from lib.storage.downloads import downloads

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "/_stcore/upload_file/"
API_PREFIXES = (
    "/health",
    "/predict",
    "/train",
    "/metrics",
    "/models",
    "/openapi.json",
    "/downloads/",
    "/outcomes",
    "/docs",
)
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # form boundaries and part headers around the file
UPLOADS_PER_SESSION = 2  # a session may hold two full-size uploads (Batch scoring, Retrain)
UPLOADS_IN_MEMORY = 8  # and all sessions together eight
UNSAFE_PATH = "malformed path: '..', '.', '//', '\\' and control characters are not allowed in an API path"
JANITOR_EVERY_S = 5.0
RELEASE_PASSES = 6  # passes that give memory back after a session closed and its rows are logged (30 s)

Scope = dict[str, Any]


def _json_error(status: int, message: str, request_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = error_body(message)
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


# A backslash, "//", a "." or ".." segment, or a control character.
_UNSAFE_PATH = re.compile(r"[\\\x00-\x1f\x7f]|//|(?:^|/)\.\.?(?:/|$)")


async def refuse(send: Any, scope: MutableMapping[str, Any], status: int, message: str) -> None:
    """A JSON refusal straight through ASGI (before any handler), with its request id."""
    start, body = _json_error(status, message, request_id_of(scope.get("headers", ())))
    await send(start)
    await send(body)


def unsafe_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) and _UNSAFE_PATH.search(path) is not None


def _upload_manager() -> Any | None:
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    return Runtime.instance().uploaded_file_mgr


def parked_upload_bytes() -> dict[str, int]:
    """Bytes of uploads held in memory, per session."""
    storage = getattr(_upload_manager(), "file_storage", None) or {}
    return {
        session: sum(len(record.data) for record in list(files.values())) for session, files in list(storage.items())
    }


class RequestGuard:
    """ASGI middleware: bounded uploads, JSON errors for malformed API paths."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self._same_site_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if unsafe_api_path(path):
            await refuse(send, scope, 400, UNSAFE_PATH)
            return
        if scope["method"] == "PUT" and path.startswith(UPLOAD_PREFIX):
            await self._bounded_upload(scope, receive, send, path[len(UPLOAD_PREFIX) :].split("/")[0])
            return
        await self.app(scope, receive, send)

    async def _same_site_websocket(self, scope: Scope, receive: Any, send: Any) -> None:
        """The UI's websocket only from a page of this server: Streamlit alone lets any page
        served from localhost (any port) drive a session, and with it the admin buttons."""
        from lib.server.access import cross_site_reason

        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if cross_site_reason(headers) is None:
            await self.app(scope, receive, send)
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})  # before accepting: the client gets a 403

    async def _bounded_upload(self, scope: Scope, receive: Any, send: Any, session_id: str) -> None:
        limit_mb = get_settings().max_upload_mb
        per_file = limit_mb * 1_000_000 + MULTIPART_OVERHEAD_BYTES
        parked = parked_upload_bytes()
        session_room = UPLOADS_PER_SESSION * limit_mb * 1_000_000 - parked.get(session_id, 0)
        total_room = UPLOADS_IN_MEMORY * limit_mb * 1_000_000 - sum(parked.values())
        allowed, status, refusal = per_file, 413, f"the file is larger than the {limit_mb} MB limit (MAX_UPLOAD_MB)"
        if session_room < allowed:
            allowed, refusal = (
                session_room,
                "this session holds as many uploads as it may: remove one or reload the page",
            )
        if total_room < allowed:
            allowed, status = total_room, 503
            refusal = "the server holds as many uploads as it may right now: try again in a few minutes"
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > allowed):
            await refuse(send, scope, status, refusal)
            return
        received = 0
        over = False
        started = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    over = True
                    return {"type": "http.disconnect"}  # the handler stops reading and stores nothing
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if over:
                return  # the refusal below answers instead
            started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await refuse(send, scope, status, refusal)


@dataclass
class JanitorReport:
    """What one pass freed, for the log and the tests."""

    closed_sessions: int = 0
    orphan_uploads: int = 0
    downloads: int = 0  # files made for sessions that ended


class SessionJanitor:
    """Closes sessions disconnected for longer than SESSION_RECONNECT_S, frees their memory."""

    def __init__(self) -> None:
        self._disconnected_since: dict[str, float] = {}
        self.closed_total = 0
        self._release_passes = 0

    def sweep(self, now: float | None = None) -> JanitorReport:
        """One pass; call it on the event loop (Streamlit's session manager is not thread-safe)."""
        from streamlit.runtime import Runtime

        report = JanitorReport()
        if not Runtime.exists():
            return report
        now = time.monotonic() if now is None else now
        runtime = Runtime.instance()
        manager = runtime._session_mgr  # no public way to list and close disconnected sessions
        storage = getattr(manager, "_session_storage", None)
        cache: Any = getattr(storage, "_cache", None)
        expired = cache.expire() if hasattr(cache, "expire") else []
        for _, info in expired:  # dropped by Streamlit's TTL without a shutdown: do it
            _forget_state(info.session)
            with contextlib.suppress(Exception):
                info.session.shutdown()
            report.closed_sessions += 1
        active = {info.session.id for info in manager.list_active_sessions()}
        stored = {info.session.id for info in manager.list_sessions()} - active
        window = get_settings().session_reconnect_s
        for session_id in stored:
            since = self._disconnected_since.setdefault(session_id, now)
            if now - since >= window:
                info = manager.get_session_info(session_id)
                if info is not None:
                    _forget_state(info.session)
                runtime.close_session(session_id)  # public: shuts the session down
                report.closed_sessions += 1
        self._disconnected_since = {k: v for k, v in self._disconnected_since.items() if k in stored}
        known = active | stored
        uploads: Any = _upload_manager()
        for session_id in list(getattr(uploads, "file_storage", {})):
            if session_id not in known:
                uploads.remove_session_files(session_id)
                report.orphan_uploads += 1
        report.downloads = downloads.keep_only(known)
        if report.closed_sessions or report.orphan_uploads:
            self.closed_total += report.closed_sessions
            self._release_passes = RELEASE_PASSES
            logger.info(
                "closed %d ended browser sessions, dropped uploads of %d", report.closed_sessions, report.orphan_uploads
            )
        self.give_memory_back()
        return report

    def give_memory_back(self) -> None:
        """A release pass while some are owed; they are counted from when the prediction log
        has written the closed sessions' rows: until then it holds them, and on a busy
        machine writing a few big uploads takes longer than all the passes."""
        if self._release_passes:
            from lib.monitoring.log import pending_rows  # imported once a session has ended, not with the app

            release_memory()
            if not pending_rows():
                self._release_passes -= 1

    def status(self) -> dict[str, int]:
        from streamlit.runtime import Runtime

        manager = getattr(Runtime.instance(), "_session_mgr", None) if Runtime.exists() else None
        if manager is None:  # no server runtime (AppTest runs pages without one)
            return {"active": 0, "disconnected": 0, "closed": self.closed_total, "upload_bytes": 0, "downloads": 0}
        active = len(manager.list_active_sessions())
        return {
            "active": active,
            "disconnected": len(manager.list_sessions()) - active,
            "closed": self.closed_total,
            "upload_bytes": sum(parked_upload_bytes().values()),
            "downloads": downloads.count(),  # files kept for sessions (scored uploads)
        }


janitor = SessionJanitor()


def _forget_state(session: Any) -> None:
    """Empty a closing session's st.session_state (an upload, its scores, its table).

    Closing is not enough: Streamlit's message loop keeps the last session it flushed in
    a local variable until another session connects, and with it everything that
    session's state holds (hundreds of MB after a big batch upload).
    """
    with contextlib.suppress(Exception):
        session.session_state.clear()
    with contextlib.suppress(Exception):
        session.flush_browser_queue()  # messages never sent (a scored table's rendering)


M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> None:
    """At most two glibc malloc arenas for all threads (glibc's default is 8 per core): the
    worker threads that score batches and write the log then share heaps that malloc_trim
    can give back, instead of each keeping its own fragments (one 50 MB upload: 65 -> 45 MB
    left above idle once its session ended). Call it before the server starts threads."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def release_memory() -> None:
    """Give freed memory back to the system: Python's garbage, Arrow's pool, glibc's heap."""
    gc.collect()
    with contextlib.suppress(Exception):
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def run_janitor(stop: asyncio.Event) -> None:
    """The lifespan's task: a sweep every JANITOR_EVERY_S until the app stops."""
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), JANITOR_EVERY_S)
        try:
            janitor.sweep()
        except Exception:  # the janitor must never take the server down
            logger.exception("the session janitor failed")
