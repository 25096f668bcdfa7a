"""Retraining on the bundled data + recorded outcomes (issue 18), on a dataset other than
Telco: after the population's relationship shifted (the outcome now goes the other way),
the outcomes recorded through the API become training rows, the newest are held out and
both models judged on them, and the retrained model wins: on that slice, then live, with
the old version in shadow scoring the same new requests."""

import json
import shutil

import numpy as np
import pytest

from lib.model_loader import loaded_model, refresh_model
from lib.monitoring.log import prediction_log
from lib.serving import shadow as shadow_module
from lib.serving.shadow import shadow
from tests.helpers import strict, wait_for, wait_for_job

TOKEN = "outcome-token"
ADMIN = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


def shifted_population(rows: int, seed: int, prefix: str) -> tuple[list[dict], list[str]]:
    """Accounts like the bundled ones, whose outcome now follows the opposite rule."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    balance = rng.normal(2000, 800, rows).round(2)
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = -(-1.0 + 0.08 * (50 - age) + np.where(plan == "basic", 1.5, -1.0) - balance / 2000)
    gone = rng.random(rows) < 1 / (1 + np.exp(-logit))
    records = [
        {"account_no": f"{prefix}{i:05d}", "age": int(age[i]), "plan": str(plan[i]), "balance": float(balance[i]),
         "region": str(region[i])}
        for i in range(rows)
    ]  # fmt: skip
    return records, ["gone" if g else "stayed" for g in gone]


def scored_with_outcomes(client, records: list[dict], truth: list[str]) -> list[str]:
    answer = strict(client.post("/predict", content=json.dumps({"records": records}), headers=ADMIN))
    ids = [p["prediction_id"] for p in answer["predictions"]]
    prediction_log().flush()
    rows = [{"prediction_id": pid, "outcome": outcome} for pid, outcome in zip(ids, truth, strict=True)]
    assert strict(client.post("/outcomes", content=json.dumps(rows), headers=ADMIN))["new"] == len(rows)
    return ids


@pytest.mark.timeout(300)
def test_a_model_retrained_on_shifted_outcomes_wins_on_the_newest_and_live(
    api, synthetic_registry, synthetic_config, tmp_path, env, monkeypatch
):
    registry = tmp_path / "registry"
    shutil.copytree(synthetic_registry, registry)
    shutil.copytree(synthetic_config.parent, tmp_path / "data")
    config = tmp_path / "data" / synthetic_config.name
    config.write_text(config.read_text().replace("cv_folds = 3", "cv_folds = 2"))  # a quicker retrain
    env.set("DATA_CONFIG", str(config))
    env.set("LOG_BATCH_RAW_ROWS", "100000")  # every scored row keeps its features
    client = api(registry, ADMIN_TOKEN=TOKEN)
    old = strict(client.get("/models"))["served"]
    records, truth = shifted_population(2000, seed=1, prefix="S")
    scored_with_outcomes(client, records, truth)

    nothing = client.post("/train", content=b'{"data": "elsewhere"}', headers=ADMIN)
    assert nothing.status_code == 422 and "bundled+outcomes" in strict(nothing)["error"]
    started = client.post("/train", content=b'{"data": "bundled+outcomes"}', headers=ADMIN)
    assert started.status_code == 202, started.text
    job = wait_for_job(client, strict(started)["job"]["id"], ADMIN, timeout=240)
    assert job["status"] == "succeeded", job.get("error")
    assert job["data_name"] == "bundled dataset + recorded outcomes (1,600 outcomes, 400 held out)"
    result = job["result"]
    new = result["version"]
    metadata = json.loads((registry / new / "metadata.json").read_text())
    assert metadata["dataset"]["rows_read"] == 1500 + 1600  # the bundled rows and the outcomes
    fresh = result["holdout_comparison"]
    assert fresh["comparable"] and fresh["rows"] == 400
    assert fresh["challenger"]["roc_auc"] > fresh["champion"]["roc_auc"] + 0.2  # it learnt the new rule
    assert result["promoted"] and "on the newest recorded outcomes, promoted automatically" in result["reason"]

    # Live: the old version in shadow scores the same new requests as the retrained one.
    monkeypatch.setattr(shadow_module, "FLUSH_S", 0.05)
    assert strict(client.get("/models"))["served"] == new
    assert refresh_model().version == new  # what this process notices within seconds of the job's switch
    shadow.start(loaded_model)
    strict(client.post(f"/models/{old}/shadow", headers=ADMIN))
    later, later_truth = shifted_population(400, seed=2, prefix="L")
    answer = strict(client.post("/predict", content=json.dumps({"records": later}), headers=ADMIN))
    ids = [p["prediction_id"] for p in answer["predictions"]]
    wait_for(lambda: prediction_log().store.shadow_scored(old) >= 400, timeout=30)
    prediction_log().flush()
    rows = [{"prediction_id": pid, "outcome": outcome} for pid, outcome in zip(ids, later_truth, strict=True)]
    strict(client.post("/outcomes", content=json.dumps(rows), headers=ADMIN))
    comparison = strict(client.get("/models/shadow"))["comparison"]
    assert comparison["rows"] == 400
    retrained, shadowed = comparison["champion"], comparison["challenger"]
    assert (retrained["version"], shadowed["version"]) == (new, old)
    assert retrained["metrics"]["roc_auc"]["value"] > shadowed["metrics"]["roc_auc"]["value"] + 0.2
