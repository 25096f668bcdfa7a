"""The outcome loop end to end on a real server (issue 18), on a dataset other than Telco:
2,000 test-split records scored through the API, their true outcomes sent half as JSON
(by prediction id) and half as CSV (by the dataset's id column), the realised figures
equal to scikit-learn's on the same rows; then a shifted population (one segment's
outcomes flipped) makes the decay alert fire once: /health says why, the webhook
receiver gets one call, Prometheus shows the realised figures."""

import json
import urllib.request

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from lib.training.config import load_config
from lib.training.data import load_dataset, split_rows
from lib.training.pipeline import train
from tests.conftest import write_synthetic_dataset
from tests.helpers import WebhookReceiver, wait_for
from tests.servers import launch

TOKEN = "loop-token"


def call(url: str, body: bytes | None = None, content_type: str = "application/json") -> dict:
    headers = {"content-type": content_type, "authorization": f"Bearer {TOKEN}"}
    request = urllib.request.Request(url, body, headers, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def scored(url: str, records: list[dict]) -> tuple[list[str], np.ndarray]:
    answer = call(f"{url}/predict", json.dumps({"records": records}).encode())
    return [p["prediction_id"] for p in answer["predictions"]], np.array(
        [p["probability"] for p in answer["predictions"]]
    )


def written(url: str) -> bool:
    return call(f"{url}/health")["checks"]["store"]["pending_rows"] == 0


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """5,000 accounts (a test split of 2,000) and a model trained on them."""
    folder = tmp_path_factory.mktemp("loop")
    config_path = write_synthetic_dataset(folder, rows=5_000, seed=21)
    config_path.write_text(config_path.read_text().replace("cv_folds = 3", "cv_folds = 2\ntest_fraction = 0.4"))
    config = load_config(config_path)
    train(config, folder / "registry", log=lambda _line: None)
    dataset = load_dataset(config)
    test = split_rows(dataset.target, config).test
    raw = pd.read_csv(config.csv_path, sep=";", dtype=str, keep_default_na=False)
    return config_path, folder / "registry", raw.iloc[test].reset_index(drop=True)


def records_of(rows: pd.DataFrame) -> list[dict]:
    def number(text: str) -> float | None:
        return float(text) if text.strip() else None

    return [
        {"account_no": r.account_no, "age": number(r.age), "plan": r.plan, "balance": number(r.balance),
         "region": r.region}
        for r in rows.itertuples()
    ]  # fmt: skip


def test_outcomes_give_scikit_learns_figures_then_a_shift_fires_one_alert(accounts, tmp_path):
    config_path, registry, test_rows = accounts
    assert len(test_rows) == 2000
    receiver = WebhookReceiver()
    server = launch(tmp_path, MODEL_URI=str(registry), DATA_CONFIG=str(config_path), ADMIN_TOKEN=TOKEN,
                    ALERT_WEBHOOK_URL=receiver.url, DECAY_CHECK_S="3600")  # fmt: skip
    try:
        ids, probability = scored(server.url, records_of(test_rows))
        wait_for(lambda: written(server.url), timeout=30)
        truth = test_rows["status"].to_numpy()
        half = 1000
        by_id = [
            {"prediction_id": pid, "outcome": outcome} for pid, outcome in zip(ids[:half], truth[:half], strict=True)
        ]
        first = call(f"{server.url}/outcomes", json.dumps(by_id).encode())
        lines = [f"{r.account_no},{r.status}" for r in test_rows.iloc[half:].itertuples()]
        csv = ("account_no,outcome\n" + "\n".join(lines) + "\n").encode()
        second = call(f"{server.url}/outcomes", csv, "text/csv")
        assert (first["new"], second["new"], first["refused"] + second["refused"]) == (1000, 1000, 0)

        live = call(f"{server.url}/metrics/model?source=live&window=7d")
        y = (truth == "gone").astype(int)
        threshold = live["threshold"]
        flagged = probability >= threshold
        expected = {
            "roc_auc": roc_auc_score(y, probability),
            "pr_auc": average_precision_score(y, probability),
            "brier": brier_score_loss(y, probability),
            "accuracy": accuracy_score(y, flagged),
            "precision": precision_score(y, flagged),
            "recall": recall_score(y, flagged),
            "f1": f1_score(y, flagged),
        }
        assert live["coverage"] == {"labelled": 2000, "predictions": 2000, "share": 1.0}
        assert live["computed_from"] == "rows" and live["withheld"] is None
        assert {name: live["metrics"][name]["value"] for name in expected} == pytest.approx(expected, abs=1e-12)
        low, high = live["metrics"]["roc_auc"]["low"], live["metrics"]["roc_auc"]["high"]
        assert low < expected["roc_auc"] < high
        assert live["metrics"]["roc_auc"]["value"] == pytest.approx(live["test"]["roc_auc"], abs=1e-9)  # same rows
        wait_for(lambda: call(f"{server.url}/health")["checks"]["performance"]["state"] == "ok", timeout=30)

        basic = test_rows["plan"].to_numpy() == "basic"  # a shifted population: this segment now does the opposite
        shifted_truth = np.where(basic, np.where(truth == "gone", "stayed", "gone"), truth)
        new_ids, _ = scored(server.url, records_of(test_rows))
        wait_for(lambda: written(server.url), timeout=30)
        rows = [{"prediction_id": pid, "outcome": outcome} for pid, outcome in zip(new_ids, shifted_truth, strict=True)]
        assert call(f"{server.url}/outcomes", json.dumps(rows).encode())["new"] == 2000

        health = wait_for(lambda: (h := call(f"{server.url}/health"))["status"] == "degraded" and h, timeout=30)
        assert (
            "model performance: realised roc_auc" in health["reason"] and "below the test split's" in health["reason"]
        )
        wait_for(lambda: len(receiver.calls) == 1, timeout=30)
        call(f"{server.url}/outcomes", json.dumps(rows[:10]).encode())  # the same again: no new transition
        wait_for(lambda: call(f"{server.url}/health")["checks"]["performance"]["labelled"] == 4000, timeout=30)
        (alert,) = receiver.calls
        assert (alert["event"], alert["state"], alert["metric"]) == ("model_degraded", "degraded", "roc_auc")
        assert alert["live"] < alert["test"] - alert["tolerance"] and alert["labelled"] == 4000

        def scraped() -> str | None:
            with urllib.request.urlopen(f"{server.url}/metrics/prometheus", timeout=10) as response:
                text = response.read().decode()
            return text if "live_labelled_predictions 4000" in text else None  # once the refresher has run

        text = wait_for(scraped, timeout=30)
        assert 'prediction_dashboard_live_metric{metric="roc_auc"}' in text
    finally:
        server.stop()
        receiver.close()
