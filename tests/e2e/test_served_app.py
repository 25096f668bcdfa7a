"""The app as users get it: `uvicorn app:app` in its own process, seen through chromium."""

import urllib.request

from playwright.sync_api import expect

from lib.bundle import MODEL_FILE
from tests.conftest import COMMITTED_REGISTRY


def test_committed_model_is_served_and_scores_a_customer(start_server, page):
    server = start_server(MODEL_URI=str(COMMITTED_REGISTRY))
    page.goto(server.url)
    expect(page.get_by_text("Score one customer")).to_be_visible()
    expect(page.get_by_text("Test ROC AUC")).to_be_visible()
    page.get_by_role("spinbutton", name="tenure").fill("2")
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text("Probability", exact=True)).to_be_visible()
    expect(page.get_by_text("Top reasons")).to_be_visible()
    assert "Traceback" not in page.content()


def test_app_starts_without_a_model_and_says_why(start_server, page, registry_copy, telco_model):
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"")
    server = start_server(MODEL_URI=str(registry_copy))
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as response:
        assert response.status == 200
    assert "starting without a model" in server.log_text()
    page.goto(server.url)
    expect(page.get_by_text("Model not loaded")).to_be_visible()
    expect(page.get_by_text("does not match the checksum")).to_be_visible()
