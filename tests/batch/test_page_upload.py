"""The Batch scoring page's upload streamed through lib.batch's engine (issue 17, target
3): in many chunks it gives the same scores, refusals and warnings as score_batch on the
whole table; the page's table is exactly the riskiest rows of any filter; what it keeps
is bounded; the download holds every row in file order and goes with its session."""

import io
import sqlite3

import numpy as np
import pandas as pd
import pytest

import lib.batch.files
import lib.batch.upload
from lib.batch.files import BatchInputError
from lib.batch.upload import score_uploaded_file
from lib.model.inference import score_batch
from lib.monitoring.ids import parse_id
from lib.monitoring.log import prediction_log
from lib.serving.csv_io import read_csv_bytes
from lib.settings import PROJECT_ROOT
from lib.storage.downloads import downloads

TELCO_CSV = PROJECT_ROOT / "data" / "telco-customer-churn.csv"


@pytest.fixture
def spoiled(telco_model) -> bytes:
    """The Telco data with rows no model can score and a formula-like id."""
    frame = pd.read_csv(TELCO_CSV, dtype=str, keep_default_na=False)
    frame.loc[5, "tenure"] = "twelve"
    frame.loc[700, "Contract"] = ""
    frame.loc[701, "MonthlyCharges"] = "-5"
    frame.loc[9, "customerID"] = "=HYPERLINK(1)"
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(lib.batch.files, "CSV_BLOCK_BYTES", 64 * 1024)  # about 20 chunks for Telco


def test_a_streamed_upload_scores_refuses_and_warns_as_one_pass_and_downloads_every_row(
    spoiled, telco_model, small_chunks
):
    seen: list[float] = []
    scored = score_uploaded_file(memoryview(spoiled), "customers.csv", "session-a", telco_model, seen.append)
    assert len(seen) > 10 and seen == sorted(seen) and seen[-1] == 1.0  # the bar moves once per chunk
    whole = score_batch(read_csv_bytes(spoiled, telco_model.schema), telco_model)
    refused = {error.index for error in whole.errors}
    assert (scored.rows_in, scored.scored, scored.refused) == (7043, len(whole.table), len(refused)) == (7043, 7040, 3)
    np.testing.assert_allclose(scored.probability, whole.table["probability"].to_numpy(), rtol=0, atol=1e-9)
    expected_lines = [
        {"row": e.index + 1, "line": e.index + 2, "field": p.field, "problem": p.message}
        for e in whole.errors
        for p in e.problems
    ]
    assert scored.refused_lines.to_dict("records") == expected_lines
    assert scored.flagged == int(whole.table["predicted_positive"].sum())
    value = pd.to_numeric(read_csv_bytes(spoiled, telco_model.schema)["MonthlyCharges"], errors="coerce")
    at_risk = (whole.table["probability"] * value.iloc[whole.table.index].fillna(0).to_numpy()).sum() * 12
    assert scored.value_at_risk == pytest.approx(at_risk)

    download = pd.read_csv(scored.download.path, dtype=str, keep_default_na=False)
    assert download["row"].astype(int).tolist() == list(range(1, 7044))  # every row, in file order
    assert set(download.index[download["error"] != ""]) == refused
    assert "tenure: " in download.loc[5, "error"] and download.loc[5, "probability"] == ""
    kept = download[download["error"] == ""]
    np.testing.assert_allclose(kept["probability"].astype(float), whole.table["probability"], rtol=0, atol=1e-9)
    assert kept["confidence"].tolist() == whole.table["confidence"].astype(str).tolist()
    warned = {position for position, warnings in whole.warnings.items() if warnings}
    assert set(kept.index[kept["warnings"] != ""]) == warned and warned  # the same rows carry warnings
    assert download.loc[9, "customerID"] == "'=HYPERLINK(1)"  # a spreadsheet will not run it
    assert scored.download.path.read_bytes().count(b"\r\n") == 7044
    ids = kept["prediction_id"].map(parse_id)  # every scored row's id, none for a refused one
    assert ids.notna().all() and ids.is_unique and (download.loc[sorted(refused), "prediction_id"] == "").all()
    log = prediction_log()
    log.flush()
    logged = dict(log.store._read("SELECT prediction_id, entity FROM scores"))
    assert [logged[i] for i in ids] == kept["customerID"].str.removeprefix("'").tolist()  # with its entity


FILTERS = [
    (["Yes", "No"], 0.0, ["low", "medium", "high"]),
    (["No"], 0.0, ["low", "medium", "high"]),
    (["Yes"], 0.3, ["high"]),
    (["No"], 0.2, ["low", "medium"]),
    (["Yes", "No"], 0.45, ["medium"]),
    ([], 0.0, ["low"]),
]


def test_the_pages_table_is_exactly_the_riskiest_rows_of_any_filter(telco_model, small_chunks, monkeypatch):
    """With 40 rows kept per label and band, the rows shown for each filter are those a
    full sort of every scored row gives, riskiest first then in file order."""
    monkeypatch.setattr(lib.batch.upload, "TOP_ROWS", 40)
    raw = TELCO_CSV.read_bytes()
    scored = score_uploaded_file(memoryview(raw), "telco.csv", "session-b", telco_model)
    assert len(scored.top) <= 6 * 40
    full = pd.read_csv(scored.download.path, keep_default_na=False)
    for labels, minimum, bands in FILTERS:
        keep = full["label"].isin(labels) & (full["probability"] >= minimum) & full["confidence"].isin(bands)
        expected = full[keep].sort_values(["probability", "row"], ascending=[False, True], kind="stable")
        count, shown = scored.matching(labels, minimum, bands)
        assert count == int(keep.sum()), (labels, minimum, bands)
        assert shown["row"].tolist() == expected["row"].head(40).tolist(), (labels, minimum, bands)
    assert list(shown.columns[:7]) == [
        "row", "prediction_id", "probability", "label", "confidence", "quality_score", "warnings"
    ]  # fmt: skip
    assert {"customerID", "tenure", "Contract"} <= set(shown.columns) and "error" not in shown.columns
    _, everything = scored.matching(["Yes", "No"], 0.0, ["low", "medium", "high"])
    assert len(everything) == 40 and everything["tenure"].dtype.kind in "if"  # numbers shown as numbers


def test_the_refused_problems_shown_are_bounded_the_download_has_them_all(telco_model, monkeypatch):
    monkeypatch.setattr(lib.batch.upload, "REFUSED_SHOWN", 3)
    frame = pd.read_csv(TELCO_CSV, dtype=str, keep_default_na=False).head(50)
    frame.loc[:9, "tenure"] = "x"
    scored = score_uploaded_file(memoryview(frame.to_csv(index=False).encode()), "f.csv", "s", telco_model)
    assert scored.refused == 10 and scored.refused_lines["row"].tolist() == [1, 2, 3]
    download = pd.read_csv(scored.download.path, dtype=str, keep_default_na=False)
    assert (download["error"] != "").sum() == 10


def test_a_big_upload_logs_every_row_in_the_rollups_and_at_most_the_raw_rows_its_rule_allows(
    telco_model, small_chunks, env
):
    env.set("LOG_BATCH_RAW_ROWS", "500")
    raw = TELCO_CSV.read_bytes()
    scored = score_uploaded_file(memoryview(raw), "telco.csv", "session-c", telco_model)
    log = prediction_log()
    log.flush()
    assert log.store.totals() == {"batch": scored.scored}  # every scored row counted
    raw_rows = sqlite3.connect(log.path).execute("SELECT count(*) FROM predictions WHERE outcome = 'ok'").fetchone()
    assert 400 <= raw_rows[0] <= 500  # the rule across chunks: every k-th row of the whole file


@pytest.mark.parametrize(
    ("body", "message", "kind"),
    [
        (b"", "the file is empty", "unreadable_csv"),
        (b"  \n", "the file is empty", "unreadable_csv"),
        (b"customerID,tenure\n", "a header but no rows", "unreadable_csv"),
        (b"a,b\n1,2\n", "missing column", "invalid_input"),
        (b"caf\xe9,b\n1,2\n", "not UTF-8", "unreadable_csv"),
        (b"a,a,b\n1,2,3\n", "duplicate column names: a", "unreadable_csv"),
        (b'a,b\n"1,2\n', "cannot be read as a CSV separated by ','", "unreadable_csv"),
    ],
)
def test_an_unusable_file_is_refused_with_why_logged_and_leaves_no_file(telco_model, body, message, kind):
    before = downloads.count()
    with pytest.raises(BatchInputError, match=message):
        score_uploaded_file(memoryview(body), "bad.csv", "session-d", telco_model)
    assert downloads.count() == before
    log = prediction_log()
    log.flush()
    kinds = sqlite3.connect(log.path).execute("SELECT error_kind FROM predictions").fetchall()
    assert kinds == [(kind,)]


def test_a_header_only_file_and_a_file_over_the_row_limit_are_refused(telco_model, monkeypatch):
    header = ",".join(telco_model.schema.names).encode() + b"\n"
    with pytest.raises(BatchInputError, match="a header but no rows"):
        score_uploaded_file(memoryview(header), "empty.csv", "s", telco_model)
    monkeypatch.setattr(lib.batch.upload, "MAX_ROWS", 100)
    with pytest.raises(BatchInputError, match="the limit is 100 rows"):
        score_uploaded_file(memoryview(TELCO_CSV.read_bytes()), "big.csv", "s", telco_model)
    assert downloads.count() == 0 or all(kept.owner != "s" for kept in downloads._kept.values())


def test_a_session_keeps_only_its_last_download(telco_model):
    raw = TELCO_CSV.read_bytes()[:20_000].rsplit(b"\n", 1)[0] + b"\n"
    first = score_uploaded_file(memoryview(raw), "one.csv", "session-e", telco_model)
    second = score_uploaded_file(memoryview(raw), "two.csv", "session-e", telco_model)
    other = score_uploaded_file(memoryview(raw), "three", "session-f", telco_model)
    assert not first.download.path.exists() and downloads.get(first.download.token) is None
    assert second.download.path.is_file() and downloads.get(second.download.token) == second.download
    assert other.download.file_name == "scored-three.csv"
    assert downloads.keep_only({"session-f"}) >= 1  # session-e ended
    assert not second.download.path.exists() and other.download.path.is_file()
