"""Retraining in a real browser on a real server: start it, watch it to the end, see the
new version on the Overview page, roll back, see the old one again."""

import json
import re
import urllib.request

from playwright.sync_api import expect

from lib.registry import LocalRegistry
from tests.e2e.conftest import SCREENSHOTS


def served_version(server) -> str:
    with urllib.request.urlopen(f"{server.url}/models", timeout=10) as response:
        return json.loads(response.read())["served"]


def open_from_sidebar(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()


def test_retrain_watch_promote_and_roll_back(start_server, tall_page, registry_copy, telco_model):
    page = tall_page
    server = start_server(MODEL_URI=str(registry_copy))  # no ADMIN_TOKEN: this machine may retrain
    old = telco_model.version
    page.goto(server.url)
    expect(page.get_by_text(f"Model {old}")).to_be_visible(timeout=30_000)

    open_from_sidebar(page, "Retrain")
    expect(page.get_by_role("heading", name="Retrain and versions")).to_be_visible()
    page.get_by_role("button", name="Start retraining").click()
    expect(page.get_by_text("A retraining job is running")).to_be_visible()
    expect(page.get_by_text(re.compile(r"running: \[\d/7\]"))).to_be_visible(timeout=30_000)  # live progress
    expect(page.get_by_text("promoted automatically")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible(timeout=30_000)  # the ROC curves, overlaid
    new = served_version(server)
    assert new != old
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "retrain-job.png"), full_page=True)

    open_from_sidebar(page, "Overview")
    expect(page.get_by_text(f"Model {new}")).to_be_visible(timeout=15_000)

    open_from_sidebar(page, "Retrain")
    page.get_by_role("button", name="Roll back to the previous version").click()
    expect(page.get_by_text(f"Now serving {old}")).to_be_visible(timeout=15_000)
    assert served_version(server) == old
    open_from_sidebar(page, "Overview")
    expect(page.get_by_text(f"Model {old}")).to_be_visible(timeout=15_000)


def test_a_bad_upload_lists_its_problems_and_cannot_start(start_server, page, registry_copy, tmp_path):
    server = start_server(MODEL_URI=str(registry_copy))
    bad = tmp_path / "march.csv"
    bad.write_text("customerID,tenure,Churn\n1,5,Maybe\n2,7,No\n")
    page.goto(server.url)
    expect(page.get_by_text("Test ROC AUC")).to_be_visible(timeout=30_000)
    open_from_sidebar(page, "Retrain")
    page.get_by_text("An uploaded CSV").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(bad))
    expect(page.get_by_text("This file cannot train a model; nothing was started")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("missing feature columns (18)")).to_be_visible()
    expect(page.get_by_text("only 2 rows have a target")).to_be_visible()
    expect(page.get_by_role("button", name="Start retraining")).to_be_disabled()
    assert served_version(server) == LocalRegistry(registry_copy).served()
