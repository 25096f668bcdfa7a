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
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lib.redact import error_body
from lib.settings import get_settings

logger = logging.getLogger(__name__)

SERVE_OPTIONS = ("--http", "lib.server.http_server:GuardedHttpToolsProtocol", "--no-proxy-headers")
MAX_HEAD_BYTES = 16 * 1024  # request line and headers; h11's own limit is the same


def _error_response(status: int, message: str) -> bytes:
    body = error_body(message)
    reason = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
        status,
        reason,
        len(body),
    )
    return head + body


HEAD_TIMEOUT_MESSAGE = "the request head did not arrive in time: the connection is closed"
HEAD_TOO_LARGE_MESSAGE = f"the request head is larger than {MAX_HEAD_BYTES // 1024} KB"


class _HeadDeadline:
    """What both protocols add: a timer from a connection (or a kept-alive connection's
    next request) until its request head is complete, and JSON refusals that close it.
    The protocol says whether a head is awaited and whether bytes of it have arrived."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _head_timer: asyncio.TimerHandle | None = None
    _upgraded = False  # the transport now belongs to a websocket protocol: hands off

    def _awaiting_head(self) -> bool:
        raise NotImplementedError

    def _head_started(self) -> bool:
        raise NotImplementedError

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self._upgraded:
            self._head_timer = self.loop.call_later(get_settings().header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._upgraded or self.transport.is_closing() or not self._awaiting_head():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is on its way
        if self._head_started():
            self._send_error(408, HEAD_TIMEOUT_MESSAGE)
        else:
            self.transport.close()  # never sent anything: closed quietly

    def _send_error(self, status: int, message: str) -> None:
        try:
            self.transport.write(_error_response(status, message))
        finally:
            self.transport.close()


class GuardedH11Protocol(_HeadDeadline, H11Protocol):
    """H11Protocol with a deadline and a size bound for the request head, and JSON parser errors."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._head_too_large(data):
            self._send_error(431, HEAD_TOO_LARGE_MESSAGE)
            return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # a request head has started, or not even that
            self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm_head_timer()  # an idle kept-alive connection: uvicorn's keep-alive timeout

    def _head_too_large(self, data: bytes) -> bool:
        """h11 bounds only a head still incomplete; one that arrives whole in a read may be
        as big as the read (64 KB)."""
        pending = bytes(self.conn.trailing_data[0]) + data
        end = pending.find(b"\r\n\r\n")
        return (end if end >= 0 else len(pending)) > MAX_HEAD_BYTES

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._disarm_head_timer()
        super().handle_websocket_upgrade(event)

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _head_started(self) -> bool:
        return bool(self.conn.trailing_data[0])

    def send_400_response(self, msg: str) -> None:
        self._send_error(400, f"malformed HTTP request: {msg.rstrip('.').lower()}")


class _HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
    """HttpToolsProtocol with a deadline and a size bound for the request head, and JSON
    parser errors (llhttp itself bounds neither the time nor the size of a head)."""

    _awaiting = True  # no complete request head since the last response (or ever)
    _started = False  # bytes of the awaited head have arrived
    _head_bytes = 0  # size of the head being parsed (request line and headers)
    _refusal: tuple[int, str] | None = None  # why the parser was stopped, when it was us

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._awaiting and data:
            self._started = True
        super().data_received(data)
        if self._upgraded or self.parser is None:
            return
        if self._awaiting:
            self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting, self._head_bytes = True, 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._awaiting, self._started = True, False  # the next head: a deadline from its first byte
        self._disarm_head_timer()  # an idle kept-alive connection: uvicorn's keep-alive timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        self._disarm_head_timer()
        super().handle_websocket_upgrade()

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refusal = (431, HEAD_TOO_LARGE_MESSAGE)
            raise _HeadTooLarge  # stops the parser: data_received answers with send_400_response

    def _awaiting_head(self) -> bool:
        return self._awaiting

    def _head_started(self) -> bool:
        return self._started

    def send_400_response(self, msg: str) -> None:
        status, message = self._refusal or (400, f"malformed HTTP request: {msg.rstrip('.').lower()}")
        self._send_error(status, message)
