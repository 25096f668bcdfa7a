"""What operators and front-end developers rely on (issue 19), on a real server: JSON
log lines with each request's identity, and CORS from a real page of another origin."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from lib.settings import PROJECT_ROOT
from tests.helpers import COMMITTED_REGISTRY, free_port


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def _record(url: str) -> dict:
    """A valid record for the committed model: every feature at its default."""
    from lib.model_loader import load_model

    return {spec.name: spec.default for spec in load_model(str(COMMITTED_REGISTRY)).schema.features}


def test_json_logs_name_each_request_and_its_predictions(start_server):
    server = start_server(MODEL_URI=str(COMMITTED_REGISTRY), LOG_FORMAT="json")
    record = _record(server.url)
    status, headers, single = _post(f"{server.url}/predict", {"record": record}, {"X-Request-ID": "order-7781"})
    assert status == 200 and headers["x-request-id"] == "order-7781"
    _, batch_headers, batch = _post(f"{server.url}/predict", {"records": [record] * 3})
    with pytest.raises(urllib.error.HTTPError) as refused:
        _post(f"{server.url}/predict", {"record": "not an object"})
    assert refused.value.code == 422
    server.stop()

    entries = []
    for line in server.log_text().splitlines():
        if line.strip():
            entries.append(json.loads(line))  # every line parses: uvicorn's, Streamlit's, ours
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    requests = [entry for entry in entries if entry.get("route") == "/predict"]
    assert [entry["status"] for entry in requests] == [200, 200, 422]
    first, second, third = requests
    assert first["request_id"] == "order-7781" and first["method"] == "POST" and first["client"] == "127.0.0.1"
    assert first["prediction_ids"] == [single["prediction"]["prediction_id"]] and first["latency_ms"] > 0
    assert second["request_id"] == batch_headers["x-request-id"]
    assert second["prediction_ids"] == [p["prediction_id"] for p in batch["predictions"]]
    assert "prediction_ids" not in third
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)  # the server's own lines too
    assert not any("/predict" in entry["message"] for entry in entries if entry["logger"] == "uvicorn.access")


class _FrontEnd(BaseHTTPRequestHandler):
    """A separate front-end: one blank page on its own origin."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>front-end</title><p>front-end</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def front_end() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _FrontEnd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


CALL = """async ([url, method, body]) => {
  try {
    const response = await fetch(url, {method, headers: {"Content-Type": "application/json"},
                                       body: body === null ? undefined : JSON.stringify(body)});
    return {status: response.status, id: response.headers.get("X-Request-ID"), body: await response.json()};
  } catch (error) { return {blocked: String(error)}; }
}"""


def test_a_page_of_a_listed_origin_calls_the_api_but_no_admin_action(start_server, front_end, page):
    server = start_server(MODEL_URI=str(COMMITTED_REGISTRY), CORS_ORIGINS=front_end)
    record = _record(server.url)
    page.goto(front_end)
    scored = page.evaluate(CALL, [f"{server.url}/predict", "POST", {"record": record}])
    assert scored["status"] == 200, scored
    assert 0 <= scored["body"]["prediction"]["probability"] <= 1
    assert scored["id"]  # exposed to the page's script
    health = page.evaluate(CALL, [f"{server.url}/health", "GET", None])
    assert health["status"] == 200
    for path in ("/train", "/models/rollback"):
        refused = page.evaluate(CALL, [f"{server.url}{path}", "POST", {}])
        assert "blocked" in refused, refused  # the browser stops it at the preflight
    # The server saw each preflight and refused it; no admin request itself ever arrived.
    assert '"OPTIONS /train HTTP/1.1" 403' in server.log_text()
    assert "POST /train" not in server.log_text() and "POST /models/rollback" not in server.log_text()


def test_a_page_of_another_origin_is_blocked_when_cors_is_not_set(start_server, front_end, page):
    server = start_server(MODEL_URI=str(COMMITTED_REGISTRY))
    record = _record(server.url)
    page.goto(front_end)
    blocked = page.evaluate(CALL, [f"{server.url}/predict", "POST", {"record": record}])
    assert "blocked" in blocked, blocked
    assert '"OPTIONS /predict HTTP/1.1" 403' in server.log_text()
    assert "POST /predict" not in server.log_text()


DOCS_SCREENSHOT = PROJECT_ROOT / "test-results" / "screenshots" / "api-docs.png"


def test_docs_render_the_live_schema_and_try_it_out_scores(start_server, page):
    server = start_server(MODEL_URI=str(COMMITTED_REGISTRY))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{server.url}/docs")
    version = json.loads(urllib.request.urlopen(f"{server.url}/health", timeout=30).read())["model_version"]
    expect(page.get_by_text("Prediction dashboard API").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text(version).first).to_be_visible()  # the live document, not a copy
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SCREENSHOT))
    operation = page.locator("#operations-default-post_predict")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(live).to_have_text("200", timeout=30_000)
    expect(operation.locator(".live-responses-table")).to_contain_text('"probability"')
    assert all(url.startswith(server.url) for url in requests), [u for u in requests if not u.startswith(server.url)]
    assert not [text for text in errors if "Content Security Policy" in text], errors
