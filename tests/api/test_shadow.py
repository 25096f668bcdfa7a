"""A challenger in shadow (issue 18): put in shadow by the API (admin), it scores what the
served model scores off the request path, its probabilities are kept under its version
next to the served predictions, and once outcomes arrive GET /models/shadow compares the
two on the same rows; promotion can require the challenger to win that comparison."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lib.model_loader import loaded_model
from lib.monitoring.ids import parse_id
from lib.monitoring.log import prediction_log
from lib.serving import shadow as shadow_module
from lib.serving.shadow import MAX_QUEUED_ROWS, ShadowScorer, shadow
from tests.helpers import clone_version, strict, wait_for

TOKEN = "shadow-token"
ADMIN = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


def shadow_rows() -> dict[int, tuple[str, float]]:
    rows = prediction_log().store._read("SELECT prediction_id, version, probability FROM shadow_scores")
    return {pid: (version, p) for pid, version, p in rows}


def test_a_challenger_in_shadow_scores_the_same_requests_and_is_compared_live(
    api, registry_copy, telco_model, monkeypatch
):
    monkeypatch.setattr(shadow_module, "FLUSH_S", 0.05)
    client = api(registry_copy, ADMIN_TOKEN=TOKEN)
    served = strict(client.get("/models"))["served"]
    clone_version(registry_copy, served, "challenger-1")
    assert client.post("/models/challenger-1/shadow", headers={"content-type": "application/json"}).status_code == 401
    assert client.post("/models/nope-9/shadow", headers=ADMIN).status_code == 404
    assert client.post(f"/models/{served}/shadow", headers=ADMIN).status_code == 409
    shadow.start(loaded_model)
    started = strict(client.post("/models/challenger-1/shadow", headers=ADMIN))
    assert started["shadow"]["version"] == "challenger-1" and shadow.version == "challenger-1"

    rng = np.random.default_rng(5)
    base = {spec.name: spec.default for spec in telco_model.schema.features}
    records = [{**base, "tenure": int(t), "MonthlyCharges": float(m)}
               for t, m in zip(rng.integers(0, 72, 160), rng.uniform(20, 110, 160), strict=True)]  # fmt: skip
    answer = strict(client.post("/predict", content=json.dumps({"records": records}), headers=ADMIN))
    one = strict(client.post("/predict", content=json.dumps({"record": records[0]}), headers=ADMIN))
    ids = [p["prediction_id"] for p in answer["predictions"]] + [one["prediction"]["prediction_id"]]
    wait_for(lambda: len(shadow_rows()) == 161, timeout=15)
    kept = shadow_rows()
    served_p = [p["probability"] for p in answer["predictions"]] + [one["prediction"]["probability"]]
    for text, probability in zip(ids, served_p, strict=True):
        version, shadowed = kept[parse_id(text)]
        assert version == "challenger-1" and shadowed == pytest.approx(probability, abs=1e-12)  # the same bundle

    prediction_log().flush()
    y = (rng.random(160) < np.array(served_p[:160])).astype(int)
    rows = [{"prediction_id": pid, "outcome": int(outcome)} for pid, outcome in zip(ids, y, strict=False)]
    strict(client.post("/outcomes", content=json.dumps(rows), headers=ADMIN))
    report = strict(client.get("/models/shadow"))
    comparison = report["comparison"]
    assert comparison["rows"] == 160 and comparison["challenger_scored"] == 161
    expected = roc_auc_score(y, served_p[:160])
    assert comparison["champion"]["metrics"]["roc_auc"]["value"] == pytest.approx(expected, abs=1e-12)
    assert comparison["challenger"]["metrics"]["roc_auc"]["value"] == pytest.approx(expected, abs=1e-12)
    assert report["here"]["version"] == "challenger-1" and report["here"]["dropped"] == 0

    unknown_gate = client.post("/models/challenger-1/promote", content=b'{"gate": "sometimes"}', headers=ADMIN)
    assert unknown_gate.status_code == 422 and 'gate must be "live"' in strict(unknown_gate)["error"]
    clone_version(registry_copy, served, "other-2")
    refused = client.post("/models/other-2/promote", content=b'{"gate": "live"}', headers=ADMIN)
    assert refused.status_code == 409 and "not in shadow" in strict(refused)["error"]
    promoted = client.post("/models/challenger-1/promote", content=b'{"gate": "live"}', headers=ADMIN)
    assert promoted.status_code == 200, promoted.text  # as good live as the served one: promoted
    assert strict(promoted)["served_here"] == "challenger-1"

    stopped = strict(client.delete("/models/shadow", headers=ADMIN))
    assert stopped["shadow"] is None and shadow.version is None


def test_the_request_path_never_waits_for_the_shadow_queue():
    scorer = ShadowScorer()
    scorer.version = "v2"  # as if the thread had loaded a challenger
    scorer.offer([{}] * (MAX_QUEUED_ROWS - 10), np.arange(MAX_QUEUED_ROWS - 10))
    scorer.offer([{}] * 20, np.arange(20))  # beyond the bound: dropped and counted
    assert scorer.status()["queued"] == MAX_QUEUED_ROWS - 10 and scorer.dropped == 20
    scorer.version = None
    scorer.offer([{}], np.arange(1))  # no challenger: nothing kept
    assert scorer.status()["queued"] == MAX_QUEUED_ROWS - 10
