"""Many threads predicting at once through the form's, the batch page's and the API's
code paths: the prediction log loses no row and no count."""

import io
import json
import threading

import pandas as pd

from lib.batch.upload import score_uploaded_file
from lib.model_loader import get_model
from lib.monitoring.log import prediction_log
from lib.serving.scoring import score_and_log

FORM_THREADS, FORM_EACH = 4, 150
BATCH_THREADS, BATCH_EACH, BATCH_ROWS = 2, 5, 40
API_THREADS, API_EACH = 4, 50


def test_threads_on_every_path_lose_nothing(api, registry_copy, customer, monitoring_db):
    client = api(registry_copy)
    assert client.get("/health/live").status_code == 200  # starts the runtime once, before the threads
    model = get_model()
    csv = io.BytesIO()
    rows = [{**customer, "tenure": float(i % 70)} for i in range(BATCH_ROWS)]
    rows[0] = {**rows[0], "MonthlyCharges": -5.0}  # one refused row per upload
    pd.DataFrame(rows).to_csv(csv, index=False)
    upload = csv.getvalue()
    body = json.dumps({"record": {**customer, "Contract": "Two year"}})
    statuses: list[int] = []
    failures: list[BaseException] = []

    def form() -> None:
        for _ in range(FORM_EACH):
            score_and_log({**customer, "Contract": "One year"}, model, "ui")

    def batch() -> None:
        for _ in range(BATCH_EACH):
            score_uploaded_file(memoryview(upload), "upload.csv", f"session-{threading.get_ident()}", model)

    def call_api() -> None:
        for _ in range(API_EACH):
            statuses.append(
                client.post("/predict", content=body, headers={"content-type": "application/json"}).status_code
            )

    def guarded(work):
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced below: a thread's failure must fail the test
                failures.append(exc)

        return run

    threads = [threading.Thread(target=guarded(form)) for _ in range(FORM_THREADS)]
    threads += [threading.Thread(target=guarded(batch)) for _ in range(BATCH_THREADS)]
    threads += [threading.Thread(target=guarded(call_api)) for _ in range(API_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert statuses == [200] * (API_THREADS * API_EACH)
    log = prediction_log()
    log.flush()

    form_n = FORM_THREADS * FORM_EACH
    batch_ok = BATCH_THREADS * BATCH_EACH * (BATCH_ROWS - 1)
    batch_refused = BATCH_THREADS * BATCH_EACH
    api_n = API_THREADS * API_EACH
    assert log.totals() == {"ui": form_n, "batch": batch_ok, "api": api_n}
    system = log.system("5m")
    assert system["requests"] == form_n + batch_ok + batch_refused + api_n
    assert system["errors"] == batch_refused
    assert log.store.raw_count() == system["requests"]
    contract = log.drift(model, "1h")["features"]["Contract"]
    counts = dict(zip(contract["bins"], contract["recent_counts"], strict=True))
    assert (counts["One year"], counts["Two year"]) == (form_n, api_n)
    assert contract["recent_rows"] == form_n + batch_ok + api_n
    assert log.status()["dropped_rows"] == 0 and log.status()["pending_rows"] == 0
    assert strict_kpis(client)["predictions_made"] == {"ui": form_n, "batch": batch_ok, "api": api_n}


def strict_kpis(client) -> dict:
    return json.loads(client.get("/metrics/kpis").text)
