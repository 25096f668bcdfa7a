"""POST /outcomes (issue 18): real outcomes as JSON or CSV, each matched to its
prediction by id or by entity, recorded once, corrected when changed; every refused row
listed with why; bounded like every other input, and an admin action."""

import json

from lib.monitoring.log import prediction_log
from tests.helpers import strict

TOKEN = "s3cret-token"
JSON = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
CSV = {"content-type": "text/csv", "authorization": f"Bearer {TOKEN}"}


def predict(client, record) -> str:
    return strict(client.post("/predict", content=json.dumps({"record": record}), headers=JSON))["prediction"][
        "prediction_id"
    ]


def test_outcomes_as_json_then_csv_are_matched_counted_once_and_corrected(api, registry_copy, telco_model):
    client = api(registry_copy, ADMIN_TOKEN=TOKEN)
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    first = predict(client, record)
    predict(client, {**record, "customerID": "C-9"})
    prediction_log().flush()  # the scores outcomes are matched to
    rows = [
        {"prediction_id": first, "outcome": "Yes"},
        {"customerID": "C-9", "outcome": "No"},
        {"customerID": "C-404", "outcome": "No"},
        {"prediction_id": first, "outcome": "perhaps"},
    ]
    response = client.post("/outcomes", content=json.dumps(rows), headers=JSON)
    report = strict(response)
    assert response.status_code == 200, report
    assert {key: report[key] for key in ("received", "recorded", "new", "unchanged", "corrected", "refused")} == {
        "received": 4, "recorded": 2, "new": 2, "unchanged": 0, "corrected": 0, "refused": 2
    }  # fmt: skip
    assert [(r["row"], r["code"]) for r in report["refused_rows"]] == [(2, "no_prediction"), (3, "bad_outcome")]
    csv = f"prediction_id,customerID,outcome\n{first},,Yes\n,C-9,Yes\n".encode()
    again = strict(client.post("/outcomes", content=csv, headers=CSV))
    assert (again["unchanged"], again["corrected"], again["refused"]) == (1, 1, 0)
    outcomes = prediction_log().store._read("SELECT outcome, corrections FROM outcomes ORDER BY prediction_id")
    assert outcomes == [(1, 0), (1, 1)]


def test_outcomes_are_bounded_and_refused_in_json(api, registry_copy, env):
    env.set("MAX_OUTCOMES", "2")
    client = api(registry_copy, ADMIN_TOKEN=TOKEN)
    too_many = client.post("/outcomes", content=json.dumps([{"outcome": "Yes"}] * 3), headers=JSON)
    assert too_many.status_code == 422 and "MAX_OUTCOMES" in strict(too_many)["error"]
    not_a_list = client.post("/outcomes", content=json.dumps({"outcome": "Yes"}), headers=JSON)
    assert not_a_list.status_code == 422 and "JSON list" in strict(not_a_list)["error"]
    malformed = client.post("/outcomes", content=b'[{"outcome": NaN}]', headers=JSON)
    assert malformed.status_code == 400 and "malformed JSON" in strict(malformed)["error"]
    wrong_type = client.post("/outcomes", content=b"outcome=Yes", headers={**JSON, "content-type": "text/plain"})
    assert wrong_type.status_code == 415
    long_csv = client.post("/outcomes", content=b"outcome\nYes\nNo\nYes\n", headers=CSV)
    assert long_csv.status_code == 422 and "at most 2" in strict(long_csv)["error"]
    unreadable = client.post("/outcomes", content=b"\xff\xfe", headers=CSV)
    assert unreadable.status_code == 422 and "cannot be read" in strict(unreadable)["error"]
    assert client.get("/outcomes").status_code == 405


def test_outcomes_need_the_admin_token(api, registry_copy):
    client = api(registry_copy, ADMIN_TOKEN=TOKEN)
    refused = client.post("/outcomes", content=b"[]", headers={"content-type": "application/json"})
    assert refused.status_code == 401
    allowed = client.post("/outcomes", content=b"[]", headers=JSON)
    assert allowed.status_code == 200 and strict(allowed)["received"] == 0


def test_live_metrics_follow_the_outcomes_and_check_their_parameters(api, registry_copy, telco_model):
    client = api(registry_copy, ADMIN_TOKEN=TOKEN)
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    ids = [predict(client, {**record, "tenure": tenure}) for tenure in (1, 30)]
    prediction_log().flush()
    before = strict(client.get("/metrics/model?source=live"))
    assert before["coverage"] == {"labelled": 0, "predictions": 2, "share": 0.0}
    strict(client.post("/outcomes", content=json.dumps([{"prediction_id": ids[0], "outcome": "Yes"}]), headers=JSON))
    live = strict(client.get("/metrics/model?source=live&window=7d"))
    assert (live["scope"], live["window"], live["version"]) == ("live", "7d", telco_model.version)
    assert live["coverage"] == {"labelled": 1, "predictions": 2, "share": 0.5}
    assert live["withheld"] == "1 labelled prediction; at least 100 are needed" and live["metrics"] == {}
    assert live["test"]["roc_auc"] == strict(client.get("/metrics/model"))["roc_auc"]
    assert [point["labelled"] for point in live["series"]][-1] == 1
    wrong_source = client.get("/metrics/model?source=yesterday")
    assert wrong_source.status_code == 422 and "test or live" in strict(wrong_source)["error"]
    wrong_window = client.get("/metrics/model?source=live&window=5m")
    assert wrong_window.status_code == 422 and "7d, 30d, 90d" in strict(wrong_window)["error"]


def test_the_metrics_of_another_registry_version_can_be_asked_for(api, registry_copy):
    from tests.helpers import clone_version

    client = api(registry_copy, ADMIN_TOKEN=TOKEN)
    served = strict(client.get("/models"))["served"]
    clone_version(registry_copy, served, "before-1")
    test = strict(client.get("/metrics/model?version=before-1"))
    assert test["version"] == "before-1" and test["scope"] == "test split"
    live = strict(client.get("/metrics/model?source=live&version=before-1"))
    assert live["version"] == "before-1" and live["coverage"]["labelled"] == 0
    unknown = client.get("/metrics/model?source=live&version=never-9")
    assert unknown.status_code == 404 and "no version 'never-9'" in strict(unknown)["error"]
    climbing = client.get("/metrics/model?version=..%2Fetc")
    assert climbing.status_code == 422 and "is not a version name" in strict(climbing)["error"]
