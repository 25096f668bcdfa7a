"""The column-wise path of a JSON batch (issue 17) against the record-by-record one: on
generated batches, valid and invalid, for every model family and dataset config, the same
errors, warnings, probabilities (within 1e-9), reasons and answer."""

import json
import random
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.api.batch_body import Reason as ReasonStruct
from lib.api.batch_body import answer_rows, decode_batch
from lib.model.inference import score_batch, score_json_columns
from lib.model.loaded import LoadedModel
from lib.model_loader import load_model

REGISTRIES = ["telco", "campaign_registry", "tree_registry", "synthetic_registry", "opportunity_registry"]


@pytest.fixture(scope="module", params=REGISTRIES)
def model(request, telco_training) -> LoadedModel:
    if request.param == "telco":
        return load_model(str(telco_training[0]))
    registry: Path = request.getfixturevalue(request.param)
    return load_model(str(registry))


def usual_value(spec, rng: random.Random):
    if spec.is_numeric:
        low, high = spec.training_range
        value = rng.uniform(low, high)
        return float(round(value)) if spec.dtype == "int64" else round(value, 2)
    return rng.choice(spec.categories)


def unusual_value(spec, rng: random.Random):
    """Something a column check flags: still valid (a warning) or not (an error)."""
    if spec.is_numeric:
        low, high = spec.training_range
        choices = [None, high + 1 + rng.random() * 10, low - 5, 1e16, -1e16, int(high) + 3]
        if spec.dtype == "int64":
            choices.append(low + 0.5)
        choices += list(spec.special_values)
        return rng.choice(choices)
    return rng.choice([None, "never seen", "x" * 300, spec.categories[0] + " ", ""])


def generated_batch(model: LoadedModel, seed: int, rows: int, unusual_share: float) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for _ in range(rows):
        record = {}
        for spec in model.schema.features:
            odd = rng.random() < unusual_share
            record[spec.name] = unusual_value(spec, rng) if odd else usual_value(spec, rng)
        for name in model.schema.id_columns:
            if rng.random() < 0.3:
                record[name] = f"id-{rng.randrange(10**6)}"
        records.append(record)
    return records


def assert_same_scoring(model: LoadedModel, records: list[dict], explain: bool) -> None:
    raw = json.dumps({"records": records}).encode()
    batch = decode_batch(raw, model.schema, 10_000)
    assert batch is not None, "a plain batch must take the column-wise path"
    expected = score_batch(json.loads(raw)["records"], model, explain=explain)
    got = score_json_columns(batch, model, explain=explain)
    assert [e.to_dict() for e in got.errors] == [e.to_dict() for e in expected.errors]
    assert got.warnings == expected.warnings
    assert got.table.index.tolist() == expected.table.index.tolist()
    np.testing.assert_allclose(got.table["probability"], expected.table["probability"], rtol=0, atol=1e-9)
    want = [p.to_dict() for p in expected.predictions()]
    for mine, theirs in zip(got.prediction_rows(), want, strict=True):
        assert_same_answer(mine, theirs)
    # What the API writes: structs, encoded as the same JSON objects.
    got_structs = score_json_columns(batch, model, explain=explain, make_reason=ReasonStruct)
    written = msgspec.json.decode(msgspec.json.encode(answer_rows(got_structs)))
    for mine, theirs in zip(written, json.loads(json.dumps(want)), strict=True):
        assert_same_answer(mine, theirs)


def assert_same_answer(mine: dict, theirs: dict) -> None:
    assert mine.keys() == theirs.keys()
    for field in mine.keys() - {"probability", "reasons", "latency_ms"}:
        assert mine[field] == theirs[field], field
    assert abs(mine["probability"] - theirs["probability"]) <= 1e-9
    assert [(r["feature"], r["value"], r["reference"], r["direction"]) for r in mine["reasons"]] == [
        (r["feature"], r["value"], r["reference"], r["direction"]) for r in theirs["reasons"]
    ]
    for a, b in zip(mine["reasons"], theirs["reasons"], strict=True):
        assert abs(a["contribution"] - b["contribution"]) <= 1e-9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 80), unusual=st.sampled_from([0.0, 0.02, 0.2, 0.6]))
def test_generated_batches_score_the_same_column_wise(model, seed, rows, unusual):
    records = generated_batch(model, seed, rows, unusual)
    assert_same_scoring(model, records, explain=True)
    assert_same_scoring(model, records, explain=False)


def test_a_large_valid_batch_scores_the_same(model):
    assert_same_scoring(model, generated_batch(model, 1, 3000, 0.0), explain=True)


def test_a_batch_of_bad_records_lists_the_same_errors(model):
    records = generated_batch(model, 2, 400, 0.5)
    expected = score_batch(records, model)
    assert expected.errors and expected.warnings  # the generator does produce both
    assert_same_scoring(model, records, explain=True)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r, s: r.pop(s.features[0].name),  # a feature missing
        lambda r, s: r.update({"not a feature": 1}),  # an extra field: warned about
        lambda r, s: r.update({s.features[0].name: True}),  # a boolean
        lambda r, s: r.update({s.features[0].name: {"nested": 1}}),  # an object
        lambda r, s: r.update({s.features[0].name: "12" if s.features[0].is_numeric else 12}),  # wrong type
    ],
    ids=["missing", "extra", "boolean", "object", "wrong-type"],
)
def test_anything_but_a_plain_batch_goes_the_general_way(telco_model, spoil):
    records = generated_batch(telco_model, 3, 5, 0.0)
    spoil(records[2], telco_model.schema)
    raw = json.dumps({"records": records}).encode()
    assert decode_batch(raw, telco_model.schema, 10_000) is None


def test_a_repeated_key_or_a_record_that_is_not_an_object_goes_the_general_way(telco_model):
    records = generated_batch(telco_model, 4, 3, 0.0)
    text = json.dumps({"records": records})
    name = telco_model.schema.features[0].name
    repeated = text.replace(f'"{name}":', f'"{name}": null, "{name}":', 1).encode()
    assert decode_batch(repeated, telco_model.schema, 10_000) is None
    assert decode_batch(json.dumps({"records": [*records, 3]}).encode(), telco_model.schema, 10_000) is None
    assert decode_batch(json.dumps({"records": records, "x": 1}).encode(), telco_model.schema, 10_000) is None
    assert decode_batch(json.dumps({"records": []}).encode(), telco_model.schema, 10_000) is None
    assert decode_batch(json.dumps({"records": records}).encode(), telco_model.schema, 2) is None  # MAX_BATCH
