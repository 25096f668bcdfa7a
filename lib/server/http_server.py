"""The HTTP connection handling uvicorn is run with (`--http lib.server.http_server:GuardedH11Protocol`).

uvicorn's own h11 protocol, with two changes an exposed service needs:
- a connection that has not sent a complete request head within HEADER_TIMEOUT_S (30 s)
  is closed with a 408: half-sent requests can no longer pile up (slowloris);
- a request the HTTP parser refuses (`Content-Length: -1`, a malformed request line)
  gets the same JSON error body as every other refusal, not a plain-text line.

SERVE_OPTIONS are the uvicorn options the product is always served with (make run, the
Docker image, the tests and benchmarks): this protocol, and no proxy headers (the app
believes forwarding headers only from TRUSTED_PROXIES, see lib.server.access).
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from lib.redact import error_body
from lib.settings import get_settings

logger = logging.getLogger(__name__)

SERVE_OPTIONS = ("--http", "lib.server.http_server:GuardedH11Protocol", "--no-proxy-headers")


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with a deadline for the request head and JSON parser errors."""

    _head_timer: asyncio.TimerHandle | None = None
    _upgraded = False  # the transport now belongs to a websocket protocol: hands off

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # a request head has started, or not even that
            self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm_head_timer()  # an idle kept-alive connection: uvicorn's keep-alive timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._disarm_head_timer()
        super().handle_websocket_upgrade(event)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self._upgraded:
            timeout = get_settings().header_timeout_s
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._upgraded or self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is on its way
        has_bytes = bool(self.conn.trailing_data[0])
        if has_bytes:
            self._send_error(408, "the request head did not arrive in time: the connection is closed")
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._send_error(400, f"malformed HTTP request: {msg.rstrip('.').lower()}")

    def _send_error(self, status: int, message: str) -> None:
        body = error_body(message)
        reason = {400: b"Bad Request", 408: b"Request Timeout"}[status]
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, len(body))
        )
        try:
            self.transport.write(head + body)
        finally:
            self.transport.close()
