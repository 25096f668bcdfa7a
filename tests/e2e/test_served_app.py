"""The app as users get it: `uvicorn app:app` in its own process, seen through chromium."""

import time
import urllib.request

from playwright.sync_api import expect

from lib.model.bundle import MODEL_FILE


def test_app_starts_without_a_model_and_says_why(start_server, page, registry_copy, telco_model):
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"")
    server = start_server(MODEL_URI=str(registry_copy))
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as response:
        assert response.status == 200
    deadline = time.monotonic() + 20  # the model loads in a background thread after start
    while "starting without a model" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "starting without a model" in server.log_text()
    page.goto(server.url)
    expect(page.get_by_text("Model not loaded")).to_be_visible()
    expect(page.get_by_text("does not match the checksum")).to_be_visible()
