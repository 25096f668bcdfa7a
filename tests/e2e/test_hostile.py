"""A hostile page in a real chromium, and a browser session that parks too much (issue 12).

The server is `uvicorn app:app` as `make run` starts it, with no ADMIN_TOKEN: admin
actions are open to this machine, which is exactly what a page of another origin, opened
in a browser on this machine, would abuse.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lib.model.bundle import read_pointer
from lib.registry import LocalRegistry
from lib.settings import PROJECT_ROOT
from tests.helpers import COMMITTED_REGISTRY, clone_version, free_port, wait_for

ATTACK = """<!doctype html><title>running</title><script>
const target = "%(target)s";
const first = "%(first)s";
const attempts = [];
const actions = [["POST", "/models/rollback"], ["POST", "/train"], ["POST", `/models/${first}/promote`]];
for (const [method, path] of actions) {
  // what a page can send without asking: no-cors, simple content types, or none
  for (const type of [null, "text/plain", "application/x-www-form-urlencoded"]) {
    const headers = type ? {"Content-Type": type} : {};
    attempts.push(fetch(target + path, {method, mode: "no-cors", headers, body: type ? "{}" : ""}).catch(() => null));
  }
  // and JSON, which needs a preflight the server never grants
  attempts.push(fetch(target + path, {method, headers: {"Content-Type": "application/json"}, body: "{}"})
    .catch(() => null));
}
attempts.push(fetch(target + "/train/20260101T000000Z-abcdef", {method: "DELETE"}).catch(() => null));
// the UI's websocket: a session driven from here could press the admin buttons
const socket = new Promise((resolve) => {
  const ws = new WebSocket(target.replace("http", "ws") + "/_stcore/stream");
  ws.onopen = () => resolve("open");
  ws.onerror = () => resolve("refused");
});
Promise.all(attempts).then(() => socket).then((ws) => { document.title = "done:" + ws; });
</script>
<form id="form" method="POST" action="%(target)s/models/rollback" enctype="text/plain" target="sink">
<input name="{}" value=""></form><iframe name="sink"></iframe>
"""


class _AttackSite:
    """Another origin on this machine (another port) serving the attack page."""

    def __init__(self, page_html: str) -> None:
        html = page_html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def health(server) -> dict:
    with urllib.request.urlopen(f"{server.url}/health", timeout=10) as response:
        return json.loads(response.read())


def test_a_page_of_another_origin_cannot_run_admin_actions(start_server, page, registry_copy, telco_model, tmp_path):
    first = telco_model.version
    second = clone_version(registry_copy, first, f"{first}-2").name
    LocalRegistry(registry_copy).promote(second, "setup", "two versions")
    audit = LocalRegistry(registry_copy).audit()
    server = start_server(MODEL_URI=str(registry_copy))
    site = _AttackSite(ATTACK % {"target": server.url, "first": first})
    try:
        page.goto(site.url)
        expect(page).to_have_title("done:refused", timeout=30_000)
        page.evaluate("document.getElementById('form').submit()")
        page.wait_for_load_state("networkidle")
    finally:
        site.close()
    assert read_pointer(registry_copy) == second
    assert LocalRegistry(registry_copy).audit() == audit
    assert not (tmp_path / "kpis" / "jobs").exists()  # no retraining job was started
    log = server.log_text()
    assert '"POST /models/rollback HTTP/1.1" 200' not in log and '"POST /train HTTP/1.1" 202' not in log
    # the page of this server itself still works: same origin
    page.goto(server.url)
    page.get_by_text("Test ROC AUC").wait_for(timeout=30_000)


def _capture_upload(page) -> dict:
    """The URL and headers (XSRF token) of the browser's own upload, to replay it bigger."""
    captured: dict = {}

    def on_request(request) -> None:
        if request.method == "PUT" and "/_stcore/upload_file/" in request.url and "url" not in captured:
            captured.update(url=request.url, headers=request.all_headers())

    page.on("request", on_request)
    return captured


def _put(context, captured: dict, file_id: str, size: int) -> int:
    url = captured["url"].rsplit("/", 1)[0] + f"/{file_id}"
    headers = {k: v for k, v in captured["headers"].items() if k.lower() in ("x-xsrftoken", "origin", "referer")}
    response = context.request.put(
        url, headers=headers, multipart={"file": {"name": "big.csv", "mimeType": "text/csv", "buffer": b"a" * size}}
    )
    return response.status


@pytest.mark.slow
def test_uploads_are_bounded_by_the_server_and_freed_when_the_session_ends(start_server, browser, tmp_path):
    server = start_server(MODEL_URI=str(COMMITTED_REGISTRY), MAX_UPLOAD_MB="1", SESSION_RECONNECT_S="2")
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server.url)
    page.get_by_text("Test ROC AUC").wait_for()
    captured = _capture_upload(page)
    page.goto(f"{server.url}/batch-scoring")
    lines = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_text().splitlines()
    small = Path(tmp_path / "small.csv")
    small.write_text("\n".join(lines[:41]) + "\n")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(small))
    expect(page.get_by_test_id("stMetric").filter(has_text="Scored")).to_contain_text("40")
    assert captured, "the browser's upload was not seen"
    link = page.get_by_role("link", name="Download every row with its scores (CSV)").get_attribute("href")
    download_url = f"{server.url}/{link.removeprefix('./')}"
    assert context.request.get(download_url).status == 200

    assert _put(context, captured, "too-big", 3_000_000) == 413  # the server's own limit, not the browser's
    assert _put(context, captured, "one", 900_000) == 204
    assert _put(context, captured, "two", 900_000) == 204
    assert _put(context, captured, "three", 900_000) == 413  # the session holds two uploads' worth already
    sessions = health(server)["checks"]["sessions"]
    assert sessions["active"] >= 1 and 1_800_000 <= sessions["upload_bytes"] <= 2_000_000

    context.close()  # the browser goes away: after SESSION_RECONNECT_S the session is closed
    wait_for(
        lambda: (
            (s := health(server)["checks"]["sessions"])["active"] == 0
            and s["disconnected"] == 0
            and s["upload_bytes"] == 0
            and s["downloads"] == 0
        ),
        60,  # the ended session freed, its download file too
    )
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(download_url, timeout=10)
    assert gone.value.code == 404
    assert health(server)["checks"]["sessions"]["closed"] >= 1
