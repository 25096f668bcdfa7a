"""Outcome rows checked as they come in (issue 18): named by prediction id or by the
dataset's id columns, labelled with the dataset's own labels, timed; every other row
refused with its position and why. On two dataset configs."""

from datetime import UTC, datetime

import pytest

from lib.monitoring.ids import id_text
from lib.monitoring.outcomes import OutcomeChecker, OutcomeFileError, csv_items, entity_text

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()


def test_rows_by_id_or_by_entity_with_the_datasets_labels(telco_model):
    checker = OutcomeChecker(telco_model.schema, received_at=NOW)
    checked = checker.check(
        [
            {"prediction_id": id_text(12345), "outcome": "Yes", "observed_at": "2026-11-01T10:00:00+01:00"},
            {"customerID": " 7590-VHVEG ", "outcome": "No", "observed_at": 1_790_000_000},
            {"customerID": "7590-VHVEG", "outcome": True},
            {"prediction_id": id_text(7), "customerID": "x", "outcome": "0", "observed_at": "2026-11-02"},
        ]
    )
    assert checked.refused == []
    first, second, third, fourth = checked.rows
    assert (first.prediction_id, first.entity, first.outcome) == (12345, None, 1)
    assert first.observed_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC).timestamp()
    assert (second.prediction_id, second.entity, second.outcome, second.observed_at) == (
        None,
        "7590-VHVEG",
        0,
        1_790_000_000.0,
    )
    assert (third.entity, third.outcome, third.observed_at) == ("7590-VHVEG", 1, NOW)  # received now
    assert (fourth.prediction_id, fourth.entity, fourth.outcome) == (7, None, 0)  # by id: no entity needed
    assert fourth.observed_at == datetime(2026, 11, 2, tzinfo=UTC).timestamp()  # no offset: UTC


@pytest.mark.parametrize(
    ("row", "code", "words"),
    [
        ([1, 2], "wrong_type", "an object"),
        ({"customerID": "a", "outcome": "maybe"}, "bad_outcome", "'Yes' or 'No'"),
        ({"customerID": "a", "outcome": 2}, "bad_outcome", "1 / 0"),
        ({"customerID": "a", "outcome": None}, "bad_outcome", "outcome must be"),
        ({"prediction_id": "12345", "outcome": "Yes"}, "bad_prediction_id", "16 hex digits"),
        ({"prediction_id": 12345, "outcome": "Yes"}, "bad_prediction_id", "16 hex digits"),
        ({"outcome": "Yes"}, "no_key", "prediction_id or customerID"),
        ({"customerID": "", "outcome": "Yes"}, "no_key", "name the prediction"),
        ({"customerID": "a", "outcome": "Yes", "observed_at": "yesterday"}, "bad_observed_at", "ISO 8601"),
        ({"customerID": "a", "outcome": "Yes", "observed_at": "1999-12-31"}, "bad_observed_at", "before 2000"),
        ({"customerID": "a", "outcome": "Yes", "observed_at": NOW + 3600}, "bad_observed_at", "in the future"),
        ({"customerID": "a", "outcome": "Yes", "observed_at": float("nan")}, "bad_observed_at", "before 2000"),
        ({"customerID": "a", "outcome": "Yes", "observed_at": [1]}, "bad_observed_at", "ISO 8601"),
    ],
)
def test_a_row_that_cannot_be_used_is_refused_with_its_position_and_why(telco_model, row, code, words):
    checked = OutcomeChecker(telco_model.schema, received_at=NOW).check([{"customerID": "ok", "outcome": "No"}, row])
    assert len(checked.rows) == 1 and len(checked.refused) == 1
    refused = checked.refused[0]
    assert (refused.position, refused.code) == (1, code) and words in refused.message
    assert refused.to_dict() == {"row": 1, "code": code, "message": refused.message}


def test_another_datasets_labels_and_id_column(synthetic_registry):
    from lib.model_loader import load_model

    schema = load_model(str(synthetic_registry)).schema
    checker = OutcomeChecker(schema, received_at=NOW)
    checked = checker.check([{"account_no": "A00001", "outcome": "gone"}, {"customerID": "x", "outcome": "Yes"}])
    assert [(row.entity, row.outcome) for row in checked.rows] == [("A00001", 1)]
    assert [refused.code for refused in checked.refused] == ["bad_outcome"]  # Telco's label means nothing here


def test_several_id_columns_make_one_entity_text():
    assert entity_text(["a", "b"]) == "a\x1fb" and entity_text(["x" * 500]) == "x" * 200


def test_a_csv_of_outcomes_is_read_as_rows_of_text(telco_model):
    raw = b"\xef\xbb\xbfcustomerID,outcome,observed_at\r\n7590-VHVEG,Yes,2026-11-01\r\n,No,\r\n"
    items = csv_items(raw, max_rows=10)
    assert items == [
        {"customerID": "7590-VHVEG", "outcome": "Yes", "observed_at": "2026-11-01"},
        {"customerID": None, "outcome": "No", "observed_at": None},
    ]
    checked = OutcomeChecker(telco_model.schema, received_at=NOW).check(items, first_position=1)
    assert [row.position for row in checked.rows] == [1] and [r.position for r in checked.refused] == [2]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"caf\xe9,outcome\n1,Yes\n", "not UTF-8"),
        (b"outcome,outcome\nYes,No\n", "appears twice"),
        (b'outcome,customerID\n"Yes,a\n', "cannot be read as CSV"),
        (b"outcome,customerID\n" + b"Yes,a\n" * 11, "at most 10"),
    ],
)
def test_a_csv_that_cannot_be_read_says_why(raw, words):
    with pytest.raises(OutcomeFileError, match=words):
        csv_items(raw, max_rows=10)
