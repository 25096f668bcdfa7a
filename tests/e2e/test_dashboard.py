"""Every page in a real browser against the served committed model: predict, upload,
download, and no exception anywhere. Screenshots go to test-results/screenshots/."""

import csv
import io
import json
import re
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from lib.model.inference import score_record
from lib.model_loader import load_model
from lib.settings import PROJECT_ROOT
from tests.e2e.conftest import SCREENSHOTS
from tests.helpers import COMMITTED_REGISTRY

PAGES = {
    "": "Prediction dashboard",
    "score-customer": "Predict one customer",
    "batch-scoring": "Batch scoring",
    "model-performance": "Model performance",
    "business-kpis": "Business KPIs",
    "feature-distributions": "Feature distributions",
    "service-health": "Service health",
    "retrain": "Retrain and versions",
}


def wait_until_idle(page) -> None:
    """Streamlit shows a running indicator while the script runs; wait for it to go."""
    page.wait_for_selector('[data-testid="stMain"]')
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_opens_without_an_exception(served_app, tall_page, path):
    page = tall_page
    page.goto(f"{served_app.url}/{path}")
    expect(page.get_by_role("heading", name=PAGES[path])).to_be_visible()
    wait_until_idle(page)
    if path == "score-customer":  # show the page in use: a prediction and its what-if
        page.get_by_role("spinbutton", name="tenure").fill("2")
        page.get_by_role("button", name="Predict").click()
        expect(page.get_by_text("What if?")).to_be_visible()
    elif path == "batch-scoring":
        page.get_by_role("button", name="Or score a sample of 1,000 customers from the bundled data").click()
        expect(page.get_by_text("Scored rows, riskiest first")).to_be_visible()
    wait_until_idle(page)
    page.wait_for_timeout(500)  # let plotly finish drawing before the screenshot
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Page not found").count() == 0
    assert "Traceback" not in page.content()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{path or 'overview'}.png"), full_page=True)


def test_predict_form_shows_the_scoring_functions_probability(served_app, page):
    page.goto(f"{served_app.url}/score-customer")
    expect(page.get_by_text("Submit the form to see")).to_be_visible()
    page.get_by_role("spinbutton", name="tenure").fill("2")
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text("What if?")).to_be_visible()
    model = load_model(str(COMMITTED_REGISTRY))
    record = {spec.name: spec.default for spec in model.schema.features}
    record["tenure"] = 2
    expected = score_record(record, model)
    probability = page.get_by_test_id("stMetric").filter(has_text="Probability")
    expect(probability).to_contain_text(f"{expected.probability:.1%}")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_batch_upload_scores_and_downloads(served_app, page, tmp_path):
    lines = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_text().splitlines()
    bad = lines[3].split(",")
    bad[5] = "many"  # tenure
    upload = tmp_path / "customers.csv"
    formula = lines[5].split(",")
    formula[0] = "@SUM(A1)"  # would run in a spreadsheet if downloaded as it is
    upload.write_text("\n".join([*lines[:3], ",".join(bad), lines[4], ",".join(formula), *lines[6:40]]) + "\n")
    page.goto(f"{served_app.url}/batch-scoring")
    expect(page.get_by_text("Upload a file, or use the sample")).to_be_visible()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
    expect(page.get_by_text("Refused rows (1)")).to_be_visible()
    scored = page.get_by_test_id("stMetric").filter(has_text="Scored")
    expect(scored).to_contain_text("38")
    wait_until_idle(page)
    link = page.get_by_role("link", name="Download every row with its scores (CSV)")
    with page.expect_download() as download_info:  # the link opens a tab, closed once the file is saved
        link.click()
    download = download_info.value
    assert download.suggested_filename == "scored-customers.csv"
    text = download.path().read_bytes().decode()
    assert text.count("\r\n") == 40  # the header and every row, in spreadsheet line ends
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [int(r["row"]) for r in rows] == list(range(1, 40))  # every row, in the file's order
    refused = [r for r in rows if r["error"]]
    assert [r["row"] for r in refused] == ["3"] and "tenure" in refused[0]["error"] and refused[0]["probability"] == ""
    model = load_model(str(COMMITTED_REGISTRY))
    record = {s.name: float(rows[0][s.name]) if s.is_numeric else rows[0][s.name] for s in model.schema.features}
    assert abs(float(rows[0]["probability"]) - score_record(record, model).probability) < 1e-9
    assert "'@SUM(A1)" in {r["customerID"] for r in rows} and "@SUM(A1)" not in {r["customerID"] for r in rows}
    gone = urllib.request.Request(f"{served_app.url}/downloads/{'x' * 43}")
    with pytest.raises(urllib.error.HTTPError) as refused_link:
        urllib.request.urlopen(gone, timeout=10)
    assert refused_link.value.code == 404 and "expired" in json.loads(refused_link.value.read())["error"]


def predictions_waiting(server) -> int:
    with urllib.request.urlopen(f"{server.url}/health", timeout=10) as response:
        return json.loads(response.read())["checks"]["store"]["pending_rows"]


def test_health_page_refreshes_itself_as_predictions_arrive(served_app, page):
    model = load_model(str(COMMITTED_REGISTRY))
    deadline = time.monotonic() + 10
    while predictions_waiting(served_app) and time.monotonic() < deadline:  # earlier tests' rows written
        time.sleep(0.1)
    page.goto(f"{served_app.url}/service-health")
    expect(page.get_by_role("heading", name="Service health")).to_be_visible()
    value = page.locator('[data-testid="stMetric"]').filter(has_text="Requests (1h)").get_by_test_id("stMetricValue")
    expect(value).to_have_text(re.compile(r"^[0-9,]+$"), timeout=30_000)
    before = int(value.inner_text().replace(",", ""))
    body = json.dumps({"record": {spec.name: spec.default for spec in model.schema.features}}).encode()
    for _ in range(3):
        request = urllib.request.Request(
            f"{served_app.url}/predict", body, {"content-type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    expect(value).to_have_text(f"{before + 3:,}", timeout=15_000)  # no reload: the fragment reruns


def test_outcomes_uploaded_on_the_page_update_the_live_view(served_app, page, tmp_path):
    """Predictions made through the API, their real outcomes uploaded as a CSV on the Model
    performance page (an admin action: allowed here from this machine's browser), and the
    live view showing scikit-learn's ROC AUC on them, next to the test split's."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    model = load_model(str(COMMITTED_REGISTRY))
    data = pd.read_csv(PROJECT_ROOT / "data" / "telco-customer-churn.csv")
    data = data[pd.to_numeric(data["TotalCharges"], errors="coerce").notna()].head(240)
    records = [
        {s.name: float(row[s.name]) if s.is_numeric else row[s.name] for s in model.schema.features}
        | {"customerID": row["customerID"]}
        for _, row in data.iterrows()
    ]
    request = urllib.request.Request(
        f"{served_app.url}/predict", json.dumps({"records": records}).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        predictions = json.loads(response.read())["predictions"]
    deadline = time.monotonic() + 15
    while predictions_waiting(served_app) and time.monotonic() < deadline:  # the scores outcomes match
        time.sleep(0.1)
    page.goto(f"{served_app.url}/model-performance")
    page.get_by_text("Live (real outcomes)").click()
    expect(page.get_by_text("No realised figures yet")).to_be_visible(timeout=30_000)
    outcomes = tmp_path / "outcomes.csv"
    lines = [f"{p['prediction_id']},{churn}" for p, churn in zip(predictions, data["Churn"], strict=True)]
    outcomes.write_text("prediction_id,outcome\n" + "\n".join(lines) + "\n")
    page.get_by_text("Record real outcomes (CSV)").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(outcomes))
    page.get_by_role("button", name="Record these outcomes").click()
    expect(page.get_by_text("240 of 240 rows recorded: 240 new")).to_be_visible(timeout=30_000)
    expected = roc_auc_score(data["Churn"] == "Yes", [p["probability"] for p in predictions])
    auc = page.get_by_test_id("stMetric").filter(has_text="ROC AUC")
    expect(auc).to_contain_text(f"{expected:.3f}", timeout=30_000)
    expect(auc).to_contain_text("vs test")
    assert page.locator('[data-testid="stException"]').count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "model-performance-live.png"), full_page=True)
