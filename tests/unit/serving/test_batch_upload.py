"""Batch uploads: chunked scoring equals one pass, size limits, refused rows, filters and exports."""

import numpy as np
import pytest

import lib.serving.batch
from lib.serving.batch import (
    filter_scored,
    refused_rows,
    score_upload,
    scored_table,
    to_csv_bytes,
    upload_revenue_at_risk,
)
from lib.serving.csv_io import CsvError
from lib.settings import PROJECT_ROOT


def test_chunked_scoring_equals_one_pass(telco_model, monkeypatch):
    raw = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes()
    whole = score_upload(raw, telco_model, 10_000_000)
    monkeypatch.setattr(lib.serving.batch, "CHUNK_ROWS", 1000)
    seen = []
    chunked = score_upload(raw, telco_model, 10_000_000, progress=seen.append)
    assert seen[-1] == 1.0 and len(seen) == 8
    np.testing.assert_array_equal(chunked.batch.table.index, whole.batch.table.index)
    np.testing.assert_allclose(chunked.batch.table["probability"], whole.batch.table["probability"])
    assert sorted(chunked.batch.warnings) == sorted(whole.batch.warnings)
    assert chunked.batch.inputs.rows == 7043


def test_upload_limits_and_exports(telco_model):
    with pytest.raises(CsvError, match="the limit is 0 MB"):
        score_upload(b"x" * 2000, telco_model, 1000)
    header = ",".join(telco_model.schema.names)
    with pytest.raises(CsvError, match="no rows"):
        score_upload(header.encode() + b"\n", telco_model, 10_000)
    raw = (PROJECT_ROOT / "data" / "telco-customer-churn.csv").read_bytes()
    lines = raw.decode().splitlines()
    bad = lines[1].replace(",Month-to-month,", ",,")
    upload = score_upload("\n".join([lines[0], bad, lines[2]]).encode(), telco_model, 10_000)
    assert refused_rows(upload.batch.errors).to_dict("records") == [
        {"row": 1, "line": 2, "field": "Contract", "problem": "a value is required"}
    ]
    table = scored_table(upload)
    assert list(table.columns[:6]) == ["row", "probability", "label", "confidence", "quality_score", "warnings"]
    assert len(filter_scored(table, ["Yes", "No"], 0.0, ["low", "medium", "high"])) == 1
    assert len(filter_scored(table, ["Yes"], 0.99, ["high"])) == 0
    assert to_csv_bytes(table).decode().startswith("row,probability,label")
    expected = upload.batch.table["probability"].iloc[0] * float(lines[2].split(",")[18]) * 12
    assert upload_revenue_at_risk(upload, telco_model) == pytest.approx(expected)
