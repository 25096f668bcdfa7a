"""The connection level of a real server (issue 12): half-sent requests are closed, and
what the HTTP parser refuses is answered in JSON like every other refusal; under both
protocols (httptools, which the product is served with, and h11, the documented other)."""

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from lib.server.http_server import SERVE_OPTIONS
from tests.helpers import COMMITTED_REGISTRY
from tests.servers import launch

pytestmark = pytest.mark.slow

H11_OPTIONS = ("--http", "lib.server.http_server:GuardedH11Protocol", "--no-proxy-headers")


@pytest.fixture(scope="module", params=[SERVE_OPTIONS, H11_OPTIONS], ids=["httptools", "h11"])
def server(request, tmp_path_factory):
    started = launch(
        tmp_path_factory.mktemp("guard"),
        serve_options=request.param,
        MODEL_URI=str(COMMITTED_REGISTRY),
        HEADER_TIMEOUT_S="1",
    )
    yield started
    started.stop()


def test_the_product_is_served_with_httptools():
    assert "lib.server.http_server:GuardedHttpToolsProtocol" in SERVE_OPTIONS


def connect(server) -> socket.socket:
    address = urlsplit(server.url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    return connection


def read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(connection: socket.socket) -> bytes:
    """One whole response: its head, then as many body bytes as content-length says."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def json_error(answer: bytes) -> tuple[int, dict]:
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), answer[:300]
    return int(head.split()[1]), json.loads(payload)


def test_half_sent_requests_are_closed(server):
    connections = [connect(server) for _ in range(50)]
    for connection in connections[:25]:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Ty")  # half a head
    answers = [read_all(connection) for connection in connections]  # until the server closes each (else: timeout)
    for answer in answers[:25]:
        status, body = json_error(answer)
        assert status == 408 and "did not arrive in time" in body["error"]
    assert all(answer == b"" for answer in answers[25:])  # never sent anything: closed quietly
    for connection in connections:
        connection.close()


def test_a_slow_but_whole_request_and_kept_alive_connections_still_work(server):
    connection = connect(server)
    connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.3)  # within the deadline: a client that types slowly is not cut off
    connection.sendall(b"\r\n")
    first = b""
    while b'"alive"' not in first:  # the head and the body may come in two pieces
        first += connection.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_all(connection).startswith(b"HTTP/1.1 200")
    connection.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}",
        b"GET /predict HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"NOT A REQUEST\r\n\r\n",
        b"GET /predict/..%2Fhealth HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /metrics/../health HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_what_the_parser_refuses_is_answered_in_json(server, request_bytes):
    connection = connect(server)
    connection.sendall(request_bytes)
    status, body = json_error(read_response(connection))
    connection.close()
    assert status == 400 and body["error"].startswith("malformed")


def test_a_head_larger_than_16_kb_is_refused_in_json(server):
    connection = connect(server)
    connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 20_000 + b"\r\n\r\n")
    status, body = json_error(read_response(connection))
    connection.close()
    assert status in (400, 431) and ("16 KB" in body["error"] or "malformed" in body["error"])


def test_a_head_just_under_the_bound_and_a_big_body_are_served(server):
    connection = connect(server)
    body = json.dumps({"records": [{"tenure": 1}] * 9_000}).encode()  # ~130 KB: refused by validation, read whole
    connection.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: "
        + b"a" * 15_000
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    status, answer = json_error(read_response(connection))
    connection.close()
    assert status == 422 and "cannot be scored" in answer["error"]
