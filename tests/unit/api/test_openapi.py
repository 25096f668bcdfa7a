"""The OpenAPI document takes its facts from the code, not from copies."""

import pytest

import lib.api.openapi_schemas
from lib.api.openapi import document
from lib.api.openapi_schemas import prediction_schema
from lib.model.inference import PREDICTION_FIELDS
from lib.monitoring.store import WINDOWS


def test_windows_prediction_fields_and_bounds_come_from_the_code(telco_model):
    doc = document(telco_model.schema, 100, telco_model.version)
    window = next(p for p in doc["paths"]["/metrics/system"]["get"]["parameters"] if p["name"] == "window")
    assert window["schema"]["enum"] == list(WINDOWS)
    answer = doc["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert list(answer["properties"]["prediction"]["properties"]) == list(PREDICTION_FIELDS)
    one = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    record = one["properties"]["record"]["properties"]
    for spec in telco_model.schema.features:
        if spec.is_numeric:
            assert (record[spec.name]["minimum"], record[spec.name]["maximum"]) == spec.hard_range


def test_a_prediction_field_missing_from_the_document_is_refused(monkeypatch):
    fewer = {k: v for k, v in lib.api.openapi_schemas.PREDICTION_PROPERTIES.items() if k != "latency_ms"}
    monkeypatch.setattr(lib.api.openapi_schemas, "PREDICTION_PROPERTIES", fewer)
    with pytest.raises(RuntimeError, match="the OpenAPI Prediction lists"):
        prediction_schema()
