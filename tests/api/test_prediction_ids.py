"""Every prediction has an id (issue 18): POST /predict returns one per record, on the
single, the record-by-record and the columnar path; each is logged with the prediction,
with the dataset's id columns when the request carried them, even for batch rows the
raw-row rule does not keep. On two dataset configs."""

import json

from lib.monitoring.ids import parse_id
from lib.monitoring.log import prediction_log
from tests.helpers import strict

JSON = {"content-type": "application/json"}


def logged_scores() -> dict[int, tuple[str | None, float]]:
    log = prediction_log()
    log.flush()
    return {
        pid: (entity, p) for pid, entity, p in log.store._read("SELECT prediction_id, entity, probability FROM scores")
    }


def test_a_single_record_and_a_small_batch_get_ids_logged_with_their_entities(api, registry_copy, telco_model):
    client = api(registry_copy)
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    one = strict(client.post("/predict", content=json.dumps({"record": {**record, "customerID": "C-1"}}), headers=JSON))
    many = strict(
        client.post(
            "/predict", content=json.dumps({"records": [record, {**record, "customerID": "C-2"}]}), headers=JSON
        )
    )
    ids = [parse_id(p["prediction_id"]) for p in [one["prediction"], *many["predictions"]]]
    assert None not in ids and len(set(ids)) == 3 and ids == sorted(ids)  # handed out in time order
    scores = logged_scores()
    assert [scores[i][0] for i in ids] == ["C-1", None, "C-2"]
    assert scores[ids[0]][1] == one["prediction"]["probability"]
    raw = prediction_log().store._read("SELECT prediction_id, entity FROM predictions WHERE outcome = 'ok'")
    assert sorted(raw, key=lambda row: row[0]) == [(ids[0], "C-1"), (ids[1], None), (ids[2], "C-2")]


def test_a_big_batch_keeps_every_id_even_for_rows_not_kept_raw(api, registry_copy, telco_model, env):
    env.set("LOG_BATCH_RAW_ROWS", "10")
    record = {spec.name: spec.default for spec in telco_model.schema.features}
    records = [{**record, "customerID": f"K{i:04d}"} for i in range(500)]  # over 32 KB: the columnar path
    body = strict(api(registry_copy).post("/predict", content=json.dumps({"records": records}), headers=JSON))
    ids = [parse_id(p["prediction_id"]) for p in body["predictions"]]
    scores = logged_scores()
    assert [scores[i][0] for i in ids] == [f"K{i:04d}" for i in range(500)]
    assert prediction_log().store.raw_count() == 10  # the raw rows the rule keeps; every id is in the scores


def test_another_dataset_logs_its_own_id_column(api, synthetic_registry):
    from lib.model_loader import load_model

    schema = load_model(str(synthetic_registry)).schema
    record = {spec.name: spec.default for spec in schema.features}
    body = strict(
        api(synthetic_registry).post(
            "/predict", content=json.dumps({"record": {**record, "account_no": "A00042"}}), headers=JSON
        )
    )
    assert logged_scores()[parse_id(body["prediction"]["prediction_id"])][0] == "A00042"
