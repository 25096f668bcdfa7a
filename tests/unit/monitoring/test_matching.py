"""Outcomes joined to the predictions they answer (issue 18), on both stores: by id, or by
entity to the latest prediction at or before the outcome; one outcome per prediction,
a repeat counted once, a change counted as a correction; every other row refused with why."""

import numpy as np

from lib.monitoring.ids import id_text
from lib.monitoring.outcomes import OutcomeChecker, RefusedRow
from lib.monitoring.rollups import CountedRows, LoggedRow

T0 = 1_790_000_000.0


def scored(prediction_id: int, ts: float, entity: str | None, probability: float = 0.5) -> LoggedRow:
    return LoggedRow(ts, "api", "v1", 1.0, "ok", None, probability, "Yes", "{}", prediction_id, entity)


def report_of(store, telco_model, items, received_at=T0 + 10_000):
    checked = OutcomeChecker(telco_model.schema, received_at=received_at).check(items)
    return store.record_outcomes(checked.rows, checked.refused, received_at)


def outcomes(store) -> dict[int, tuple[int, int, int | None]]:
    rows = store._read("SELECT prediction_id, outcome, corrections, previous FROM outcomes")
    return {pid: (outcome, corrections, previous) for pid, outcome, corrections, previous in rows}


def test_outcomes_by_id_and_by_entity_find_their_predictions(store, telco_model):
    counted = CountedRows(T0 + 50, "batch", "v1", 0.1, np.array([0.2, 0.9]), np.array(["No", "Yes"], object),
                          np.array([40, 41]), ["C", None])  # fmt: skip
    store.write([scored(10, T0, "A"), scored(20, T0 + 100, "A"), scored(30, T0, None)], {}, [counted])
    report = report_of(
        store,
        telco_model,
        [
            {"prediction_id": id_text(30), "outcome": "Yes"},
            {"customerID": "A", "outcome": "No", "observed_at": T0 + 60},  # before the second: the first
            {"customerID": "A", "outcome": "Yes", "observed_at": T0 + 500},  # the second
            {"customerID": "C", "outcome": "Yes", "observed_at": T0 + 60},  # a batch row kept only counted
            {"prediction_id": id_text(41), "outcome": 0},
            {"customerID": "A", "outcome": "Yes", "observed_at": T0 - 5},  # before any prediction for A
            {"customerID": "Z", "outcome": "Yes"},  # never predicted
            {"prediction_id": id_text(99), "outcome": "Yes"},  # unknown id
            {"outcome": "Yes"},  # names nothing: refused by the checks
        ],
    )
    assert (report.received, report.new, report.unchanged, report.corrected) == (9, 5, 0, 0)
    assert outcomes(store) == {30: (1, 0, None), 10: (0, 0, None), 20: (1, 0, None), 40: (1, 0, None), 41: (0, 0, None)}
    assert [(r.position, r.code) for r in report.refused] == [
        (5, "no_prediction"), (6, "no_prediction"), (7, "unknown_prediction"), (8, "no_key")
    ]  # fmt: skip
    assert (
        report.to_dict()["refused_rows"][2] == RefusedRow(7, "unknown_prediction", report.refused[2].message).to_dict()
    )


def test_the_same_outcome_counts_once_and_a_changed_one_is_a_correction(store, telco_model):
    store.write([scored(10, T0, "A"), scored(20, T0, "B")], {})
    first = report_of(store, telco_model, [{"prediction_id": id_text(10), "outcome": "Yes"}])
    again = report_of(
        store,
        telco_model,
        [
            {"prediction_id": id_text(10), "outcome": "Yes"},  # sent twice: once
            {"prediction_id": id_text(20), "outcome": "No"},
            {"prediction_id": id_text(20), "outcome": "Yes"},  # twice in one batch: the last one
        ],
    )
    changed = report_of(store, telco_model, [{"customerID": "A", "outcome": "No", "observed_at": T0 + 1}])
    assert (first.new, again.new, again.unchanged, changed.corrected) == (1, 1, 2, 1)
    assert outcomes(store) == {10: (0, 1, 1), 20: (1, 0, None)}
