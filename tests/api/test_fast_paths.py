"""The fast paths of issue 17 against the ones they replace: the JSON parser (msgspec, then
the standard library only to word a refusal) and a batch scored column by column, over
the real app: the same answers, the same refusals, the same rows logged."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.api.common import ApiError, _strict_parse, parse_json
from lib.model.inference import score_batch
from lib.monitoring.ids import parse_id
from lib.monitoring.log import prediction_log
from tests.helpers import strict

JSON = {"content-type": "application/json"}

scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False) | st.text(max_size=6)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


def outcome(parse, raw: bytes):
    try:
        return "ok", parse(raw)
    except ApiError as exc:
        return "refused", exc.status, exc.message


@settings(max_examples=400, deadline=None)
@given(document=documents, twist=st.sampled_from(["", "repeat", "colon", "nan", "big", "deep", "bom", "cut"]))
def test_the_fast_parser_accepts_and_refuses_exactly_what_the_strict_one_does(document, twist):
    text = json.dumps(document)
    if twist == "repeat" and text.startswith("{") and len(text) > 2:
        key = json.dumps(next(iter(document)))
        text = "{" + key + ": 1, " + text[1:]  # the first key twice
    elif twist == "colon":
        text = json.dumps({"a:b": document, "c": "d:e"})
    elif twist == "nan":
        text = text.replace("0", "NaN", 1) if "0" in text else "[NaN]"
    elif twist == "big":
        text = f"[{text}, 1e400, {'9' * 400}]"
    elif twist == "deep":
        text = "[" * 5000 + "]" * 5000
    elif twist == "bom":
        text = "\ufeff" + text
    elif twist == "cut":
        text = text[: len(text) // 2]
    raw = text.encode()
    assert outcome(parse_json, raw) == outcome(_strict_parse, raw)


@pytest.fixture
def batch(telco_model):
    """A plain batch over 32 KB (the size from which /predict takes the batch path)."""
    base = {spec.name: spec.default for spec in telco_model.schema.features}
    text = next(spec.name for spec in telco_model.schema.features if not spec.is_numeric)
    numeric = next(spec.name for spec in telco_model.schema.features if spec.is_numeric)
    low, high = telco_model.schema.features[[s.name for s in telco_model.schema.features].index(numeric)].training_range
    records = [{**base, numeric: low + (high - low) * i / 400} for i in range(400)]
    records[7] = {**records[7], text: "never seen"}  # a warning
    records[9] = {**records[9], numeric: None}  # imputed or refused, as the schema says
    records[11] = {**records[11], "customerID": "0001-ABCD"}  # an id column: no warning
    return records


def test_a_big_batch_answers_what_the_record_path_answers_and_logs_it(api, registry_copy, telco_model, batch):
    batch = [r for r in batch if None not in r.values()]
    response = api(registry_copy).post("/predict", content=json.dumps({"records": batch}), headers=JSON)
    body = strict(response)
    expected = [p.to_dict() for p in score_batch(batch, telco_model, explain=True).predictions()]
    assert body["count"] == len(batch) == len(body["predictions"])
    ids = [parse_id(p["prediction_id"]) for p in body["predictions"]]
    for mine, theirs in zip(body["predictions"], json.loads(json.dumps(expected)), strict=True):
        assert abs(mine.pop("probability") - theirs.pop("probability")) <= 1e-9
        mine_reasons, their_reasons = mine.pop("reasons"), theirs.pop("reasons")
        assert [r["feature"] for r in mine_reasons] == [r["feature"] for r in their_reasons]
        mine.pop("latency_ms"), theirs.pop("latency_ms")
        assert mine.pop("prediction_id") and theirs.pop("prediction_id") == ""
        assert mine == theirs
    assert any(w["code"] == "unseen_category" for w in body["predictions"][7]["warnings"])
    log = prediction_log()
    log.flush()
    assert log.totals().get("api") == len(batch)
    scores = dict(log.store._read("SELECT prediction_id, entity FROM scores"))
    assert sorted(scores) == sorted(ids) == sorted(set(ids))  # every prediction kept for its outcome
    with_id = next(i for i, record in enumerate(batch) if "customerID" in record)
    assert scores[ids[with_id]] == "0001-ABCD" and list(scores.values()).count(None) == len(batch) - 1
    features = [json.loads(row[0]) for row in log.store._read("SELECT features FROM predictions")]
    assert sum(1 for f in features if "never seen" in f.values()) == 1  # the category as it was sent


def test_a_big_batch_with_bad_records_is_refused_with_the_record_paths_details(api, registry_copy, batch):
    spoiled = [dict(r) for r in batch]
    name = next(iter(spoiled[0]))
    spoiled[3][name] = "x" * 300  # too long
    spoiled[5][name] = None
    client = api(registry_copy)
    response = client.post("/predict", content=json.dumps({"records": spoiled}), headers=JSON)
    assert response.status_code == 422
    # The general path words the same refusal: the same batch with an ignored field added.
    general = [{**r, "ignored": 1} for r in spoiled]
    reference = client.post("/predict", content=json.dumps({"records": general}), headers=JSON)
    assert reference.status_code == 422
    assert response.json() == reference.json()
    assert prediction_log().totals().get("api", 0) == 0
